// Parameter validation shared by the tensor processors and the float64 reference, so their
// rules cannot drift. Never imports tfjs.
import { Described, SamplingError } from './errors.js';

/**
 * An array or a typed array: what the options take as "one value per row" or "token ids". A
 * DataView is an ArrayBuffer view too, without a length or indices (read as an empty array).
 */
export function isValueArray(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

/** A numeric option: one value for every row, or one value per row. */
export type RowParam = number | ArrayLike<number>;

type Check = (v: number) => boolean;

interface Rule {
  check: Check;
  rule: string;
  hint?: string;
}

/** Validates a scalar-or-per-row parameter eagerly (length is checked later, against B). */
export function validateRowParam(name: string, value: unknown, rule: Rule): RowParam {
  if (typeof value === 'number') {
    if (!rule.check(value)) throw new SamplingError(name, rule.rule, value, rule.hint);
    return value;
  }
  // A DataView is an ArrayBuffer view without a length or indices: not an array of numbers.
  if (isValueArray(value)) {
    const arr = value as ArrayLike<unknown>;
    if (arr.length === 0) throw new SamplingError(name, 'must be a number or a non-empty array with one value per row', value);
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      if (typeof v !== 'number' || !rule.check(v)) {
        throw new SamplingError(`${name}[${i}]`, rule.rule, v, rule.hint);
      }
    }
    // A copy: a caller mutating its array later must not bypass this validation.
    return Array.from(arr as ArrayLike<number>);
  }
  throw new SamplingError(name, 'must be a number or an array with one number per row', value);
}

/** Expands a validated parameter to one float64 value per row, checking the array length. */
export function resolveRowParam(name: string, value: RowParam, batch: number): Float64Array {
  const out = new Float64Array(batch);
  if (typeof value === 'number') {
    out.fill(value);
    return out;
  }
  if (value.length !== batch) {
    throw new SamplingError(name, `must have one value per row (batch size ${batch})`, new Described(`an array of length ${value.length}`));
  }
  for (let i = 0; i < batch; i++) out[i] = value[i]!;
  return out;
}

export const TEMPERATURE_RULE: Rule = {
  check: (t) => Number.isFinite(t) && t >= 0,
  rule: 'must be a finite number >= 0 (0 means greedy)',
};
export const TOP_K_RULE: Rule = {
  check: (k) => Number.isInteger(k) && k >= 0,
  rule: 'must be an integer >= 0 (0 switches top-k off)',
};
export const TOP_P_RULE: Rule = {
  check: (p) => p > 0 && p <= 1,
  rule: 'must be in (0, 1] (1 switches top-p off)',
};
export const MIN_P_RULE: Rule = {
  check: (m) => m >= 0 && m <= 1,
  rule: 'must be in [0, 1] (0 switches min-p off)',
};
export const TOP_N_SIGMA_RULE: Rule = {
  check: (n) => Number.isFinite(n) && n >= 0,
  rule: 'must be a finite number >= 0 (0 switches top-nσ off)',
};
export const CUTOFF_RULE: Rule = {
  check: (e) => e >= 0 && e < 1,
  rule: 'must be in [0, 1) (0 switches it off)',
};
export const TYPICAL_P_RULE: Rule = {
  check: (p) => p > 0 && p <= 1,
  rule: 'must be in (0, 1] (1 switches typical-p off)',
};
export const MIN_TOKENS_TO_KEEP_RULE: Rule = {
  check: (m) => Number.isInteger(m) && m >= 1 && m <= 2 ** 31 - 1,
  rule: 'must be an integer in [1, 2^31 - 1] (default 1)',
};
export const SEED_RULE: Rule = {
  check: (s) => Number.isFinite(s),
  rule: 'must be a finite number (or one per row)',
};

export const validateTemperature = (t: unknown): RowParam => validateRowParam('temperature', t, TEMPERATURE_RULE);
export const validateTopK = (k: unknown): RowParam => validateRowParam('topK', k, TOP_K_RULE);
export const validateTopP = (p: unknown): RowParam => validateRowParam('topP', p, TOP_P_RULE);
export const validateMinP = (m: unknown): RowParam => validateRowParam('minP', m, MIN_P_RULE);
export const validateTopNSigma = (n: unknown): RowParam => validateRowParam('topNSigma', n, TOP_N_SIGMA_RULE);
export const validateEpsilonCutoff = (e: unknown): RowParam => validateRowParam('epsilonCutoff', e, CUTOFF_RULE);
export const validateEtaCutoff = (e: unknown): RowParam => validateRowParam('etaCutoff', e, CUTOFF_RULE);
export const validateTypicalP = (p: unknown): RowParam => validateRowParam('typicalP', p, TYPICAL_P_RULE);
export const validateMinTokensToKeep = (m: unknown): RowParam => validateRowParam('minTokensToKeep', m, MIN_TOKENS_TO_KEEP_RULE);
export const validateSeed = (s: unknown): RowParam => validateRowParam('seed', s, SEED_RULE);

/** True when the parameter leaves every row unchanged (so the processor can be skipped). */
export function isOff(value: RowParam, off: (v: number) => boolean): boolean {
  if (typeof value === 'number') return off(value);
  for (let i = 0; i < value.length; i++) if (!off(value[i]!)) return false;
  return true;
}

/** Splits a float64 into a float32 pair (hi, lo) with hi + lo ≈ x to ~2^-48 relative. */
export function splitF32(x: number): [number, number] {
  if (!Number.isFinite(x)) return [Math.fround(x), 0];
  const hi = Math.fround(x);
  return [hi, Math.fround(x - hi)];
}

/**
 * The top-p the tensor paths compute with: p below 2^-64 acts as 2^-64. Both keep exactly the
 * most probable group (its mass is at least 1/V > 2^-64), so the rule is unchanged, but the GPU
 * paths carry p in float32, where a p below 2^-126 would flush to 0 (top-p off).
 */
export function effectiveTopP(p: number): number {
  return Math.max(p, 2 ** -64);
}

/** 1/T never leaves [2^-100, 2^100]: see {@link nextInvTemperature}. */
export const INV_TEMPERATURE_MAX = 2 ** 100;
export const INV_TEMPERATURE_MIN = 2 ** -100;

/**
 * A row's accumulated 1/T after a temperature T: Infinity (greedy) for T = 0, else the product
 * clamped to [2^-100, 2^100], i.e. T acts as if clamped to [2^-100, 2^100] ≈ [7.9e-31, 1.3e30].
 * The bounds are powers of two (exact in float32) chosen so that no float32 kernel overflows:
 * 1/T stays a normal float32, T · ln m (min-p, |ln m| ≤ 745) stays below 1e33, and Dekker splits
 * of 1/T stay finite. At either bound the distribution is already its limit for any logits a
 * model produces: below 2^-100 every token more than 1e-27 under the row max has probability
 * < e^-1000 (uniform over the tied maxima otherwise); above 2^100 a logit range below 1e20
 * moves no probability by more than 1e-10 from uniform over the finite logits.
 */
export function nextInvTemperature(inv: number, t: number): number {
  if (t === 0 || inv === Infinity) return Infinity;
  return Math.min(INV_TEMPERATURE_MAX, Math.max(INV_TEMPERATURE_MIN, inv / t));
}
