import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { SamplingError } from '../errors.js';
import type { HistorySpec } from '../history-options.js';
import { historyRows } from '../plan.js';
import { referencePenalties } from '../reference/penalties.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { type DeviceCache, FLT_MAX, column, freshLogits, withLogits } from './ops.js';
import { biasApplied, denseBiasWithBans } from './logit-bias.js';
import { nextInChain } from '../chain.js';
import { editKernelsAvailable, penaltiesKernel } from '../backends/js-kernels.js';
import { historyNeeds } from '../history-chain.js';

/**
 * Repetition, frequency and presence penalties (llama.cpp `penalties`; HF, vLLM, OpenAI rules):
 * a token seen in the row's window has its logit divided by θ if positive, multiplied by θ
 * otherwise (θ = `repetitionPenalty`, applied once whatever the count), then
 * `frequencyPenalty · count + presencePenalty · [count > 0]` is subtracted. The window is the
 * last `penaltyLastN` tokens of the history; `penalizePrompt` says per penalty whether prompt
 * tokens count. Reads the counts the sampler keeps on the device (`state.tokens`): no history
 * upload, no O(B·T·V) work. Results above FLT_MAX saturate; divisions are multiplications by
 * fl(1/θ) (exact on every backend, so the float64 twin can agree exactly).
 *
 * @example
 * createSampler({ repetitionPenalty: 1.1, frequencyPenalty: 0.5, presencePenalty: 0.5, penaltyLastN: 64 });
 */
export function penalties(spec: HistorySpec, bias?: { processor: LogitsProcessor; cache: DeviceCache }): LogitsProcessor {
  const needs = historyNeeds(spec)!;
  const rows = historyRows(spec);
  const p = builtin({
    name: 'penalties',
    apply(state: SamplingState): SamplingState {
      const tokens = state.tokens;
      if (!tokens) throw new SamplingError('penalties', "must run in a sampler's chain (it reads the sampler's token history)", undefined);
      const B = state.batch;
      const theta = rows.repetitionPenalty(B);
      const F = rows.frequencyPenalty(B);
      const P = rows.presencePenalty(B);
      const seen = (c: tf.Tensor): tf.Tensor => tf.step(tf.sub(c, 0.5));
      const pp = spec.penalizePrompt;
      // webgl keeps no [B, V] counts: the kernel reads them from the window directory.
      const window = editKernelsAvailable() ? tokens.directory?.() : undefined;
      // Each penalty reads its own scope's counts; a scope whose penalties are all off is not
      // kept (history-chain.ts), so an off penalty reads the scope that is.
      const counts = (): { rep: tf.Tensor2D; freq: tf.Tensor2D; pres: tf.Tensor2D } => {
        const any = tokens.counts(needs.countsAll ? 'all' : 'generated');
        const of = (all: boolean): tf.Tensor2D => ((all ? needs.countsAll : needs.countsGenerated) ? tokens.counts(all ? 'all' : 'generated') : any);
        return { rep: of(pp.repetition), freq: of(pp.frequency), pres: of(pp.presence) };
      };
      if (editKernelsAvailable()) {
        // One pass (plain JS on the CPU backends, one shader on webgl / webgpu; the same float32 arithmetic).
        // webgl, where every edit is a dense pass: with the logit bias next in this chain, it is
        // added in the same pass (the bias then skips these logits).
        const withBias = bias && spec.logitBias && tf.getBackend() === 'webgl' && nextInChain() === bias.processor;
        const dense = withBias ? denseBiasWithBans(spec.logitBias!, bias.cache, B, state.vocab) : undefined;
        const source = window ? { window, all: [pp.repetition, pp.frequency, pp.presence] as [boolean, boolean, boolean] } : counts();
        const out = penaltiesKernel(state.logits, source, theta, F, P, tokens.seen?.(), dense);
        if (tf.getBackend() === 'webgpu') freshLogits.add(out); // a new buffer, saturated at FLT_MAX
        if (dense) biasApplied.add(out);
        return withLogits(state, out);
      }
      const c = counts();
      let z: tf.Tensor = state.logits;
      if (theta.some((t) => t !== 1)) {
        const s = seen(c.rep);
        const pos = tf.step(z); // z > 0
        // Exact selects (products with 0 / 1, sums with an exact 0): factor ∈ {1, fl(1/θ), fl(θ)}.
        const f = tf.add(tf.mul(pos, column(theta.map((t) => 1 / t))), tf.mul(tf.sub(1, pos), column(theta)));
        z = tf.mul(z, tf.add(tf.mul(s, f), tf.sub(1, s)));
      }
      if (F.some((v) => v !== 0) || P.some((v) => v !== 0)) {
        // + 0: with F, P < 0 an unseen token's amount is (-0) + (-0) = -0, and z - (-0) would turn a
        // -0 logit into +0, where the reference (and the kernels) subtract +0.
        const amount = tf.add(tf.add(tf.mul(c.freq, column(F)), tf.mul(seen(c.pres), column(P))), 0);
        z = tf.sub(z, amount);
      }
      return withLogits(state, tf.minimum(z, FLT_MAX) as tf.Tensor2D);
    },
    reference: referencePenalties(spec),
  });
  return p;
}
