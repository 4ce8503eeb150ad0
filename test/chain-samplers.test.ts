// The rest of the chain (issue 11): typical-p, XTC, dynamic temperature, Mirostat,
// minTokensToKeep and the named orders. The anchors' test vectors, hand-computed rows, and exact
// agreement of kept sets and tokens with the float64 reference on every backend.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { shapeArbs } from './helpers/fuzz-arbitraries.js';
import { describe, expect, it } from 'vitest';
import {
  createSampler,
  DEFAULT_ORDER,
  NAMED_ORDERS,
  mirostat,
  reference,
  SamplingError,
  typicalP,
  xtc,
  xtcUniform,
  rowKeys,
  type Sampler,
  type SamplerOptions,
} from '../src/index.js';
import { BACKENDS, defaultPath, isSoftwareGpu, portablePath } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';
import { expectReferenceAgreement, kept, processed } from './helpers/chain.js';

const ln = (probs: number[]): number[] => probs.map(Math.log);

// ggml-org/llama.cpp@f0817df540977d3e3bd9038e7e108fa4f3b4bbde tests/test-sampling.cpp: test_typical
// and test_xtc (logits = ln(probs); the expected arrays are the kept tokens' probabilities).
// test_xtc passes probability 0.99 and relies on its seeded coin; here probability 1 (the coin
// always comes up) keeps the vectors independent of any generator.
const LLAMA_TYPICAL = [
  { probs: [0.97, 0.01, 0.01, 0.01], p: 0.5, kept: [0] },
  { probs: [0.4, 0.2, 0.2, 0.2], p: 0.5, kept: [1, 2, 3] },
];
const LLAMA_XTC = [
  { threshold: 0.09, kept: [3] },
  { threshold: 0.19, kept: [2, 3] },
  { threshold: 0.29, kept: [1, 2, 3] },
  { threshold: 0.39, kept: [0, 1, 2, 3] }, // "XTC should not": one token reaches it
];

// huggingface/transformers tests/generation/test_logits_process.py (test_typical_dist_warper,
// test_epsilon_dist_warper, test_eta_dist_warper, test_top_p_dist_warper): the ramp rows
// arange(10) − 5, the second ×100, with min_tokens_to_keep; the source counts `!= 0` after a
// filter value of 0, so the kept token with logit 0 (index 5) would not count there: none of
// these kept sets holds it.
const ramp = Array.from({ length: 10 }, (_, j) => j - 5);
const rampRows = [ramp, ramp.map((v) => v * 100)];
const HF_MIN_KEEP = [
  { name: 'typical 0.7, min 2', opts: { typicalP: 0.7, minTokensToKeep: 2 }, counts: [2, 2] },
  { name: 'epsilon 0.05, min 2', opts: { epsilonCutoff: 0.05, minTokensToKeep: 2 }, counts: [3, 2] },
  { name: 'eta 0.1, min 2', opts: { etaCutoff: 0.1, minTokensToKeep: 2 }, counts: [2, 2] },
  { name: 'top-p 0.9, min 2', opts: { topP: 0.9, minTokensToKeep: 2 }, counts: [3, 2] },
];

async function probabilitiesOf(opts: SamplerOptions, rows: number[][]): Promise<number[][]> {
  const s = createSampler(opts);
  const x = tf.tensor2d(rows);
  const p = s.probabilities(x);
  const out = (await p.array()) as number[][];
  tf.dispose([x, p]);
  s.dispose();
  return out;
}

/** Random rows over a shared pool (few shapes on software GPUs, which compile one shader per shape). */
function rowsArb(gpu: boolean) {
  return fc.record({
    ...shapeArbs(gpu),
    // Logits on a 1/8 grid: typical ranks tokens by |−ln q − H| computed in float32, and logits
    // closer than float32 resolves after the shift by max z (or mirror images around H within
    // it) may rank either way there; the grid keeps the property about the rule, not rounding.
    logits: fc.array(
      fc.oneof(
        fc.integer({ min: -96, max: 96 }).map((v) => v / 8),
        fc.constant(-Infinity),
      ),
      { minLength: 240, maxLength: 240 },
    ),
    T: fc.oneof(fc.constant(1), fc.constant(0), fc.double({ min: 0.2, max: 3, noNaN: true })),
    topK: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 })),
    topP: fc.oneof(fc.constant(1), fc.double({ min: 0.3, max: 0.99, noNaN: true })),
    minKeep: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 5 })),
  });
}
/**
 * A property over rowsArb cases: the options built from each agree with the reference (kept sets,
 * step-0 tokens; expectReferenceAgreement), compared on more than 30 of `runs` cases (2 of 6 on
 * the GPUs, whose runs are slow).
 */
async function expectAgreementProperty<C extends { rows: Parameters<typeof rowsOf>[0] }>(
  gpu: boolean,
  arb: fc.Arbitrary<C>,
  seed: number,
  runs: number,
  options: (c: C) => SamplerOptions,
): Promise<void> {
  let compared = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (c) => {
      if (await expectReferenceAgreement(options(c), rowsOf(c.rows))) compared++;
    }),
    { seed, numRuns: gpu ? 6 : runs },
  );
  expect(compared).toBeGreaterThan(gpu ? 2 : 30);
}

/** Each option set draws the reference's tokens for 4 steps, on the backend's fused path. */
async function expectFusedSteps(backend: string, cases: SamplerOptions[], rows: number[][]): Promise<void> {
  for (const opts of cases) {
    const s = createSampler(opts);
    const x = tf.tensor2d(rows);
    try {
      let mu: number[] | undefined; // Mirostat's μ, learned step by step as the sampler does
      for (let step = 0; step < 4; step++) {
        const ctx = mu ? { mirostatMu: mu } : {};
        const ids = Array.from((await s.sampleIds(x)) as Int32Array);
        const want = reference.sample(rows, opts, step, ctx);
        expect(ids, `${JSON.stringify(opts)} step ${step}`).toEqual(want);
        if (opts.mirostat) mu = reference.nextMirostatMu(rows, opts, want, step, ctx);
      }
      expect(s.lastPath, JSON.stringify(opts)).toBe(defaultPath(backend));
    } finally {
      x.dispose();
      s.dispose();
    }
  }
}

/** Steps [from, to) of a Mirostat sampler on `rows` give the reference's tokens, μ carried from `mu`. */
async function expectMirostatSteps(
  s: Sampler,
  y: tf.Tensor2D,
  rows: number[][],
  opts: SamplerOptions,
  mu: number[],
  from: number,
  to: number,
  label: string,
): Promise<void> {
  for (let step = from; step < to; step++) {
    const ctx = { mirostatMu: mu };
    const want = reference.sample(rows, opts, step, ctx);
    expect(Array.from((await s.sampleIds(y)) as Int32Array), `step ${step}, ${label}`).toEqual(want);
    mu = reference.nextMirostatMu(rows, opts, want, step, ctx);
  }
}

const rowsOf = (c: { B: number; V: number; logits: number[] }): number[][] =>
  Array.from({ length: c.B }, (_, r) => Array.from({ length: c.V }, (_, j) => Math.fround(c.logits[(r * 61 + j) % 240]!)));

describe.each(BACKENDS)('typical-p, XTC, dynamic temperature, Mirostat on %s', (backend) => {
  backendSuite(backend);
  const gpu = isSoftwareGpu(backend);

  it.each(LLAMA_TYPICAL)('llama.cpp test_typical p = $p, $probs', async (c) => {
    const rows = [ln(c.probs)];
    expect(reference.process(rows, { typicalP: c.p }).map(kept)).toEqual([c.kept]);
    expect((await processed({ typicalP: c.p }, rows)).map(kept)).toEqual([c.kept]);
  });

  it('transformers test_typical_dist_warper: the two rows, a uniform row untouched', async () => {
    const rows = [ln([0.97, 0.01, 0.01, 0.01]), ln([0.4, 0.2, 0.2, 0.2])];
    const want = [
      [0.97, 0, 0, 0],
      [0, 1 / 3, 1 / 3, 1 / 3],
    ]; // renormalised: the source compares exp(masked logits)
    const got = await probabilitiesOf({ typicalP: 0.5 }, rows);
    got.forEach((row, r) => row.forEach((p, j) => expect(p).toBeCloseTo(want[r]![j]! / want[r]!.reduce((a, b) => a + b), 5)));
    const uniform = [
      [0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0],
    ];
    expect((await processed({ typicalP: 0.5, minTokensToKeep: 3 }, uniform)).map(kept)).toEqual([
      [0, 1, 2, 3, 4],
      [0, 1, 2, 3, 4],
    ]);
  });

  it.each(HF_MIN_KEEP)('transformers ramp rows with min_tokens_to_keep: $name', async (c) => {
    const want = reference.process(rampRows, c.opts).map(kept);
    expect(want.map((k) => k.length)).toEqual(c.counts);
    expect(want.some((k) => k.includes(5))).toBe(false);
    expect((await processed(c.opts, rampRows)).map(kept)).toEqual(want);
    // Without minTokensToKeep the ×100 row keeps one token.
    const { minTokensToKeep: _m, ...without } = c.opts;
    expect(kept(reference.process(rampRows, without)[1]!)).toEqual([9]);
  });

  it('minTokensToKeep: top-k keeps max(k, m), min-p at least m, per row; fused on every backend (cpu / wasm: the JS kernel; webgl / webgpu: the GPU chain, floors capped at the m-th largest)', async () => {
    const row = [0, 1, 2, 3, 4, 5, 6, 7];
    const rows = [row, row, row];
    const opts: SamplerOptions = { topK: 2, minP: 0.5, minTokensToKeep: [1, 4, 6], seed: 3 };
    const want = reference.process(rows, opts).map(kept);
    expect(want).toEqual([[7], [4, 5, 6, 7], [2, 3, 4, 5, 6, 7]]);
    expect((await processed(opts, rows)).map(kept)).toEqual(want);
    const s = createSampler(opts);
    const x = tf.tensor2d(rows);
    s.sample(x).dispose();
    expect(s.lastPath).toBe(defaultPath(backend));
    x.dispose();
    s.dispose();
    // With top-nσ, top-p, min-p, ε and η over a longer row: the reference's tokens step after step.
    const V = gpu ? 40 : 400;
    const long = Array.from({ length: 4 }, (_, r) =>
      Array.from({ length: V }, (_, j) => Math.fround(-1.4 * Math.log(((j * 29 + r * 7) % V) + 1) + 0.3 * Math.sin(j))),
    );
    for (const o of [
      { temperature: 0.7, topP: 0.5, minP: 0.2, minTokensToKeep: [1, 3, 8, 20], seed: 11 },
      { temperature: 1.1, topNSigma: [0.3, 1, 0, 2], epsilonCutoff: 0.02, etaCutoff: 0.05, minTokensToKeep: 5, seed: 12 },
      { topK: 3, topP: 0.3, minTokensToKeep: [2, 6, 1, 30], seed: 13 },
    ] as SamplerOptions[]) {
      const t = createSampler(o);
      const y = tf.tensor2d(long);
      for (let step = 0; step < 3; step++)
        expect(Array.from((await t.sampleIds(y)) as Int32Array), `${JSON.stringify(o)} step ${step}`).toEqual(reference.sample(long, o, step));
      expect(t.lastPath).toBe(defaultPath(backend));
      y.dispose();
      t.dispose();
    }
  });

  it("typical-p and XTC with minTokensToKeep, and on greedy rows: fused on every backend (typical-p then ε / η with it: the GPU chain with top-k), the reference's tokens step after step", async () => {
    const V = gpu ? 60 : 500;
    const rows = Array.from({ length: 4 }, (_, r) =>
      Array.from({ length: V }, (_, j) => Math.fround(-(1 + r / 2) * Math.log(((j * 37 + r * 11) % V) + 1) + 0.2 * Math.cos(j))),
    );
    const host = backend === 'cpu' || backend === 'wasm';
    // minTokensToKeep changes what XTC keeps on these rows (else the XTC case below would test nothing).
    const xo: SamplerOptions = { temperature: 0.7, xtc: { probability: 1, threshold: 0.02 } };
    expect(reference.process(rows, { ...xo, minTokensToKeep: V }).map((r) => kept(r).length)).not.toEqual(
      reference.process(rows, xo).map((r) => kept(r).length),
    );
    for (const o of [
      { temperature: [0.8, 0, 1.2, 0], typicalP: 0.05, minTokensToKeep: [1, 3, 8, 20], seed: 31 },
      { temperature: 0.9, topK: 50, typicalP: [0.2, 0.9, 0.5, 0.05], minTokensToKeep: 6, seed: 32 },
      { temperature: [0, 0.7, 0, 1], xtc: { probability: 1, threshold: 0.02 }, minTokensToKeep: [2, V, 1, 3], seed: 33 },
      {
        temperature: [0, 0, 0.6, 0],
        xtc: [
          { probability: 1, threshold: 0.05 },
          { probability: 0.5, threshold: 0.1 },
          { probability: 1, threshold: 0.01 },
          { probability: 1, threshold: 0.2 },
        ],
        topP: 0.95,
        seed: 34,
      },
      { temperature: 0, typicalP: 0.5, minP: 0.02, seed: 35 },
      // ε and η after typical-p keep the band's m largest (the GPU chain: with top-k on every row).
      { temperature: 0.9, typicalP: [0.3, 0.5, 0.2, 0.8], epsilonCutoff: 3e-3, etaCutoff: [0, 1e-2, 5e-3, 0], minTokensToKeep: [3, 10, 25, 2], seed: 36 },
      {
        temperature: 0.9,
        topK: 45,
        typicalP: [0.3, 0.5, 0.2, 0.8],
        epsilonCutoff: 3e-3,
        etaCutoff: [0, 1e-2, 5e-3, 0],
        minTokensToKeep: [3, 10, 25, 2],
        seed: 37,
      },
    ] as SamplerOptions[]) {
      const t = createSampler(o);
      const y = tf.tensor2d(rows);
      try {
        for (let step = 0; step < 3; step++)
          expect(Array.from((await t.sampleIds(y)) as Int32Array), `${JSON.stringify(o)} step ${step}`).toEqual(reference.sample(rows, o, step));
        const gpuOps = o.epsilonCutoff !== undefined && o.minTokensToKeep !== undefined && o.topK === undefined;
        expect(t.lastPath, JSON.stringify(o)).toBe(host || !gpuOps ? defaultPath(backend) : portablePath(backend));
      } finally {
        y.dispose();
        t.dispose();
      }
    }
  });

  it('ε and η after typical-p with minTokensToKeep keep the m largest of its band, not of the row (rows where typical-p drops the maximum): fused with top-k on every backend', async () => {
    const V = gpu ? 60 : 400;
    // 40 % on token 0, the rest thin and distinct: typical-p keeps the thin tokens only.
    const row = Array.from({ length: V }, (_, j) => (j === 0 ? Math.log(0.4) : Math.fround(Math.log(0.6 / (V - 1)) + 0.02 * ((j * 7) % 13) + 1e-4 * j)));
    const rows = [row, row, row, row];
    const o: SamplerOptions = {
      temperature: 1,
      topK: V - 5,
      typicalP: 0.5,
      epsilonCutoff: [0.05, 0.05, 0.05, 0.05],
      etaCutoff: [0, 0.05, 0, 0.05],
      minTokensToKeep: [2, 3, 6, 9],
      seed: [1, 2, 3, 4],
    };
    // typical-p drops token 0 here (else the band's m largest would be the row's).
    expect(reference.process(rows, { typicalP: 0.5 }).every((r) => r[0] === -Infinity)).toBe(true);
    await expectFusedSteps(backend, [o], rows);
  });

  it("top-k and typical-p (first, order 'llama.cpp', or after top-p / min-p) on rows with ties of the k-th value past k (the GPU chain: the band from the sorted candidates, the ties one weighted column)", async () => {
    const V = gpu ? 60 : 300;
    // Logits on a 1/4 grid: the k-th largest value has ties beyond the k candidates.
    const rows = Array.from({ length: 4 }, (_, r) =>
      Array.from({ length: V }, (_, j) => Math.round(4 * (-(0.5 + 0.3 * r) * Math.log(((j * 37 + r * 11) % V) + 1))) / 4),
    );
    const k = 12;
    for (const row of rows) {
      const kth = [...row].sort((x, y) => y - x)[k - 1]!;
      expect(row.filter((v) => v >= kth).length).toBeGreaterThan(k);
    }
    await expectFusedSteps(
      backend,
      [
        { order: 'llama.cpp', topK: k, typicalP: [0.3, 0.6, 0.9, 0.5], topP: 0.9, temperature: 0.8, seed: 61 },
        { order: 'llama.cpp', topK: k, topNSigma: [0, 1, 0, 2], typicalP: 0.5, minP: 0.05, minTokensToKeep: [1, 3, 5, 2], temperature: 1, seed: 62 },
        // The default (HF) order: typical-p after top-p and min-p, its band from the candidates too.
        { topK: k, typicalP: [0.3, 0.6, 0.9, 0.5], minP: 0.05, temperature: 0.8, seed: 63 },
        { topK: k, topP: 0.9, typicalP: 0.5, minTokensToKeep: [1, 3, 5, 2], temperature: 1.2, seed: 64 },
        { topK: k, topNSigma: 1.5, minP: [0.3, 0.02, 0.1, 0], typicalP: [0.4, 0.8, 0.2, 0.6], epsilonCutoff: 1e-3, minTokensToKeep: 2, seed: 65 },
      ],
      rows,
    );
  });

  it('typical-p with a minTokensToKeep that spans many windows of the row: the band holds the m closest (16 seeds per row, fused)', async () => {
    // Near-linear logits: the band is an index range around the token at the entropy, so with m
    // 300 of 640 whole windows of 64 lie inside it (webgl's search adds those unread).
    const V = 640;
    const row = Array.from({ length: V }, (_, j) => Math.fround(-0.004 * j + 0.0005 * Math.cos(j)));
    const rows = Array.from({ length: 16 }, () => row);
    const o: SamplerOptions = {
      typicalP: 0.05,
      minTokensToKeep: [300, 300, 300, 300, 120, 120, 120, 120, 500, 500, 500, 500, 1, 1, 1, 1],
      seed: Array.from({ length: 16 }, (_, r) => 900 + r),
    };
    const sizes = reference.process(rows, o).map((r) => kept(r).length);
    expect(new Set(sizes)).toEqual(new Set([300, 120, 500, sizes[12]]));
    expect(sizes[12]).toBeLessThan(120);
    const t = createSampler(o);
    const y = tf.tensor2d(rows);
    try {
      for (let step = 0; step < 2; step++) expect(Array.from((await t.sampleIds(y)) as Int32Array), `step ${step}`).toEqual(reference.sample(rows, o, step));
      expect(t.lastPath).toBe(defaultPath(backend));
    } finally {
      y.dispose();
      t.dispose();
    }
  });

  it.each(LLAMA_XTC)('llama.cpp test_xtc threshold $threshold (probability 1)', async (c) => {
    const rows = [ln([0.4, 0.3, 0.2, 0.1])];
    const opts: SamplerOptions = { xtc: { probability: 1, threshold: c.threshold }, seed: 1 };
    expect(reference.process(rows, opts).map(kept)).toEqual([c.kept]);
    expect((await processed(opts, rows)).map(kept)).toEqual([c.kept]);
  });

  it('XTC: ties with the least probable top choice stay, minTokensToKeep and threshold > 0.5 stop it, its coin is keyed per (row, step)', async () => {
    // Row 0: q = 0.4, 0.4, 0.2: both 0.4 tokens reach 0.3 and are tied: nothing goes (llama.cpp
    // drops one of them by sort position). Row 1: 0.5, 0.3, 0.2 with threshold 0.25: 0 goes.
    // Row 2: the same with minTokensToKeep 3: two would be left, so nothing goes.
    const rows = [ln([0.4, 0.4, 0.2]), ln([0.5, 0.3, 0.2]), ln([0.5, 0.3, 0.2]), ln([0.5, 0.3, 0.2])];
    const opts: SamplerOptions = {
      xtc: [
        { probability: 1, threshold: 0.3 },
        { probability: 1, threshold: 0.25 },
        { probability: 1, threshold: 0.25 },
        { probability: 1, threshold: 0.6 },
      ],
      minTokensToKeep: [1, 1, 3, 1],
      seed: 5,
    };
    const want = reference.process(rows, opts).map(kept);
    expect(want).toEqual([
      [0, 1, 2],
      [1, 2],
      [0, 1, 2],
      [0, 1, 2],
    ]);
    expect((await processed(opts, rows)).map(kept)).toEqual(want);
    // The coin: probability 0.5 over 64 rows of per-row seeds, two steps. The rows where XTC
    // acts are those whose (key, step) hash is ≤ 0.5, on tensors and in the reference alike.
    const B = 64;
    const many = Array.from({ length: B }, () => ln([0.5, 0.3, 0.2]));
    const seeds = Array.from({ length: B }, (_, r) => 1000 + r);
    const keys = rowKeys(seeds, B);
    for (const step of [0, 1]) {
      const o: SamplerOptions = { xtc: { probability: 0.5, threshold: 0.25 }, seed: seeds };
      const acted = reference.process(many, o, { step }).map((r) => kept(r).length === 2);
      expect(acted).toEqual(Array.from(keys, (k) => xtcUniform(k, step) <= 0.5));
      expect(acted.filter(Boolean).length).toBeGreaterThan(16);
      expect(acted.filter(Boolean).length).toBeLessThan(48);
      const s = createSampler(o);
      const x = tf.tensor2d(many);
      if (step === 1) s.sample(x).dispose(); // the sampler's step 1
      const out = s.process(x);
      const got = ((await out.array()) as number[][]).map((r) => kept(r).length === 2);
      tf.dispose([x, out]);
      s.dispose();
      expect(got).toEqual(acted);
    }
    expect(() => reference.process(many, { xtc: { probability: 0.5 } })).toThrow(SamplingError);
    expect(xtc({ probability: 0 }).name).toBe('?xtc');
  });

  it('llama.cpp test_temp_ext vectors, and dynamic temperature by hand', async () => {
    // test_temp_ext: range 0 is plain temperature (T 1: unchanged; T 0: greedy).
    const probs = [0.1, 0.2, 0.3, 0.4];
    for (const [T, want] of [
      [1, probs],
      [0, [0, 0, 0, 1]],
    ] as const) {
      const opts: SamplerOptions = { temperature: T, dynamicTemperature: { range: 0, exponent: 1 } };
      const got = (await probabilitiesOf(opts, [ln(probs)]))[0]!;
      got.forEach((p, j) => expect(p).toBeCloseTo(want[j]!, 5));
    }
    // A uniform row has H / ln N = 1: T + range. One token of probability ~1: H ≈ 0: max(0, T − range),
    // and 0 is greedy (only the first maximum stays). Exponent 2 on a half-entropy row: T_min + range·2·(1/4).
    const u = [0, 0, 0, 0];
    const h = ln([0.5, 0.5, 1e-30, 1e-30]); // H = ln 2, N = 4: normalized 1/2
    const rows = [u, [50, 0, 0, 0], [0, 1000, 0, 0], h];
    const opts: SamplerOptions = {
      temperature: [1, 1, 0.5, 1],
      dynamicTemperature: [{ range: 0.5 }, { range: 0.5 }, { range: 1 }, { range: 0.5, exponent: 2 }],
    };
    const want = reference.process(rows, opts);
    expect(Array.from(want[0]!)).toEqual([0, 0, 0, 0]);
    expect(want[1]![1]).toBeCloseTo(-50 / 0.5, 3); // H ≈ 0 → T = 0.5
    expect(kept(want[2]!)).toEqual([1]); // H = 0 exactly (the others' q underflow) and T_min = 0: greedy
    expect(want[3]![1]).toBeCloseTo(0, 6);
    const got = await processed(opts, rows);
    got.forEach((row, r) => row.forEach((v, j) => (Number.isFinite(want[r]![j]!) ? expect(v).toBeCloseTo(want[r]![j]!, 3) : expect(v).toBe(want[r]![j]))));
  });

  it('Mirostat v1 and v2: kept sets at step 0, then the same tokens as the reference step by step (μ learns on the device)', async () => {
    const V = gpu ? 40 : 48;
    const base = Array.from({ length: V }, (_, j) => -1.1 * Math.log(j + 1) + 0.3 * Math.sin(j));
    const rows = [base, base.map((v) => v * 0.5), base.map((v) => v * 2), base];
    const opts: SamplerOptions = {
      temperature: 0.9,
      mirostat: [{ version: 2, tau: 3, eta: 0.2 }, { version: 1, tau: 4, eta: 0.1 }, { version: 2, tau: 1 }, undefined],
      seed: 77,
    };
    const want0 = reference.process(rows, opts).map(kept);
    expect(want0[0]!.length).toBeGreaterThan(1);
    expect(want0[0]!.length).toBeLessThan(V);
    expect(want0[3]!.length).toBe(V); // no Mirostat on row 3
    expect((await processed(opts, rows)).map(kept)).toEqual(want0);
    const s = createSampler(opts);
    const x = tf.tensor2d(rows);
    let mu: number[] | undefined;
    const steps = gpu ? 6 : 20;
    for (let step = 0; step < steps; step++) {
      const ctx = mu ? { mirostatMu: mu } : {};
      const ids = Array.from((await s.sampleIds(x)) as Int32Array);
      const refIds = reference.sample(rows, opts, step, ctx);
      expect(ids, `step ${step}`).toEqual(refIds);
      mu = reference.nextMirostatMu(rows, opts, refIds, step, ctx);
    }
    if (backend === 'cpu' || backend === 'wasm') expect(s.lastPath).toBe(defaultPath(backend));
    expect(mu![3]).toBe(10); // 2τ: untouched
    expect(mu![0]).not.toBe(6);
    // The sampler's own μ, not only its tokens: process() keeps what the reference keeps at μ.
    const learnt = s.process(x);
    expect(((await learnt.array()) as number[][]).map(kept)).toEqual(reference.process(rows, opts, { mirostatMu: mu! }).map(kept));
    learnt.dispose();
    // reset() starts μ again from 2τ: the step-0 tokens come back.
    s.reset();
    expect(Array.from((await s.sampleIds(x)) as Int32Array)).toEqual(reference.sample(rows, opts, 0));
    // A clone carries μ: both draw the same tokens from here.
    const c = s.clone();
    expect(Array.from((await c.sampleIds(x)) as Int32Array)).toEqual(Array.from((await s.sampleIds(x)) as Int32Array));
    c.dispose();
    s.dispose();
    x.dispose();
    expect(mirostat({ version: 2 }).name).toBe('mirostat');
  });

  it.each([2, 1] as const)(
    'Mirostat v%i alone: the fused kernels (cpu, wasm, the GPU chain: μ in, the surprise out); the same tokens as the reference step by step, with a greedy row and an invalid row',
    async (version) => {
      // V > 100: the GPU chain takes v1 only there (its 100 largest).
      const V = gpu ? 400 : 3000;
      const base = Array.from({ length: V }, (_, j) => -1.1 * Math.log(j + 1) + 0.3 * Math.sin(j * 1.7));
      const rows = [base, base.map((v) => v * 0.6), base.map((v, j) => (j === 5 ? NaN : v)), base.map((v) => v * 1.5), base];
      const opts: SamplerOptions = {
        temperature: [0.9, 1.2, 1, 0, 0.7],
        topP: 0.99,
        mirostat: [{ version, tau: 3, eta: 0.2 }, { version, tau: 5 }, { version, tau: 2 }, { version, tau: 2 }, undefined],
        invalidRows: 'uniform',
        seed: 78,
      };
      const s = createSampler(opts);
      const x = tf.tensor2d(rows);
      let mu: number[] | undefined;
      const steps = gpu ? 4 : 25;
      for (let step = 0; step < steps; step++) {
        const ctx = mu ? { mirostatMu: mu } : {};
        const ids = Array.from((await s.sampleIds(x)) as Int32Array);
        // Fused on every backend (the GPU chain takes both as bands; v1 with V > 100).
        expect(s.lastPath).toBe(defaultPath(backend));
        const refIds = reference.sample(rows, opts, step, ctx);
        expect(ids, `step ${step}`).toEqual(refIds);
        mu = reference.nextMirostatMu(rows, opts, refIds, step, ctx);
      }
      expect(mu![2]).toBe(4); // the invalid row: 2τ, untouched
      expect(mu![3]).toBeGreaterThan(4); // the greedy row learns surprise 0 < τ: μ rises
      expect(mu![0]).not.toBe(6);
      // Row 2 turns valid: its tokens now depend on the sampler's μ for it, which must still be 2τ.
      const valid = rows.map((row, r) => (r === 2 ? base : row));
      const y = tf.tensor2d(valid);
      await expectMirostatSteps(s, y, valid, opts, mu!, steps, steps + (gpu ? 3 : 8), 'row 2 valid');
      y.dispose();
      s.dispose();
      x.dispose();
    },
  );

  it('Mirostat: { accept: false } then sampler.accept(ids) learns the same; invalid rows keep μ; state freed by dispose()', async () => {
    const before = tf.memory().numTensors;
    const rows = [
      [3, 2, 1, 0, -1, -2],
      [NaN, 0, 0, 0, 0, 0],
    ];
    const opts: SamplerOptions = { mirostat: { version: 2, tau: 1, eta: 0.5 }, seed: 9, invalidRows: 'uniform' };
    const a = createSampler(opts);
    const b = createSampler(opts);
    const x = tf.tensor2d(rows);
    for (let i = 0; i < 4; i++) {
      const ia = a.sample(x);
      const ib = b.sample(x, { accept: false });
      b.accept(ib);
      expect(Array.from(await ia.data())).toEqual(Array.from(await ib.data()));
      tf.dispose([ia, ib]);
    }
    // Row 0 drew what the reference draws with μ learnt from row 0 alone; row 1 (NaN) is invalid
    // every step and never moves its μ (the reference's twin skips it too).
    const c = createSampler(opts);
    let mu: number[] | undefined;
    for (let step = 0; step < 4; step++) {
      const ctx = mu ? { mirostatMu: mu } : {};
      const ids = Array.from((await c.sampleIds(x)) as Int32Array);
      const want = reference.sample(rows, opts, step, ctx);
      expect(ids[0]).toBe(want[0]);
      mu = reference.nextMirostatMu(rows, opts, want, step, ctx);
    }
    expect(mu![1]).toBe(2);
    // Row 1 turns valid: the sampler's μ for it (2τ if invalid rows kept it) decides its kept set
    // and tokens now.
    const valid = [rows[0]!, [1, 0.9, 0, -1, -2, -3]];
    const y = tf.tensor2d(valid);
    const keptNow = c.process(y);
    expect(((await keptNow.array()) as number[][]).map(kept)).toEqual(reference.process(valid, opts, { mirostatMu: mu! }).map(kept));
    keptNow.dispose();
    await expectMirostatSteps(c, y, valid, opts, mu!, 4, 8, 'row 1 valid');
    y.dispose();
    c.dispose();
    a.dispose();
    b.dispose();
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('Mirostat: process() and probabilities() keep nothing (exact tensor counts), learn nothing, and leave a pending accept alone', async () => {
    const rows = [
      [3, 2, 1, 0, -1, -2],
      [0.5, 0.4, 0.3, 0.2, 0.1, 0],
    ];
    const opts: SamplerOptions = {
      mirostat: [
        { version: 2, tau: 1, eta: 0.5 },
        { version: 1, tau: 1.5, eta: 0.3 },
      ],
      seed: 4,
    };
    const x = tf.tensor2d(rows);
    const s = createSampler(opts);
    const plain = createSampler(opts);
    for (const call of ['process', 'probabilities'] as const) {
      const before = tf.memory().numTensors;
      const out = s[call](x); // the first call too: μ is not created for it
      out.dispose();
      expect(tf.memory().numTensors, call).toBe(before);
    }
    // A pending sample (accept: false), then process(): sampler.accept still learns from the sample.
    for (let i = 0; i < 3; i++) {
      const ids = s.sample(x, { accept: false });
      const before = tf.memory().numTensors;
      s.process(x).dispose();
      s.probabilities(x).dispose();
      expect(tf.memory().numTensors).toBe(before);
      s.accept(ids);
      const want = plain.sample(x);
      expect(Array.from(await ids.data())).toEqual(Array.from(await want.data()));
      tf.dispose([ids, want]);
    }
    s.dispose();
    plain.dispose();
    x.dispose();
  });

  it("order 'llama.cpp' (temperature after top-k, top-p, min-p) takes the default order's path (fused kernels) and draws the reference's tokens", async () => {
    const V = gpu ? 40 : 300;
    const rows = Array.from({ length: 3 }, (_, r) => Array.from({ length: V }, (_, j) => Math.fround(Math.sin(j * 1.3 + r) * 4 - Math.log(j + 1))));
    const paths: string[] = [];
    for (const order of ['llama.cpp', undefined] as const) {
      const opts: SamplerOptions = { temperature: [0.8, 1.7, 0], topK: 40, topP: 0.95, minP: 0.05, seed: 13, ...(order ? { order } : {}) };
      const s = createSampler(opts);
      const x = tf.tensor2d(rows);
      for (let step = 0; step < 3; step++) {
        const ids = Array.from((await s.sampleIds(x)) as Int32Array);
        expect(ids, `${order ?? 'default'} step ${step}`).toEqual(reference.sample(rows, opts, step));
      }
      paths.push(s.lastPath);
      x.dispose();
      s.dispose();
    }
    // The same path as the default order's (the fused kernels where this run has them).
    expect(paths[0]).toBe(paths[1]);
    // The two orders keep different sets at T 1.7 (top-p and min-p at T = 1 versus at T 1.7).
    const a = reference.process(rows, { temperature: 1.7, topP: 0.95, minP: 0.05, order: 'llama.cpp' }).map(kept);
    const b = reference.process(rows, { temperature: 1.7, topP: 0.95, minP: 0.05 }).map(kept);
    expect(a).not.toEqual(b);
  });

  it("order 'llama.cpp' with typical-p before top-p and min-p: its band the candidates of top-p and min-p, fused (the GPU chain: with top-k); the reference's tokens step after step", async () => {
    const V = gpu ? 60 : 3000;
    const rows = Array.from({ length: 4 }, (_, r) =>
      Array.from({ length: V }, (_, j) => Math.fround(-(0.7 + 0.3 * r) * Math.log(((j * 37 + r * 11) % V) + 1) + 0.2 * Math.cos(j))),
    );
    rows[3]![5] = -Infinity;
    // Row 2: 40 % of the mass on token 0, the rest spread thin: typical-p keeps the thin tokens
    // (closer to the entropy) and drops token 0, whose mass top-p then must not count.
    rows[2] = Array.from({ length: V }, (_, j) => (j === 0 ? Math.log(0.4) : Math.fround(Math.log(0.6 / (V - 1)) + 0.003 * ((j * 7) % 13))));
    const cases: SamplerOptions[] = [
      { order: 'llama.cpp', topK: 40, typicalP: 0.9, topP: 0.95, minP: 0.05, temperature: 0.8, seed: 51 },
      { order: 'llama.cpp', topK: 50, typicalP: 0.5, topP: 0.5, temperature: 1, seed: 57 },
      { order: 'llama.cpp', typicalP: [0.3, 0.7, 0.9, 0.5], minP: 0.1, temperature: 0.9, seed: 58 }, // no top-k, no top-p
      { order: 'llama.cpp', typicalP: [0.5, 0.9, 1, 0.3], topP: [0.9, 0.95, 0.8, 1], minP: [0.05, 0, 0.1, 0.02], temperature: [0.8, 0, 1.3, 0.6], seed: 52 },
      { order: 'llama.cpp', topNSigma: 1.5, typicalP: 0.7, topP: 0.9, xtc: { probability: 1, threshold: 0.05 }, temperature: 1, seed: 53 },
      { order: 'llama.cpp', topK: 200, typicalP: [0.6, 0.8, 0.95, 0.4], minP: 0.02, mirostat: { version: 2, tau: 3 }, temperature: 0.9, seed: 54 },
      // minTokensToKeep: typical-p's band grows to the m closest; top-p and min-p keep its m largest.
      { order: 'llama.cpp', typicalP: [0.05, 0.3, 0.9, 0.1], topP: 0.3, minP: 0.5, minTokensToKeep: [4, 12, 3, 30], temperature: 0.7, seed: 55 },
      { order: 'llama.cpp', topK: 50, typicalP: 0.2, topP: [0.2, 0.5, 0.9, 0.4], minTokensToKeep: 8, temperature: [0.7, 0, 1, 1.5], seed: 56 },
      { order: 'llama.cpp', topK: 40, typicalP: [0.3, 0.1, 0.6, 0.2], minP: [0.3, 0.5, 0.2, 0.4], minTokensToKeep: [5, 10, 3, 20], temperature: 0.8, seed: 59 },
    ];
    // minTokensToKeep changes what min-p keeps after the band in the last case.
    const { minTokensToKeep: _m, ...noKeep } = cases.at(-1)!;
    expect(reference.process(rows, cases.at(-1)!).map(kept)).not.toEqual(reference.process(rows, noKeep).map(kept));
    // Typical-p first changes what top-p keeps (its mass is the band's, not the row's).
    const a = reference.process(rows, { order: 'llama.cpp', typicalP: 0.5, topP: 0.5 }).map(kept);
    const b = reference.process(rows, { order: 'hf', typicalP: 0.5, topP: 0.5 }).map(kept);
    expect(a).not.toEqual(b);
    if (!gpu) return expectFusedSteps(backend, cases, rows);
    // The GPU chain: fused where top-p and minTokensToKeep's cap read the sorted top-k candidates
    // (top-k on every row), or with neither; the tfjs-op chain otherwise.
    const fusedOnGpu = (o: SamplerOptions): boolean => typeof o.topK === 'number' || (o.topP === undefined && o.minTokensToKeep === undefined);
    expect(cases.filter(fusedOnGpu).length).toBe(6);
    await expectFusedSteps(backend, cases.filter(fusedOnGpu), rows);
    for (const opts of cases.filter((o) => !fusedOnGpu(o) && !o.mirostat)) {
      const s = createSampler(opts);
      const x = tf.tensor2d(rows);
      for (let step = 0; step < 2; step++)
        expect(Array.from((await s.sampleIds(x)) as Int32Array), JSON.stringify(opts)).toEqual(reference.sample(rows, opts, step));
      x.dispose();
      s.dispose();
    }
  });

  it("top-nσ, typical-p, ε, η and XTC with top-k / top-p / min-p: the fused kernels on every backend, the reference's tokens step after step", async () => {
    const V = gpu ? 40 : 500;
    const rows = Array.from({ length: 4 }, (_, r) =>
      Array.from({ length: V }, (_, j) => Math.fround(-1.2 * Math.log(((j * 37 + r * 11) % V) + 1) + 0.2 * Math.cos(j))),
    );
    const cases: SamplerOptions[] = [
      { temperature: 0.9, topNSigma: 1.5, topK: 30, topP: 0.9, seed: 3 },
      { temperature: 1.2, topNSigma: [0.5, 1, 2, 0], epsilonCutoff: 1e-3, etaCutoff: [0, 2e-3, 1e-2, 0.05], seed: 4 },
      {
        temperature: 0.7,
        minP: 0.02,
        xtc: [{ probability: 0.5, threshold: 0.05 }, { probability: 1, threshold: 0.1 }, undefined, { probability: 0.8, threshold: 0 }],
        seed: 5,
      },
      { topP: 0.95, epsilonCutoff: 3e-4, xtc: { probability: 1, threshold: 0.02 }, seed: 6 },
      { temperature: 0.8, topK: 60, typicalP: [0.3, 0.6, 0.9, 1], etaCutoff: 1e-3, xtc: { probability: 1, threshold: 0.15 }, seed: 8 },
      { typicalP: 0.5, seed: 9 },
      { temperature: 1.3, minP: 0.01, typicalP: [0.2, 0.95, 0.7, 0.5], epsilonCutoff: 1e-4, seed: 10 },
    ];
    await expectFusedSteps(backend, cases, rows);
  });

  it("dynamic temperature first, alone, with top-k / top-nσ after it, or top-p / min-p with top-k: fused on every backend (the GPU chain: its 1/T on the device; top-p and min-p over the rewritten candidates), the reference's tokens step after step", async () => {
    const V = gpu ? 40 : 500;
    const rows = Array.from({ length: 4 }, (_, r) =>
      Array.from({ length: V }, (_, j) => Math.fround(-(0.6 + 0.4 * r) * Math.log(((j * 29 + r * 7) % V) + 1) + 0.3 * Math.sin(j))),
    );
    rows[3]![5] = -Infinity; // a masked token: N counts the finite logits only
    const cases: SamplerOptions[] = [
      {
        temperature: [0.8, 0.5, 1.2, 0],
        dynamicTemperature: [{ range: 0.5 }, { range: 0.3, exponent: 2 }, { range: 1, exponent: 0.5 }, { range: 0.4 }],
        seed: 21,
      },
      {
        temperature: 0.9,
        dynamicTemperature: [{ range: 0.6 }, undefined, { range: 0.2, exponent: 0 }, { range: 0.9 }],
        topK: [5, 0, 20, 40],
        topNSigma: [0, 1.5, 2, 0],
        seed: 22,
      },
      { temperature: 0.3, dynamicTemperature: { range: 0.3, exponent: 4 }, seed: 23 }, // T_min 0: near-greedy rows
      // Top-p and min-p see the rewritten row (one row without dynamic temperature: its plain T).
      {
        temperature: [0.8, 1.2, 0.6, 1],
        dynamicTemperature: [{ range: 0.5 }, undefined, { range: 1, exponent: 0.5 }, { range: 0.3, exponent: 2 }],
        topK: [10, 20, 30, 15],
        topP: [0.7, 0.9, 0.5, 1],
        minP: [0.05, 0, 0.2, 0.1],
        seed: 24,
      },
      { temperature: 0.3, dynamicTemperature: { range: 0.3, exponent: 4 }, topK: 25, topP: 0.8, seed: 25 },
      { temperature: 1.5, dynamicTemperature: { range: 1 }, topK: 35, minP: 0.1, seed: 26 },
    ];
    // Top-p and min-p change what those rows keep (they are not idle here).
    for (const o of cases.slice(3)) {
      const { topP: _p, minP: _m, ...plain } = o;
      expect(reference.process(rows, o).map(kept), JSON.stringify(o)).not.toEqual(reference.process(rows, plain).map(kept));
    }
    await expectFusedSteps(backend, cases, rows);
  });

  it("dynamic temperature last (order 'llama.cpp': the kept tokens' entropy): fused on every backend (the GPU chain: the draw's 1/T from the kept tokens' sums), the reference's tokens step after step", async () => {
    const V = gpu ? 60 : 500;
    const rows = Array.from({ length: 4 }, (_, r) =>
      Array.from({ length: V }, (_, j) => Math.fround(-(0.6 + 0.4 * r) * Math.log(((j * 31 + r * 5) % V) + 1) + 0.3 * Math.cos(j))),
    );
    rows[2]![7] = -Infinity;
    const cases: SamplerOptions[] = [
      { order: 'llama.cpp', topK: 40, topP: 0.95, minP: 0.05, temperature: 0.8, dynamicTemperature: { range: 0.5 }, seed: 41 },
      {
        order: 'llama.cpp',
        topK: 100,
        typicalP: [1, 0.6, 0.9, 1],
        temperature: [0, 0.8, 1.2, 0.5],
        dynamicTemperature: [{ range: 0.4 }, { range: 0.3, exponent: 2 }, undefined, { range: 0.5, exponent: 0.5 }],
        seed: 42,
      },
      { order: 'llama.cpp', topNSigma: 1, xtc: { probability: 1, threshold: 0.05 }, temperature: 1, dynamicTemperature: { range: 1 }, seed: 43 },
    ];
    await expectFusedSteps(backend, cases, rows);
    // Top-2 of [0, −3, −3.5 × 58]: the kept pair's entropy gives T ≈ 0.6, the whole row's ≈ 1.2,
    // so the second token wins ~0.6 % of draws here and ~8 % with the whole row's T (a 64-draw
    // stream tells them apart).
    const pair = Array.from({ length: 32 }, (_, r) => Array.from({ length: 60 }, (_, j) => (j === 0 ? 0 : j === 1 ? -3 : -3.5 - 0.001 * ((j + r) % 7))));
    const opts: SamplerOptions = { order: 'llama.cpp', topK: 2, temperature: 1, dynamicTemperature: { range: 1 }, seed: 44 };
    const whole: SamplerOptions = { temperature: 1, dynamicTemperature: { range: 1 }, topK: 2, seed: 44 };
    const streams = (o: SamplerOptions): number[][] => [0, 1].map((step) => reference.sample(pair, o, step));
    expect(streams(opts)).not.toEqual(streams(whole));
    await expectFusedSteps(backend, [opts], pair);
  });

  it('property: typical-p, XTC and minTokensToKeep after the other filters: kept sets and tokens equal the reference', async () => {
    const arb = fc.record({
      rows: rowsArb(gpu),
      typical: fc.array(fc.oneof(fc.constant(1), fc.double({ min: 0.05, max: 0.99, noNaN: true })), { minLength: 4, maxLength: 4 }),
      xtcP: fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0.1, max: 0.9, noNaN: true })),
      xtcT: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
      llama: fc.boolean(),
    });
    await expectAgreementProperty(gpu, arb, 0x5eed0111, 80, (c) => {
      const r = c.rows;
      return {
        temperature: r.T,
        topK: r.topK,
        topP: r.topP,
        typicalP: c.typical.slice(0, r.B),
        xtc: { probability: c.xtcP, threshold: c.xtcT },
        minTokensToKeep: r.minKeep,
        seed: r.seed,
        ...(c.llama ? { order: 'llama.cpp' as const } : {}),
      };
    });
  });

  it("property: dynamic temperature last (order 'llama.cpp') after top-k, top-p, min-p, XTC, minTokensToKeep: kept sets and tokens equal the reference", async () => {
    const arb = fc.record({
      rows: rowsArb(gpu),
      minP: fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 0.3, noNaN: true })),
      xtc: fc.boolean(),
      range: fc.double({ min: 0.1, max: 1.5, noNaN: true }),
      exponent: fc.double({ min: 0, max: 3, noNaN: true }),
    });
    await expectAgreementProperty(gpu, arb, 0x5eed0113, 60, (c) => {
      const r = c.rows;
      return {
        order: 'llama.cpp',
        temperature: r.T,
        topK: r.topK,
        topP: r.topP,
        minP: c.minP,
        ...(c.xtc ? { xtc: { probability: 1, threshold: 0.1 } } : {}),
        minTokensToKeep: r.minKeep,
        dynamicTemperature: { range: c.range, exponent: c.exponent },
        seed: r.seed,
      };
    });
  });

  it('property: Mirostat and dynamic temperature at step 0: kept sets and tokens equal the reference', async () => {
    const arb = fc.record({
      rows: rowsArb(gpu),
      version: fc.constantFrom(1, 2),
      tau: fc.double({ min: 0.5, max: 8, noNaN: true }),
      range: fc.oneof(fc.constant(0), fc.double({ min: 0.1, max: 1.5, noNaN: true })),
      exponent: fc.double({ min: 0, max: 3, noNaN: true }),
    });
    await expectAgreementProperty(gpu, arb, 0x5eed0112, 80, (c) => {
      const r = c.rows;
      return {
        temperature: r.T,
        topK: r.topK,
        dynamicTemperature: { range: c.range, exponent: c.exponent },
        mirostat: { version: c.version as 1 | 2, tau: c.tau },
        seed: r.seed,
      };
    });
  });
});

describe.each(BACKENDS.filter((b) => b === 'wasm'))('the suites on %s', (backend) => {
  backendSuite(backend);
  it('refuse tf.where with bool operands (it overruns the wasm heap): the guard every wasm suite installs', async () => {
    const c = tf.tensor1d([1, 0], 'bool');
    expect(() => tf.tidy(() => tf.where(c, c, c))).toThrow(/bool operands on wasm/);
    const ok = tf.tidy(() => tf.where(c, tf.tensor1d([1, 2]), tf.tensor1d([3, 4])));
    expect(Array.from(await ok.data())).toEqual([1, 4]);
    tf.dispose([c, ok]);
  });
});

describe('named orders and option rules', () => {
  it('each named order lists the anchor chain; the default order holds every name', () => {
    expect(NAMED_ORDERS['llama.cpp']).toEqual(['top-n-sigma', 'top-k', 'typical-p', 'top-p', 'min-p', 'xtc', 'temperature', 'mirostat']);
    expect(NAMED_ORDERS.hf).toEqual(['temperature', 'top-k', 'top-p', 'min-p', 'typical-p', 'epsilon-cutoff', 'eta-cutoff']);
    expect(NAMED_ORDERS.vllm).toEqual(['temperature', 'min-p', 'top-k', 'top-p']);
    for (const order of Object.values(NAMED_ORDERS)) for (const n of order) expect(DEFAULT_ORDER).toContain(n);
  });

  it("'llama.cpp' runs the filters on T = 1 probabilities, 'hf' on T-scaled ones", () => {
    // q ∝ e^(3, 2, 1, 0): at T = 1 top-p 0.8 keeps 0, 1 (0.644 + 0.237 ≥ 0.8); at T = 3 the row
    // is flatter (0.38, 0.27, 0.20, 0.14): it keeps 0, 1, 2, 3 (0.85 only after the third).
    const rows = [[3, 2, 1, 0]];
    expect(kept(reference.process(rows, { temperature: 3, topP: 0.8, order: 'llama.cpp' })[0]!)).toEqual([0, 1]);
    expect(kept(reference.process(rows, { temperature: 3, topP: 0.8, order: 'hf' })[0]!)).toEqual([0, 1, 2]);
  });

  it('an option a named order lacks, a bad name, Mirostat not last: clear errors', () => {
    expect(() => createSampler({ order: 'vllm', typicalP: 0.9 })).toThrow(/the "vllm" order has no typical-p/);
    expect(() => createSampler({ order: 'hf', xtc: { probability: 0.5 } })).toThrow(/the "hf" order has no xtc/);
    expect(() => createSampler({ order: 'llama.cpp', epsilonCutoff: 0.01 })).toThrow(/no epsilon-cutoff/);
    expect(() => createSampler({ order: 'llama' as never })).toThrow(/"llama.cpp", "hf", "vllm"/);
    expect(() => createSampler({ mirostat: { version: 2 }, topK: 5, order: ['mirostat', 'top-k'] })).toThrow(/after every other enabled sampler/);
    expect(() => createSampler({ xtc: { probability: 2 } })).toThrow(/xtc.probability/);
    expect(() => createSampler({ mirostat: { version: 3 as 1 } })).toThrow(/mirostat.version/);
    expect(() => createSampler({ dynamicTemperature: { range: -1 } })).toThrow(/dynamicTemperature.range/);
    expect(() => createSampler({ typicalP: 0 })).toThrow(/typicalP/);
    expect(() => createSampler({ minTokensToKeep: 0 })).toThrow(/minTokensToKeep/);
    expect(typicalP(1).name).toBe('?typical-p');
  });
});
