import * as tf from '@tensorflow/tfjs-core';
import { fusedBackend, fusedPlan, gumbelArgmaxAvailable, runFused, runGumbelArgmax } from './backends/fused.js';
import { builtinProcessors, runChain, type ChainResult } from './chain.js';
import { Described, SamplingError } from './errors.js';
import { assertOwnTensor, checkLogits, isTensor, type LogitsShape } from './logits.js';
import { checkRowArrays, normalizeOptions, type NormalizedOptions } from './options.js';
import { fillGumbel, rowKeys, stepKey, rowKey } from './noise.js';
import { FLT_MAX, firstArgMax, invTemperaturePair, rowMax, scaleByInvTemperature } from './processors/ops.js';
import { assertValidIds, invalidCodes } from './select/invalid.js';
import type { LogitsProcessor, SampleContext, SamplerOptions, SamplingState } from './types.js';

/** A configured sampler. Each `sample` call is one step of every row's random stream. */
export interface Sampler {
  /** The chain, llama.cpp style, e.g. `'temperature → top-k → top-p → gumbel'`. */
  readonly name: string;
  /** The step the next `sample` call draws (0 after construction or `reset()`). */
  readonly step: number;
  /** The processors in the order they run. */
  readonly processors: readonly LogitsProcessor[];
  /**
   * How the last `sample` call ran: `'portable'` (tfjs-core ops), `'portable+draw:<backend>'`
   * (portable processors, the draw in one backend kernel) or `'fused:<backend>'` (one backend
   * kernel for the whole chain and the draw).
   */
  readonly lastPath: string;
  /**
   * Draws one token per row: logits float32 `[B, V]` (or `[V]`) → int32 `Tensor1D [B]`.
   * Never reads back. Under `invalidRows: 'error'` an invalid row gets a negative id
   * (-1 NaN, -2 +Infinity, -3 no finite logit), which {@link readIds} turns into an
   * `InvalidRowsError`; use {@link Sampler.sampleIds} to get both in one call.
   */
  sample(logits: tf.Tensor, context?: SampleContext): tf.Tensor1D;
  /** `sample` plus the one read-back a generation loop needs; throws `InvalidRowsError`. */
  sampleIds(logits: tf.Tensor, context?: SampleContext): Promise<Int32Array>;
  /**
   * float32 `[B, V]`: the distribution each row is drawn from (does not advance the step). Like
   * every per-token output it keeps the input's rank: `[V]` in, `[V]` out. Invalid rows are NaN
   * rows under `invalidRows: 'error'`.
   */
  probabilities(logits: tf.Tensor1D, context?: SampleContext): tf.Tensor1D;
  probabilities(logits: tf.Tensor, context?: SampleContext): tf.Tensor2D;
  /**
   * float32 `[B, V]`: the logits after the whole chain, divided by each row's temperature
   * (greedy rows unscaled) and clamped to ±FLT_MAX; filtered tokens are -Infinity. The kept set is
   * where it is finite. `[V]` in, `[V]` out.
   */
  process(logits: tf.Tensor1D, context?: SampleContext): tf.Tensor1D;
  process(logits: tf.Tensor, context?: SampleContext): tf.Tensor2D;
  /** Back to step 0: the same seeds give the same tokens again. */
  reset(): void;
}

/**
 * Creates a batched sampler. Default chain: temperature → top-k → top-p → min-p → draw.
 *
 * @example
 * const sampler = createSampler({ temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 42 });
 * const ids = sampler.sample(logits);          // int32 [B]
 * const tokens = await sampler.sampleIds(logits); // Int32Array, invalid rows throw
 */
export function createSampler(options: SamplerOptions = {}): Sampler {
  const opts = normalizeOptions(options);
  const processors = [...opts.processors, ...builtinProcessors(opts.builtins)];
  if (opts.draw === 'multinomial' && opts.seed !== undefined && typeof opts.seed !== 'number') {
    throw new SamplingError('seed', 'must be one number with draw "multinomial" (tf.multinomial takes one seed per call)', opts.seed);
  }
  const baseSeed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
  let step = 0;
  let lastPath = 'portable';
  let keyCache: { batch: number; keys: Uint32Array } | undefined;
  const keysFor = (batch: number): Uint32Array => {
    if (keyCache?.batch !== batch) {
      keyCache = { batch, keys: rowKeys(baseSeed, batch) };
    }
    return keyCache.keys;
  };

  const check = (logits: tf.Tensor, context: SampleContext | undefined): LogitsShape => {
    const shape = checkLogits(logits);
    if (context !== undefined && (typeof context !== 'object' || context === null)) {
      throw new SamplingError('context', 'must be an object { history? }', context);
    }
    checkRowArrays(opts, shape.batch);
    if (context?.history !== undefined) checkHistory(context.history, shape.batch);
    return shape;
  };
  const prepare = (logits: tf.Tensor, shape: LogitsShape, context: SampleContext | undefined): Prepared => {
    const input = as2d(logits, shape);
    const { state, ...made } = runChain(processors, {
      logits: input,
      batch: shape.batch,
      vocab: shape.vocab,
      invTemperature: new Float64Array(shape.batch).fill(1),
      step,
      candidates: shape.vocab,
      ...(context?.history !== undefined ? { history: context.history } : {}),
    });
    return { input, made, state };
  };

  const sampler: Sampler = {
    name: [...processors.map((p) => p.name), opts.draw].join(' → '),
    processors,
    get step() {
      return step;
    },
    get lastPath() {
      return lastPath;
    },
    sample(logits, context) {
      const shape = check(logits, context);
      const backend = tf.getBackend();
      if (opts.draw === 'multinomial' && (backend === 'webgpu' || backend === 'webgl')) {
        throw new SamplingError(
          'draw',
          `must not be "multinomial" on the ${backend} backend, where tf.multinomial's shader hash draws from a biased distribution (row 0 always gets token 0 on webgpu, tfjs issue 8057; measured biased on the other rows too)`,
          'multinomial',
          'Use the default draw "gumbel"',
        );
      }
      const keys = keysFor(shape.batch);
      if (shape.batch === 0) return tf.tensor1d([], 'int32');
      const fused = fusedBackend();
      const plan = fused === undefined ? undefined : fusedPlan(opts, shape.batch, shape.vocab, keys, step);
      if (plan) {
        const ids = tf.tidy(() => runFused(as2d(logits, shape), plan));
        lastPath = `fused:${fused}`;
        step++;
        return ids;
      }
      const { ids, drawKernel } = tf.tidy(() => {
        return draw(opts, prepare(logits, shape, context), keys, baseSeed);
      });
      lastPath = drawKernel ? `portable+draw:${tf.getBackend()}` : 'portable';
      step++;
      return ids;
    },
    async sampleIds(logits, context) {
      const ids = sampler.sample(logits, context);
      try {
        const data = (await ids.data()) as Int32Array;
        if (opts.invalidRows === 'error') assertValidIds(data);
        return data;
      } finally {
        ids.dispose();
      }
    },
    probabilities: ((logits: tf.Tensor, context?: SampleContext): tf.Tensor => {
      const shape = check(logits, context);
      if (shape.batch === 0) return tf.zeros([0, shape.vocab]) as tf.Tensor2D;
      return tf.tidy(() => {
        return sameRank(distribution(opts, prepare(logits, shape, context)), shape);
      });
    }) as Sampler['probabilities'],
    process: ((logits: tf.Tensor, context?: SampleContext): tf.Tensor => {
      const shape = check(logits, context);
      if (shape.batch === 0) return tf.zeros([0, shape.vocab]) as tf.Tensor2D;
      return tf.tidy(() => {
        const { state } = prepare(logits, shape, context);
        const [ih] = invTemperaturePair(state.invTemperature);
        const z = state.logits;
        // Kept values stay finite (1/T up to 2^100 can take z past float32's range); masked
        // ones stay -Infinity; NaN stays NaN. Not tf.clipByValue: webgl's packed clip leaves a
        // 2×2 texel unclamped when any of its four values is NaN (another row's NaN).
        const scaled = tf.minimum(tf.maximum(tf.mul(z, ih), -FLT_MAX), FLT_MAX);
        return sameRank(tf.where(tf.isFinite(z), scaled, z) as tf.Tensor2D, shape);
      });
    }) as Sampler['process'],
    reset() {
      step = 0;
    },
  };
  return sampler;
}

/** Reads sampled ids (the one read-back per step) and throws `InvalidRowsError` on invalid rows. */
export async function readIds(ids: tf.Tensor): Promise<Int32Array> {
  if (!isTensor(ids) || ids.isDisposed || ids.dtype !== 'int32' || ids.rank !== 1) {
    const what = isTensor(ids)
      ? new Described(`${ids.isDisposed ? 'a disposed' : `a ${ids.dtype}`} tensor of shape [${ids.shape.join(', ')}]`)
      : typeof ids === 'object' && ids !== null
        ? new Described(`a ${(ids as object).constructor?.name ?? 'object'}`)
        : ids;
    throw new SamplingError('ids', 'must be the int32 [B] tensor sample() returned', what);
  }
  assertOwnTensor(ids, 'ids');
  const data = Int32Array.from((await ids.data()) as Int32Array);
  assertValidIds(data);
  return data;
}

function checkHistory(history: unknown, batch: number): void {
  if (isTensor(history)) assertOwnTensor(history, 'history');
  if (!isTensor(history) || history.rank !== 2 || history.dtype !== 'int32') {
    const what = isTensor(history) ? `a ${history.dtype} tensor of shape [${history.shape.join(', ')}]` : typeof history;
    throw new SamplingError('history', 'must be an int32 tf.Tensor2D [B, T] of token ids', new Described(what));
  }
  if (history.isDisposed) throw new SamplingError('history', 'must not be disposed', new Described(`a disposed tensor of shape [${history.shape.join(', ')}]`));
  if (history.shape[0] !== batch) {
    throw new SamplingError('history', `must have one row per logits row (batch size ${batch})`, new Described(`shape [${history.shape.join(', ')}]`));
  }
}

/** Per-token outputs keep the input's rank: a `[V]` input gives `[V]`. */
function sameRank(x: tf.Tensor2D, shape: LogitsShape): tf.Tensor {
  return shape.rank === 1 ? tf.reshape(x, [shape.vocab]) : x;
}

/**
 * `[B, V]` view of the logits (a rank-1 `[V]` is one row): always a new handle on the same data,
 * so a processor that disposes its input cannot dispose the caller's tensor.
 */
function as2d(logits: tf.Tensor, shape: LogitsShape): tf.Tensor2D {
  return tf.reshape(logits, [shape.batch, shape.vocab]);
}

function greedyFlags(state: SamplingState): Uint8Array {
  return Uint8Array.from(state.invTemperature, (v) => (Number.isFinite(v) ? 0 : 1));
}

/** The caller's logits `[B, V]`, the rows user processors made NaN / +Infinity, the final state. */
interface Prepared {
  input: tf.Tensor2D;
  made: Omit<ChainResult, 'state'>;
  state: SamplingState;
}

function draw(
  opts: NormalizedOptions,
  { input, made, state }: Prepared,
  keys: Uint32Array,
  baseSeed: number | ArrayLike<number>,
): { ids: tf.Tensor1D; drawKernel: boolean } {
  const { batch, vocab, logits: z } = state;
  const greedy = greedyFlags(state);
  const zmax = rowMax(z);
  const needNoiseAll = opts.invalidRows !== 'error';
  let noise: tf.Tensor2D | undefined;
  // GPU backends with the draw kernel compute the noise in the shader: no [B, V] upload.
  const inShader = opts.draw === 'gumbel' && gumbelArgmaxAvailable();
  const stepKeys = inShader ? Uint32Array.from(keys, (k) => stepKey(k, state.step)) : undefined;
  const getNoise = (): tf.Tensor2D => {
    if (!noise) {
      const scale = needNoiseAll || opts.draw !== 'gumbel' ? undefined : Uint8Array.from(greedy, (g) => 1 - g);
      noise = tf.tensor2d(fillGumbel(keys, state.step, vocab, new Float32Array(batch * vocab), scale), [batch, vocab]);
    }
    return noise;
  };
  let ids: tf.Tensor1D;
  const [ih] = invTemperaturePair(state.invTemperature);
  if (greedy.every((g) => g === 1)) {
    ids = firstArgMax(z);
  } else if (inShader) {
    ids = runGumbelArgmax(tf.mul(tf.sub(z, zmax), ih) as tf.Tensor2D, stepKeys!, Array.from(greedy, (g) => 1 - g));
  } else if (opts.draw === 'gumbel') {
    let g: tf.Tensor = getNoise();
    if (needNoiseAll && greedy.some((x) => x === 1)) g = tf.mul(g, tf.tensor2d(Float32Array.from(greedy, (x) => 1 - x), [batch, 1]));
    const score = tf.add(tf.mul(tf.sub(z, zmax), ih), g) as tf.Tensor2D;
    // Greedy rows (no noise) tie often; perturbed scores essentially never do.
    ids = greedy.some((x) => x === 1) ? firstArgMax(score) : (tf.argMax(score, 1) as tf.Tensor1D);
  } else {
    const a = tf.mul(tf.sub(z, zmax), ih) as tf.Tensor2D;
    // In (0, 1) with 24 bits: the cpu kernel hashes seed.toString(), wasm reads the float32
    // bits, the GPU kernels scale coordinates by it; 0 would mean "unseeded" to tfjs.
    const seed = ((stepKey(rowKey(baseSeed as number, undefined), state.step) >>> 8) | 1) / 16777216;
    const drawn = tf.reshape(tf.multinomial(a, 1, seed, false), [batch]) as tf.Tensor1D;
    ids = greedy.some((x) => x === 1)
      ? (tf.where(tf.tensor1d(Array.from(greedy), 'bool'), firstArgMax(z), drawn) as tf.Tensor1D)
      : drawn;
  }
  const codes = invalidCodes(input, made, z);
  const invalid = tf.less(codes, 0);
  let fallback: tf.Tensor1D;
  if (opts.invalidRows === 'error') {
    fallback = tf.cast(codes, 'int32') as tf.Tensor1D;
  } else {
    const uniformIds = inShader
      ? runGumbelArgmax(tf.zeros([batch, vocab]) as tf.Tensor2D, stepKeys!, new Float32Array(batch).fill(1))
      : (tf.argMax(getNoise(), 1) as tf.Tensor1D);
    if (opts.invalidRows === 'uniform') {
      fallback = uniformIds;
    } else {
      const finite = tf.where(tf.isFinite(input), input, tf.fill(input.shape, -Infinity));
      const anyFinite = tf.any(tf.isFinite(input), 1);
      fallback = tf.where(anyFinite, firstArgMax(finite as tf.Tensor2D), uniformIds) as tf.Tensor1D;
    }
  }
  // The draw kernel counts as used when it drew the tokens of some (non-greedy) row.
  const drawKernel = inShader && !greedy.every((g) => g === 1);
  return { ids: tf.where(invalid, fallback, ids) as tf.Tensor1D, drawKernel };
}

function distribution(opts: NormalizedOptions, { input, made, state }: Prepared): tf.Tensor2D {
  const { batch, vocab, logits: z } = state;
  const greedy = greedyFlags(state);
  const zmax = rowMax(z);
  const e = tf.exp(scaleByInvTemperature(tf.sub(z, zmax), state.invTemperature));
  let p = tf.div(e, tf.sum(e, 1, true)) as tf.Tensor2D;
  const rows = (flag: tf.Tensor1D): tf.Tensor2D => tf.broadcastTo(tf.reshape(flag, [batch, 1]), [batch, vocab]) as tf.Tensor2D;
  const oneHot = (idx: tf.Tensor1D): tf.Tensor2D => tf.cast(tf.oneHot(idx, vocab), 'float32') as tf.Tensor2D;
  if (greedy.some((g) => g === 1)) {
    p = tf.where(rows(tf.tensor1d(Array.from(greedy), 'bool')), oneHot(firstArgMax(z)), p);
  }
  const codes = invalidCodes(input, made, z);
  const uniform = tf.fill([batch, vocab], 1 / vocab);
  let alt: tf.Tensor2D;
  if (opts.invalidRows === 'error') {
    alt = tf.fill([batch, vocab], NaN) as tf.Tensor2D;
  } else if (opts.invalidRows === 'uniform') {
    alt = uniform as tf.Tensor2D;
  } else {
    const finite = tf.where(tf.isFinite(input), input, tf.fill(input.shape, -Infinity));
    const anyFinite = tf.any(tf.isFinite(input), 1) as tf.Tensor1D;
    alt = tf.where(rows(anyFinite), oneHot(firstArgMax(finite as tf.Tensor2D)), uniform) as tf.Tensor2D;
  }
  return tf.where(rows(tf.less(codes, 0) as tf.Tensor1D), alt, p) as tf.Tensor2D;
}
