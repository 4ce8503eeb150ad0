// Regression tests for the contract holes found by review (issue 9): processors that make a
// row invalid, extreme temperatures, per-row arrays mutated after construction, user processors
// with built-in names, masking of logits near FLT_MAX, and one rank rule. Each test failed
// before its fix; every backend project runs them.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  createSampler,
  InvalidRowsError,
  PROCESSOR_INVALID_CODE,
  reference,
  softmax,
  topK,
  type LogitsProcessor,
  type ReferenceState,
  type SamplerOptions,
  type SamplingState,
} from '../src/index.js';
import { referenceTopK } from '../src/reference/top-k.js';
import { FLT_MAX } from '../src/processors/ops.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS, defaultPath } from './helpers/backend.js';
import { fusedKeptCounts, type FusedKept } from './helpers/kept.js';

/** A processor (with its float64 twin) that adds `value` to token `token` of row `row`. */
function adds(row: number, token: number, value: number, name = 'adds'): LogitsProcessor {
  return {
    name,
    apply(state: SamplingState): SamplingState {
      const { batch, vocab } = state;
      const delta = new Float32Array(batch * vocab);
      delta[row * vocab + token] = value;
      return { ...state, logits: tf.add(state.logits, tf.tensor2d(delta, [batch, vocab])) as tf.Tensor2D };
    },
    reference(state: ReferenceState): ReferenceState {
      return { ...state, logits: state.logits.map((z, r) => (r === row ? z.map((v, j) => (j === token ? v + value : v)) : z)) };
    },
  };
}

/** Bans every token of row `row` (a grammar that allows nothing, say). */
function bansAll(row: number): LogitsProcessor {
  return {
    name: 'bans-all',
    apply(state: SamplingState): SamplingState {
      const { batch, vocab } = state;
      const mask = Float32Array.from({ length: batch * vocab }, (_, i) => (Math.floor(i / vocab) === row ? -Infinity : 0));
      return { ...state, logits: tf.add(state.logits, tf.tensor2d(mask, [batch, vocab])) as tf.Tensor2D };
    },
    reference(state: ReferenceState): ReferenceState {
      return { ...state, logits: state.logits.map((z, r) => (r === row ? z.map(() => -Infinity) : z)) };
    },
  };
}

async function read(t: tf.Tensor): Promise<number[]> {
  const out = Array.from(await t.data());
  t.dispose();
  return out;
}

async function kept(x: tf.Tensor2D, options: SamplerOptions): Promise<boolean[]> {
  return (await read(createSampler(options).process(x))).map((v) => v !== -Infinity && !Number.isNaN(v));
}

const ROWS = [
  [3, 1, 0, 2, -1, 0.5],
  [1, 2, 3, 4, 0, -2],
];

describe.each(BACKENDS)('contract holes, %s', (backend) => {
  backendSuite(backend);

  // tf.oneHot refuses a depth of 1: probabilities() of a greedy row and the history's count update
  // (its tfjs-op form) threw a tfjs error for a one-token vocabulary. Found by the edit-shader
  // property test (sparse-edits.test.ts); fixed by oneHotRows.
  it('a one-token vocabulary: probabilities(), softmax and a penalised history work as the reference', async () => {
    const rows = [[2], [-1]];
    const x = tf.tensor2d(rows);
    const options: SamplerOptions = { temperature: [0, 1], repetitionPenalty: 1.5, frequencyPenalty: 0.5, seed: 3 };
    const sampler = createSampler(options);
    sampler.begin([[0], []]);
    expect(await read(sampler.probabilities(x))).toEqual(
      reference.probabilities(rows, options, { history: [[0], []], promptLength: [1, 0] }).flatMap((r) => Array.from(r)),
    );
    expect(await read(softmax(x as tf.Tensor2D, [0, 1]))).toEqual([1, 1]);
    for (let step = 0; step < 3; step++) expect(await read(sampler.sample(x))).toEqual([0, 0]);
    sampler.dispose();
    x.dispose();
  });

  describe('a processor that makes a row invalid', () => {
    const cases: [string, LogitsProcessor, 'nan' | 'positive-infinity' | 'no-finite-logit'][] = [
      ['+Infinity', adds(0, 3, Infinity), 'positive-infinity'],
      ['NaN', adds(0, 3, NaN), 'nan'],
      ['no finite logit', bansAll(0), 'no-finite-logit'],
    ];
    const chains: [string, SamplerOptions][] = [
      ['alone', {}],
      ['before top-k 2, top-p 0.9, min-p 0.1', { topK: 2, topP: 0.9, minP: 0.1 }],
      ['before greedy', { temperature: 0 }],
    ];
    for (const [what, processor, cause] of cases) {
      it.each(chains)(`${what}: ids carry the processor code, sampleIds and the reference throw alike (%s)`, async (_c, extra) => {
        const options: SamplerOptions = { ...extra, processors: [processor], seed: [5, 6] };
        const x = tf.tensor2d(ROWS);
        const sampler = createSampler(options);
        const ids = await read(sampler.sample(x));
        // The processor runs first; the fused kernels (where the backend has them) draw after it.
        expect(sampler.lastPath).toBe(defaultPath(backend));
        expect(ids[0]).toBe(PROCESSOR_INVALID_CODE[cause]);
        // Row 1 is untouched: the token the reference draws for it alone, with its own seed.
        expect(ids[1]).toBe(reference.sample([ROWS[1]!], { ...extra, seed: [6] }, 0)[0]);
        const want = [{ row: 0, cause, source: 'processor' }];
        const err = await sampler.sampleIds(x).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidRowsError);
        expect((err as InvalidRowsError).rows).toEqual(want);
        expect((err as Error).message).toContain('produced by a processor');
        let refErr: unknown;
        try {
          reference.sample(ROWS, options, 0);
        } catch (e) {
          refErr = e;
        }
        expect((refErr as InvalidRowsError).rows).toEqual(want);
        // probabilities(): the invalid row is a NaN row, never a plausible distribution.
        const p = await read(sampler.probabilities(x));
        expect(p.slice(0, 6).every(Number.isNaN)).toBe(true);
        expect(p.slice(6).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        for (const invalidRows of ['uniform', 'greedy'] as const) {
          const o = { ...options, invalidRows };
          expect(Array.from(await createSampler(o).sampleIds(x))).toEqual(reference.sample(ROWS, o, 0));
        }
        x.dispose();
      });
    }

    it('a bad input row is reported as the input, not as the processor', async () => {
      const rows = [
        [1, NaN, 0],
        [1, Infinity, 0],
        [-Infinity, -Infinity, -Infinity],
      ];
      const x = tf.tensor2d(rows);
      const options: SamplerOptions = { processors: [adds(0, 0, 1)], minP: 0.2, seed: 1 };
      const err = await createSampler(options)
        .sampleIds(x)
        .catch((e: unknown) => e);
      const want = [
        { row: 0, cause: 'nan', source: 'input' },
        { row: 1, cause: 'positive-infinity', source: 'input' },
        { row: 2, cause: 'no-finite-logit', source: 'input' },
      ];
      expect((err as InvalidRowsError).rows).toEqual(want);
      expect(() => reference.sample(rows, options, 0)).toThrow(InvalidRowsError);
      x.dispose();
    });
  });

  describe('extreme temperatures', () => {
    // Rows where the temperature decides: tied maxima, gaps of 1e-33 below the max, logits of
    // 1e30 and ±3e38 (with masks), an ordinary row, ties with -Infinity.
    const V = 48;
    const rows: number[][] = [
      Array.from({ length: V }, (_, j) => (j % 7 === 3 ? 2 : j % 5 === 0 ? 2 - 1e-6 : -j / 10)),
      Array.from({ length: V }, (_, j) => 1e-25 + (j % 9) * 1e-33 - (j % 4 === 0 ? 1e-31 : 0)),
      Array.from({ length: V }, (_, j) => ((j % 6) - 3) * 3e29),
      Array.from({ length: V }, (_, j) => (j % 11 === 0 ? -Infinity : j % 3 === 0 ? 3.3e38 : j % 3 === 1 ? -3.3e38 : 1e38)),
      Array.from({ length: V }, (_, j) => Math.sin(j * 1.7) * 3),
      Array.from({ length: V }, (_, j) => (j % 2 === 0 ? -Infinity : Math.floor(j / 8))),
    ].map((r) => r.map(Math.fround));
    const TS = [5e-324, 1e-45, 1e-39, 1e-30, 1e-8, 1e8, 1e30, 1e38, 3.4e38, 1.7e308];
    const FILTERS: SamplerOptions[] = [{}, { topK: 5 }, { topP: 0.6 }, { minP: 0.3 }, { topK: 20, topP: 0.9, minP: 0.05 }];
    it.each(TS.map((t) => [t] as const))('T = %s: tokens, kept sets and probabilities equal the reference, with each filter', async (T) => {
      const x = tf.tensor2d(rows);
      for (const filter of FILTERS) {
        const options: SamplerOptions = { ...filter, temperature: T, seed: 17 };
        const label = JSON.stringify(filter);
        const sampler = createSampler(options);
        for (let step = 0; step < 3; step++) {
          expect(Array.from(await sampler.sampleIds(x)), `${label} step ${step}`).toEqual(reference.sample(rows, options, step));
        }
        const refKept = reference.process(rows, options).flatMap((r) => Array.from(r, (v) => Number.isFinite(v)));
        expect(await kept(x, options), label).toEqual(refKept);
        const p = await read(sampler.probabilities(x));
        const refP = reference.probabilities(rows, options).flatMap((r) => Array.from(r));
        expect(p.some(Number.isNaN), label).toBe(false);
        p.forEach((v, i) => expect(Math.abs(v - refP[i]!), `${label} [${i}]`).toBeLessThan(1e-5));
      }
      x.dispose();
    });

    // The rest of the chain on the same rows: every sampler that sums a row's mass scales
    // differences z − max by 1/T, and row 3's span (6.6e38) overflows float32. One step each
    // (Mirostat's μ is the fresh sampler's, which the reference assumes at step 0).
    const CHAIN: SamplerOptions[] = [
      { typicalP: 0.9 },
      { typicalP: 0.3, topP: 0.9 },
      { epsilonCutoff: 0.01 },
      { etaCutoff: 0.02 },
      { topNSigma: 1 },
      { xtc: { probability: 1, threshold: 0.05 } },
      { mirostat: { version: 2, tau: 3 } },
      { mirostat: { version: 1, tau: 3 } },
      { dynamicTemperature: { range: 0.5 } },
    ];
    // Tokens, the fused paths' kept counts (fused-observer.ts: tokens of zero mass decide nothing
    // in a draw, so the counts are what shows a wrong band there) and process()'s kept sets.
    it.each(TS.map((t) => [t] as const))(
      'T = %s: the rest of the chain (typical-p, ε, η, top-nσ, XTC, Mirostat, dynamic T) equals the reference',
      async (T) => {
        const x = tf.tensor2d(rows);
        const wrong: string[] = [];
        const bits = (a: boolean[]) => a.map(Number).join('');
        try {
          for (const filter of CHAIN) {
            const options: SamplerOptions = { ...filter, temperature: T, seed: 17 };
            const label = JSON.stringify(filter);
            const want = reference.sample(rows, options, 0);
            const refKept = reference.process(rows, options).map((r) => bits(Array.from(r, (v) => Number.isFinite(v))));
            const sampler = createSampler(options); // Mirostat keeps μ on the device until dispose()
            let fused: FusedKept | undefined;
            let ids: number[];
            try {
              fused = await fusedKeptCounts(sampler, x);
              if (fused) ids = Array.from(fused.ids);
              else {
                const again = createSampler(options); // the portable path: no kept counts
                ids = Array.from(await again.sampleIds(x));
                again.dispose();
              }
            } catch (e) {
              wrong.push(`${label}: ${(e as Error).message}`);
              continue;
            } finally {
              sampler.dispose();
            }
            const got = await kept(x, options);
            rows.forEach((_, r) => {
              const g = bits(got.slice(r * V, (r + 1) * V));
              const count = refKept[r]!.split('1').length - 1;
              if (ids[r] !== want[r]) wrong.push(`${label} row ${r}: token ${ids[r]}, reference ${want[r]}`);
              if (fused && fused.counts[r] !== count) wrong.push(`${label} row ${r}: ${fused.path} keeps ${fused.counts[r]}, reference ${count}`);
              if (g !== refKept[r]) wrong.push(`${label} row ${r}: process() keeps ${g}, reference ${refKept[r]}`);
            });
          }
        } finally {
          x.dispose();
        }
        expect(wrong).toEqual([]);
      },
    );

    it('below 2^-100 every T is 2^-100, above 2^100 every T is 2^100 (documented clamp)', async () => {
      const x = tf.tensor2d(rows);
      for (const [a, b] of [
        [1e-45, 2 ** -100],
        [1e38, 2 ** 100],
      ] as const) {
        const pa = await read(createSampler({ temperature: a, topP: 0.9 }).probabilities(x));
        const pb = await read(createSampler({ temperature: b, topP: 0.9 }).probabilities(x));
        expect(pa).toEqual(pb);
      }
      x.dispose();
    });
  });

  describe('smaller holes', () => {
    it('per-row option arrays are copied: mutating them later changes nothing', async () => {
      const temperature = [0.5, 2];
      const topP = [0.9, 0.5];
      const sampler = createSampler({ temperature, topP, seed: 3 });
      temperature[0] = -1;
      topP[1] = NaN;
      const x = tf.tensor2d(ROWS);
      expect(Array.from(await sampler.sampleIds(x))).toEqual(reference.sample(ROWS, { temperature: [0.5, 2], topP: [0.9, 0.5], seed: 3 }, 0));
      x.dispose();
    });

    it("a user processor named 'top-k' gets no built-in sort hints", async () => {
      // A top-k 2 that then raises token 5 to the top: the candidates it inherits from the real
      // top-k no longer describe the logits; top-p after it must not use them.
      const raise = new Float32Array(2 * 6);
      raise[5] = 10;
      raise[6 + 5] = 10;
      const impostor: LogitsProcessor = {
        name: 'top-k',
        apply(state) {
          const next = topK(2).apply(state);
          return { ...next, logits: tf.add(next.logits, tf.tensor2d(raise, [2, 6])) as tf.Tensor2D };
        },
        reference(state) {
          const next = referenceTopK(2)(state);
          return { ...next, logits: next.logits.map((z) => z.map((v, j) => (j === 5 ? v + 10 : v))) };
        },
      };
      const options: SamplerOptions = { processors: [impostor], topP: 0.5, seed: 1 };
      const x = tf.tensor2d(ROWS);
      const refKept = reference.process(ROWS, options).flatMap((r) => Array.from(r, (v) => Number.isFinite(v)));
      expect(await kept(x, options)).toEqual(refKept);
      expect(Array.from(await createSampler(options).sampleIds(x))).toEqual(reference.sample(ROWS, options, 0));
      x.dispose();
    });

    it('Mirostat v1 on rows masked with -1e9 instead of -Infinity keeps what the reference keeps', async () => {
      // Models that mask with a large negative logit put gaps of ~1e9 among the 100 largest: the
      // Zipf estimate is then huge and k is 1. Scaled gaps clamped at -2048 (as exp needs) gave a
      // moderate estimate and a k past the finite tokens instead (every token kept).
      const V = 160;
      const rows = [99, 40, 3].map((real) => Array.from({ length: V }, (_, j) => Math.fround(j < real ? Math.sin(j * 2.3) * 4 : -1e9)));
      const x = tf.tensor2d(rows);
      for (const T of [1, 0.7]) {
        const options: SamplerOptions = { temperature: T, mirostat: [10, 40, 60].map((tau) => ({ version: 1 as const, tau })), seed: 5 };
        const refKept = reference.process(rows, options).map((r) => Array.from(r, (v) => Number.isFinite(v)));
        expect(refKept.map((r) => r.filter(Boolean).length)).toEqual([1, 1, 1]);
        expect(await kept(x, options), `T ${T}`).toEqual(refKept.flat());
        const sampler = createSampler(options);
        const ids = Array.from(await sampler.sampleIds(x));
        sampler.dispose();
        expect(ids, `T ${T}`).toEqual(reference.sample(rows, options, 0));
      }
      x.dispose();
    });

    it('logits near FLT_MAX are masked to -Infinity like any other (top-k, top-p, min-p)', async () => {
      const rows = [[1, 3e38, FLT_MAX, -FLT_MAX, 2.7e38]];
      const x = tf.tensor2d(rows);
      for (const options of [{ topK: 1 }, { topP: 0.5 }, { minP: 0.9 }, { topK: 2 }] as SamplerOptions[]) {
        const want = reference.process(rows, options)[0]!.map((v) => (Number.isFinite(v) ? 1 : 0));
        expect(Array.from(want)).not.toEqual([1, 1, 1, 1, 1]);
        expect((await kept(x, options)).map(Number), JSON.stringify(options)).toEqual(Array.from(want));
      }
      x.dispose();
    });

    it('one rank rule: per-token outputs keep the input rank, per-row outputs have one value per row', async () => {
      const x = tf.tensor1d([3, 1, 0, 2]);
      const sampler = createSampler({ topK: 2, seed: 1 });
      const p = sampler.probabilities(x);
      const z = sampler.process(x);
      const s = softmax(x);
      const ids = sampler.sample(x);
      expect([p.shape, z.shape, s.shape, ids.shape]).toEqual([[4], [4], [4], [1]]);
      tf.dispose([x, p, z, s, ids]);
    });
  });
});
