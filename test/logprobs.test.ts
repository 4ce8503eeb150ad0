// Log-probabilities (sampleWithLogprobs / sampleIdsWithLogprobs): hand-computed tables, agreement
// with the float64 reference (raw and processed, the top alternatives in both modes), the same
// tokens as sample(), one read-back per step, greedy rows, masks, invalid rows, bad options, and
// no tensor left behind.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { kernelLog } from './helpers/kernel-log.js';
import {
  InvalidRowsError,
  SamplingError,
  createSampler,
  generate,
  generateStream,
  reference,
  score,
  type GenerateStep,
  type LogitsProcessor,
  type SamplerOptions,
} from '../src/index.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS } from './helpers/backend.js';
import { makeRows, rng } from './helpers/logits.js';
import { bigram } from './helpers/bigram.js';
import { expectClose } from './helpers/logprob-check.js';
import { countReadsAsync, countReads, describeReads, readBacks } from './helpers/read-counter.js';

const Q = [0.1, 0.2, 0.3, 0.4];
const lnQ = Q.map(Math.log);

/** Runs f and checks that it throws a SamplingError naming `argument`, leaving no tensor behind. */
async function expectError(f: () => unknown, argument: string): Promise<void> {
  const before = tf.memory().numTensors;
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  expect(tf.memory().numTensors).toBe(before);
  expect(err).toBeInstanceOf(SamplingError);
  expect((err as SamplingError).argument).toBe(argument);
}

const MIXES: [string, SamplerOptions][] = [
  ['T 1', { seed: 3 }],
  ['T 0.7 + top-k 8 + top-p 0.9', { temperature: 0.7, topK: 8, topP: 0.9, seed: 5 }],
  [
    'per-row: greedy, min-p, typical-p, top-n-sigma',
    { temperature: [0, 0.8, 1.2, 1], minP: [0, 0.05, 0, 0], typicalP: [1, 1, 0.9, 1], topNSigma: [0, 0, 0, 1.5], seed: [1, 2, 3, 4] },
  ],
  [
    'llama.cpp order with XTC and a bias',
    {
      order: 'llama.cpp',
      topK: 40,
      topP: 0.95,
      minP: 0.05,
      temperature: 0.8,
      xtc: { threshold: 0.05, probability: 1 },
      logitBias: { 3: -Infinity, 7: 2 },
      seed: 9,
    },
  ],
  ['Mirostat v2', { mirostat: { version: 2, tau: 3, eta: 0.1 }, seed: 11 }],
  ['Mirostat v1', { mirostat: { version: 1, tau: 4, eta: 0.2 }, temperature: 0.9, seed: 12 }],
  [
    'dynamic temperature alone, and first before top-k / top-p',
    { dynamicTemperature: { range: 0.5 }, temperature: 0.8, topK: [0, 0, 30, 30], topP: [1, 1, 0.9, 0.9], seed: 13 },
  ],
  [
    "order 'llama.cpp' with dynamic temperature last",
    { order: 'llama.cpp', topK: 40, topP: 0.95, minP: 0.05, temperature: 0.8, dynamicTemperature: { range: 0.4 }, seed: 14 },
  ],
  [
    'typical-p, ε, η with minTokensToKeep',
    { typicalP: 0.8, epsilonCutoff: [3e-3, 0, 3e-3, 0], etaCutoff: [0, 2e-2, 0, 2e-2], minTokensToKeep: 3, temperature: 1.1, seed: 15 },
  ],
  ['penalties over the drawn tokens', { repetitionPenalty: 1.3, frequencyPenalty: 0.4, presencePenalty: 0.2, temperature: 1.2, seed: 16 }],
];

describe.each(BACKENDS)('logprobs on %s', (backend) => {
  backendSuite(backend);

  it('hand table: log q under T 1, the top three in order, both modes', async () => {
    const x = tf.tensor2d([lnQ]);
    const s = createSampler({ seed: 1 });
    const out = await s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 3 });
    const id = out.ids[0]!;
    expect(out.raw[0]).toBeCloseTo(lnQ[id]!, 5);
    expect(out.processed[0]).toBeCloseTo(lnQ[id]!, 5);
    expect(Array.from(out.topIds[0]!)).toEqual([3, 2, 1]);
    expectClose(out.topLogprobs[0]!, [lnQ[3]!, lnQ[2]!, lnQ[1]!], 'top');
    // top-k 2 at T 0.5: the processed distribution is {0.3², 0.4²} renormalised.
    const t = createSampler({ seed: 1, temperature: 0.5, topK: 2 });
    const p = await t.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 4, mode: 'processed' });
    const z = 0.09 + 0.16;
    expect(Array.from(p.topIds[0]!)).toEqual([3, 2, 0, 1]);
    expectClose(p.topLogprobs[0]!, [Math.log(0.16 / z), Math.log(0.09 / z), -Infinity, -Infinity], 'processed top');
    expect(p.processed[0]).toBeCloseTo(Math.log((p.ids[0] === 3 ? 0.16 : 0.09) / z), 5);
    expect(p.raw[0]).toBeCloseTo(lnQ[p.ids[0]!]!, 5);
    x.dispose();
  });

  it.each(MIXES)('agrees with reference.logprobs over 6 steps: %s', async (_name, opts) => {
    const rows = makeRows('peaky', 4, 257, `lp-${backend}`).map((r) => Array.from(r));
    const x = tf.tensor2d(rows);
    const s = createSampler(opts);
    let mu: number[] | undefined;
    const history: number[][] = rows.map(() => []);
    const fusedHere = (backend === 'cpu' || backend === 'wasm') && process.env.TFJS_SAMPLING_FUSED !== '0';
    for (let step = 0; step < 6; step++) {
      // raw, processed, then processed without the raw column (raw: false: NaN there).
      const mode = step % 3 === 0 ? 'raw' : 'processed';
      const lp = { topLogprobs: 5, mode, raw: step % 3 !== 2 } as const;
      const got = await s.sampleIdsWithLogprobs(x, undefined, lp);
      // cpu / wasm: the fused kernel computes them (no tensor-op chain).
      if (fusedHere) expect(s.lastPath).toBe(`fused:${backend}`);
      const context = { ...(mu ? { mirostatMu: mu } : {}), ...(opts.repetitionPenalty ? { history: history.map((h) => h.slice()) } : {}) };
      const want = reference.logprobs(rows, opts, step, context, lp);
      if (!lp.raw) want.raw.forEach((v) => expect(v).toBeNaN());
      want.ids.forEach((id, r) => history[r]!.push(id));
      expect(Array.from(got.ids), `step ${step} ids`).toEqual(want.ids);
      expectClose(got.raw, want.raw, `step ${step} raw`);
      expectClose(got.processed, want.processed, `step ${step} processed`);
      got.topIds.forEach((ids, r) => expect(Array.from(ids), `step ${step} row ${r} top ids (${mode})`).toEqual(want.topIds[r]));
      got.topLogprobs.forEach((v, r) => expectClose(v, want.topLogprobs[r]!, `step ${step} row ${r} top (${mode})`));
      if (opts.mirostat) mu = reference.nextMirostatMu(rows, opts, want.ids, step, mu ? { mirostatMu: mu } : {});
    }
    s.dispose();
    x.dispose();
  });

  it('draws the tokens sample() draws (same seeds and steps, a bias, a mask, Mirostat), and advances the step', async () => {
    const rows = makeRows('peaky', 3, 300, `lp-same-${backend}`).map((r) => Array.from(r));
    const x = tf.tensor2d(rows);
    for (const opts of [
      { temperature: 0.9, topK: 20, topP: 0.9, seed: [4, 5, 6] },
      { mirostat: { version: 1 as const, tau: 4, eta: 0.2 }, seed: 8 },
      { repetitionPenalty: 1.3, presencePenalty: 0.5, temperature: 1.1, seed: 2 },
    ]) {
      const a = createSampler(opts);
      const b = createSampler(opts);
      a.begin([[1, 2], [3], []]);
      b.begin([[1, 2], [3], []]);
      const W = Math.ceil(300 / 32);
      const words = new Int32Array(3 * W).fill(-1);
      for (let r = 0; r < 3; r++) words[r * W] = 0; // tokens 0..31 masked
      for (let step = 0; step < 5; step++) {
        const context = step === 2 ? { mask: words } : undefined;
        const ids = await a.sampleIds(x, context);
        const lp = await b.sampleIdsWithLogprobs(x, context);
        expect(Array.from(lp.ids), `${JSON.stringify(opts)} step ${step}`).toEqual(Array.from(ids));
        if (step === 2) lp.ids.forEach((id) => expect(id).toBeGreaterThanOrEqual(32));
        expect(b.step).toBe(a.step);
      }
      a.dispose();
      b.dispose();
    }
    x.dispose();
  });

  it('reads back nothing inside sampleWithLogprobs and once in sampleIdsWithLogprobs', async () => {
    const rows = makeRows('peaky', 4, 1000, `lp-reads-${backend}`);
    const x = tf.tensor2d(
      rows.flatMap((r) => Array.from(r)),
      [4, 1000],
    );
    for (const opts of [
      { seed: 1, temperature: 0.8, topK: 50, topP: 0.95 },
      { seed: 2, topP: 0.9 },
      { seed: 3, minP: 0.1, temperature: [0, 1, 1, 1] },
    ]) {
      const s = createSampler(opts);
      for (const [mode, raw] of [
        ['raw', true],
        ['processed', true],
        ['processed', false],
      ] as const) {
        const { result: packed, reads } = countReads(() => s.sampleWithLogprobs(x, undefined, { topLogprobs: 5, mode, raw }));
        expect(packed.shape).toEqual([4, 13]);
        expect(readBacks(reads), describeReads(reads)).toEqual([]);
        packed.dispose();
        const counted = await countReadsAsync(() => s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 5, mode, raw }));
        expect(readBacks(counted.reads).length, describeReads(counted.reads)).toBe(1);
      }
      s.dispose();
    }
    x.dispose();
  });

  it('many alternatives (n = 70 and n = V = 150) on rows with ties and -Infinity: the reference, both modes', async () => {
    const rows = makeRows('ties', 3, 150, `lp-ties-${backend}`).map((r) => Array.from(r, (v, j) => (j % 7 === 3 ? -Infinity : v)));
    const x = tf.tensor2d(rows);
    const opts: SamplerOptions = { temperature: [0.8, 0, 1.3], topK: [0, 0, 20], minP: [0.02, 0, 0], seed: [1, 2, 3] };
    const s = createSampler(opts);
    let step = 0;
    for (const n of [70, 150]) {
      for (const mode of ['raw', 'processed'] as const) {
        const got = await s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: n, mode });
        const want = reference.logprobs(rows, opts, step++, {}, { topLogprobs: n, mode });
        expect(Array.from(got.ids)).toEqual(want.ids);
        got.topIds.forEach((ids, r) => expect(Array.from(ids), `n ${n} ${mode} row ${r}`).toEqual(want.topIds[r]));
        got.topLogprobs.forEach((v, r) => expectClose(v, want.topLogprobs[r]!, `n ${n} ${mode} row ${r}`));
      }
    }
    x.dispose();
  });

  it('the top alternatives of wide rows (V = 4099, n = 8): ties, few finite tokens, a partial last window — the reference; webgl sorts no row for them', async () => {
    const V = 4099;
    const u = rng(`lp-wide-${backend}`);
    const rows = [
      Array.from({ length: V }, (_, j) => Math.fround(-1.1 * Math.log(1 + j) + (j % 97 === 5 ? 0 : 0.2 * u()))),
      // Three finite tokens, far apart: the top 8 lists five -Infinity ones, the row's first.
      Array.from({ length: V }, (_, j) => (j === 4098 ? 2 : j === 1500 ? 2 : j === 700 ? 1 : -Infinity)),
      Array.from({ length: V }, (_, j) => (j % 11 === 0 ? -Infinity : Math.round(3 * u()))), // ties everywhere
    ];
    const x = tf.tensor2d(rows);
    const opts: SamplerOptions = { temperature: [0.8, 1, 1.3], topK: [0, 0, 30], seed: [1, 2, 3] };
    const s = createSampler(opts);
    let step = 0;
    const { wide } = await kernelLog(async () => {
      for (const mode of ['raw', 'processed'] as const) {
        const before = tf.memory().numTensors;
        const got = await s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 8, mode });
        expect(tf.memory().numTensors).toBe(before);
        const want = reference.logprobs(rows, opts, step++, {}, { topLogprobs: 8, mode });
        expect(Array.from(got.ids)).toEqual(want.ids);
        got.topIds.forEach((ids, r) => expect(Array.from(ids), `${mode} row ${r}`).toEqual(want.topIds[r]));
        got.topLogprobs.forEach((v, r) => expectClose(v, want.topLogprobs[r]!, `${mode} row ${r}`));
      }
    }, 3 * V);
    // webgl's tf.topk would sort each whole row (the window top-k sorts a few windows instead).
    if (backend === 'webgl') expect(wide.filter((n) => n === 'TopK')).toEqual([]);
    x.dispose();
  });

  it.skipIf(backend !== 'webgpu')(
    'webgpu packs in one kernel after the draw: no [B, V] program beyond sample()’s but that one, a few small ops; the reference, both modes, n 0 to 20 (webgpu only)',
    async () => {
      const V = 4099;
      const u = rng('lp-pack-webgpu');
      const rows = [
        Array.from({ length: V }, (_, j) => Math.fround(-1.1 * Math.log(1 + j) + 0.2 * u())),
        Array.from({ length: V }, (_, j) => (j % 11 === 0 ? -Infinity : Math.round(3 * u()))), // ties
        Array.from({ length: V }, (_, j) => (j === 4098 || j === 1500 ? 2 : j === 700 ? 1 : -Infinity)), // three finite
        Array.from({ length: V }, () => Math.fround(0.5 * u())),
      ];
      const x = tf.tensor2d(rows);
      const opts: SamplerOptions = { temperature: [0.8, 0, 1.3, 1], topK: [0, 0, 30, 40], topP: [0.9, 1, 1, 0.95], minP: [0, 0, 0, 0.01], seed: 9 };
      const s = createSampler(opts);
      const plain = await kernelLog(() => s.sample(x).dispose(), 4 * V);
      let step = 1;
      for (const [n, mode] of [
        [0, 'raw'],
        [5, 'raw'],
        [5, 'processed'],
        [20, 'raw'],
        [20, 'processed'],
      ] as const) {
        const before = tf.memory().numTensors;
        const lp = await kernelLog(() => s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: n, mode }), 4 * V);
        expect(tf.memory().numTensors).toBe(before);
        expect(s.lastPath).toBe('fused:webgpu');
        expect(lp.wide, `n ${n} ${mode}`).toEqual([...plain.wide, 'TfjsSamplingLogprobStats']);
        expect(lp.names.length, `n ${n} ${mode}: ${lp.names.length} kernels, sample() ${plain.names.length}`).toBeLessThanOrEqual(plain.names.length + 8);
        const got = lp.value;
        const want = reference.logprobs(rows, opts, step++, {}, { topLogprobs: n, mode });
        expect(Array.from(got.ids)).toEqual(want.ids);
        expectClose(got.raw, want.raw, `n ${n} ${mode} raw`);
        expectClose(got.processed, want.processed, `n ${n} ${mode} processed`);
        got.topIds.forEach((ids, r) => expect(Array.from(ids), `n ${n} ${mode} row ${r}`).toEqual(want.topIds[r]));
        got.topLogprobs.forEach((v, r) => expectClose(v, want.topLogprobs[r]!, `n ${n} ${mode} row ${r}`));
      }
      x.dispose();
    },
  );

  it('greedy rows: processed 0 for the token, -Infinity for the rest; ties in index order', async () => {
    const x = tf.tensor2d([
      [1, 3, 3, 0, 3],
      [0, 2, 1, 2, -Infinity],
    ]);
    const s = createSampler({ temperature: 0, seed: 1 });
    const p = await s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 5, mode: 'processed' });
    expect(Array.from(p.ids)).toEqual([1, 1]);
    expect(Array.from(p.processed)).toEqual([0, 0]);
    expect(Array.from(p.topIds[0]!)).toEqual([1, 0, 2, 3, 4]);
    expect(Array.from(p.topLogprobs[0]!)).toEqual([0, -Infinity, -Infinity, -Infinity, -Infinity]);
    const r = await s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 4 });
    expect(Array.from(r.topIds[0]!)).toEqual([1, 2, 4, 0]);
    expect(Array.from(r.topIds[1]!)).toEqual([1, 3, 2, 0]);
    expect(r.topLogprobs[1]![0]).toBe(r.topLogprobs[1]![1]);
    const want = reference.logprobs(
      [
        [1, 3, 3, 0, 3],
        [0, 2, 1, 2, -Infinity],
      ],
      { temperature: 0, seed: 1 },
      1,
      {},
      { topLogprobs: 4 },
    );
    expectClose(r.raw, want.raw, 'raw');
    x.dispose();
  });

  it('masked and filtered tokens: -Infinity; the processed distribution sums to 1 over every token', async () => {
    const x = tf.tensor2d([[0.5, -Infinity, 1.5, 0, -1, 2]]);
    const s = createSampler({ topK: 3, temperature: 1.5, seed: 4 });
    const p = await s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 6, mode: 'processed' });
    const top = p.topLogprobs[0]!;
    expect(Array.from(p.topIds[0]!)).toEqual([5, 2, 0, 1, 3, 4]);
    expect(Array.from(top.slice(3))).toEqual([-Infinity, -Infinity, -Infinity]);
    expect(top.reduce((a, v) => a + Math.exp(v), 0)).toBeCloseTo(1, 6);
    const r = await s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 6 });
    expect(r.topIds[0]![5]).toBe(1);
    expect(r.topLogprobs[0]![5]).toBe(-Infinity);
    expect(r.topLogprobs[0]!.reduce((a, v) => a + Math.exp(v), 0)).toBeCloseTo(1, 6);
    x.dispose();
  });

  it('invalid rows: an InvalidRowsError under "error" (nothing left behind); NaN and id -1 under "uniform"', async () => {
    const x = tf.tensor2d([
      [1, NaN, 0],
      [1, 2, 3],
      [-Infinity, -Infinity, -Infinity],
    ]);
    const before = tf.memory().numTensors;
    await expect(createSampler({ seed: 1 }).sampleIdsWithLogprobs(x)).rejects.toBeInstanceOf(InvalidRowsError);
    expect(tf.memory().numTensors).toBe(before);
    const s = createSampler({ seed: 1, invalidRows: 'uniform' });
    const p = await s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 2, mode: 'processed' });
    expect(Number.isNaN(p.raw[0]) && Number.isNaN(p.processed[0]) && Number.isNaN(p.raw[2]) && Number.isNaN(p.processed[2])).toBe(true);
    expect(Array.from(p.topIds[0]!)).toEqual([-1, -1]);
    expect(Number.isFinite(p.raw[1]) && Number.isFinite(p.processed[1])).toBe(true);
    // A row a processor empties: raw stays defined (the model's distribution), processed is NaN.
    const ban: LogitsProcessor = {
      name: 'ban-all',
      apply: (st) => ({ ...st, logits: tf.fill(st.logits.shape, -Infinity) as tf.Tensor2D }),
      reference: (st) => ({ ...st, logits: st.logits.map((z) => z.map(() => -Infinity)) }),
    };
    const y = tf.tensor2d([[1, 2, 3]]);
    const q = await createSampler({ seed: 2, invalidRows: 'uniform', processors: [ban] }).sampleIdsWithLogprobs(y, undefined, { topLogprobs: 1 });
    const want = reference.logprobs([[1, 2, 3]], { seed: 2, invalidRows: 'uniform', processors: [ban] }, 0, {}, { topLogprobs: 1 });
    expect(Array.from(q.ids)).toEqual(want.ids);
    expectClose(q.raw, want.raw, 'raw');
    expect(Number.isNaN(q.processed[0])).toBe(true);
    expect(Array.from(q.topIds[0]!)).toEqual([2]);
    tf.dispose([x, y]);
  });

  it('bad options: a SamplingError naming the option, nothing left behind, the step unchanged', async () => {
    const x = tf.tensor2d([lnQ]);
    const s = createSampler({ seed: 1 });
    await expectError(() => s.sampleWithLogprobs(x, undefined, { topLogprobs: -1 }), 'topLogprobs');
    await expectError(() => s.sampleWithLogprobs(x, undefined, { topLogprobs: 1.5 }), 'topLogprobs');
    await expectError(() => s.sampleWithLogprobs(x, undefined, { topLogprobs: 5 }), 'topLogprobs');
    await expectError(() => s.sampleWithLogprobs(x, undefined, { mode: 'logits' as 'raw' }), 'mode');
    await expectError(() => s.sampleWithLogprobs(x, undefined, 3 as never), 'logprobs');
    await expectError(() => s.sampleWithLogprobs(x, undefined, { raw: false }), 'raw'); // mode 'raw' needs them
    await expectError(() => s.sampleWithLogprobs(x, undefined, { mode: 'processed', raw: 0 as never }), 'raw');
    await expectError(() => s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: -1 }), 'topLogprobs');
    expect(s.step).toBe(0);
    expect(() => reference.logprobs([lnQ], { seed: 1 }, 0, {}, { topLogprobs: 9 })).toThrow(SamplingError);
    expect(() => reference.logprobs([lnQ], { seed: 1 }, 0, {}, { raw: false })).toThrow(SamplingError);
    x.dispose();
  });

  it('a [V] input is one row; an empty batch gives [0, 3 + 2n]', async () => {
    const x = tf.tensor1d(lnQ);
    const p = await createSampler({ seed: 1 }).sampleIdsWithLogprobs(x, undefined, { topLogprobs: 2 });
    expect(p.ids.length).toBe(1);
    x.dispose();
    const e = tf.zeros([0, 4]);
    const packed = createSampler({ seed: 1 }).sampleWithLogprobs(e, undefined, { topLogprobs: 2 });
    expect(packed.shape).toEqual([0, 7]);
    tf.dispose([e, packed]);
  });

  describe('in generate() and score()', () => {
    const V = 40;
    const TABLE = makeRows('peaky', V, V, 'lp-table').map((r) => Array.from(r));
    const prompts = [[1, 2], [3], [4, 5, 6]];
    const opts: SamplerOptions = { temperature: 0.9, topK: 12, topP: 0.95, seed: [7, 8, 9] };

    it('generate returns raw and processed log-probabilities per token (the reference at each step), the same tokens as without them, one read-back per step', async () => {
      const table = tf.tensor2d(TABLE);
      const plain = await generate(bigram(table), { prompts, padId: 0, maxNewTokens: [6, 3, 6], stopTokens: [0], sampler: opts });
      const steps: GenerateStep[] = [];
      const { result, reads } = await countReadsAsync(() =>
        generate(bigram(table), {
          prompts,
          padId: 0,
          maxNewTokens: [6, 3, 6],
          stopTokens: [0],
          sampler: opts,
          logprobs: { topLogprobs: 3, mode: 'processed' },
          onStep: (s) => void steps.push(s),
        }),
      );
      expect(result.tokens).toEqual(plain.tokens);
      expect(readBacks(reads).length, describeReads(reads)).toBe(result.steps);
      const lps = result.logprobs!;
      for (let r = 0; r < prompts.length; r++) {
        expect(lps[r]!.length).toBe(result.tokens[r]!.length);
        result.tokens[r]!.forEach((_id, i) => {
          const last = i === 0 ? prompts[r]!.at(-1)! : result.tokens[r]![i - 1]!;
          const rowOpts = { temperature: 0.9, topK: 12, topP: 0.95, seed: (opts.seed as number[])[r]! };
          // Row r's stream is its own (key from its seed, row 0 of a batch of one; the step i).
          const want = reference.logprobs([TABLE[last]!], { ...rowOpts, seed: [rowOpts.seed] }, i, {}, { topLogprobs: 3, mode: 'processed' });
          const got = lps[r]![i]!;
          expectClose([got.raw, got.processed], [want.raw[0]!, want.processed[0]!], `row ${r} token ${i}`);
          expect(got.top.map((t) => t.id)).toEqual(want.topIds[0]);
          expectClose(
            got.top.map((t) => t.logprob),
            want.topLogprobs[0]!,
            `row ${r} token ${i} top`,
          );
        });
      }
      // Streamed: rows finished before a step hold NaN there.
      expect(steps.length).toBe(result.steps);
      for (const st of steps) {
        expect(st.logprobs).toBeDefined();
        st.logprobs!.raw.forEach((v, r) => {
          const generated = result.tokens[r]!.length > st.step;
          expect(Number.isNaN(v), `step ${st.step} row ${r}`).toBe(!generated);
        });
      }
      table.dispose();
    });

    it('score gives the raw log-probabilities generate reported for the same tokens, in one batch of rows of different lengths', async () => {
      const table = tf.tensor2d(TABLE);
      const gen = await generate(bigram(table), { prompts, padId: 0, maxNewTokens: 5, sampler: { temperature: 1.2, seed: 3 }, logprobs: true });
      const { result: scored, reads } = await countReadsAsync(() => score(bigram(table), { prompts, padId: 0, continuations: gen.tokens }));
      expect(readBacks(reads).length).toBe(5);
      gen.tokens.forEach((_row, r) => {
        expectClose(
          scored.logprobs[r]!,
          gen.logprobs![r]!.map((t) => t.raw),
          `row ${r}`,
        );
        expect(scored.total[r]).toBeCloseTo(
          scored.logprobs[r]!.reduce((a, v) => a + v, 0),
          5,
        );
      });
      // By hand: a one-token continuation is the log-softmax of the prompt's last token's line.
      const one = await score(bigram(table), { prompts: [[2]], padId: 0, continuations: [[17]] });
      const line = TABLE[2]!.map(Math.fround);
      const m = Math.max(...line);
      const lse = m + Math.log(line.reduce((a, v) => a + Math.exp(v - m), 0));
      expect(one.logprobs[0]![0]).toBeCloseTo(line[17]! - lse, 5);
      // Empty continuations score 0.
      const none = await score(bigram(table), { prompts: [[2], [3]], padId: 0, continuations: [[], [5]] });
      expect(none.logprobs[0]).toEqual([]);
      expect(none.total[0]).toBe(0);
      table.dispose();
    });

    it('bad logprobs and continuations: a SamplingError naming the argument, nothing left behind', async () => {
      const table = tf.tensor2d(TABLE);
      const m = bigram(table);
      await expectError(() => generate(m, { prompts, padId: 0, maxNewTokens: 2, logprobs: { topLogprobs: -2 } }), 'logprobs.topLogprobs');
      await expectError(() => generate(m, { prompts, padId: 0, maxNewTokens: 2, logprobs: { mode: 'x' as 'raw' } }), 'logprobs.mode');
      await expectError(() => generate(m, { prompts, padId: 0, maxNewTokens: 2, logprobs: 3 as never }), 'logprobs');
      await expectError(() => generate(m, { prompts, padId: 0, maxNewTokens: 2, logprobs: { raw: false } }), 'logprobs.raw');
      await expectError(() => score(m, { prompts, padId: 0, continuations: [[1], [2]] }), 'continuations');
      await expectError(() => score(m, { prompts, padId: 0, continuations: [[1], [2], [V]] }), 'continuations[2][0]');
      await expectError(() => score(m, { prompts, padId: 0, continuations: [[1], [-2], [3]] }), 'continuations[1][0]');
      await expectError(() => score(m, { prompts, padId: 0, continuations: 'abc' as never }), 'continuations');
      table.dispose();
    });

    it('raw: false: generate gives the same tokens and processed log-probabilities, raw NaN', async () => {
      const table = tf.tensor2d(TABLE);
      const run = (raw: boolean) =>
        generate(bigram(table), { prompts, padId: 0, maxNewTokens: 4, sampler: opts, logprobs: { topLogprobs: 2, mode: 'processed', raw } });
      const full = await run(true);
      const lean = await run(false);
      expect(lean.tokens).toEqual(full.tokens);
      // One log-probability per token in both (the loop below would pass over missing ones).
      expect(full.tokens.every((t) => t.length > 0)).toBe(true);
      expect(full.logprobs!.map((l) => l.length)).toEqual(full.tokens.map((t) => t.length));
      expect(lean.logprobs!.map((l) => l.length)).toEqual(lean.tokens.map((t) => t.length));
      full.logprobs!.forEach((row, r) =>
        row.forEach((t, i) => {
          const got = lean.logprobs![r]![i]!;
          expect(got.raw).toBeNaN();
          expect(Number.isFinite(t.raw)).toBe(true);
          expect(got.processed).toBe(t.processed);
          expect(got.top).toEqual(t.top);
        }),
      );
      table.dispose();
    });

    it('generateStream yields the log-probabilities of each step', async () => {
      const table = tf.tensor2d(TABLE);
      const seen: number[] = [];
      for await (const st of generateStream(bigram(table), { prompts: [[1]], padId: 0, maxNewTokens: 3, sampler: { seed: 1 }, logprobs: { topLogprobs: 2 } })) {
        expect(st.logprobs!.topIds[0]!.length).toBe(2);
        seen.push(st.logprobs!.raw[0]!);
      }
      expect(seen.length).toBe(3);
      seen.forEach((v) => expect(v).toBeLessThanOrEqual(0));
      table.dispose();
    });
  });
});
