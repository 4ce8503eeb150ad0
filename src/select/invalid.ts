import * as tf from '@tensorflow/tfjs-core';
import { INVALID_CODE, PROCESSOR_INVALID_CODE } from '../invalid-rows.js';
import { editKernelsAvailable, invalidCodesKernel } from '../backends/js-kernels.js';

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
