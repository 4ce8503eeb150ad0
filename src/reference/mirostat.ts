import { fieldRows, validateMirostat, type MirostatOptions, type MirostatRows } from '../chain-options.js';
import { accurateSum, rowMax, usableInv } from './math.js';
import type { ReferenceState } from './types.js';

/** llama.cpp's m: Mirostat v1 estimates the Zipf exponent from the 100 most probable tokens. */
export const MIROSTAT_M = 100;

/**
 * float64 Mirostat: v2 keeps −log2 q ≤ μ (the maxima at least); v1 keeps the k most probable
 * (ties kept; all where k is not finite), k from the Zipf estimate over the 100 most probable.
 * μ per row from `state.mirostatMu` (default 2τ).
 *
 * @example
 * // The float64 twin of mirostat({ version: 2, tau: 5, eta: 0.1 }):
 * const twin = reference.referenceMirostat({ version: 2, tau: 5, eta: 0.1 });
 */
export function referenceMirostat(options: MirostatOptions | readonly (MirostatOptions | undefined)[]) {
  return referenceMirostatOfRows(validateMirostat(options));
}

/** Mirostat v1's k for one row: sorted descending scaled logits `ss`, `nf` finite of them. */
export function mirostatV1K(ss: ArrayLike<number>, nf: number, mu: number, vocab: number): number {
  let tb = 0;
  let tt = 0;
  for (let i = 0; i < Math.min(MIROSTAT_M, vocab) - 1 && i < nf - 1; i++) {
    const t = Math.log((i + 2) / (i + 1));
    tb += t * (ss[i]! - ss[i + 1]!);
    tt += t * t;
  }
  const sHat = tb / tt;
  const eps = sHat - 1;
  const x = (eps * 2 ** mu) / (1 - Math.exp(-eps * Math.log(vocab)));
  return Math.exp(Math.log(x) / sHat);
}

/** The twin from validated per-row fields. */
export function referenceMirostatOfRows(value: MirostatRows) {
  return (state: ReferenceState): ReferenceState => {
    const batch = state.logits.length;
    const ver = fieldRows('mirostat', value.version, batch);
    const tau = fieldRows('mirostat', value.tau, batch);
    const logits = state.logits.map((row, r) => {
      if (ver[r] === 0) return row;
      const zmax = rowMax(row);
      if (!Number.isFinite(zmax) || row.some((z) => z === Infinity)) return row;
      const mu = state.mirostatMu?.[r] ?? 2 * tau[r]!;
      const inv = usableInv(state.invTemperature[r]!);
      if (ver[r] === 2) {
        const s = Array.from(row, (z) => (z - zmax) * inv);
        const lnZ = Math.log(accurateSum(s.map(Math.exp)));
        return row.map((z, j) => (z >= zmax || s[j]! - lnZ >= -mu * Math.LN2 ? z : -Infinity));
      }
      const sorted = Float64Array.from(row).sort((a, b) => b - a);
      const nf = row.filter((z) => Number.isFinite(z)).length;
      const k = Math.floor(
        mirostatV1K(
          sorted.map((z) => (z - zmax) * inv),
          nf,
          mu,
          row.length,
        ),
      );
      if (!Number.isFinite(k) || k >= nf) return row;
      const kth = sorted[Math.max(k, 1) - 1]!;
      return row.map((z) => (z >= kth ? z : -Infinity));
    });
    return { ...state, logits };
  };
}
