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
      const zf = tf.where(finite, z, tf.zerosLike(z));
      // Overflow-free in float32 for every finite logit: the mean as a sum of z / count, the
      // deviations halved and scaled by their largest magnitude before squaring.
      const mean = tf.sum(tf.div(zf, per), 1, true);
      const half = tf.where(finite, tf.sub(tf.mul(zf, 0.5), tf.mul(mean, 0.5)), tf.zerosLike(z));
      const scale = tf.max(tf.abs(half), 1, true); // identity-safe: values ≥ 0, webgl's -1e20 start is below them
      const unit = tf.div(half, tf.maximum(scale, 1e-30)); // a row of equal logits: 0 / 1e-30, not 0 / 0
      const sigma = tf.mul(tf.mul(tf.sqrt(tf.div(tf.sum(tf.square(unit), 1, true), per)), scale), 2);
      const zmax = rowMax(z);
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
