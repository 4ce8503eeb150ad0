// Log-probabilities of the drawn tokens and the top alternatives, computed on the device beside
// the draw and packed with the ids into one float32 tensor, so that a step still reads back once.
import * as tf from '@tensorflow/tfjs-core';
import { SamplingError } from './errors.js';
import { deviceTopk } from './device-topk.js';
import { FLT_MAX, firstArgMax, invTemperaturePair, oneHotRows, pickPerRowAt, rowMax, scaleByInvTemperature } from './processors/ops.js';

/** Which distribution a log-probability is taken under. */
export type LogprobsMode = 'raw' | 'processed';

/** What `sampleWithLogprobs` computes besides the ids. */
export interface LogprobsOptions {
  /**
   * How many alternatives per row: the tokens with the largest log-probabilities under `mode`,
   * in descending order, ties in index order (integer ≥ 0, at most V). Default 0.
   */
  topLogprobs?: number;
  /** The distribution of the alternatives: `'raw'` (default) or `'processed'`. */
  mode?: LogprobsMode;
}

/**
 * One step's tokens and log-probabilities, per row (natural logarithms, float32).
 * - `raw[r]`: log p(id) under the raw distribution, the log-softmax of the logits given to the
 *   sampler (before any processor, at temperature 1): what the model says.
 * - `processed[r]`: log q(id) under the distribution the token was drawn from: after the whole
 *   chain (penalties, masks, filters) and the row's temperature; exactly `log(probabilities())`.
 *   A greedy row (T = 0) has q = 1 on its largest processed logit: 0 there, −Infinity elsewhere.
 * - Filtered or masked tokens have −Infinity under `processed`; tokens the model gave −Infinity,
 *   −Infinity under both. Values at or below −FLT_MAX (−3.4e38, beyond float32) are −Infinity.
 * - An invalid row (NaN, +Infinity, no finite logit: see `invalidRows`) has NaN log-probabilities
 *   and alternatives with id −1, whatever token its policy drew. Under `'raw'` a row that only a
 *   processor made invalid keeps its raw numbers (the model's distribution is well defined).
 */
export interface SampledLogprobs {
  /** The drawn token per row (negative codes mark invalid rows under `invalidRows: 'error'`). */
  readonly ids: Int32Array;
  readonly raw: Float32Array;
  readonly processed: Float32Array;
  /** The distribution of `topIds` / `topLogprobs`. */
  readonly mode: LogprobsMode;
  /** Per row, the `topLogprobs` most probable tokens under `mode`. */
  readonly topIds: Int32Array[];
  /** Their log-probabilities under `mode`, descending. */
  readonly topLogprobs: Float32Array[];
}

/** The columns of the packed tensor before the alternatives: id, raw, processed. */
export const PACKED_HEAD = 3;

/** Validated options (defaults filled in). */
export interface LogprobsPlan {
  topLogprobs: number;
  mode: LogprobsMode;
}

/** Checks `options` against the vocabulary size. */
export function logprobsPlan(options: LogprobsOptions | undefined, vocab: number): LogprobsPlan {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new SamplingError('logprobs', 'must be an object { topLogprobs?, mode? }', options);
  }
  const n = options?.topLogprobs ?? 0;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > vocab) {
    throw new SamplingError('topLogprobs', `must be an integer in [0, ${vocab}] (the vocabulary size)`, n);
  }
  const mode = options?.mode ?? 'raw';
  if (mode !== 'raw' && mode !== 'processed') throw new SamplingError('mode', 'must be "raw" or "processed"', mode);
  // Ids travel as float32 in the packed tensor: exact below 2^24.
  if (vocab > 2 ** 24) throw new SamplingError('logits', 'must have a vocabulary of at most 2^24 tokens for log-probabilities (ids are packed as float32)', vocab);
  return { topLogprobs: n, mode };
}

/** What the packing needs from a step: the caller's logits and the chain's result. */
export interface LogprobsInputs {
  /** The caller's logits `[B, V]`. */
  input: tf.Tensor2D;
  /** The logits after the whole chain (before temperature), `[B, V]`. */
  processed: tf.Tensor2D;
  /** Per-row accumulated 1/T (Infinity: greedy). */
  invTemperature: Float64Array;
  /** Per-row invalid-row code (< 0: invalid) after the chain, float `[B]`. */
  codes: tf.Tensor1D;
  /** Per-row invalid-row code of the input alone, float `[B]`. */
  inputCodes: tf.Tensor1D;
  /** The drawn ids, int32 `[B]`. */
  ids: tf.Tensor1D;
}

/**
 * float32 `[B, 3 + 2n]`: per row the id, its raw and processed log-probabilities, then n
 * alternative ids and their log-probabilities. Call inside a tidy.
 */
export function packLogprobs(x: LogprobsInputs, plan: LogprobsPlan): tf.Tensor2D {
  const { input, processed, invTemperature, ids } = x;
  const [batch, vocab] = input.shape;
  const col = (t: tf.Tensor): tf.Tensor2D => tf.reshape(t, [batch, 1]) as tf.Tensor2D;
  const nanRows = (bad: tf.Tensor1D, t: tf.Tensor2D): tf.Tensor2D =>
    tf.where(tf.broadcastTo(col(bad), t.shape), tf.fill(t.shape, NaN), t) as tf.Tensor2D;
  const inputBad = tf.less(x.inputCodes, 0) as tf.Tensor1D;
  const rowBad = tf.less(x.codes, 0) as tf.Tensor1D;
  const idBad = tf.less(ids, 0) as tf.Tensor1D;
  const at = tf.maximum(ids, tf.scalar(0, 'int32')) as tf.Tensor1D;

  // Raw: z − logsumexp(z) over the caller's row.
  const m = rowMax(input);
  const rawLse = tf.add(m, tf.log(tf.sum(tf.exp(tf.sub(input, m)), 1, true)));
  const raw = nanRows(inputBad, tf.sub(input, rawLse) as tf.Tensor2D);
  const rawAt = tf.where(tf.logicalOr(inputBad, idBad), tf.fill([batch], NaN), pickPerRowAt(raw, at));

  // Processed: the arithmetic of probabilities(): d = z − max z, scaled by the row's 1/T as a
  // float32 pair; the sum from the clamped scaling (tokens it clamps have probability 0), each
  // token's own value from the unclamped one (its log-probability, not −2048 − lse).
  const zmax = rowMax(processed);
  const d = tf.sub(processed, zmax);
  const sum = tf.sum(tf.exp(scaleByInvTemperature(d, invTemperature)), 1, true);
  const [hi, lo] = invTemperaturePair(invTemperature);
  const scaled = tf.where(tf.isFinite(d), tf.add(tf.mul(d, hi), tf.mul(d, lo)), d);
  let logq = tf.sub(scaled, tf.log(sum)) as tf.Tensor2D;
  const greedy = invTemperature.map((v) => (Number.isFinite(v) ? 0 : 1));
  if (greedy.some((g) => g === 1)) {
    const one = tf.where(tf.cast(oneHotRows(firstArgMax(processed), vocab), 'bool'), tf.zerosLike(logq), tf.fill(logq.shape, -Infinity));
    const rows = tf.broadcastTo(tf.reshape(tf.tensor1d(Array.from(greedy), 'bool'), [batch, 1]), [batch, vocab]);
    logq = tf.where(rows, one, logq) as tf.Tensor2D;
  }
  logq = nanRows(rowBad, logq);
  const procAt = tf.where(tf.logicalOr(rowBad, idBad), tf.fill([batch], NaN), pickPerRowAt(logq, at));

  const parts: tf.Tensor[] = [col(tf.cast(ids, 'float32')), col(floorInf(rawAt)), col(floorInf(procAt))];
  const n = plan.topLogprobs;
  if (n > 0) {
    // Below float32's range is -Infinity, and -Infinity is -FLT_MAX in the sort: tfjs cpu's topk
    // compares by value difference, NaN for two -Infinity, and then loses the index order.
    const source = tf.maximum(plan.mode === 'raw' ? raw : logq, -FLT_MAX);
    const bad = plan.mode === 'raw' ? inputBad : rowBad;
    const top = deviceTopk(source, n);
    const values = floorInf(top.values);
    const indices = top.indices;
    const badCols = tf.broadcastTo(col(bad), [batch, n]);
    parts.push(tf.where(badCols, tf.fill([batch, n], -1), tf.cast(indices, 'float32')));
    parts.push(tf.where(badCols, tf.fill([batch, n], NaN), values));
  }
  return tf.concat(parts, 1) as tf.Tensor2D;
}

/**
 * float32 `[B]`: each row's raw log-probability of `ids[r]` (log-softmax of `input` at that
 * token; NaN where the row holds NaN or +Infinity or nothing finite, or the id is negative).
 * Call inside a tidy.
 */
export function rawLogprobAt(input: tf.Tensor2D, ids: tf.Tensor1D, inputCodes: tf.Tensor1D): tf.Tensor1D {
  const [batch] = input.shape;
  const m = rowMax(input);
  const lse = tf.add(m, tf.log(tf.sum(tf.exp(tf.sub(input, m)), 1, true)));
  const at = tf.maximum(ids, tf.scalar(0, 'int32')) as tf.Tensor1D;
  const z = pickPerRowAt(input, at);
  const bad = tf.logicalOr(tf.less(inputCodes, 0), tf.less(ids, 0));
  return floorInf(tf.where(bad, tf.fill([batch], NaN), tf.sub(z, tf.reshape(lse, [batch]))) as tf.Tensor1D);
}

/** Values at or below -FLT_MAX (probability 0 in any float arithmetic) become -Infinity. */
function floorInf<T extends tf.Tensor>(x: T): T {
  return tf.where(tf.lessEqual(x, -FLT_MAX), tf.fill(x.shape, -Infinity), x) as T;
}

/** Unpacks the read-back of a packed `[B, 3 + 2n]` tensor. */
export function unpackLogprobs(data: Float32Array, batch: number, plan: LogprobsPlan): SampledLogprobs {
  const n = plan.topLogprobs;
  const width = PACKED_HEAD + 2 * n;
  const ids = new Int32Array(batch);
  const raw = new Float32Array(batch);
  const processed = new Float32Array(batch);
  const topIds: Int32Array[] = [];
  const topLogprobs: Float32Array[] = [];
  for (let r = 0; r < batch; r++) {
    const o = r * width;
    ids[r] = data[o]!;
    raw[r] = data[o + 1]!;
    processed[r] = data[o + 2]!;
    topIds.push(Int32Array.from(data.subarray(o + PACKED_HEAD, o + PACKED_HEAD + n)));
    topLogprobs.push(data.slice(o + PACKED_HEAD + n, o + width));
  }
  return { ids, raw, processed, mode: plan.mode, topIds, topLogprobs };
}
