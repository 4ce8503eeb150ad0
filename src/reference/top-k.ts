import { resolveRowParam, validateMinTokensToKeep, validateTopK, type RowParam } from '../params.js';
import type { ReferenceState } from './types.js';

/**
 * float64 top-k: keep every logit ≥ the row's k-th largest (boundary ties kept); k ≥ minTokensToKeep.
 *
 * @example
 * // The float64 twin a custom processor built on topK(40) hands to reference.*:
 * const mine = { ...topK(40), name: 'my-top-k', reference: reference.referenceTopK(40) };
 */
export function referenceTopK(k: RowParam, minTokensToKeep: RowParam = 1) {
  const topK = validateTopK(k);
  const minKeep = validateMinTokensToKeep(minTokensToKeep);
  return (state: ReferenceState): ReferenceState => {
    const M = resolveRowParam('minTokensToKeep', minKeep, state.logits.length);
    const K = resolveRowParam('topK', topK, state.logits.length).map((k, r) => (k > 0 ? Math.max(k, M[r]!) : 0));
    const logits = state.logits.map((row, r) => {
      const k = K[r]!;
      if (k === 0 || k >= row.length) return row;
      const kth = Float64Array.from(row).sort((a, b) => b - a)[k - 1]!;
      return row.map((z) => (z >= kth ? z : -Infinity));
    });
    return { ...state, logits };
  };
}
