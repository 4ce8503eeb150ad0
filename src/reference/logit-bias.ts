import { rowOf, type HistorySpec } from '../history-options.js';
import { masked, saturate } from './history-rows.js';
import type { ReferenceState } from './types.js';

/** float64 twin of `logitBias`: z + fl(bias) rounded like float32, saturating; -Infinity bans. */
export function referenceLogitBias(bias: NonNullable<HistorySpec['logitBias']>) {
  return (state: ReferenceState): ReferenceState => {
    const logits = state.logits.map((row, r) => {
      const out = row.map(saturate); // the tensor code saturates the whole row
      for (const [t, b] of rowOf(bias, r)) {
        out[t] = b === -Infinity ? masked(saturate(out[t]!)) : saturate(Math.fround(out[t]! + Math.fround(b)));
      }
      return out;
    });
    return { ...state, logits };
  };
}
