// Identity of the built-in processors, and the sort hints they pass each other. The chain trusts
// only the objects the factories of this folder made: their hints, and that they never make NaN
// or +Infinity; a user processor with the same name gets neither. Hints live in a side table
// keyed by the state object, not in `SamplingState`: a processor author never sees them, and a
// state a user processor builds (a new object) carries none, so no stale hint can survive it.
import type * as tf from '@tensorflow/tfjs-core';
import type { LogitsProcessor, SamplingState } from './types.js';

const BUILTINS = new WeakSet<LogitsProcessor>();

/** Marks a processor made by one of the built-in factories; returns it. */
export function builtin<P extends LogitsProcessor>(p: P): P {
  BUILTINS.add(p);
  return p;
}

/** True for processors made by the built-in factories (by identity, not name). */
export function isBuiltinProcessor(p: LogitsProcessor): boolean {
  return BUILTINS.has(p);
}

/** What a built-in filter knows about a state's logits that saves a later one a sort. */
export interface SortHints {
  /**
   * Every finite logit outside a row's `candidates` largest equals the `candidates`-th largest
   * (set by top-k; `vocab` when nothing is known).
   */
  candidates: number;
  /** The `candidates` largest logits per row, sorted in descending order (`[B, candidates]`). */
  sorted?: tf.Tensor2D;
}

const HINTS = new WeakMap<SamplingState, SortHints>();

/** The hints of a state (`{ candidates: vocab }` when none). */
export function hintsOf(state: SamplingState): SortHints {
  return HINTS.get(state) ?? { candidates: state.vocab };
}

/** Attaches hints to a state a built-in returns; returns the state. */
export function withHints(state: SamplingState, hints: SortHints): SamplingState {
  HINTS.set(state, hints);
  return state;
}
