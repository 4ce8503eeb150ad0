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
  type GenerateOptions,
  type GenerateStep,
  type LogitsProcessor,
  type SamplerOptions,
  type StepFunction,
} from '../src/index.js';
import { BACKENDS } from './helpers/backend.js';
import { countReadsAsync, describeReads, readBacks } from './helpers/read-counter.js';
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

/**
 * Counts read-backs at the backend instance (test/helpers/read-counter.ts), where kernels that
 * call `backend.readSync` themselves (webgl's top-k hand-off) are seen too; `syncReads` of them
 * synchronous.
 */
async function countReads<T>(run: () => Promise<T>): Promise<{ result: T; reads: number; syncReads: number; described: string }> {
  const { result, reads } = await countReadsAsync(run);
  const backs = readBacks(reads);
  return { result, reads: backs.length, syncReads: backs.filter((r) => r.method === 'readSync').length, described: describeReads(backs) };
}

/** A tf.Variable (model weights: never disposed by generate); one tensor in tf.memory(). */
function weightsVariable(): tf.Variable {
  const init = tf.zeros([2]);
  const v = tf.variable(init);
  init.dispose();
  return v;
}

/** Runs `use(t)` and disposes `t` afterwards, whatever happens. */
async function withTensor<T extends tf.Tensor, R>(t: T, use: (t: T) => Promise<R>): Promise<R> {
  try {
    return await use(t);
  } finally {
    t.dispose();
  }
}

/**
 * `make()` with the backend's small-tensor CPU forwarding off, so that the result is the output
 * of a GPU kernel (GPU-resident: on webgpu in Node a synchronous read of it throws).
 */
function onDevice<T extends tf.Tensor>(backend: string, make: () => T): T {
  const flag = backend === 'webgpu' ? 'WEBGPU_CPU_FORWARD' : backend === 'webgl' ? 'WEBGL_CPU_FORWARD' : undefined;
  if (flag === undefined) return tf.tidy(make);
  const was = tf.env().getBool(flag);
  tf.env().set(flag, false);
  try {
    return tf.tidy(make);
  } finally {
    tf.env().set(flag, was);
  }
}

/** A state shaped like a KV cache: tensors in an object, an array and a Map, plus what the caller put in. */
interface Kv {
  cache?: tf.Tensor2D;
  layers?: tf.Tensor[];
  byName?: Map<string, tf.Tensor>;
  /** The caller's (from `initialState`), carried over from step to step. */
  prefix?: tf.Tensor;
  weights?: tf.Variable;
}

function kvTensors(kv: Kv | undefined): tf.Tensor[] {
  if (kv === undefined) return [];
  return [kv.cache, ...(kv.layers ?? []), ...(kv.byName?.values() ?? []), kv.prefix, kv.weights].filter((t): t is tf.Tensor => t !== undefined);
}

/** What the step function of `kvModel` returned (tensors it created), for the checks. */
function ownTensors(kv: Kv): tf.Tensor[] {
  return [kv.cache!, ...kv.layers!, ...kv.byName!.values()];
}

interface KvFaults {
  /** The step function throws at this step (before touching its state). */
  throwAt?: number;
  /** Row 1's logits are NaN at this step. */
  nanAt?: number;
  /** Logits of the wrong batch size at this step (with a new state). */
  badShapeAt?: number;
  /** Returns `[logits, state]` instead of `{ logits, state }` at this step. */
  badOutputAt?: number;
}

/**
 * `cyclic(vocab)` logits plus a new KV-cache-like state every step (4 tensors of its own). Like
 * a real step function it disposes the state it replaces (its business), keeping the caller's
 * `prefix` and `weights`. Records every state it returned and whether each state it was handed
 * was still alive.
 */
function kvModel(vocab: number, faults: KvFaults = {}): { step: StepFunction<Kv>; returned: Kv[]; handedAlive: boolean[]; outputs: tf.Tensor[] } {
  const returned: Kv[] = [];
  const handedAlive: boolean[] = [];
  const outputs: tf.Tensor[] = [];
  const step: StepFunction<Kv> = (tokens, ctx) => {
    const prev = ctx.state;
    handedAlive.push(kvTensors(prev).every((t) => !t.isDisposed));
    if (ctx.step === faults.throwAt) throw new Error(`model failed at step ${ctx.step}`);
    const [b, t] = tokens.shape;
    const [cache, twice, plusOne, named] = tf.tidy(() => {
      const col = tf.cast(tf.slice(tokens, [0, t - 1], [b, 1]), 'float32');
      return [prev?.cache ? tf.concat([prev.cache, col], 1) : col, tf.mul(col, 2), tf.add(col, 1), tf.sum(col)];
    }) as [tf.Tensor2D, tf.Tensor, tf.Tensor, tf.Tensor];
    if (prev) tf.dispose([prev.cache, ...(prev.layers ?? []), ...(prev.byName?.values() ?? [])].filter((x): x is tf.Tensor => x !== undefined));
    const state: Kv = { cache, layers: [twice, plusOne], byName: new Map([['sum', named]]) };
    if (prev?.prefix) state.prefix = prev.prefix;
    if (prev?.weights) state.weights = prev.weights;
    returned.push(state);
    const logits = tf.tidy(() => {
      const l = cyclic(vocab)(tokens, ctx) as tf.Tensor2D;
      if (ctx.step === faults.nanAt) return tf.concat([tf.slice(l, [0, 0], [1, vocab]), tf.fill([b - 1, vocab], NaN)]) as tf.Tensor2D;
      if (ctx.step === faults.badShapeAt) return tf.concat([l, l]) as tf.Tensor2D;
      return l;
    });
    outputs.push(logits);
    if (ctx.step === faults.badOutputAt) return [logits, state] as unknown as tf.Tensor;
    return { logits, state };
  };
  return { step, returned, handedAlive, outputs };
}

/** A step context for calling a step function by hand (it reads nothing of it). */
const UNUSED_CONTEXT = {
  step: 0,
  lengths: new Int32Array(0),
  finished: new Uint8Array(0),
  state: undefined,
  phase: 'prefill' as const,
  attentionMask: (): tf.Tensor2D => {
    throw new Error('not used');
  },
  positionIds: (): tf.Tensor2D => {
    throw new Error('not used');
  },
};

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
    expect(shared.tokens).toEqual([
      [2, 3, 4],
      [7, 8, 9, 0, 1],
    ]);
    expect(shared.finishReasons).toEqual(['stop', 'length']);
  });

  it('per-row maxNewTokens; rows of 0 never sample; finished rows with bad logits are not errors', async () => {
    // Rows that finished get NaN logits from this model: only still-active rows are checked.
    const model: StepFunction = (tokens, ctx) =>
      tf.tidy(() => {
        const logits = cyclic(6)(tokens, ctx) as tf.Tensor2D;
        const done = tf.tensor2d(
          Array.from(ctx.finished, (f) => (f ? 1 : 0)),
          [ctx.finished.length, 1],
          'bool',
        );
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
    expect((err as InvalidRowsError).rows).toMatchObject([{ row: 1, cause: 'nan' }]);
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
    const { result, reads, described } = await countReads(() =>
      generate(tableModel(32, 5).step, {
        prompts: [[1], [2], [3], [4]],
        padId: PAD,
        maxNewTokens: 6,
        sampler: { temperature: 0.9, topK: 8, topP: 0.9, seed: 3 },
      }),
    );
    expect(result.steps).toBe(6);
    expect(reads, described).toBe(6);
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
      const ids = reference.sample(
        last.map((t) => rows(t)),
        options,
        s,
      );
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
    const history = [
      [1, 2],
      [PAD, 3],
    ]; // left-padded to the longest prompt, as the sampler sees it
    for (let s = 0; s < 8; s++) {
      const ids = reference.sample(
        history.map((h) => rows(h[h.length - 1]!)),
        options,
        s,
        { history },
      );
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
      const seqs = [
        [3, 4, 5, 6, 7, 8],
        [PAD, PAD, PAD, 2],
      ];
      for (let s = 0; s < 5; s++) {
        const x = tf.tensor2d(
          seqs.map((q) => q.slice(-window)),
          [2, window],
          'int32',
        );
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
    const model = await tfc.loadGraphModel(
      tf.io.fromMemory({ modelTopology, weightSpecs: [{ name: 'W', shape: [L, V], dtype: 'float32' }], weightData: w.buffer }),
    );
    try {
      const res = await generate(model, { prompts: [[1, 2, 3, 4, 1], [3]], padId: PAD, maxNewTokens: 4 });
      const seqs = [
        [1, 2, 3, 4, 1],
        [PAD, PAD, PAD, 3],
      ];
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
        return cyclic(9)(x as tf.Tensor2D, UNUSED_CONTEXT);
      },
    };
    const res = await generate(fixed, { prompts: [[4], [1, 2, 3, 4, 5]], padId: PAD, maxNewTokens: 2 });
    expect(res.tokens).toEqual([
      [5, 6],
      [6, 7],
    ]);
    expect(shapes).toEqual(['2x3:0,0,4|3,4,5', '2x3:0,4,5|4,5,6']);
    shapes.length = 0;
    const open = { ...fixed, inputs: [{ shape: [null, null], dtype: 'int32' }] };
    await generate(open, { prompts: [[4], [1, 2]], padId: PAD, maxNewTokens: 2 });
    expect(shapes).toEqual(['2x2:0,4|1,2', '2x3:0,4,5|1,2,3']);
  });

  it('feeds a step function a fixed [B, contextLength] window when asked; history processors still get all tokens', async () => {
    const windows: string[] = [];
    const historyWidths: number[] = [];
    const model: StepFunction = (tokens, ctx) => {
      windows.push(`${tokens.shape.join('x')}:${(tokens.arraySync() as number[][]).map((r) => r.join(',')).join('|')}`);
      return cyclic(9)(tokens, ctx);
    };
    const spy: LogitsProcessor = {
      name: 'history-spy',
      apply: (state) => {
        historyWidths.push(state.history!.shape[1]);
        return state;
      },
    };
    const before = tf.memory().numTensors;
    const res = await generate(model, {
      prompts: [[4], [1, 2, 3]],
      padId: PAD,
      maxNewTokens: 3,
      contextLength: 2,
      sampler: { temperature: 0, processors: [spy] },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(res.tokens).toEqual([
      [5, 6, 7],
      [4, 5, 6],
    ]);
    expect(windows).toEqual(['2x2:0,4|2,3', '2x2:4,5|3,4', '2x2:5,6|4,5']);
    expect(historyWidths).toEqual([3, 4, 5]);
    windows.length = 0;
    await generate(model, { prompts: [[4], [1, 2, 3]], padId: PAD, maxNewTokens: 2, contextLength: 5 });
    expect(windows).toEqual(['2x5:0,0,0,0,4|0,0,1,2,3', '2x5:0,0,0,4,5|0,1,2,3,4']);
  });

  it("feed 'new': the decode steps hold the same tensors and bytes at every step (no [B, T] history made beside the new tokens)", async () => {
    const live: string[] = [];
    const model: StepFunction = (tokens, ctx) => {
      if (ctx.step > 0) live.push(`${tf.memory().numTensors} tensors, ${tf.memory().numBytes} B`);
      return cyclic(9)(tokens, ctx);
    };
    const before = tf.memory().numTensors;
    const res = await generate(model, { prompts: [[4], [1, 2, 3]], padId: PAD, maxNewTokens: 6, feed: 'new' });
    expect(tf.memory().numTensors).toBe(before);
    expect(res.tokens).toEqual([
      [5, 6, 7, 8, 0, 1],
      [4, 5, 6, 7, 8, 0],
    ]);
    expect(live.length).toBe(5);
    expect(new Set(live).size, live.join('; ')).toBe(1);
  });

  it('takes a Sampler instance and a left-padded prompt tensor with lengths', async () => {
    const sampler = createSampler({ temperature: 0 });
    const prompts = tf.tensor2d(
      [
        [PAD, 4],
        [2, 3],
      ],
      [2, 2],
      'int32',
    );
    try {
      const res = await generate(cyclic(8), { prompts, promptLengths: [1, 2], padId: PAD, maxNewTokens: 2, sampler });
      expect(res.sequences).toEqual([
        [4, 5, 6],
        [2, 3, 4, 5],
      ]);
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

  it('returns the last state (the caller owns it); disposes no state while running', async () => {
    const before = tf.memory().numTensors;
    const prefix = tf.ones([2, 3]);
    const weights = weightsVariable();
    const { step, returned, handedAlive } = kvModel(6);
    const res = await generate(step, { prompts: [[1], [3]], padId: PAD, maxNewTokens: 5, initialState: { prefix, weights } });
    expect(res.tokens).toEqual([
      [2, 3, 4, 5, 0],
      [4, 5, 0, 1, 2],
    ]);
    expect(returned).toHaveLength(5);
    expect(handedAlive).toEqual([true, true, true, true, true]); // generate freed no state it handed over
    expect(res.state).toBe(returned[4]);
    expect(res.state!.prefix).toBe(prefix);
    expect(kvTensors(res.state).every((t) => !t.isDisposed)).toBe(true);
    expect(await res.state!.cache!.array()).toEqual([
      [1, 2, 3, 4, 5],
      [3, 4, 5, 0, 1],
    ]);
    // Replaced states were disposed by the step function; the last one (4 tensors) is the caller's.
    expect(returned.slice(0, 4).every((kv) => ownTensors(kv).every((t) => t.isDisposed))).toBe(true);
    expect(tf.memory().numTensors).toBe(before + 2 + 4);
    tf.dispose(ownTensors(res.state!));
    tf.dispose([prefix, weights]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a predict() model: the result state is initialState itself, untouched', async () => {
    const before = tf.memory().numTensors;
    const cache = tf.ones([1, 2]);
    const initialState = { cache };
    const model = { predict: (x: tf.Tensor) => cyclic(5)(x as tf.Tensor2D, UNUSED_CONTEXT) };
    const res = await generate(model, { prompts: [[1]], padId: PAD, maxNewTokens: 3, initialState });
    expect(res.tokens).toEqual([[2, 3, 4]]);
    expect(res.state).toBe(initialState);
    expect(cache.isDisposed).toBe(false);
    cache.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  type Ending = [name: string, faults: KvFaults, run: (step: StepFunction<Kv>, options: GenerateOptions<Kv>) => Promise<unknown>, error: RegExp | undefined];
  const ENDINGS: Ending[] = [
    [
      'the signal aborts (after step 2)',
      {},
      (step, options) => {
        const controller = new AbortController();
        return generate(step, { ...options, signal: controller.signal, onStep: (s) => void (s.step === 2 && controller.abort(new Error('user stop'))) });
      },
      /user stop/,
    ],
    ['the step function throws (step 3)', { throwAt: 3 }, (step, options) => generate(step, options), /model failed at step 3/],
    ['an active row is invalid (step 2)', { nanAt: 2 }, (step, options) => generate(step, options), /^step 2: .*row 1: NaN/],
    ['the logits have the wrong batch size (step 2)', { badShapeAt: 2 }, (step, options) => generate(step, options), /`model` must return float32 logits/],
    [
      'the output is unusable (step 2: [logits, state])',
      { badOutputAt: 2 },
      (step, options) => generate(step, options),
      /`model` must return a logits tensor or \{ logits, state \}, but is an array of 2/,
    ],
    [
      'onStep throws (after step 1)',
      {},
      (step, options) =>
        generate(step, {
          ...options,
          onStep: (s) => {
            if (s.step === 1) throw new Error('consumer failed');
          },
        }),
      /consumer failed/,
    ],
    [
      'detokenize throws (at the end, trimming the texts)',
      {},
      (step, options) =>
        generate(step, {
          ...options,
          detokenize: () => {
            throw new Error('detokenize failed');
          },
        }),
      /detokenize failed/,
    ],
    [
      'a for await loop breaks (after step 2)',
      {},
      async (step, options) => {
        for await (const s of generateStream(step, options)) if (s.step === 2) break;
      },
      undefined,
    ],
    [
      'the iterator is returned by hand (after step 2)',
      {},
      async (step, options) => {
        const it = generateStream(step, options);
        for (let i = 0; i < 3; i++) await it.next();
        const end = await it.return(undefined as never);
        expect(end.done).toBe(true);
      },
      undefined,
    ],
    [
      'the consumer throws into the iterator (after step 2)',
      {},
      async (step, options) => {
        const it = generateStream(step, options);
        for (let i = 0; i < 3; i++) await it.next();
        await it.throw(new Error('consumer threw'));
      },
      /consumer threw/,
    ],
  ];
  it.each(ENDINGS)('disposes the last state when %s; keeps the initialState tensors', async (_, faults, run, error) => {
    const before = tf.memory().numTensors;
    const prefix = tf.ones([2, 3]);
    const weights = weightsVariable();
    const { step, returned, handedAlive, outputs } = kvModel(6, faults);
    const outcome = await run(step, { prompts: [[1], [3]], padId: PAD, maxNewTokens: 8, initialState: { prefix, weights } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (error === undefined) expect(outcome).toBeUndefined();
    else expect((outcome as Error).message).toMatch(error);
    expect(returned.length).toBeGreaterThanOrEqual(2);
    expect(handedAlive.every(Boolean)).toBe(true);
    // Every state the step function made is gone (the last by generate, the others by the step function)…
    for (const kv of returned) expect(ownTensors(kv).map((t) => t.isDisposed)).toEqual([true, true, true, true]);
    expect(outputs.every((t) => t.isDisposed)).toBe(true);
    // …but the caller's tensors carried inside them are not.
    expect([prefix.isDisposed, weights.isDisposed]).toEqual([false, false]);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([prefix, weights]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('ending before any step returned a state disposes nothing (initialState is the caller’s)', async () => {
    const before = tf.memory().numTensors;
    const initial: Kv = { cache: tf.ones([2, 1]), layers: [tf.ones([2, 1])], byName: new Map([['sum', tf.scalar(1)]]), prefix: tf.ones([2, 3]) };
    const { step, returned } = kvModel(6, { throwAt: 0 });
    const aborted = await generate(step, { prompts: [[1], [3]], padId: PAD, maxNewTokens: 4, initialState: initial, signal: AbortSignal.abort() }).catch(
      (e: unknown) => e,
    );
    expect(aborted).toMatchObject({ name: 'AbortError' });
    const thrown = await generate(step, { prompts: [[1], [3]], padId: PAD, maxNewTokens: 4, initialState: initial }).catch((e: unknown) => e);
    expect((thrown as Error).message).toBe('model failed at step 0');
    expect(returned).toHaveLength(0);
    expect(kvTensors(initial).map((t) => t.isDisposed)).toEqual([false, false, false, false]);
    expect(tf.memory().numTensors).toBe(before + 4);
    tf.dispose(kvTensors(initial));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reads a tensor of prompts asynchronously (no synchronous read; a GPU-resident tensor on webgpu)', async () => {
    const prompts = onDevice(
      backend,
      () =>
        tf.add(
          tf.tensor2d(
            [
              [PAD, 4],
              [2, 3],
            ],
            [2, 2],
            'int32',
          ),
          tf.zeros([2, 2], 'int32'),
        ) as tf.Tensor2D,
    );
    try {
      if (backend === 'webgpu' && typeof OffscreenCanvas === 'undefined') {
        // The condition this test is about: the old dataSync() read threw here.
        expect(() => prompts.dataSync()).toThrow(/OffscreenCanvas/);
      }
      const before = tf.memory().numTensors;
      const { result, reads, syncReads, described } = await countReads(() =>
        generate(cyclic(8), { prompts, promptLengths: [1, 2], padId: PAD, maxNewTokens: 3 }),
      );
      expect(result.sequences).toEqual([
        [4, 5, 6, 7],
        [2, 3, 4, 5, 6],
      ]);
      expect(syncReads, described).toBe(0);
      expect(reads, described).toBe(1 + 3); // the prompts once, then the ids of each step
      expect(tf.memory().numTensors).toBe(before);
      expect(prompts.isDisposed).toBe(false);
    } finally {
      prompts.dispose();
    }
  });

  it('checks a tensor of prompts before any tensor exists and before reading it', async () => {
    const prompts = tf.tensor2d(
      [
        [PAD, 4],
        [-2, 3],
      ],
      [2, 2],
      'int32',
    );
    let calls = 0;
    const model: StepFunction = (tokens, ctx) => {
      calls++;
      return cyclic(8)(tokens, ctx);
    };
    try {
      const before = tf.memory().numTensors;
      const badId = await countReads(() => generate(model, { prompts, padId: PAD, maxNewTokens: 2 }).catch((e: unknown) => e));
      expect(badId.result).toMatchObject({ name: 'SamplingError', argument: 'prompts[1][0]', value: -2 });
      expect(badId.reads).toBe(1);
      // The lengths and the other options are checked before the read.
      const badLength = await countReads(() => generate(model, { prompts, promptLengths: [1, 1.5], padId: PAD, maxNewTokens: 2 }).catch((e: unknown) => e));
      expect(badLength.result).toMatchObject({ name: 'SamplingError', argument: 'promptLengths[1]', value: 1.5 });
      const badMax = await countReads(() => generate(model, { prompts, padId: PAD, maxNewTokens: [1, 2, 3] }).catch((e: unknown) => e));
      expect(badMax.result).toMatchObject({ name: 'SamplingError', argument: 'maxNewTokens' });
      expect([badLength.reads, badMax.reads]).toEqual([0, 0]);
      expect(calls).toBe(0);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      prompts.dispose();
    }
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
    ['step output', () => generate(() => 'logits' as unknown as tf.Tensor, { prompts: [[1]], padId: 0, maxNewTokens: 1 }), 'model', 'string'],
    [
      'disposed prompt tensor',
      () => {
        const prompts = tf.tensor2d([[1]], [1, 1], 'int32');
        prompts.dispose();
        return generate(cyclic(4), { prompts, padId: 0, maxNewTokens: 1 });
      },
      'prompts',
      'a disposed tensor of shape [1, 1]',
    ],
    [
      'prompt tensor dtype',
      () => withTensor(tf.tensor2d([[1]], [1, 1], 'float32'), (prompts) => generate(cyclic(4), { prompts, padId: 0, maxNewTokens: 1 })),
      'prompts',
      'a float32 tensor',
    ],
    [
      'prompt lengths',
      () => withTensor(tf.tensor2d([[1, 2]], [1, 2], 'int32'), (prompts) => generate(cyclic(4), { prompts, promptLengths: [3], padId: 0, maxNewTokens: 1 })),
      'promptLengths[0]',
      '3',
    ],
    ['onStep', () => generate(cyclic(4), { prompts: [[1]], padId: 0, maxNewTokens: 1, onStep: 1 as unknown as () => void }), 'onStep', 'number'],
  ];
  it.each(BAD)('bad %s: SamplingError naming argument and value, no tensor left', async (_, run, argument, value) => {
    const before = tf.memory().numTensors;
    const err = await run().catch((e: unknown) => e);
    expect(tf.memory().numTensors).toBe(before);
    expect(err).toBeInstanceOf(SamplingError);
    expect((err as SamplingError).argument).toBe(argument);
    expect((err as Error).message).toContain(value);
  });
});
