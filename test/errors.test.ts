// Invalid rows under each policy (error codes, uniform, greedy) and the memory of a long run. Bad
// arguments, one test per class and entry point, are in test/bad-input.test.ts (docs/bad-input.md).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { INVALID_CODE, InvalidRowsError, createSampler, readIds, reference, type LogitsProcessor, type SamplerOptions } from '../src/index.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS, isSoftwareGpu } from './helpers/backend.js';

describe.each(BACKENDS)('invalid rows on %s', (backend) => {
  backendSuite(backend);

  const V = 6;
  const rows = [
    [0, 1, 2, 3, 4, 5], // valid
    [0, NaN, 2, 3, 4, 5], // NaN
    [0, 1, Infinity, 3, 4, 5], // +Infinity
    [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity], // nothing finite
    [1, -Infinity, 7, -Infinity, 2, 0], // valid, with masks
  ];

  it('default: sample() marks invalid rows with negative codes, sampleIds()/readIds() throw naming rows and causes', async () => {
    const x = tf.tensor2d(rows);
    const s = createSampler({ seed: 3, topP: 0.9 });
    const ids = s.sample(x);
    const data = Array.from(await ids.data());
    expect(data.slice(1, 4)).toEqual([INVALID_CODE.nan, INVALID_CODE['positive-infinity'], INVALID_CODE['no-finite-logit']]);
    expect(data[0]).toBeGreaterThanOrEqual(0);
    expect(data[4]).toBeGreaterThanOrEqual(0);
    await expect(readIds(ids)).rejects.toThrow(InvalidRowsError);
    ids.dispose();
    const err = await s.sampleIds(x).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRowsError);
    expect((err as InvalidRowsError).rows).toMatchObject([
      { row: 1, cause: 'nan' },
      { row: 2, cause: 'positive-infinity' },
      { row: 3, cause: 'no-finite-logit' },
    ]);
    expect((err as Error).message).toContain('row 1: NaN; row 2: +Infinity; row 3: no finite logit');
    // The reference raises the same error, and probabilities of invalid rows are NaN, never plausible.
    expect(() => reference.probabilities(rows, { topP: 0.9 })).toThrow(InvalidRowsError);
    const p = s.probabilities(x);
    const pd = await p.array();
    p.dispose();
    for (const r of [1, 2, 3]) expect(pd[r]!.every(Number.isNaN)).toBe(true);
    expect(pd[0]!.reduce((a, b) => a + b)).toBeCloseTo(1, 5);
    x.dispose();
  });

  it('a processor that masks everything makes the row invalid', async () => {
    const banAll: LogitsProcessor = {
      name: 'ban-all',
      apply: (state) => ({ ...state, logits: tf.fill([state.batch, state.vocab], -Infinity) as tf.Tensor2D }),
      reference: (state) => ({ ...state, logits: state.logits.map((r) => r.map(() => -Infinity)) }),
    };
    const x = tf.tensor2d([[0, 1, 2]]);
    const s = createSampler({ processors: [banAll], seed: 1 });
    const err = await s.sampleIds(x).catch((e: unknown) => e);
    expect((err as InvalidRowsError).rows).toMatchObject([{ row: 0, cause: 'no-finite-logit' }]);
    x.dispose();
  });

  it('invalidRows "uniform": invalid rows draw uniformly over the vocabulary, as the reference does', async () => {
    const x = tf.tensor2d(rows);
    const opts: SamplerOptions = { seed: 5, topP: 0.9, invalidRows: 'uniform' };
    const s = createSampler(opts);
    const seen = new Set<number>();
    for (let step = 0; step < 40; step++) {
      const ids = Array.from(await s.sampleIds(x));
      expect(ids).toEqual(reference.sample(rows, opts, step));
      for (const r of [1, 2, 3]) seen.add(ids[r]!);
    }
    expect(seen.size).toBe(V); // every token of the vocabulary shows up
    const p = s.probabilities(x);
    const pd = await p.array();
    p.dispose();
    expect(pd[3]).toEqual(new Array(V).fill(Math.fround(1 / V)));
    x.dispose();
  });

  it('invalidRows "greedy": the largest finite logit; uniform if none is finite', async () => {
    const x = tf.tensor2d(rows);
    const opts: SamplerOptions = { seed: 5, temperature: 2, invalidRows: 'greedy' };
    const s = createSampler(opts);
    const ids = Array.from(await s.sampleIds(x));
    expect(ids[1]).toBe(5);
    expect(ids[2]).toBe(5);
    expect(ids).toEqual(reference.sample(rows, opts, 0));
    const p = s.probabilities(x);
    const pd = await p.array();
    p.dispose();
    expect(pd[1]).toEqual([0, 0, 0, 0, 0, 1]);
    expect(reference.probabilities(rows, opts)[1]).toEqual(Float64Array.from([0, 0, 0, 0, 0, 1]));
    x.dispose();
  });

  // The count is exact, so a per-step leak shows at any length; software GPU adapters take
  // ~40 ms per step, so they run 100 (test/soak.test.ts runs the long generate() loops).
  const steps = isSoftwareGpu(backend) ? 100 : 1000;
  it(`${steps.toLocaleString('en-US')} consecutive steps leave tf.memory().numTensors where it started`, async () => {
    const x = tf.randomNormal([4, 64]);
    const s = createSampler({ temperature: 0.9, topK: 20, topP: 0.9, minP: 0.02, seed: 1 });
    const start = tf.memory().numTensors;
    for (let i = 0; i < steps; i++) {
      const ids = s.sample(x);
      if (i % 50 === 0) await ids.data();
      ids.dispose();
    }
    expect(s.step).toBe(steps);
    expect(tf.memory().numTensors).toBe(start);
    x.dispose();
  });
});
