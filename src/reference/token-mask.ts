import type { ReferenceState } from './types.js';
import { masked } from './history-rows.js';

/** float64 twin of the per-call bitmask: token j of row r is allowed iff bit j of row r's words is set. */
export function referenceTokenMask(rows: readonly Int32Array[]) {
  return (state: ReferenceState): ReferenceState => {
    const logits = state.logits.map((row, r) => row.map((z, j) => ((rows[r]![j >> 5]! >>> (j & 31)) & 1 ? z : masked(z))));
    return { ...state, logits };
  };
}
