// Hand-computed tables on tiny distributions, in the style of llama.cpp's test-sampling.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createSampler, reference, type SamplerOptions } from '../src/index.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS } from './helpers/backend.js';

const Q = [0.1, 0.2, 0.3, 0.4];
const lnQ = Q.map(Math.log);

interface Row {
  name: string;
  logits: number[];
  options: SamplerOptions;
  expected: number[];
}

const sq = Q.map((q) => q * q);
const TABLE: Row[] = [
  { name: 'softmax', logits: lnQ, options: {}, expected: Q },
  { name: 'temperature 2', logits: lnQ, options: { temperature: 2 }, expected: norm(Q.map(Math.sqrt)) },
  { name: 'temperature 0.5', logits: lnQ, options: { temperature: 0.5 }, expected: norm(sq) },
  { name: 'temperature 0 = greedy', logits: lnQ, options: { temperature: 0 }, expected: [0, 0, 0, 1] },
  { name: 'greedy ties: lowest index', logits: [1, 3, 3, 0], options: { temperature: 0 }, expected: [0, 1, 0, 0] },
  { name: 'top-k 1', logits: lnQ, options: { topK: 1 }, expected: [0, 0, 0, 1] },
  { name: 'top-k 3', logits: lnQ, options: { topK: 3 }, expected: [0, 2 / 9, 3 / 9, 4 / 9] },
  { name: 'top-k 4 = off', logits: lnQ, options: { topK: 4 }, expected: Q },
  { name: 'top-k 0 = off', logits: lnQ, options: { topK: 0 }, expected: Q },
  { name: 'top-k 2, boundary tie kept', logits: [1, 2, 2, 0], options: { topK: 2 }, expected: norm([0, 1, 1, 0]) },
  { name: 'top-k 1, tie kept', logits: [1, 2, 2, 0], options: { topK: 1 }, expected: [0, 0.5, 0.5, 0] },
  { name: 'top-p 0.39', logits: lnQ, options: { topP: 0.39 }, expected: [0, 0, 0, 1] },
  { name: 'top-p 0.41', logits: lnQ, options: { topP: 0.41 }, expected: [0, 0, 3 / 7, 4 / 7] },
  { name: 'top-p 0.69', logits: lnQ, options: { topP: 0.69 }, expected: [0, 0, 3 / 7, 4 / 7] },
  { name: 'top-p 0.71', logits: lnQ, options: { topP: 0.71 }, expected: [0, 2 / 9, 3 / 9, 4 / 9] },
  { name: 'top-p 0.95', logits: lnQ, options: { topP: 0.95 }, expected: Q },
  { name: 'top-p 1 = off', logits: lnQ, options: { topP: 1 }, expected: Q },
  { name: 'top-p tiny keeps the top token', logits: lnQ, options: { topP: 1e-9 }, expected: [0, 0, 0, 1] },
  { name: 'top-p all tied: all kept', logits: [0, 0, 0, 0], options: { topP: 0.3 }, expected: [0.25, 0.25, 0.25, 0.25] },
  { name: 'top-p tie group kept whole', logits: [0.4, 0.2, 0.2, 0.2].map(Math.log), options: { topP: 0.5 }, expected: [0.4, 0.2, 0.2, 0.2] },
  { name: 'top-p stops before a tie group', logits: [0.4, 0.2, 0.2, 0.2].map(Math.log), options: { topP: 0.35 }, expected: [1, 0, 0, 0] },
  { name: 'min-p 0.55', logits: lnQ, options: { minP: 0.55 }, expected: [0, 0, 3 / 7, 4 / 7] },
  { name: 'min-p 0.45', logits: lnQ, options: { minP: 0.45 }, expected: [0, 2 / 9, 3 / 9, 4 / 9] },
  { name: 'min-p 0.2', logits: lnQ, options: { minP: 0.2 }, expected: Q },
  { name: 'min-p 1 keeps the maxima (inclusive)', logits: [0, 1, 1, -1], options: { minP: 1 }, expected: [0, 0.5, 0.5, 0] },
  { name: 'min-p 0 = off', logits: lnQ, options: { minP: 0 }, expected: Q },
  { name: 'min-p with temperature 2', logits: lnQ, options: { temperature: 2, minP: 0.75 }, expected: norm([0, 0, Math.sqrt(0.3), Math.sqrt(0.4)]) },
  { name: '-Infinity masks are never revived', logits: [-Infinity, 0, 0, -Infinity], options: { temperature: 3 }, expected: [0, 0.5, 0.5, 0] },
  {
    // T 0.5: [.01 .04 .09 .16]/.30 → top-k 3 → top-p 0.8 keeps .16 and .09
    name: 'chain T 0.5 + top-k 3 + top-p 0.8',
    logits: lnQ,
    options: { temperature: 0.5, topK: 3, topP: 0.8 },
    expected: [0, 0, 0.09 / 0.25, 0.16 / 0.25],
  },
  {
    // top-p 0.8 first on the raw q keeps .2 .3 .4, then T 0.5 squares them
    name: 'custom order: top-p before temperature',
    logits: lnQ,
    options: { temperature: 0.5, topP: 0.8, order: ['top-p', 'temperature'] },
    expected: norm([0, 0.04, 0.09, 0.16]),
  },
  { name: 'V = 1', logits: [3], options: { temperature: 0.7, topK: 1, topP: 0.5, minP: 0.5 }, expected: [1] },
];

function norm(v: number[]): number[] {
  const s = v.reduce((a, b) => a + b, 0);
  return v.map((x) => x / s);
}

describe('reference tables', () => {
  it.each(TABLE)('$name', ({ logits, options, expected }) => {
    const p = reference.probabilities([logits], options)[0]!;
    expected.forEach((e, j) => expect(p[j]).toBeCloseTo(e, 6));
  });
});

describe.each(BACKENDS)('tensor tables on %s', (backend) => {
  backendSuite(backend);

  it.each(TABLE)('$name', async ({ logits, options, expected }) => {
    const x = tf.tensor2d([logits]);
    const p = createSampler(options).probabilities(x);
    const got = Array.from(await p.data());
    tf.dispose([x, p]);
    expected.forEach((e, j) => {
      if (e === 0) expect(got[j]).toBe(0);
      else expect(got[j]).toBeCloseTo(e, 5);
    });
  });

  it('greedy draws ignore the seed and pick the lowest index among maxima', async () => {
    const x = tf.tensor2d([[1, 3, 3, 0], lnQ]);
    for (const seed of [1, 2, 3]) {
      const ids = await createSampler({ temperature: 0, seed }).sampleIds(x);
      expect(Array.from(ids)).toEqual([1, 3]);
    }
    x.dispose();
  });

  it('a sampler with top-k 1 always draws the top token', async () => {
    const x = tf.tensor2d([lnQ, [0, 5, 1, 2]]);
    const s = createSampler({ topK: 1, temperature: 5, seed: 9 });
    for (let i = 0; i < 20; i++) expect(Array.from(await s.sampleIds(x))).toEqual([3, 1]);
    x.dispose();
  });

  it('names the chain like llama.cpp, with ? for disabled processors', () => {
    expect(createSampler({ temperature: 0.8, topK: 40, topP: 0.95 }).name).toBe('temperature → top-k → top-p → gumbel');
    expect(createSampler({}).name).toBe('gumbel');
  });
});
