import { resolveRowParam, validateTopK, type RowParam } from '../params.js';
import type { ReferenceState } from './types.js';

/** float64 top-k: keep every logit ≥ the row's k-th largest (boundary ties kept). */
export function referenceTopK(k: RowParam) {
  const topK = validateTopK(k);
  return (state: ReferenceState): ReferenceState => {
    const K = resolveRowParam('topK', topK, state.logits.length);
    const logits = state.logits.map((row, r) => {
      const k = K[r]!;
      if (k === 0 || k >= row.length) return row;
      const kth = Float64Array.from(row).sort((a, b) => b - a)[k - 1]!;
      return row.map((z) => (z >= kth ? z : -Infinity));
    });
    return { ...state, logits };
  };
}
