// One plan per sampler and batch size: every per-row option resolved once. The fused kernels, the
// GPU chain and the tensor processors of a sampler all read these arrays; none resolves an option
// again. Never imports tfjs.
import { fieldRows } from './chain-options.js';
import type { HistorySpec } from './history-options.js';
import type { NormalizedOptions } from './options.js';
import { nextInvTemperature, resolveRowParam, type RowParam } from './params.js';
import type { BuiltinName } from './types.js';

/** How many option resolutions and 1/T splits the library made (for the tests that check a call makes none twice). */
export const PLAN_COUNTS = { resolutions: 0, splits: 0 };

/** Per-row values by batch size: resolved once per size, the same (read-only) array after. */
export type Rows = (batch: number) => Float64Array;

/**
 * A validated option's rows, resolved on the first call with a batch size and kept: the processor
 * factories use it where no sampler's plan hands them rows. Callers must not write to the array.
 */
export function rowsOf(name: string, value: RowParam, resolve: (name: string, value: RowParam, batch: number) => Float64Array = resolveRowParam): Rows {
  let last: Float64Array | undefined;
  return (batch) => {
    if (last?.length !== batch) {
      last = resolve(name, value, batch);
      PLAN_COUNTS.resolutions++;
    }
    return last;
  };
}

/** A composite option's fields (XTC, dynamic temperature, Mirostat) as {@link Rows}. */
export function fieldsOf<K extends string>(name: string, value: Readonly<Record<K, RowParam>>): Record<K, Rows> {
  const out = {} as Record<K, Rows>;
  for (const key of Object.keys(value) as K[]) out[key] = rowsOf(name, value[key], fieldRows);
  return out;
}

/** Every per-row option of a sampler for one batch size (read-only arrays). */
export interface RowPlan {
  readonly batch: number;
  /** Each built-in's value per row (off built-ins at their off value; XTC: its probability; Mirostat: its version, 0 off). */
  readonly value: Readonly<Record<BuiltinName, Float64Array>>;
  /** `minTokensToKeep` per row (1 when unset). */
  readonly minKeep: Float64Array;
  readonly dynamic?: { readonly range: Float64Array; readonly exponent: Float64Array };
  readonly xtc?: { readonly probability: Float64Array; readonly threshold: Float64Array };
  readonly mirostat?: { readonly version: Float64Array; readonly tau: Float64Array; readonly eta: Float64Array };
  /** Each row's 1/T after the built-in temperature alone (from 1; Infinity: greedy). */
  readonly invT: Float64Array;
  /** 1 on every row: the 1/T before the built-ins when no processor changed it. */
  readonly ones: Float64Array;
}

/** The plan's sources: what {@link planRows} resolves, built once per sampler. */
export interface PlanSources {
  value: Record<BuiltinName, Rows>;
  minKeep: Rows;
  dynamic?: Record<'range' | 'exponent', Rows>;
  xtc?: Record<'probability' | 'threshold', Rows>;
  mirostat?: Record<'version' | 'tau' | 'eta', Rows>;
  /** Every per-row array option (enabled or not), so each call checks its length. */
  arrays: readonly Rows[];
}

const plans = new WeakMap<NormalizedOptions, RowPlan>();

/** Throws if a per-row array option does not have one value per row (the sampler's plan and the reference). */
export function checkRowArrays(opts: NormalizedOptions, batch: number): void {
  for (const rows of opts.sources.arrays) rows(batch);
}

/**
 * The sampler's plan for a batch size: resolves (and length-checks) every per-row option on the
 * first call with that size, returns the same plan after.
 */
export function planRows(opts: NormalizedOptions, batch: number): RowPlan {
  const cached = plans.get(opts);
  if (cached?.batch === batch) return cached;
  checkRowArrays(opts, batch);
  const src = opts.sources;
  const value = {} as Record<BuiltinName, Float64Array>;
  for (const name of Object.keys(src.value) as BuiltinName[]) value[name] = src.value[name](batch);
  const resolve = <K extends string>(f: Record<K, Rows> | undefined): Record<K, Float64Array> | undefined => {
    if (!f) return undefined;
    const out = {} as Record<K, Float64Array>;
    for (const key of Object.keys(f) as K[]) out[key] = f[key](batch);
    return out;
  };
  const dynamic = resolve(src.dynamic);
  const xtc = resolve(src.xtc);
  const mirostat = resolve(src.mirostat);
  const plan: RowPlan = {
    batch,
    value,
    minKeep: src.minKeep(batch),
    ...(dynamic ? { dynamic } : {}),
    ...(xtc ? { xtc } : {}),
    ...(mirostat ? { mirostat } : {}),
    invT: value.temperature.map((t) => nextInvTemperature(1, t)),
    ones: new Float64Array(batch).fill(1),
  };
  plans.set(opts, plan);
  return plan;
}

/** A built-in filter's rows: its value and `minTokensToKeep`. */
export interface OptionRows {
  value: Rows;
  minKeep: Rows;
}

/** {@link OptionRows} resolved by the processor itself (no sampler's plan). */
export function optionRows(name: string, value: RowParam, minKeep: RowParam = 1): OptionRows {
  return { value: rowsOf(name, value), minKeep: rowsOf('minTokensToKeep', minKeep) };
}

/** The history options' rows (off values where unset): penalties, windows, n-gram sizes, minimum lengths. */
export interface HistoryRows {
  repetitionPenalty: Rows;
  frequencyPenalty: Rows;
  presencePenalty: Rows;
  penaltyLastN: Rows;
  noRepeatNgramSize: Rows;
  minNewTokens: Rows;
}

const HISTORY_ROWS = new WeakMap<HistorySpec, HistoryRows>();

/** The rows of a history spec, made once per spec: its processors and the cpu / wasm row editor share them. */
export function historyRows(spec: HistorySpec): HistoryRows {
  let rows = HISTORY_ROWS.get(spec);
  if (!rows) {
    rows = {
      repetitionPenalty: rowsOf('repetitionPenalty', spec.repetitionPenalty ?? 1),
      frequencyPenalty: rowsOf('frequencyPenalty', spec.frequencyPenalty ?? 0),
      presencePenalty: rowsOf('presencePenalty', spec.presencePenalty ?? 0),
      penaltyLastN: rowsOf('penaltyLastN', spec.penaltyLastN),
      noRepeatNgramSize: rowsOf('noRepeatNgramSize', spec.noRepeatNgramSize ?? 0),
      minNewTokens: rowsOf('minNewTokens', spec.minNewTokens ?? 0),
    };
    HISTORY_ROWS.set(spec, rows);
  }
  return rows;
}
