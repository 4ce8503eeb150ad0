// The only source of randomness: a counter-based hash of (row key, step, token index).
// Plain 32-bit integer arithmetic (Math.imul, >>>), written so that GLSL ES 3.0 `uint` and
// WGSL `u32` kernels can compute the very same bits.
// seedrandom's ARC4 (its default) alone, without the package index's five other generators.
import seedrandom from 'seedrandom/seedrandom.js';

/**
 * lowbias32 (Chris Wellons): a bijective 32-bit mixer with good avalanche.
 *
 * @example
 * mix32(0x12345678); // a well-mixed uint32: the hash the GLSL, WGSL and C kernels mirror
 */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The token stride of the hash: (step key + token · GOLDEN) mod 2^32 feeds mix32. */
export const GOLDEN = 0x9e3779b9;
/** 2^-24: the uniform's spacing (its top 24 hash bits, centred). */
export const U24 = 2 ** -24;

/** The hash of (step key, token): the one definition in TypeScript (GLSL, WGSL and C mirror it). */
export function tokenHash(sk: number, token: number): number {
  return mix32((sk + Math.imul(token, GOLDEN)) >>> 0);
}

/** Uniform in (0, 1) from a hash: its top 24 bits, centred. */
export function uniformOfHash(h: number): number {
  return ((h >>> 8) + 0.5) * U24;
}

/**
 * 32-bit key of one row's random stream. A scalar seed is combined with the row index.
 *
 * @example
 * rowKey(42, 3); // row 3's key under seed 42 (its tokens depend on nothing else)
 */
export function rowKey(seed: number, row: number | undefined): number {
  const text = row === undefined ? `tfjs-sampling:${seed}` : `tfjs-sampling:${seed}:${row}`;
  return seedrandom(text).int32() >>> 0;
}

/**
 * Per-row keys for a batch: `seed` is one number (row r uses (seed, r)) or one per row.
 *
 * @example
 * rowKeys([1, 2, 3], 3); // one key per row from per-row seeds
 * rowKeys(42, 4); // rows 0–3 under one seed
 */
export function rowKeys(seed: number | ArrayLike<number>, batch: number): Uint32Array {
  const keys = new Uint32Array(batch);
  for (let r = 0; r < batch; r++) {
    keys[r] = typeof seed === 'number' ? rowKey(seed, r) : rowKey(seed[r]!, undefined);
  }
  return keys;
}

/** The step of a call: one for every row, or one per row (continuous batching). */
export type Steps = number | ArrayLike<number>;

/** Row r's step. */
export function stepAt(steps: Steps, r: number): number {
  return typeof steps === 'number' ? steps : steps[r]!;
}

/** Each row's draw key at its step. */
export function stepKeysOf(keys: Uint32Array, steps: Steps): Uint32Array {
  return Uint32Array.from(keys, (k, r) => stepKey(k, stepAt(steps, r)));
}

/**
 * The key of one (row, step) pair.
 *
 * @example
 * const sk = stepKey(rowKey(42, 0), 5); // row 0's key at step 5
 * gumbel(sk, 17); // the noise token 17 gets at that step
 */
export function stepKey(key: number, step: number): number {
  return mix32((key ^ mix32((step >>> 0) ^ 0x2545f491)) >>> 0);
}

/**
 * XTC's coin for one (row key, step): a uniform in (0, 1) from a key derived from the step key,
 * so it is independent of the draw's noise (which hashes token indices under the step key).
 *
 * @example
 * xtcUniform(rowKey(42, 0), 5) < 0.5; // row 0 runs XTC at step 5 with probability 0.5
 */
export function xtcUniform(key: number, step: number): number {
  return uniform(mix32((stepKey(key, step) ^ 0x58544321) >>> 0), 0);
}

/**
 * Speculative decoding's rejection test at (row key, step): the uniform that decides whether a
 * draft token is kept, and the one that draws a rejected position's replacement (inverse CDF of
 * the residual). Other stream constants than XTC's coin: independent of it and of the draw.
 *
 * @example
 * // the draft token at (row key, step) is kept when u < p / q
 * const keep = acceptUniform(key, step) < p / q;
 */
export function acceptUniform(key: number, step: number): number {
  return uniform(mix32((stepKey(key, step) ^ 0x53504543) >>> 0), 0);
}
/**
 * The uniform that draws a rejected position's replacement (see `acceptUniform`).
 *
 * @example
 * // inverse CDF of the residual max(0, p − q) / Σ at this uniform
 * const u = residualUniform(key, step);
 */
export function residualUniform(key: number, step: number): number {
  return uniform(mix32((stepKey(key, step) ^ 0x52455344) >>> 0), 0);
}

/**
 * Uniform in (0, 1) from the top 24 bits of the hash, exact in float64, never 0 or 1. Not exact
 * in float32 for u ≥ 1/2 (m + 0.5 needs 25 bits): shaders must not build u directly in float32
 * there (the webgl kernel computes −ln(1 − w) from the exact w = 1 − u).
 *
 * @example
 * uniform(stepKey(rowKey(42, 0), 0), 17); // token 17's uniform in (0, 1) at step 0 of row 0
 */
export function uniform(sk: number, token: number): number {
  return uniformOfHash(tokenHash(sk, token));
}

/**
 * Standard Gumbel noise for (step key, token), rounded to float32 as the tensor path sees it.
 *
 * @example
 * // The keyed Gumbel-max draw of a row: argmax of z / T + g(token)
 * const g = gumbel(stepKey(rowKey(42, 0), 0), 17);
 */
export function gumbel(sk: number, token: number): number {
  return Math.fround(-Math.log(-Math.log(uniform(sk, token))));
}

/**
 * Fills `out` ([rows, vocab] row-major) with Gumbel noise; rows whose `scale` is 0 get zeros
 * (greedy rows need no noise).
 */
export function fillGumbel(keys: Uint32Array, step: Steps, vocab: number, out: Float32Array, scale?: Uint8Array): Float32Array {
  for (let r = 0; r < keys.length; r++) {
    const base = r * vocab;
    if (scale && scale[r] === 0) {
      out.fill(0, base, base + vocab);
      continue;
    }
    const sk = stepKey(keys[r]!, stepAt(step, r));
    for (let j = 0; j < vocab; j++) {
      out[base + j] = -Math.log(-Math.log(uniformOfHash(tokenHash(sk, j))));
    }
  }
  return out;
}
