import * as tf from '@tensorflow/tfjs-core';
import { rowsOf, type Rows } from '../plan.js';
import { builtin } from '../builtin.js';
import { isOff, validateTopNSigma, type RowParam } from '../params.js';
import { referenceTopNSigma } from '../reference/top-n-sigma.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { FLT_MAX, column, keepAtLeast, rowMax, rowsLeftAlone, withLogits } from './ops.js';

/**
 * Top-nσ (llama.cpp `top-n-sigma`, Tang et al. 2024): keeps the tokens whose logit is ≥ max − n·σ,
 * σ the population standard deviation of the row's finite logits (ties at the boundary kept).
 * The kept set does not depend on the temperature (both sides scale by 1/T). n = 0 is off. Rows
 * with NaN or +Infinity, or no finite logit, are left to the invalid-row rule.
 *
 * @example
 * const sampler = createSampler({ temperature: 1.5, topNSigma: 1 });
 */
export function topNSigma(n: RowParam): LogitsProcessor {
  return topNSigmaOf(validateTopNSigma(n));
}

/** topNSigma from a validated value; `rows` from the sampler's plan (plan.ts), else resolved here once per batch size. */
export function topNSigmaOf(value: RowParam, rows: Rows = rowsOf('topNSigma', value)): LogitsProcessor {
  return builtin({
    name: isOff(value, (v) => v === 0) ? '?top-n-sigma' : 'top-n-sigma',
    apply(state: SamplingState): SamplingState {
      const { batch } = state;
      const N = rows(batch);
      if (N.every((v) => v === 0)) return state;
      const z = state.logits;
      const finite = tf.isFinite(z);
      const count = tf.sum(tf.cast(finite, 'float32'), 1, true);
      const per = tf.maximum(count, 1);
      const zmax = rowMax(z);
      // Overflow-free in float32 for every finite logit, and exact near the max: deviations from
      // the row max, halved (z/2 − max/2 is exact wherever z is within a factor 2 of max, so a
      // row of logits a few ulps apart keeps them), scaled by their largest magnitude; then the
      // mean of those and the squares about it. Deviations from a float32 mean of z (the old form)
      // lost rows whose spread is a few ulps of their magnitude.
      const safeMax = tf.where(tf.isFinite(zmax), zmax, tf.zerosLike(zmax));
      const half = tf.where(finite, tf.sub(tf.mul(z, 0.5), tf.mul(safeMax, 0.5)), tf.zerosLike(z));
      const scale = tf.max(tf.abs(half), 1, true); // identity-safe: values ≥ 0, webgl's -1e20 start is below them
      // The same divisor back out (a fixed floor like 1e-30 shrank σ of rows spread below it);
      // a row of equal logits: 0 / 1, not 0 / 0.
      const div = tf.where(tf.greater(scale, 0), scale, tf.onesLike(scale));
      const unit = tf.div(half, div);
      const mean = tf.div(tf.sum(unit, 1, true), per);
      const dev = tf.where(finite, tf.sub(unit, mean), tf.zerosLike(z));
      const sigma = tf.mul(tf.mul(tf.sqrt(tf.div(tf.sum(tf.square(dev), 1, true), per)), div), 2);
      const thr = tf.sub(zmax, tf.mul(column(N), sigma));
      // Off rows, rows with NaN or +Infinity, rows with nothing finite: unchanged.
      const skip = rowsLeftAlone(
        z,
        zmax,
        Array.from(N, (v) => v === 0),
      );
      // -FLT_MAX, not -Infinity, keeps every finite logit and leaves -Infinity as it is (keepAtLeast).
      const cut = tf.maximum(tf.where(skip, tf.fill([batch, 1], -FLT_MAX), thr), -FLT_MAX);
      return withLogits(state, keepAtLeast(z, cut));
    },
    reference: referenceTopNSigma(value),
  });
}
