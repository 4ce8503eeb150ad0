import { resolveRowParam, type RowParam } from '../params.js';
import { historyOf, masked } from './history-rows.js';
import type { ReferenceState } from './types.js';

/**
 * float64 twin of `noRepeatNgram` (HF NoRepeatNGramLogitsProcessor): with n-grams over the row's
 * whole history, every token that would complete an n-gram already seen is masked. A negative id
 * (an invalid row's code) is no token: an n-gram holding one matches nothing.
 */
export function referenceNoRepeatNgram(size: RowParam) {
  return (state: ReferenceState): ReferenceState => {
    const N = resolveRowParam('noRepeatNgramSize', size, state.logits.length);
    const logits = state.logits.map((row, r) => {
      const n = N[r]!;
      if (n === 0) return row;
      const h = historyOf(state, r, 'noRepeatNgramSize');
      if (h.length < n) return row;
      const out = Float64Array.from(row);
      const suffix = h.slice(h.length - (n - 1));
      if (suffix.some((t) => t < 0)) return row;
      for (let i = 0; i + n <= h.length; i++) {
        let match = h[i + n - 1]! >= 0;
        for (let j = 0; j < n - 1 && match; j++) match = h[i + j] === suffix[j];
        if (match) out[h[i + n - 1]!] = masked(out[h[i + n - 1]!]!);
      }
      return out;
    });
    return { ...state, logits };
  };
}
