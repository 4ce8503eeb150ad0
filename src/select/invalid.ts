import * as tf from '@tensorflow/tfjs-core';
import { InvalidRowsError, type InvalidRow, type InvalidRowCause } from '../errors.js';

/** Negative ids that mark invalid rows in a sampled ids tensor (policy 'error'). */
export const INVALID_CODE: Record<InvalidRowCause, number> = {
  nan: -1,
  'positive-infinity': -2,
  'no-finite-logit': -3,
};

const CAUSE_OF_CODE = new Map<number, InvalidRowCause>(
  Object.entries(INVALID_CODE).map(([cause, code]) => [code, cause as InvalidRowCause]),
);

/**
 * Per-row invalid-row code as a float `[B]` tensor: 0 valid, else the negative code.
 * `input` is the caller's logits, `processed` the logits after all processors.
 */
export function invalidCodes(input: tf.Tensor2D, processed: tf.Tensor2D): tf.Tensor1D {
  const nan = tf.any(tf.isNaN(input), 1);
  const posInf = tf.equal(tf.max(input, 1), Infinity);
  // Not `isFinite(max)`: webgl's max of an all -Infinity row is -1e20.
  const noFinite = tf.logicalNot(tf.any(tf.isFinite(processed), 1));
  const b = input.shape[0];
  const code = (c: number): tf.Tensor1D => tf.fill([b], c);
  return tf.where(
    nan,
    code(INVALID_CODE.nan),
    tf.where(posInf, code(INVALID_CODE['positive-infinity']), tf.where(noFinite, code(INVALID_CODE['no-finite-logit']), code(0))),
  ) as tf.Tensor1D;
}

/** The invalid rows encoded in read-back ids (negative codes). */
export function invalidRowsIn(ids: ArrayLike<number>): InvalidRow[] {
  const rows: InvalidRow[] = [];
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r]!;
    if (id < 0) rows.push({ row: r, cause: CAUSE_OF_CODE.get(id) ?? 'no-finite-logit' });
  }
  return rows;
}

/** Throws {@link InvalidRowsError} if read-back ids hold invalid-row codes. */
export function assertValidIds(ids: ArrayLike<number>): void {
  const rows = invalidRowsIn(ids);
  if (rows.length > 0) throw new InvalidRowsError(rows);
}
