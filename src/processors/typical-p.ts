import * as tf from '@tensorflow/tfjs-core';
import { optionRows, type OptionRows } from '../plan.js';
import { builtin } from '../builtin.js';
import { isOff, validateMinTokensToKeep, validateTypicalP, type RowParam } from '../params.js';
import { referenceTypicalP } from '../reference/typical-p.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { deviceTopk } from '../device-topk.js';
import { kernelsFor } from '../backends/registry.js';
import { column, pickPerRowAt, rowMax, rowsLeftAlone, scaleByInvTemperature, withLogits } from './ops.js';

/**
 * Locally typical sampling (Hugging Face `TypicalLogitsWarper`, llama.cpp `typical`; Meister et
 * al. 2022): with q the row's probabilities and H their entropy, tokens are ranked by how close
 * their surprise −ln q is to H, and token j is kept iff the mass of the tokens strictly closer
 * than it is < p (Hugging Face's rule: the closest set reaching p, plus every token as close as
 * its last member). At least `minTokensToKeep` of the closest tokens stay. p = 1 is off.
 *
 * The kept set is a band of logits around ln Z − H, found with one sort of the row by distance
 * (webgl: the GPU chain's band search, which sorts nothing).
 *
 * @example
 * const sampler = createSampler({ typicalP: 0.9 });
 */
export function typicalP(p: RowParam, minTokensToKeep: RowParam = 1): LogitsProcessor {
  return typicalPOf(validateTypicalP(p), validateMinTokensToKeep(minTokensToKeep));
}

/** typicalP from validated values; `rows` from the sampler's plan (plan.ts), else resolved here once per batch size. */
export function typicalPOf(value: RowParam, minKeep: RowParam, rows: OptionRows = optionRows('typicalP', value, minKeep)): LogitsProcessor {
  return builtin({
    name: isOff(value, (v) => v === 1) ? '?typical-p' : 'typical-p',
    apply(state: SamplingState): SamplingState {
      const { batch, vocab } = state;
      const P = rows.value(batch);
      if (P.every((v) => v === 1)) return state;
      const M = rows.minKeep(batch);
      const z = state.logits;
      const zmax = rowMax(z);
      const skip = rowsLeftAlone(
        z,
        zmax,
        Array.from(P, (v) => v === 1),
      );
      const band = kernelsFor()?.gpuChain?.typical(z, state.invTemperature, P, M, zmax);
      if (band) {
        const lo = tf.slice(band, [0, 0], [batch, 1]);
        const up = tf.slice(band, [0, 1], [batch, 1]);
        const inBand = tf.logicalAnd(tf.isFinite(z), tf.logicalAnd(tf.greaterEqual(z, lo), tf.lessEqual(z, up)));
        return withLogits(state, tf.where(tf.logicalOr(inBand, skip), z, tf.fill([batch, vocab], -Infinity)) as tf.Tensor2D);
      }
      const x = tf.sub(z, tf.where(skip, tf.zerosLike(zmax), zmax));
      const s = scaleByInvTemperature(x, state.invTemperature);
      const ex = tf.exp(s);
      const total = tf.sum(ex, 1, true);
      const q = tf.div(ex, total);
      // The surprise's distance to the entropy, |−ln q − H| = |s − Σ q·s|, ranked in logit units:
      // |x − Σ q·x| (× 1/T), as the GPU chain's key. In nats (ln q + H, each near ln V) float32
      // lost the ranking once the distances were below ~1e-7·ln V (T = 1e8: every token tied).
      const centre = tf.sum(tf.where(tf.greater(ex, 0), tf.mul(q, x), tf.zerosLike(q)), 1, true);
      // Masked tokens are the farthest.
      const finite = tf.isFinite(z);
      const d = tf.where(finite, tf.abs(tf.sub(x, centre)), tf.fill([batch, vocab], Infinity));
      const { values, indices } = deviceTopk(tf.neg(d), vocab); // ascending distance
      const flat = tf.add(indices, tf.mul(tf.reshape(tf.range(0, batch, 1, 'int32'), [batch, 1]), tf.scalar(vocab, 'int32')));
      const qs = tf.reshape(tf.gather(tf.reshape(q, [batch * vocab]), tf.reshape(flat, [batch * vocab])), [batch, vocab]);
      // Positions whose mass strictly before them is < p: a prefix of the ranking.
      const before = tf.sub(tf.cumsum(qs, 1), qs);
      const count = tf.sum(tf.step(tf.sub(column(P), before)), 1);
      const last = tf.minimum(tf.maximum(count, tf.tensor1d(Float32Array.from(M, (m) => Math.min(m, vocab)))), vocab);
      const D = tf.reshape(tf.neg(pickPerRowAt(values as tf.Tensor2D, tf.sub(last, 1) as tf.Tensor1D)), [batch, 1]);
      const keep = tf.logicalOr(tf.logicalAnd(finite, tf.lessEqual(d, D)), skip);
      return withLogits(state, tf.where(keep, z, tf.fill([batch, vocab], -Infinity)) as tf.Tensor2D);
    },
    reference: referenceTypicalP(value, minKeep),
  });
}
