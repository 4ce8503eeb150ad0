import { historyOf, masked } from './history-rows.js';
import type { ReferenceState } from './types.js';

/**
 * float64 twin of `badWords` (HF NoBadWordsLogitsProcessor): a sequence's last token is masked
 * when the history ends with the rest of it; one-token sequences are always masked.
 */
export function referenceBadWords(sequences: readonly (readonly number[])[]) {
  return (state: ReferenceState): ReferenceState => {
    const logits = state.logits.map((row, r) => {
      const h = historyOf(state, r, 'badWords');
      const out = Float64Array.from(row);
      for (const s of sequences) {
        const m = s.length - 1;
        if (m > h.length) continue;
        let match = true;
        for (let j = 0; j < m && match; j++) match = h[h.length - m + j] === s[j];
        if (match) out[s[m]!] = masked(out[s[m]!]!);
      }
      return out;
    });
    return { ...state, logits };
  };
}
