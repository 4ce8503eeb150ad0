import { resolveRowParam, validateMinP, validateMinTokensToKeep, type RowParam } from '../params.js';
import { restoreTop, rowMax } from './math.js';
import type { ReferenceState } from './types.js';

/**
 * float64 min-p: keep q_j ≥ m · max q, i.e. z_j ≥ max z + T · ln m (inclusive).
 *
 * @example
 * // The float64 twin a custom processor built on minP(0.05) hands to reference.*:
 * const mine = { ...minP(0.05), name: 'my-min-p', reference: reference.referenceMinP(0.05) };
 */
export function referenceMinP(m: RowParam, minTokensToKeep: RowParam = 1) {
  const minP = validateMinP(m);
  const minKeep = validateMinTokensToKeep(minTokensToKeep);
  return (state: ReferenceState): ReferenceState => {
    const M = resolveRowParam('minP', minP, state.logits.length);
    const keep = resolveRowParam('minTokensToKeep', minKeep, state.logits.length);
    const logits = state.logits.map((row, r) => {
      const m = M[r]!;
      if (m === 0) return row;
      const zmax = rowMax(row);
      if (!Number.isFinite(zmax)) return row;
      const thr = zmax + Math.log(m) / state.invTemperature[r]!; // greedy: 1/Infinity = 0
      return restoreTop(
        row,
        row.map((z) => (z >= thr ? z : -Infinity)),
        keep[r]!,
      );
    });
    return { ...state, logits };
  };
}
