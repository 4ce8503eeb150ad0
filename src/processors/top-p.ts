import * as tf from '@tensorflow/tfjs-core';
import { optionRows, type OptionRows } from '../plan.js';
import { builtin, hintsOf } from '../builtin.js';
import { effectiveTopP, isOff, splitF32, validateMinTokensToKeep, validateTopP, type RowParam } from '../params.js';
import { referenceTopP } from '../reference/top-p.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import {
  FLT_MAX,
  column,
  scaleByInvTemperature,
  keepAtLeast,
  pickPerRowAt,
  restoreTop,
  safeThreshold,
  shiftRight,
  sortedPrefixSum,
  twoProd,
  twoSum,
  withLogits,
} from './ops.js';
import { deviceTopk } from '../device-topk.js';
import { kernelsFor } from '../backends/registry.js';

/**
 * Top-p (nucleus): with q the row's probabilities, keeps token j iff Σ{ q_i : q_i > q_j } < p —
 * the smallest most-probable set reaching mass p, plus every token tied with its last member.
 * p = 1 switches a row off.
 *
 * Sorts only the candidates left by an earlier top-k (a full sort otherwise). Prefix sums and
 * p · total are carried as float32 pairs (error-free transformations), so the boundary matches
 * the float64 reference even on flat rows of V = 128256, where plain float32 sums drift by
 * more than a token's mass.
 *
 * @example
 * const sampler = createSampler({ temperature: 0.8, topP: [0.9, 0.95] });
 */
export function topP(p: RowParam, minTokensToKeep: RowParam = 1): LogitsProcessor {
  return topPOf(validateTopP(p), validateMinTokensToKeep(minTokensToKeep));
}

/** topP from validated values; `rows` from the sampler's plan (plan.ts), else resolved here once per batch size. */
export function topPOf(value: RowParam, minKeep: RowParam, rows: OptionRows = optionRows('topP', value, minKeep)): LogitsProcessor {
  return builtin({
    name: isOff(value, (v) => v === 1) ? '?top-p' : 'top-p',
    apply(state: SamplingState): SamplingState {
      const { batch, vocab } = state;
      const P = rows.value(batch).map(effectiveTopP);
      const active = P.map((v) => (v < 1 ? 1 : 0));
      if (!active.some((a) => a === 1)) return state;
      const hints = hintsOf(state);
      const K = Math.min(hints.candidates, vocab);
      const left = hints.sorted && hints.sorted.shape[1] === K ? hints.sorted : undefined;
      // webgl without top-k's sorted candidates: the key search over the row (the registry's GPU chain).
      const fast = left ? undefined : kernelsFor()?.gpuChain?.topP(state.logits, state.invTemperature, P);
      let thr: tf.Tensor1D;
      if (fast) thr = fast;
      else {
        // [B, K], descending: left by top-k, else sorted here (a full sort without top-k).
        const zs = left ?? deviceTopk(state.logits, K).values;
        // Finite logits beyond the K sorted ones (ties of the K-th, only after top-k).
        const finite = K < vocab ? tf.sum(tf.step(tf.add(state.logits, FLT_MAX)), 1, true) : undefined;
        thr = topPThreshold(zs, finite, state.invTemperature, P);
      }
      const M = rows.minKeep(batch);
      return withLogits(state, restoreTop(state.logits, keepAtLeast(state.logits, tf.reshape(thr, [batch, 1])), M));
    },
    reference: referenceTopP(value, minKeep),
  });
}

/**
 * The top-p threshold per row (`[B]`; -FLT_MAX where p = 1 or nothing is finite): keep z ≥ it.
 * `zs` holds each row's K largest logits in descending order; `finite` (`[B, 1]`, when K < V)
 * the row's number of finite logits, so that ties of the K-th beyond the sort join the total.
 * Shared by the processor and the fused GPU chain.
 */
export function topPThreshold(
  zs: tf.Tensor2D,
  finite: tf.Tensor | undefined,
  invTemperature: Float64Array,
  P: Float64Array,
  band?: { lo: tf.Tensor; up: tf.Tensor; top: tf.Tensor },
): tf.Tensor1D {
  const [batch, K] = zs.shape;
  const active = P.map((v) => (v < 1 ? 1 : 0));
  // With a band ([B, 1] each: typical-p first), the sorted values outside [lo, up] weigh nothing
  // and the masses are relative to the band's maximum `top`.
  const zmax = band ? band.top : tf.slice(zs, [0, 0], [batch, 1]);
  let s = tf.exp(scaleByInvTemperature(tf.sub(zs, zmax), invTemperature)) as tf.Tensor2D; // unnormalised q, sorted
  if (band) s = tf.where(tf.logicalOr(tf.greater(zs, band.up), tf.less(zs, band.lo)), tf.zerosLike(s), s) as tf.Tensor2D;
  const [cHi, cLo] = sortedPrefixSum(s);
  // Total mass: the K sorted values plus finite ties beyond them (only after top-k).
  let tHi: tf.Tensor = tf.slice(cHi, [0, K - 1], [batch, 1]);
  let tLo: tf.Tensor = tf.slice(cLo, [0, K - 1], [batch, 1]);
  if (finite) {
    const extra = tf.relu(tf.sub(finite, K));
    const [sum, e] = twoSum(tHi, tf.mul(extra, tf.slice(s, [0, K - 1], [batch, 1])));
    tHi = sum;
    tLo = tf.add(tLo, e);
  }
  // target = p · total as a pair: p = ph + pl (split on the host), ph · tHi error-free.
  const ph = new Float32Array(batch);
  const pl = new Float32Array(batch);
  for (let r = 0; r < batch; r++) [ph[r], pl[r]] = splitF32(P[r]!);
  const phT = column(ph);
  const [prod, perr] = twoProd(phT, tHi);
  const tgtLo = tf.add(perr, tf.add(tf.mul(phT, tLo), tf.mul(column(pl), tHi)));
  // Exclusive prefix E_i (mass strictly before sorted position i) < target, as a pair.
  const below = tf.add(tf.sub(shiftRight(cHi), prod), tf.sub(shiftRight(cLo), tgtLo));
  const count = tf.sum(tf.step(tf.neg(below)), 1); // positions kept, a prefix of the sort
  const last = tf.minimum(tf.maximum(tf.sub(count, 1), 0), K - 1) as tf.Tensor1D;
  const tau = pickPerRowAt(zs, last);
  return tf.where(tf.tensor1d(Array.from(active), 'bool'), safeThreshold(tau), tf.fill([batch], -FLT_MAX)) as tf.Tensor1D;
}
