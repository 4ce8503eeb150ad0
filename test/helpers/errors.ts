// The typed error a call throws, for tests of bad input.
import { expect } from 'vitest';
import { SamplingError } from '../../src/index.js';

/** The SamplingError `f` throws (fails the test if it throws nothing or something else). */
export function caught(f: () => unknown): SamplingError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SamplingError);
    return e as SamplingError;
  }
  throw new Error('expected a SamplingError, but nothing was thrown');
}
