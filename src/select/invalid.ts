import * as tf from '@tensorflow/tfjs-core';
import { INVALID_CODE, PROCESSOR_INVALID_CODE } from '../invalid-rows.js';
import { editKernelsAvailable, invalidCodesKernel } from '../backends/js-kernels.js';
import { firstArgMax, oneHotRows } from '../processors/ops.js';

export { INVALID_CODE, PROCESSOR_INVALID_CODE, assertValidIds, invalidRowOf, invalidRowsIn } from '../invalid-rows.js';

/**
 * Per-row invalid-row code as a float `[B]` tensor: 0 valid, else the negative code. `input` is
 * the caller's logits, `made` the rows where user processors returned NaN / +Infinity (see
 * runChain), `processed` the logits after the whole chain: the rule of {@link invalidRowOf}
 * (the reference's), on tensors.
 */
export function invalidCodes(input: tf.Tensor2D, made: { madeNaN?: tf.Tensor1D; madeInf?: tf.Tensor1D }, processed: tf.Tensor2D): tf.Tensor1D {
  const b = input.shape[0];
  if (editKernelsAvailable()) {
    return invalidCodesKernel(input, processed, made, {
      nan: INVALID_CODE.nan,
      inf: INVALID_CODE['positive-infinity'],
      none: INVALID_CODE['no-finite-logit'],
      madeNaN: PROCESSOR_INVALID_CODE.nan,
      madeInf: PROCESSOR_INVALID_CODE['positive-infinity'],
      madeNone: processed === input ? INVALID_CODE['no-finite-logit'] : PROCESSOR_INVALID_CODE['no-finite-logit'],
    });
  }
  const code = (c: number): tf.Tensor1D => tf.fill([b], c);
  const nan = tf.any(tf.isNaN(input), 1);
  const posInf = tf.equal(tf.max(input, 1), Infinity); // identity-safe: only +Infinity counts
  // Not `isFinite(max)`: webgl's max of an all -Infinity row is -1e20.
  const noFinite = tf.logicalNot(tf.any(tf.isFinite(processed), 1));
  let out: tf.Tensor = tf.where(noFinite, code(INVALID_CODE['no-finite-logit']), code(0));
  if (processed !== input) {
    const inputNoFinite = tf.logicalNot(tf.any(tf.isFinite(input), 1));
    out = tf.where(tf.logicalAnd(noFinite, tf.logicalNot(inputNoFinite)), code(PROCESSOR_INVALID_CODE['no-finite-logit']), out);
  }
  if (made.madeInf) out = tf.where(made.madeInf, code(PROCESSOR_INVALID_CODE['positive-infinity']), out);
  if (made.madeNaN) out = tf.where(made.madeNaN, code(PROCESSOR_INVALID_CODE.nan), out);
  out = tf.where(posInf, code(INVALID_CODE['positive-infinity']), out);
  return tf.where(nan, code(INVALID_CODE.nan), out) as tf.Tensor1D;
}

/**
 * The opt-in invalid-row policies as tfjs ops, for the paths whose kernels do not apply them
 * (the portable draw, webgl's chain): the fallback id per row — `'uniform'`: `uniformIds` (the
 * argmax of the row's noise alone, which each path draws its own way); `'greedy'`: the first
 * maximum of the input's finite logits, `uniformIds` where it has none. The one implementation;
 * the JS, SIMD and WGSL kernels apply the same rule inside their scans.
 */
export function policyFallbackIds(input: tf.Tensor2D, policy: 'uniform' | 'greedy', uniformIds: tf.Tensor1D): tf.Tensor1D {
  if (policy === 'uniform') return uniformIds;
  const isFin = tf.isFinite(input);
  const finite = tf.where(isFin, input, tf.fill(input.shape, -Infinity)) as tf.Tensor2D;
  return tf.where(tf.any(isFin, 1), firstArgMax(finite), uniformIds) as tf.Tensor1D;
}

/**
 * The policies' distributions (`probabilities()` of an invalid row), `[B, V]`: `'error'` NaN
 * rows, `'uniform'` 1 / V, `'greedy'` one-hot at the first finite maximum (uniform where none) —
 * what `policyFallbackIds` draws from.
 */
export function policyRows(input: tf.Tensor2D, policy: 'error' | 'uniform' | 'greedy'): tf.Tensor2D {
  const [batch, vocab] = input.shape;
  if (policy === 'error') return tf.fill([batch, vocab], NaN) as tf.Tensor2D;
  const uniform = tf.fill([batch, vocab], 1 / vocab) as tf.Tensor2D;
  if (policy === 'uniform') return uniform;
  const isFin = tf.isFinite(input);
  const finite = tf.where(isFin, input, tf.fill(input.shape, -Infinity)) as tf.Tensor2D;
  const any = tf.broadcastTo(tf.reshape(tf.any(isFin, 1), [batch, 1]), [batch, vocab]);
  return tf.where(any, oneHotRows(firstArgMax(finite), vocab), uniform) as tf.Tensor2D;
}
