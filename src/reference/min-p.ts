import { resolveRowParam, validateMinP, type RowParam } from '../params.js';
import { rowMax } from './math.js';
import type { ReferenceState } from './types.js';

/** float64 min-p: keep q_j ≥ m · max q, i.e. z_j ≥ max z + T · ln m (inclusive). */
export function referenceMinP(m: RowParam) {
  const minP = validateMinP(m);
  return (state: ReferenceState): ReferenceState => {
    const M = resolveRowParam('minP', minP, state.logits.length);
    const logits = state.logits.map((row, r) => {
      const m = M[r]!;
      if (m === 0) return row;
      const zmax = rowMax(row);
      if (!Number.isFinite(zmax)) return row;
      const thr = zmax + Math.log(m) / state.invTemperature[r]!; // greedy: 1/Infinity = 0
      return row.map((z) => (z >= thr ? z : -Infinity));
    });
    return { ...state, logits };
  };
}
