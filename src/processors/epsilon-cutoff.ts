import * as tf from '@tensorflow/tfjs-core';
import { optionRows, type OptionRows } from '../plan.js';
import { builtin } from '../builtin.js';
import { isOff, validateEpsilonCutoff, validateMinTokensToKeep, type RowParam } from '../params.js';
import { referenceEpsilonCutoff } from '../reference/epsilon-cutoff.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { column, maskWhere, restoreTop, rowMax, rowsLeftAlone, scaleByInvTemperature, withLogits } from './ops.js';

/**
 * ε-cutoff (Hugging Face `EpsilonLogitsWarper`, Hewitt et al. 2022): drops the tokens whose
 * probability q (after the temperature and the earlier filters) is below ε; the most probable
 * token always stays. ε in [0, 1), 0 = off.
 *
 * @example
 * const sampler = createSampler({ temperature: 0.9, epsilonCutoff: 3e-4 });
 */
export function epsilonCutoff(e: RowParam, minTokensToKeep: RowParam = 1): LogitsProcessor {
  return epsilonCutoffOf(validateEpsilonCutoff(e), validateMinTokensToKeep(minTokensToKeep));
}

/** epsilonCutoff from validated values; `rows` from the sampler's plan (plan.ts), else resolved here once per batch size. */
export function epsilonCutoffOf(value: RowParam, minKeep: RowParam, rows: OptionRows = optionRows('epsilonCutoff', value, minKeep)): LogitsProcessor {
  return builtin({
    name: isOff(value, (v) => v === 0) ? '?epsilon-cutoff' : 'epsilon-cutoff',
    apply: (state) => probabilityCutoff(state, rows.value(state.batch), false, rows.minKeep(state.batch)),
    reference: referenceEpsilonCutoff(value, minKeep),
  });
}

/** Keeps q ≥ cut (ε, or η's entropy-scaled cut) and the row's maxima; rows with NaN, +Infinity or nothing finite unchanged. */
export function probabilityCutoff(state: SamplingState, E: Float64Array, eta: boolean, M: Float64Array): SamplingState {
  if (E.every((v) => v === 0)) return state;
  const z = state.logits;
  const zmax = rowMax(z);
  const skip = rowsLeftAlone(
    z,
    zmax,
    Array.from(E, (v) => v === 0),
  );
  const safeMax = tf.where(skip, tf.zerosLike(zmax), zmax);
  const s = scaleByInvTemperature(tf.sub(z, safeMax), state.invTemperature);
  const ex = tf.exp(s);
  const total = tf.sum(ex, 1, true);
  const q = tf.div(ex, total);
  let cut: tf.Tensor = column(E);
  if (eta) {
    // H = −Σ q · ln q, ln q = s − ln Σ; tokens of zero probability add nothing.
    const lnq = tf.sub(s, tf.log(total));
    const H = tf.neg(tf.sum(tf.where(tf.greater(ex, 0), tf.mul(q, lnq), tf.zerosLike(q)), 1, true));
    cut = tf.minimum(cut, tf.mul(column(Array.from(E, Math.sqrt)), tf.exp(tf.neg(H))));
  }
  const keep = tf.logicalOr(tf.logicalOr(tf.greaterEqual(q, cut), tf.greaterEqual(z, zmax)), skip);
  return withLogits(state, restoreTop(z, maskWhere(z, tf.cast(tf.logicalNot(keep), 'float32')) as tf.Tensor2D, M));
}
