import { INV_TEMPERATURE_MAX, INV_TEMPERATURE_MIN, isOff, nextInvTemperature, resolveRowParam, validateTemperature, type RowParam } from '../params.js';
import { fieldRows, validateDynamicTemperature, type DynamicTemperatureOptions, type DynamicTemperatureRows } from '../chain-options.js';
import { accurateSum, argMax, rowMax } from './math.js';
import type { ReferenceState } from './types.js';

/** float64 temperature: divides the pending 1/T by T (T = 0 marks the row greedy); `dynamic` as in `temperature()`. */
export function referenceTemperature(t: RowParam, dynamic?: DynamicTemperatureOptions | readonly (DynamicTemperatureOptions | undefined)[]) {
  return referenceTemperatureOfRows(validateTemperature(t), dynamic === undefined ? undefined : validateDynamicTemperature(dynamic));
}

/** The twin from validated values. */
export function referenceTemperatureOfRows(temperature: RowParam, dynamic: DynamicTemperatureRows | undefined) {
  const dynamicOn = dynamic !== undefined && !isOff(dynamic.range, (v) => v === 0);
  return (state: ReferenceState): ReferenceState => {
    const batch = state.logits.length;
    const T = resolveRowParam('temperature', temperature, batch);
    const inv = state.invTemperature.map((v, r) => nextInvTemperature(v, T[r]!));
    if (!dynamicOn) return { ...state, invTemperature: inv };
    const R = fieldRows('dynamicTemperature', dynamic.range, batch);
    const E = fieldRows('dynamicTemperature', dynamic.exponent, batch);
    const logits = state.logits.map((row, r) => {
      const prev = state.invTemperature[r]!;
      if (!(R[r]! > 0) || !Number.isFinite(prev)) return row;
      inv[r] = 1;
      const zmax = rowMax(row);
      if (!Number.isFinite(zmax) || row.some((z) => z === Infinity)) return row;
      // Rounded to float32 like the tensors, whose state holds these rows' scaled logits from
      // here on (distinct logits that float32 merges must stay merged for the later filters).
      const s = Array.from(row, (z) => Math.fround(Math.fround(z - zmax) * prev));
      const ex = s.map(Math.exp);
      const total = accurateSum(ex);
      const H = -accurateSum(ex.map((x, j) => (x > 0 ? (x / total) * (s[j]! - Math.log(total)) : 0)));
      const n = row.filter((z) => Number.isFinite(z)).length;
      const lo = Math.max(0, T[r]! - R[r]!);
      const hi = T[r]! + R[r]!;
      const t = n > 1 ? lo + (hi - lo) * Math.pow(Math.max(0, H / Math.log(n)), E[r]!) : T[r]!;
      if (t === 0) {
        const j = argMax(row);
        return row.map((z, i) => (i === j ? z : -Infinity));
      }
      const k = Math.min(INV_TEMPERATURE_MAX, Math.max(INV_TEMPERATURE_MIN, 1 / t));
      return row.map((z, j) => (Number.isFinite(z) ? Math.max(Math.fround(s[j]! * k), -3.4028234663852886e38) : z));
    });
    return { ...state, logits, invTemperature: inv };
  };
}
