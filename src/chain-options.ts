// Validation of the object-valued samplers of the chain (XTC, dynamic temperature, Mirostat):
// one object for every row, or one per row (undefined: off for that row). Each becomes plain
// per-row numbers, so the tensor processors and the float64 twins read the same values. Never
// imports tfjs.
import { Described, SamplingError } from './errors.js';
import type { RowParam } from './params.js';

/** llama.cpp's XTC: with `probability` per row and step, drop every token with q ≥ `threshold` but the least probable of them. */
export interface XtcOptions {
  /** In [0, 1]; 0 switches XTC off for the row (llama.cpp `xtc_probability`). */
  probability: number;
  /** In [0, 1]; above 0.5 XTC does nothing (at most one token can reach it). Default 0.1 (llama.cpp `xtc_threshold`). */
  threshold?: number;
}

/** llama.cpp's dynamic temperature (`temp_ext`): T from the row's normalized entropy in [T − range, T + range]. */
export interface DynamicTemperatureOptions {
  /** Finite ≥ 0; 0 switches it off for the row (llama.cpp `dynatemp_range`). */
  range: number;
  /** Finite ≥ 0. Default 1 (llama.cpp `dynatemp_exponent`). */
  exponent?: number;
}

/** llama.cpp's Mirostat v1 or v2 (target surprise `tau`, learning rate `eta`, μ kept per row). */
export interface MirostatOptions {
  /** 1: Mirostat (Basu et al.'s k from the Zipf exponent); 2: Mirostat 2.0 (a cut at surprise μ). */
  version: 1 | 2;
  /** Target surprise in bits, finite ≥ 0. Default 5 (llama.cpp `mirostat_tau`). */
  tau?: number;
  /** Learning rate, finite ≥ 0. Default 0.1 (llama.cpp `mirostat_eta`). */
  eta?: number;
}

/** One of the object options, validated: per-row numbers (one number when one object was given). */
export type RowFields<K extends string> = Record<K, RowParam>;

interface Field {
  key: string;
  /** undefined: required. */
  fallback?: number;
  check: (x: number) => boolean;
  rule: string;
}

/**
 * Validates `{...}` or `[{...} | undefined, …]` against `fields`; an off row (undefined, or
 * `isOff`) gets `offRow`. Returns each field as a number (one object) or one value per row.
 */
function rowObjects<K extends string>(name: string, value: unknown, fields: readonly Field[], offRow: Record<K, number>): RowFields<K> {
  const keys = fields.map((f) => f.key);
  const shape = `{ ${fields.map((f) => (f.fallback === undefined ? f.key : `${f.key}?`)).join(', ')} }`;
  const one = (label: string, v: unknown): Record<K, number> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SamplingError(label, `must be an object ${shape}`, v);
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!keys.includes(k)) throw new SamplingError(label, `must only name ${keys.join(', ')}`, k);
    const out = {} as Record<string, number>;
    for (const f of fields) {
      const x = o[f.key] ?? f.fallback;
      if (typeof x !== 'number' || !f.check(x)) throw new SamplingError(`${label}.${f.key}`, f.rule, x);
      out[f.key] = x;
    }
    return out as Record<K, number>;
  };
  if (!Array.isArray(value)) {
    const row = one(name, value);
    return row;
  }
  if (value.length === 0) throw new SamplingError(name, `must be an object, or a non-empty array with one object (or undefined) per row`, value);
  // Array.from, not map: a hole in a sparse array is an undefined entry (an off row), not a
  // missing one that would leave NaN in the fields.
  const rows = Array.from(value as unknown[], (v, r) => (v === undefined ? offRow : one(`${name}[${r}]`, v)));
  const out = {} as Record<K, number[]>;
  for (const k of Object.keys(offRow) as K[]) out[k] = rows.map((row) => row[k]);
  return out;
}

const unit = (x: number): boolean => x >= 0 && x <= 1;
const nonNegative = (x: number): boolean => Number.isFinite(x) && x >= 0;

export type XtcRows = RowFields<'probability' | 'threshold'>;
export type DynamicTemperatureRows = RowFields<'range' | 'exponent'>;
export type MirostatRows = RowFields<'version' | 'tau' | 'eta'>;

export function validateXtc(v: unknown): XtcRows {
  return rowObjects(
    'xtc',
    v,
    [
      { key: 'probability', check: unit, rule: 'must be in [0, 1] (0 switches XTC off)' },
      { key: 'threshold', fallback: 0.1, check: unit, rule: 'must be in [0, 1] (default 0.1; above 0.5 XTC does nothing)' },
    ],
    { probability: 0, threshold: 0.1 },
  );
}

export function validateDynamicTemperature(v: unknown): DynamicTemperatureRows {
  return rowObjects(
    'dynamicTemperature',
    v,
    [
      { key: 'range', check: nonNegative, rule: 'must be a finite number >= 0 (0 switches dynamic temperature off)' },
      { key: 'exponent', fallback: 1, check: nonNegative, rule: 'must be a finite number >= 0 (default 1)' },
    ],
    { range: 0, exponent: 1 },
  );
}

export function validateMirostat(v: unknown): MirostatRows {
  return rowObjects(
    'mirostat',
    v,
    [
      { key: 'version', check: (x) => x === 1 || x === 2, rule: 'must be 1 or 2 (llama.cpp Mirostat v1 or v2)' },
      { key: 'tau', fallback: 5, check: nonNegative, rule: 'must be a finite number >= 0 (target surprise in bits, default 5)' },
      { key: 'eta', fallback: 0.1, check: nonNegative, rule: 'must be a finite number >= 0 (learning rate, default 0.1)' },
    ],
    { version: 0, tau: 5, eta: 0.1 },
  );
}

/** Expands a field to one value per row, checking an array's length against the batch. */
export function fieldRows(name: string, value: RowParam, batch: number): Float64Array {
  if (typeof value === 'number') return new Float64Array(batch).fill(value);
  if (value.length !== batch) {
    throw new SamplingError(name, `must have one entry per row (batch size ${batch})`, new Described(`an array of length ${value.length}`));
  }
  return Float64Array.from(value);
}
