// Cross-backend identity: for the same logits, options and seeds, every backend of this process
// returns the tokens of reference.sample. A row may differ only on a float-rounding boundary —
// the two competing perturbed scores within float32 error of each other, never on a greedy row —
// and such rows are counted, reported and capped at 1 in 200; any other difference fails. Each
// backend is held to the reference row by row, so the backends agree with each other wherever
// neither was on a boundary.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createSampler, gumbel, reference, rowKey, stepKey, type SamplerOptions } from '../src/index.js';
import { BACKENDS, isSoftwareGpu, useBackend } from './helpers/backend.js';
import { flatten, makeRows, type Shape } from './helpers/logits.js';
import fc from 'fast-check';
import { GPU_PROFILE, NODE_PROFILE, fuzzCase } from './helpers/fuzz-arbitraries.js';
import { checkCase, newTally, type CaseResult } from './helpers/fuzz-check.js';

interface Case {
  shape: Shape;
  B: number;
  V: number;
  steps: number;
  options: SamplerOptions;
}

const CASES: Case[] = [
  { shape: 'peaky', B: 200, V: 500, steps: 3, options: { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 21 } },
  { shape: 'flat', B: 200, V: 500, steps: 3, options: { temperature: 1, topP: 0.9, seed: 22 } },
  { shape: 'masked', B: 100, V: 1000, steps: 2, options: { temperature: [0, 0.5, 1, 2], minP: 0.02, seed: 23 } as SamplerOptions },
  {
    shape: 'ties',
    B: 200,
    V: 100,
    steps: 3,
    options: { temperature: [0, 1, 1.5, 0.7], topK: [0, 5, 20, 50], topP: [1, 0.9, 0.5, 0.99], seed: 24 } as SamplerOptions,
  },
  { shape: 'huge', B: 50, V: 2000, steps: 2, options: { temperature: 500, topP: 0.9, seed: 25 } },
  { shape: 'peaky', B: 4, V: 32000, steps: 2, options: { temperature: 1, topK: 50, topP: 0.95, seed: 26 } },
  { shape: 'flat', B: 2, V: 128256, steps: 1, options: { temperature: 1, seed: 27 } },
];

/** Per-row options arrays are given for 4 rows: repeat them over the batch. */
function expand(o: SamplerOptions, B: number): SamplerOptions {
  const out: Record<string, unknown> = { ...o };
  for (const [k, v] of Object.entries(o)) if (Array.isArray(v)) out[k] = Array.from({ length: B }, (_, r) => v[r % v.length]);
  return out as SamplerOptions;
}

/** Is (a vs b) in row r a float-rounding tie of the perturbed scores, per the float64 reference? */
function isBoundary(row: Float32Array, opts: SamplerOptions, r: number, step: number, a: number, b: number): boolean {
  // A greedy row has no noise: a tie there is exact and the lowest index wins, never rounding.
  if (pickRow(opts.temperature, r) === 0) return false;
  const z = reference.process([row], {
    ...opts,
    seed: 0,
    temperature: pickRow(opts.temperature, r),
    topK: pickRow(opts.topK, r),
    topP: pickRow(opts.topP, r),
    minP: pickRow(opts.minP, r),
  } as SamplerOptions)[0]!;
  if (!Number.isFinite(z[a]!) || !Number.isFinite(z[b]!)) return false;
  const sk = stepKey(rowKey(opts.seed as number, r), step);
  const score = (j: number): number => z[j]! + gumbel(sk, j);
  const sa = score(a);
  const sb = score(b);
  return Math.abs(sa - sb) <= 1e-5 * Math.max(1, Math.abs(sa));
}

function pickRow(v: SamplerOptions['temperature'], r: number): number | undefined {
  if (v === undefined || typeof v === 'number') return v;
  return v[r]!;
}

describe('cross-backend identity', () => {
  it(`${BACKENDS.join(', ')}: the same tokens as reference.sample`, async () => {
    const report: string[] = [];
    for (const backend of BACKENDS) {
      await useBackend(backend);
      expect(tf.getBackend()).toBe(backend);
      let total = 0;
      let boundary = 0;
      const before = tf.memory().numTensors;
      for (const c of CASES) {
        // Software GPUs: half the rows (each GPU backend's agreement suite compares 11,412 rows
        // with reference.sample on its own; here the point is every backend in one process).
        const B = isSoftwareGpu(backend) ? (c.V > 100_000 ? 1 : Math.max(1, Math.ceil(c.B / 2))) : c.B;
        const rows = makeRows(c.shape, B, c.V, 'cross');
        const opts = expand(c.options, B);
        const x = tf.tensor2d(flatten(rows), [B, c.V]);
        const sampler = createSampler(opts);
        for (let step = 0; step < c.steps; step++) {
          const got = await sampler.sampleIds(x);
          const want = reference.sample(rows, opts, step);
          for (let r = 0; r < B; r++) {
            if (got[r] === want[r]) continue;
            if (!isBoundary(rows[r]!, opts, r, step, got[r]!, want[r]!)) {
              throw new Error(`${backend}: ${c.shape} V=${c.V} row ${r} step ${step}: token ${got[r]}, reference ${want[r]} — not a rounding boundary`);
            }
            boundary++;
          }
          total += B;
        }
        x.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
      // Every backend has been at 0 boundary rows (docs/verification.md): a few may come with
      // another device's rounding, more would be a rule that differs, passed off as rounding.
      expect(boundary, `${backend}: boundary rows of ${total}`).toBeLessThanOrEqual(Math.floor(total / 200));
      report.push(`${backend}: ${total - boundary}/${total} rows identical to the reference, ${boundary} boundary row(s)`);
    }
    console.log(`cross-backend identity\n  ${report.join('\n  ')}`);
    expect(CASES.some((c) => c.V >= 32_000)).toBe(true);
  });
});

// Fuzz (fast-check, helpers/fuzz-*.ts): random cases, each sampled on every backend of this
// process. Each backend must agree with the float64 reference (test/fuzz.test.ts's properties),
// and the backends with each other, token for token, except rows where float rounding decided on
// some backend (counted). Fixed seed, explicit numRuns; a failure prints the replayable case.
async function crossFuzz(backends: string[], numRuns: number, seed: number): Promise<void> {
  const gpu = backends.some(isSoftwareGpu);
  const tally = Object.fromEntries(backends.map((b) => [b, newTally()]));
  let compared = 0;
  let rounding = 0;
  const t0 = performance.now();
  await fc.assert(
    fc.asyncProperty(fuzzCase(gpu ? GPU_PROFILE : NODE_PROFILE), async (c) => {
      const got: Record<string, CaseResult> = {};
      for (const backend of backends) {
        await useBackend(backend);
        got[backend] = await checkCase(c, tally[backend]!, { process: false, fused: true, delta: isSoftwareGpu(backend) ? 1e-5 : 1e-6 });
      }
      const [first, ...rest] = backends;
      const a = got[first!]!;
      for (const r of c.rows.keys()) {
        for (const b of rest) {
          const o = got[b]!;
          if (!a.ids || !o.ids) continue; // a known open hole (fuzz-known.ts) explained a failure there
          if (a.rounding.has(r) || o.rounding.has(r)) {
            rounding++;
            continue;
          }
          compared++;
          if (a.ids[r] !== o.ids[r]) throw new Error(`row ${r}: ${first} drew ${a.ids[r]}, ${b} drew ${o.ids[r]}`);
        }
      }
    }),
    { seed, numRuns },
  );
  const known = backends.map((b) => `${b} ${JSON.stringify(tally[b]!.known)}`).join('; ');
  console.log(
    `cross-backend fuzz (${backends.join(', ')}): ${numRuns} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${compared} row comparisons equal, ${rounding} skipped (float rounding decided on a backend); failures explained by known holes: ${known}`,
  );
  expect(compared).toBeGreaterThan(numRuns);
}

describe('cross-backend identity, fuzzed', () => {
  const host = BACKENDS.filter((b) => !isSoftwareGpu(b));
  const hostTitle = host.length > 1 ? host.join(', ') : `cpu, wasm (skipped: this project has ${host.length === 0 ? 'no host backend' : `only ${host[0]}`})`;
  it.runIf(host.length > 1)(`${hostTitle}: 500 random cases give the same tokens`, async () => {
    await crossFuzz(host, 500, 0x5eed0010);
  });
  // Each GPU backend's own fuzz (test/fuzz.test.ts) already requires the reference's token on
  // every row not decided by rounding; this only adds the pairing, at ~3 s a case on SwiftShader.
  it.runIf(BACKENDS.some(isSoftwareGpu) && BACKENDS.length > 1)(`${BACKENDS.join(', ')}: 6 random small cases give the same tokens`, async () => {
    // As in test/fuzz.test.ts: webgl with shapes as uniforms, so random shapes reuse programs.
    const webgl = BACKENDS.includes('webgl');
    const before = webgl ? tf.env().getBool('WEBGL_USE_SHAPES_UNIFORMS') : false;
    if (webgl) tf.env().set('WEBGL_USE_SHAPES_UNIFORMS', true);
    try {
      await crossFuzz(BACKENDS, 6, 0x5eed0011);
    } finally {
      if (webgl) tf.env().set('WEBGL_USE_SHAPES_UNIFORMS', before);
    }
  });
});

describe('a history kept on cpu / wasm', () => {
  const host = BACKENDS.find((b) => b === 'cpu' || b === 'wasm');
  const gpu = BACKENDS.find(isSoftwareGpu);
  const title = `${host ?? 'cpu'} then ${gpu ?? 'a GPU backend'}: the sampler refuses the GPU backend with a clear error and leaves no tensor`;
  it.runIf(host !== undefined && gpu !== undefined)(host && gpu ? title : `${title} (skipped: this project lacks one of them)`, async () => {
    await useBackend(host!);
    const s = createSampler({ repetitionPenalty: 1.3, logitBias: { 2: 1 }, seed: 3 });
    s.begin([[1, 2], [3]]);
    const x = tf.tensor2d([
      [1, 2, 3, 4],
      [4, 3, 2, 1],
    ]);
    expect((await s.sampleIds(x)).length).toBe(2);
    x.dispose();
    await useBackend(gpu!);
    const y = tf.tensor2d([
      [1, 2, 3, 4],
      [4, 3, 2, 1],
    ]);
    const before = tf.memory().numTensors;
    expect(() => s.sample(y)).toThrow(/backend.*must stay cpu or wasm/);
    expect(tf.memory().numTensors).toBe(before);
    s.reset(); // a new history on this backend
    expect((await s.sampleIds(y)).length).toBe(2);
    s.dispose();
    y.dispose();
  });
});
