// One row's log-probabilities (raw, processed, the top alternatives) against reference.logprobs,
// shared by the random-mix properties (test/families.test.ts, test/generate-families.test.ts), and
// the element-wise comparison the logprobs suites use.
import { expect } from 'vitest';
import type { reference } from '../../src/index.js';

/** float32 log-probabilities against float64: within this relative error (1 below magnitude 1). */
export const LP_TOLERANCE = 2e-4;

/** What a backend returned for one row: its token's log-probabilities and the top alternatives. */
export interface RowLogprobs {
  raw: number;
  processed: number;
  top: readonly { id: number; logprob: number }[];
}

/**
 * `got` against row `r` of `want`. An alternative may differ from the reference's at the same
 * rank only within a near-tie (its reference log-probability within the tolerance of that
 * rank's), or among -Infinity ones.
 */
export function expectRowLogprobs(got: RowLogprobs, want: ReturnType<typeof reference.logprobs>, r: number, what: string): void {
  const close = (g: number, w: number, name: string): void => {
    if (!Number.isFinite(w)) expect(g, `${what}: ${name}`).toBe(w);
    else expect(Math.abs(g - w), `${what}: ${name} ${g} vs ${w}`).toBeLessThanOrEqual(LP_TOLERANCE * Math.max(1, Math.abs(w)));
  };
  close(got.raw, want.raw[r]!, `row ${r} raw`);
  close(got.processed, want.processed[r]!, `row ${r} processed`);
  expect(got.top.length, `${what}: row ${r} alternatives`).toBe(want.topIds[r]!.length);
  got.top.forEach(({ id, logprob }, k) => {
    close(logprob, want.topLogprobs[r]![k]!, `row ${r} alternative ${k}`);
    if (id === want.topIds[r]![k]) return;
    const j = want.topIds[r]!.indexOf(id);
    const [a, b] = [want.topLogprobs[r]![j]!, want.topLogprobs[r]![k]!];
    expect(j >= 0 && (a === b || Math.abs(a - b) <= LP_TOLERANCE), `${what}: row ${r} alternative ${k} is ${id}, not ${want.topIds[r]![k]}`).toBe(true);
  });
}

/** float32 log-probabilities against float64: equal non-finite values, else within 2e-5 (relative past 1). */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      expect(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)), `${what}[${i}]: ${g} vs ${w}`).toBe(true);
      continue;
    }
    expect(Math.abs(g - w), `${what}[${i}]: ${g} vs ${w}`).toBeLessThanOrEqual(2e-5 * Math.max(1, Math.abs(w)));
  }
}
