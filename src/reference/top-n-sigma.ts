import { resolveRowParam, validateTopNSigma, type RowParam } from '../params.js';
import { accurateSum, rowMax } from './math.js';
import type { ReferenceState } from './types.js';

/**
 * float64 top-nσ: keep z_j ≥ max z − n·σ, σ the population standard deviation of the row's finite
 * logits (compensated sums). Rows with NaN or +Infinity, or no finite logit, stay as they are.
 *
 * @example
 * // The float64 twin a custom processor built on topNSigma(1) hands to reference.*:
 * const mine = { ...topNSigma(1), name: 'my-top-n-sigma', reference: reference.referenceTopNSigma(1) };
 */
export function referenceTopNSigma(n: RowParam) {
  const value = validateTopNSigma(n);
  return (state: ReferenceState): ReferenceState => {
    const N = resolveRowParam('topNSigma', value, state.logits.length);
    const logits = state.logits.map((row, r) => {
      const n = N[r]!;
      if (n === 0) return row;
      const zmax = rowMax(row);
      if (!Number.isFinite(zmax)) return row;
      const finite = Array.from(row).filter((z) => Number.isFinite(z));
      const mean = accurateSum(finite) / finite.length;
      const sigma = Math.sqrt(accurateSum(finite.map((z) => (z - mean) ** 2)) / finite.length);
      const thr = zmax - n * sigma;
      return row.map((z) => (z >= thr ? z : -Infinity));
    });
    return { ...state, logits };
  };
}
