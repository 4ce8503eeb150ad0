import type { BuiltinSpec } from './options.js';
import { minP } from './processors/min-p.js';
import { temperature } from './processors/temperature.js';
import { topK } from './processors/top-k.js';
import { topP } from './processors/top-p.js';
import { withLogits } from './processors/ops.js';
import type { LogitsProcessor, SamplingState } from './types.js';

/** Tensor processors for the enabled built-ins, in order. */
export function builtinProcessors(specs: readonly BuiltinSpec[]): LogitsProcessor[] {
  return specs.map(({ name, value }) => {
    switch (name) {
      case 'temperature':
        return temperature(value);
      case 'top-k':
        return topK(value);
      case 'top-p':
        return topP(value);
      case 'min-p':
        return minP(value);
    }
  });
}

const BUILTIN = new Set(['temperature', 'top-k', 'top-p', 'min-p', '?temperature', '?top-k', '?top-p', '?min-p']);

/**
 * Runs processors in order. The `candidates` hint survives only the built-in filters, which
 * never raise a logit; after any other processor it is reset to V.
 */
export function runChain(processors: readonly LogitsProcessor[], state: SamplingState): SamplingState {
  let s = state;
  for (const p of processors) {
    const next = p.apply(s);
    s = BUILTIN.has(p.name) ? next : { ...withLogits(next, next.logits), candidates: next.vocab };
  }
  return s;
}
