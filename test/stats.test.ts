// softmax, entropy, distributionStats and the task presets: hand-computed tables, a float64
// twin on the article's logits, bad arguments (argument, rule, value), no tensor left behind.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  SamplingError,
  TASK_NAMES,
  TASK_PRESETS,
  createSampler,
  distributionStats,
  entropy,
  presetOptions,
  readDistributionStats,
  softmax,
  taskPreset,
  type SamplerOptions,
  type TaskName,
} from '../src/index.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS } from './helpers/backend.js';

const Q = [0.1, 0.2, 0.3, 0.4];
const lnQ = Q.map(Math.log);
const ARTICLE = [5, 3, 2, 1.5, 1, 0.5, 0.2, 0.1, 0.05, 0.01];
const H_Q_BITS = -Q.reduce((h, q) => h + q * Math.log2(q), 0); // 1.8464393…

function norm(v: number[]): number[] {
  const s = v.reduce((a, b) => a + b, 0);
  return v.map((x) => x / s);
}

/** float64 twin of softmax: exp((z − max) / T) / Σ on float32-rounded logits; T = 0 one-hot. */
function softmax64(z: number[], t: number): number[] {
  const x = z.map((v) => Math.fround(v));
  const m = Math.max(...x);
  if (t === 0) return x.map((_, j) => (j === x.indexOf(m) ? 1 : 0));
  const e = x.map((v) => Math.exp((v - m) / t));
  return norm(e);
}

const entropy64 = (p: number[]): number => -p.reduce((h, q) => (q > 0 ? h + q * Math.log2(q) : h), 0);

interface SoftmaxRow {
  name: string;
  logits: number[];
  t: number;
  expected: number[];
}

const SOFTMAX_TABLE: SoftmaxRow[] = [
  { name: 'T 1 = plain softmax', logits: lnQ, t: 1, expected: Q },
  { name: 'T 2 = square roots', logits: lnQ, t: 2, expected: norm(Q.map(Math.sqrt)) },
  { name: 'T 0.5 = squares', logits: lnQ, t: 0.5, expected: norm(Q.map((q) => q * q)) },
  { name: 'T 0 = one-hot at the max', logits: lnQ, t: 0, expected: [0, 0, 0, 1] },
  { name: 'T 0, tied maxima: lowest index', logits: [1, 3, 3, 0], t: 0, expected: [0, 1, 0, 0] },
  { name: '-Infinity masks get 0', logits: [-Infinity, 0, 0, -Infinity], t: 3, expected: [0, 0.5, 0.5, 0] },
  { name: 'masked, T 0', logits: [-Infinity, 0, 1, -Infinity], t: 0, expected: [0, 0, 1, 0] },
  // e / (1 + e) without overflow: the max is subtracted first
  { name: 'stable at 1000', logits: [1000, 999], t: 1, expected: [Math.E / (1 + Math.E), 1 / (1 + Math.E)] },
  { name: 'stable at -1000', logits: [-1000, -1001], t: 1, expected: [Math.E / (1 + Math.E), 1 / (1 + Math.E)] },
  { name: 'equal logits: uniform', logits: [7, 7, 7, 7], t: 0.3, expected: [0.25, 0.25, 0.25, 0.25] },
  { name: 'V = 1', logits: [3], t: 0.7, expected: [1] },
  ...[0.1, 0.5, 1, 1.5, 2].map((t) => ({ name: `article logits, T ${t}`, logits: ARTICLE, t, expected: softmax64(ARTICLE, t) })),
];

/** [label, probs row, expected bits] */
const ENTROPY_TABLE: [string, number[], number][] = [
  ['uniform V = 4: 2 bits', [0.25, 0.25, 0.25, 0.25], 2],
  ['uniform V = 10: log2 10', Array<number>(10).fill(0.1), Math.log2(10)],
  ['one-hot: 0', [0, 0, 1, 0], 0],
  ['half-half with masks: 1 bit', [0, 0.5, 0.5, 0], 1],
  ['Q = .1 .2 .3 .4', Q, H_Q_BITS],
  ['V = 1', [1], 0],
];

/** Runs f and checks that it throws a SamplingError naming `argument` and showing `value`. */
function expectSamplingError(f: () => unknown, argument: string, value: string, rule: RegExp = /must/): SamplingError {
  const before = tf.memory().numTensors;
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(tf.memory().numTensors).toBe(before);
  expect(err).toBeInstanceOf(SamplingError);
  const e = err as SamplingError;
  expect(e.argument).toBe(argument);
  expect(e.message).toContain(`\`${argument}\``);
  expect(e.message).toContain(value);
  expect(e.rule).toMatch(rule);
  return e;
}

/** Calls f, checks that exactly `created` tensors are alive afterwards (the results). */
function counted<T>(created: number, f: () => T): T {
  const before = tf.memory().numTensors;
  const out = f();
  expect(tf.memory().numTensors - before).toBe(created);
  return out;
}

describe.each(BACKENDS)('softmax, entropy, distributionStats on %s', (backend) => {
  backendSuite(backend);

  it.each(SOFTMAX_TABLE)('softmax: $name', async ({ logits, t, expected }) => {
    const x = tf.tensor2d([logits]);
    const p = counted(1, () => softmax(x, t));
    expect(p.shape).toEqual([1, logits.length]);
    expect(p.dtype).toBe('float32');
    const got = Array.from(await p.data());
    tf.dispose([x, p]);
    expected.forEach((e, j) => {
      if (e === 0 || e === 1) expect(got[j]).toBe(e);
      else expect(Math.abs(got[j]! - e)).toBeLessThanOrEqual(2e-6 + 2e-5 * e);
    });
  });

  it('softmax: per-row temperature, one row each of T 1, 0.5, 0, 2', async () => {
    const x = tf.tensor2d([lnQ, lnQ, lnQ, lnQ]);
    const p = counted(1, () => softmax(x, [1, 0.5, 0, 2]));
    const got = (await p.array()) as number[][];
    tf.dispose([x, p]);
    const expected = [Q, norm(Q.map((q) => q * q)), [0, 0, 0, 1], norm(Q.map(Math.sqrt))];
    expected.forEach((row, r) => row.forEach((e, j) => expect(got[r]![j]).toBeCloseTo(e, 5)));
  });

  it('softmax: default T is 1; a [V] input gives a [V] result', async () => {
    const x = tf.tensor1d(lnQ);
    const p = counted(1, () => softmax(x));
    expect(p.shape).toEqual([4]);
    const got = Array.from(await p.data());
    tf.dispose([x, p]);
    Q.forEach((q, j) => expect(got[j]).toBeCloseTo(q, 6));
  });

  it('softmax: rows with NaN, +Infinity or no finite logit are NaN rows, at T 1 and T 0', async () => {
    const x = tf.tensor2d([
      [1, NaN, 0],
      [1, Infinity, 0],
      [-Infinity, -Infinity, -Infinity],
      [0, 1, -Infinity],
    ]);
    for (const t of [1, 0, [1, 0, 1, 0]]) {
      const p = counted(1, () => softmax(x, t));
      const got = (await p.array()) as number[][];
      p.dispose();
      for (let r = 0; r < 3; r++) expect(got[r]!.every(Number.isNaN), `row ${r}, T ${String(t)}`).toBe(true);
      expect(got[3]!.every(Number.isFinite)).toBe(true);
    }
    x.dispose();
  });

  it('softmax: does not modify or dispose its input', async () => {
    const x = tf.tensor2d([ARTICLE]);
    const p = softmax(x, 0.5);
    expect(x.isDisposed).toBe(false);
    expect(Array.from(await x.data())).toEqual(ARTICLE.map(Math.fround));
    tf.dispose([x, p]);
  });

  it('softmax: max probability falls and entropy rises with T on the article logits', async () => {
    const ts = [0.1, 0.5, 1, 1.5, 2];
    const x = tf.tensor2d(ts.map(() => ARTICLE));
    const p = softmax(x, ts);
    const s = await readDistributionStats(p);
    tf.dispose([x, p]);
    for (let i = 1; i < ts.length; i++) {
      expect(s.maxProb[i]!).toBeLessThan(s.maxProb[i - 1]!);
      expect(s.entropy[i]!).toBeGreaterThan(s.entropy[i - 1]!);
    }
    ts.forEach((t, i) => expect(s.entropy[i]).toBeCloseTo(entropy64(softmax64(ARTICLE, t)), 4));
  });

  it.each(ENTROPY_TABLE)('entropy: %s', async (_label, row, bits) => {
    const q = tf.tensor2d([row]);
    const h = counted(1, () => entropy(q));
    expect(h.shape).toEqual([1]);
    const got = (await h.data())[0]!;
    tf.dispose([q, h]);
    if (bits === 0) expect(got).toBe(0);
    else expect(got).toBeCloseTo(bits, 5);
  });

  it('entropy: nats; [V] input gives [1]; a batch gives one value per row', async () => {
    const half = tf.tensor1d([0.5, 0.5]);
    const batch = tf.tensor2d([[0.25, 0.25, 0.25, 0.25], [1, 0, 0, 0], Q]);
    const nats = counted(1, () => entropy(half, 'nats'));
    const bits = counted(1, () => entropy(batch, 'bits'));
    expect(nats.shape).toEqual([1]);
    expect((await nats.data())[0]).toBeCloseTo(Math.LN2, 6);
    const b = Array.from(await bits.data());
    [2, 0, H_Q_BITS].forEach((e, r) => expect(b[r]).toBeCloseTo(e, 5));
    tf.dispose([half, batch, nats, bits]);
  });

  it('entropy: uniform over V = 1000 is log2 1000; a NaN row gives NaN', async () => {
    const q = tf.tensor2d([Array<number>(1000).fill(1e-3), [NaN, ...Array<number>(999).fill(0)]]);
    const h = entropy(q);
    const got = Array.from(await h.data());
    tf.dispose([q, h]);
    expect(got[0]).toBeCloseTo(Math.log2(1000), 3); // wasm sums 1000 float32 terms to ≈1e-4
    expect(got[1]).toBeNaN();
  });

  it('distributionStats: max probability, kept set, entropy, effective vocabulary', async () => {
    const q = tf.tensor2d([[0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25], [1, 0, 0, 0], Q, [0.5, NaN, 0.5, 0]]);
    const s = counted(4, () => distributionStats(q));
    for (const t of Object.values(s)) expect(t.shape).toEqual([5]);
    const [maxProb, kept, h, ppl] = await Promise.all([s.maxProb.data(), s.kept.data(), s.entropy.data(), s.perplexity.data()]);
    tf.dispose([q, ...Object.values(s)]);
    const expected = {
      maxProb: [0.5, 0.25, 1, 0.4],
      kept: [2, 4, 1, 4],
      entropy: [1, 2, 0, H_Q_BITS],
      perplexity: [2, 4, 1, 2 ** H_Q_BITS],
    };
    expected.maxProb.forEach((e, r) => expect(maxProb[r]).toBeCloseTo(e, 6));
    expected.kept.forEach((e, r) => expect(kept[r]).toBe(e));
    expected.entropy.forEach((e, r) => expect(h[r]).toBeCloseTo(e, 5));
    expected.perplexity.forEach((e, r) => expect(ppl[r]).toBeCloseTo(e, 4));
    for (const field of [maxProb, kept, h, ppl]) expect(field[4]).toBeNaN(); // the NaN row
  });

  it('readDistributionStats: the same numbers, read once, nothing left allocated', async () => {
    const q = tf.tensor1d([0.5, 0.5, 0, 0]);
    const before = tf.memory().numTensors;
    const s = await readDistributionStats(q);
    expect(tf.memory().numTensors).toBe(before);
    q.dispose();
    expect(s.maxProb[0]).toBeCloseTo(0.5, 6);
    expect(s.kept).toEqual([2]);
    expect(s.entropy[0]).toBeCloseTo(1, 5);
    expect(s.perplexity[0]).toBeCloseTo(2, 4);
  });

  it('the helpers agree with the sampler: softmax(T) = probabilities({ temperature: T })', async () => {
    const x = tf.tensor2d([ARTICLE, ARTICLE, ARTICLE]);
    const t = [0.5, 0, 1.5];
    const a = softmax(x, t);
    const b = createSampler({ temperature: t }).probabilities(x);
    const [pa, pb] = [Array.from(await a.data()), Array.from(await b.data())];
    tf.dispose([x, a, b]);
    pa.forEach((v, i) => expect(Math.abs(v - pb[i]!)).toBeLessThanOrEqual(1e-6));
  });

  it('bad arguments throw SamplingError naming argument, rule and value, leaving no tensor', () => {
    const x = tf.tensor2d([lnQ, lnQ]);
    const ints = tf.tensor2d([[1, 2]], [1, 2], 'int32');
    const cube = tf.zeros([1, 2, 2]);
    const gone = tf.tensor1d([1, 2]);
    gone.dispose();
    expectSamplingError(() => softmax(x, -0.5), 'temperature', '-0.5', /finite number >= 0/);
    expectSamplingError(() => softmax(x, NaN), 'temperature', 'NaN');
    expectSamplingError(() => softmax(x, Infinity), 'temperature', 'Infinity');
    expectSamplingError(() => softmax(x, [1, -2]), 'temperature[1]', '-2');
    expectSamplingError(() => softmax(x, [1, 1, 1]), 'temperature', 'an array of length 3', /one value per row \(batch size 2\)/);
    expectSamplingError(() => softmax(x, '1' as unknown as number), 'temperature', '"1"');
    expectSamplingError(() => softmax(ints as tf.Tensor2D), 'logits', 'int32', /dtype float32/);
    expectSamplingError(() => softmax(cube as unknown as tf.Tensor2D), 'logits', 'rank 3', /rank 1/);
    expectSamplingError(() => softmax(gone), 'logits', 'disposed', /not be disposed/);
    expectSamplingError(() => softmax([1, 2] as unknown as tf.Tensor1D), 'logits', 'an array of length 2', /tf.Tensor/);
    expectSamplingError(() => entropy(x, 'bit' as 'bits'), 'unit', '"bit"', /"bits" or "nats"/);
    expectSamplingError(() => entropy(ints as tf.Tensor2D), 'probs', 'int32', /dtype float32/);
    expectSamplingError(() => distributionStats(cube as unknown as tf.Tensor2D), 'probs', 'rank 3');
    tf.dispose([x, ints, cube]);
  });

  it('readDistributionStats rejects bad input before allocating anything', async () => {
    const ints = tf.tensor1d([1, 2], 'int32');
    const before = tf.memory().numTensors;
    await expect(readDistributionStats(ints as unknown as tf.Tensor1D)).rejects.toThrow(SamplingError);
    expect(tf.memory().numTensors).toBe(before);
    ints.dispose();
  });

  it.each(TASK_NAMES)('preset %s samples within its kept set', async (task) => {
    const x = tf.tensor2d([ARTICLE]);
    const sampler = createSampler(presetOptions(task, { seed: 11 }));
    const p = sampler.probabilities(x);
    const probs = Array.from(await p.data());
    const ids = await sampler.sampleIds(x);
    tf.dispose([x, p]);
    expect(probs[ids[0]!]!).toBeGreaterThan(0);
    expect(probs[0]).toBeCloseTo(Math.max(...probs), 6);
  });
});

describe('task presets', () => {
  const ARTICLE_RANGES: Record<TaskName, [number, number]> = {
    code: [0.2, 0.5],
    translation: [0.3, 0.7],
    summarisation: [0.5, 0.8],
    dialogue: [0.7, 1.0],
    creative: [0.8, 1.2],
    brainstorming: [1.0, 1.5],
  };

  it('cover the article table, in its order, with a temperature inside each range', () => {
    expect([...TASK_NAMES]).toEqual(Object.keys(ARTICLE_RANGES));
    for (const task of TASK_NAMES) {
      const preset = TASK_PRESETS[task];
      expect(preset.task).toBe(task);
      expect([...preset.range]).toEqual(ARTICLE_RANGES[task]);
      const t = preset.options.temperature as number;
      expect(t).toBeGreaterThanOrEqual(preset.range[0]);
      expect(t).toBeLessThanOrEqual(preset.range[1]);
      expect(preset.options.seed).toBeUndefined();
      expect(() => createSampler(preset.options)).not.toThrow();
      expect(taskPreset(task)).toBe(preset);
    }
  });

  it('the hand-picked values', () => {
    const table = TASK_NAMES.map((t) => [t, TASK_PRESETS[t].options]);
    expect(table).toEqual([
      ['code', { temperature: 0.35, minP: 0.05 }],
      ['translation', { temperature: 0.5, minP: 0.05 }],
      ['summarisation', { temperature: 0.65, minP: 0.05 }],
      ['dialogue', { temperature: 0.85, minP: 0.05 }],
      ['creative', { temperature: 1, minP: 0.05 }],
      ['brainstorming', { temperature: 1.25, minP: 0.05 }],
    ]);
  });

  it('are frozen; presetOptions returns a fresh merged copy', () => {
    expect(Object.isFrozen(TASK_PRESETS)).toBe(true);
    expect(Object.isFrozen(TASK_PRESETS.code.options)).toBe(true);
    expect(Object.isFrozen(TASK_PRESETS.code.range)).toBe(true);
    const o: SamplerOptions = presetOptions('code', { seed: 3, temperature: 0.2 });
    expect(o).toEqual({ temperature: 0.2, minP: 0.05, seed: 3 });
    expect(TASK_PRESETS.code.options.temperature).toBe(0.35);
    expect(presetOptions('dialogue')).toEqual(TASK_PRESETS.dialogue.options);
    expect(presetOptions('dialogue')).not.toBe(TASK_PRESETS.dialogue.options);
  });

  it('unknown tasks and bad overrides throw SamplingError naming argument, rule and value', () => {
    const e = expectSamplingError(() => presetOptions('poetry' as TaskName), 'task', '"poetry"', /must be one of code, translation/);
    expect(e.message).toContain('brainstorming');
    expectSamplingError(() => taskPreset('toString' as TaskName), 'task', '"toString"');
    expectSamplingError(() => presetOptions(undefined as unknown as TaskName), 'task', 'undefined');
    expectSamplingError(() => presetOptions('code', { temperature: -1 }), 'temperature', '-1');
    expectSamplingError(() => presetOptions('creative', { minP: 2 }), 'minP', '2');
    expectSamplingError(() => presetOptions('code', { top_p: 0.9 } as SamplerOptions), 'overrides', 'top_p');
    expectSamplingError(() => presetOptions('code', null as unknown as SamplerOptions), 'overrides', 'null');
  });
});
