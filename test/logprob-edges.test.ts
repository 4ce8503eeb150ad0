// Log-probabilities and their helpers at the edges: the stats softmax's temperature
// clamp, and the tensor formulation of the packed log-probabilities (webgl, webgpu past its
// kernel, tfjs-node) on rows whose logits span past float32's range.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { SamplingError, createSampler, reference, score, softmax } from '../src/index.js';
import { packLogprobs } from '../src/logprobs.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS } from './helpers/backend.js';
import { expectClose } from './helpers/logprob-check.js';

// packLogprobs takes the backend's typed-array kernel on cpu and wasm; `tensorOps.on` makes it
// take its tensor-op formulation instead (what webgl, webgpu past 20 alternatives and tfjs-node run).
const tensorOps = vi.hoisted(() => ({ on: false }));
vi.mock('../src/backends/js-kernels.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../src/backends/js-kernels.js')>();
  return { ...m, jsKernelsAvailable: () => !tensorOps.on && m.jsKernelsAvailable() };
});

describe.each(BACKENDS)('log-probabilities at the edges on %s', (backend) => {
  backendSuite(backend);

  it('softmax clamps 1/T to [2^-100, 2^100] as the sampler does: T = 1e-320, 1e-40, 1e-300, 1e300, 1.7e308 give probabilities(), not one-hot or NaN rows', async () => {
    const rows = [
      [1, 1, 0, -2],
      [3, 1, 3, -Infinity],
    ];
    const x = tf.tensor2d(rows);
    const temperatures = [1e-320, 1e-40, 1e-300, 1e300, 1.7e308];
    const results: [Float32Array, Float32Array][] = [];
    for (const T of temperatures) {
      const s = createSampler({ temperature: T, seed: 1 });
      const p = softmax(x, T);
      const q = s.probabilities(x);
      results.push([(await p.data()) as Float32Array, (await q.data()) as Float32Array]);
      tf.dispose([p, q]);
      s.dispose();
    }
    x.dispose();
    temperatures.forEach((T, i) => {
      const want = reference.probabilities(rows, { temperature: T, seed: 1 });
      const [got, sampled] = results[i]!;
      rows.forEach((_row, r) => {
        expectClose(got.subarray(r * 4, r * 4 + 4), want[r]!, `softmax T ${T} row ${r}`);
        expectClose(got.subarray(r * 4, r * 4 + 4), sampled.subarray(r * 4, r * 4 + 4), `softmax vs probabilities() T ${T} row ${r}`);
      });
    });
  });

  it('the tensor-op packing gives (v − max)/T at a huge T (2^100) where v − max overflows float32 (a row spanning past FLT_MAX): the reference, not −Infinity', async () => {
    const rows = [
      [3e38, -3e38, 0, 1],
      [1, 2, 3, 4],
    ];
    const opts = { temperature: 2 ** 100, seed: 1 }; // 1/T = 2^-100 exactly
    const want = reference.logprobs(rows, opts, 0, {}, { topLogprobs: 4, mode: 'processed' });
    // Every token but the maximum has probability 0 in row 0, yet a finite log-probability
    // (about −4.7e8 for token 1, −2.4e8 for tokens 2 and 3 of row 0).
    expect(Number.isFinite(want.topLogprobs[0]![3]!)).toBe(true);
    for (const viaTensorOps of [false, true]) {
      const before = tf.memory().numTensors;
      tensorOps.on = viaTensorOps;
      let data: Float32Array;
      try {
        const packed = tf.tidy(() => {
          const input = tf.tensor2d(rows);
          return packLogprobs(
            {
              input,
              processed: input,
              invTemperature: new Float64Array(2).fill(2 ** -100),
              codes: tf.zeros([2]) as tf.Tensor1D,
              ids: tf.tensor1d([1, 2], 'int32'),
            },
            { topLogprobs: 4, mode: 'processed', raw: true },
          );
        });
        data = (await packed.data()) as Float32Array;
        packed.dispose();
      } finally {
        tensorOps.on = false;
      }
      expect(tf.memory().numTensors).toBe(before);
      const how = viaTensorOps ? 'tensor ops' : 'kernel';
      const W = 3 + 2 * 4;
      rows.forEach((row, r) => {
        const o = r * W;
        // The id given (not drawn): its processed log-probability is the reference's for it.
        const id = data[o]!;
        expect(id, `${how} row ${r} id`).toBe([1, 2][r]);
        const at = want.topIds[r]!.indexOf(id);
        expectClose([data[o + 2]!], [want.topLogprobs[r]![at]!], `${how} row ${r} processed of token ${id} (logit ${row[id]})`);
        expect(Array.from(data.subarray(o + 3, o + 7)), `${how} row ${r} ids`).toEqual(want.topIds[r]);
        expectClose(data.subarray(o + 7, o + 11), want.topLogprobs[r]!, `${how} row ${r} alternatives`);
      });
    }
  });

  it('sampleIdsWithLogprobs at a huge T on a row spanning past FLT_MAX: the reference, on every path (the webgpu packing kernel included)', async () => {
    const rows = [
      [3e38, -3e38, 0, 1],
      [1, 2, 3, 4],
    ];
    const opts = { temperature: 2 ** 100, seed: 1 };
    const plan = { topLogprobs: 4, mode: 'processed' as const };
    const s = createSampler(opts);
    const x = tf.tensor2d(rows);
    const before = tf.memory().numTensors;
    const got = await s.sampleIdsWithLogprobs(x, undefined, plan);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    s.dispose();
    const want = reference.logprobs(rows, opts, 0, {}, plan);
    expect(Array.from(got.ids)).toEqual(Array.from(want.ids));
    rows.forEach((_, r) => {
      expect(Array.from(got.topIds[r]!), `row ${r} ids`).toEqual(want.topIds[r]);
      expectClose(got.topLogprobs[r]!, want.topLogprobs[r]!, `row ${r} alternatives`);
      expectClose([got.processed[r]!], [want.processed[r]!], `row ${r} processed`);
    });
  });

  it("score(): generate's options it does not take are typed errors (a stop token silently ended the scoring)", async () => {
    const model = (tokens: tf.Tensor2D): tf.Tensor2D => tf.tidy(() => tf.fill([tokens.shape[0], 8], 0.5) as tf.Tensor2D);
    const base = { prompts: [[1], [2]], padId: 0, continuations: [[5, 3, 4], [5]] };
    const before = tf.memory().numTensors;
    const ok = await score(model as never, base);
    expect(ok.logprobs.map((r) => r.length)).toEqual([3, 1]);
    for (const [key, value] of [
      ['stopTokens', [5]],
      ['keepStop', false],
      ['maxNewTokens', 1],
      ['sampler', { temperature: 1 }],
      ['detokenize', () => ''],
    ] as const) {
      const err = await score(model as never, { ...base, [key]: value } as never).catch((e: unknown) => e);
      expect(err, key).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument).toBe(key);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('alternatives beyond float32 (−Infinity from finite logits) come in logit order on every path, as in the reference; a greedy row keeps index order', async () => {
    // Row 0, raw: tokens 2 and 1 are both −Infinity (−6e38 and −Infinity logits); row 1 at T 0.5:
    // −3e38 and 0 are both past −FLT_MAX after 1/T.
    const rows = [
      [3e38, -Infinity, -3e38, 0],
      [3e38, -3e38, 0, 1],
    ];
    for (const [opts, plan] of [
      [
        { temperature: 1, seed: 2 },
        { topLogprobs: 4, mode: 'raw' as const },
      ],
      [
        { temperature: 0.5, seed: 2 },
        { topLogprobs: 4, mode: 'processed' as const },
      ],
      [
        { temperature: 0, seed: 2 },
        { topLogprobs: 4, mode: 'processed' as const },
      ],
    ] as const) {
      const want = reference.logprobs(rows, opts, 0, {}, plan);
      const s = createSampler(opts);
      const x = tf.tensor2d(rows);
      const got = await s.sampleIdsWithLogprobs(x, undefined, plan);
      x.dispose();
      s.dispose();
      rows.forEach((_, r) => expect(Array.from(got.topIds[r]!), `${JSON.stringify(opts)} row ${r}`).toEqual(want.topIds[r]));
    }
    expect(reference.logprobs([rows[0]!], { temperature: 1, seed: 1 }, 0, {}, { topLogprobs: 4 }).topIds[0]).toEqual([0, 3, 2, 1]);
    expect(reference.logprobs([rows[1]!], { temperature: 0, seed: 1 }, 0, {}, { topLogprobs: 4, mode: 'processed' }).topIds[0]).toEqual([0, 1, 2, 3]);
  });
});
