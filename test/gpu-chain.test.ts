// Adversarial rows for the fused chains — on webgl / webgpu the GPU chain (radix-select top-k,
// threshold draw with folded invalid-row checks), on cpu / wasm their fused kernels, elsewhere the
// portable path: ties at the k boundary, -Infinity masks, ±0, NaN / ±Infinity rows under every
// policy, V not a multiple of any workgroup size, V = 1, k ≥ V, k at the kernel's limit, huge
// magnitudes. Every case must draw exactly reference.sample's tokens and leave no tensor behind.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createSampler, reference, type SamplerOptions } from '../src/index.js';
import { backendSuite } from './helpers/suite.js';
import { kernelLog } from './helpers/kernel-log.js';
import { BACKENDS, defaultPath } from './helpers/backend.js';
import { flatten, genRows, makeRow, rng, type GenCase, type Shape } from './helpers/logits.js';
import { fusedKeptCounts } from './helpers/kept.js';
import { setWebgpuDrawConfig, SOFTWARE_CONFIG } from '../src/backends/webgpu/gumbel-argmax.js';
import { sortFreeTopP } from '../src/backends/gpu-chain.js';
import { registerWebgpuTopP } from '../src/backends/webgpu/top-p.js';
import { registerWebglTopP } from '../src/backends/webgl/top-p.js';
import { deviceTopk } from '../src/device-topk.js';
import { topPThreshold } from '../src/processors/top-p.js';
import { FLT_MAX } from '../src/processors/ops.js';
import { registerFusedFlag } from '../src/backends/fused.js';
import { registerWebgpuTopK, TOP_K_KERNEL } from '../src/backends/webgpu/top-k.js';
import { registerWebglWindowReduce, WINDOW_REDUCE_KERNEL } from '../src/backends/webgl/window-reduce.js';
import { KTH_LARGEST_KERNEL, KTH_MAX_WINDOW, registerWebglKthLargest } from '../src/backends/webgl/kth-largest.js';

type Case = GenCase<SamplerOptions>;

const CASES: Case[] = [
  // Few distinct levels: many ties at the k-th value, k per row.
  { name: 'ties at k', B: 8, V: 1237, options: { topK: [1, 2, 5, 50, 200, 1236, 1237, 4000], topP: 0.8, seed: 1 }, gen: (_r, _j, u) => Math.floor(u() * 6) },
  // More than the kernel's buffer share the k-th value: the selection never gets a copy.
  { name: 'ties everywhere', B: 4, V: 3001, options: { topK: [3, 100, 1000, 1024], topP: 0.7, seed: 2 }, gen: (_r, _j, u) => Math.floor(u() * 3) },
  { name: 'one value', B: 2, V: 2050, options: { topK: 7, topP: 0.5, seed: 3 }, gen: () => 0.25 },
  {
    name: '-Infinity masks',
    B: 6,
    V: 999,
    options: { topK: [10, 400, 500, 1, 30, 0], topP: 0.9, minP: 0.02, seed: 4 },
    gen: (r, j, u) => (j % (r + 2) === 0 ? 5 * u() : -Infinity),
  },
  { name: 'fewer finite than k', B: 3, V: 500, options: { topK: 100, topP: 0.95, seed: 5 }, gen: (_r, j, u) => (j < 20 ? u() : -Infinity) },
  { name: '+0 and -0', B: 3, V: 777, options: { topK: [5, 300, 700], seed: 6 }, gen: (_r, j, u) => (j % 3 === 0 ? 0 : j % 3 === 1 ? -0 : -u()) },
  { name: 'huge magnitudes', B: 4, V: 1500, options: { topK: 40, topP: 0.9, temperature: 1000, seed: 7 }, gen: (_r, _j, u) => 1e30 * (u() - 0.5) },
  { name: 'negative only', B: 4, V: 640, options: { topK: 64, minP: 0.1, temperature: 0.3, seed: 8 }, gen: (_r, _j, u) => -1e4 - 100 * u() },
  { name: 'V = 1', B: 3, V: 1, options: { topK: 5, topP: 0.5, minP: 0.5, seed: 9 }, gen: () => 1.5 },
  {
    name: 'k ≥ V and greedy rows',
    B: 4,
    V: 130,
    options: { topK: [130, 500, 129, 1], temperature: [0, 1, 0, 2], seed: 10 },
    gen: (_r, _j, u) => Math.round(4 * u()),
  },
  { name: 'top-p alone, flat', B: 3, V: 4099, options: { topP: 0.9, seed: 11 }, gen: (_r, _j, u) => 0.01 * u() },
  { name: 'min-p alone', B: 3, V: 2001, options: { minP: 0.3, temperature: 1.7, seed: 12 }, gen: (_r, _j, u) => 3 * u() },
];

function rows(c: Case): number[][] {
  return genRows('gpu-chain', c);
}

/** Rows 0–3: NaN, +Infinity, all -Infinity, ordinary; each row with -Infinity masks too. */
function invalidRows(V: number): number[][] {
  const u = rng('gpu-chain:invalid');
  const out = Array.from({ length: 4 }, (_, r) => Array.from({ length: V }, (_, j) => (r === 2 || j % 5 === 0 ? -Infinity : 3 * u())));
  out[0]![V - 1] = NaN;
  out[1]![Math.floor(V / 2)] = Infinity;
  return out;
}

describe.each(BACKENDS)('fused chains on adversarial rows, %s', (backend) => {
  backendSuite(backend);

  it.each(CASES.map((c) => [c.name, c] as const))('%s: the reference tokens, on the fused path', async (_name, c) => {
    const data = rows(c);
    const x = tf.tensor2d(data.flat(), [c.B, c.V]);
    const sampler = createSampler(c.options);
    for (let step = 0; step < 2; step++) {
      const ids = Array.from(await sampler.sampleIds(x));
      expect(sampler.lastPath).toBe(defaultPath(backend));
      expect(ids).toEqual(reference.sample(data, c.options, step));
    }
    x.dispose();
  });

  const gpu = backend === 'webgl' || backend === 'webgpu';
  it.skipIf(!gpu)('dispatch: the GPU chain runs its kernels, no sort and no separate invalid-row passes (GPU backends only)', async (ctx) => {
    registerFusedFlag(); // this test alone (-t) reads the flag before any sampler registered it
    if (!tf.env().getBool('TFJS_SAMPLING_FUSED')) ctx.skip('the fused kernels are switched off in this project');
    // V past 64 · 100: webgl's window top-k takes Mirostat v1's 100 largest.
    const V = 7001;
    const data = rows({ name: 'dispatch', B: 3, V, options: {}, gen: (_r, _j, u) => 3 * u() });
    const x = tf.tensor2d(data.flat(), [3, V]);
    const bands: SamplerOptions[] = [
      { epsilonCutoff: 1e-3, seed: 3 },
      { temperature: 0.8, topNSigma: 1, topK: 50, etaCutoff: 1e-3, xtc: { probability: 1, threshold: 0.1 }, seed: 4 },
      { temperature: 0.8, mirostat: [{ version: 1, tau: 6 }, { version: 1, tau: 2 }, { version: 2 }], seed: 5 },
    ];
    // k = 500 > V/64 windows: webgl's k-th largest by bisection, then the sort-free top-p on its floor.
    const largeK: SamplerOptions = { temperature: 0.9, topK: 500, topP: 0.9, seed: 6 };
    for (const options of [{ temperature: 0.8, topK: 50, topP: 0.95, seed: 1 }, { topP: 0.9, minP: 0.01, seed: 2 }, largeK, ...bands] as SamplerOptions[]) {
      const sampler = createSampler(options);
      // wide: the kernels that read a [B, V] tensor.
      const { value, names, wide } = await kernelLog(() => sampler.sampleIds(x), 3 * V);
      const ids = Array.from(value);
      sampler.dispose(); // Mirostat's μ
      expect(sampler.lastPath).toBe(`fused:${backend}`);
      expect(ids).toEqual(reference.sample(data, options, 0));
      expect(names).toContain('TfjsSamplingThresholdDraw');
      // One read of the logits per kernel; no masks, checks or sorts over [B, V] besides them.
      // Reshape: the sampler's own [B, V] handle on the caller's logits, a view (no data pass).
      // top-nσ, ε, η, XTC, Mirostat: the bands statistics (webgpu: one kernel; webgl: per window).
      const allowed = [
        'TfjsSamplingThresholdDraw',
        'TfjsSamplingTopK',
        'TfjsSamplingRowMass',
        'TfjsSamplingTopPThreshold',
        'TfjsSamplingBands',
        'TfjsSamplingBandWindows',
        'Max',
        'Reshape',
      ];
      // webgl: window maxima and counts, a gather of the k chosen windows (on a flat view), and
      // Mirostat v1's k-th largest; Mirostat's drawn logits are a gather on the flat view too.
      // Top-p without top-k on every row: webgl's sort-free search (webgl/top-p.ts).
      if (backend === 'webgl') allowed.push('TfjsSamplingWindowReduce', 'GatherV2', 'TfjsSamplingKthLargest', 'TfjsSamplingTopPBisect');
      // webgpu: Mirostat's −log q of the drawn token from the packing kernel's read (logprob-stats.ts).
      if (options.mirostat) allowed.push('GatherV2', 'TfjsSamplingLogprobStats');
      expect(wide.filter((n) => !allowed.includes(n))).toEqual([]);
      if (bands.includes(options)) expect(names.some((n) => n.startsWith('TfjsSamplingBand'))).toBe(true);
      // webgl's top-k gives the row max too (the first of the k largest): no separate max pass.
      if (backend === 'webgl' && options.topK) expect(wide).not.toContain('Max');
      if (backend === 'webgpu' && options.topP) {
        expect(names).toContain(options.topK ? 'TfjsSamplingTopK' : 'TfjsSamplingTopPThreshold');
      }
      if (backend === 'webgl' && options.topP && (!options.topK || options === largeK)) expect(names).toContain('TfjsSamplingTopPBisect');
      if (backend === 'webgl' && options === largeK) expect(names).toContain('TfjsSamplingKthLargest');
    }
    x.dispose();
  });

  it.skipIf(backend !== 'webgl')(
    'webgl: the portable top-k, top-p, typical-p, Mirostat v1 and minTokensToKeep processors (probabilities(), custom chains) sort no row, and keep what the sorting formulation keeps, bit for bit (webgl only: elsewhere tf.topk needs no replacement)',
    async (ctx) => {
      registerFusedFlag();
      if (!tf.env().getBool('TFJS_SAMPLING_FUSED'))
        ctx.skip('the kernels are switched off in this project (its processors sort: the formulation compared here)');
      const V = 7001;
      const B = 4;
      // Rows: flat, integers (ties), far below zero, Zipf-like (Mirostat v1's k past 100 at τ 7).
      const data = rows({
        name: 'portable',
        B,
        V,
        options: {},
        gen: (r, j, u) => (j === 5 ? -Infinity : r === 1 ? Math.round(4 * u()) : r === 3 ? -1.1 * Math.log(1 + j) + 0.3 * u() : 3 * u()),
      });
      // Row 2 lies below -1e20, where webgl's own tf.max starts (the row max must come from rowMax).
      data[2] = data[2]!.map((v) => Math.fround(v * 1e20 - 1e21));
      const x = tf.tensor2d(data.flat(), [B, V]);
      const sets: SamplerOptions[] = [
        { temperature: 0.8, topK: 50, topP: 0.95 }, // the window top-k: its sorted candidates feed top-p
        { temperature: 0.7, topP: [0.9, 0.5, 1, 0.8] }, // the key search over the row
        { topK: [500, 1, 0, 700], topP: 0.9 }, // k · 64 past V/2: the k-th largest by bisection, then the search
        { temperature: 1.3, topK: [3000, 7000, 2, 10] },
        { temperature: [0.5, 2, 1, 0.9], topP: 0.8, topK: 40, order: ['top-p', 'top-k', 'temperature'] },
        { temperature: [1, 1, 2e19, 1], topP: [0.9, 0.6, 0.7, 0.95] }, // row 2: 15 nats from its max to its min
        // typical-p: the chain's band (its own float32 rounding, as on the fused path: checked against the reference below).
        { temperature: 0.9, typicalP: [0.5, 0.95, 1, 0.9] },
        { typicalP: 0.7, minTokensToKeep: [1, 300, 2, 50], order: ['typical-p', 'temperature'] }, // the band counting its tokens
        { temperature: 1.2, epsilonCutoff: 3e-4, minTokensToKeep: [40, 2000, 1, 500] }, // minTokensToKeep: the m-th largest, window top-k and bisection
        // Mirostat v1: the 100 largest, then the k-th (row 3 at τ 7: k ≈ 1,000, the bisection).
        { mirostat: [5, 9, 1, 7].map((tau) => ({ version: 1 as const, tau, eta: 0.1 })) },
      ];
      for (const options of sets) {
        const before = tf.memory().numTensors;
        const { value: fast, wide } = await kernelLog(async () => {
          const p = createSampler(options).probabilities(x);
          try {
            return (await p.data()) as Float32Array;
          } finally {
            p.dispose();
          }
        }, B * V);
        expect(tf.memory().numTensors, JSON.stringify(options)).toBe(before);
        expect(
          wide.filter((n) => n === 'TopK'),
          JSON.stringify(options),
        ).toEqual([]);
        tf.env().set('TFJS_SAMPLING_FUSED', false);
        let sorted: Float32Array;
        try {
          const p = createSampler(options).probabilities(x);
          sorted = (await p.data()) as Float32Array;
          p.dispose();
        } finally {
          tf.env().set('TFJS_SAMPLING_FUSED', true);
        }
        const kept = (a: Float32Array): number[] => Array.from({ length: B }, (_, r) => a.subarray(r * V, (r + 1) * V).filter((q) => q > 0).length);
        if (options.typicalP !== undefined) {
          // The band's cut is rounded in float32 as the fused path's is (test/bands.test.ts): a
          // band of logit values whose count lies between the reference's at p · (1 ± 1e-4).
          const P = options.typicalP as number | number[];
          const at = (f: number): number[] =>
            reference
              .process(data, { ...options, typicalP: Array.isArray(P) ? P.map((v) => (v < 1 ? v * f : v)) : P * f })
              .map((row) => row.filter((v) => v > -Infinity).length);
          const [want, lo, hi] = [at(1), at(1 - 1e-4), at(1 + 1e-4)];
          const z = createSampler(options).process(x);
          const out = (await z.data()) as Float32Array;
          z.dispose();
          const n = Array.from({ length: B }, (_, r) => out.subarray(r * V, (r + 1) * V).filter((v) => v > -Infinity).length);
          for (let r = 0; r < B; r++) {
            expect(n[r], `${JSON.stringify(options)} row ${r}: ${want[r]} (${lo[r]}, ${hi[r]})`).toBeGreaterThanOrEqual(Math.min(want[r]!, lo[r]!, hi[r]!));
            expect(n[r], `${JSON.stringify(options)} row ${r}: ${want[r]} (${lo[r]}, ${hi[r]})`).toBeLessThanOrEqual(Math.max(want[r]!, lo[r]!, hi[r]!));
            const row = data[r]!;
            const keptZ = row.filter((_, j) => out[r * V + j]! > -Infinity);
            const [a, b] = [Math.min(...keptZ), Math.max(...keptZ)];
            expect(row.filter((z) => z >= a && z <= b).length, `${JSON.stringify(options)} row ${r}: a band`).toBe(n[r]);
          }
          continue;
        }
        expect(kept(fast), JSON.stringify(options)).toEqual(kept(sorted));
        expect(Array.from(fast), JSON.stringify(options)).toEqual(Array.from(sorted));
      }
      x.dispose();
    },
  );

  it.skipIf(backend !== 'webgpu')(
    'top-p after top-k: the digit search (hardware adapters) keeps what the candidates’ pair arithmetic (software adapters) keeps and draws the same ids, on random rows with ties past k, masks and min-p (webgpu only)',
    async (ctx) => {
      registerFusedFlag();
      if (!tf.env().getBool('TFJS_SAMPLING_FUSED')) ctx.skip('the fused kernels are switched off in this project');
      const u = rng('gpu-chain:top-p-search');
      const shapes: Shape[] = ['peaky', 'flat', 'masked', 'ties'];
      const configs = [
        { ...SOFTWARE_CONFIG, topPSearch: false },
        { ...SOFTWARE_CONFIG, topPSearch: true },
      ];
      let rows = 0;
      try {
        for (let c = 0; c < 24; c++) {
          const B = 1 + Math.floor(u() * 4);
          const V = 40 + Math.floor(u() * 3000);
          const data = Array.from({ length: B }, () => makeRow(shapes[c % shapes.length]!, V, u));
          const per = <T>(f: () => T): T[] => Array.from({ length: B }, f);
          const options: SamplerOptions = {
            temperature: per(() => [0.7, 1, 1.3][Math.floor(u() * 3)]!),
            topK: per(() => 1 + Math.floor(u() * Math.min(300, V))),
            topP: per(() => [0.3, 0.9, 0.95, 0.999, 1][Math.floor(u() * 5)]!),
            ...(u() < 0.3 ? { minP: per(() => (u() < 0.5 ? 0 : 0.02)) } : {}),
            seed: c,
          };
          // A bitmask on a third of the cases (folded into the top-k and top-p kernels).
          const mask = c % 3 === 2 ? data.map(() => Int32Array.from({ length: Math.ceil(V / 32) }, () => (u() < 0.1 ? 0 : (u() * 2 ** 32) | 0))) : undefined;
          const x = tf.tensor2d(flatten(data), [B, V]);
          const got = [];
          for (const config of configs) {
            setWebgpuDrawConfig(config);
            const sampler = createSampler(options);
            const log = await kernelLog(() => fusedKeptCounts(sampler, x, mask ? { mask } : undefined));
            sampler.dispose();
            expect(log.value?.path, `case ${c}`).toBe('fused:webgpu');
            expect(log.names.includes('TfjsSamplingTopPThreshold'), `case ${c}: the digit search runs iff topPSearch`).toBe(
              config.topPSearch && (options.topP as number[]).some((p) => p < 1),
            );
            got.push(log.value!);
          }
          expect(Array.from(got[1]!.counts), `case ${c}: kept counts`).toEqual(Array.from(got[0]!.counts));
          expect(Array.from(got[1]!.ids), `case ${c}: ids`).toEqual(Array.from(got[0]!.ids));
          rows += B;
          x.dispose();
        }
      } finally {
        setWebgpuDrawConfig(undefined);
      }
      console.log(`[top-p search] webgpu: ${rows} rows, the same kept counts and ids under both formulations`);
    },
  );

  it.skipIf(!gpu)(
    '[B, V] passes per option set, counted at the backend (every program that takes the logits), printed and bounded (GPU backends only)',
    async (ctx) => {
      registerFusedFlag();
      if (!tf.env().getBool('TFJS_SAMPLING_FUSED')) ctx.skip('the fused kernels are switched off in this project');
      const B = 2;
      const V = 32000;
      const u = rng('gpu-chain:passes');
      const normal = (): number => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
      const data = Array.from({ length: B }, () => Array.from({ length: V }, () => Math.fround(0.1 * normal()))); // flat rows
      const x = tf.tensor2d(data.flat(), [B, V]);
      // Bounds: today's counts, a regression guard (the GPU issue's goals: 3 for T + top-k +
      // top-p, 4 for top-p alone). A program counts when it takes the logits, whatever it reads:
      // webgpu's top-k and top-p kernels loop over the row several times inside one program (the
      // digit levels); webgl's draw takes them in its reduction pass too (to gather the winners);
      // webgl's top-p alone is a search of 41 rounds, each one program over the windows still
      // holding logits inside its interval (after the first ~6 rounds, a small part of the row);
      // webgl's top-k 500 (k·64 > V/2) adds the k-th largest's 32 counting rounds.
      const sets: [string, SamplerOptions, Record<string, number>][] = [
        // webgpu on hardware adapters: top-p after top-k is the digit search, one more program
        // over the row (SwiftShader: the candidates' pair arithmetic, no row read; see topPSearch).
        ['T 0.8, top-k 50, top-p 0.95', { temperature: 0.8, topK: 50, topP: 0.95, seed: 1 }, { webgl: 6, webgpu: 3 }],
        ['top-p 0.9 alone', { topP: 0.9, seed: 2 }, { webgl: 44, webgpu: 3 }],
        ['T 0.8 alone', { temperature: 0.8, seed: 3 }, { webgl: 3, webgpu: 2 }],
        ['top-k 500, top-p 0.9', { topK: 500, topP: 0.9, seed: 4 }, { webgl: 76, webgpu: 3 }],
      ];
      const be = tf.backend() as unknown as Record<string, (...a: unknown[]) => unknown>;
      const method = backend === 'webgl' ? 'runWebGLProgram' : 'runWebGPUProgram';
      const original = be[method]!;
      const lines: string[] = [];
      for (const [label, options, bound] of sets) {
        let passes = 0;
        be[method] = function (this: unknown, ...args: unknown[]) {
          const inputs = args[1] as tf.TensorInfo[];
          if (inputs.some((t) => t.shape.reduce((a, b) => a * b, 1) >= B * V)) passes++;
          return original.apply(this, args);
        };
        const sampler = createSampler(options);
        let ids: number[];
        try {
          ids = Array.from(await sampler.sampleIds(x));
        } finally {
          be[method] = original;
        }
        expect(ids).toEqual(reference.sample(data, options, 0));
        lines.push(`${backend}: ${label}: ${passes} programs over [B, V]`);
        expect(passes, label).toBeLessThanOrEqual(bound[backend]!);
      }
      console.log(lines.join('\n'));
      x.dispose();
    },
  );

  it.skipIf(!gpu)(
    'the sort-free top-p threshold (webgpu: digit search on float pairs; webgl: key bisection on integer masses) equals the sorted one, bit for bit (GPU backends only)',
    async () => {
      expect(backend === 'webgl' ? registerWebglTopP() : registerWebgpuTopP()).toBe(true);
      const u = rng('gpu-chain:top-p');
      const normal = (): number => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
      const shapes: [number, number, (j: number) => number][] = [
        [32000, 0.7, () => 0.1 * normal()], // flat: the boundary deep in the vocabulary
        [20011, 1.3, (j) => -1.1 * Math.log(1 + j) + 0.1 * normal()], // peaky
        [4099, 1, () => Math.round(2 * normal()) / 2], // ties at the boundary
        [9001, 0.9, () => (u() < 0.3 ? -Infinity : 2 * normal())], // masks
        // ±0 ties and subnormals (distinct keys around zero; webgl only: webgpu's float ops on
        // SwiftShader flush subnormals, so its sort sees ties where its key search does not — the
        // draw's float compare flushes them the same way), huge magnitudes, one value, one finite
        // logit, and a small T where most masses underflow to 0.
        ...(backend === 'webgl'
          ? [[3001, 1, (j: number) => (j % 3 === 0 ? 0 : j % 3 === 1 ? -0 : u() < 0.5 ? 1e-40 : -1e-40)] as [number, number, (j: number) => number]]
          : []),
        [2000, 1000, () => 1e30 * (u() - 0.5)],
        [1500, 1, () => 0.25],
        [1000, 1, (j) => (j === 500 ? 1 : -Infinity)],
        [3000, 0.001, () => 3 * u()],
        // Overflow: (z − zmax)·1/T past float32 at T 1e-30, z − zmax itself past it (±3.3e38, masks),
        // and the same rows at T 1e30 (1/T with a nonzero low part).
        [1201, 1e-30, (j) => ((j % 6) - 3) * 3e29],
        [1202, 1e-30, (j) => (j % 11 === 0 ? -Infinity : j % 3 === 0 ? 3.3e38 : j % 3 === 1 ? -3.3e38 : 1e38)],
        [1203, 1e30, (j) => (j % 11 === 0 ? -Infinity : j % 3 === 0 ? 3.3e38 : j % 3 === 1 ? -3.3e38 : 1e38)],
        [1204, 3e-39, (j) => ((j % 7) - 3) * 1e-37],
        // T 1e30: every mass exactly 1 on distinct keys, so the total is V and p · V lands on a
        // boundary between two counts: the target's low part (Dekker's error term) decides.
        [1000, 1e30, () => u()],
        [997, 1e30, () => 2 * u() - 1],
        [30011, 1e30, () => u()],
      ];
      for (const [V, T, gen] of shapes) {
        const B = 5;
        const P = Float64Array.from([0.9, 0.5, 0.999, 1, 1e-30]);
        const invT = new Float64Array(B).fill(1 / T);
        const data = Float32Array.from({ length: B * V }, (_, i) => gen(i % V));
        const [got, want] = tf.tidy(() => {
          const x = tf.tensor2d(data, [B, V]);
          const plan = {
            batch: B,
            vocab: V,
            invT,
            topK: new Float64Array(B),
            topP: P,
            minP: new Float64Array(B),
            stepKeys: new Uint32Array(B),
            invalidRows: 'error' as const,
          };
          const a = sortFreeTopP(x, plan.invT, plan.topP, tf.fill([B, 1], -FLT_MAX), tf.max(x, 1, true));
          const b = topPThreshold(deviceTopk(x, V, true).values, undefined, invT, P);
          return [a, b];
        });
        expect(Array.from(await got.data())).toEqual(Array.from(await want.data()));
        tf.dispose([got, want]);
      }
    },
  );

  it.skipIf(!gpu)(
    'the k-th largest logit for a k on the device (Mirostat v1): webgpu top-k threshold with idle rows, webgl bisection, against the sorted row (GPU backends only)',
    async () => {
      const webgl = backend === 'webgl';
      expect(webgl ? registerWebglWindowReduce() && registerWebglKthLargest() : registerWebgpuTopK()).toBe(true);
      const u = rng('gpu-chain:kth');
      const V = 3001;
      // Row 0: each window of 64 has its maximum first and the rest below every maximum (the
      // bisection skips a window by its maximum); ties, ±0, masks, one value, huge magnitudes,
      // negatives only, peaky.
      const gens: ((j: number) => number)[] = [
        (j) => (j % 64 === 0 ? j / 64 : -1 - u()),
        () => Math.floor(u() * 5),
        (j) => (j % 3 === 0 ? 0 : j % 3 === 1 ? -0 : -u()),
        (j) => (j % 4 === 0 ? u() : -Infinity),
        () => 0.25,
        () => 1e30 * (u() - 0.5),
        () => -1e4 - 100 * u(),
        (j) => -1.1 * Math.log(1 + j) + 0.3 * u(),
      ];
      const rows = gens.map((g) => Float32Array.from({ length: V }, (_, j) => g(j)));
      const B = rows.length;
      for (const ks of [
        [20, 1, 101, 700, 2, 1500, 3000, 250],
        [1, 3001, 5000, 751, 0, -3, 1000, 101],
      ]) {
        const got = tf.tidy(() => {
          const x = tf.tensor2d(
            rows.flatMap((r) => Array.from(r)),
            [B, V],
          );
          const k = tf.tensor1d(ks);
          if (!webgl)
            return tf.slice(
              tf.engine().runKernel(TOP_K_KERNEL, { logits: x, k }, { kmax: 1, idleOff: true } as unknown as tf.NamedAttrMap) as tf.Tensor2D,
              [0, 0],
              [B, 1],
            );
          const maxima = tf
            .engine()
            .runKernel(WINDOW_REDUCE_KERNEL, { logits: x }, { window: KTH_MAX_WINDOW, mode: 'max' } as unknown as tf.NamedAttrMap) as tf.Tensor;
          return tf.engine().runKernel(KTH_LARGEST_KERNEL, { logits: x, maxima, k }) as tf.Tensor;
        });
        const v = Array.from(await got.data());
        got.dispose();
        rows.forEach((row, r) => {
          const k = ks[r]!;
          const sorted = Array.from(row).sort((a, b) => b - a);
          const kth = k >= 1 && k <= V ? sorted[k - 1]! : NaN;
          const what = `row ${r}, k ${k}: ${v[r]} vs ${kth}`;
          // Off (k ≤ 0, k ≥ V on webgpu) or past the finite logits: "keep all" (webgpu -FLT_MAX; webgl -Infinity or NaN).
          if (!(kth > -Infinity) || (!webgl && k >= V)) expect(webgl ? !(v[r]! > -Infinity) : v[r] === -FLT_MAX, what).toBe(true);
          else expect(v[r], what).toBe(kth === 0 ? 0 : kth); // -0 and +0 are one key
        });
      }
      // Row 0's 20th largest (k 20 in the first set) is the maximum of window 27 (a bisection that
      // skipped windows whose maximum equals its candidate would miss it).
      expect(Array.from(rows[0]!).sort((a, b) => b - a)[19]).toBe(rows[0]![64 * 27]);
    },
  );

  it.each(['error', 'uniform', 'greedy'] as const)('NaN / +Infinity / no finite logit under %s', async (policy) => {
    for (const V of [1, 257, 3001]) {
      const data = invalidRows(V);
      const x = tf.tensor2d(data.flat(), [4, V]);
      for (const options of [
        { seed: 3, invalidRows: policy },
        { seed: 4, topK: 10, topP: 0.9, minP: 0.1, temperature: 0.5, invalidRows: policy },
      ] as SamplerOptions[]) {
        const sampler = createSampler(options);
        const ids = sampler.sample(x);
        expect(sampler.lastPath).toBe(defaultPath(backend));
        const got = Array.from(await ids.data());
        ids.dispose();
        if (policy === 'error') {
          // NaN first, then +Infinity, then nothing finite (INVALID_CODE); the last row is ordinary.
          expect(got.slice(0, 3)).toEqual([-1, -2, -3]);
          expect(got[3]).toBe(V === 1 ? -3 : reference.sample(data, { ...options, invalidRows: 'uniform' }, 0)[3]);
        } else {
          expect(got).toEqual(reference.sample(data, options, 0));
        }
      }
      x.dispose();
    }
  });
});
