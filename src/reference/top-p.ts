import { resolveRowParam, validateMinTokensToKeep, validateTopP, type RowParam } from '../params.js';
import { accurateSum, restoreTop, rowMax, usableInv } from './math.js';
import type { ReferenceState } from './types.js';

/**
 * float64 top-p: with q the row's probabilities, keep token j iff Σ{ q_i : q_i > q_j } < p.
 * Sums are compensated, so this is the exact rule up to float64 rounding.
 *
 * @example
 * // The float64 twin a custom processor built on topP(0.9) hands to reference.*:
 * const mine = { ...topP(0.9), name: 'my-top-p', reference: reference.referenceTopP(0.9) };
 */
export function referenceTopP(p: RowParam, minTokensToKeep: RowParam = 1) {
  const topP = validateTopP(p);
  const minKeep = validateMinTokensToKeep(minTokensToKeep);
  return (state: ReferenceState): ReferenceState => {
    const P = resolveRowParam('topP', topP, state.logits.length);
    const M = resolveRowParam('minTokensToKeep', minKeep, state.logits.length);
    const logits = state.logits.map((row, r) => {
      const p = P[r]!;
      if (p >= 1) return row;
      const zmax = rowMax(row);
      if (!Number.isFinite(zmax)) return row; // invalid row: left for the invalid-row rule
      const inv = usableInv(state.invTemperature[r]!);
      const sorted = Float64Array.from(row).sort((a, b) => b - a);
      const q = sorted.map((z) => Math.exp((z - zmax) * inv));
      const total = accurateSum(q);
      // Walk groups of equal logits; keep a group iff the mass strictly above it is < p·total.
      let before = 0;
      let comp = 0;
      let threshold = sorted[0]!;
      for (let i = 0; i < sorted.length; ) {
        let j = i;
        while (j < sorted.length && sorted[j] === sorted[i]) j++;
        if (before + comp >= p * total) break;
        threshold = sorted[i]!;
        for (let l = i; l < j; l++) {
          const t = before + q[l]!;
          comp += Math.abs(before) >= q[l]! ? before - t + q[l]! : q[l]! - t + before;
          before = t;
        }
        i = j;
      }
      return restoreTop(
        row,
        row.map((z) => (z >= threshold ? z : -Infinity)),
        M[r]!,
      );
    });
    return { ...state, logits };
  };
}
