import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { rowOf, type HistorySpec } from '../history-options.js';
import { referenceLogitBias } from '../reference/logit-bias.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { DeviceCache, FLT_MAX, freshLogits, maskWhere, withLogits } from './ops.js';
import { biasDropKernel, biasEntriesKernel, editKernelsAvailable } from '../backends/js-kernels.js';

/**
 * Logit bias (OpenAI / vLLM `logit_bias`, llama.cpp `logit-bias`): adds each entry's bias to its
 * token's logit; `-Infinity` bans the token. One map for every row or one per row. The dense
 * `[B, V]` bias is uploaded once per batch size and kept on the device; results above FLT_MAX
 * saturate.
 *
 * @example
 * createSampler({ logitBias: { 50256: -Infinity, 13: 2.5 } });
 */
export function logitBias(bias: NonNullable<HistorySpec['logitBias']>, cache = new DeviceCache()): LogitsProcessor {
  return builtin({
    name: 'logit-bias',
    apply(state: SamplingState): SamplingState {
      const { batch: B, vocab: V } = state;
      // webgl: the penalties just before it in the chain already added it, in their pass.
      if (biasApplied.delete(state.logits)) return state;
      if (editKernelsAvailable() && tf.getBackend() === 'webgpu') {
        // The entries alone (a few per row), in place when the logits are a fresh built-in output.
        const [tokens, values] = cache.get(`${B}:entries`, () => {
          const rows = Array.from({ length: B }, (_, r) => [...rowOf(bias, r)]);
          const E = Math.max(1, ...rows.map((e) => e.length));
          const t = new Int32Array(B * E).fill(-1);
          const v = new Float32Array(B * E);
          rows.forEach((e, r) =>
            e.forEach(([tok, b], k) => {
              t[r * E + k] = tok;
              v[r * E + k] = b;
            }),
          );
          return [tf.tensor2d(t, [B, E], 'int32'), tf.tensor2d(v, [B, E])];
        });
        const out = biasEntriesKernel(state.logits, tokens as tf.Tensor2D, values as tf.Tensor2D, freshLogits.has(state.logits));
        freshLogits.add(out);
        return withLogits(state, out);
      }
      if (editKernelsAvailable()) {
        return withLogits(state, biasDropKernel(state.logits, denseBiasWithBans(bias, cache, B, V), undefined, undefined, true));
      }
      const [add, ban] = cache.get(`${B}x${V}`, () => {
        const a = new Float32Array(B * V).fill(-0); // x + (-0) is x for every x, -0 included
        const b = new Float32Array(B * V);
        for (let r = 0; r < B; r++) {
          for (const [t, v] of rowOf(bias, r)) {
            if (v === -Infinity) b[r * V + t] = 1;
            else a[r * V + t] = v;
          }
        }
        return [tf.tensor2d(a, [B, V]), tf.tensor2d(b, [B, V])];
      });
      const z = tf.minimum(tf.add(state.logits, add!), FLT_MAX);
      return withLogits(state, maskWhere(z, ban!) as tf.Tensor2D);
    },
    reference: referenceLogitBias(bias),
    reset: () => cache.dispose(),
  });
}

/** Logits a built-in edit returned with the logit bias already added (webgl: penalties + bias in one pass). */
export const biasApplied = new WeakSet<tf.Tensor>();

/**
 * The bias as one dense float32 `[B, V]` tensor, bans as -Infinity biases (one read less per
 * step in a kernel), kept in `cache` per batch size.
 */
export function denseBiasWithBans(bias: NonNullable<HistorySpec['logitBias']>, cache: DeviceCache, B: number, V: number): tf.Tensor2D {
  const [addBan] = cache.get(`${B}x${V}:k`, () => {
    const a = new Float32Array(B * V).fill(-0); // x + (-0) is x for every x, -0 included
    for (let r = 0; r < B; r++) for (const [t, v] of rowOf(bias, r)) a[r * V + t] = v;
    return [tf.tensor2d(a, [B, V])];
  });
  return addBan as tf.Tensor2D;
}
