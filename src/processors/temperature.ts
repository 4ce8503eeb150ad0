import { isOff, nextInvTemperature, resolveRowParam, validateTemperature, type RowParam } from '../params.js';
import { builtin } from '../builtin.js';
import { referenceTemperature } from '../reference/temperature.js';
import type { LogitsProcessor, SamplingState } from '../types.js';

/**
 * Temperature scaling: probabilities ∝ exp(z / T); T = 0 is greedy (the largest logit, lowest
 * index among ties). Scalar or one T per row.
 *
 * The division is deferred: the state carries 1/T per row and filters fold it into their
 * thresholds, so no float32 rounding of z / T moves a token across a filter boundary.
 *
 * @example
 * createSampler({ processors: [temperature(0.7)], order: [] });
 */
export function temperature(t: RowParam): LogitsProcessor {
  const value = validateTemperature(t);
  return builtin({
    name: isOff(value, (v) => v === 1) ? '?temperature' : 'temperature',
    apply(state: SamplingState): SamplingState {
      const T = resolveRowParam('temperature', value, state.batch);
      const inv = state.invTemperature.map((v, r) => nextInvTemperature(v, T[r]!));
      return { ...state, invTemperature: inv };
    },
    reference: referenceTemperature(value),
  });
}
