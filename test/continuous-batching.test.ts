// Per-row steps and seeds (`sample(logits, { steps, seeds })`) and `restartRows`: continuous
// batching, where a finished row takes the next request. Each request's tokens must equal the
// same request run alone from step 0 with its seed, whatever row it lands in and whenever it
// starts, with history processors and Mirostat state included; checked on every backend.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SamplingError,
  createSampler,
  generate,
  reference,
  type GenerateStep,
  type LogitsProcessor,
  type SamplerOptions,
  type StepFunction,
} from '../src/index.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS } from './helpers/backend.js';
import { makeRows } from './helpers/logits.js';
import { logitsOf, termsOf, windowModelOf } from './helpers/toy-transformer.js';

const V = 40;
const TABLE = makeRows('peaky', V, V, 'continuous-table');

interface Request {
  prompt: number[];
  seed: number;
  maxNew: number;
}

const REQUESTS: Request[] = [
  { prompt: [1, 2, 3], seed: 101, maxNew: 5 },
  { prompt: [4], seed: 102, maxNew: 9 },
  { prompt: [5, 6], seed: 103, maxNew: 3 },
  { prompt: [7, 8, 9, 10], seed: 104, maxNew: 7 },
  { prompt: [11], seed: 105, maxNew: 4 },
  { prompt: [12, 13], seed: 106, maxNew: 6 },
  { prompt: [1, 2, 3], seed: 107, maxNew: 8 },
];

/**
 * A model with a cache of one number a row (feed 'new'), which a restarted row must forget
 * (`StepContext.restarted`); `forget: false` is the negative control's cache that ignores it.
 */
function cacheModelOf(table: tf.Tensor2D, mix: tf.Tensor2D, forget: boolean): StepFunction<tf.Tensor1D> {
  return (tokens, ctx) => {
    const [b, n] = tokens.shape;
    const full = ctx.attentionMask();
    const sum = tf.tidy(() => {
      const add = termsOf(tokens, tf.slice(full, [0, full.shape[1] - n], [b, n]) as tf.Tensor2D, ctx.positionIds());
      if (!ctx.state) return add;
      if (!forget) return tf.add(ctx.state, add) as tf.Tensor1D;
      const keep = tf.tensor1d(
        Int32Array.from(ctx.restarted!, (v) => 1 - v),
        'int32',
      );
      return tf.add(tf.mul(ctx.state, keep), add) as tf.Tensor1D;
    });
    ctx.state?.dispose();
    const logits = tf.tidy(() => logitsOf(table, mix, tf.reshape(tf.slice(tokens, [0, n - 1], [b, 1]), [b]) as tf.Tensor1D, sum));
    return { logits, state: sum };
  };
}

/** The logits of each row: the table's line for its last token (a bigram model on the host). */
function logitsFor(last: readonly number[]): tf.Tensor2D {
  const out = new Float32Array(last.length * V);
  last.forEach((t, r) => out.set(TABLE[t]!, r * V));
  return tf.tensor2d(out, [last.length, V]);
}

async function drawOne(
  sampler: ReturnType<typeof createSampler>,
  last: readonly number[],
  context?: { steps: number[]; seeds: number[] },
): Promise<Int32Array> {
  const x = logitsFor(last);
  try {
    return await sampler.sampleIds(x, context);
  } finally {
    x.dispose();
  }
}

/** A request alone: a batch of one, its seed, from step 0. */
async function alone(options: SamplerOptions, req: Request): Promise<number[]> {
  const s = createSampler({ ...options, seed: [req.seed] });
  try {
    s.begin([req.prompt]);
    const seq = [...req.prompt];
    const out: number[] = [];
    for (let i = 0; i < req.maxNew; i++) {
      const id = (await drawOne(s, [seq[seq.length - 1]!]))[0]!;
      seq.push(id);
      out.push(id);
    }
    return out;
  } finally {
    s.dispose();
  }
}

/** The requests through `slots` rows: a row that finishes takes the next request (restartRows). */
function batched(options: SamplerOptions, slots: number, restart = true): Promise<{ tokens: number[][]; rowsUsed: number[][] }> {
  return batchedOf(options, REQUESTS, slots, restart);
}

const MIXES: [string, SamplerOptions][] = [
  ['T + top-k + top-p', { temperature: 1.2, topK: 12, topP: 0.9 }],
  [
    'penalties (prompt and generated-only scopes, a window), n-gram ban',
    { temperature: 1.3, repetitionPenalty: 1.4, frequencyPenalty: 0.6, presencePenalty: 0.4, penaltyLastN: 6, noRepeatNgramSize: 2 },
  ],
  ['Mirostat v2 (per-row μ)', { mirostat: { version: 2, tau: 2.5, eta: 0.3 } }],
  [
    'XTC coin, DRY, minNewTokens',
    {
      temperature: 1.1,
      xtc: { threshold: 0.1, probability: 0.5 },
      dry: { multiplier: 0.8, base: 1.75, allowedLength: 1 },
      minNewTokens: 3,
      stopTokens: [0, 1],
    },
  ],
];

/** The GPU backends compile shaders per mix (minutes on SwiftShader): the mixes with per-row state there. */
const mixesOn = (backend: string): [string, SamplerOptions][] => (backend === 'webgl' || backend === 'webgpu' ? MIXES.slice(1, 3) : MIXES);

describe.each(BACKENDS)('continuous batching on %s', (backend) => {
  backendSuite(backend);

  it.each(mixesOn(backend))('per-row steps and seeds equal the reference: %s', async (_name, options) => {
    const B = 5;
    const rows = makeRows('peaky', B, V, 'continuous-rows');
    const steps = [0, 3, 17, 2 ** 31 + 5, 1];
    const seeds = [11, 12, 13, 14, 11];
    const x = tf.tensor2d(rows.map((r) => Array.from(r)));
    const s = createSampler({ ...options, seed: 1 });
    try {
      // History processors see an empty history here; the reference gets the same.
      const got = Array.from(await s.sampleIds(x, { steps, seeds }));
      const want = reference.sample(rows, { ...options, seed: seeds }, steps, { history: rows.map(() => []) });
      expect(got).toEqual(want);
      // The same row twice at the same step and seed: the same token (keys do not depend on the row index).
      const twice = tf.tensor2d([Array.from(rows[0]!), Array.from(rows[0]!)]);
      const t = createSampler({ ...options, seed: 1 });
      const same = Array.from(await t.sampleIds(twice, { steps: [4, 4], seeds: [9, 9] }));
      t.dispose();
      twice.dispose();
      expect(same[0]).toBe(same[1]);
    } finally {
      s.dispose();
      x.dispose();
    }
  });

  it('the sampler step still advances; sampleWithLogprobs draws the same ids', async () => {
    const rows = makeRows('peaky', 3, V, 'continuous-lp');
    const x = tf.tensor2d(rows.map((r) => Array.from(r)));
    const a = createSampler({ temperature: 0.9, topK: 10, seed: 5 });
    const b = createSampler({ temperature: 0.9, topK: 10, seed: 5 });
    try {
      const ctx = { steps: [2, 0, 9], seeds: [1, 2, 3] };
      const ids = await a.sampleIds(x, ctx);
      const lp = await b.sampleIdsWithLogprobs(x, ctx, { topLogprobs: 2 });
      expect(Array.from(lp.ids)).toEqual(Array.from(ids));
      expect(a.step).toBe(1);
    } finally {
      x.dispose();
    }
  });

  it.each(mixesOn(backend))('each request equals itself alone, whatever row and start it gets: %s', async (_name, options) => {
    const want = await Promise.all(REQUESTS.map((r) => alone(options, r)));
    const before = tf.memory().numTensors;
    const got = await batched(options, 3);
    expect(tf.memory().numTensors).toBe(before);
    // Rows were reused (the test is about restarts): 7 requests through 3 rows.
    expect(got.rowsUsed.some((r) => r.length > 2)).toBe(true);
    REQUESTS.forEach((_, i) => expect(got.tokens[i], `request ${i}`).toEqual(want[i]));
    // Negative control: without restartRows a reused row keeps the old request's history / μ
    // (penalties, Mirostat, DRY and minNewTokens all keep per-row state).
    if (options.repetitionPenalty !== undefined || options.mirostat !== undefined || options.dry !== undefined || options.minNewTokens !== undefined) {
      const stale = await batched(options, 3, false);
      expect(REQUESTS.some((_, i) => JSON.stringify(stale.tokens[i]) !== JSON.stringify(want[i]))).toBe(true);
    }
  });

  it('restartRows before the first call, and bad arguments: typed errors, nothing left behind', async () => {
    const opts: SamplerOptions = { repetitionPenalty: 1.5, temperature: 1, seed: [1, 2] };
    const s = createSampler(opts);
    s.restartRows([1], [[3, 3, 3]]);
    const ids = await drawOne(s, [1, 3], { steps: [0, 0], seeds: [1, 2] });
    expect(Array.from(ids)).toEqual(reference.sample([TABLE[1]!, TABLE[3]!], { ...opts, seed: [1, 2] }, 0, { history: [[], [3, 3, 3]] }));
    const x = logitsFor([1, 2]);
    const bad = (f: () => unknown, arg: string): void => {
      const n = tf.memory().numTensors;
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, arg).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument).toBe(arg);
      expect(tf.memory().numTensors).toBe(n);
    };
    bad(() => s.restartRows([2], [[1]]), 'rows[0]');
    bad(() => s.restartRows([0, 0], [[1], [2]]), 'rows[1]');
    bad(() => s.restartRows([0], [[V]]), 'prompts[0][0]');
    bad(() => s.restartRows([0], []), 'prompts');
    bad(() => s.sample(x, { steps: [0] }), 'context.steps');
    bad(() => s.sample(x, { steps: [0, -1] }), 'context.steps[1]');
    bad(() => s.sample(x, { steps: [0, 1.5] }), 'context.steps[1]');
    bad(() => s.sample(x, { seeds: [0, NaN] }), 'context.seeds[1]');
    bad(() => createSampler({ draw: 'multinomial', seed: 1 }).sample(x, { steps: [0, 0] }), 'context.steps');
    const user: LogitsProcessor = { name: 'counter', apply: (st) => st, accept: () => {}, reset: () => {}, clone: () => user };
    bad(() => createSampler({ processors: [user] }).restartRows([0], [[1]]), 'processors[0]');
    x.dispose();
    s.dispose();
  });

  it.each(mixesOn(backend))("generate's queue: each request equals itself alone (window model and cache model with feed 'new'): %s", async (_name, options) => {
    const table = tf.tensor2d(TABLE.map((r) => Array.from(r)));
    const mix = tf.tensor2d(makeRows('peaky', V, V, 'continuous-mix').map((r) => Array.from(r, (v) => 0.7 * v)));
    const windowModel = windowModelOf(table, mix);
    const cacheModel = cacheModelOf(table, mix, true);
    const stopTokens = [7];
    for (const [model, feed] of [
      [windowModel, 'window'],
      [cacheModel, 'new'],
    ] as const) {
      const want: { tokens: number[]; lp: number[] }[] = [];
      for (const req of REQUESTS) {
        const one = await generate(model as StepFunction, {
          prompts: [req.prompt],
          padId: 0,
          maxNewTokens: req.maxNew,
          stopTokens,
          feed,
          sampler: { ...options, seed: [req.seed] },
          logprobs: true,
        });
        want.push({ tokens: one.tokens[0]!, lp: one.logprobs![0]!.map((t) => t.raw) });
        tf.dispose(one.state as tf.Tensor);
      }
      want.forEach((w, i) => expect(w.lp.length, `${feed}: request ${i} alone`).toBe(w.tokens.length));
      const first = REQUESTS.slice(0, 3);
      const steps: GenerateStep[] = [];
      const before = tf.memory().numTensors;
      const got = await generate(model as StepFunction, {
        prompts: first.map((r) => r.prompt),
        seeds: first.map((r) => r.seed),
        maxNewTokens: first.map((r) => r.maxNew),
        queue: REQUESTS.slice(3).map((r) => ({ prompt: r.prompt, seed: r.seed, maxNewTokens: r.maxNew })),
        padId: 0,
        stopTokens,
        feed,
        sampler: options,
        logprobs: true,
        onStep: (st) => void steps.push(st),
      });
      tf.dispose(got.state as tf.Tensor);
      expect(tf.memory().numTensors).toBe(before);
      expect(got.tokens.length).toBe(REQUESTS.length);
      REQUESTS.forEach((_, i) => {
        expect(got.tokens[i], `${feed}: request ${i}`).toEqual(want[i]!.tokens);
        expect(got.sequences[i]).toEqual([...REQUESTS[i]!.prompt, ...want[i]!.tokens]);
        expect(got.logprobs![i]!.length, `${feed}: request ${i} logprobs`).toBe(want[i]!.lp.length);
        got.logprobs![i]!.forEach((t, k) => expect(Math.abs(t.raw - want[i]!.lp[k]!)).toBeLessThan(1e-5));
      });
      // The streamed steps name each token's request; they add up to the results.
      const streamed: number[][] = REQUESTS.map(() => []);
      for (const st of steps) st.requests!.forEach((q, r) => q >= 0 && streamed[q]!.push(st.tokens[r]!));
      expect(streamed).toEqual(got.tokens);
      expect(steps.length).toBeLessThan(REQUESTS.reduce((a, r) => a + r.maxNew + r.prompt.length, 0)); // rows ran side by side
    }
    tf.dispose([table, mix]);
  });

  it.skipIf(backend === 'webgl' || backend === 'webgpu')(
    "negative control: a cache that ignores `restarted` gives a queued request other tokens or log-probabilities than it gets alone (skipped on webgl / webgpu: the model's cache logic is the same on every backend, and SwiftShader takes seconds a run)",
    async () => {
      const before = tf.memory().numTensors;
      const table = tf.tensor2d(TABLE.map((r) => Array.from(r)));
      const mix = tf.tensor2d(makeRows('peaky', V, V, 'continuous-mix').map((r) => Array.from(r, (v) => 0.7 * v)));
      const options: SamplerOptions = { temperature: 1 };
      const run = (model: StepFunction<tf.Tensor1D>, reqs: Request[], rows: number) =>
        generate(model as StepFunction, {
          prompts: reqs.slice(0, rows).map((r) => r.prompt),
          seeds: reqs.slice(0, rows).map((r) => r.seed),
          maxNewTokens: reqs.slice(0, rows).map((r) => r.maxNew),
          queue: reqs.slice(rows).map((r) => ({ prompt: r.prompt, seed: r.seed, maxNewTokens: r.maxNew })),
          padId: 0,
          feed: 'new',
          sampler: options,
          logprobs: true,
        });
      // Alone (a batch of one, nothing restarted) both caches are the same model.
      const want: { tokens: number[]; lp: number[] }[] = [];
      for (const req of REQUESTS) {
        const one = await run(cacheModelOf(table, mix, true), [req], 1);
        want.push({ tokens: one.tokens[0]!, lp: one.logprobs![0]!.map((t) => t.raw) });
        tf.dispose(one.state as tf.Tensor);
      }
      want.forEach((w, i) => expect(w.lp.length, `request ${i} alone`).toBe(w.tokens.length));
      const differs = async (forget: boolean): Promise<number[]> => {
        const got = await run(cacheModelOf(table, mix, forget), REQUESTS, 3);
        tf.dispose(got.state as tf.Tensor);
        return REQUESTS.map((_, i) => i).filter(
          (i) =>
            JSON.stringify(got.tokens[i]) !== JSON.stringify(want[i]!.tokens) ||
            got.logprobs![i]!.length !== want[i]!.lp.length ||
            got.logprobs![i]!.some((t, k) => !(Math.abs(t.raw - want[i]!.lp[k]!) < 1e-5)),
        );
      };
      expect(await differs(true), 'the cache that forgets: every request as alone').toEqual([]);
      const wrong = await differs(false);
      // Only queued requests (from the fourth on) land on a restarted row.
      expect(wrong.length, 'the cache that ignores restarted').toBeGreaterThan(0);
      expect(wrong.every((i) => i >= 3)).toBe(true);
      tf.dispose([table, mix]);
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it("generate's queue: bad options get typed errors, nothing left behind", async () => {
    const step: StepFunction = () => tf.zeros([2, V]);
    const base = { prompts: [[1], [2]], padId: 0, maxNewTokens: 2, seeds: [1, 2], queue: [{ prompt: [3], seed: 3 }] };
    const cases: [object, string][] = [
      [{ seeds: undefined }, 'seeds'],
      [{ seeds: [1] }, 'seeds'],
      [{ seeds: [1, NaN] }, 'seeds[1]'],
      [{ queue: undefined }, 'seeds'],
      [{ queue: 'x' }, 'queue'],
      [{ queue: [null] }, 'queue[0]'],
      [{ queue: [{ prompt: [], seed: 1 }] }, 'queue[0].prompt'],
      [{ queue: [{ prompt: [1, -1], seed: 1 }] }, 'queue[0].prompt[1]'],
      [{ queue: [{ prompt: [1], seed: 'a' }] }, 'queue[0].seed'],
      [{ queue: [{ prompt: [1], seed: 1, maxNewTokens: 1.5 }] }, 'queue[0].maxNewTokens'],
      [{ maxNewTokens: [2, 2] }, 'queue[0].maxNewTokens'],
      [{ stopTokens: [[1], [2]] }, 'stopTokens'],
      [{ stopSequences: [[[1, 2]], [[3]]] }, 'stopSequences'],
    ];
    for (const [opts, arg] of cases) {
      const n = tf.memory().numTensors;
      const err = await generate(step, { ...base, ...opts } as never).catch((e: unknown) => e);
      expect(err, arg).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument, JSON.stringify(opts)).toBe(arg);
      expect(tf.memory().numTensors).toBe(n);
    }
  });

  it("generate's queue where requests want no token: the model runs only for those that want one", async () => {
    let calls = 0;
    const step: StepFunction = (tokens) => {
      calls++;
      return logitsFor(new Array<number>(tokens.shape[0]).fill(1));
    };
    const run = (maxNewTokens: number[], queue: { prompt: number[]; seed: number; maxNewTokens: number }[]) =>
      generate(step, { prompts: [[1], [2]], padId: 0, maxNewTokens, seeds: [1, 2], queue, sampler: { temperature: 1 } });
    const n = tf.memory().numTensors;
    // No request wants a token: no model call, every request's prompt back.
    calls = 0;
    const none = await run([0, 0], [{ prompt: [3, 4], seed: 3, maxNewTokens: 0 }]);
    expect(calls).toBe(0);
    expect(none).toMatchObject({ tokens: [[], [], []], sequences: [[1], [2], [3, 4]], steps: 0 });
    // A queued request that wants tokens is still served by a row whose first request wants none.
    calls = 0;
    const some = await run(
      [0, 0],
      [
        { prompt: [3], seed: 3, maxNewTokens: 0 },
        { prompt: [5], seed: 5, maxNewTokens: 2 },
      ],
    );
    expect(some.tokens.map((t) => t.length)).toEqual([0, 0, 0, 2]);
    expect(calls).toBe(some.steps);
    expect(tf.memory().numTensors).toBe(n);
  });

  it.skipIf(backend === 'webgl' || backend === 'webgpu')(
    'property: any restart schedule, any history options — each request equals itself alone (skipped on webgl / webgpu: each case compiles shaders for minutes on SwiftShader; the mixes above cover them)',
    async () => {
      const option = fc.record(
        {
          temperature: fc.constantFrom(0, 0.7, 1.3),
          topK: fc.constantFrom(0, 5, 20),
          repetitionPenalty: fc.constantFrom(1, 1.3),
          frequencyPenalty: fc.constantFrom(0, 0.5),
          penaltyLastN: fc.constantFrom(3, 64),
          noRepeatNgramSize: fc.constantFrom(0, 2),
          mirostat: fc.constantFrom(undefined, { version: 2 as const, tau: 3, eta: 0.2 }),
        },
        { requiredKeys: [] },
      );
      const request = fc.record({
        prompt: fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 1, maxLength: 5 }),
        seed: fc.integer({ min: 0, max: 1000 }),
        maxNew: fc.integer({ min: 1, max: 6 }),
      });
      await fc.assert(
        fc.asyncProperty(option, fc.array(request, { minLength: 2, maxLength: 6 }), fc.integer({ min: 1, max: 3 }), async (raw, reqs, slots) => {
          const options = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)) as SamplerOptions;
          const want = await Promise.all(reqs.map((r) => alone(options, r)));
          const got = await batchedOf(options, reqs, Math.min(slots, reqs.length));
          reqs.forEach((_, i) => expect(got.tokens[i], `request ${i}`).toEqual(want[i]));
        }),
        { seed: 4242, numRuns: 25 },
      );
    },
  );
});

/** `requests` through `slots` rows; without `restart` the reused rows keep the old state (the negative control). */
async function batchedOf(
  options: SamplerOptions,
  reqs: readonly Request[],
  slots: number,
  restart = true,
): Promise<{ tokens: number[][]; rowsUsed: number[][] }> {
  const s = createSampler({ ...options, seed: 999 }); // per-call seeds replace it
  const queue = reqs.map((_, i) => i);
  const slot: (number | undefined)[] = queue.splice(0, slots);
  const seqs = slot.map((i) => [...reqs[i!]!.prompt]);
  const steps = new Array<number>(slots).fill(0);
  const tokens: number[][] = reqs.map(() => []);
  const rowsUsed: number[][] = Array.from({ length: slots }, (_, r) => [slot[r]!]);
  try {
    s.begin(seqs);
    while (slot.some((i) => i !== undefined)) {
      const seeds = slot.map((i) => (i === undefined ? 0 : reqs[i]!.seed));
      const ids = await drawOne(
        s,
        seqs.map((q) => q[q.length - 1]!),
        { steps: steps.slice(), seeds },
      );
      for (let r = 0; r < slots; r++) {
        const i = slot[r];
        seqs[r]!.push(ids[r]!);
        steps[r]!++;
        if (i === undefined) continue;
        tokens[i]!.push(ids[r]!);
        if (tokens[i]!.length < reqs[i]!.maxNew) continue;
        const next = queue.shift();
        slot[r] = next;
        if (next === undefined) continue;
        rowsUsed[r]!.push(next);
        if (restart) s.restartRows([r], [reqs[next]!.prompt]);
        seqs[r] = [...reqs[next]!.prompt];
        steps[r] = 0;
      }
    }
    return { tokens, rowsUsed };
  } finally {
    s.dispose();
  }
}
