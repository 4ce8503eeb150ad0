// The sparse-edit path of the CPU backends (src/host-history.ts): penalties, n-gram and bad-word
// bans, min new tokens, logit bias and the per-call bitmask applied to the fused kernel's own copy
// of each row. It must give, id for id and invalid-row code for code, what the tensor chain
// gives; a user processor that changes nothing forces the tensor chain, so each case runs both.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSampler, reference, type LogitsProcessor, type SamplerOptions } from '../src/index.js';
import { setFusedObserver, type FusedKeptEvent } from '../src/backends/fused-observer.js';
import { registerFusedFlag } from '../src/backends/fused.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS } from './helpers/backend.js';
import { startCounting } from './helpers/read-counter.js';
import { normalizeOptions } from '../src/options.js';
import { ROW_SCATTER, rowScatterAdd } from '../src/backends/webgl-scatter.js';
import { WINDOW_UPDATE } from '../src/backends/webgl/window-directory.js';
import { editKernelsAvailable, invalidCodesKernel } from '../src/backends/js-kernels.js';
import { historyStages } from '../src/history-options.js';
import { historyNeeds } from '../src/history-chain.js';
import { HostTokenHistory } from '../src/host-history.js';
import { invalidRow, sampleRows, type FusedPlan } from '../src/backends/js/sample-rows.js';
import { sampleRowsSimd } from '../src/backends/wasm-simd/sample-rows-simd.js';
import { TOP_K_KERNEL } from '../src/backends/gpu-chain.js';
import { registerWebgpuTopK } from '../src/backends/webgpu/top-k.js';
import { mulberry32 } from '../bench/logits.js';
import { maskLogits } from '../src/processors/token-mask.js';
import { uploadMaskWords } from '../src/backends/js-kernels.js';

const SPECIAL = [-Infinity, -Infinity, 3.3e38, -3.3e38, 0, -0, 1e-40];

/** A user processor that changes nothing: the sampler runs the tensor chain. */
const IDENTITY: LogitsProcessor = { name: 'identity', apply: (s) => s, reference: (s) => s };

const caseArbOf = (size: fc.Arbitrary<{ B: number; V: number; steps: number }>) =>
  size.chain(({ B, V, steps }) =>
    fc.record({
      B: fc.constant(B),
      V: fc.constant(V),
      steps: fc.constant(steps),
      logits: fc.array(
        fc.oneof(
          { arbitrary: fc.float({ min: -8, max: 8, noNaN: true }), weight: 240 },
          { arbitrary: fc.constantFrom(...SPECIAL), weight: 20 },
          { arbitrary: fc.constantFrom(NaN, Infinity), weight: 1 },
        ),
        { minLength: B * V, maxLength: B * V },
      ),
      prompts: fc.array(fc.array(fc.integer({ min: 0, max: V - 1 }), { maxLength: 12 }), { minLength: B, maxLength: B }),
      rep: fc.option(fc.array(fc.constantFrom(1, 1.3, 0.7, 50), { minLength: B, maxLength: B }), { nil: undefined }),
      freq: fc.option(fc.constantFrom(0, 0.5, -2, 1e30), { nil: undefined }),
      pres: fc.option(fc.array(fc.constantFrom(0, 1, -1.5), { minLength: B, maxLength: B }), { nil: undefined }),
      lastN: fc.option(fc.array(fc.constantFrom(1, 2, 5, Infinity), { minLength: B, maxLength: B }), { nil: undefined }),
      prompt: fc.record({ repetition: fc.boolean(), frequency: fc.boolean(), presence: fc.boolean() }),
      ngram: fc.option(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: B, maxLength: B }), { nil: undefined }),
      bad: fc.option(fc.array(fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }), {
        nil: undefined,
      }),
      minNew: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      mask: fc.option(fc.array(fc.constantFrom(-1, 0, 0x55555555, 0x0f0f0f0f, 1, -2), { minLength: B * Math.ceil(V / 32), maxLength: B * Math.ceil(V / 32) }), {
        nil: undefined,
      }),
      bias: fc.option(fc.dictionary(fc.integer({ min: 0, max: V - 1 }).map(String), fc.constantFrom(-Infinity, 2.5, -1, 3e38, -3e38, 1e-30)), {
        nil: undefined,
      }),
      temperature: fc.constantFrom(0, 0.7, 1, 1.5),
      topK: fc.constantFrom(0, 1, 5),
      topP: fc.constantFrom(1, 0.9),
      seed: fc.integer({ min: 0, max: 1000 }),
    }),
  );

const caseArb = caseArbOf(fc.record({ B: fc.integer({ min: 1, max: 5 }), V: fc.integer({ min: 1, max: 200 }), steps: fc.integer({ min: 1, max: 4 }) }));
/** Software GPU adapters compile per shape: a few shapes (a partial mask word and V = 1 included). */
const gpuCaseArb = caseArbOf(fc.record({ B: fc.constantFrom(1, 3), V: fc.constantFrom(1, 70), steps: fc.integer({ min: 1, max: 3 }) }));

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

function optionsOf(c: Case): SamplerOptions {
  const o: Record<string, unknown> = { temperature: c.temperature, topK: c.topK, topP: c.topP, seed: c.seed, penalizePrompt: c.prompt };
  if (c.rep) o.repetitionPenalty = c.rep;
  if (c.freq !== undefined) o.frequencyPenalty = c.freq;
  if (c.pres) o.presencePenalty = c.pres;
  if (c.lastN) o.penaltyLastN = c.lastN;
  if (c.ngram) o.noRepeatNgramSize = c.ngram;
  if (c.bad) o.badWords = c.bad;
  if (c.minNew !== undefined) {
    o.minNewTokens = c.minNew;
    o.stopTokens = [c.V - 1];
  }
  if (c.bias) o.logitBias = Object.fromEntries(Object.entries(c.bias));
  return o as SamplerOptions;
}

const EDIT_KERNELS = ['TfjsSamplingPenalties', 'TfjsSamplingBiasDrop', 'TfjsSamplingBitmask', 'TfjsSamplingCountsUpdate', 'TfjsSamplingInvalidCodes'];

/** Whether the fused kernels are on in this project (the flag registered first). */
function fusedFlagOn(): boolean {
  registerFusedFlag();
  return tf.env().getBool('TFJS_SAMPLING_FUSED');
}
describe.each(BACKENDS)('sparse edits on %s', (backend) => {
  backendSuite(backend);
  const here = (backend === 'cpu' || backend === 'wasm') && process.env.TFJS_SAMPLING_FUSED !== '0';
  const why = here ? '' : ' (skipped here: the sparse path exists in the fused cpu and wasm kernels only)';

  it.runIf(here)(
    `the same ids and invalid-row codes as the tensor chain, step by step, with no read-back and no tensor left (300 random cases)${why}`,
    async () => {
      let sparseCalls = 0;
      let refSteps = 0;
      const events: FusedKeptEvent[] = [];
      setFusedObserver((e) => events.push(e));
      try {
        await fc.assert(
          fc.asyncProperty(caseArb, async (c) => {
            const opts = optionsOf(c);
            const before = tf.memory().numTensors;
            const x = tf.tensor2d(Float32Array.from(c.logits), [c.B, c.V]);
            const sparse = createSampler(opts);
            const dense = createSampler({ ...opts, processors: [IDENTITY] });
            sparse.begin(c.prompts);
            dense.begin(c.prompts);
            const mask = c.mask ? Int32Array.from(c.mask) : undefined;
            const context = mask ? { mask } : undefined;
            const rows = Array.from({ length: c.B }, (_, r) => Array.from(x.dataSync().subarray(r * c.V, (r + 1) * c.V)));
            const hist = c.prompts.map((p) => [...p]);
            for (let step = 0; step < c.steps; step++) {
              events.length = 0;
              const reads = startCounting();
              const a = sparse.sample(x, context);
              reads.stop();
              expect(reads.events, 'read-backs inside sample()').toEqual([]);
              if (events.some((e) => e.edited)) sparseCalls++;
              events.length = 0;
              const b = dense.sample(x, context);
              expect(
                events.every((e) => !e.edited),
                'a user processor: the tensor chain',
              ).toBe(true);
              const [ia, ib] = [Array.from(await a.data()), Array.from(await b.data())];
              tf.dispose([a, b]);
              expect(ia, `step ${step}`).toEqual(ib);
              // The history itself (windows, counts, tails) against the float64 reference's plain
              // arrays, where no row is invalid (the reference throws there).
              if (ia.every((t) => t >= 0)) {
                const maskRows = mask && Array.from({ length: c.B }, (_, r) => mask.subarray(r * Math.ceil(c.V / 32), (r + 1) * Math.ceil(c.V / 32)));
                const want = reference.sample(rows, opts, step, {
                  history: hist,
                  promptLength: c.prompts.map((p) => p.length),
                  ...(maskRows ? { mask: maskRows } : {}),
                });
                expect(ia, `step ${step}, reference`).toEqual(want);
                refSteps++;
              }
              ia.forEach((t, r) => hist[r]!.push(t));
            }
            sparse.dispose();
            dense.dispose();
            x.dispose();
            expect(tf.memory().numTensors).toBe(before);
          }),
          { seed: 0x5eed0020, numRuns: 300 },
        );
      } finally {
        setFusedObserver(undefined);
      }
      console.log(`sparse edits ${backend}: ${sparseCalls} calls edited in the kernel; ${refSteps} steps also equal to the reference`);
      expect(sparseCalls).toBeGreaterThan(100);
      expect(refSteps).toBeGreaterThan(250);
    },
  );

  const gpu = (backend === 'webgpu' || backend === 'webgl') && fusedFlagOn();
  const gpuWhy = gpu ? '' : ' (skipped here: the GPU chain folds the mask on webgl and webgpu only)';

  it.runIf(gpu)(
    `a bitmask read by the GPU chain's own kernels draws what the masked logits draw: ids, codes, the reference, no bitmask pass, no read-back, no tensor left${gpuWhy}`,
    async () => {
      // Shapes: V 70 (webgl: top-k 5 > 2 windows, so the dense bitmask pass) and 333; per-row
      // top-k (webgl folds only when every row has one and top-p needs it), top-p, min-p, greedy
      // rows, a penalty and a bias before the mask, NaN / ±Infinity, rows the mask empties. No
      // subnormals: SwiftShader flushes them (the fuzz suite covers them).
      const arb = fc.record({ B: fc.constant(3), V: fc.constantFrom(70, 333), steps: fc.integer({ min: 1, max: 2 }) }).chain(({ B, V, steps }) =>
        fc.record({
          B: fc.constant(B),
          V: fc.constant(V),
          steps: fc.constant(steps),
          logits: fc.array(
            fc.oneof(
              { arbitrary: fc.float({ min: -8, max: 8, noNaN: true }).map((v) => (v !== 0 && Math.abs(v) < 2 ** -126 ? 0 : v)), weight: 4000 },
              { arbitrary: fc.constantFrom(-Infinity, 3.3e38, -0, NaN, Infinity), weight: 1 },
            ),
            { minLength: B * V, maxLength: B * V },
          ),
          // Dense random words, and sparse ones (one bit, none), where the masked maxima differ.
          words: fc.oneof(
            fc.array(
              fc.oneof(
                { arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), weight: 6 },
                { arbitrary: fc.constantFrom(0, -1, 1, 0x40000000), weight: 2 },
              ),
              { minLength: B * Math.ceil(V / 32), maxLength: B * Math.ceil(V / 32) },
            ),
            fc.array(fc.oneof({ arbitrary: fc.integer({ min: 0, max: 31 }).map((n) => 1 << n), weight: 1 }, { arbitrary: fc.constant(0), weight: 2 }), {
              minLength: B * Math.ceil(V / 32),
              maxLength: B * Math.ceil(V / 32),
            }),
          ),
          negInf: fc.boolean(), // every 7th logit of row 0 -Infinity: the k-th among -Infinity's keys
          emptyRow: fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: B - 1 }), weight: 1 }),
          temperature: fc.array(fc.constantFrom(0, 0.7, 1), { minLength: B, maxLength: B }),
          topK: fc.oneof(
            fc.constantFrom(0, 1, 5, 50),
            fc.array(fc.constantFrom(0, 3, 40), { minLength: B, maxLength: B }),
            fc.array(fc.constantFrom(1, 2, 5), { minLength: B, maxLength: B }),
          ),
          topP: fc.constantFrom(1, 0.9, 0.5),
          minP: fc.constantFrom(0, 0, 0.1),
          history: fc.boolean(),
          seed: fc.integer({ min: 0, max: 1000 }),
        }),
      );
      let folded = 0;
      let refRows = 0;
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          const W = Math.ceil(c.V / 32);
          const words = Int32Array.from(c.words);
          if (c.emptyRow !== undefined) words.fill(0, c.emptyRow * W, (c.emptyRow + 1) * W);
          const opts: SamplerOptions = { temperature: c.temperature, topK: c.topK, topP: c.topP, minP: c.minP, seed: c.seed };
          if (c.history) Object.assign(opts, { repetitionPenalty: 1.3, logitBias: { 2: 1.5, 5: -Infinity } });
          const logits = c.logits.map((v, i) => (c.negInf && i < c.V && i % 7 === 3 ? -Infinity : v));
          const before = tf.memory().numTensors;
          const x = tf.tensor2d(Float32Array.from(logits), [c.B, c.V]);
          const rows = Array.from({ length: c.B }, (_, r) => logits.slice(r * c.V, (r + 1) * c.V).map(Math.fround));
          const maskRows = Array.from({ length: c.B }, (_, r) => words.subarray(r * W, (r + 1) * W));
          const fold = createSampler(opts);
          const dense = createSampler({ ...opts, processors: [IDENTITY] });
          const hist: number[][] = rows.map(() => []);
          for (let step = 0; step < c.steps; step++) {
            const reads = startCounting();
            const info = await tf.profile(() => fold.sample(x, { mask: words }));
            reads.stop();
            expect(reads.events, 'read-backs inside sample()').toEqual([]);
            if (!info.kernelNames.includes('TfjsSamplingBitmask')) {
              folded++;
              // Without history edits the draw's own reduction tells a row the mask emptied: no pass for the rule.
              if (!c.history) expect(info.kernelNames, 'the invalid-row rule from the draw').not.toContain('TfjsSamplingInvalidCodes');
            }
            const a = info.result as tf.Tensor;
            const b = dense.sample(x, { mask: words });
            const [ia, ib] = [Array.from(await a.data()), Array.from(await b.data())];
            tf.dispose([a, b]);
            expect(ia, `step ${step}: folded vs the masked logits`).toEqual(ib);
            if (ia.every((t) => t >= 0)) {
              expect(ia, `step ${step}, reference`).toEqual(reference.sample(rows, opts, step, { history: hist, mask: maskRows }));
              refRows += c.B;
            }
            if (c.emptyRow !== undefined && !rows[c.emptyRow]!.some((v) => Number.isNaN(v) || v === Infinity)) {
              expect(ia[c.emptyRow], "a row the mask empties: the processors' code").toBe(rows[c.emptyRow]!.some(Number.isFinite) ? -6 : -3);
            }
            ia.forEach((t, r) => hist[r]!.push(t));
          }
          if (backend === 'webgpu') {
            // The top-k kernel's every output (threshold, finite count, max, sorted k) with the mask
            // read lazily equals the kernel's on masked logits, bit for bit (rows with fewer allowed
            // tokens than k included: the k-th among -Infinity's keys).
            const kRows = Array.isArray(c.topK) ? c.topK : c.topK > 0 ? new Array(c.B).fill(c.topK) : [1, 7, 40];
            const kmax = Math.max(...kRows);
            const [got, want] = tf.tidy(() => {
              const k = tf.tensor1d(kRows.map((v) => (v < c.V ? v : 0)));
              const attrs = { kmax } as unknown as tf.NamedAttrMap;
              const m = uploadMaskWords(words, c.B, c.V);
              return [
                tf.engine().runKernel(TOP_K_KERNEL, { logits: x, k, mask: m }, attrs) as tf.Tensor,
                tf.engine().runKernel(TOP_K_KERNEL, { logits: maskLogits(x, maskRows), k }, attrs) as tf.Tensor,
              ];
            });
            const [g, w] = [await got.data(), await want.data()];
            tf.dispose([got, want]);
            for (let i = 0; i < w.length; i++)
              if (!Object.is(g[i], w[i])) throw new Error(`top-k output ${i}: ${g[i]} with the mask, ${w[i]} on masked logits`);
          }
          fold.dispose();
          dense.dispose();
          x.dispose();
          expect(tf.memory().numTensors).toBe(before);
        }),
        { seed: 0x5eed0031, numRuns: 40 },
      );
      console.log(`bitmask fold ${backend}: ${folded} calls without a bitmask pass; ${refRows} rows also equal to the reference`);
      expect(folded).toBeGreaterThan(backend === 'webgpu' ? 40 : 10);
      expect(refRows).toBeGreaterThan(40);
    },
  );

  it.runIf(gpu && backend === 'webgpu')(
    `webgpu top-k kernel: the mask read in the kernel gives every output of the kernel on masked logits, bit for bit, past its 1,024-key buffer (ties, the k-th among -Infinity)${gpu && backend === 'webgpu' ? '' : ' (skipped here: webgpu only)'}`,
    async () => {
      expect(registerWebgpuTopK()).toBe(true);
      const V = 3000;
      const W = Math.ceil(V / 32);
      const rnd = mulberry32(0x5eed0032);
      const rows: [number[], Int32Array][] = [
        [new Array(V).fill(0), new Int32Array(W).fill(0x55555555)], // ties: never copied
        [Array.from({ length: V }, (_, j) => (j % 7 === 3 ? -Infinity : 0)), Int32Array.from({ length: W }, (_, i) => (i < 3 ? 1 : 0))], // 3 allowed, k-th among -Infinity
        [Array.from({ length: V }, (_, j) => (j % 5 === 0 ? -Infinity : Math.round(rnd() * 4))), Int32Array.from({ length: W }, () => (rnd() * 2 ** 32) | 0)],
        [Array.from({ length: V }, () => Math.round(rnd() * 2) - 3.3e38 * (rnd() < 0.5 ? 1 : 0)), Int32Array.from({ length: W }, (_, i) => (i % 3 ? 0 : -1))],
        [Array.from({ length: V }, (_, j) => (j % 2 ? -Infinity : 1)), new Int32Array(W)], // nothing allowed
      ];
      const B = rows.length;
      const words = new Int32Array(B * W);
      rows.forEach(([, m], r) => words.set(m, r * W));
      for (const kRows of [
        [50, 50, 50, 50, 50],
        [1, 1500, 3, 700, 2],
        [1024, 0, 10, 1024, 5],
      ]) {
        const kmax = Math.max(...kRows);
        const [got, want] = tf.tidy(() => {
          const x = tf.tensor2d(rows.map(([z]) => z));
          const k = tf.tensor1d(kRows);
          const attrs = { kmax } as unknown as tf.NamedAttrMap;
          return [
            tf.engine().runKernel(TOP_K_KERNEL, { logits: x, k, mask: uploadMaskWords(words, B, V) }, attrs) as tf.Tensor,
            tf.engine().runKernel(
              TOP_K_KERNEL,
              {
                logits: maskLogits(
                  x,
                  rows.map(([, m]) => m),
                ),
                k,
              },
              attrs,
            ) as tf.Tensor,
          ];
        });
        const [g, w] = [await got.data(), await want.data()];
        tf.dispose([got, want]);
        for (let i = 0; i < w.length; i++) {
          if (!Object.is(g[i], w[i]))
            throw new Error(`k ${kRows}: output ${i} (row ${Math.floor(i / (kmax + 3))}): ${g[i]} with the mask, ${w[i]} on masked logits`);
        }
      }
    },
  );

  it.runIf(here)(
    `invalid rows: the input rule first (NaN, +Infinity on an edited token), then a row the edits leave empty is the processors' doing${why}`,
    async () => {
      const V = 4;
      const rows = [
        [1, 2, 3, 4], // every token banned by the bias: the processors' doing (-6)
        [NaN, 2, 3, 4], // NaN on a banned token: the input's (-1)
        [Infinity, 2, 3, 4], // +Infinity on a biased token, which the edit saturates: the input's (-2)
        [-Infinity, -Infinity, -Infinity, -Infinity], // nothing finite in the input (-3)
        [0, 1, 2, 3], // valid
      ];
      const logitBias = [{ 0: -Infinity, 1: -Infinity, 2: -Infinity, 3: -Infinity }, { 0: -Infinity }, { 0: 1 }, { 1: 2 }, { 3: -Infinity }];
      const opts: SamplerOptions = { logitBias, seed: 1 };
      void V;
      const x = tf.tensor2d(rows);
      const events: FusedKeptEvent[] = [];
      setFusedObserver((e) => events.push(e));
      try {
        const s = createSampler(opts);
        const ids = s.sample(x);
        const got = Array.from(await ids.data());
        ids.dispose();
        expect(events.some((e) => e.edited)).toBe(true);
        expect(got.slice(0, 4)).toEqual([-6, -1, -2, -3]);
        const d = createSampler({ ...opts, processors: [IDENTITY] });
        const dense = d.sample(x);
        expect(got).toEqual(Array.from(await dense.data())); // the tensor chain: codes and the valid row's token
        dense.dispose();
        expect([0, 1, 2]).toContain(got[4]);
        await expect(s.sampleIds(x)).rejects.toThrow(/processor/);
        s.dispose();
        d.dispose();
      } finally {
        setFusedObserver(undefined);
        x.dispose();
      }
    },
  );

  it.runIf(here)(`edit values equal the tensor processors' logits bit for bit, over 6 steps of one history${why}`, async () => {
    const B = 3;
    const V = 50;
    const opts: SamplerOptions = {
      repetitionPenalty: [1.3, 0.8, 1],
      frequencyPenalty: 0.7,
      presencePenalty: [0.5, -1, 0],
      penaltyLastN: [4, Infinity, 2],
      penalizePrompt: { frequency: true },
      noRepeatNgramSize: 2,
      badWords: [[3], [5, 6]],
      minNewTokens: 2,
      stopTokens: [49],
      logitBias: { 1: 2.5, 2: -Infinity, 7: 3e38, 8: 1e-3 },
      seed: 1,
    };
    const values = Float32Array.from({ length: B * V }, (_, i) => (i % 17 === 5 ? -Infinity : Math.fround(Math.sin(i * 1.3) * 3)));
    const prompts = [[5, 1, 7, 5], [8, 8, 2], []];
    const x = tf.tensor2d(values, [B, V]);
    const s = createSampler(opts);
    s.begin(prompts);
    const spec = normalizeOptions(opts).history;
    const h = new HostTokenHistory(B, V, historyNeeds(spec)!, prompts);
    let compared = 0;
    for (let step = 0; step < 6; step++) {
      const z = s.process(x); // T = 1, no filter: the history processors' logits (kept values within ±FLT_MAX)
      const want = await z.data();
      z.dispose();
      const edit = h.editor(spec, historyStages(spec));
      const got = Float32Array.from(values);
      for (let r = 0; r < B; r++) edit(got.subarray(r * V, (r + 1) * V), r);
      for (let i = 0; i < got.length; i++) {
        if (!Object.is(got[i], want[i])) throw new Error(`step ${step}, row ${Math.floor(i / V)}, token ${i % V}: edit ${got[i]}, tensor chain ${want[i]}`);
      }
      compared += got.filter((v, i) => !Object.is(v, values[i])).length;
      const ids = s.sample(x);
      h.accept(ids);
      ids.dispose();
    }
    expect(compared).toBeGreaterThan(30);
    s.dispose();
    x.dispose();
  });

  it.runIf(here && backend === 'cpu')(
    `the JS kernel (no SIMD) edits and masks its own row copy like the SIMD kernel: same ids and codes, the logits untouched${why}`,
    () => {
      const B = 4;
      const V = 37;
      const values = Float32Array.from({ length: B * V }, (_, i) => Math.fround(Math.cos(i * 0.7) * 2));
      values[2 * V + 5] = Infinity; // row 2: +Infinity on a token the editor bans: the input's code
      const original = Float32Array.from(values);
      const editRow = (row: Float32Array, r: number): number => {
        let flags = 0;
        const js = r === 1 ? Array.from({ length: V }, (_, j) => j) : [0, 5, 9];
        for (const j of js) {
          const v = row[j]!;
          if (v === Infinity) flags |= 1;
          else if (Number.isFinite(v)) flags |= 2;
          row[j] = r === 3 ? Math.fround(v * 0.5) : -Infinity;
        }
        return flags;
      };
      const plan: FusedPlan = {
        batch: B,
        vocab: V,
        invT: Float64Array.from([1, 1, 1, Infinity]),
        topK: Float64Array.from([5, 0, 0, 0]),
        topP: Float64Array.from([0.9, 1, 1, 1]),
        minP: new Float64Array(B),
        stepKeys: Uint32Array.from([1, 2, 3, 4]),
        invalidRows: 'error',
        editRow,
      };
      // And the same plan with a bitmask after the edits: row 0 keeps the even tokens, row 1 all,
      // row 2 none of its first word (a NaN there stays NaN), row 3 a few.
      values[2 * V + 7] = NaN;
      const masked: FusedPlan = {
        ...plan,
        mask: [Int32Array.of(0x55555555, 0x1f), Int32Array.of(-1, -1), Int32Array.of(0, -1), Int32Array.of(0x00f000f1, 0x10)],
      };
      const jsM = new Int32Array(B);
      const simdM = new Int32Array(B);
      sampleRows(values, masked, jsM);
      expect(sampleRowsSimd(values, masked, simdM)).toBe(true);
      expect(Array.from(jsM)).toEqual(Array.from(simdM));
      expect(jsM[0]! % 2).toBe(0);
      expect(jsM[2]).toBe(-1); // NaN in the input: kept by the mask, the input's code
      expect([0, 4, 5, 6, 7, 20, 21, 22, 23, 36]).toContain(jsM[3]);
      values[2 * V + 7] = original[2 * V + 7]!;
      const js = new Int32Array(B);
      const simd = new Int32Array(B);
      sampleRows(values, plan, js);
      expect(sampleRowsSimd(values, plan, simd)).toBe(true);
      expect(Array.from(js)).toEqual(Array.from(simd));
      expect(js[1]).toBe(-6); // every token banned: the processors' doing
      expect(js[2]).toBe(-2); // +Infinity in the input, on an edited token
      expect([0, 5, 9]).not.toContain(js[0]);
      expect(values).toEqual(original);
    },
  );

  it.runIf(here && backend === 'cpu')(
    `a bitmask folded into the top-k scan (JS heap pass, SIMD scan) draws what a pre-masked row draws, greedy rows and every policy included (400 random cases)${why}`,
    () => {
      const arb = fc.record({ V: fc.integer({ min: 1, max: 300 }), B: fc.integer({ min: 1, max: 4 }) }).chain(({ V, B }) =>
        fc.record({
          V: fc.constant(V),
          B: fc.constant(B),
          values: fc.array(
            fc.oneof(
              { arbitrary: fc.float({ min: -6, max: 6, noNaN: true }), weight: 30 },
              { arbitrary: fc.constantFrom(-Infinity, 2, 0, 3.3e38), weight: 8 },
              { arbitrary: fc.constantFrom(NaN, Infinity), weight: 1 },
            ),
            { minLength: B * V, maxLength: B * V },
          ),
          words: fc.array(fc.oneof(fc.integer(), fc.constantFrom(-1, 0, 0x55555555, 1, 0xffff, -65536)), {
            minLength: B * Math.ceil(V / 32),
            maxLength: B * Math.ceil(V / 32),
          }),
          k: fc.array(fc.constantFrom(1, 2, 5, 40), { minLength: B, maxLength: B }),
          greedy: fc.array(fc.boolean(), { minLength: B, maxLength: B }),
          p: fc.constantFrom(1, 0.9, 0.5),
          policy: fc.constantFrom('error' as const, 'uniform' as const, 'greedy' as const),
        }),
      );
      let folded = 0;
      fc.assert(
        fc.property(arb, (c) => {
          const W = Math.ceil(c.V / 32);
          const values = Float32Array.from(c.values);
          const mask = Array.from({ length: c.B }, (_, r) => Int32Array.from(c.words.slice(r * W, (r + 1) * W)));
          const plan: FusedPlan = {
            batch: c.B,
            vocab: c.V,
            invT: Float64Array.from(c.greedy, (g) => (g ? Infinity : 1.3)),
            topK: Float64Array.from(c.k),
            topP: new Float64Array(c.B).fill(c.p),
            minP: new Float64Array(c.B),
            stepKeys: Uint32Array.from({ length: c.B }, (_, r) => 77 + r),
            invalidRows: c.policy,
          };
          // The same rows masked beforehand (maskWhere's rule: NaN and +Infinity stay), no mask.
          const pre = Float32Array.from(values, (v, i) => {
            const r = Math.floor(i / c.V);
            const j = i % c.V;
            return (mask[r]![j >> 5]! >>> (j & 31)) & 1 || v !== v || v === Infinity ? v : -Infinity;
          });
          const want = new Int32Array(c.B);
          sampleRows(pre, plan, want);
          const js = new Int32Array(c.B);
          const simd = new Int32Array(c.B);
          sampleRows(values, { ...plan, mask }, js);
          expect(sampleRowsSimd(values, { ...plan, mask }, simd)).toBe(true);
          // A pre-masked row with nothing finite is the input's code (-3); the mask's is the
          // processors' (-6) when it masked a finite logit.
          const maskedFinite = (r: number): boolean =>
            values.subarray(r * c.V, (r + 1) * c.V).some((v, j) => Number.isFinite(v) && !Number.isFinite(pre[r * c.V + j]!));
          const expected = Array.from(want, (t, r) => (t === -3 && maskedFinite(r) ? -6 : t));
          // Fallback policies draw from the caller's row (the reference's rule), not the masked one.
          if (c.policy !== 'error') {
            for (let r = 0; r < c.B; r++) {
              const row = pre.subarray(r * c.V, (r + 1) * c.V);
              if (row.some((v) => v !== v || v === Infinity) || !row.some((v) => Number.isFinite(v)))
                expected[r] = invalidRow(values.subarray(r * c.V, (r + 1) * c.V), false, -Infinity, plan, plan.stepKeys[r]!);
            }
          }
          expect(Array.from(js), 'JS kernel').toEqual(expected);
          expect(Array.from(simd), 'SIMD kernel').toEqual(expected);
          folded += c.B;
        }),
        { seed: 0x5eed00f0, numRuns: 400 },
      );
      expect(folded).toBeGreaterThan(400);
    },
  );
  // webgl / webgpu: the edit kernels (penalties, bias and bans, bitmask, the history's count
  // update) run as one shader each (src/backends/gpu-edits.ts); with TFJS_SAMPLING_FUSED off the
  // same processors run as tfjs ops. Both must give the same bits, step after step of one history.
  const gpuHere = backend === 'webgl' || backend === 'webgpu';
  it.runIf(gpuHere)(
    `edit shaders equal the tfjs-op formulation bit for bit (process() values, ids, history), step by step (20 random cases)${gpuHere ? '' : ' (skipped here: webgl and webgpu only; cpu and wasm run the JS kernels either way)'}`,
    async () => {
      registerFusedFlag();
      const flag = tf.env().getBool('TFJS_SAMPLING_FUSED');
      const used = { on: new Set<string>(), off: new Set<string>() };
      let compared = 0;
      try {
        await fc.assert(
          fc.asyncProperty(gpuCaseArb, async (c) => {
            const opts = optionsOf(c);
            const before = tf.memory().numTensors;
            const x = tf.tensor2d(Float32Array.from(c.logits), [c.B, c.V]);
            const on = createSampler(opts);
            const off = createSampler(opts);
            on.begin(c.prompts);
            off.begin(c.prompts);
            const mask = c.mask ? Int32Array.from(c.mask) : undefined;
            const context = mask ? { mask } : undefined;
            const run = async (s: typeof on, fused: boolean, names: Set<string>) => {
              tf.env().set('TFJS_SAMPLING_FUSED', fused);
              const info = await tf.profile(() => s.process(x, context));
              info.kernelNames.forEach((k) => names.add(k));
              const z = info.result as tf.Tensor;
              const bits = new Uint32Array(Float32Array.from((await z.data()) as Float32Array).buffer);
              z.dispose();
              const drawn = await tf.profile(() => s.sample(x, context)); // accept(): the count update
              drawn.kernelNames.forEach((k) => names.add(k));
              const t = drawn.result as tf.Tensor;
              const ids = Array.from((await t.data()) as Int32Array);
              t.dispose();
              return { bits, ids };
            };
            try {
              for (let step = 0; step < c.steps; step++) {
                const a = await run(on, true, used.on);
                const b = await run(off, false, used.off);
                const diff = a.bits.findIndex((v, i) => v !== b.bits[i]);
                const at = (bits: Uint32Array): number => new Float32Array(bits.buffer)[diff]!;
                expect(diff, `step ${step}: logit ${diff} differs (shader ${at(a.bits)}, tfjs ops ${at(b.bits)})`).toBe(-1);
                expect(a.ids, `step ${step} ids`).toEqual(b.ids);
                compared++;
              }
            } finally {
              on.dispose();
              off.dispose();
              x.dispose();
            }
            expect(tf.memory().numTensors).toBe(before);
          }),
          { seed: 0x5eed0021, numRuns: 20 },
        );
      } finally {
        tf.env().set('TFJS_SAMPLING_FUSED', flag);
      }
      console.log(`edit shaders ${backend}: ${compared} steps bit-identical; kernels used: ${EDIT_KERNELS.filter((k) => used.on.has(k)).join(', ')}`);
      // The shaders did run with the flag on, and not with it off. webgl keeps the penalty window as
      // a sorted directory: its update replaces the counts update.
      const kernels = backend === 'webgl' ? [...EDIT_KERNELS.filter((k) => k !== 'TfjsSamplingCountsUpdate'), WINDOW_UPDATE] : EDIT_KERNELS;
      expect(kernels.filter((k) => !used.on.has(k))).toEqual([]);
      expect([...kernels, 'TfjsSamplingCountsUpdate'].filter((k) => used.off.has(k))).toEqual([]);
    },
  );

  it.runIf(gpuHere && backend === 'webgl')(
    `webgl adds the logit bias in the penalties' pass when it comes right after them, and equals the two passes bit for bit${gpuHere && backend === 'webgl' ? '' : ' (skipped here: webgl only)'}`,
    async () => {
      const V = 300;
      // Huge logits under huge biases (10 and 48: the sum saturates), bans, -Infinity, NaN.
      const big = new Set([10, V + 48, V + 60]);
      const x = tf.tensor2d(
        Array.from({ length: 2 * V }, (_, i) => (big.has(i) ? 3.3e38 : i === 77 ? NaN : i % 37 === 5 ? -Infinity : Math.sin(i * 0.7) * 4)),
        [2, V],
      );
      const bias = [
        { 3: 2.5, 5: -Infinity, 10: 3e38, 20: -0, 41: 1e-3, 77: -Infinity },
        { 7: -1, 8: -Infinity, 48: 3e38, 60: 3e38 },
      ];
      const penaltiesOpts: SamplerOptions = { repetitionPenalty: [1.3, 0.8], frequencyPenalty: 0.5, presencePenalty: [0.5, -1], logitBias: bias, seed: 4 };
      const prompts = [
        [3, 5, 10, 10, 41, 48],
        [7, 8, 48, 48],
      ];
      const runWith = async (opts: SamplerOptions, fused: boolean) => {
        tf.env().set('TFJS_SAMPLING_FUSED', fused);
        const s = createSampler(opts);
        s.begin(prompts);
        const info = await tf.profile(() => s.process(x));
        const z = info.result as tf.Tensor;
        const bits = Array.from(new Uint32Array(Float32Array.from((await z.data()) as Float32Array).buffer));
        z.dispose();
        s.dispose();
        return { bits, kernels: info.kernelNames };
      };
      const flag = tf.env().getBool('TFJS_SAMPLING_FUSED');
      try {
        const fusedPass = await runWith(penaltiesOpts, true);
        const ops = await runWith(penaltiesOpts, false);
        expect(fusedPass.kernels).toContain('TfjsSamplingPenalties');
        expect(fusedPass.kernels, 'no pass of its own for the bias').not.toContain('TfjsSamplingBiasDrop');
        expect(fusedPass.bits).toEqual(ops.bits);
        // A stage between them (the n-gram ban): the bias keeps its own pass.
        const apart = await runWith({ ...penaltiesOpts, noRepeatNgramSize: 2 }, true);
        expect(apart.kernels).toContain('TfjsSamplingBiasDrop');
        expect(apart.bits).toEqual((await runWith({ ...penaltiesOpts, noRepeatNgramSize: 2 }, false)).bits);
      } finally {
        tf.env().set('TFJS_SAMPLING_FUSED', flag);
        x.dispose();
      }
    },
  );

  // The invalid-row rule as one kernel (processed rows: a processor may have made NaN, +Infinity
  // or emptied a row). webgl splits rows longer than 1,024 tokens into chunks (two passes):
  // the flags of the last, partial chunk and of a chunk boundary must count.
  it('invalidCodesKernel gives the codes of the rule on rows longer than one chunk (V 3000, a flag in each chunk position), with and without processed logits', async () => {
    expect(editKernelsAvailable()).toBe(true);
    const B = 7;
    const V = 3000;
    const input = new Float32Array(B * V).fill(1);
    const processed = new Float32Array(B * V).fill(-Infinity);
    input[0 * V + 2500] = NaN; // row 0: NaN in a middle chunk
    input[1 * V + 1024] = Infinity; // row 1: +Infinity, first token of the second chunk
    input.fill(-Infinity, 2 * V, 3 * V); // row 2: nothing finite in, nothing out
    // row 3: finite input, the processors left nothing
    processed[4 * V + V - 1] = 0.5; // row 4: one finite processed logit, in the last partial chunk
    processed[5 * V + 1023] = 2; // rows 5, 6: made NaN / +Infinity (flags), finite otherwise
    processed[6 * V] = 2;
    const codes = { nan: -4, inf: -5, none: -3, madeNaN: -6, madeInf: -7, madeNone: -8 };
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(input, [B, V]);
    const z = tf.tensor2d(processed, [B, V]);
    const madeNaN = tf.tensor1d([0, 0, 0, 0, 0, 1, 0], 'bool');
    const madeInf = tf.tensor1d([0, 0, 0, 0, 0, 0, 1], 'bool');
    const out = invalidCodesKernel(x, z, { madeNaN, madeInf }, codes);
    expect(Array.from(await out.data())).toEqual([-4, -5, -3, -8, 0, -6, -7]);
    // The input alone (processed === input: one read; the GPU paths after processors use it):
    // rows 3-6 have finite inputs.
    const alone = invalidCodesKernel(x, x, { madeNaN, madeInf }, codes);
    expect(Array.from(await alone.data())).toEqual([-4, -5, -3, 0, 0, -6, -7]);
    tf.dispose([x, z, madeNaN, madeInf, out, alone]);
    expect(tf.memory().numTensors).toBe(before);
  });

  // The row-local scatter of DRY, no-repeat-ngram and bad words (src/backends/webgl-scatter.ts):
  // on webgl a sort and a binary search per token (tfjs's webgl scatterND is quadratic: B·V·B·W
  // steps), elsewhere tf.scatterND. Both against a plain JS sum, bit for bit, for the values the
  // library scatters: integers (hit flags) and one nonzero value per token (DRY's penalties).
  it("rowScatterAdd sums each row's values per token, bit for bit, with no scatterND on webgl (40 random cases and a 4,096-token window)", async () => {
    const arb = fc.record({
      B: fc.constantFrom(1, 3),
      W: fc.constantFrom(1, 2, 5, 32, 33, 257),
      V: fc.constantFrom(1, 7, 300),
      one: fc.boolean(),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    });
    const kernels = new Set<string>();
    const check = async (B: number, W: number, V: number, one: boolean, seed: number): Promise<void> => {
      let s = seed >>> 0;
      const next = (): number => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s / 2 ** 32;
      };
      const tokens = Int32Array.from({ length: B * W }, () => Math.floor(next() * (V + 4)) - 2);
      const values = new Float32Array(B * W);
      const want = new Float64Array(B * V);
      for (let b = 0; b < B; b++) {
        const seen = new Set<number>();
        for (let i = W - 1; i >= 0; i--) {
          const t = tokens[b * W + i]!;
          // one: only the latest occurrence of a token carries a value (any float32), as in DRY
          const v = one ? (seen.has(t) ? 0 : Math.fround((next() - 0.5) * 10 ** Math.floor(next() * 8 - 4))) : Math.floor(next() * 7) - 3;
          seen.add(t);
          values[b * W + i] = v;
          if (t >= 0 && t < V) want[b * V + t]! += v;
        }
      }
      const before = tf.memory().numTensors;
      const t = tf.tensor2d(tokens, [B, W], 'int32');
      const x = tf.tensor2d(values, [B, W]);
      const info = await tf.profile(() => rowScatterAdd(t, x, V));
      info.kernelNames.forEach((k) => kernels.add(k));
      const out = info.result as tf.Tensor;
      const got = (await out.data()) as Float32Array;
      tf.dispose([t, x, out]);
      expect(tf.memory().numTensors).toBe(before);
      const bad = Array.from(got).findIndex((g, k) => !Object.is(g, Math.fround(want[k]!)) && !(g === 0 && want[k] === 0));
      expect(bad, `B ${B} W ${W} V ${V} one ${one}: element ${bad} is ${got[bad]}, want ${want[bad]}`).toBe(-1);
    };
    await fc.assert(
      fc.asyncProperty(arb, async ({ B, W, V, one, seed }) => check(B, W, V, one, seed)),
      { seed: 0x5eed0022, numRuns: 40 },
    );
    await check(4, 4096, 32000, true, 7); // DRY's default window at a real vocabulary
    if (backend === 'webgl') {
      expect(kernels.has(ROW_SCATTER)).toBe(true);
      expect(kernels.has('ScatterNd')).toBe(false);
    } else {
      expect(kernels.has('ScatterNd')).toBe(true);
    }
  });
});
