// Log-probabilities of the drawn tokens and the top alternatives, computed on the device beside
// the draw and packed with the ids into one float32 tensor, so that a step still reads back once.
import * as tf from '@tensorflow/tfjs-core';
import { SamplingError } from './errors.js';
import { rawOption } from './logprobs-options.js';
import { deviceTopk } from './device-topk.js';
import { kernelsFor } from './backends/registry.js';
import { jsKernelsAvailable, packLogprobsKernel, rowExpSumsKernel } from './backends/js-kernels.js';
import { FLT_MAX, firstArgMax, invTemperaturePair, pickPerRowAt, rowMax, scaleByInvTemperature } from './processors/ops.js';

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
  /**
   * Whether to compute the raw log-probabilities (default true). `false` (only with mode
   * `'processed'`) leaves `raw` NaN and skips the raw normaliser, an exp over every token of
   * every row: what a step needs when only the sampled distribution matters (vLLM's
   * `logprobs_mode: 'processed_logprobs'`).
   */
  raw?: boolean;
}

/**
 * One step's tokens and log-probabilities, per row (natural logarithms, float32).
 * - `raw[r]`: log p(id) under the raw distribution, the log-softmax of the logits given to the
 *   sampler (before any processor, at temperature 1): what the model says. NaN on every row
 *   when the options said `raw: false`.
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
  /** Per row, log p(token) under the model's distribution: the log-softmax of the raw logits. */
  readonly raw: Float32Array;
  /** Per row, log q(token) under the distribution it was drawn from (after the whole chain and temperature). */
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
  /** False: the raw column is NaN and its normaliser is not computed. */
  raw: boolean;
}

/** Checks `options` against the vocabulary size. */
export function logprobsPlan(options: LogprobsOptions | undefined, vocab: number): LogprobsPlan {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new SamplingError('logprobs', 'must be an object { topLogprobs?, mode?, raw? }', options);
  }
  const n = options?.topLogprobs ?? 0;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > vocab) {
    throw new SamplingError('topLogprobs', `must be an integer in [0, ${vocab}] (the vocabulary size)`, n);
  }
  const mode = options?.mode ?? 'raw';
  if (mode !== 'raw' && mode !== 'processed') throw new SamplingError('mode', 'must be "raw" or "processed"', mode);
  const raw = rawOption(options?.raw, mode, 'raw');
  // Ids travel as float32 in the packed tensor: exact below 2^24.
  if (vocab > 2 ** 24)
    throw new SamplingError('logits', 'must have a vocabulary of at most 2^24 tokens for log-probabilities (ids are packed as float32)', vocab);
  return { topLogprobs: n, mode, raw };
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
  /** The drawn ids, int32 `[B]`. */
  ids: tf.Tensor1D;
}

/**
 * `[B, 1]`: Σ exp((z − m)·inv) per row (m the row's maximum, greedy rows at 1/T = 1), NaN for a
 * row with NaN, +Infinity or nothing finite: one typed-array pass on cpu and wasm, tfjs ops
 * (the arithmetic of probabilities()) elsewhere.
 */
function expSums(z: tf.Tensor2D, m: tf.Tensor2D, inv: Float64Array): tf.Tensor2D {
  if (jsKernelsAvailable())
    return rowExpSumsKernel(
      z,
      Float32Array.from(inv, (v) => (Number.isFinite(v) ? v : 1)),
    );
  return tf.sum(tf.exp(scaleByInvTemperature(tf.sub(z, m), inv)), 1, true) as tf.Tensor2D;
}

/** `[B, 1]`: NaN where `bad`, else 0 — added to a `[B, V]` tensor, NaN on its rows (no broadcast copy). */
function nanColumn(bad: tf.Tensor, batch: number): tf.Tensor2D {
  return tf.reshape(tf.where(bad, tf.fill([batch], NaN), tf.zeros([batch])), [batch, 1]) as tf.Tensor2D;
}

/**
 * float32 `[B, 3 + 2n]`: per row the id, its raw and processed log-probabilities, then n
 * alternative ids and their log-probabilities. Call inside a tidy.
 */
export function packLogprobs(x: LogprobsInputs, plan: LogprobsPlan): tf.Tensor2D {
  const { input, processed, invTemperature, ids } = x;
  // cpu and wasm: one typed-array pass per row on the backend's memory.
  if (jsKernelsAvailable()) return packLogprobsKernel(input, processed, ids, x.codes, invTemperature, plan.topLogprobs, plan.mode, plan.raw);
  // GPU backends: tensor ops, [B, V] passes only for the row maxima, the two normalisers and the
  // top n; every log-probability is computed at the points it is read (the drawn id, the top n)
  // with the same float32 arithmetic as over whole rows.
  const [batch] = input.shape;
  const col = (t: tf.Tensor): tf.Tensor2D => tf.reshape(t, [batch, 1]) as tf.Tensor2D;
  const at = tf.maximum(ids, tf.scalar(0, 'int32')) as tf.Tensor1D;
  const idNaN = nanColumn(tf.less(ids, 0), batch);

  // Raw: z − logsumexp(z) over the caller's row. A row with NaN, +Infinity or nothing finite
  // gets a NaN sum (NaN − NaN, +Infinity − +Infinity, −Infinity − −Infinity), so NaN everywhere.
  // raw: false (mode 'processed' only): a NaN column, no pass over the caller's rows.
  const m = plan.raw ? rowMax(input) : undefined;
  const logRaw = m ? tf.log(expSums(input, m, new Float64Array(batch).fill(1))) : undefined;
  // (v − max) − log S, not v − (max + log S): that sum rounds log S away next to a max of 1e19.
  const rawOf = (v: tf.Tensor): tf.Tensor2D => tf.sub(tf.sub(v, m!), logRaw!) as tf.Tensor2D;
  const rawAt = m ? tf.add(rawOf(col(pickPerRowAt(input, at))), idNaN) : tf.fill([batch, 1], NaN);

  // Processed: the arithmetic of probabilities(): d = z − max z, scaled by the row's 1/T as a
  // float32 pair; the sum from the clamped scaling (tokens it clamps have probability 0), each
  // token's own value from the unclamped one (its log-probability, not −2048 − lse).
  const zmax = rowMax(processed);
  const logSum = tf.log(expSums(processed, zmax, invTemperature));
  const [hi, lo, exact] = invTemperaturePair(invTemperature);
  // Rows invalid by the contract (the draw's codes) are NaN, whatever their values.
  const rowNaN = nanColumn(tf.less(x.codes, 0), batch);
  const greedy = invTemperature.map((v) => (Number.isFinite(v) ? 0 : 1));
  const anyGreedy = greedy.some((g) => g === 1);
  // Greedy rows: q = 1 on the first largest processed logit (0 there, −Infinity elsewhere).
  const first = anyGreedy ? col(firstArgMax(processed)) : undefined;
  const isGreedy = anyGreedy ? tf.equal(tf.tensor2d(Float32Array.from(greedy), [batch, 1]), 1) : undefined;
  /** log q at values v of tokens t ([B, k] each). */
  const logqOf = (v: tf.Tensor, t: tf.Tensor): tf.Tensor2D => {
    const d = tf.sub(v, zmax);
    const byInv = (x: tf.Tensor): tf.Tensor => (exact ? tf.mul(x, hi) : tf.add(tf.mul(x, hi), tf.mul(x, lo)));
    // A finite v more than FLT_MAX below the maximum (a row spanning past float32's range): v − max
    // overflows to −Infinity, but (v − max)/T is finite at a large T (1e30: about −6e8, as in the
    // reference and the cpu/wasm packing). Halve first: (v/2 − max/2)·(1/T)·2.
    const over = tf.logicalAnd(tf.logicalNot(tf.isFinite(d)), tf.isFinite(v));
    const halved = tf.mul(byInv(tf.sub(tf.mul(v, 0.5), tf.mul(zmax, 0.5))), 2);
    const scaled = tf.where(over, halved, exact ? byInv(d) : tf.where(tf.isFinite(d), byInv(d), d));
    let q = tf.sub(scaled, logSum);
    if (anyGreedy)
      q = tf.where(tf.logicalAnd(isGreedy!, tf.ones(q.shape, 'bool')), tf.where(tf.equal(t, first!), tf.zerosLike(q), tf.fill(q.shape, -Infinity)), q);
    return tf.add(q, rowNaN) as tf.Tensor2D;
  };
  const procAt = tf.add(logqOf(col(pickPerRowAt(processed, at)), col(at)), idNaN);

  const parts: tf.Tensor[] = [col(tf.cast(ids, 'float32')), floorInf(rawAt), floorInf(procAt)];
  const n = plan.topLogprobs;
  if (n > 0) {
    // The order of the raw (processed) log-probabilities is the order of the caller's (the
    // chain's) logits: the top n of those, their log-probabilities computed at them. tfjs cpu's
    // topk compares by value difference, NaN for two -Infinity, and then loses the index order:
    // there -Infinity sorts as -FLT_MAX (reported as -Infinity either way).
    const source = plan.mode === 'raw' ? input : processed;
    // webgl: the n largest without sorting the row (the GPU chain's window top-k).
    const top = kernelsFor()?.gpuChain?.top(source, n) ?? deviceTopk(tf.getBackend() === 'cpu' ? tf.maximum(source, -FLT_MAX) : source, n);
    let topIds: tf.Tensor = top.indices;
    let values = plan.mode === 'raw' ? rawOf(top.values) : logqOf(top.values, top.indices);
    if (plan.mode === 'processed' && anyGreedy) {
      // Greedy rows list the first maximum, then every other token (at −Infinity) in index order.
      const i = tf.reshape(tf.range(0, n, 1, 'int32'), [1, n]);
      const other = tf.add(tf.sub(i, 1), tf.cast(tf.greaterEqual(tf.sub(i, 1), first!), 'int32'));
      const ids1 = tf.where(tf.equal(i, 0), tf.add(tf.zerosLike(other), first!), other);
      const onGreedy = tf.logicalAnd(isGreedy!, tf.ones([batch, n], 'bool'));
      topIds = tf.where(onGreedy, ids1, topIds);
      values = tf.where(onGreedy, tf.add(tf.where(tf.equal(i, 0), tf.zeros([batch, n]), tf.fill([batch, n], -Infinity)), rowNaN), values) as tf.Tensor2D;
    }
    // A NaN row: ids −1 and NaN values (the sort of NaN is backend-dependent).
    const rowBad =
      plan.mode === 'raw' ? tf.isNaN(logRaw!) : tf.logicalOr(tf.less(col(x.codes), 0), tf.logicalOr(tf.isNaN(logSum), tf.logicalNot(tf.isFinite(zmax))));
    const badCols = tf.tile(rowBad, [1, n]);
    parts.push(tf.where(badCols, tf.fill([batch, n], -1), tf.cast(topIds, 'float32')));
    parts.push(tf.where(badCols, tf.fill([batch, n], NaN), floorInf(values)));
  }
  return tf.concat(parts, 1) as tf.Tensor2D;
}

/**
 * float32 `[B]`: each row's raw log-probability of `ids[r]` (log-softmax of `input` at that
 * token; NaN where the row holds NaN or +Infinity or nothing finite — the sum is NaN there —
 * or the id is negative).
 * Call inside a tidy.
 */
export function rawLogprobAt(input: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor1D {
  const [batch] = input.shape;
  const m = rowMax(input);
  const logRaw = tf.log(expSums(input, m, new Float64Array(batch).fill(1)));
  const z = pickPerRowAt(input, tf.maximum(ids, tf.scalar(0, 'int32')) as tf.Tensor1D);
  const idNaN = tf.where(tf.less(ids, 0), tf.fill([batch], NaN), tf.zeros([batch]));
  // (z − max) − log S (see packLogprobs).
  return floorInf(tf.add(tf.sub(tf.sub(z, tf.reshape(m, [batch])), tf.reshape(logRaw, [batch])), idNaN) as tf.Tensor1D);
}

/** Values at or below -FLT_MAX (probability 0 in any float arithmetic) become -Infinity. */
function floorInf<T extends tf.Tensor>(x: T): T {
  return tf.where(tf.lessEqual(x, -FLT_MAX), tf.fill(x.shape, -Infinity), x) as T;
}

/** Unpacks the read-back of a packed `[B, 3 + 2n]` tensor. */
export function unpackLogprobs(data: Float32Array, batch: number, plan: Pick<LogprobsPlan, 'topLogprobs' | 'mode'>): SampledLogprobs {
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
