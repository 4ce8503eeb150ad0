// Distribution helpers on tensors: the temperature softmax, per-row entropy and the statistics
// the seed article prints (max probability, kept-set size, effective vocabulary). No read-back
// except in readDistributionStats, which reads once.
import * as tf from '@tensorflow/tfjs-core';
import { SamplingError } from './errors.js';
import { checkLogits } from './logits.js';
import { nextInvTemperature, resolveRowParam, validateTemperature, type RowParam } from './params.js';
import { temperedSoftmax } from './processors/ops.js';
import { invalidCodes } from './select/invalid.js';

/** Unit of entropy: `'bits'` (log base 2, the default) or `'nats'` (natural log). */
export type EntropyUnit = 'bits' | 'nats';

/**
 * The temperature softmax: probabilities ∝ exp(z / T) per row, computed stably as
 * exp((z − max z) / T) / Σ. T = 0 gives a one-hot row at the largest logit, the lowest index
 * among equal maxima (the sampler's greedy rule). `-Infinity` logits are masks and get 0.
 *
 * - `logits`: float32 `[B, V]` or `[V]`; the result has the same shape (float32).
 * - `temperature`: finite T ≥ 0, one for all rows or one per row (length B). Default 1.
 * - Rows the sampler would reject (NaN, +Infinity, no finite logit) come out as NaN rows, as in
 *   `sampler.probabilities()` under the default `invalidRows: 'error'`.
 *
 * Throws `SamplingError` naming the argument, the rule and the value for bad logits or T. The
 * input is neither modified nor disposed; the caller disposes the result.
 *
 * This is the distribution of temperature alone; `sampler.probabilities()` gives the one after
 * the whole chain (top-k, top-p, min-p).
 *
 * @example
 * const p = softmax(tf.tensor2d([[2, 1, 0], [2, 1, 0]]), [1, 0]);
 * // [[0.665, 0.245, 0.090], [1, 0, 0]]
 */
export function softmax<R extends tf.Rank.R1 | tf.Rank.R2>(logits: tf.Tensor<R>, temperature: RowParam = 1): tf.Tensor<R> {
  const { batch, vocab, rank } = checkLogits(logits);
  const T = resolveRowParam('temperature', validateTemperature(temperature), batch);
  return tf.tidy(() => {
    const z = tf.reshape(logits, [batch, vocab]) as tf.Tensor2D;
    const rows = (flag: tf.Tensor1D): tf.Tensor2D => tf.broadcastTo(tf.reshape(flag, [batch, 1]), [batch, vocab]) as tf.Tensor2D;
    // The sampler's softmax (1/T as a float32 pair; T = 0: one-hot at the first maximum), with
    // its clamp of 1/T to [2^-100, 2^100], so that every finite T > 0 means what it means there.
    let p = temperedSoftmax(
      z,
      Float64Array.from(T, (t) => nextInvTemperature(1, t)),
    );
    // Invalid rows (NaN, +Infinity, no finite logit) are NaN rows on every backend, as in
    // sampler.probabilities(): marked explicitly rather than left to each backend's NaN rules.
    const invalid = tf.less(invalidCodes(z, {}, z), 0) as tf.Tensor1D;
    p = tf.where(rows(invalid), tf.fill([batch, vocab], NaN), p);
    const shape: number[] = rank === 2 ? [batch, vocab] : [vocab];
    return tf.reshape(p, shape) as tf.Tensor as tf.Tensor<R>;
  });
}

/**
 * Shannon entropy per row, H = −Σ q log q, with 0 · log 0 = 0 (masked tokens contribute
 * nothing). In bits by default — the article's unit, and log2 V for a uniform row — or nats.
 *
 * - `probs`: float32 `[B, V]` or `[V]` probabilities (rows summing to 1, e.g. from `softmax` or
 *   `sampler.probabilities()`); they are not renormalised. NaN rows give NaN.
 * - Returns float32 `[B]` (`[1]` for a `[V]` input). No read-back.
 *
 * @example
 * entropy(tf.tensor2d([[0.25, 0.25, 0.25, 0.25], [1, 0, 0, 0]])); // [2, 0] (bits)
 * entropy(tf.tensor1d([0.5, 0.5]), 'nats');                       // [0.693]
 */
export function entropy(probs: tf.Tensor1D | tf.Tensor2D, unit: EntropyUnit = 'bits'): tf.Tensor1D {
  const { batch, vocab } = checkLogits(probs, 'probs');
  const scale = unitScale(unit);
  return tf.tidy(() => rowEntropy(tf.reshape(probs, [batch, vocab]) as tf.Tensor2D, scale));
}

/** Per-row statistics of a distribution, as float32 `[B]` tensors (see {@link distributionStats}). */
export interface DistributionStats {
  /** The largest probability of each row. */
  maxProb: tf.Tensor1D;
  /** The kept-set size: how many tokens have q > 0 (exact integers in float32). */
  kept: tf.Tensor1D;
  /** Entropy in bits. */
  entropy: tf.Tensor1D;
  /** Effective vocabulary (perplexity) 2^H: V for a uniform row, 1 for a one-hot row. */
  perplexity: tf.Tensor1D;
}

/**
 * Per-row statistics of probabilities: max probability, kept-set size (q > 0), entropy in
 * bits and the effective vocabulary 2^H — four float32 `[B]` tensors, no read-back; the caller
 * disposes them (`tf.dispose(Object.values(stats))`). NaN rows give NaN in every field.
 *
 * - `probs`: float32 `[B, V]` or `[V]` (then B = 1).
 *
 * @example
 * const s = distributionStats(tf.tensor2d([[0.5, 0.5, 0, 0]]));
 * // maxProb [0.5], kept [2], entropy [1], perplexity [2]
 */
export function distributionStats(probs: tf.Tensor1D | tf.Tensor2D): DistributionStats {
  const { batch, vocab } = checkLogits(probs, 'probs');
  return tf.tidy(() => {
    const q = tf.reshape(probs, [batch, vocab]) as tf.Tensor2D;
    const h = rowEntropy(q, Math.LOG2E);
    // A row with NaN reports NaN in every field, explicitly (backends differ in max of NaN).
    const bad = tf.any(tf.isNaN(q), 1);
    const nanIfBad = (x: tf.Tensor): tf.Tensor1D => tf.where(bad, tf.fill([batch], NaN), x) as tf.Tensor1D;
    return {
      maxProb: nanIfBad(tf.max(q, 1)), // identity-safe: probabilities ≥ 0
      kept: nanIfBad(tf.sum(tf.step(q), 1)),
      entropy: h,
      perplexity: nanIfBad(tf.pow(2, h)),
    };
  });
}

/** {@link DistributionStats} read back to the host: one number per row. */
export interface DistributionStatsValues {
  /** The largest probability of each row. */
  maxProb: number[];
  /** How many tokens have q > 0. */
  kept: number[];
  /** Entropy in bits. */
  entropy: number[];
  /** Effective vocabulary 2^H. */
  perplexity: number[];
}

/**
 * {@link distributionStats} read back with a single `await data()`; allocates nothing that
 * outlives the call.
 *
 * @example
 * const { maxProb, entropy } = await readDistributionStats(softmax(logits, 0.7));
 */
export async function readDistributionStats(probs: tf.Tensor1D | tf.Tensor2D): Promise<DistributionStatsValues> {
  const stats = distributionStats(probs);
  const stacked = tf.stack([stats.maxProb, stats.kept, stats.entropy, stats.perplexity]);
  tf.dispose(Object.values(stats));
  let data: Float32Array;
  try {
    data = (await stacked.data()) as Float32Array;
  } finally {
    stacked.dispose();
  }
  const b = stacked.shape[1]!;
  const field = (i: number): number[] => Array.from(data.subarray(i * b, (i + 1) * b));
  return { maxProb: field(0), kept: field(1), entropy: field(2), perplexity: field(3) };
}

function unitScale(unit: unknown): number {
  if (unit === 'bits') return Math.LOG2E;
  if (unit === 'nats') return 1;
  throw new SamplingError('unit', 'must be "bits" or "nats"', unit);
}

/** −Σ q ln q · scale per row of a `[B, V]` tensor; 0 · ln 0 = 0; a row with NaN gives NaN. */
function rowEntropy(q: tf.Tensor2D, scale: number): tf.Tensor1D {
  // ln(q + [q = 0]) is ln q where q > 0 and ln 1 = 0 where q = 0.
  const safeLog = tf.log(tf.add(q, tf.cast(tf.equal(q, 0), 'float32')));
  const h = tf.sub(0, tf.mul(tf.sum(tf.mul(q, safeLog), 1), scale)); // 0 − x: no −0
  return tf.where(tf.any(tf.isNaN(q), 1), tf.fill([q.shape[0]], NaN), h) as tf.Tensor1D;
}
