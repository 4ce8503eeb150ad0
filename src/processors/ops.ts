// Small tensor building blocks shared by the filters. Masks are built from sub/step/mul,
// which are fast on every backend (broadcast comparisons and `where` are slow on wasm).
import * as tf from '@tensorflow/tfjs-core';
import { hintsOf, withHints } from '../builtin.js';
import type { SamplingState } from '../types.js';
import { PLAN_COUNTS } from '../plan.js';
import { rowScatterAdd } from '../backends/webgl-scatter.js';
import { deviceTopk } from '../device-topk.js';
import { kernelsFor } from '../backends/registry.js';

/**
 * The state with new logits (built-ins only). A filter only masks more tokens, so the candidate
 * bound still holds; the sorted values no longer describe the logits and are dropped.
 */
export function withLogits(state: SamplingState, logits: tf.Tensor2D): SamplingState {
  return withHints({ ...state, logits }, { candidates: hintsOf(state).candidates });
}

/**
 * Logits made in this chain call by a built-in edit on webgpu, every value saturated at FLT_MAX,
 * in a buffer nothing else holds: the next built-in edit may patch them in place. The chain
 * forgets a tensor once a user processor sees it (chain.ts).
 */
export const freshLogits = new WeakSet<tf.Tensor>();

/** Largest finite float32; used as a "no threshold" value that survives arithmetic. */
export const FLT_MAX = 3.4028234663852886e38;

/**
 * `x` where `drop` is 0, -Infinity where `drop` is 1 (drop ∈ {0, 1}, broadcastable to x).
 * Three subtractions of FLT_MAX take even x = FLT_MAX to -Infinity (two would leave x > 2.6e38
 * finite); with drop = 0 they subtract exact zeros.
 */
export function maskWhere(x: tf.Tensor, drop: tf.Tensor): tf.Tensor {
  const bump = tf.mul(drop, FLT_MAX);
  return tf.sub(tf.sub(tf.sub(x, bump), bump), bump);
}

/**
 * bool `[B, 1]`: the rows a filter leaves as they are — its value is off there (`off[r]`), or
 * the row holds NaN or +Infinity, or its max `zmax` (`[B, 1]`) is not finite (nothing finite):
 * the invalid-row rule reports those from what it reads.
 */
export function rowsLeftAlone(z: tf.Tensor2D, zmax: tf.Tensor, off: ArrayLike<boolean>): tf.Tensor {
  const bad = tf.any(tf.logicalOr(tf.isNaN(z), tf.equal(z, Infinity)), 1, true);
  const offRows = tf.tensor2d(
    Uint8Array.from(off, (o) => (o ? 1 : 0)),
    [off.length, 1],
    'bool',
  );
  return tf.logicalOr(tf.logicalOr(bad, tf.logicalNot(tf.isFinite(zmax))), offRows);
}

/** Keeps x ≥ thr (ties kept), masks the rest with -Infinity. `thr` is `[B, 1]`. */
export function keepAtLeast(x: tf.Tensor2D, thr: tf.Tensor): tf.Tensor2D {
  // fl(thr - x) > 0 exactly when thr > x for float32 values.
  return maskWhere(x, tf.step(tf.sub(thr, x))) as tf.Tensor2D;
}

/** Replaces NaN and -Infinity thresholds (rows with nothing finite) by "keep all". */
export function safeThreshold(thr: tf.Tensor1D): tf.Tensor1D {
  const bad = tf.logicalOr(tf.isNaN(thr), tf.equal(thr, -Infinity));
  return tf.where(bad, tf.fill(thr.shape, -FLT_MAX), thr);
}

/** `x[r, col[r]]` for each row: a gather on flat indices (tfjs 8658: batchDims is wrong on wasm). */
export function pickPerRow(x: tf.Tensor2D, col: Int32Array): tf.Tensor1D {
  const [b, n] = x.shape;
  const idx = new Int32Array(b);
  for (let r = 0; r < b; r++) idx[r] = r * n + col[r]!;
  return tf.gather(tf.reshape(x, [b * n]), tf.tensor1d(idx, 'int32')) as tf.Tensor1D;
}

/** `x[r, col[r]]` with `col` a float `[B]` tensor of exact integer column indices. */
export function pickPerRowAt(x: tf.Tensor2D, col: tf.Tensor1D): tf.Tensor1D {
  const [b, n] = x.shape;
  const flat = tf.add(tf.mul(tf.range(0, b, 1, 'int32'), tf.scalar(n, 'int32')), tf.cast(col, 'int32'));
  return tf.gather(tf.reshape(x, [b * n]), flat) as tf.Tensor1D;
}

/**
 * Each row's maximum, `[B, 1]`, exact on every backend. webgl's max reduction starts from -1e20
 * (tfjs ReduceProgram), so a row whose values are all below -1e20 (or all -Infinity) would get
 * -1e20; there a second pass over the row scaled by 2^-80 (exact: a power of two, and such values
 * stay normal) finds the true maximum, or -Infinity when the row has no finite value.
 */
export function rowMax(x: tf.Tensor2D): tf.Tensor2D {
  const m = tf.max(x, 1, true) as tf.Tensor2D;
  if (tf.getBackend() !== 'webgl') return m;
  const s = tf.max(tf.mul(x, 2 ** -80), 1, true);
  // |finite x| · 2^-80 < 2.9e14: a scaled max at the identity means no finite value.
  const low = tf.where(tf.lessEqual(s, -1e20), tf.fill(s.shape, -Infinity), tf.mul(s, 2 ** 80));
  return tf.where(tf.lessEqual(m, -1e20), low, m) as tf.Tensor2D;
}

/** Per-row minimum `[B, 1]` as minus rowMax of the negated values (+Infinity where no finite value). */
export function rowMin(x: tf.Tensor2D): tf.Tensor2D {
  return tf.neg(rowMax(tf.neg(x) as tf.Tensor2D)) as tf.Tensor2D;
}

/**
 * float32 `[B, V]` rows with a 1 at `idx[r]` and 0 elsewhere (an index outside [0, V) gives a zero
 * row). Not tf.oneHot, which refuses a depth of 1 (a one-token vocabulary is valid input here).
 */
export function oneHotRows(idx: tf.Tensor1D, vocab: number): tf.Tensor2D {
  const hit = tf.equal(tf.reshape(tf.cast(idx, 'int32'), [-1, 1]), tf.reshape(tf.range(0, vocab, 1, 'int32'), [1, vocab]));
  return tf.cast(hit, 'float32') as tf.Tensor2D;
}

/**
 * Index of each row's maximum, the lowest index among equal maxima, on every backend (tfjs's
 * argMax returns an arbitrary tied index on webgpu). Rows without a finite maximum give junk.
 */
export function firstArgMax(x: tf.Tensor2D): tf.Tensor1D {
  const [b, n] = x.shape;
  const notMax = tf.step(tf.sub(rowMax(x), x)); // 1 where x < row max
  const iota = tf.reshape(tf.range(0, n, 1, 'float32'), [1, n]);
  const candidates = tf.add(iota, tf.mul(notMax, n)); // non-maxima pushed past the end
  return tf.cast(tf.reshape(tf.min(candidates, 1), [b]), 'int32') as tf.Tensor1D; // identity-safe: values < 2V
}

/** Per-row `[B, 1]` float32 column from host values. */
export function column(values: ArrayLike<number>): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from(values), [values.length, 1]);
}

/** Per-row `[B]` boolean vector from host flags. */
export function flags(values: ArrayLike<boolean | number>): tf.Tensor1D {
  return tf.tensor1d(
    Array.from(values, (v) => (v ? 1 : 0)),
    'bool',
  );
}

/** Shifts columns right by one, filling column 0 with zeros. */
export function shiftRight(x: tf.Tensor2D): tf.Tensor2D {
  const [b, n] = x.shape;
  if (n === 1) return tf.zerosLike(x);
  return tf.pad(tf.slice(x, [0, 0], [b, n - 1]), [
    [0, 0],
    [1, 0],
  ]);
}

/** Error-free sum: a + b = s + e exactly (IEEE float32, no reassociation). */
export function twoSum(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const s = tf.add(a, b);
  const bb = tf.sub(s, a);
  const e = tf.add(tf.sub(a, tf.sub(s, bb)), tf.sub(b, bb));
  return [s, e];
}

/** Dekker split of a float32 into two 12-bit halves. */
function split(a: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const t = tf.mul(a, 4097);
  const hi = tf.sub(t, tf.sub(t, a));
  return [hi, tf.sub(a, hi)];
}

/** Error-free product: a * b = p + e exactly (Dekker), for finite float32 values. */
export function twoProd(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const p = tf.mul(a, b);
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  const e = tf.add(tf.add(tf.add(tf.sub(tf.mul(ah, bh), p), tf.mul(ah, bl)), tf.mul(al, bh)), tf.mul(al, bl));
  return [p, e];
}

/**
 * Inclusive prefix sums of non-negative values sorted in descending order, as an unevaluated
 * float32 pair (hi + lo) accurate far beyond float32: the backend's cumsum gives hi, and since
 * consecutive partial sums are within a factor of two (Sterbenz), hi[i] - hi[i-1] is exact, so
 * the rounding of each step is recovered exactly and summed separately.
 */
export function sortedPrefixSum(s: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] {
  const hi = tf.cumsum(s, 1) as tf.Tensor2D; // positive axis: cumsum(x, -1) is broken in tfjs 4.22
  const step = tf.sub(hi, shiftRight(hi));
  const err = tf.sub(s, step);
  const lo = tf.cumsum(err, 1) as tf.Tensor2D;
  return [hi, lo];
}

/**
 * `d · inv` for `d = z - max z ≤ 0` (or -Infinity) with the per-row 1/T as a float32 pair, so
 * a rounded 1/T does not shift every probability the same way. Greedy rows use 1.
 */
export function scaleByInvTemperature(d: tf.Tensor, inv: Float64Array): tf.Tensor {
  const [hi, lo, exact] = invTemperaturePair(inv);
  if (exact) return tf.mul(d, hi);
  // d below -2048 / (1/T) has d / T < -2048: probability exactly 0 in float32 and float64
  // (exp underflows below -745), so clamping it there changes no mass but keeps d · lo finite
  // (-Infinity · lo is NaN or +Infinity when lo < 0).
  const floor = tf.tensor2d(
    Float32Array.from(inv, (v) => -2048 / (Number.isFinite(v) ? v : 1)),
    [inv.length, 1],
  );
  const dc = tf.maximum(d, floor);
  return tf.add(tf.mul(dc, hi), tf.mul(dc, lo));
}

/**
 * The softmax of `z` (`[B, V]`) at each row's 1/T, with the sampler's pair arithmetic
 * (`scaleByInvTemperature`); greedy rows (1/T = Infinity) are one-hot at their first maximum.
 * Masked logits (-Infinity) get 0. The one softmax of the library: `softmax()` and
 * `sampler.probabilities()` both call it; invalid rows are the callers' to mark.
 */
export function temperedSoftmax(z: tf.Tensor2D, inv: Float64Array): tf.Tensor2D {
  const [batch, vocab] = z.shape;
  const e = tf.exp(scaleByInvTemperature(tf.sub(z, rowMax(z)), inv));
  const p = tf.div(e, tf.sum(e, 1, true)) as tf.Tensor2D;
  const greedy = Uint8Array.from(inv, (v) => (Number.isFinite(v) ? 0 : 1));
  if (!greedy.some((g) => g === 1)) return p;
  const rows = tf.broadcastTo(tf.tensor2d(greedy, [batch, 1], 'bool'), [batch, vocab]);
  return tf.where(rows, oneHotRows(firstArgMax(z), vocab), p) as tf.Tensor2D;
}

/** Per-row `[B, 1]` inverse temperature as a float32 pair; greedy rows (Infinity) use 1. */
export function invTemperaturePair(inv: Float64Array): [tf.Tensor2D, tf.Tensor2D, boolean] {
  const { hi, lo, exact } = splitInvTemperature(inv);
  return [tf.tensor2d(hi, [inv.length, 1]), tf.tensor2d(lo, [inv.length, 1]), exact];
}

/** A per-row 1/T split into float32 pairs (see {@link splitInvTemperature}). */
export interface InvTemperatureSplit {
  /** hi + lo ≈ 1/T per row; 1 where 1/T is not finite (greedy). */
  hi: Float32Array;
  lo: Float32Array;
  /** Every lo is 0. */
  exact: boolean;
}

// Split once per array: a plan's 1/T (plan.ts) lives across calls, so its split is made once per
// batch size and shared by every kernel of a call. 1/T arrays are never written after they are made.
const SPLITS = new WeakMap<Float64Array, InvTemperatureSplit>();

/** invTemperaturePair's split on the host: float32 hi + lo per row (1 where 1/T is not finite). */
export function splitInvTemperature(inv: Float64Array): InvTemperatureSplit {
  const known = SPLITS.get(inv);
  if (known) return known;
  const hi = new Float32Array(inv.length);
  const lo = new Float32Array(inv.length);
  for (let r = 0; r < inv.length; r++) {
    const v = Number.isFinite(inv[r]!) ? inv[r]! : 1;
    hi[r] = v;
    lo[r] = v - hi[r]!;
  }
  const split = { hi, lo, exact: lo.every((v) => v === 0) };
  SPLITS.set(inv, split);
  PLAN_COUNTS.splits++;
  return split;
}

/**
 * Tensors a processor keeps on the device across calls (masks, biases, index constants), built
 * once per key (e.g. batch × vocab) and freed by `dispose()` (the sampler's `reset()` / `dispose()`).
 */
export class DeviceCache {
  private readonly entries = new Map<string, tf.Tensor[]>();

  get(key: string, build: () => tf.Tensor[]): tf.Tensor[] {
    let e = this.entries.get(key);
    if (!e) {
      e = tf.tidy(() => build()).map((t) => tf.keep(t));
      this.entries.set(key, e);
    }
    return e;
  }

  dispose(): void {
    for (const e of this.entries.values()) tf.dispose(e);
    this.entries.clear();
  }
}

/**
 * float32 `[B, V]` 0 / 1: 1 at (b, token) for each (b, i) where `hit[b, i]` is 1. `tokens` is
 * int32 `[B, W]`; negative tokens (padding) never hit. One row-local scatter (rowScatterAdd:
 * O(B·W + B·V) with scatterND, a sort and a binary search on webgl, where scatterND is quadratic).
 */
export function scatterHits(tokens: tf.Tensor2D, hit: tf.Tensor2D, vocab: number): tf.Tensor2D {
  // rowScatterAdd ignores tokens outside [0, V): a hit on padding bans nothing.
  return tf.step(tf.sub(rowScatterAdd(tokens, tf.cast(hit, 'float32') as tf.Tensor2D, vocab), 0.5)) as tf.Tensor2D;
}

/**
 * `out` with each row's m largest logits of `input` put back (m = M[r]; ties of the m-th kept):
 * Hugging Face's `min_tokens_to_keep` for the filters that keep the most probable tokens. Rows
 * with m ≤ 1 are `out` (those filters keep the maxima themselves).
 */
export function restoreTop(input: tf.Tensor2D, out: tf.Tensor2D, M: Float64Array): tf.Tensor2D {
  const vocab = input.shape[1];
  if (M.every((m) => m <= 1)) return out;
  const mmax = Math.min(vocab, Math.max(...M));
  // webgl: the m-th largest without sorting the row (the GPU chain's top-k hook).
  const K = Float64Array.from(M, (m) => Math.min(Math.max(m, 1), mmax));
  const fast = kernelsFor()?.gpuChain?.topK(input, K, mmax);
  const mth = tf.reshape(
    fast
      ? fast.kth
      : pickPerRow(
          deviceTopk(input, mmax).values,
          Int32Array.from(K, (k) => k - 1),
        ),
    [M.length, 1],
  );
  const on = tf.tensor2d(
    Uint8Array.from(M, (m) => (m > 1 ? 1 : 0)),
    [M.length, 1],
    'bool',
  );
  const bound = tf.where(on, mth, tf.fill([M.length, 1], Infinity));
  return tf.where(tf.greaterEqual(input, bound), input, out) as tf.Tensor2D;
}
