import { rowOf, type HistorySpec } from '../history-options.js';
import { masked } from './history-rows.js';
import type { ReferenceState } from './types.js';

/** float64 twin of `allowedTokens`: every token outside the row's list is masked. */
export function referenceAllowedTokens(allowed: NonNullable<HistorySpec['allowedTokens']>) {
  return (state: ReferenceState): ReferenceState => {
    const logits = state.logits.map((row, r) => {
      const ok = new Set(rowOf(allowed, r));
      return row.map((z, j) => (ok.has(j) ? z : masked(z)));
    });
    return { ...state, logits };
  };
}
