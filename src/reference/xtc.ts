import { fieldRows, validateXtc, type XtcOptions, type XtcRows } from '../chain-options.js';
import { SamplingError } from '../errors.js';
import { stepAt, xtcUniform, type Steps } from '../noise.js';
import { resolveRowParam, validateMinTokensToKeep, type RowParam } from '../params.js';
import { accurateSum, rowMax, usableInv } from './math.js';
import type { ReferenceState } from './types.js';

/**
 * Which rows' XTC coin comes up at `step`: probability > 0, threshold ≤ 0.5 (llama.cpp: above it
 * at most one token can reach it) and u ≤ probability, u the (key, step) hash. Shared by the
 * processor and its twin.
 */
export function xtcCoins(Pr: Float64Array, Th: Float64Array, keys: Uint32Array, step: Steps, u: (key: number, step: number) => number): boolean[] {
  return Array.from(Pr, (p, r) => p > 0 && Th[r]! <= 0.5 && u(keys[r]!, stepAt(step, r)) <= p);
}

/**
 * float64 XTC: drop q ≥ threshold but the least probable of those tokens (and its ties).
 *
 * @example
 * // The float64 twin of xtc({ threshold: 0.1, probability: 0.5 }):
 * const twin = reference.referenceXtc({ threshold: 0.1, probability: 0.5 });
 */
export function referenceXtc(options: XtcOptions | readonly (XtcOptions | undefined)[], minTokensToKeep: RowParam = 1) {
  return referenceXtcOfRows(validateXtc(options), validateMinTokensToKeep(minTokensToKeep));
}

/** The twin from validated per-row fields. */
export function referenceXtcOfRows(value: XtcRows, minKeep: RowParam) {
  return (state: ReferenceState): ReferenceState => {
    const batch = state.logits.length;
    const Pr = fieldRows('xtc', value.probability, batch);
    const Th = fieldRows('xtc', value.threshold, batch);
    const M = resolveRowParam('minTokensToKeep', minKeep, batch);
    const coinNeeded = Array.from(Pr).some((p, r) => p > 0 && p < 1 && Th[r]! <= 0.5);
    if (!state.keys && coinNeeded) {
      throw new SamplingError('seed', 'must be given to the reference when an xtc.probability is in (0, 1) (its coin hashes the row keys)', undefined);
    }
    const on = xtcCoins(Pr, Th, state.keys ?? new Uint32Array(batch), state.steps ?? state.step, state.keys ? xtcUniform : () => 0);
    const logits = state.logits.map((row, r) => {
      if (!on[r]) return row;
      const zmax = rowMax(row);
      if (!Number.isFinite(zmax)) return row;
      const inv = usableInv(state.invTemperature[r]!);
      const ex = Array.from(row, (z) => Math.exp((z - zmax) * inv));
      const total = accurateSum(ex);
      let hi = Infinity;
      let reached = 0;
      row.forEach((z, j) => {
        if (Number.isFinite(z) && ex[j]! / total >= Th[r]!) {
          reached++;
          hi = Math.min(hi, z);
        }
      });
      const left = Array.from(row).filter((z) => Number.isFinite(z) && z <= hi).length;
      if (reached < 2 || left < M[r]!) return row;
      return row.map((z) => (z > hi ? -Infinity : z));
    });
    return { ...state, logits };
  };
}
