import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { fieldsOf, rowsOf, type Rows } from '../plan.js';
import { validateXtc, type XtcOptions, type XtcRows } from '../chain-options.js';
import { SamplingError } from '../errors.js';
import { xtcUniform } from '../noise.js';
import { validateMinTokensToKeep, type RowParam } from '../params.js';
import { referenceXtcOfRows, xtcCoins } from '../reference/xtc.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { column, rowMax, rowMin, rowsLeftAlone, scaleByInvTemperature, withLogits } from './ops.js';

/**
 * XTC, exclude top choices (llama.cpp `xtc`): in a row whose coin comes up (probability
 * `probability` per row and step), every token with q ≥ `threshold` is dropped except the least
 * probable of them — when at least two reach it, and at least `minTokensToKeep` tokens stay.
 * Tokens tied with that least probable one all stay (llama.cpp keeps one of equal tokens, by
 * sort position). The coin is a hash of the row's key and the step (`SamplingState.keys`), so a
 * row's tokens stay reproducible and independent of the batch and the backend.
 *
 * @example
 * const sampler = createSampler({ xtc: { probability: 0.5, threshold: 0.1 }, seed: 7 });
 */
export function xtc(options: XtcOptions | readonly (XtcOptions | undefined)[], minTokensToKeep: RowParam = 1): LogitsProcessor {
  return xtcOfRows(validateXtc(options), validateMinTokensToKeep(minTokensToKeep));
}

/**
 * XTC from validated per-row fields (the sampler's options); `rows` from the sampler's plan
 * (plan.ts), else resolved here once per batch size.
 */
export function xtcOfRows(
  value: XtcRows,
  minKeep: RowParam,
  rows: { xtc: Record<'probability' | 'threshold', Rows>; minKeep: Rows } = { xtc: fieldsOf('xtc', value), minKeep: rowsOf('minTokensToKeep', minKeep) },
): LogitsProcessor {
  const off = typeof value.probability === 'number' ? value.probability === 0 : Array.from(value.probability).every((v) => v === 0);
  return builtin({
    name: off ? '?xtc' : 'xtc',
    apply(state: SamplingState): SamplingState {
      const { batch } = state;
      const Pr = rows.xtc.probability(batch);
      const Th = rows.xtc.threshold(batch);
      const M = rows.minKeep(batch);
      if (Pr.every((v) => v === 0)) return state;
      if (!state.keys) throw new SamplingError('state.keys', 'must hold the row keys for XTC (its coin hashes them); a sampler sets them', undefined);
      const on = xtcCoins(Pr, Th, state.keys, state.steps ?? state.step, xtcUniform);
      if (!on.some(Boolean)) return state;
      const z = state.logits;
      const zmax = rowMax(z);
      const skip = rowsLeftAlone(
        z,
        zmax,
        on.map((o) => !o),
      );
      const s = scaleByInvTemperature(tf.sub(z, tf.where(skip, tf.zerosLike(zmax), zmax)), state.invTemperature);
      const ex = tf.exp(s);
      const q = tf.div(ex, tf.sum(ex, 1, true));
      const finite = tf.isFinite(z);
      const above = tf.logicalAnd(finite, tf.greaterEqual(q, column(Th)));
      // The least probable token that reaches the threshold: every logit above it goes.
      const hi = rowMin(tf.where(above, z, tf.fill(z.shape, Infinity)) as tf.Tensor2D); // not tf.min: webgl's starts at 1e20
      const reached = tf.sum(tf.cast(above, 'float32'), 1, true);
      const left = tf.sum(tf.cast(tf.logicalAnd(finite, tf.lessEqual(z, hi)), 'float32'), 1, true);
      const act = tf.logicalAnd(tf.logicalAnd(tf.logicalNot(skip), tf.greaterEqual(reached, 2)), tf.greaterEqual(left, column(M)));
      const drop = tf.logicalAnd(act, tf.greater(z, hi));
      return withLogits(state, tf.where(drop, tf.fill(z.shape, -Infinity), z) as tf.Tensor2D);
    },
    reference: referenceXtcOfRows(value, minKeep),
  });
}
