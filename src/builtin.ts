// Identity of the built-in processors: the objects the factories of this folder made. The chain
// trusts their sort hints and knows they never make NaN or +Infinity; a user processor with the
// same name gets neither.
import type { LogitsProcessor } from './types.js';

const BUILTINS = new WeakSet<LogitsProcessor>();

/** Marks a processor made by one of the built-in factories; returns it. */
export function builtin<P extends LogitsProcessor>(p: P): P {
  BUILTINS.add(p);
  return p;
}

/** True for processors made by `temperature`, `topK`, `topP`, `minP` (by identity, not name). */
export function isBuiltinProcessor(p: LogitsProcessor): boolean {
  return BUILTINS.has(p);
}
