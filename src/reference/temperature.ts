import { INV_TEMPERATURE_MAX, INV_TEMPERATURE_MIN, isOff, nextInvTemperature, resolveRowParam, validateTemperature, type RowParam } from '../params.js';
import { fieldRows, validateDynamicTemperature, type DynamicTemperatureOptions, type DynamicTemperatureRows } from '../chain-options.js';
import { accurateSum, argMax, rowMax } from './math.js';
import type { ReferenceState } from './types.js';

/**
 * float64 temperature: divides the pending 1/T by T (T = 0 marks the row greedy); `dynamic` as in `temperature()`.
 *
 * @example
 * // The float64 twin a custom processor built on temperature(0.7) hands to reference.*:
 * const mine = { ...temperature(0.7), name: 'my-temperature', reference: reference.referenceTemperature(0.7) };
 */
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
      const t = dynamicTemperatureOf(H, n, T[r]!, R[r]!, E[r]!);
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

/**
 * Steps of the normalized entropy H / ln N: it is rounded to the nearest multiple of 1/4096
 * (halves up) before the exponent. Every backend then computes the same T from an entropy known
 * to ~1e-6 (float32 sums), and no kernel needs the reference's float64 sums bit for bit, only
 * bounds tight enough to name the step (src/backends/wasm-simd: the exact sums run only when the
 * bounds straddle a half step). llama.cpp takes the unrounded float32 value: T differs by at
 * most (T_max − T_min)·(2^-13)^min(1, exponent)·max(1, exponent).
 */
export const DYNAMIC_ENTROPY_STEPS = 4096;

/** The normalized entropy on its grid: floor(max(0, x)·4096 + 0.5) / 4096. */
export function quantizedEntropy(x: number): number {
  return Math.floor(Math.max(0, x) * DYNAMIC_ENTROPY_STEPS + 0.5) / DYNAMIC_ENTROPY_STEPS;
}

/** Where T_min and T_max saturate (2^101: past 2^100 every temperature acts as 2^100 anyway). */
export const DYNAMIC_T_MAX = 2 ** 101;

/**
 * A dynamic row's [T_min, T_max] = [max(0, T − range), T + range], each saturated at 2^101 so
 * that the tensor paths hold them in float32 (T = 1.7e308 overflowed there to a NaN row). The
 * saturation changes a row only where range > 2^100 and its temperature ends below 2^100.
 */
export function dynamicTemperatureBounds(T: number, range: number): [number, number] {
  return [Math.min(Math.max(0, T - range), DYNAMIC_T_MAX), Math.min(T + range, DYNAMIC_T_MAX)];
}

/**
 * A dynamic row's temperature from its entropy H and number of finite logits n (llama.cpp's
 * dynatemp): T_min + (T_max − T_min)·q(H / ln n)^exponent, [T_min, T_max] from
 * `dynamicTemperatureBounds`, q the grid above; T itself when n ≤ 1.
 */
export function dynamicTemperatureOf(H: number, n: number, T: number, range: number, exponent: number): number {
  return dynamicTemperatureAt(n > 1 ? quantizedEntropy(H / Math.log(n)) : 0, n, T, range, exponent);
}

/** The same from the normalized entropy already on its grid (`xq`). */
export function dynamicTemperatureAt(xq: number, n: number, T: number, range: number, exponent: number): number {
  if (!(n > 1)) return T;
  const [lo, hi] = dynamicTemperatureBounds(T, range);
  return lo + (hi - lo) * xq ** exponent;
}
