import { resolveRowParam, type RowParam } from '../params.js';
import { historyOf, masked, promptLengthOf } from './history-rows.js';
import type { ReferenceState } from './types.js';

/** float64 twin of `minNewTokens`: the stop tokens are masked while fewer than n tokens were generated. */
export function referenceMinNewTokens(n: RowParam, stopTokens: readonly number[]) {
  return (state: ReferenceState): ReferenceState => {
    const N = resolveRowParam('minNewTokens', n, state.logits.length);
    const logits = state.logits.map((row, r) => {
      const generated = historyOf(state, r, 'minNewTokens').length - promptLengthOf(state, r);
      if (generated >= N[r]!) return row;
      const out = Float64Array.from(row);
      for (const t of stopTokens) out[t] = masked(out[t]!);
      return out;
    });
    return { ...state, logits };
  };
}
