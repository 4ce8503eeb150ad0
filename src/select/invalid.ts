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
 * `input` is the caller's logits, `zmax` the row max after all processors.
 */
export function invalidCodes(input: tf.Tensor2D, zmax: tf.Tensor1D): tf.Tensor1D {
  const nan = tf.any(tf.isNaN(input), 1);
  const inputMax = tf.max(input, 1);
  const posInf = tf.equal(inputMax, Infinity);
  const noFinite = tf.logicalNot(tf.isFinite(zmax));
  const zero = tf.zerosLike(zmax);
  return tf.where(
    nan,
    tf.fill(zmax.shape, INVALID_CODE.nan),
    tf.where(posInf, tf.fill(zmax.shape, INVALID_CODE['positive-infinity']), tf.where(noFinite, tf.fill(zmax.shape, INVALID_CODE['no-finite-logit']), zero)),
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
