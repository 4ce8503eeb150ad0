import * as tf from '@tensorflow/tfjs-core';
import { optionRows, type OptionRows } from '../plan.js';
import { builtin } from '../builtin.js';
import { isOff, splitF32, validateMinP, validateMinTokensToKeep, type RowParam } from '../params.js';
import { referenceMinP } from '../reference/min-p.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { FLT_MAX, column, maskWhere, restoreTop, rowMax, twoSum, withLogits } from './ops.js';

/**
 * Min-p: keeps token j iff q_j ≥ m · max q (inclusive), i.e. z_j ≥ max z + T · ln m — no
 * softmax. The threshold is held as a float32 pair so the comparison is exact. m = 0 is off.
 *
 * @example
 * const sampler = createSampler({ temperature: 1, minP: 0.05 });
 */
export function minP(m: RowParam, minTokensToKeep: RowParam = 1): LogitsProcessor {
  return minPOf(validateMinP(m), validateMinTokensToKeep(minTokensToKeep));
}

/** minP from validated values; `rows` from the sampler's plan (plan.ts), else resolved here once per batch size. */
export function minPOf(value: RowParam, minKeep: RowParam, rows: OptionRows = optionRows('minP', value, minKeep)): LogitsProcessor {
  return builtin({
    name: isOff(value, (v) => v === 0) ? '?min-p' : 'min-p',
    apply(state: SamplingState): SamplingState {
      const { batch } = state;
      const M = rows.value(batch);
      if (M.every((v) => v === 0)) return state;
      // Rows without a finite max (all -Infinity, or invalid) get max 0, so that min-p leaves
      // them as they are (no NaN of its own): they are reported from their input and processed
      // values by the invalid-row rule, as in the reference.
      const m = rowMax(state.logits);
      const zmax = tf.where(tf.isFinite(m), m, tf.zerosLike(m));
      const [t, e2] = minPPair(zmax, M, state.invTemperature);
      const gap = tf.sub(state.logits, t);
      const logits = maskWhere(state.logits, tf.step(tf.sub(e2, gap))) as tf.Tensor2D;
      return withLogits(state, restoreTop(state.logits, logits, rows.minKeep(batch)));
    },
    reference: referenceMinP(value, minKeep),
  });
}

/**
 * Min-p's threshold as a pair (`[B, 1]` each): keep z iff !(e2 > z − t) (float32 ops), which is
 * z ≥ max z + T · ln m exactly. Rows with m = 0 keep everything. Shared with the fused GPU chain.
 */
export function minPPair(zmax: tf.Tensor, M: Float64Array, invTemperature: Float64Array): [tf.Tensor, tf.Tensor] {
  const batch = M.length;
  // Offset T·ln m per row, split into hi + lo.
  const hi = new Float32Array(batch);
  const lo = new Float32Array(batch);
  for (let r = 0; r < batch; r++) {
    const off = M[r] === 0 ? 0 : Math.log(M[r]!) / invTemperature[r]!;
    [hi[r], lo[r]] = splitF32(off === 0 ? 0 : off); // avoid -0 artefacts
  }
  // zmax + hi = t + err exactly; keep z ≥ t + (err + lo)  ⇔  !(err + lo > z - t)
  const [t, err] = twoSum(zmax, column(hi));
  // Rows with min-p off, and rows whose threshold lies below -FLT_MAX (zmax near -FLT_MAX and a
  // large T·|ln m|: t overflows to -Infinity), keep every finite logit: t = e2 = -FLT_MAX does
  // that with no overflow (z - t ≥ 0 > e2 for every finite z). A row-dependent offset of
  // -FLT_MAX instead would overflow for |max z| ≳ 1e31 and turn the row NaN.
  const keepAll = tf.logicalOr(
    tf.equal(t, -Infinity),
    tf.tensor2d(
      Uint8Array.from(M, (m) => (m === 0 ? 1 : 0)),
      [batch, 1],
      'bool',
    ),
  );
  const floor = tf.fill([batch, 1], -FLT_MAX);
  return [tf.where(keepAll, floor, t), tf.where(keepAll, floor, tf.add(err, column(lo)))];
}
