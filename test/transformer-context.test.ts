// What generate() gives a transformer-style step function: the prefill / decode phases, the
// attention mask (0 on left padding), position ids that start at 0 at each row's first real
// token, and feed 'new' (the prompts, then only the newest token) for a model with a cache.
// A toy model whose logits depend on every real token and its position must give the same
// tokens from the whole window (mask and positions) and from its cache; a row alone and in a
// batch (other padding) too. Every backend, no tensor left behind.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { SamplingError, generate, type PredictModel, type StepFunction } from '../src/index.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS } from './helpers/backend.js';
import { makeRows } from './helpers/logits.js';
import { logitsOf, termsOf, windowModelOf } from './helpers/toy-transformer.js';

const V = 24;
const TABLE = makeRows('peaky', V, V, 'ctx-table').map((r) => Array.from(r));
const MIX = makeRows('peaky', V, V, 'ctx-mix').map((r) => Array.from(r, (v) => 0.7 * v));

describe.each(BACKENDS)('the transformer step context on %s', (backend) => {
  backendSuite(backend);
  const prompts = [[1, 2], [3], [4, 5, 6]];
  const base = { prompts, padId: 0, maxNewTokens: 6, sampler: { temperature: 1.1, seed: [3, 4, 5] } };

  it('attention mask and positions by hand (window, prefill and decode)', async () => {
    const seen: { phase: string; mask: number[][]; pos: number[][]; shape: number[] }[] = [];
    const step: StepFunction = async (tokens, ctx) => {
      seen.push({ phase: ctx.phase, mask: await ctx.attentionMask().array(), pos: await ctx.positionIds().array(), shape: tokens.shape });
      expect(ctx.attentionMask()).toBe(ctx.attentionMask()); // made once per step
      return tf.zeros([3, V]);
    };
    await generate(step, { ...base, maxNewTokens: 2, sampler: { temperature: 0 } });
    expect(seen[0]).toEqual({
      phase: 'prefill',
      shape: [3, 3],
      mask: [
        [0, 1, 1],
        [0, 0, 1],
        [1, 1, 1],
      ],
      pos: [
        [0, 0, 1],
        [0, 0, 0],
        [0, 1, 2],
      ],
    });
    expect(seen[1]).toEqual({
      phase: 'decode',
      shape: [3, 4],
      mask: [
        [0, 1, 1, 1],
        [0, 0, 1, 1],
        [1, 1, 1, 1],
      ],
      pos: [
        [0, 0, 1, 2],
        [0, 0, 0, 1],
        [0, 1, 2, 3],
      ],
    });
    // A fixed window longer than the history: padding on the left of the store counts as padding.
    const windowed: number[][][] = [];
    await generate(
      async (_tokens, ctx) => {
        windowed.push(await ctx.positionIds().array());
        return tf.zeros([3, V]);
      },
      { ...base, maxNewTokens: 1, contextLength: 5, sampler: { temperature: 0 } },
    );
    expect(windowed[0]).toEqual([
      [0, 0, 0, 0, 1],
      [0, 0, 0, 0, 0],
      [0, 0, 0, 1, 2],
    ]);
  });

  it("feed 'new' with a cache gives the tokens of the whole window; a row alone gives its batch tokens", async () => {
    const table = tf.tensor2d(TABLE);
    const mix = tf.tensor2d(MIX);
    const windowModel = windowModelOf(table, mix);
    const shapes: string[] = [];
    const cacheModel: StepFunction<tf.Tensor1D> = (tokens, ctx) => {
      const [b, n] = tokens.shape;
      shapes.push(`${ctx.phase} ${tokens.shape.join('x')} mask ${ctx.attentionMask().shape.join('x')}`);
      const full = ctx.attentionMask();
      const s = tf.tidy(() => {
        const maskNew = tf.slice(full, [0, full.shape[1] - n], [b, n]) as tf.Tensor2D;
        const add = termsOf(tokens, maskNew, ctx.positionIds());
        return ctx.state ? (tf.add(ctx.state, add) as tf.Tensor1D) : add;
      });
      ctx.state?.dispose(); // the cache it replaces
      const logits = tf.tidy(() => logitsOf(table, mix, tf.reshape(tf.slice(tokens, [0, n - 1], [b, 1]), [b]) as tf.Tensor1D, s));
      return { logits, state: s };
    };
    const a = await generate(windowModel, base);
    const c = await generate(cacheModel, { ...base, feed: 'new' });
    expect(c.tokens).toEqual(a.tokens);
    expect(shapes.slice(0, 3)).toEqual(['prefill 3x3 mask 3x3', 'decode 3x1 mask 3x4', 'decode 3x1 mask 3x5']);
    c.state?.dispose();
    // Row 1 alone (no padding) with its own seed: the same tokens as in the batch.
    const alone = await generate(cacheModel, { ...base, prompts: [prompts[1]!], sampler: { temperature: 1.1, seed: [4] }, feed: 'new' });
    expect(alone.tokens[0]).toEqual(c.tokens[1]);
    alone.state?.dispose();
    tf.dispose([table, mix]);
  });

  it('a predict model with named inputs and a cache in its outputs (io): the tokens of the whole window; the state carried, returned, freed on abort', async () => {
    const table = tf.tensor2d(TABLE);
    const mix = tf.tensor2d(MIX);
    const windowModel = windowModelOf(table, mix);
    const calls: string[] = [];
    // A GraphModel-shaped model: named inputs (a map) and outputs (an array in `outputs` order).
    const model: PredictModel = {
      inputs: [{ name: 'input_ids' }, { name: 'attention_mask' }, { name: 'position_ids' }, { name: 'past' }],
      outputs: [{ name: 'present' }, { name: 'logits' }, { name: 'unused' }],
      predict: (x) =>
        tf.tidy(() => {
          const m = x as tf.NamedTensorMap;
          const ids = m.input_ids as tf.Tensor2D;
          const [b, n] = ids.shape;
          const full = m.attention_mask as tf.Tensor2D;
          calls.push(`${n} ${full.shape[1]}`);
          const present = tf.add(
            m.past!,
            termsOf(ids, tf.slice(full, [0, full.shape[1] - n], [b, n]) as tf.Tensor2D, m.position_ids as tf.Tensor2D),
          ) as tf.Tensor1D;
          return [present, logitsOf(table, mix, tf.reshape(tf.slice(ids, [0, n - 1], [b, 1]), [b]) as tf.Tensor1D, present), tf.zeros([1])];
        }),
    };
    const io = {
      inputs: { input_ids: 'tokens', attention_mask: 'attentionMask', position_ids: 'positionIds', past: { state: 'past' } },
      logits: 'logits',
      state: { past: 'present' },
    } as const;
    const empty = tf.zeros([3]) as tf.Tensor1D;
    const a = await generate(windowModel, base);
    const before = tf.memory().numTensors;
    const c = await generate(model, { ...base, feed: 'new', io, initialState: { past: empty } });
    expect(c.tokens).toEqual(a.tokens);
    expect(calls.slice(0, 3)).toEqual(['3 3', '1 4', '1 5']);
    expect(empty.isDisposed).toBe(false); // the caller's
    expect(Object.keys(c.state!)).toEqual(['past']);
    expect(tf.memory().numTensors).toBe(before + 1); // only the returned state
    tf.dispose(c.state);
    // Aborted after two steps: every state it made is freed, the caller's stays.
    const ctl = new AbortController();
    const err = await generate(model, {
      ...base,
      feed: 'new',
      io,
      initialState: { past: empty },
      signal: ctl.signal,
      onStep: ({ step }) => (step === 1 ? ctl.abort(new Error('stop')) : undefined),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('stop');
    expect(tf.memory().numTensors).toBe(before);
    expect(empty.isDisposed).toBe(false);
    // Bad mappings: typed errors naming the entry, nothing left behind.
    const bad = async (opts: object, arg: string): Promise<void> => {
      const n = tf.memory().numTensors;
      const e = await generate(model, { ...base, feed: 'new', initialState: { past: empty }, ...opts }).catch((x: unknown) => x);
      expect(e, arg).toBeInstanceOf(SamplingError);
      expect((e as SamplingError).argument).toBe(arg);
      expect(tf.memory().numTensors).toBe(n);
    };
    await bad({ io: { ...io, inputs: { ...io.inputs, input_ids: 'ids' } } }, 'io.inputs.input_ids');
    await bad({ io: { ...io, inputs: { ...io.inputs, nope: 'tokens' } } }, 'io.inputs.nope');
    await bad({ io: { ...io, inputs: { input_ids: 'tokens' } } }, 'io.inputs');
    await bad({ io: { ...io, logits: 'logit' } }, 'io.logits');
    await bad({ io: { ...io, state: { past: 7 } } }, 'io.state.past');
    await bad({ io, initialState: {} }, 'io.inputs.past');
    await bad({ io: { ...io, state: undefined } }, 'feed');
    empty.dispose();
    tf.dispose([table, mix]);
  });

  it('a LayersModel with two named inputs (ids and mask): an array in its inputs order', async () => {
    const T = 4;
    const ids = tfl.input({ shape: [T], name: 'input_ids', dtype: 'int32' });
    const mask = tfl.input({ shape: [T], name: 'attention_mask', dtype: 'int32' });
    const emb = tfl.layers
      .embedding({ inputDim: V, outputDim: 6, embeddingsInitializer: tfl.initializers.randomNormal({ seed: 1 }) })
      .apply(ids) as tfl.SymbolicTensor;
    const gate = tfl.layers.embedding({ inputDim: 2, outputDim: 6, embeddingsInitializer: 'ones' }).apply(mask) as tfl.SymbolicTensor;
    const flat = tfl.layers.flatten().apply(tfl.layers.multiply().apply([emb, gate])) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: V, kernelInitializer: tfl.initializers.randomNormal({ seed: 2, stddev: 2 }) }).apply(flat) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: [mask, ids], outputs: out }); // inputs deliberately not in io order
    // The mask embedding: 0 for padding, 1 for real tokens.
    const gateLayer = model.layers.find((l) => l.getWeights()[0]?.shape[0] === 2)!;
    const w = tf.tensor2d([new Array(6).fill(0), new Array(6).fill(1)]);
    gateLayer.setWeights([w]);
    w.dispose();
    const byHand: StepFunction = (tokens, ctx) => model.predict([ctx.attentionMask(), tokens]) as tf.Tensor2D;
    const a = await generate(byHand, { ...base, contextLength: T });
    const b = await generate(model, { ...base, io: { inputs: { input_ids: 'tokens', attention_mask: 'attentionMask' } }, contextLength: T });
    expect(b.tokens).toEqual(a.tokens);
    model.dispose();
  });

  it('bad feed: a SamplingError naming it, nothing left behind', async () => {
    const step: StepFunction = () => tf.zeros([1, V]);
    for (const [opts, arg] of [
      [{ feed: 'all' }, 'feed'],
      [{ feed: 'new', contextLength: 1 }, 'contextLength'],
    ] as const) {
      const before = tf.memory().numTensors;
      const err = await generate(step, { prompts: [[1]], padId: 0, maxNewTokens: 1, ...(opts as object) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument).toBe(arg);
      expect(tf.memory().numTensors).toBe(before);
    }
    const predict = { predict: () => tf.zeros([1, V]) };
    const err = await generate(predict, { prompts: [[1]], padId: 0, maxNewTokens: 1, feed: 'new' }).catch((e: unknown) => e);
    expect((err as SamplingError).argument).toBe('feed');
  });
});
