// DRY (llama.cpp's "Don't Repeat Yourself" penalty) on every backend: llama.cpp's own test
// vectors, exact agreement of processed logits and tokens with the float64 reference step by step
// (per-row options, breakers, windows, off rows, prompt scopes), generate() with left-padded
// prompts, the overflow ban, no read-back, fixed device state, errors and leaks.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import seedrandom from 'seedrandom';
import { processedBy } from './helpers/chain.js';
import { describe, expect, it } from 'vitest';
import { createSampler, generate, InvalidRowsError, reference, SamplingError, type DryOptions, type SamplerOptions } from '../src/index.js';
import { BACKENDS, isSoftwareGpu } from './helpers/backend.js';
import { countReads, describeReads, readBacks } from './helpers/read-counter.js';
import { backendSuite } from './helpers/suite.js';
import { LLAMA_DRY } from './tables/anchor-penalties.js';
import { DRY_WEBGPU_KERNEL } from '../src/backends/webgpu/dry.js';

const f32 = Math.fround;

const processed = processedBy;

/** Every value bit for bit (NaN, ±Infinity, -0 included), with the first difference in the message. */
function expectSameRows(got: number[][], want: ArrayLike<number>[], what: string): void {
  expect(got.length, `${what}: rows`).toBe(want.length);
  got.forEach((row, r) => expect(row.length, `${what}: row ${r} length`).toBe(want[r]!.length));
  got.forEach((row, r) =>
    row.forEach((v, j) => {
      if (!Object.is(v, f32(want[r]![j]!))) expect(v, `${what}: row ${r}, token ${j}`).toBe(f32(want[r]![j]!));
    }),
  );
}

describe.each(BACKENDS)('DRY on %s', (backend) => {
  backendSuite(backend);
  const gpu = isSoftwareGpu(backend);

  // The five cases of llama.cpp's test_dry as one batch (one shape, one pipeline compile on GPU
  // adapters): each row its own options and history; V = 5, the 4-token cases with token 4
  // masked (-Infinity: probability 0, nothing else moves).
  it('llama.cpp tests/test-sampling.cpp test_dry: the five vectors, reference and tensors', async () => {
    const V = 5;
    const rows = LLAMA_DRY.map((c) => Array.from({ length: V }, (_, j) => (j < c.probs.length ? Math.log(c.probs[j]!) : -Infinity)));
    const dry = LLAMA_DRY.map(
      (c): DryOptions => ({
        multiplier: c.multiplier,
        base: c.base,
        allowedLength: c.allowedLength,
        penaltyLastN: c.lastN,
        sequenceBreakers: c.sequenceBreakers,
      }),
    );
    const opts: SamplerOptions = { dry };
    const histories = LLAMA_DRY.map((c) => c.history);
    const ctx = { history: histories, promptLength: histories.map((h) => h.length) };
    const wantP = reference.probabilities(rows, opts, ctx);
    const wantZ = reference.process(rows, opts, ctx);
    LLAMA_DRY.forEach((c, r) => {
      c.expected.forEach((e, j) => expect(Math.abs(wantP[r]![j]! - e), `reference, ${c.source}, token ${j}`).toBeLessThan(c.tolerance));
      // The logit edits derived from the rule: exactly the penalty, in float32.
      rows[r]!.forEach((z, j) =>
        expect(wantZ[r]![j], `${c.source}, token ${j}`).toBe(j in c.derivedLogitPenalty ? f32(f32(z) - c.derivedLogitPenalty[j]!) : f32(z)),
      );
    });
    const s = createSampler(opts);
    s.begin(histories);
    const x = tf.tensor2d(rows);
    const p = s.probabilities(x);
    const got = (await p.array()) as number[][];
    tf.dispose([x, p]);
    LLAMA_DRY.forEach((c, r) => c.expected.forEach((e, j) => expect(Math.abs(got[r]![j]! - e), `tensor, ${c.source}, token ${j}`).toBeLessThan(c.tolerance)));
    expectSameRows(await processed(s, rows), wantZ, 'processed logits');
    expect(s.name).toMatch(/^dry → /);
    s.dispose();
  });

  // Random logits over a small vocabulary, so that the draws repeat themselves and DRY has work.
  const plans: { name: string; B: number; V: number; steps: number; prompts: number[][]; opts: SamplerOptions }[] = [
    {
      // Row 0's whole-history window makes the device window 4096 wide (a sort of 4096 tokens
      // per row and step on GPU adapters): fewer steps there.
      name: 'per-row options: breakers (one token and longer), windows, allowedLength 0, an off row, with penalties',
      B: 4,
      V: 8,
      steps: gpu ? 4 : 12,
      prompts: [
        [1, 2, 3, 1, 2],
        [5, 5, 6, 2, 5, 5],
        [0, 1, 0, 1, 0],
        [4, 3, 4],
      ],
      opts: {
        dry: [
          { multiplier: 0.8, sequenceBreakers: [[3]] },
          { multiplier: 1.5, base: 1.1, allowedLength: 1, penaltyLastN: 6, sequenceBreakers: [[2, 5], [7]] },
          undefined,
          { multiplier: 0.5, base: 3, allowedLength: 0, penaltyLastN: 3 },
        ],
        repetitionPenalty: 1.2,
        temperature: [0.5, 1, 0.5, 0],
        seed: 11,
      },
    },
    {
      // allowedTokens has no sparse form: on cpu and wasm this plan keeps its history as tensors
      // (TokenHistory's window and the one-pass kernel), the first as host lists (sparse edits).
      name: 'one option for every row, generated tokens only, a long breaker, allowed tokens, top-k and top-p',
      B: 3,
      V: 6,
      steps: gpu ? 6 : 12,
      prompts: [[1, 2, 1, 2, 1], [], [3]],
      opts: {
        dry: { multiplier: 2, base: 1.5, allowedLength: 1, penaltyLastN: 9, sequenceBreakers: [[4, 0, 1], [5]] },
        penalizePrompt: { dry: false },
        allowedTokens: [0, 1, 2, 3, 4],
        temperature: 0.5,
        topK: 4,
        topP: 0.9,
        seed: 12,
      },
    },
  ];

  it.each(plans)('processed logits and tokens equal the reference step by step: $name', async ({ B, V, steps, prompts, opts }) => {
    const r = seedrandom(`dry:${B}x${V}`);
    const rows = Array.from({ length: B }, () => Array.from({ length: V }, () => f32(r() * 1.5)));
    const s = createSampler(opts);
    s.begin(prompts);
    const hist = prompts.map((p) => [...p]);
    const before = tf.memory().numTensors;
    let edited = 0;
    for (let step = 0; step < steps; step++) {
      const ctx = { history: hist, promptLength: prompts.map((p) => p.length) };
      const want = reference.process(rows, opts, ctx);
      expectSameRows(await processed(s, rows), want, `step ${step}`);
      const { dry: _dry, ...withoutDry } = opts;
      const plain = reference.process(rows, withoutDry, ctx);
      edited += want.flatMap((row, b) => Array.from(row).filter((v, j) => !Object.is(v, plain[b]![j]))).length;
      const x = tf.tensor2d(rows);
      const ids = Array.from(await s.sampleIds(x));
      x.dispose();
      expect(ids, `step ${step} tokens (${s.lastPath})`).toEqual(reference.sample(rows, opts, step, ctx));
      ids.forEach((t, b) => hist[b]!.push(t));
    }
    expect(edited, 'DRY penalised some token along the way').toBeGreaterThan(0);
    s.dispose();
    expect(tf.memory().numTensors).toBe(before); // the window is freed
  });

  it('generate() begins DRY with the unpadded prompts (left padding never counts) and draws the reference tokens', async () => {
    // Tokens 2 and 5 lead, so that a penalty on either moves the draws.
    const row = [0.5, 0.25, 3, 0.75, 0, 3, 1, 0.125];
    const padId = 6; // no row's breaker
    // Padded to 5 tokens: row 1 [6, 3, 5, 6, 3], where the pad before the first 3 extends the
    // repeat [6, 3] to allowedLength 2 (5 penalised); row 2 [6, 6, 6, 2, 6], whose window of 4
    // holds pads that repeat 6 (2 and 6 penalised). Unpadded, neither row has a repeat.
    const prompts = [
      [0, 1, 2, 0, 1],
      [3, 5, 6, 3],
      [2, 6],
    ];
    const options: SamplerOptions = {
      temperature: 0.7,
      dry: [
        { multiplier: 1, allowedLength: 1, penaltyLastN: 16 },
        { multiplier: 2, base: 2, allowedLength: 2, penaltyLastN: 16, sequenceBreakers: [[7]] },
        { multiplier: 3, base: 1.2, allowedLength: 1, penaltyLastN: 4 },
      ],
      seed: 31,
    };
    const before = tf.memory().numTensors;
    const steps = gpu ? 5 : 8;
    // Fixed logits: every difference between the rows' tokens comes from their histories.
    const result = await generate(() => tf.tensor2d([row, row, row]), { prompts, padId, maxNewTokens: steps, sampler: options, contextLength: 1 });
    expect(tf.memory().numTensors).toBe(before);
    const drawn = (starts: number[][]): number[][] => {
      const hist = starts.map((p) => [...p]);
      for (let step = 0; step < steps; step++) {
        reference.sample([row, row, row], options, step, { history: hist, promptLength: starts.map((p) => p.length) }).forEach((t, r) => hist[r]!.push(t));
      }
      return hist.map((h, r) => h.slice(starts[r]!.length));
    };
    const want = drawn(prompts);
    expect(result.tokens).toEqual(want);
    // Negative control: with the pads in the histories the reference draws other tokens in both
    // padded rows, so a DRY that counted them would fail above.
    const L = Math.max(...prompts.map((p) => p.length));
    const withPads = drawn(prompts.map((p) => [...new Array<number>(L - p.length).fill(padId), ...p]));
    expect(withPads[0], 'row 0 has no pad').toEqual(want[0]);
    for (const r of [1, 2]) expect(withPads[r], `row ${r} with its pads counted`).not.toEqual(want[r]);
  });

  it("a penalty beyond float32 bans the token (as llama.cpp's logit -= inf), in both paths; a row left with nothing is invalid", async () => {
    const opts: SamplerOptions = { dry: { multiplier: 1e30, base: 1e10, allowedLength: 1 }, seed: 3 };
    const rows = [[0.5, 1, 2, 0.25]];
    const ctx = { history: [[0, 1, 2, 0, 1]], promptLength: [5] }; // [0, 1] repeats, then 2 (n = 2: 1e30 · 1e10 overflows)
    const want = reference.process(rows, opts, ctx)[0]!;
    expect(Array.from(want)).toEqual([0.5, 1, -Infinity, 0.25]);
    const s = createSampler(opts);
    s.begin(ctx.history);
    expectSameRows(await processed(s, rows), [want], 'processed');
    s.dispose();
    // With token 2 the only one allowed, the ban leaves nothing: an invalid row made by a
    // processor, as in the reference, and the throwing call leaves no tensor behind.
    const only2: SamplerOptions = { ...opts, allowedTokens: [2] };
    expect(() => reference.sample(rows, only2, 0, ctx)).toThrow(InvalidRowsError);
    const before = tf.memory().numTensors;
    const t = createSampler(only2);
    t.begin(ctx.history);
    const x = tf.tensor2d(rows);
    const err = await t.sampleIds(x).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRowsError);
    expect((err as InvalidRowsError).rows).toEqual([{ row: 0, cause: 'no-finite-logit', source: 'processor' }]);
    x.dispose();
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  // Random windows against the reference, bit for bit, step after step (the device window's
  // matches and occurrence links updated by each accept): repeats from a 6-token alphabet, per-row
  // options (off rows, allowedLength 0-3, overflowing penalties, one-token and longer breakers
  // with shared heads, windows), both prompt scopes, ±Infinity and huge logits. On the software
  // GPU adapters one shape (B 3, V 6, window 16: row 0's) so that the pipelines compile once.
  const V6 = 6;
  const tokenArb = fc.integer({ min: 0, max: V6 - 1 });
  const rowArb = (first: boolean) =>
    fc.option(
      fc.record({
        multiplier: fc.constantFrom(0.5, 2, 1e30),
        base: fc.constantFrom(1, 1.75, 3, 1e10),
        allowedLength: fc.integer({ min: 0, max: 3 }),
        penaltyLastN: first && gpu ? fc.constant(16) : gpu ? fc.integer({ min: 1, max: 16 }) : fc.constantFrom(-1, 1, 2, 5, 9, 16),
        sequenceBreakers: fc.array(fc.array(tokenArb, { minLength: 1, maxLength: 3 }), { maxLength: 3 }),
      }),
      { freq: 5, nil: undefined },
    );
  const historyArb = fc
    .tuple(fc.array(tokenArb, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 5 }), fc.array(tokenArb, { maxLength: 4 }))
    .map(([phrase, times, tail]) => [...Array.from({ length: times }, () => phrase).flat(), ...tail]);
  // SwiftShader flushes subnormals to zero (docs/backends.md; the fuzz suite covers them):
  // none on the software GPU adapters here.
  const finiteArb = fc.float({ min: -3, max: 3, noNaN: true }).map((v) => (gpu && v !== 0 && Math.abs(v) < 2 ** -126 ? 0 : v));
  const logitArb = fc.oneof({ weight: 8, arbitrary: finiteArb }, fc.constantFrom(-Infinity, Infinity, 3e38, -3e38, Number.NaN));
  const dryCaseArb = fc.record({
    rows: fc.tuple(rowArb(true), rowArb(false), rowArb(false)),
    prompts: fc.tuple(historyArb, historyArb, historyArb),
    logits: fc.array(fc.array(logitArb, { minLength: V6, maxLength: V6 }), { minLength: 3, maxLength: 3 }),
    prompt: fc.boolean(),
    steps: fc.integer({ min: 1, max: 3 }),
    seed: fc.integer({ min: 0, max: 1000 }),
  });
  const dryRuns = gpu ? 25 : 500;
  it(`DRY equals the reference bit for bit on random windows and options, step by step (${dryRuns} fast-check cases)`, async () => {
    let edited = 0;
    await fc.assert(
      fc.asyncProperty(dryCaseArb, async (c) => {
        // Some row must be on (an all-off spec has no DRY stage); a greedy draw keeps every step valid.
        const dry: (DryOptions | undefined)[] = c.rows.some(Boolean) ? [...c.rows] : [{ multiplier: 1 }, undefined, undefined];
        if (gpu && !dry[0]) dry[0] = { multiplier: 1, penaltyLastN: 16 };
        const opts: SamplerOptions = { dry: dry as DryOptions[], penalizePrompt: { dry: c.prompt }, temperature: 0, invalidRows: 'greedy', seed: c.seed };
        const before = tf.memory().numTensors;
        const s = createSampler(opts);
        s.begin(c.prompts);
        const hist = c.prompts.map((p) => [...p]);
        const x = tf.tensor2d(c.logits);
        try {
          for (let step = 0; step < c.steps; step++) {
            const ctx = { history: hist, promptLength: c.prompts.map((p) => p.length) };
            const want = reference.process(c.logits, opts, ctx);
            expectSameRows(await processed(s, c.logits), want, `step ${step}`);
            edited += want.flatMap((row, r) => Array.from(row).filter((v, j) => !Object.is(f32(v), f32(c.logits[r]![j]!)))).length;
            const ids = Array.from(await s.sampleIds(x));
            expect(ids, `step ${step} tokens`).toEqual(reference.sample(c.logits, opts, step, ctx));
            ids.forEach((t, r) => hist[r]!.push(t));
          }
        } finally {
          x.dispose();
          s.dispose();
        }
        expect(tf.memory().numTensors).toBe(before);
      }),
      { seed: 0x5eed0030, numRuns: dryRuns },
    );
    expect(edited, 'DRY penalised tokens in these cases').toBeGreaterThan(dryRuns / 2);
  });

  it.runIf(backend === 'webgpu')(
    `webgpu runs DRY as its own kernel (a copy and one workgroup per row), not the tfjs-op formulation${backend === 'webgpu' ? '' : ' (skipped here: webgpu only)'}`,
    async () => {
      const s = createSampler({ dry: { multiplier: 0.8, sequenceBreakers: [[3]] }, seed: 1 });
      s.begin([[0, 1, 2, 0, 1, 2, 0, 1]]);
      const x = tf.tensor2d([[0.1, 0.2, 0.3, 0.4]]);
      const info = await tf.profile(() => s.process(x));
      (info.result as tf.Tensor).dispose();
      expect(info.kernelNames).toContain(DRY_WEBGPU_KERNEL);
      expect(
        info.kernelNames.filter((k) => ['GatherV2', 'ScatterNd', 'Min'].includes(k)),
        'kernels of the tfjs-op formulation',
      ).toEqual([]);
      x.dispose();
      s.dispose();
    },
  );

  it('sample() reads nothing back; the window keeps its shape and memory over 12 steps', async () => {
    const s = createSampler({
      dry: [
        { multiplier: 0.8, sequenceBreakers: [[1, 2], [3]] },
        { multiplier: 1, penaltyLastN: 16 },
      ],
      repetitionPenalty: 1.1,
      seed: 5,
    });
    s.begin([
      [1, 2, 1, 2, 1],
      [0, 4, 0, 4],
    ]);
    const x = tf.tensor2d([
      [1, 2, 3, 0.5, 0.1, 0],
      [0, 2, 1, 3, 0.5, 0.2],
    ]);
    const base = tf.memory().numTensors;
    s.sample(x).dispose();
    const { result, reads } = countReads(() => s.sample(x));
    result.dispose();
    expect(readBacks(reads), describeReads(reads)).toEqual([]);
    const after = tf.memory();
    for (let i = 0; i < 12; i++) s.sample(x).dispose();
    expect(tf.memory().numTensors).toBe(after.numTensors);
    expect(tf.memory().numBytes).toBe(after.numBytes);
    s.reset();
    expect(tf.memory().numTensors).toBe(base); // the window, its matches and the counts are freed
    s.dispose();
    x.dispose();
  });

  it('bad options and bad calls raise SamplingErrors naming the argument and leave no tensor', async () => {
    const before = tf.memory().numTensors;
    const bad: [SamplerOptions, string][] = [
      [{ dry: { multiplier: Infinity } }, 'dry.multiplier'],
      [{ dry: [{ multiplier: 1 }, { multiplier: 1, base: NaN }] }, 'dry[1].base'],
      [{ dry: { multiplier: 1, sequenceBreakers: [[1, 2.5]] } }, 'dry.sequenceBreakers[0][1]'],
    ];
    for (const [opts, argument] of bad) {
      const err = (() => {
        try {
          createSampler(opts);
        } catch (e) {
          return e;
        }
      })();
      expect(err, argument).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument).toBe(argument);
    }
    const x = tf.tensor2d([[1, 2, 3]]);
    const s = createSampler({ dry: { multiplier: 1, sequenceBreakers: [[5]] } });
    const inside = tf.memory().numTensors;
    expect(() => s.sample(x)).toThrow(/dry\.sequenceBreakers\[0\]\[0\]/);
    expect(() => s.process(x)).toThrow(SamplingError);
    expect(tf.memory().numTensors).toBe(inside);
    s.dispose();
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
