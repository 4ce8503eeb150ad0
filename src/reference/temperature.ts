import { nextInvTemperature, resolveRowParam, validateTemperature, type RowParam } from '../params.js';
import type { ReferenceState } from './types.js';

/** float64 temperature: divides the pending 1/T by T (T = 0 marks the row greedy). */
export function referenceTemperature(t: RowParam) {
  const temperature = validateTemperature(t);
  return (state: ReferenceState): ReferenceState => {
    const T = resolveRowParam('temperature', temperature, state.logits.length);
    const inv = state.invTemperature.map((v, r) => nextInvTemperature(v, T[r]!));
    return { ...state, invTemperature: inv };
  };
}
