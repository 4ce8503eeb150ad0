// Float64 twins' view of the history: the tokens of each row, split into prompt and generated.
// Never imports tfjs.
import { SamplingError } from '../errors.js';
import type { ReferenceState } from './types.js';

const FLT_MAX = 3.4028234663852886e38;

/**
 * Row r's history (prompt + generated tokens); none given means empty, like a fresh sampler.
 * `who` names the processor in the error when the history has too few rows.
 */
export function historyOf(state: ReferenceState, r: number, who: string): readonly number[] {
  if (!state.history) return [];
  const row = state.history[r];
  if (!row) throw new SamplingError('history', `must have one token array per row for ${who}`, undefined);
  return row;
}

/** How many of row r's history tokens are the prompt's (default 0: all generated). */
export function promptLengthOf(state: ReferenceState, r: number): number {
  return state.promptLength?.[r] ?? 0;
}

/** The value a masked token takes: -Infinity, except NaN and +Infinity, which stay (maskWhere). */
export function masked(z: number): number {
  return Number.isNaN(z) || z === Infinity ? z : -Infinity;
}

/** Built-in edits saturate at FLT_MAX above (an overflow to +Infinity would fake an invalid row). */
export function saturate(z: number): number {
  return Math.min(z, FLT_MAX);
}
