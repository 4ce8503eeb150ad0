import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { fieldsOf, type Rows } from '../plan.js';
import { validateMirostat, type MirostatOptions, type MirostatRows } from '../chain-options.js';
import { Described, SamplingError } from '../errors.js';
import { MIROSTAT_M, referenceMirostatOfRows } from '../reference/mirostat.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { deviceTopk } from '../device-topk.js';
import { kernelsFor } from '../backends/registry.js';
import { column, pickPerRowAt, rowMax, rowsLeftAlone, scaleByInvTemperature, splitInvTemperature, withLogits } from './ops.js';

export { MIROSTAT_M };

/**
 * Mirostat (llama.cpp `mirostat` v1 and `mirostat-v2`; Basu et al. 2021): keeps the surprise of
 * the drawn tokens near `tau` bits with a per-row μ (2τ at the start), updated after each draw:
 * μ ← μ − η · (−log2 q(token) − τ), q the distribution the token was drawn from.
 * - v2 keeps the tokens with −log2 q ≤ μ (the maxima at least).
 * - v1 estimates the Zipf exponent ŝ from the 100 most probable tokens and keeps the
 *   k = ((ŝ − 1) · 2^μ / (1 − V^(1−ŝ)))^(1/ŝ) most probable (ties of the k-th kept; all of them
 *   where k is not finite).
 *
 * μ lives on the device (`[B]` float32) and is updated by `accept` from the drawn ids (no
 * read-back); `reset()` clears it. Between a `sample` call and its `accept` the processor also
 * holds that call's scaled logits (`[B, V]`), freed by `accept`, `reset()` and `dispose()`;
 * `process` and `probabilities` (no draw follows: `state.draws` false) keep nothing. On cpu and
 * wasm both versions run inside the fused kernel, which reads μ and returns the drawn tokens'
 * surprise (`mirostatFusedHooks`), and so does the GPU chain of webgl / webgpu (v1 where V > 100
 * and no typical-p or XTC comes before it; else these tfjs ops). It must be the last sampler of
 * the chain.
 *
 * @example
 * const sampler = createSampler({ temperature: 0.8, mirostat: { version: 2, tau: 5, eta: 0.1 } });
 */
export function mirostat(options: MirostatOptions | readonly (MirostatOptions | undefined)[]): LogitsProcessor {
  return mirostatOfRows(validateMirostat(options));
}

/** A tfjs-op call's state for `accept`. */
interface OpsPending {
  /** `[B, V]` scaled logits (z − max z) / T of the call. */
  s: tf.Tensor2D;
  /** `[B]` ln Σ exp(s) over the kept tokens. */
  lnZ: tf.Tensor1D;
  /** Rows drawn greedily (their drawn token has q = 1). */
  greedy: Uint8Array;
  /** bool `[B]`: rows Mirostat left alone (NaN, +Infinity, nothing finite): their μ stays. */
  skip: tf.Tensor1D;
}

/** A fused call's state for `accept`: the kernel's `[B]` surprise of the drawn tokens (NaN: invalid row). */
interface FusedPending {
  surprise: tf.Tensor1D;
}

type Pending = OpsPending | FusedPending;

const pendingTensors = (p: Pending): tf.Tensor[] => ('surprise' in p ? [p.surprise] : [p.s, p.lnZ, p.skip]);
const clonePending = (p: Pending): Pending =>
  'surprise' in p
    ? { surprise: tf.keep(tf.clone(p.surprise)) }
    : { s: tf.keep(tf.clone(p.s)), lnZ: tf.keep(tf.clone(p.lnZ)), skip: tf.keep(tf.clone(p.skip)), greedy: p.greedy.slice() };

/** The hooks of a built-in Mirostat for the fused cpu / wasm kernels. */
export interface MirostatFusedHooks {
  /** μ for a call on `batch` rows (created at 2τ and kept on a first sample). */
  mu(batch: number): tf.Tensor1D;
  /** Keeps a fused call's surprise for `accept` (replacing any pending call). */
  pending(surprise: tf.Tensor1D): void;
}

const HOOKS = new WeakMap<LogitsProcessor, MirostatFusedHooks>();

/** The fused-kernel hooks of a built-in Mirostat processor, or undefined for any other processor. */
export function mirostatFusedHooks(p: LogitsProcessor): MirostatFusedHooks | undefined {
  return HOOKS.get(p);
}

/** Mirostat from validated per-row fields (the sampler's options). */
export function mirostatOfRows(
  value: MirostatRows,
  carried?: { mu: tf.Tensor1D; pending?: Pending },
  rows: Record<'version' | 'tau' | 'eta', Rows> = fieldsOf('mirostat', value),
): LogitsProcessor {
  let mu = carried?.mu;
  let pending = carried?.pending;
  const off = typeof value.version === 'number' ? value.version === 0 : Array.from(value.version).every((v) => v === 0);
  const dropPending = (): void => {
    if (pending) tf.dispose(pendingTensors(pending));
    pending = undefined;
  };
  const checkBatch = (batch: number): void => {
    if (mu && mu.shape[0] !== batch) {
      throw new SamplingError(
        'logits',
        `must keep the batch size of the sampler's Mirostat state (${mu.shape[0]} rows) until reset()`,
        new Described(`${batch} rows`),
      );
    }
  };
  const processor = builtin({
    name: off ? '?mirostat' : 'mirostat',
    apply(state: SamplingState): SamplingState {
      const { batch, vocab } = state;
      const ver = rows.version(batch);
      const tau = rows.tau(batch);
      if (ver.every((v) => v === 0)) return state;
      checkBatch(batch);
      // μ starts at 2τ; a call without a draw (process, probabilities) reads it without keeping it.
      const mu0 = mu ?? tf.tensor1d(Float32Array.from(tau, (t) => 2 * t));
      if (!mu && state.draws !== false) mu = tf.keep(mu0);
      const z = state.logits;
      const zmax = rowMax(z);
      const skip = rowsLeftAlone(
        z,
        zmax,
        Array.from(ver, (v) => v === 0),
      );
      const safeMax = tf.where(skip, tf.zerosLike(zmax), zmax);
      const s = scaleByInvTemperature(tf.sub(z, safeMax), state.invTemperature) as tf.Tensor2D;
      const ex = tf.exp(s);
      const lq = tf.sub(s, tf.log(tf.sum(ex, 1, true)));
      const muCol = tf.reshape(mu0, [batch, 1]);
      const isMax = tf.greaterEqual(z, zmax);
      const keep2 = tf.logicalOr(tf.greaterEqual(lq, tf.mul(muCol, -Math.LN2)), isMax);
      let keep = keep2;
      if (ver.some((v) => v === 1)) {
        const keep1 = keepV1(z, state.invTemperature, muCol, vocab);
        // Logical ops, not tf.where: wasm's select mishandles bool operands (a heap overrun).
        const v1 = tf.cast(column(Array.from(ver, (v) => (v === 1 ? 1 : 0))), 'bool');
        keep = tf.logicalOr(tf.logicalAnd(v1, keep1), tf.logicalAnd(tf.logicalNot(v1), keep2));
      }
      keep = tf.logicalOr(keep, skip);
      const out = tf.where(keep, z, tf.fill(z.shape, -Infinity)) as tf.Tensor2D;
      const lnZ = tf.reshape(tf.log(tf.sum(tf.where(keep, ex, tf.zerosLike(ex)), 1)), [batch]) as tf.Tensor1D;
      if (state.draws === false) return withLogits(state, out); // nothing to accept: keep nothing
      dropPending();
      const skipped = tf.reshape(skip, [batch]) as tf.Tensor1D;
      pending = {
        s: tf.keep(s),
        lnZ: tf.keep(lnZ),
        skip: tf.keep(skipped),
        greedy: Uint8Array.from(state.invTemperature, (v) => (Number.isFinite(v) ? 0 : 1)),
      };
      return withLogits(state, out);
    },
    accept(ids: tf.Tensor1D): void {
      if (!mu || !pending) return;
      const p = pending;
      const m = mu;
      const batch = m.shape[0];
      const ver = rows.version(batch);
      const tau = rows.tau(batch);
      const eta = rows.eta(batch);
      const next = tf.tidy(() => {
        if ('surprise' in p) {
          // The fused kernel's surprise (0 for greedy rows, NaN for invalid ones).
          const valid = tf.logicalAnd(
            tf.logicalAnd(tf.greaterEqual(ids, 0), tf.logicalNot(tf.isNaN(p.surprise))),
            tf.tensor1d(
              Array.from(ver, (v) => (v > 0 ? 1 : 0)),
              'bool',
            ),
          );
          const updated = tf.sub(m, tf.mul(tf.tensor1d(Float32Array.from(eta)), tf.sub(p.surprise, tf.tensor1d(Float32Array.from(tau)))));
          return tf.where(valid, updated, m) as tf.Tensor1D;
        }
        const vocab = p.s.shape[1];
        const valid = tf.logicalAnd(
          tf.logicalAnd(tf.greaterEqual(ids, 0), tf.logicalNot(p.skip)),
          tf.tensor1d(
            Array.from(ver, (v) => (v > 0 ? 1 : 0)),
            'bool',
          ),
        );
        const at = tf.add(tf.mul(tf.range(0, batch, 1, 'int32'), tf.scalar(vocab, 'int32')), tf.maximum(ids, tf.scalar(0, 'int32')));
        const sj = tf.gather(tf.reshape(p.s, [batch * vocab]), at);
        const surprise = tf.where(tf.tensor1d(Array.from(p.greedy), 'bool'), tf.zeros([batch]), tf.div(tf.sub(p.lnZ, sj), Math.LN2));
        const updated = tf.sub(m, tf.mul(tf.tensor1d(Float32Array.from(eta)), tf.sub(surprise, tf.tensor1d(Float32Array.from(tau)))));
        return tf.where(valid, updated, m) as tf.Tensor1D;
      });
      m.dispose();
      mu = tf.keep(next);
      dropPending();
    },
    reset(): void {
      mu?.dispose();
      mu = undefined;
      dropPending();
    },
    restartRows(restarted: readonly number[]): void {
      if (!mu) return;
      // Those rows' μ back to 2τ, the others untouched (one blend, once per restart).
      const B = mu.shape[0];
      const on = new Uint8Array(B);
      for (const r of restarted) on[r] = 1;
      const tau = rows.tau(B);
      const next = tf.tidy(() => tf.where(tf.tensor1d(on, 'bool'), tf.tensor1d(Float32Array.from(tau, (t) => 2 * t)), mu!) as tf.Tensor1D);
      mu.dispose();
      mu = tf.keep(next);
    },
    clone(): LogitsProcessor {
      return mirostatOfRows(value, mu ? { mu: tf.keep(tf.clone(mu)), ...(pending ? { pending: clonePending(pending) } : {}) } : undefined, rows);
    },
    reference: referenceMirostatOfRows(value),
  });
  HOOKS.set(processor, {
    mu(batch: number): tf.Tensor1D {
      checkBatch(batch);
      mu ??= tf.keep(tf.tensor1d(Float32Array.from(rows.tau(batch), (t) => 2 * t)));
      return mu;
    },
    pending(surprise: tf.Tensor1D): void {
      dropPending();
      pending = { surprise: tf.keep(surprise) };
    },
  });
  return processor;
}

/** Mirostat v1's kept set: bool `[B, V]`. */
function keepV1(z: tf.Tensor2D, inv: Float64Array, muCol: tf.Tensor, vocab: number): tf.Tensor {
  const batch = z.shape[0];
  const m = Math.min(MIROSTAT_M, vocab);
  // The m largest and the k-th without sorting the row where the GPU chain has the kernels (its
  // window top-k, else a top-k of the m largest, and its k-th bisection); elsewhere one sort of
  // the row serves both.
  const chain = kernelsFor()?.gpuChain;
  const sorted = chain?.largest(z, m) ?? deviceTopk(z, chain?.kthAvailable(vocab) ? m : vocab).values;
  const nf = tf.sum(tf.cast(tf.isFinite(z), 'float32'), 1, true);
  const finiteInv = Float64Array.from(inv, (v) => (Number.isFinite(v) ? v : 1));
  const kInt = tf.floor(mirostatV1Count(tf.slice(sorted, [0, 0], [batch, m]) as tf.Tensor2D, finiteInv, nf, muCol, vocab));
  const all = tf.logicalOr(tf.logicalNot(tf.isFinite(kInt)), tf.greaterEqual(kInt, nf));
  const col = tf.reshape(tf.minimum(tf.maximum(tf.where(all, tf.onesLike(kInt), kInt), 1), vocab), [batch]);
  let kth = tf.reshape(pickPerRowAt(sorted, tf.sub(tf.minimum(col, sorted.shape[1]), 1) as tf.Tensor1D), [batch, 1]);
  if (sorted.shape[1] < vocab) {
    // Past the m largest: the k-th by the chain's bisection (rows with k ≤ m idle at k = 0).
    const big = tf.greater(col, m);
    const far = chain?.kth(z, tf.where(big, col, tf.zerosLike(col)) as tf.Tensor1D) ?? pickPerRowAt(deviceTopk(z, vocab).values, tf.sub(col, 1) as tf.Tensor1D);
    kth = tf.where(tf.reshape(big, [batch, 1]), tf.reshape(far, [batch, 1]), kth);
  }
  return tf.logicalOr(tf.greaterEqual(z, kth), all);
}

/**
 * Mirostat v1's k per row, `[B, 1]` float32 before flooring (NaN or ±Infinity where the estimate
 * fails), as the reference's `mirostatV1K`: `sorted` the row's m = min(100, V) largest logits in
 * descending order (−Infinity past the finite ones), `inv` each row's finite 1/T, `nf` the count
 * of finite logits (only min(nf, m) matters), `muCol` μ `[B, 1]`. The Zipf estimate ŝ is built
 * from the unscaled gaps and scaled by 1/T once: scaled gaps (z − max)·1/T would overflow float32
 * (or hit scaleByInvTemperature's −2048 clamp) on rows with gaps like −1e9 masks or tiny T, where
 * the reference's ŝ is huge and k is 1. Used by the tfjs-op processor and the GPU chain alike.
 */
export function mirostatV1Count(sorted: tf.Tensor2D, inv: Float64Array, nf: tf.Tensor, muCol: tf.Tensor, vocab: number): tf.Tensor {
  const [batch, m] = sorted.shape;
  if (m < 2) return tf.fill([batch, 1], NaN);
  // Half gaps: finite (and ≥ 0) between finite logits, even where z_i − z_{i+1} overflows.
  const half = tf.mul(sorted, 0.5);
  const b = tf.sub(tf.slice(half, [0, 0], [batch, m - 1]), tf.slice(half, [0, 1], [batch, m - 1]));
  const t = tf.tensor2d(
    Float32Array.from({ length: m - 1 }, (_, i) => Math.log((i + 2) / (i + 1))),
    [1, m - 1],
  );
  const valid = tf.less(tf.reshape(tf.range(0, m - 1, 1, 'float32'), [1, m - 1]), tf.sub(nf, 1));
  // Σ t·gap/2 ≤ (max − min)/2 · ln 2 (the gaps telescope): finite.
  const sumTb = tf.sum(tf.where(valid, tf.mul(t, b), tf.zerosLike(b)), 1, true);
  const sumTt = tf.sum(tf.where(valid, tf.mul(t, t), tf.zerosLike(b)), 1, true);
  // ŝ = 2·Σtb/Σtt · 1/T with 1/T as a float32 pair; +Infinity only where ŝ > FLT_MAX.
  const { hi, lo } = splitInvTemperature(inv);
  const r = tf.div(tf.mul(sumTb, 2), sumTt);
  const rHi = tf.mul(r, tf.tensor2d(hi, [batch, 1]));
  // Past 2^64, k = exp(ln x / ŝ) with ln x ≈ ln ŝ + μ·ln 2 is 1 in float32 (and in float64 within
  // 1e-17): taken as 1 rather than computed as ∞/∞ (or r·lo's overflow). NaN stays NaN.
  const big = tf.greater(rHi, 2 ** 64);
  const s = tf.where(big, tf.fill([batch, 1], 2), tf.add(rHi, tf.mul(r, tf.tensor2d(lo, [batch, 1]))));
  const eps = tf.sub(s, 1);
  // x = ε·2^μ / (1 − V^−ε) in logs (2^μ alone overflows float32 past μ = 128); 1 − e^−y as −expm1(−y).
  const ratio = tf.div(eps, tf.neg(tf.expm1(tf.mul(eps, -Math.log(vocab)))));
  const lnX = tf.add(tf.log(ratio), tf.mul(muCol, Math.LN2));
  return tf.where(big, tf.onesLike(s), tf.exp(tf.div(lnX, s)));
}
