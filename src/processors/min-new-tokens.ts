import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { SamplingError } from '../errors.js';
import type { RowParam } from '../params.js';
import { rowsOf, type Rows } from '../plan.js';
import { referenceMinNewTokens } from '../reference/min-new-tokens.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { DeviceCache, column, maskWhere, withLogits } from './ops.js';
import { biasDropKernel, editKernelsAvailable } from '../backends/js-kernels.js';

/**
 * Minimum new tokens (vLLM `min_tokens`, HF `MinNewTokensLengthLogitsProcessor`): the stop tokens
 * (EOS and the other stop tokens) are masked in a row until it has generated n tokens.
 *
 * @example
 * createSampler({ minNewTokens: 16, stopTokens: [eosId] });
 */
export function minNewTokens(n: RowParam, stopTokens: readonly number[], rows: Rows = rowsOf('minNewTokens', n)): LogitsProcessor {
  const cache = new DeviceCache();
  return builtin({
    name: 'min-new-tokens',
    apply(state: SamplingState): SamplingState {
      const tokens = state.tokens;
      if (!tokens) throw new SamplingError('minNewTokens', "must run in a sampler's chain (it reads the sampler's token history)", undefined);
      const N = rows(state.batch);
      const early = Array.from(N, (v, r) => (tokens.generated[r]! < v ? 1 : 0));
      if (!early.some((e) => e === 1)) return state;
      const [stops] = cache.get(String(state.vocab), () => {
        const s = new Float32Array(state.vocab);
        for (const t of stopTokens) s[t] = 1;
        return [tf.tensor2d(s, [1, state.vocab])];
      });
      if (editKernelsAvailable()) return withLogits(state, biasDropKernel(state.logits, undefined, stops as tf.Tensor2D, early));
      return withLogits(state, maskWhere(state.logits, tf.mul(column(early), stops!)) as tf.Tensor2D);
    },
    reference: referenceMinNewTokens(n, stopTokens),
    reset: () => cache.dispose(),
  });
}
