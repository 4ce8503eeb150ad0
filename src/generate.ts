// The generation loop, written once: a batch of prompts, a model (a step function or a tfjs
// model), the sampler, one read-back per step (the ids, with the invalid-row check folded in).
import * as tf from '@tensorflow/tfjs-core';
import { Described, InvalidRowsError, SamplingError } from './errors.js';
import { resolveRowParam, validateRowParam, type RowParam } from './params.js';
import { createSampler, type Sampler } from './sampler.js';
import { invalidRowsIn } from './select/invalid.js';
import type { SamplerOptions } from './types.js';

/** What `generate` hands a step function besides the tokens. */
export interface StepContext<S = unknown> {
  /** 0 for the first new token. */
  readonly step: number;
  /** Per row: prompt length plus tokens generated so far (pads excluded). */
  readonly lengths: Int32Array;
  /** Per row: 1 once the row has stopped (its later tokens are `padId`). */
  readonly finished: Uint8Array;
  /** What the previous call returned as `state` (or `initialState`): caches, hidden states… */
  readonly state: S | undefined;
}

/** A step function's result: the logits, or the logits plus the state for the next call. */
export type StepOutput<S = unknown> = tf.Tensor | { logits: tf.Tensor; state?: S };

/**
 * The model as a function: `tokens` int32 `[B, T]` (prompts left-padded with `padId`, then the
 * generated tokens) → logits float32 `[B, V]` (or `[B, T', V]`: the last position is used).
 * `tokens` lives for the call only (`generate` disposes it after sampling: clone to keep it);
 * `generate` disposes the returned logits; the `state` stays the caller's to manage.
 */
export type StepFunction<S = unknown> = (tokens: tf.Tensor2D, context: StepContext<S>) => StepOutput<S> | Promise<StepOutput<S>>;

/** A `tf.LayersModel` or `tf.GraphModel` (anything with `predict` and, optionally, `inputs`). */
export interface PredictModel {
  predict(x: tf.Tensor, config?: object): unknown;
  readonly inputs?: readonly { readonly shape?: readonly (number | null)[] | undefined; readonly dtype?: string }[];
}

export type GenerateModel<S = unknown> = StepFunction<S> | PredictModel;

/** Why a row stopped. */
export type FinishReason = 'stop' | 'length';

/** One streamed step. */
export interface GenerateStep {
  readonly step: number;
  /** The token of each row at this step; `padId` for rows that had finished before it. */
  readonly tokens: Int32Array;
  /** Per row, after this step: 1 if the row has finished. */
  readonly finished: Uint8Array;
}

export interface GenerateResult {
  /** The new tokens of each row, its stop token included, no pads. */
  readonly tokens: number[][];
  /** Prompt plus new tokens of each row, no pads. */
  readonly sequences: number[][];
  readonly finishReasons: FinishReason[];
  /** Steps run (the longest row's number of new tokens). */
  readonly steps: number;
}

export interface GenerateOptions<S = unknown> {
  /** Token ids per row, of any lengths (left-padded here), or an int32 `[B, P]` tensor already left-padded. */
  prompts: readonly ArrayLike<number>[] | tf.Tensor2D;
  /** With a tensor of prompts: each row's real length (default P for every row). */
  promptLengths?: ArrayLike<number>;
  /** Id used for left padding and for the tokens of finished rows. */
  padId: number;
  /** Per row or for all: how many tokens to generate at most. */
  maxNewTokens: RowParam;
  /** Tokens that end a row (kept as its last token): one list for all rows, or one list per row. */
  stopTokens?: readonly number[] | readonly (readonly number[])[];
  /** A sampler, or the options to create one (per-row parameters and seeds included). Default greedy. */
  sampler?: Sampler | SamplerOptions;
  /** For a `predict` model: the window fed each step (default: the model's fixed input length, else all tokens). */
  contextLength?: number;
  /** The first `state` a step function sees. */
  initialState?: S;
  /** Stops the generation between steps; `generate` then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after each step (awaited). */
  onStep?: (step: GenerateStep) => void | Promise<void>;
}

/**
 * Generates tokens for a batch of prompts until every row meets a stop token or its
 * `maxNewTokens`. One read-back per step (the sampled ids). The tokens so far are uploaded each
 * step from a host copy built from those ids (fixed-shape windows for `predict` models), and
 * reach history processors as `state.history`.
 *
 * @example
 * const step = (tokens: tf.Tensor2D) => model.predict(tokens) as tf.Tensor2D; // [B, V]
 * const { tokens } = await generate(step, {
 *   prompts: [[5, 7], [9]], padId: 0, maxNewTokens: 20, stopTokens: [1],
 *   sampler: { temperature: 0.8, topP: 0.95, seed: [11, 12] },
 * });
 */
export async function generate<S = unknown>(model: GenerateModel<S>, options: GenerateOptions<S>): Promise<GenerateResult> {
  const stream = generateStream(model, options);
  for (;;) {
    const next = await stream.next();
    if (next.done) return next.value;
    await options.onStep?.(next.value);
  }
}

/**
 * `generate` as an async iterator of steps; its return value is the {@link GenerateResult}.
 * Breaking out of a `for await` loop ends the generation and frees its tensors.
 *
 * @example
 * for await (const { step, tokens, finished } of generateStream(model, options)) console.log(step, tokens);
 */
export async function* generateStream<S = unknown>(
  model: GenerateModel<S>,
  options: GenerateOptions<S>,
): AsyncGenerator<GenerateStep, GenerateResult, undefined> {
  const plan = checkOptions(model, options);
  const { batch, padId, maxNew, stops, signal } = plan;
  const sampler = isSampler(options.sampler) ? options.sampler : createSampler(options.sampler ?? { temperature: 0 });
  const finished = new Uint8Array(batch);
  const reasons: FinishReason[] = new Array<FinishReason>(batch).fill('length');
  const out: number[][] = Array.from({ length: batch }, () => []);
  for (let r = 0; r < batch; r++) if (maxNew[r] === 0) finished[r] = 1;
  const callModel = modelCaller(model, options);
  const needsHistory = typeof model === 'function' || sampler.processors.some((p) => !BUILTIN_NAMES.has(p.name.replace(/^\?/, '')));
  const store = plan.tokens;
  let state = options.initialState;
  let step = 0;
  while (finished.includes(0)) {
    signal?.throwIfAborted();
    // Uploaded from the host copy each step: fixed-shape windows and no per-step concat, whose
    // changing shapes would compile a new shader every step on webgl.
    const tokens = needsHistory ? store.tensor() : undefined;
    const owned: tf.Tensor[] = tokens ? [tokens] : [];
    let data: Int32Array;
    try {
      const result = await callModel(tokens, store, { step, lengths: Int32Array.from(plan.prompts, (p, r) => p.length + out[r]!.length), finished: finished.slice(), state });
      owned.push(result.logits);
      state = result.state;
      const logits = lastPosition(result.logits, batch);
      owned.push(logits);
      const ids = sampler.sample(logits, tokens ? { history: tokens } : {});
      owned.push(ids);
      data = (await ids.data()) as Int32Array; // the one read-back of the step
    } finally {
      tf.dispose(owned);
    }
      checkIds(data, finished, step);
      const column = new Int32Array(batch);
      for (let r = 0; r < batch; r++) {
        if (finished[r]) {
          column[r] = padId;
          continue;
        }
        const id = data[r]!;
        column[r] = id;
        out[r]!.push(id);
        if (stops[r]!.has(id)) {
          finished[r] = 1;
          reasons[r] = 'stop';
        } else if (out[r]!.length >= maxNew[r]!) {
          finished[r] = 1;
        }
      }
    store.push(column);
    signal?.throwIfAborted();
    yield { step, tokens: column, finished: finished.slice() };
    step++;
  }
  return {
    tokens: out,
    sequences: out.map((row, r) => [...plan.prompts[r]!, ...row]),
    finishReasons: reasons,
    steps: step,
  };
}

interface Plan {
  batch: number;
  padId: number;
  maxNew: Float64Array;
  stops: Set<number>[];
  prompts: number[][];
  tokens: TokenStore;
  signal: AbortSignal | undefined;
}

function isSampler(s: unknown): s is Sampler {
  return typeof s === 'object' && s !== null && typeof (s as Sampler).sample === 'function';
}

function isTokenId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;
}

/** Validates everything before any tensor exists; returns the left-padded prompt tensor last. */
function checkOptions<S>(model: GenerateModel<S>, options: GenerateOptions<S>): Plan {
  if (typeof model !== 'function' && !(typeof model === 'object' && model !== null && typeof model.predict === 'function')) {
    throw new SamplingError('model', 'must be a step function (tokens, context) => logits or a tfjs model with predict()', model === null ? null : typeof model);
  }
  if (typeof options !== 'object' || options === null) throw new SamplingError('options', 'must be an object', options);
  const { padId, signal } = options;
  if (!isTokenId(padId)) throw new SamplingError('padId', 'must be an integer token id >= 0', padId);
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.throwIfAborted === 'function')) {
    throw new SamplingError('signal', 'must be an AbortSignal', signal);
  }
  if (options.contextLength !== undefined && !(Number.isInteger(options.contextLength) && options.contextLength >= 1)) {
    throw new SamplingError('contextLength', 'must be an integer >= 1', options.contextLength);
  }
  const { prompts, lengths } = readPrompts(options);
  const batch = prompts.length;
  const maxNew = resolveRowParam(
    'maxNewTokens',
    validateRowParam('maxNewTokens', options.maxNewTokens, { check: (n) => Number.isInteger(n) && n >= 0, rule: 'must be an integer >= 0' }),
    batch,
  );
  const stops = readStops(options.stopTokens, batch);
  if (options.sampler !== undefined && !isSampler(options.sampler) && (typeof options.sampler !== 'object' || options.sampler === null)) {
    throw new SamplingError('sampler', 'must be a Sampler or SamplerOptions', options.sampler);
  }
  const width = options.prompts instanceof tf.Tensor ? options.prompts.shape[1]! : Math.max(0, ...lengths);
  const tokens = new TokenStore(batch, width, width + Math.max(0, ...maxNew), padId);
  prompts.forEach((row, r) => tokens.setPrompt(r, row));
  return { batch, padId, maxNew, stops, prompts, tokens, signal };
}

function readPrompts<S>(options: GenerateOptions<S>): { prompts: number[][]; lengths: Int32Array } {
  const p = options.prompts;
  if (p instanceof tf.Tensor) {
    if (p.rank !== 2 || p.dtype !== 'int32') {
      throw new SamplingError('prompts', 'must be an int32 tf.Tensor2D [B, P] (left-padded) or arrays of token ids', new Described(`a ${p.dtype} tensor of shape [${p.shape.join(', ')}]`));
    }
    const [batch, width] = p.shape as [number, number];
    const lengths = options.promptLengths === undefined ? new Int32Array(batch).fill(width) : Int32Array.from(options.promptLengths);
    if (lengths.length !== batch) throw new SamplingError('promptLengths', `must have one length per row (batch size ${batch})`, options.promptLengths);
    lengths.forEach((n, r) => {
      if (!(Number.isInteger(n) && n >= 0 && n <= width)) throw new SamplingError(`promptLengths[${r}]`, `must be an integer in [0, ${width}]`, n);
    });
    const flat = p.dataSync() as Int32Array; // once, before the loop
    const prompts = Array.from(lengths, (n, r) => Array.from(flat.subarray(r * width + width - n, (r + 1) * width)));
    prompts.forEach((row, r) => row.forEach((id, i) => {
      if (!isTokenId(id)) throw new SamplingError(`prompts[${r}][${i}]`, 'must be an integer token id >= 0', id);
    }));
    return { prompts, lengths };
  }
  if (options.promptLengths !== undefined) throw new SamplingError('promptLengths', 'is only for a tensor of prompts (arrays carry their lengths)', options.promptLengths);
  if (!Array.isArray(p)) throw new SamplingError('prompts', 'must be an array of token-id arrays (one per row) or an int32 tf.Tensor2D', p);
  const prompts = p.map((row, r) => {
    if (!(Array.isArray(row) || ArrayBuffer.isView(row))) throw new SamplingError(`prompts[${r}]`, 'must be an array of token ids', row);
    const ids = Array.from(row as ArrayLike<unknown>);
    ids.forEach((id, i) => {
      if (!isTokenId(id)) throw new SamplingError(`prompts[${r}][${i}]`, 'must be an integer token id >= 0', id);
    });
    return ids as number[];
  });
  return { prompts, lengths: Int32Array.from(prompts, (row) => row.length) };
}

function readStops(stopTokens: GenerateOptions['stopTokens'], batch: number): Set<number>[] {
  if (stopTokens === undefined) return Array.from({ length: batch }, () => new Set<number>());
  if (!Array.isArray(stopTokens)) throw new SamplingError('stopTokens', 'must be an array of token ids, or one such array per row', stopTokens);
  const perRow = stopTokens.length > 0 && stopTokens.every((s) => Array.isArray(s));
  const lists = perRow ? (stopTokens as readonly (readonly number[])[]) : Array.from({ length: batch }, () => stopTokens as readonly number[]);
  if (perRow && lists.length !== batch) {
    throw new SamplingError('stopTokens', `must have one list per row (batch size ${batch}) when given per row`, new Described(`${lists.length} lists`));
  }
  return lists.map((list, r) => {
    list.forEach((id, i) => {
      if (!isTokenId(id)) throw new SamplingError(perRow ? `stopTokens[${r}][${i}]` : `stopTokens[${i}]`, 'must be an integer token id >= 0', id);
    });
    return new Set(list);
  });
}

/** The tokens so far on the host (left-padded prompts, then one column per step), row-major. */
class TokenStore {
  private readonly data: Int32Array;
  private width: number;

  constructor(
    readonly batch: number,
    promptWidth: number,
    private readonly capacity: number,
    private readonly padId: number,
  ) {
    this.data = new Int32Array(batch * capacity).fill(padId);
    this.width = promptWidth;
  }

  setPrompt(row: number, ids: readonly number[]): void {
    this.data.set(ids, row * this.capacity + this.width - ids.length);
  }

  push(column: Int32Array): void {
    for (let r = 0; r < this.batch; r++) this.data[r * this.capacity + this.width] = column[r]!;
    this.width++;
  }

  /** int32 `[B, T]`: every token so far. */
  tensor(): tf.Tensor2D {
    return this.window(this.width);
  }

  /** int32 `[B, L]`: the last `L` tokens of each row, left-padded with `padId` when fewer. */
  window(length: number): tf.Tensor2D {
    const out = new Int32Array(this.batch * length).fill(this.padId);
    const take = Math.min(length, this.width);
    for (let r = 0; r < this.batch; r++) {
      const end = r * this.capacity + this.width;
      out.set(this.data.subarray(end - take, end), r * length + length - take);
    }
    return tf.tensor2d(out, [this.batch, length], 'int32');
  }
}

const BUILTIN_NAMES = new Set(['temperature', 'top-k', 'top-p', 'min-p']);

type Caller<S> = (
  tokens: tf.Tensor2D | undefined,
  store: TokenStore,
  context: StepContext<S>,
) => Promise<{ logits: tf.Tensor; state: S | undefined }>;

function modelCaller<S>(model: GenerateModel<S>, options: GenerateOptions<S>): Caller<S> {
  if (typeof model === 'function') {
    return async (tokens, _store, context) => {
      const out = await model(tokens!, context);
      if (out instanceof tf.Tensor) return { logits: out, state: context.state };
      if (typeof out === 'object' && out !== null && out.logits instanceof tf.Tensor) {
        return { logits: out.logits, state: 'state' in out ? out.state : context.state };
      }
      throw new SamplingError('model', 'must return a logits tensor or { logits, state }', new Described(typeof out));
    };
  }
  const input = model.inputs?.[0];
  const fixed = input?.shape?.[1];
  const window = options.contextLength ?? (typeof fixed === 'number' && fixed > 0 ? fixed : undefined);
  const dtype = input?.dtype === 'float32' ? 'float32' : 'int32';
  return async (tokens, store, context) => {
    const logits = tf.tidy(() => {
      const x = window === undefined ? (tokens ?? store.tensor()) : store.window(window);
      const out = model.predict(dtype === 'float32' ? tf.cast(x, 'float32') : x);
      if (!(out instanceof tf.Tensor)) {
        throw new SamplingError('model', 'must return one logits tensor from predict()', new Described(Array.isArray(out) ? `${out.length} tensors` : typeof out));
      }
      return out;
    });
    return { logits, state: context.state };
  };
}

/** `[B, V]` logits, from `[B, V]` or the last position of `[B, T, V]`. */
function lastPosition(logits: tf.Tensor, batch: number): tf.Tensor2D {
  const ok = (logits.rank === 2 || logits.rank === 3) && logits.shape[0] === batch && logits.dtype === 'float32';
  if (!ok) {
    throw new SamplingError('model', `must return float32 logits [B, V] or [B, T, V] with B = ${batch}`, new Described(`a ${logits.dtype} tensor of shape [${logits.shape.join(', ')}]`));
  }
  if (logits.rank === 2) return logits as tf.Tensor2D;
  const [, t, v] = logits.shape as [number, number, number];
  return tf.tidy(() => tf.reshape(tf.slice(logits, [0, t - 1, 0], [batch, 1, v]), [batch, v]) as tf.Tensor2D);
}

/** Invalid rows among those still generating (finished rows' logits are not looked at). */
function checkIds(ids: Int32Array, finished: Uint8Array, step: number): void {
  const bad = invalidRowsIn(ids).filter(({ row }) => !finished[row]);
  if (bad.length > 0) {
    const err = new InvalidRowsError(bad);
    err.message = `step ${step}: ${err.message}`;
    throw err;
  }
}
