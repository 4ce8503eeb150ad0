// The bands of the chain (top-nσ, typical-p, ε, η, XTC, Mirostat v1 / v2, minTokensToKeep) on the fused paths — cpu / wasm: the JS and SIMD
// kernels; webgpu / webgl: the GPU chain's bands statistics (webgpu/bands.ts, webgl/bands.ts)
// turned into a floor and an upper bound of the threshold draw. Per row, the fused kept count must
// equal the float64 reference's. cpu and wasm are exact; on the GPUs (float32 sums, a float32 floor) a count may
// differ only where scaling the band's parameter by 1 ± 1e-4 moves the reference's count over it:
// counted, printed and bounded. And, on the GPUs, the bands statistics against float64.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createSampler, reference, type SamplerOptions } from '../src/index.js';
import { BAND_PARAMS, BANDS_KERNEL, registerWebgpuBands } from '../src/backends/webgpu/bands.js';
import { registerWebglBands, rowBandsWebgl } from '../src/backends/webgl/bands.js';
import { registerFusedFlag } from '../src/backends/fused.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS, defaultPath, isSoftwareGpu } from './helpers/backend.js';
import { fusedKeptCounts, referenceKeptCounts } from './helpers/kept.js';
import { startCounting } from './helpers/read-counter.js';
import { flatten, makeRow, rng, type Shape } from './helpers/logits.js';

interface Case {
  name: string;
  options: SamplerOptions;
  /** The options with every band parameter scaled by `f` (the exemption's perturbation). */
  scaled: (f: number) => SamplerOptions;
  /**
   * Greedy rows (T = 0): the kept count is the maximum's ties; the drawn token must be the
   * reference's maximum. GPU chains only (cpu / wasm run typical-p on greedy rows as tfjs ops).
   */
  greedy?: number[];
}

const xtcRows = (th: number[], f = 1) => th.map((t) => ({ probability: 1, threshold: t * f }));
const CASES: Case[] = [
  { name: 'top-nσ', options: { temperature: 0.8, topNSigma: [0.5, 1, 2, 3] }, scaled: (f) => ({ temperature: 0.8, topNSigma: [0.5 * f, f, 2 * f, 3 * f] }) },
  {
    name: 'top-nσ with top-k, top-p',
    options: { temperature: 1.1, topNSigma: [1, 1.5, 2, 0.5], topK: [50, 5, 1000, 40], topP: 0.9 },
    scaled: (f) => ({ temperature: 1.1, topNSigma: [f, 1.5 * f, 2 * f, 0.5 * f], topK: [50, 5, 1000, 40], topP: 0.9 }),
  },
  {
    name: 'ε',
    options: { temperature: 0.9, epsilonCutoff: [1e-5, 3e-4, 1e-3, 0.05] },
    scaled: (f) => ({ temperature: 0.9, epsilonCutoff: [1e-5 * f, 3e-4 * f, 1e-3 * f, 0.05 * f] }),
  },
  { name: 'η', options: { etaCutoff: [1e-4, 2e-3, 1e-2, 0.09] }, scaled: (f) => ({ etaCutoff: [1e-4 * f, 2e-3 * f, 1e-2 * f, 0.09 * f] }) },
  {
    name: 'XTC',
    options: { temperature: 1.2, xtc: xtcRows([0.01, 0.1, 0.3, 0]) },
    scaled: (f) => ({ temperature: 1.2, xtc: xtcRows([0.01, 0.1, 0.3, 0], f) }),
  },
  {
    name: 'Mirostat v2 (μ = 2τ)',
    options: { temperature: 0.9, mirostat: [1, 2, 3, 5].map((tau) => ({ version: 2 as const, tau })) },
    scaled: (f) => ({ temperature: 0.9, mirostat: [1, 2, 3, 5].map((tau) => ({ version: 2 as const, tau: tau * f })) }),
  },
  {
    name: 'Mirostat v1 (μ = 2τ; k from a few to past 100) beside v2',
    options: { temperature: 0.9, mirostat: [1, 3, 6, 4].map((tau, r) => ({ version: r < 3 ? 1 : 2, tau })) },
    scaled: (f) => ({ temperature: 0.9, mirostat: [1, 3, 6, 4].map((tau, r) => ({ version: r < 3 ? 1 : 2, tau: tau * f })) }),
  },
  {
    // k past 100 under the floors of top-k / min-p on rows 2 and 3 (peaky), below it on row 0
    // (flat), and 8 tokens left by top-k on row 1 (k from those 8, not the row's 100 largest).
    name: 'Mirostat v1 after top-k, top-p, min-p, ε',
    options: {
      temperature: [1.1, 1, 1.4, 1.2],
      topK: [0, 8, 0, 1500],
      topP: [1, 0.95, 0.9, 1],
      minP: [0.01, 0, 0.002, 1e-4],
      epsilonCutoff: 1e-5,
      mirostat: [
        { version: 1, tau: 5 },
        { version: 1, tau: 2 },
        { version: 1, tau: 6 },
        { version: 1, tau: 6 },
      ],
    },
    scaled: (f) => ({
      temperature: [1.1, 1, 1.4, 1.2],
      topK: [0, 8, 0, 1500],
      topP: [1, 0.95, 0.9, 1],
      minP: [0.01, 0, 0.002, 1e-4],
      epsilonCutoff: 1e-5 * f,
      mirostat: [
        { version: 1, tau: 5 * f },
        { version: 1, tau: 2 * f },
        { version: 1, tau: 6 * f },
        { version: 1, tau: 6 * f },
      ],
    }),
  },
  {
    name: 'typical-p',
    options: { temperature: 0.8, typicalP: [0.2, 0.5, 0.9, 0.99] },
    scaled: (f) => ({ temperature: 0.8, typicalP: [0.2 * f, 0.5 * f, 0.9 * f, Math.min(0.99 * f, 0.999)] }),
  },
  {
    name: 'typical-p after top-k, min-p, with ε and XTC',
    options: {
      temperature: [1.3, 0.6, 0.9, 1],
      topK: [0, 100, 500, 0],
      minP: 0.01,
      typicalP: [0.95, 0.6, 0.3, 0.8],
      epsilonCutoff: 1e-4,
      xtc: xtcRows([0.05, 0.3, 0.2, 0.02]),
    },
    scaled: (f) => ({
      temperature: [1.3, 0.6, 0.9, 1],
      topK: [0, 100, 500, 0],
      minP: 0.01,
      typicalP: [0.95 * f, 0.6 * f, 0.3 * f, 0.8 * f],
      epsilonCutoff: 1e-4 * f,
      xtc: xtcRows([0.05, 0.3, 0.2, 0.02], f),
    }),
  },
  {
    name: 'typical-p on a greedy row, after top-p',
    options: { temperature: [0, 0.7, 0, 1.5], topP: [1, 0.9, 0.5, 0.99], typicalP: [0.4, 0.3, 0.9, 0.5] },
    scaled: (f) => ({ temperature: [0, 0.7, 0, 1.5], topP: [1, 0.9, 0.5, 0.99], typicalP: [0.4 * f, 0.3 * f, 0.9 * f, 0.5 * f] }),
    greedy: [0, 2],
  },
  {
    name: 'minTokensToKeep with top-p and min-p',
    options: { temperature: 0.8, topP: [0.3, 0.9, 0.5, 0.99], minP: [0.2, 0, 0.5, 0.01], minTokensToKeep: [3, 1, 10, 50] },
    scaled: (f) => ({ temperature: 0.8, topP: [0.3 * f, 0.9 * f, 0.5 * f, 0.99 * f], minP: [0.2 * f, 0, 0.5 * f, 0.01 * f], minTokensToKeep: [3, 1, 10, 50] }),
  },
  {
    name: 'minTokensToKeep with top-nσ, top-k, ε and η',
    options: { temperature: 1.1, topNSigma: 2, topK: [0, 20, 0, 5], epsilonCutoff: [0.05, 1e-3, 0.2, 0.01], etaCutoff: 0.05, minTokensToKeep: [4, 2, 8, 1] },
    scaled: (f) => ({
      temperature: 1.1,
      topNSigma: 2 * f,
      topK: [0, 20, 0, 5],
      epsilonCutoff: [0.05 * f, 1e-3 * f, 0.2 * f, 0.01 * f],
      etaCutoff: 0.05 * f,
      minTokensToKeep: [4, 2, 8, 1],
    }),
  },
  {
    name: 'all four after top-k, top-p, min-p',
    options: {
      temperature: 0.7,
      topNSigma: 2.5,
      topK: [200, 0, 1000, 30],
      topP: 0.95,
      minP: 0.001,
      epsilonCutoff: 1e-4,
      etaCutoff: 1e-3,
      xtc: xtcRows([0.05, 0.02, 0.2, 0.1]),
    },
    scaled: (f) => ({
      temperature: 0.7,
      topNSigma: 2.5 * f,
      topK: [200, 0, 1000, 30],
      topP: 0.95,
      minP: 0.001,
      epsilonCutoff: 1e-4 * f,
      etaCutoff: 1e-3 * f,
      xtc: xtcRows([0.05, 0.02, 0.2, 0.1], f),
    }),
  },
];

/**
 * Thresholds placed 5e-4 (relative) beside a token of each row — above it on rows 0 and 2, below
 * on rows 1 and 3 — so that a band off by 1e-3 changes a kept set: ε and XTC at a token's q (at
 * T = 1, no other filter), top-nσ's n at a token's (max − z) / σ, typical-p's p at the mass of
 * the three tokens closest to the entropy.
 */
function placedCases(rows: Float32Array[]): Case[] {
  const side = (r: number): number => (r % 2 === 0 ? 1 + 5e-4 : 1 - 5e-4);
  const q = rows.map((row) => {
    const f = Array.from(row).filter((v) => Number.isFinite(v));
    const m = Math.max(...f);
    const S = f.reduce((a, v) => a + Math.exp(v - m), 0);
    return f.map((v) => Math.exp(v - m) / S).sort((a, b) => b - a);
  });
  const sig = rows.map((row) => {
    const f = Array.from(row).filter((v) => Number.isFinite(v));
    const mean = f.reduce((a, v) => a + v / f.length, 0);
    const sd = Math.sqrt(f.reduce((a, v) => a + ((v - mean) / f.length) * (v - mean), 0));
    const sorted = f.sort((a, b) => b - a);
    return (sorted[0]! - sorted[Math.min(6, sorted.length - 1)]!) / sd;
  });
  // typical-p: p beside the mass of the 3 tokens closest to the entropy (|−ln q − H|, T = 1).
  const typ = q.map((qs, r) => {
    const H = -qs.reduce((a, v) => a + (v > 0 ? v * Math.log(v) : 0), 0);
    const near = qs.map((v) => [Math.abs(-Math.log(v) - H), v] as const).sort((a, b) => a[0] - b[0]);
    return Math.min(0.999, near.slice(0, 3).reduce((a, [, v]) => a + v, 0) * side(r));
  });
  const eps = q.map((qs, r) => qs[Math.min(4, qs.length - 1)]! * side(r));
  const th = q.map((qs, r) => Math.min(0.5, qs[Math.min(2, qs.length - 1)]! * side(r)));
  const ns = sig.map((n, r) => n * (2 - side(r)));
  return [
    { name: 'ε at a token', options: { epsilonCutoff: eps }, scaled: (f) => ({ epsilonCutoff: eps.map((v) => v * f) }) },
    { name: 'XTC at a token', options: { xtc: xtcRows(th) }, scaled: (f) => ({ xtc: xtcRows(th, f) }) },
    { name: 'top-nσ at a token', options: { topNSigma: ns }, scaled: (f) => ({ topNSigma: ns.map((v) => v * f) }) },
    { name: 'typical-p at a token', options: { typicalP: typ }, scaled: (f) => ({ typicalP: typ.map((v) => Math.min(v * f, 0.9999)) }) },
  ];
}

const tallies = new Map<string, { rows: number; exempt: string[] }>();
afterAll(() => {
  for (const [key, t] of tallies) {
    console.log(`[bands] ${key}: ${t.rows} rows compared, ${t.exempt.length} float-rounding exemptions`);
    for (const e of t.exempt) console.log(`[bands]   exempt: ${e}`);
  }
});

describe.each(BACKENDS)('bands on the fused paths, %s', (backend) => {
  backendSuite(backend);
  const gpu = isSoftwareGpu(backend);
  const fused = ['cpu', 'wasm', 'webgpu', 'webgl'].includes(backend);
  const exact = backend === 'cpu' || backend === 'wasm';
  // 'sorted' (peaky rows in descending order; typical-p cases only): whole windows of a row lie
  // inside or outside a band, which webgl's typical-p search adds or skips unread.
  const shapes: (Shape | 'sorted')[] = gpu ? ['peaky', 'flat', 'masked', 'sorted'] : ['peaky', 'flat', 'masked', 'ties', 'huge'];
  const V = gpu ? 2000 : 5000;

  it.skipIf(!fused)(
    `kept counts equal the reference (float-rounding exemptions on the GPU backends only, bounded), and the drawn tokens are kept${fused ? '' : ` (skipped here: ${backend} has no fused kernel)`}`,
    async (ctx) => {
      registerFusedFlag();
      if (!tf.env().getBool('TFJS_SAMPLING_FUSED')) ctx.skip('the fused kernels are switched off in this project');
      const t = { rows: 0, exempt: [] as string[] };
      tallies.set(backend, t);
      for (const shape of shapes) {
        const u = rng(`bands:${shape}`);
        const rows = Array.from({ length: 4 }, () => (shape === 'sorted' ? makeRow('peaky', V, u).sort((a, b) => b - a) : makeRow(shape, V, u)));
        const x = tf.tensor2d(flatten(rows), [4, V]);
        for (const c of [...CASES, ...placedCases(rows)].filter((k) => !(exact && k.greedy) && (shape !== 'sorted' || k.name.startsWith('typical')))) {
          const before = tf.memory().numTensors;
          const sampler = createSampler({ ...c.options, seed: 5 });
          if (gpu) {
            // No read at all inside sample() on the GPUs — not even a small host tensor read by a
            // kernel forwarded to the CPU (webgpu's concat of more than 7 inputs split off one).
            const reads = startCounting();
            const ids = sampler.sample(x);
            reads.stop();
            expect(reads.events, `${shape} ${c.name}: reads inside sample()`).toEqual([]);
            ids.dispose();
            sampler.reset();
          }
          const got = await fusedKeptCounts(sampler, x);
          sampler.dispose(); // Mirostat's μ and pending surprise
          expect(tf.memory().numTensors).toBe(before);
          expect(got?.path, c.name).toBe(defaultPath(backend));
          const processed = reference.process(rows, c.options);
          const want = processed.map((row) => row.filter((v) => v > -Infinity).length);
          for (let r = 0; r < 4; r++) {
            t.rows++;
            if (c.greedy?.includes(r)) {
              // typical-p may drop the row's maximum: greedy draws the largest logit it keeps.
              const top = Math.max(...processed[r]!);
              expect(processed[r]![got!.ids[r]!], `${shape} ${c.name} row ${r}: greedy draws the largest kept logit`).toBe(top);
              continue;
            }
            const n = got!.counts[r]!;
            if (n === want[r]) {
              // The same count is the same set (a band of logit values): the drawn token is in it.
              expect(processed[r]![got!.ids[r]!], `${shape} ${c.name} row ${r}: the drawn token is kept`).toBeGreaterThan(-Infinity);
              continue;
            }
            const what = `${shape} ${c.name} row ${r}: fused ${n}, reference ${want[r]}`;
            expect(exact, what).toBe(false);
            const around = [1 - 1e-4, 1 + 1e-4].map((f) => referenceKeptCounts([rows[r]!], rowOf(c.scaled(f), r))[0]!);
            expect(n, `${what} (at parameters × 1 ± 1e-4: ${around})`).toBeGreaterThanOrEqual(Math.min(want[r]!, ...around));
            expect(n, `${what} (at parameters × 1 ± 1e-4: ${around})`).toBeLessThanOrEqual(Math.max(want[r]!, ...around));
            t.exempt.push(what);
          }
        }
        x.dispose();
      }
      expect(t.exempt.length, t.exempt.join('\n')).toBeLessThanOrEqual(Math.ceil(t.rows / 50));
    },
  );

  it.skipIf(!gpu)('the GPU bands statistics — σ floors, masses and the XTC bound — against float64 (GPU backends only)', async () => {
    const webgl = backend === 'webgl';
    expect(webgl ? registerWebglBands() : registerWebgpuBands()).toBe(true);
    const stats = (params: tf.Tensor2D, mode: 'moments' | 'mass' | 'above', minP: boolean, online = false): tf.Tensor2D =>
      tf.tidy(() =>
        webgl
          ? rowBandsWebgl(x, params, mode, minP)
          : (tf.engine().runKernel(BANDS_KERNEL, { logits: x, params }, { mode, minP, online } as unknown as tf.NamedAttrMap) as tf.Tensor2D),
      );
    const u = rng('bands:kernel');
    const V = 3001;
    const gens: ((j: number) => number)[] = [
      (j) => -1.1 * Math.log(1 + j) + 0.3 * u(), // peaky
      () => 0.01 * u(), // flat
      (j) => (j % 3 === 0 ? -Infinity : 4 * u()), // masks
      () => 1e30 * (u() - 0.5), // huge: no overflow in σ
      () => 0.25, // one value: σ = 0
      (j) => (j === 17 ? 2 : -Infinity), // one finite logit
      (j) => (j % 2 ? 0 : -0), // ±0
      () => Math.round(4 * u()) / 2, // ties
    ];
    const rows = gens.map((g) => Float32Array.from({ length: V }, (_, j) => g(j)));
    const B = rows.length;
    const n = Float64Array.from({ length: B }, (_, r) => 0.5 + r / 4);
    const x = tf.tensor2d(flatten(rows), [B, V]);
    const finite = rows.map((row) => Array.from(row).filter((v) => Number.isFinite(v)));
    const zmax = finite.map((f) => Math.max(...f));
    // moments: the σ floor and the row max.
    // Params rows of BAND_PARAMS: column 7 n (moments), cut (above) or p; 8 minTokensToKeep (1).
    const P = BAND_PARAMS;
    const pm = tf.tensor2d(
      Float32Array.from({ length: B * P }, (_, i) => (i % P === 7 ? n[Math.floor(i / P)]! : i % P === 8 ? 1 : 0)),
      [B, P],
    );
    const mom = stats(pm, 'moments', false);
    const m = (await mom.array()) as number[][];
    rows.forEach((_, r) => {
      const f = finite[r]!;
      const mean = f.reduce((a, b) => a + b / f.length, 0);
      const sigma = Math.sqrt(f.reduce((a, b) => a + ((b - mean) / f.length) * (b - mean), 0));
      const want = zmax[r]! - n[r]! * sigma;
      expect(m[r]![1], `row ${r} max`).toBe(zmax[r]);
      expect(Math.abs(m[r]![0]! - want), `row ${r} σ floor ${m[r]![0]} vs ${want}`).toBeLessThanOrEqual(2e-6 * (Math.abs(zmax[r]!) + n[r]! * sigma) + 1e-30);
    });
    // mass over z ≥ floor at 1/T, with a min-p pair: Σ e^a and Σ e^a·a against float64.
    const inv = 1 / 0.7;
    const floor = zmax.map((v) => v - 3);
    const pmass = tf.tensor2d(
      rows.flatMap((_, r) => [floor[r]!, 3.4e38, zmax[r]!, Math.fround(inv), inv - Math.fround(inv), -3.4e38, -3.4e38, 0, 1]),
      [B, P],
    );
    // online: m found in the same read (params' m ignored), the sums rescaled as it rises.
    for (const online of webgl ? [false] : [false, true]) {
      const mass = stats(pmass, 'mass', true, online);
      const s = (await mass.array()) as number[][];
      mass.dispose();
      rows.forEach((row, r) => {
        let S = 0;
        let SA = 0;
        for (const z of row) {
          if (!Number.isFinite(z) || z < Math.fround(floor[r]!)) continue;
          const a = (z - zmax[r]!) * inv;
          S += Math.exp(a);
          SA += Math.exp(a) * a;
        }
        expect(Math.abs(s[r]![0]! + s[r]![1]! - S), `row ${r} S (online ${online})`).toBeLessThanOrEqual(1e-5 * S);
        expect(Math.abs(s[r]![2]! + s[r]![3]! - SA), `row ${r} Σ e^a·a (online ${online})`).toBeLessThanOrEqual(1e-5 * S);
        expect(s[r]![4], `row ${r} m (online ${online})`).toBe(zmax[r]);
      });
    }
    // above: the smallest kept logit ≥ cut and how many there are, exactly.
    const cut = zmax.map((v) => Math.fround(v - 1));
    const pabove = tf.tensor2d(
      rows.flatMap((_, r) => [-3.4e38, 3.4e38, zmax[r]!, 1, 0, 0, 0, cut[r]!, 1]),
      [B, P],
    );
    const above = stats(pabove, 'above', false);
    const a = (await above.array()) as number[][];
    rows.forEach((_, r) => {
      const over = finite[r]!.filter((v) => v >= cut[r]!);
      expect(a[r]![0] === Math.min(...over) && a[r]![1] === over.length, `row ${r}: ${a[r]} vs ${Math.min(...over)}, ${over.length}`).toBe(true);
    });
    tf.dispose([x, pm, mom, pmass, pabove, above]);
  });
});

/** Row r's options alone (band parameters given per row become scalars). */
function rowOf(options: SamplerOptions, r: number): SamplerOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) out[k] = Array.isArray(v) ? v[r] : v;
  return out as SamplerOptions;
}
