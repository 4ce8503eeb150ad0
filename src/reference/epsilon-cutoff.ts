import { resolveRowParam, validateEpsilonCutoff, validateMinTokensToKeep, type RowParam } from '../params.js';
import { accurateSum, restoreTop, rowMax, usableInv } from './math.js';
import type { ReferenceState } from './types.js';

/**
 * float64 ε-cutoff: keep q_j ≥ ε, and the row's maxima.
 *
 * @example
 * // The float64 twin a custom processor built on epsilonCutoff(3e-4) hands to reference.*:
 * const mine = { ...epsilonCutoff(3e-4), name: 'my-epsilon-cutoff', reference: reference.referenceEpsilonCutoff(3e-4) };
 */
export function referenceEpsilonCutoff(e: RowParam, minTokensToKeep: RowParam = 1) {
  const value = validateEpsilonCutoff(e);
  const minKeep = validateMinTokensToKeep(minTokensToKeep);
  return (state: ReferenceState): ReferenceState =>
    cut(state, resolveRowParam('epsilonCutoff', value, state.logits.length), false, resolveRowParam('minTokensToKeep', minKeep, state.logits.length));
}

/** float64 ε- or η-cutoff of each row (shared with the η twin). */
export function cut(state: ReferenceState, E: Float64Array, eta: boolean, M: Float64Array): ReferenceState {
  const logits = state.logits.map((row, r) => {
    const e = E[r]!;
    if (e === 0) return row;
    const zmax = rowMax(row);
    if (!Number.isFinite(zmax)) return row; // invalid row: left for the invalid-row rule
    const inv = usableInv(state.invTemperature[r]!);
    const s = Array.from(row, (z) => (z - zmax) * inv);
    const ex = s.map(Math.exp);
    const total = accurateSum(ex);
    const q = ex.map((x) => x / total);
    let c = e;
    if (eta) {
      const H = -accurateSum(q.map((p, j) => (ex[j]! > 0 ? p * (s[j]! - Math.log(total)) : 0)));
      c = Math.min(e, Math.sqrt(e) * Math.exp(-H));
    }
    return restoreTop(
      row,
      row.map((z, j) => (q[j]! >= c || z >= zmax ? z : -Infinity)),
      M[r]!,
    );
  });
  return { ...state, logits };
}
