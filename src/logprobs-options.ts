// The logprobs options both the tensor paths and the float64 reference check (no tfjs here).
import { SamplingError } from './errors.js';

/** Checks the `raw` option: a boolean, false only with mode 'processed'. Default true. */
export function rawOption(raw: unknown, mode: 'raw' | 'processed', argument: string): boolean {
  if (raw === undefined) return true;
  if (typeof raw !== 'boolean') throw new SamplingError(argument, 'must be a boolean', raw);
  if (!raw && mode === 'raw')
    throw new SamplingError(argument, 'may be false only with mode "processed" (the alternatives of mode "raw" are raw log-probabilities)', raw);
  return raw;
}
