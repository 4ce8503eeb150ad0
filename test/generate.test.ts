// The generation loop against fake models whose logits are known (KerasHub's sampler tests are
// the model): exact greedy output, stop tokens, max length, mixed finished rows, abort, history,
// one read-back per step, the reference's tokens for the same seeds, and no tensor leaks.
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import {
  InvalidRowsError,
  SamplingError,
  createSampler,
  generate,
  generateStream,
  reference,
  type GenerateStep,
  type LogitsProcessor,
  type SamplerOptions,
  type StepFunction,
} from '../src/index.js';
import { BACKENDS } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';

const PAD = 0;

/** Next token = (last token + 1) mod V, by a margin of 10 logits; an empty history starts at 1. */
function cyclic(vocab: number): StepFunction {
  return (tokens) =>
    tf.tidy(() => {
      const [b, t] = tokens.shape;
      const last = t === 0 ? tf.zeros([b], 'int32') : tf.reshape(tf.slice(tokens, [0, t - 1], [b, 1]), [b]);
      const next = tf.cast(tf.mod(tf.add(last, 1), vocab), 'int32') as tf.Tensor1D;
      return tf.mul(tf.oneHot(next, vocab), 10) as tf.Tensor2D;
    });
}

/** A fixed random table: logits = W[last token] (float32 values known on the host too). */
function tableModel(vocab: number, seed: number): { step: StepFunction; rows: (last: number) => Float32Array } {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const w = Float32Array.from({ length: vocab * vocab }, () => 4 * (rand() + rand() + rand() - 1.5));
  return {
    step: (tokens) =>
      tf.tidy(() => {
        const [b, t] = tokens.shape;
        const last = tf.reshape(tf.slice(tokens, [0, t - 1], [b, 1]), [b]);
        return tf.gather(tf.tensor2d(w, [vocab, vocab]), last) as tf.Tensor2D;
      }),
    rows: (last) => w.slice(last * vocab, (last + 1) * vocab),
  };
}

/** Counts read-backs (data/dataSync/array…) on the engine, wherever they come from. */
async function countReads<T>(run: () => Promise<T>): Promise<{ result: T; reads: number }> {
  const engine = tf.engine() as unknown as { read: (...a: unknown[]) => unknown; readSync: (...a: unknown[]) => unknown };
  const { read, readSync } = engine;
  let reads = 0;
  engine.read = function (this: unknown, ...a: unknown[]) {
    reads++;
    return read.apply(this, a);
  };
  engine.readSync = function (this: unknown, ...a: unknown[]) {
    reads++;
    return readSync.apply(this, a);
  };
  try {
    return { result: await run(), reads };
  } finally {
    engine.read = read;
    engine.readSync = readSync;
  }
}

describe.each(BACKENDS)('generate on %s', (backend) => {
  backendSuite(backend);

  it('greedy output is exact, prompts of different lengths are left-padded', async () => {
    const seen: number[][][] = [];
    const model: StepFunction = (tokens, ctx) => {
      if (ctx.step === 0) seen.push(tokens.arraySync());
      return cyclic(7)(tokens, ctx);
    };
    const res = await generate(model, { prompts: [[3], [5, 6, 2], []], padId: PAD, maxNewTokens: 4 });
    expect(seen[0]).toEqual([
      [PAD, PAD, 3],
      [5, 6, 2],
      [PAD, PAD, PAD],
    ]);
    expect(res.tokens).toEqual([
      [4, 5, 6, 0],
      [3, 4, 5, 6],
      [1, 2, 3, 4],
    ]);
    expect(res.sequences[1]).toEqual([5, 6, 2, 3, 4, 5, 6]);
    expect(res.finishReasons).toEqual(['length', 'length', 'length']);
    expect(res.steps).toBe(4);
  });

  it('stops rows at their stop tokens (kept), per row or shared, and pads finished rows', async () => {
    const steps: GenerateStep[] = [];
    const res = await generate(cyclic(10), {
      prompts: [[1], [4], [8]],
      padId: PAD,
      maxNewTokens: 6,
      stopTokens: [[3], [6, 5], [9]],
      onStep: (s) => {
        steps.push(s);
      },
    });
    expect(res.tokens).toEqual([[2, 3], [5], [9]]);
    expect(res.finishReasons).toEqual(['stop', 'stop', 'stop']);
    expect(res.steps).toBe(2);
    expect(steps.map((s) => Array.from(s.tokens))).toEqual([
      [2, 5, 9],
      [3, PAD, PAD],
    ]);
    expect(steps.map((s) => Array.from(s.finished))).toEqual([
      [0, 1, 1],
      [1, 1, 1],
    ]);
    const shared = await generate(cyclic(10), { prompts: [[1], [6]], padId: PAD, maxNewTokens: 5, stopTokens: [4] });
    expect(shared.tokens).toEqual([[2, 3, 4], [7, 8, 9, 0, 1]]);
    expect(shared.finishReasons).toEqual(['stop', 'length']);
  });

  it('per-row maxNewTokens; rows of 0 never sample; finished rows with bad logits are not errors', async () => {
    // Rows that finished get NaN logits from this model: only still-active rows are checked.
    const model: StepFunction = (tokens, ctx) =>
      tf.tidy(() => {
        const logits = cyclic(6)(tokens, ctx) as tf.Tensor2D;
        const done = tf.tensor2d(Array.from(ctx.finished, (f) => (f ? 1 : 0)), [ctx.finished.length, 1], 'bool');
        return tf.where(tf.tile(done, [1, 6]), tf.fill(logits.shape, NaN), logits);
      });
    const res = await generate(model, { prompts: [[1], [2], [3]], padId: PAD, maxNewTokens: [2, 0, 3] });
    expect(res.tokens).toEqual([[2, 3], [], [4, 5, 0]]);
    expect(res.sequences[1]).toEqual([2]);
  });

  it('an active invalid row throws InvalidRowsError naming the row and the step; no tensor left', async () => {
    const model: StepFunction = (tokens, ctx) =>
      tf.tidy(() => {
        const logits = cyclic(5)(tokens, ctx) as tf.Tensor2D;
        if (ctx.step < 2) return logits;
        return tf.concat([tf.slice(logits, [0, 0], [1, 5]), tf.fill([1, 5], NaN)]) as tf.Tensor2D;
      });
    const err = await generate(model, { prompts: [[1], [1]], padId: PAD, maxNewTokens: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRowsError);
    expect((err as InvalidRowsError).rows).toEqual([{ row: 1, cause: 'nan' }]);
    expect((err as Error).message).toMatch(/^step 2: .*row 1: NaN/);
  });

  it('abort: a signal aborted between steps rejects with its reason and frees everything', async () => {
    const controller = new AbortController();
    let calls = 0;
    const model: StepFunction = (tokens, ctx) => {
      calls++;
      return cyclic(5)(tokens, ctx);
    };
    const run = generate(model, {
      prompts: [[1]],
      padId: PAD,
      maxNewTokens: 50,
      signal: controller.signal,
      onStep: ({ step }) => {
        if (step === 2) controller.abort(new Error('user stop'));
      },
    });
    await expect(run).rejects.toThrow('user stop');
    expect(calls).toBe(3);
    const pre = AbortSignal.abort();
    await expect(generate(model, { prompts: [[1]], padId: PAD, maxNewTokens: 5, signal: pre })).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls).toBe(3);
  });

  it('streams steps as an async iterator; breaking early frees the tokens', async () => {
    const got: number[] = [];
    for await (const { step, tokens } of generateStream(cyclic(9), { prompts: [[2], [5]], padId: PAD, maxNewTokens: 8 })) {
      got.push(step, tokens[0]!, tokens[1]!);
      if (step === 1) break;
    }
    expect(got).toEqual([0, 3, 6, 1, 4, 7]);
    const it = generateStream(cyclic(9), { prompts: [[2]], padId: PAD, maxNewTokens: 2 });
    const steps: number[] = [];
    let next = await it.next();
    while (!next.done) {
      steps.push(next.value.tokens[0]!);
      next = await it.next();
    }
    expect(steps).toEqual([3, 4]);
    expect(next.value.tokens).toEqual([[3, 4]]);
  });

  it('reads back once per step (the ids) and never otherwise', async () => {
    const { result, reads } = await countReads(() =>
      generate(tableModel(32, 5).step, { prompts: [[1], [2], [3], [4]], padId: PAD, maxNewTokens: 6, sampler: { temperature: 0.9, topK: 8, topP: 0.9, seed: 3 } }),
    );
    expect(result.steps).toBe(6);
    expect(reads).toBe(6);
  });

  it('draws the tokens reference.sample draws for the same seeds, per-row options included', async () => {
    const V = 48;
    const { step, rows } = tableModel(V, 11);
    const options: SamplerOptions = { temperature: [0.7, 1, 1.3, 0], topK: [0, 12, 5, 0], topP: [0.9, 1, 0.8, 1], minP: 0.02, seed: [101, 202, 303, 404] };
    const prompts = [[1], [7, 2], [30], [5]];
    const res = await generate(step, { prompts, padId: PAD, maxNewTokens: 12, sampler: options });
    const last = prompts.map((p) => p[p.length - 1]!);
    const expected: number[][] = prompts.map(() => []);
    for (let s = 0; s < 12; s++) {
      const ids = reference.sample(last.map((t) => rows(t)), options, s);
      ids.forEach((id, r) => {
        expected[r]!.push(id);
        last[r] = id;
      });
    }
    expect(res.tokens).toEqual(expected);
    expect(new Set(res.tokens[1]).size).toBeGreaterThan(1); // a real draw, not a constant
  });

  it("a row's tokens depend on its own seed, not on the batch around it", async () => {
    const { step } = tableModel(40, 2);
    const batch = await generate(step, { prompts: [[1], [2], [3]], padId: PAD, maxNewTokens: 10, sampler: { temperature: 1.2, seed: [7, 8, 9] } });
    const alone = await generate(step, { prompts: [[2]], padId: PAD, maxNewTokens: 10, sampler: { temperature: 1.2, seed: [8] } });
    expect(alone.tokens[0]).toEqual(batch.tokens[1]);
    expect(batch.tokens[0]).not.toEqual(batch.tokens[1]);
  });

  it('hands the tokens so far to history processors (a no-repeat ban), like the reference', async () => {
    const V = 12;
    const noRepeat: LogitsProcessor = {
      name: 'no-repeat',
      apply: (state) => {
        const h = state.history!;
        // Counts per token as a batched matMul: reducing the middle axis of an int32 one-hot
        // compiles to an invalid transpose shader on webgpu (tfjs 4.22).
        const [b, t] = h.shape;
        const counts = tf.matMul(tf.ones([b, 1, t]), tf.cast(tf.oneHot(h, V), 'float32'));
        const seen = tf.greater(tf.reshape(counts, [b, V]), 0);
        return { ...state, logits: tf.where(seen, tf.fill(state.logits.shape, -Infinity), state.logits) as tf.Tensor2D };
      },
      reference: (state) => ({
        ...state,
        logits: state.logits.map((row, r) => row.map((v, j) => (state.history![r]!.includes(j) ? -Infinity : v))),
      }),
    };
    const { step, rows } = tableModel(V, 4);
    const options: SamplerOptions = { temperature: 1, seed: [5, 6], processors: [noRepeat] };
    const res = await generate(step, { prompts: [[1, 2], [3]], padId: PAD, maxNewTokens: 8, sampler: options });
    const history = [[1, 2], [PAD, 3]]; // left-padded to the longest prompt, as the sampler sees it
    for (let s = 0; s < 8; s++) {
      const ids = reference.sample(history.map((h) => rows(h[h.length - 1]!)), options, s, { history });
      ids.forEach((id, r) => history[r]!.push(id));
    }
    expect(res.tokens).toEqual(history.map((h) => h.slice(2)));
    for (const row of res.sequences) expect(new Set(row).size).toBe(row.length);
  });

  it('drives a tf.LayersModel through its fixed input window (last position logits)', async () => {
    const V = 9;
    const window = 4;
    const model = tfl.sequential({
      layers: [
        tfl.layers.embedding({ inputDim: V, outputDim: 3, inputLength: window, embeddingsInitializer: tfl.initializers.randomNormal({ seed: 1 }) }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: V, kernelInitializer: tfl.initializers.randomNormal({ seed: 2, stddev: 2 }) }),
      ],
    });
    try {
      const res = await generate(model, { prompts: [[3, 4, 5, 6, 7, 8], [2]], padId: PAD, maxNewTokens: 5 });
      // The same loop by hand: last `window` tokens, left-padded, argmax of predict().
      const seqs = [[3, 4, 5, 6, 7, 8], [PAD, PAD, PAD, 2]];
      for (let s = 0; s < 5; s++) {
        const x = tf.tensor2d(seqs.map((q) => q.slice(-window)), [2, window], 'int32');
        const y = model.predict(x) as tf.Tensor2D;
        const am = tf.argMax(y, 1);
        const next = (await am.data()) as Int32Array;
        tf.dispose([x, y, am]);
        seqs.forEach((q, r) => q.push(next[r]!));
      }
      expect(res.tokens).toEqual(seqs.map((q) => q.slice(-5)));
    } finally {
      model.dispose();
    }
  });

  it('drives a tf.GraphModel (window from its placeholder shape, int32 input)', async () => {
    const V = 5;
    const L = 4;
    const w = Float32Array.from({ length: L * V }, (_, i) => ((i * 7) % 11) - 5);
    const dim = (n: number): { size: string } => ({ size: String(n) });
    // x int32 [-1, L] → Cast → MatMul W [L, V]: logits = window · W.
    const modelTopology = {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_INT32' }, shape: { shape: { dim: [dim(-1), dim(L)] } } } },
        { name: 'W', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [dim(L), dim(V)] } } } } },
        { name: 'xf', op: 'Cast', input: ['x'], attr: { SrcT: { type: 'DT_INT32' }, DstT: { type: 'DT_FLOAT' } } },
        { name: 'logits', op: 'MatMul', input: ['xf', 'W'], attr: { transpose_a: { b: false }, transpose_b: { b: false }, T: { type: 'DT_FLOAT' } } },
      ],
      versions: { producer: 1 },
    };
    const model = await tfc.loadGraphModel(tf.io.fromMemory({ modelTopology, weightSpecs: [{ name: 'W', shape: [L, V], dtype: 'float32' }], weightData: w.buffer }));
    try {
      const res = await generate(model, { prompts: [[1, 2, 3, 4, 1], [3]], padId: PAD, maxNewTokens: 4 });
      const seqs = [[1, 2, 3, 4, 1], [PAD, PAD, PAD, 3]];
      for (let s = 0; s < 4; s++) {
        for (const q of seqs) {
          const x = q.slice(-L);
          const logits = Array.from({ length: V }, (_, j) => x.reduce((acc, t, i) => acc + t * w[i * V + j]!, 0));
          q.push(logits.indexOf(Math.max(...logits)));
        }
      }
      expect(res.tokens).toEqual(seqs.map((q) => q.slice(-4)));
      expect(new Set(res.tokens.flat()).size).toBeGreaterThan(1);
    } finally {
      model.dispose();
    }
  });

  it('feeds predict() models fixed-shape windows (no per-step shapes), or all tokens without a fixed length', async () => {
    const shapes: string[] = [];
    const fixed = {
      inputs: [{ shape: [null, 3], dtype: 'int32' }],
      predict: (x: tf.Tensor) => {
        shapes.push(`${x.shape.join('x')}:${(x.arraySync() as number[][]).map((r) => r.join(',')).join('|')}`);
        return cyclic(9)(x as tf.Tensor2D, { step: 0, lengths: new Int32Array(0), finished: new Uint8Array(0), state: undefined });
      },
    };
    const res = await generate(fixed, { prompts: [[4], [1, 2, 3, 4, 5]], padId: PAD, maxNewTokens: 2 });
    expect(res.tokens).toEqual([[5, 6], [6, 7]]);
    expect(shapes).toEqual(['2x3:0,0,4|3,4,5', '2x3:0,4,5|4,5,6']);
    shapes.length = 0;
    const open = { ...fixed, inputs: [{ shape: [null, null], dtype: 'int32' }] };
    await generate(open, { prompts: [[4], [1, 2]], padId: PAD, maxNewTokens: 2 });
    expect(shapes).toEqual(['2x2:0,4|1,2', '2x3:0,4,5|1,2,3']);
  });

  it('takes a Sampler instance and a left-padded prompt tensor with lengths', async () => {
    const sampler = createSampler({ temperature: 0 });
    const prompts = tf.tensor2d([[PAD, 4], [2, 3]], [2, 2], 'int32');
    try {
      const res = await generate(cyclic(8), { prompts, promptLengths: [1, 2], padId: PAD, maxNewTokens: 2, sampler });
      expect(res.sequences).toEqual([[4, 5, 6], [2, 3, 4, 5]]);
      expect(sampler.step).toBe(2);
    } finally {
      prompts.dispose();
    }
  });

  it('a state-carrying step function sees the state it returned', async () => {
    const states: (number | undefined)[] = [];
    const model: StepFunction<number> = (tokens, ctx) => {
      states.push(ctx.state);
      return { logits: cyclic(5)(tokens, ctx) as tf.Tensor, state: (ctx.state ?? 0) + 10 };
    };
    await generate(model, { prompts: [[1]], padId: PAD, maxNewTokens: 3, initialState: 1 });
    expect(states).toEqual([1, 11, 21]);
  });

  const BAD: [string, () => Promise<unknown>, string, string][] = [
    ['padId', () => generate(cyclic(4), { prompts: [[1]], padId: -1, maxNewTokens: 1 }), 'padId', '-1'],
    ['maxNewTokens', () => generate(cyclic(4), { prompts: [[1]], padId: 0, maxNewTokens: 1.5 }), 'maxNewTokens', '1.5'],
    ['maxNewTokens rows', () => generate(cyclic(4), { prompts: [[1]], padId: 0, maxNewTokens: [1, 2] }), 'maxNewTokens', 'length 2'],
    ['prompt id', () => generate(cyclic(4), { prompts: [[1, 2.5]], padId: 0, maxNewTokens: 1 }), 'prompts[0][1]', '2.5'],
    ['stop id', () => generate(cyclic(4), { prompts: [[1]], padId: 0, maxNewTokens: 1, stopTokens: [NaN] }), 'stopTokens[0]', 'NaN'],
    ['stop rows', () => generate(cyclic(4), { prompts: [[1], [2]], padId: 0, maxNewTokens: 1, stopTokens: [[1]] }), 'stopTokens', '1 lists'],
    ['model', () => generate(42 as unknown as StepFunction, { prompts: [[1]], padId: 0, maxNewTokens: 1 }), 'model', 'number'],
    ['sampler options', () => generate(cyclic(4), { prompts: [[1]], padId: 0, maxNewTokens: 1, sampler: { topP: 2 } }), 'topP', '2'],
    ['logits shape', () => generate(() => tf.zeros([3, 4]), { prompts: [[1]], padId: 0, maxNewTokens: 1 }), 'model', 'shape [3, 4]'],
    ['logits dtype', () => generate(() => tf.zeros([1, 4], 'int32'), { prompts: [[1]], padId: 0, maxNewTokens: 1 }), 'model', 'int32'],
  ];
  it.each(BAD)('bad %s: SamplingError naming argument and value, no tensor left', async (_, run, argument, value) => {
    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SamplingError);
    expect((err as SamplingError).argument).toBe(argument);
    expect((err as Error).message).toContain(value);
  });
});
