import { resolveRowParam, validateMinTokensToKeep, validateTypicalP, type RowParam } from '../params.js';
import { accurateSum, rowMax, usableInv } from './math.js';
import type { ReferenceState } from './types.js';

/**
 * float64 locally typical sampling: rank tokens by |−ln q − H|; keep token j iff the mass of the
 * tokens strictly closer than it is < p, or fewer than `minTokensToKeep` tokens are closer
 * (distances from the float32 difference z − max z, as on tensors).
 * Rows with NaN or +Infinity, or no finite logit, stay as they are.
 *
 * @example
 * // The float64 twin a custom processor built on typicalP(0.95) hands to reference.*:
 * const mine = { ...typicalP(0.95), name: 'my-typical-p', reference: reference.referenceTypicalP(0.95) };
 */
export function referenceTypicalP(p: RowParam, minTokensToKeep: RowParam = 1) {
  const value = validateTypicalP(p);
  const minKeep = validateMinTokensToKeep(minTokensToKeep);
  return (state: ReferenceState): ReferenceState => {
    const P = resolveRowParam('typicalP', value, state.logits.length);
    const M = resolveRowParam('minTokensToKeep', minKeep, state.logits.length);
    const logits = state.logits.map((row, r) => {
      const p = P[r]!;
      if (p === 1) return row;
      const zmax = rowMax(row);
      if (!Number.isFinite(zmax)) return row;
      const inv = usableInv(state.invTemperature[r]!);
      // z − max z rounded to float32 as on tensors: logits that float32 cannot tell apart there
      // are one tie (kept together) in the ranking here too.
      const s = Array.from(row, (z) => Math.fround(z - zmax) * inv);
      const ex = s.map(Math.exp);
      const lnZ = Math.log(accurateSum(ex));
      const q = ex.map((x) => x / Math.exp(lnZ));
      // The surprise's distance to the entropy, |−ln q − H| = |s − c| with c = ln Z − H = Σ q·s,
      // taken as Σ q·s: ln Z − H loses c to ln Z's rounding once the distances are below
      // ~1e-16·ln Z (T = 1e30: every token tied).
      const c = accurateSum(q.map((x, j) => (ex[j]! > 0 ? x * s[j]! : 0)));
      const d = s.map((x, j) => (Number.isFinite(row[j]!) ? Math.abs(x - c) : Infinity));
      const order = d.map((_, j) => j).sort((a, b) => d[a]! - d[b]!);
      // Walk groups of equal distance: a group stays iff the mass before it is < p or it starts
      // among the first minTokensToKeep positions.
      let before = 0;
      let bound = -Infinity;
      for (let i = 0; i < order.length; ) {
        let j = i;
        while (j < order.length && d[order[j]!] === d[order[i]!]) j++;
        if (!(before < p || i < M[r]!)) break;
        bound = d[order[i]!]!;
        before = accurateSum([before, ...order.slice(i, j).map((k) => q[k]!)]);
        i = j;
      }
      return row.map((z, j) => (Number.isFinite(z) && d[j]! <= bound ? z : -Infinity));
    });
    return { ...state, logits };
  };
}
