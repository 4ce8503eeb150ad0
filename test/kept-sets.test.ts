// The fused paths' kept sets against the reference, directly: per row, the number of tokens the
// fused kernel keeps (cpu/wasm: the JS and the WebAssembly SIMD kernels; webgl/webgpu: the GPU
// chain's threshold-draw keep test) must equal the number of finite entries of reference.process
// (greedy rows: the tokens tied at the row max). Every built-in filter keeps a top segment of
// the row in logit order, ties kept, so equal counts are equal sets. A difference is allowed only
// where float rounding decides (helpers/kept.ts, keptExemption): counted, printed, and bounded.
// Where no fused path runs (the *-portable projects) the hook must stay silent.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createSampler, type SamplerOptions } from '../src/index.js';
import { registerSimdFlag } from '../src/backends/wasm-simd/sample-rows-simd.js';
import { THRESHOLD_DRAW_KERNEL } from '../src/backends/kernel-names.js';
import { backendSuite } from './helpers/suite.js';
import { kernelLog } from './helpers/kernel-log.js';
import { BACKENDS, defaultPath, isSoftwareGpu } from './helpers/backend.js';
import { fusedKeptCounts, keptExemption, referenceKeptCounts, rowOptions } from './helpers/kept.js';
import { flatten, genRows, makeRows, rng, type GenCase, type Shape } from './helpers/logits.js';

type Case = GenCase<SamplerOptions>;

// The adversarial rows of test/gpu-chain.test.ts (copied: a test file cannot be imported), and a
// few more of the same kind: greedy rows under every filter, min-p with ties at its threshold.
const ADVERSARIAL: Case[] = [
  { name: 'ties at k', B: 8, V: 1237, options: { topK: [1, 2, 5, 50, 200, 1236, 1237, 4000], topP: 0.8 }, gen: (_r, _j, u) => Math.floor(u() * 6) },
  { name: 'ties everywhere', B: 4, V: 3001, options: { topK: [3, 100, 1000, 1024], topP: 0.7 }, gen: (_r, _j, u) => Math.floor(u() * 3) },
  { name: 'one value', B: 2, V: 2050, options: { topK: 7, topP: 0.5 }, gen: () => 0.25 },
  {
    name: '-Infinity masks',
    B: 6,
    V: 999,
    options: { topK: [10, 400, 500, 1, 30, 0], topP: 0.9, minP: 0.02 },
    gen: (r, j, u) => (j % (r + 2) === 0 ? 5 * u() : -Infinity),
  },
  { name: 'fewer finite than k', B: 3, V: 500, options: { topK: 100, topP: 0.95 }, gen: (_r, j, u) => (j < 20 ? u() : -Infinity) },
  { name: '+0 and -0', B: 3, V: 777, options: { topK: [5, 300, 700] }, gen: (_r, j, u) => (j % 3 === 0 ? 0 : j % 3 === 1 ? -0 : -u()) },
  { name: 'huge magnitudes', B: 4, V: 1500, options: { topK: 40, topP: 0.9, temperature: 1000 }, gen: (_r, _j, u) => 1e30 * (u() - 0.5) },
  { name: 'huge magnitudes, min-p', B: 3, V: 1500, options: { minP: [0.5, 0.01, 1], temperature: 1e29 }, gen: (_r, _j, u) => 1e30 * (u() - 0.5) },
  { name: 'negative only', B: 4, V: 640, options: { topK: 64, minP: 0.1, temperature: 0.3 }, gen: (_r, _j, u) => -1e4 - 100 * u() },
  { name: 'V = 1', B: 3, V: 1, options: { topK: 5, topP: 0.5, minP: 0.5 }, gen: () => 1.5 },
  { name: 'k ≥ V and greedy rows', B: 4, V: 130, options: { topK: [130, 500, 129, 1], temperature: [0, 1, 0, 2] }, gen: (_r, _j, u) => Math.round(4 * u()) },
  {
    name: 'greedy rows under every filter',
    B: 4,
    V: 300,
    options: { temperature: 0, topK: [0, 3, 0, 50], topP: [1, 0.5, 0.9, 1], minP: [0, 0, 0.2, 0.5] },
    gen: (_r, _j, u) => Math.round(3 * u()),
  },
  { name: 'top-p alone, flat', B: 3, V: 4099, options: { topP: 0.9 }, gen: (_r, _j, u) => 0.01 * u() },
  { name: 'min-p alone', B: 3, V: 2001, options: { minP: 0.3, temperature: 1.7 }, gen: (_r, _j, u) => 3 * u() },
  // Logits on a grid of ln 2: min-p thresholds ln m with m a power of 2 land exactly on a level.
  { name: 'min-p threshold on a tie level', B: 3, V: 1000, options: { minP: [0.5, 0.25, 0.125] }, gen: (_r, _j, u) => Math.LN2 * Math.floor(8 * u()) },
  { name: 'one token', B: 2, V: 7, options: { topK: 1, topP: 0.001 }, gen: (_r, j) => j },
];

function caseRows(c: Case): number[][] {
  return genRows('kept-sets', c);
}

const SHAPES: Shape[] = ['peaky', 'flat', 'masked', 'ties', 'huge'];
const VOCABS = [1, 2, 3, 50, 1000, 32000, 128256];

/** Per-row random mixes of every option, off values and edges included. */
function randomOptions(B: number, V: number, u: () => number, gpu: boolean): SamplerOptions {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(u() * xs.length)]!;
  // Software GPU adapters sort whole rows for k above the top-k kernel's limit (1024): slow.
  const bigK = gpu && V > 4096 ? 1024 : V - 1;
  const ks = [0, 1, 2, 5, 50, 129, 1000, bigK, V, V + 5].filter((k) => k >= 0);
  return {
    temperature: Array.from({ length: B }, () => (u() < 0.1 ? 0 : pick([0.3, 0.7, 1, 1.5, 3]))),
    topK: Array.from({ length: B }, () => pick(ks)),
    topP: Array.from({ length: B }, () => pick([1, 0.999, 0.95, 0.9, 0.5, 0.1, 1e-6])),
    minP: Array.from({ length: B }, () => pick([0, 0, 0.001, 0.05, 0.3, 1])),
  };
}

/** Relative float error the fused arithmetic may make (see keptExemption). */
function deltaFor(kernel: string): number {
  return kernel === 'gpu-chain' ? 1e-6 : 1e-12;
}

interface Tally {
  rows: number;
  exempt: string[];
}
const tallies = new Map<string, Tally>();

function tally(key: string): Tally {
  if (!tallies.has(key)) tallies.set(key, { rows: 0, exempt: [] });
  return tallies.get(key)!;
}

/** Kernel modes to run on a backend: cpu/wasm run the SIMD kernel and the JS kernel. */
function modes(backend: string): string[] {
  return backend === 'cpu' || backend === 'wasm' ? ['simd', 'js'] : ['gpu-chain'];
}

function withMode<T>(mode: string, f: () => Promise<T>): Promise<T> {
  if (mode !== 'js') return f();
  registerSimdFlag();
  tf.env().set('TFJS_SAMPLING_SIMD', false);
  return f().finally(() => tf.env().set('TFJS_SAMPLING_SIMD', true));
}

interface Outcome {
  /** Rows whose count differs from the reference's beyond float rounding: "row r: got vs want". */
  wrong: string[];
  /** Rows where the drawn token is not among the kept ones. */
  outside: string[];
  exempt: string[];
  rows: number;
}

/** Samples `data` once through the hook and compares every row's kept count with the reference. */
async function compare(
  backend: string,
  mode: string,
  label: string,
  data: ArrayLike<number>[],
  options: SamplerOptions,
  rowNames?: string[],
): Promise<Outcome> {
  const B = data.length;
  const V = data[0]!.length;
  const x = tf.tensor2d(flatten(data.map((row) => Float32Array.from(row))), [B, V]);
  const before = tf.memory().numTensors;
  const got = await withMode(mode, () => fusedKeptCounts(createSampler({ ...options, seed: 7 }), x));
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
  expect(got?.path).toBe(defaultPath(backend));
  if (!got) throw new Error(`${label}: no fused path ran (lastPath ${defaultPath(backend)} expected)`);
  expect(got.kernel).toBe(mode);
  const out: Outcome = { wrong: [], outside: [], exempt: [], rows: 0 };
  const want = cachedReference(label, data, options);
  const delta = deltaFor(got.kernel);
  for (let r = 0; r < B; r++) {
    out.rows++;
    const row = data[r]!;
    const c = got.counts[r]!;
    if (c !== want[r]) {
      const o = rowOptions(options, r, B);
      const what = `${label} row ${r}${rowNames ? ` (${rowNames[r]})` : ''} (V ${V}, T ${o.temperature}, k ${o.topK}, p ${o.topP}, m ${o.minP}): fused ${c}, reference ${want[r]}`;
      if (keptExemption(row, options, r, B, c, delta)) out.exempt.push(what);
      else out.wrong.push(what);
    }
    // The drawn token is among the kept: fewer than `c` logits above it.
    const id = got.ids[r]!;
    if (c > 0 && id >= 0) {
      const z = Math.fround(row[id]!);
      let above = 0;
      for (let j = 0; j < V; j++) if (Math.fround(row[j]!) > z) above++;
      if (!(above < c)) out.outside.push(`${label} row ${r}${rowNames ? ` (${rowNames[r]})` : ''}: drew ${id} with ${above} logits above it, kept ${c}`);
    }
  }
  const t = tally(`${backend}/${mode}`);
  t.rows += out.rows;
  t.exempt.push(...out.exempt);
  return out;
}

// The reference counts of a case, shared by the kernel modes (the reference is the slow part).
const referenceCache = new Map<string, Int32Array>();
function cachedReference(label: string, data: ArrayLike<number>[], options: SamplerOptions): Int32Array {
  const key = `${label}|${data.length}|${JSON.stringify(options)}`;
  if (!referenceCache.has(key)) referenceCache.set(key, referenceKeptCounts(data, options));
  return referenceCache.get(key)!;
}

afterAll(() => {
  for (const [key, t] of tallies) {
    console.log(`[kept-sets] ${key}: ${t.rows} rows compared, ${t.exempt.length} float-rounding exemptions`);
    for (const e of t.exempt) console.log(`[kept-sets]   exempt: ${e}`);
  }
});

describe('keptExemption (the float-rounding rule itself)', () => {
  it('exempts a count that a relative change of p below delta gives, and nothing else', () => {
    // q ∝ e^1, e^0, e^-1: p just above the first token's mass keeps two tokens, p at it keeps one.
    const row = [1, 0, -1];
    const q0 = Math.E / (Math.E + 1 + 1 / Math.E);
    const p = q0 * (1 + 1e-13);
    expect(Array.from(referenceKeptCounts([row], { topP: p }))).toEqual([2]);
    expect(keptExemption(row, { topP: p }, 0, 1, 1, 1e-12)).toBe(true);
    expect(keptExemption(row, { topP: p }, 0, 1, 1, 1e-15)).toBe(false);
    expect(keptExemption(row, { topP: p }, 0, 1, 3, 1e-12)).toBe(false);
    // Top-k involves no arithmetic: never exempt.
    expect(keptExemption(row, { topK: 2 }, 0, 1, 1, 0.5)).toBe(false);
    // min-p: the threshold max + ln m lands within delta · max(1, |max|) of the middle logit.
    const m = Math.exp(-1) * (1 - 1e-13);
    expect(Array.from(referenceKeptCounts([row], { minP: m }))).toEqual([2]);
    expect(keptExemption(row, { minP: m }, 0, 1, 1, 1e-12)).toBe(true);
    expect(keptExemption(row, { minP: m }, 0, 1, 1, 1e-15)).toBe(false);
  });

  it('never splits a group of tied logits', () => {
    const row = [1, 0, 0, -1];
    const q0 = Math.E / (Math.E + 2 + 1 / Math.E);
    const p = q0 * (1 + 1e-13);
    expect(Array.from(referenceKeptCounts([row], { topP: p }))).toEqual([3]);
    expect(keptExemption(row, { topP: p }, 0, 1, 1, 1e-12)).toBe(true);
    expect(keptExemption(row, { topP: p }, 0, 1, 2, 1e-12)).toBe(false);
  });
});

// The *-portable projects turn the fused paths off: nothing to compare there (skipped, visibly).
const FUSED_RUN = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TFJS_SAMPLING_FUSED !== '0';

describe.each(BACKENDS)('fused kept sets equal the reference kept sets, %s', (backend) => {
  backendSuite(backend);
  const gpu = isSoftwareGpu(backend);

  describe.skipIf(!FUSED_RUN).each(modes(backend))('kernel %s (skipped where TFJS_SAMPLING_FUSED=0)', (mode) => {
    it.each(ADVERSARIAL.map((c) => [c.name, c] as const))('adversarial: %s', async (_name, c) => {
      const o = await compare(backend, mode, c.name, caseRows(c), c.options);
      expect(o.rows).toBe(c.B);
      expect(o.wrong).toEqual([]);
      expect(o.outside).toEqual([]);
      expect(o.exempt).toEqual([]); // exact rows: nothing for rounding to decide
    });

    it.each(VOCABS.map((V) => [V] as const))('random rows and options, V = %i', async (V) => {
      const u = rng(`kept-sets:random:${V}`);
      // Rows per shape; every shape in one batch (one call: software GPUs pay per call).
      // (webgl sorts whole rows for top-p unless every row has top-k: slow on SwiftShader.)
      const B = V >= 100_000 ? (gpu ? 1 : 3) : V >= 10_000 ? (gpu ? 2 : 6) : gpu ? 4 : 8;
      const data = SHAPES.flatMap((shape) => makeRows(shape, B, V, `kept-sets:${V}`));
      const names = SHAPES.flatMap((shape) => Array.from({ length: B }, () => shape));
      const o = await compare(backend, mode, `random V ${V}`, data, randomOptions(data.length, V, u, gpu), names);
      expect(o.rows).toBe(SHAPES.length * B);
      expect(o.wrong).toEqual([]);
      expect(o.outside).toEqual([]);
      // Rounding decides rarely: at most one row in 20 of these (the flat and tied rows put many
      // tokens near every top-p boundary on purpose).
      expect(o.exempt.length).toBeLessThanOrEqual(Math.ceil(o.rows / 20));
    });

    it('negative controls: other options give other counts, and the comparison sees it', async () => {
      const u = rng('kept-sets:control');
      // Distinct logits: every option change below moves the boundary.
      const data = [0, 1].map(() => Array.from({ length: 3000 }, () => Math.fround(4 * u())));
      const x = tf.tensor2d(data.flat(), [2, 3000]);
      const pairs: [SamplerOptions, SamplerOptions][] = [
        [{ topK: 50 }, { topK: 49 }],
        [{ topP: 0.9 }, { topP: 0.8 }],
        [{ minP: 0.3 }, { minP: 0.35 }],
        [
          { temperature: 0.5, topP: 0.9 },
          { temperature: 0.6, topP: 0.9 },
        ],
      ];
      for (const [run, other] of pairs) {
        const got = await withMode(mode, () => fusedKeptCounts(createSampler({ ...run, seed: 1 }), x));
        expect(got?.kernel).toBe(mode);
        const counts = got?.counts ?? new Int32Array(2);
        expect(Array.from(counts)).toEqual(Array.from(referenceKeptCounts(data, run)));
        const wrong = referenceKeptCounts(data, other);
        for (let r = 0; r < 2; r++) {
          expect(counts[r]).not.toBe(wrong[r]);
          expect(keptExemption(data[r]!, other, r, 2, counts[r]!, deltaFor(mode))).toBe(false);
        }
      }
      x.dispose();
    });

    it('the hook costs nothing when unset: no counting kernel, no event', async () => {
      const c = ADVERSARIAL[0]!;
      const x = tf.tensor2d(caseRows(c).flat(), [c.B, c.V]);
      const calls: string[][] = [];
      await withMode(mode, async () => {
        const sampler = createSampler({ ...c.options, seed: 3 });
        calls.push((await kernelLog(() => sampler.sample(x).dispose())).names);
        const observed = await kernelLog(() => fusedKeptCounts(sampler, x));
        calls.push(observed.names);
        expect(observed.value?.kernel).toBe(mode);
      });
      const counting = calls.map((n) => n.filter((name) => name.endsWith(':count')));
      // GPU chain: the counting variant of the draw kernel runs in the observed call only;
      // cpu/wasm count inside the fused kernel (no kernel of their own).
      expect(counting).toEqual([[], mode === 'gpu-chain' ? [`${THRESHOLD_DRAW_KERNEL}:count`] : []]);
      x.dispose();
    });
  });

  const portableWhy = FUSED_RUN ? '' : ' (skipped here: TFJS_SAMPLING_FUSED=0 turns off the fused paths, which report the kept counts)';
  it.skipIf(!FUSED_RUN)(`invalid rows (NaN, +Infinity, nothing finite) report -1, under every policy${portableWhy}`, async () => {
    for (const V of [1, 257, 3001]) {
      const u = rng('kept-sets:invalid');
      const data = Array.from({ length: 4 }, (_, r) => Array.from({ length: V }, (_, j) => (r === 2 || j % 5 === 0 ? -Infinity : Math.fround(3 * u()))));
      data[0]![V - 1] = NaN;
      data[1]![Math.floor(V / 2)] = Infinity;
      const x = tf.tensor2d(data.flat(), [4, V]);
      for (const invalidRows of ['error', 'uniform', 'greedy'] as const) {
        const options: SamplerOptions = { topK: 10, topP: 0.9, minP: 0.1, temperature: 0.5, invalidRows };
        const got = await fusedKeptCounts(createSampler({ ...options, seed: 2 }), x);
        expect(got?.path).toBe(defaultPath(backend));
        expect(Array.from(got!.counts)).toEqual(Array.from(referenceKeptCounts(data, options)));
        expect(Array.from(got!.counts.slice(0, 3))).toEqual([-1, -1, -1]);
      }
      x.dispose();
    }
  });

  it('where no fused path runs (a reordered chain), the hook stays silent', async () => {
    const c = ADVERSARIAL[3]!;
    const x = tf.tensor2d(caseRows(c).flat(), [c.B, c.V]);
    const sampler = createSampler({ ...c.options, order: ['min-p', 'temperature', 'top-k', 'top-p'], seed: 5 });
    expect(await fusedKeptCounts(sampler, x)).toBeUndefined();
    expect(sampler.lastPath.startsWith('fused:')).toBe(false);
    x.dispose();
  });
});
