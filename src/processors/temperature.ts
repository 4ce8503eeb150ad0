import * as tf from '@tensorflow/tfjs-core';
import { INV_TEMPERATURE_MAX, INV_TEMPERATURE_MIN, isOff, nextInvTemperature, validateTemperature, type RowParam } from '../params.js';
import { builtin } from '../builtin.js';
import { fieldsOf, rowsOf, type Rows } from '../plan.js';
import { validateDynamicTemperature, type DynamicTemperatureOptions, type DynamicTemperatureRows } from '../chain-options.js';
import { DYNAMIC_ENTROPY_STEPS, dynamicTemperatureBounds, referenceTemperatureOfRows } from '../reference/temperature.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { FLT_MAX, column, firstArgMax, oneHotRows, rowMax, rowsLeftAlone, scaleByInvTemperature } from './ops.js';

/**
 * Temperature scaling: probabilities ∝ exp(z / T); T = 0 is greedy (the largest logit, lowest
 * index among ties). Scalar or one T per row.
 *
 * The division is deferred: the state carries 1/T per row and filters fold it into their
 * thresholds, so no float32 rounding of z / T moves a token across a filter boundary.
 *
 * With `dynamic` (llama.cpp's `temp_ext`, "dynatemp"), a row's temperature is
 * T_min + (T_max − T_min) · (H / ln N)^exponent with T_min = max(0, T − range), T_max = T + range,
 * H the entropy of the row's distribution here and N its number of finite logits (llama.cpp: of
 * its candidates), H / ln N rounded to a multiple of 1/4096 (the same T on every backend). Those rows are scaled on the device (their T depends on the logits) and carry
 * 1/T = 1 from here; a dynamic T of 0 keeps only the first maximum (greedy).
 *
 * @example
 * createSampler({ processors: [temperature(0.7)], order: [] });
 * createSampler({ temperature: 1, dynamicTemperature: { range: 0.5, exponent: 1 } });
 */
export function temperature(t: RowParam, dynamic?: DynamicTemperatureOptions | readonly (DynamicTemperatureOptions | undefined)[]): LogitsProcessor {
  return temperatureOfRows(validateTemperature(t), dynamic === undefined ? undefined : validateDynamicTemperature(dynamic));
}

/**
 * Temperature from validated values (the sampler's options); `rows` from the sampler's plan
 * (plan.ts), else resolved here once per batch size.
 */
export function temperatureOfRows(
  value: RowParam,
  dynamic: DynamicTemperatureRows | undefined,
  rows: { T: Rows; dynamic?: Record<'range' | 'exponent', Rows> | undefined } = {
    T: rowsOf('temperature', value),
    dynamic: dynamic && fieldsOf('dynamicTemperature', dynamic),
  },
): LogitsProcessor {
  const dynamicOn = dynamic !== undefined && !isOff(dynamic.range, (v) => v === 0);
  return builtin({
    name: isOff(value, (v) => v === 1) && !dynamicOn ? '?temperature' : 'temperature',
    apply(state: SamplingState): SamplingState {
      const { batch } = state;
      const T = rows.T(batch);
      const plain = state.invTemperature.map((v, r) => nextInvTemperature(v, T[r]!));
      if (!dynamicOn) return { ...state, invTemperature: plain };
      const R = rows.dynamic!.range(batch);
      const E = rows.dynamic!.exponent(batch);
      // Rows already greedy stay greedy; the others with a range are scaled here.
      const dyn = Array.from(R, (range, r) => range > 0 && Number.isFinite(state.invTemperature[r]!));
      if (!dyn.some(Boolean)) return { ...state, invTemperature: plain };
      const z = state.logits;
      const zmax = rowMax(z);
      const skip = rowsLeftAlone(
        z,
        zmax,
        dyn.map((d) => !d),
      );
      const s = scaleByInvTemperature(tf.sub(z, tf.where(skip, tf.zerosLike(zmax), zmax)), state.invTemperature);
      const ex = tf.exp(s);
      const total = tf.sum(ex, 1, true);
      const q = tf.div(ex, total);
      const H = tf.neg(tf.sum(tf.where(tf.greater(ex, 0), tf.mul(q, tf.sub(s, tf.log(total))), tf.zerosLike(q)), 1, true));
      const n = tf.sum(tf.cast(tf.isFinite(z), 'float32'), 1, true);
      const normalized = quantizedEntropyOf(tf.div(H, tf.log(tf.maximum(n, 2))));
      // x^e as exp(e · ln x), with 0^e = 0 (e > 0) and 0^0 = 1 as in C's powf.
      const e = column(E);
      const pow = tf.where(tf.greater(normalized, 0), tf.exp(tf.mul(e, tf.log(normalized))), tf.cast(tf.equal(e, 0), 'float32'));
      const [lo, width] = dynamicColumns(T, R);
      // Rows with one finite logit or fewer keep their plain T (llama.cpp leaves them as they are).
      const Tdyn = tf.where(tf.greater(n, 1), tf.add(lo, tf.mul(width, pow)), column(T));
      const inv = tf.minimum(tf.maximum(tf.div(1, Tdyn), INV_TEMPERATURE_MIN), INV_TEMPERATURE_MAX);
      const scaled = tf.where(tf.isFinite(z), tf.maximum(tf.mul(s, inv), -FLT_MAX), z);
      const greedy = tf.where(tf.cast(oneHotRows(firstArgMax(z), state.vocab), 'bool'), z, tf.fill(z.shape, -Infinity));
      const rowsOn = tf.logicalAnd(tf.cast(column(dyn.map(Number)), 'bool'), tf.logicalNot(skip));
      const out = tf.where(rowsOn, tf.where(tf.equal(Tdyn, 0), greedy, scaled), z) as tf.Tensor2D;
      const invTemperature = plain.map((v, r) => (dyn[r] ? 1 : v));
      return { ...state, logits: out, invTemperature };
    },
    reference: referenceTemperatureOfRows(value, dynamic),
  });
}

/** The normalized entropy on the reference's grid (quantizedEntropy): floor(max(0, x)·4096 + 0.5) / 4096, float32. */
export function quantizedEntropyOf(x: tf.Tensor): tf.Tensor {
  return tf.div(tf.floor(tf.add(tf.mul(tf.relu(x), DYNAMIC_ENTROPY_STEPS), 0.5)), DYNAMIC_ENTROPY_STEPS);
}

/**
 * T_min and T_max − T_min per row as `[B, 1]` float32 columns, from the reference's bounds
 * (saturated at 2^101, so finite in float32 for every T and range).
 */
export function dynamicColumns(T: ArrayLike<number>, range: ArrayLike<number>): [tf.Tensor2D, tf.Tensor2D] {
  const lo = new Float32Array(T.length);
  const width = new Float32Array(T.length);
  for (let r = 0; r < T.length; r++) {
    const [a, b] = dynamicTemperatureBounds(T[r]!, range[r]!);
    lo[r] = a;
    width[r] = b - a;
  }
  return [tf.tensor2d(lo, [T.length, 1]), tf.tensor2d(width, [T.length, 1])];
}
