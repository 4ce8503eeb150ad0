import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { rowOf, type HistorySpec } from '../history-options.js';
import { referenceAllowedTokens } from '../reference/allowed-tokens.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { DeviceCache, maskWhere, withLogits } from './ops.js';
import { biasDropKernel, editKernelsAvailable } from '../backends/js-kernels.js';

/**
 * Allowed tokens (vLLM `allowed_token_ids`): every token outside the row's list is masked. One
 * list for every row or one per row; the mask is uploaded once per batch size.
 *
 * @example
 * createSampler({ allowedTokens: [[5, 6, 7], [8, 9]] });
 */
export function allowedTokens(allowed: NonNullable<HistorySpec['allowedTokens']>): LogitsProcessor {
  const cache = new DeviceCache();
  return builtin({
    name: 'allowed-tokens',
    apply(state: SamplingState): SamplingState {
      const { batch: B, vocab: V } = state;
      const [drop] = cache.get(`${B}x${V}`, () => {
        const d = new Float32Array(B * V).fill(1);
        for (let r = 0; r < B; r++) for (const t of rowOf(allowed, r)) d[r * V + t] = 0;
        return [tf.tensor2d(d, [B, V])];
      });
      if (editKernelsAvailable()) return withLogits(state, biasDropKernel(state.logits, undefined, drop as tf.Tensor2D));
      return withLogits(state, maskWhere(state.logits, drop!) as tf.Tensor2D);
    },
    reference: referenceAllowedTokens(allowed),
    reset: () => cache.dispose(),
  });
}
