// The generation loop, written once: a batch of prompts, a model (a step function or a tfjs
// model), the sampler, one read-back per step (the ids, with the invalid-row check folded in).
import * as tf from '@tensorflow/tfjs-core';
import { isBuiltinProcessor } from './builtin.js';
import { normalizeOptions } from './options.js';
import { assertOwnTensor, isTensor } from './logits.js';
import { Described, InvalidRowsError, SamplingError } from './errors.js';
import { resolveRowParam, validateRowParam, type RowParam } from './params.js';
import { createSampler, type Sampler } from './sampler.js';
import { invalidRowsIn } from './select/invalid.js';
import type { SampleContext, SamplerOptions } from './types.js';
import { GrammarRows, type GenerateGrammar, type GrammarInput } from './grammar/rows.js';
import { stopChecker, trimStops, type StopCut, type StopRules } from './stops.js';
import { checkDraft, runSpeculative, type DraftOptions, type DraftStats } from './speculative.js';
import { rawOption } from './logprobs-options.js';
import { PACKED_HEAD, rawLogprobAt, unpackLogprobs, type LogprobsMode, type LogprobsOptions, type LogprobsPlan, type SampledLogprobs } from './logprobs.js';

/** What `generate` hands a step function besides the tokens. */
export interface StepContext<S = unknown> {
  /** 0 for the first new token. */
  readonly step: number;
  /**
   * Per row: prompt length plus tokens generated so far (left padding excluded; a finished row's
   * `padId` tokens after it stopped count, as its window holds them).
   */
  readonly lengths: Int32Array;
  /** Per row: 1 once the row has stopped (its later tokens are `padId`). */
  readonly finished: Uint8Array;
  /**
   * What the previous call returned as `state` (or `initialState` at step 0): caches, hidden
   * states… See {@link StepFunction} for who disposes which state.
   */
  readonly state: S | undefined;
  /** `'prefill'` at step 0 (the prompts), `'decode'` after. */
  readonly phase: 'prefill' | 'decode';
  /**
   * How many of the last positions' logits `generate` uses: 1 in plain decoding (return
   * `[B, V]` or `[B, T, V]`), γ + 1 when a target checks a draft's γ tokens (return `[B, T, V]`
   * with T ≥ γ + 1). Absent means 1.
   */
  readonly logitPositions?: number;
  /**
   * Per row, 1 when the token fed at this step is the first of a new request (the `queue`
   * option): the row's earlier tokens are no longer its history (they are padding in `tokens`,
   * `attentionMask()` and `positionIds()` now), so a cache must forget that row. All 0 without a queue.
   */
  readonly restarted?: Uint8Array;
  /**
   * int32 `[B, T]`, 1 on real tokens and 0 on left padding: over the `tokens` given, or with
   * `feed: 'new'` over every token so far (the cache's positions and the new ones), as a
   * transformer's attention mask — except in a speculative pass (`draft`), where it covers the
   * fed tokens only and the cache is masked by position (docs/generation.md, the cache contract).
   * Made on the first call (one upload) and disposed by `generate`
   * after the step: clone it to keep it.
   */
  attentionMask(): tf.Tensor2D;
  /**
   * int32, the shape of `tokens`: each token's position among its row's real tokens (0 at the
   * row's first real token, whatever the padding; 0 on padding). Made and disposed as
   * `attentionMask`.
   */
  positionIds(): tf.Tensor2D;
}

/** A step function's result: the logits, or the logits plus the state for the next call. */
export type StepOutput<S = unknown> =
  | tf.Tensor
  | {
      /** float32 `[B, V]` logits of the last position of each row. */
      logits: tf.Tensor;
      /**
       * The state for the next step (a KV cache, …). While the generation runs `generate` disposes
       * none of it: free what the previous state held and this one does not in the step function
       * (see {@link StepFunction}'s state ownership).
       */
      state?: S;
    };

/**
 * The model as a function: `tokens` int32 `[B, T]` (prompts left-padded with `padId`, then the
 * generated tokens; `[B, contextLength]`, the last tokens, when that option is given) → logits
 * float32 `[B, V]` (or `[B, T', V]`: the last position is used).
 * `tokens` lives for the call only (`generate` disposes it after sampling: clone to keep it);
 * `generate` disposes the returned logits.
 *
 * **State ownership** (a KV cache, hidden states: any value, tensors inside arrays, `Map`s,
 * `Set`s and objects' own enumerable properties are found):
 * - While the generation runs, `generate` disposes nothing of any state. When a step returns a
 *   new `state`, the previous one is the step function's business: dispose what it no longer
 *   uses (or keeps inside the new state) in the step function itself.
 * - When the generation completes, the last state is returned as {@link GenerateResult.state};
 *   the caller owns it and disposes it.
 * - When it ends any other way (the signal aborts, the step function throws or returns
 *   something unusable, an active row is invalid, `onStep` throws, a `for await` loop over
 *   {@link generateStream} breaks early), `generate` disposes the tensors of the last state the
 *   step function returned (and of an unusable output) — except tensors that are part of
 *   `initialState`, which stay the caller's whatever happens. `tf.Variable`s are never disposed.
 */
export type StepFunction<S = unknown> = (tokens: tf.Tensor2D, context: StepContext<S>) => StepOutput<S> | Promise<StepOutput<S>>;

/** A `tf.LayersModel` or `tf.GraphModel` (anything with `predict` and, optionally, `inputs` / `outputs`). */
export interface PredictModel {
  /** Runs the model: one tensor, an array of tensors, or a map by input name in; the logits (and any state) out. */
  predict(x: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap, config?: object): unknown;
  /** The model's inputs, when it declares them: `generate` maps them by name (see `PredictIO`). */
  readonly inputs?: readonly {
    /** The input's name (`input_ids`, `attention_mask`, …). */
    readonly name?: string;
    /** Its shape, `null` for free dimensions. */
    readonly shape?: readonly (number | null)[] | undefined;
    /** Its dtype (`'int32'`, `'float32'`). */
    readonly dtype?: string;
  }[];
  /** The model's outputs, when it declares them: the logits first, then any state by name. */
  readonly outputs?: readonly {
    /** The output's name. */
    readonly name?: string;
  }[];
}

/**
 * What one input of a `predict` model gets each step (see {@link PredictIO}): the token ids
 * (`'tokens'`: the window, or with `feed: 'new'` the new tokens), the step context's
 * `'attentionMask'` or `'positionIds'`, an entry of the state (`{ state: key }`: at the first
 * step from `initialState`, after it from the outputs named in `PredictIO.state`), or a function
 * of the step context that returns a tensor (freed by `generate` after the step unless it is
 * part of the state or of `initialState`).
 */
export type PredictInput<S = unknown> =
  | 'tokens'
  | 'attentionMask'
  | 'positionIds'
  | {
      /** The key of the state entry this input gets. */
      readonly state: string;
    }
  | ((context: StepContext<S>) => tf.Tensor);

/**
 * How `generate` drives a `predict` model with several named inputs and outputs (a transformer
 * exported with `input_ids`, `attention_mask`, `position_ids` and past key/values).
 *
 * @example
 * // inputs input_ids, attention_mask, past.0.key …; outputs logits, present.0.key …
 * const io = {
 *   inputs: { input_ids: 'tokens', attention_mask: 'attentionMask', 'past.0.key': { state: 'k0' }, 'past.0.value': { state: 'v0' } },
 *   logits: 'logits',
 *   state: { k0: 'present.0.key', v0: 'present.0.value' },
 * };
 * await generate(model, { prompts, padId: 0, maxNewTokens: 32, feed: 'new', io, initialState: { k0: empty, v0: empty } });
 */
export interface PredictIO {
  /** Every input of the model, by name: what it gets. Passed to `predict` as an array in `model.inputs` order for a `LayersModel`, else as a named map (a `GraphModel`). */
  readonly inputs: Readonly<Record<string, PredictInput>>;
  /** The output with the logits: its name or index (default the first output). */
  readonly logits?: string | number;
  /**
   * Outputs carried to the next step, by state key → output name or index (e.g. the present
   * key/values). `generate` owns this state: it frees each step's previous entries (never those
   * of `initialState`), returns the last as {@link GenerateResult.state}, and frees it on abort
   * or error. Outputs not named here or as `logits` are freed after the step.
   */
  readonly state?: Readonly<Record<string, string | number>>;
}

/** What `generate` drives: a step function (logits from the step context) or a `predict` model. */
export type GenerateModel<S = unknown> = StepFunction<S> | PredictModel;

/** Why a row stopped. */
export type FinishReason = 'stop' | 'length';

/** One generated token's log-probabilities (see `SampledLogprobs` for the definitions). */
export interface TokenLogprob {
  /** log p(token) under the model's distribution (log-softmax of its logits). */
  readonly raw: number;
  /** log q(token) under the distribution it was drawn from (after the chain and temperature); NaN for `score`. */
  readonly processed: number;
  /** The `topLogprobs` most probable tokens under the chosen mode, descending (empty without `topLogprobs`). */
  readonly top: readonly {
    /** The token id. */
    readonly id: number;
    /** Its log-probability under the chosen mode. */
    readonly logprob: number;
  }[];
}

/** One streamed step. */
export interface GenerateStep {
  /** The step index: 0 for the first new token. */
  readonly step: number;
  /** The token of each row at this step; `padId` for rows that had finished before it. */
  readonly tokens: Int32Array;
  /** Per row, after this step: 1 if the row has finished. */
  readonly finished: Uint8Array;
  /**
   * With the `logprobs` option: this step's log-probabilities, per row; rows that had finished
   * before the step hold NaN and alternatives with id -1.
   */
  readonly logprobs?: SampledLogprobs;
  /**
   * With the `queue` option: per row, the request its token belongs to (an index into the
   * result's arrays), or -1 where the row drew none for a request at this step (idle, or being
   * fed a new prompt; its `tokens` entry is then `padId`).
   */
  readonly requests?: Int32Array;
  /**
   * With the `draft` option, each step is one verification pass: per row the tokens it added
   * (0 to γ + 1; `tokens` holds the last of them), and γ, the tokens proposed per row. The
   * tokens' log-probabilities are then in the result only (`logprobs` is absent from the steps).
   */
  readonly draft?: {
    /** Per row, the tokens this pass added (0 to γ + 1). */
    readonly tokens: readonly (readonly number[])[];
    /** γ: the tokens the draft proposed per row. */
    readonly proposed: number;
  };
}

/** A request waiting for a row (the `queue` option of `generate`). */
export interface QueuedRequest {
  /** Its prompt's token ids (at least one). */
  readonly prompt: ArrayLike<number>;
  /** Its seed: its tokens depend only on the prompt, the seed and the model. */
  readonly seed: number;
  /** How many tokens to generate at most (default: `maxNewTokens`, when that is one number). */
  readonly maxNewTokens?: number;
  /** Its grammar (with the `grammar` option), instead of the option's one for all; `null`: none. */
  readonly grammar?: GrammarInput | null;
}

/** What `generate` returns: the new tokens and sequences per row, why each stopped, and what the options asked for. */
export interface GenerateResult<S = unknown> {
  /**
   * The new tokens of each row, its stop token included, no pads. With a `queue`, this and the
   * other per-row arrays have one entry per request: the prompts' rows first, then the queue's.
   */
  readonly tokens: number[][];
  /** Prompt plus new tokens of each row, no pads. */
  readonly sequences: number[][];
  /** Per row, why it stopped: a stop token or sequence (`'stop'`) or its token budget (`'length'`). */
  readonly finishReasons: FinishReason[];
  /**
   * Steps run: the longest row's number of new tokens; with a `queue`, every step of the loop
   * (queued prompts' feeding steps included).
   */
  readonly steps: number;
  /** With the `logprobs` option: one entry per new token of each row, beside `tokens`. */
  readonly logprobs?: TokenLogprob[][];
  /** With `detokenize`: each row's new text. */
  readonly texts?: string[];
  /** With the `draft` option: acceptance and passes (`steps` then counts the target's forward passes). */
  readonly draft?: DraftStats;
  /**
   * The state the last step returned (`initialState` when no step returned one; for a `predict`
   * model, its `io.state` outputs of the last step, else `initialState`). The caller owns it: dispose its tensors (e.g. `tf.dispose(result.state)`)
   * when done with them.
   */
  readonly state: S | undefined;
}

/** Options of `generate`, `generateStream` and `score`: the prompts, the sampler, stopping, the model's inputs, grammar, logprobs, draft. */
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
  /**
   * Token sequences that end a row when its new tokens end with one of them (the prompt never
   * matches): one list of sequences for all rows, or one list per row.
   */
  stopSequences?: readonly (readonly number[])[] | readonly (readonly (readonly number[])[])[];
  /**
   * Strings that end a row when the text of its new tokens (by `detokenize`) contains one of
   * them, wherever the tokens split it: one list for all rows, or one list per row.
   */
  stopStrings?: readonly string[] | readonly (readonly string[])[];
  /** The text of a row's new tokens (needed by `stopStrings`; also gives `GenerateResult.texts`); with a `queue`, the second argument is the request's index. */
  detokenize?: (tokens: readonly number[], row: number) => string;
  /**
   * Whether the stop that ended a row stays in its result (default true: the stop token, the
   * stop sequence's tokens, the tokens that made the stop string). With false they are trimmed
   * from `tokens`, `sequences`, `logprobs` and `texts` (a stop string exactly from its first
   * character in `texts`; in `tokens`, from the token where it starts). Streamed steps are not
   * trimmed.
   */
  keepStop?: boolean;
  /** A sampler, or the options to create one (per-row parameters and seeds included). Default greedy. */
  sampler?: Sampler | SamplerOptions;
  /**
   * The window fed to the model each step: the last `contextLength` tokens of each row, left-padded
   * with `padId` when fewer, int32 `[B, contextLength]`. Default: all tokens `[B, T]` for a step
   * function and for a `predict` model driven through `io`; for a plain `predict` model, its fixed
   * input length, else all tokens. A fixed window keeps
   * the shape constant. Give one on GPU backends (e.g. `1` for a step function with a KV cache,
   * which needs only the newest token): tfjs pools freed GPU buffers (webgpu) and textures
   * (webgl) by size and never releases them, so a tensor of a new shape every step grows the
   * pool by one entry per step. History processors still get all tokens.
   */
  contextLength?: number;
  /**
   * What a step function gets as `tokens`: `'window'` (default) the tokens so far, or the last
   * `contextLength` of them; `'new'` the prompts (left-padded `[B, P]`) at the prefill step, then
   * only the token drawn at the previous step (`[B, 1]`): for models that keep a KV cache in
   * their `state` (`attentionMask()` then covers the cache too). Step functions, and `predict`
   * models with `io.state`.
   */
  feed?: 'window' | 'new';
  /**
   * Continuous batching: requests that take rows as rows finish. A row whose request ends takes
   * the next one; its prompt is fed one token a step from the next step on (the row draws
   * nothing meanwhile; `StepContext.restarted` marks its first token), then it draws at its own
   * steps from 0 with the request's seed: each request gets the tokens it gets alone, whatever
   * row and step it starts at. Needs `seeds` (one per prompt row) and a sampler with
   * `restartRows` (every `createSampler` sampler). Sampler options given per row apply to the
   * row, whichever request it serves; stops must be given for all rows. The result has one
   * entry per request. Not with `score`.
   */
  queue?: readonly QueuedRequest[];
  /** With `queue`: the seed of each prompt row's request (the queued requests carry theirs). */
  seeds?: readonly number[];
  /**
   * For a `predict` model with several inputs or outputs: how each input is made and which
   * outputs are the logits and the state (see {@link PredictIO}). With it, `feed: 'new'` works
   * for `predict` models too (a model that takes past key/values).
   */
  io?: PredictIO;
  /**
   * The first `state` a step function sees. Its tensors stay the caller's: `generate` never
   * disposes them, even when it disposes a later state that still holds them.
   */
  initialState?: S;
  /**
   * Stops the generation between steps; `generate` then rejects with the signal's reason (and
   * disposes the last state, see {@link StepFunction}).
   */
  signal?: AbortSignal;
  /** `generate` only: called after each step (awaited). If it throws, the generation ends with that error. */
  onStep?: (step: GenerateStep) => void | Promise<void>;
  /**
   * Log-probabilities of each new token (raw and processed) and, with `topLogprobs`, the most
   * probable alternatives, computed on the device and read back with the ids (still one
   * read-back per step): in {@link GenerateResult.logprobs} and each {@link GenerateStep}.
   * `true` is `{}`. The sampler must have `sampleWithLogprobs` (every `createSampler` sampler has).
   */
  logprobs?: boolean | LogprobsOptions;
  /**
   * Constrained output (JSON schema, regex, EBNF, choice): each step, each constrained row's
   * matcher gives the sampler its token bitmask (the only extra upload; still one read-back per
   * step), and the drawn token advances the matcher. A row ends when its output is complete
   * (`finishReasons` "stop"); a row whose grammar allows no token with a finite logit is an
   * invalid row (an error naming the row and step). The grammar constrains the new tokens only.
   */
  grammar?: GenerateGrammar;
  /**
   * Speculative decoding: a draft model proposes `tokens` (γ) tokens per row, the target (a step
   * function with `feed: 'new'`) scores the row's last token and the proposals in one call
   * (`tokens` `[B, γ + 1]` at `positionIds()`, `context.logitPositions` = γ + 1; return
   * `[B, T, V]`), and the sampler decides on the device which are kept: one read-back per pass.
   * Mode `'exact'` gives the tokens plain decoding gives for the same seeds (see the README for
   * the one caveat: a batched pass may round differently); `'rejection'` samples the target's
   * distribution with more tokens kept. Rows keep different numbers of tokens.
   *
   * **Cache contract (rollback by position).** Both models are fed per-row positions, and a
   * later call may feed a position again (the proposals the target rejected): a model must
   * overwrite its cache entry at a position it is fed and attend, for a token at position p,
   * only to entries at positions < p written since (plus the tokens of the call itself).
   * A draft step function gets its prompts at the prefill, then 2 tokens per row at the first
   * call of a pass (the row's last two: a proposal the draft never saw may be among them) and 1
   * after. Not with `queue`, `grammar` or user processors.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the draft keeps a state type of its own
  // biome-ignore lint/suspicious/noExplicitAny: the draft model's cache type is its own, unrelated to the target's
  draft?: DraftOptions<any>;
}

/**
 * Generates tokens for a batch of prompts until every row meets a stop token or its
 * `maxNewTokens`. One read-back per step (the sampled ids); a tensor of prompts is read once,
 * asynchronously, before the first step. The tokens so far are uploaded each step from a host
 * copy built from those ids (fixed-shape windows for `predict` models), and reach history
 * processors as `state.history`. The step function's last `state` comes back in the result (the
 * caller owns it) and is disposed when the generation fails or is aborted (see {@link StepFunction}).
 *
 * @example
 * const step = (tokens: tf.Tensor2D) => model.predict(tokens) as tf.Tensor2D; // [B, V]
 * const { tokens } = await generate(step, {
 *   prompts: [[5, 7], [9]], padId: 0, maxNewTokens: 20, stopTokens: [1],
 *   sampler: { temperature: 0.8, topP: 0.95, seed: [11, 12] },
 * });
 */
export async function generate<S = unknown>(model: GenerateModel<S>, options: GenerateOptions<S>): Promise<GenerateResult<S>> {
  // `options` is checked by the stream (a bad one rejects there, as a SamplingError).
  const onStep = typeof options === 'object' && options !== null ? options.onStep : undefined;
  return drain(generateStream(model, options), onStep);
}

/** Runs a stream to its end (awaiting `onStep` after each step) and returns its result. */
async function drain<S>(stream: AsyncGenerator<GenerateStep, GenerateResult<S>, undefined>, onStep?: GenerateOptions['onStep']): Promise<GenerateResult<S>> {
  let completed = false;
  try {
    for (;;) {
      const next = await stream.next();
      if (next.done) {
        completed = true;
        return next.value;
      }
      await onStep?.(next.value);
    }
  } finally {
    // onStep threw: end the suspended stream so that it frees what it holds.
    if (!completed) await stream.return(undefined as never);
  }
}

/**
 * `generate` as an async iterator of steps; its return value is the {@link GenerateResult}.
 * Breaking out of a `for await` loop ends the generation and frees its tensors, the last state
 * included. A `for await` loop that runs to the end drops the return value, and with it the last
 * `state`: when the step function's state holds tensors, call `next()` by hand until `done`
 * (or use {@link generate} with `onStep`) and dispose `value.state`.
 *
 * @example
 * for await (const { step, tokens, finished } of generateStream(model, options)) console.log(step, tokens);
 */
export function generateStream<S = unknown>(model: GenerateModel<S>, options: GenerateOptions<S>): AsyncGenerator<GenerateStep, GenerateResult<S>, undefined> {
  return run(model, options, undefined);
}

/** The loop of generate, generateStream and score (`forced`: each row's tokens to score instead of sampling). */
async function* run<S>(
  model: GenerateModel<S>,
  options: GenerateOptions<S>,
  forced: readonly (readonly number[])[] | undefined,
): AsyncGenerator<GenerateStep, GenerateResult<S>, undefined> {
  const plan = await checkOptions(model, options);
  const { batch, padId, maxNew, stops, signal, logprobs: lpPlan, grammar } = plan;
  const sampler = isSampler(options.sampler) ? options.sampler : createSampler(options.sampler ?? { temperature: 0 });
  if (lpPlan && typeof sampler.sampleWithLogprobs !== 'function') {
    throw new SamplingError('sampler', 'must have sampleWithLogprobs() for the logprobs option', new Described('a sampler without it'));
  }
  if (options.draft !== undefined) {
    if (!isSampler(options.sampler) && options.sampler?.draw === 'multinomial') {
      throw new SamplingError('sampler.draw', 'must be "gumbel" with a draft (the draft and the target draw with the same keyed noise)', 'multinomial');
    }
    const draft = checkDraft(options.draft, sampler, model, options, plan.prompts);
    return yield* runSpeculative({
      target: model as StepFunction<S>,
      draft,
      sampler,
      batch,
      padId,
      prompts: plan.prompts,
      maxNew,
      stops,
      stopSeqs: plan.stopSeqs,
      stopStrs: plan.stopStrs,
      detokenize: plan.detokenize,
      keepStop: plan.keepStop,
      signal,
      logprobs: lpPlan,
      initialState: options.initialState,
      callerOwned: new Set(tensorsIn(options.initialState)),
      tensorsIn,
    });
  }
  if (forced && forced.length !== batch) {
    throw new SamplingError('continuations', `must have one token array per prompt (batch size ${batch})`, new Described(`${forced.length} arrays`));
  }
  const { queue } = plan;
  const queued = queue !== undefined;
  if (queued && typeof sampler.restartRows !== 'function') {
    throw new SamplingError('sampler', 'must have restartRows() for the queue option', new Described('a sampler without it'));
  }
  // Results per request: the prompts' rows first, then the queue in order (without a queue, per row).
  const requests = batch + (queue?.length ?? 0);
  const promptOf = (q: number): number[] => (q < batch ? plan.prompts[q]! : queue![q - batch]!.prompt);
  const maxOf = (q: number): number => (q < batch ? maxNew[q]! : queue![q - batch]!.maxNew);
  const seedOf = (q: number): number => (q < batch ? plan.seeds![q]! : queue![q - batch]!.seed);
  const lps: TokenLogprob[][] = Array.from({ length: requests }, () => []);
  const { stopSeqs, stopStrs, detokenize, keepStop } = plan;
  // Where each request's kept result ends when a stop ended it: [tokens kept, text length kept].
  const cuts: (StopCut | undefined)[] = new Array(requests).fill(undefined);
  const stopCut = stopChecker(stops, stopSeqs, stopStrs, detokenize, requests);
  const finished = new Uint8Array(batch);
  const reasons: FinishReason[] = new Array<FinishReason>(requests).fill('length');
  const out: number[][] = Array.from({ length: requests }, () => []);
  // Each row's request; with a queue, the prompt tokens a row still has to be fed (one a step:
  // its outputs are not drawn from) and the rows whose next draw is their request's first.
  const reqOf = Int32Array.from({ length: batch }, (_, r) => r);
  const feeding: (number[] | undefined)[] = new Array(batch).fill(undefined);
  const restartDue = new Uint8Array(batch);
  let restarted = new Uint8Array(batch);
  let nextRequest = batch;
  const skip = new Uint8Array(batch); // queue: a row whose first request wants no token
  /** Rows whose output is not drawn from at this step: finished, or being fed a prompt. */
  const silentRows = (): Uint8Array => Uint8Array.from(finished, (f, r) => (f || feeding[r] !== undefined || skip[r] ? 1 : 0));
  // A row whose first request wants no token waits for a queued one (skip), if any wants a token:
  // else it is finished now, and a run where no request wants one calls the model not once.
  const queueWants = queue?.some((q) => q.maxNew > 0) ?? false;
  for (let r = 0; r < batch; r++) if (maxNew[r] === 0) queueWants ? (skip[r] = 1) : (finished[r] = 1);
  const callerOwned = new Set(tensorsIn(options.initialState));
  const callModel = modelCaller(model, options, callerOwned);
  const feedNew = options.feed === 'new';
  const stepWindow = typeof model === 'function' || options.io !== undefined ? options.contextLength : undefined;
  const historyProcessors = sampler.processors.some((p) => !isBuiltinProcessor(p));
  // The whole history as the model's tokens: not with feed 'new', whose steps get only the new
  // tokens (uploading a [B, T] that grows every step would also grow the GPU buffer pools).
  const needsHistory = historyProcessors || ((typeof model === 'function' || options.io !== undefined) && stepWindow === undefined && !feedNew);
  const store = plan.tokens;
  let state = options.initialState;
  let rejected: unknown; // an unusable step output: its tensors are freed with the state
  let completed = false;
  let step = 0;
  // The history processors (penalties, n-gram and bad-word bans, minNewTokens) see the prompts
  // (without padding) and then each drawn token, on the device; freed when the generation ends.
  sampler.begin?.(plan.prompts);
  try {
    while (finished.includes(0)) {
      signal?.throwIfAborted();
      // Uploaded from the host copy each step: fixed-shape windows and no per-step concat, whose
      // changing shapes would compile a new shader every step on webgl.
      const history = needsHistory ? store.tensor() : undefined;
      const tokens = feedNew ? store.window(step === 0 ? store.size : 1) : stepWindow === undefined ? history : store.window(stepWindow);
      const owned: tf.Tensor[] = [history, tokens].filter((t, i, all): t is tf.Tensor2D => t !== undefined && all.indexOf(t) === i);
      let data: Int32Array;
      let stepLogprobs: SampledLogprobs | undefined;
      try {
        const given = tokens?.shape[1] ?? 0;
        const made = (f: () => tf.Tensor2D): (() => tf.Tensor2D) => {
          let t: tf.Tensor2D | undefined;
          return () => {
            if (!t || t.isDisposed) owned.push((t = f()));
            return t;
          };
        };
        const context: StepContext<S> = {
          step,
          lengths: store.lengths(),
          finished: finished.slice(),
          state,
          phase: step === 0 ? 'prefill' : 'decode',
          restarted,
          attentionMask: made(() => store.mask(feedNew ? store.size : given)),
          positionIds: made(() => store.positions(given)),
        };
        const result = await callModel(tokens, store, context, (bad) => (rejected = bad));
        owned.push(result.logits);
        state = result.state;
        const logits = logitsAt(result.logits, batch);
        owned.push(logits);
        let sampleContext: SampleContext = history && historyProcessors ? { history } : {};
        if (queued && !forced) {
          // Rows whose request draws its first token now start over in the sampler (history,
          // Mirostat's μ); every row draws at its request's step with its request's seed.
          const due = Array.from(restartDue.keys()).filter((r) => restartDue[r]);
          if (due.length > 0)
            sampler.restartRows(
              due,
              due.map((r) => promptOf(reqOf[r]!)),
            );
          restartDue.fill(0);
          const steps = Array.from(reqOf, (q) => out[q]?.length ?? 0);
          const seeds = Array.from(reqOf, (q) => seedOf(q));
          sampleContext = { ...sampleContext, steps, seeds };
        }
        if (grammar && !forced) {
          // After the model call: on GPU backends its kernels run while the matchers work.
          const mask = await grammar.masks(silentRows(), reqOf, logits.shape[1]);
          if (mask) sampleContext = { ...sampleContext, mask };
        }
        if (forced) {
          // Teacher forcing (score): the given token, its raw log-probability read back.
          const vocab = logits.shape[1];
          forced.forEach((row, r) => {
            if (!finished[r] && row[step]! >= vocab)
              throw new SamplingError(`continuations[${r}][${step}]`, `must be a token id < the vocabulary size ${vocab}`, row[step]);
          });
          const host = Int32Array.from(forced, (row, r) => (finished[r] ? 0 : row[step]!));
          const ids = tf.tensor1d(host, 'int32');
          owned.push(ids);
          const lp = tf.tidy(() => rawLogprobAt(logits, ids));
          owned.push(lp);
          const raw = (await lp.data()) as Float32Array; // the one read-back of the step
          data = host;
          stepLogprobs = { ids: data, raw, processed: new Float32Array(batch).fill(NaN), mode: 'raw', topIds: [], topLogprobs: [] };
        } else if (lpPlan) {
          const packed = sampler.sampleWithLogprobs(logits, sampleContext, lpPlan);
          owned.push(packed);
          // The one read-back of the step: ids and log-probabilities packed together.
          stepLogprobs = unpackLogprobs((await packed.data()) as Float32Array, batch, { topLogprobs: (packed.shape[1] - PACKED_HEAD) / 2, mode: lpPlan.mode });
          data = stepLogprobs.ids;
        } else {
          const ids = sampler.sample(logits, sampleContext);
          owned.push(ids);
          data = (await ids.data()) as Int32Array; // the one read-back of the step
        }
      } finally {
        tf.dispose(owned);
      }
      const silent = silentRows();
      if (!forced) checkIds(data, silent, step, grammar);
      const column = new Int32Array(batch);
      const shownIds = new Int32Array(batch).fill(padId);
      const served = new Int32Array(batch).fill(-1);
      restarted = new Uint8Array(batch);
      /** Row r takes the next request (queue), fed from the next column on; else it finishes. */
      const takeNext = (r: number): void => {
        while (queued && nextRequest < requests) {
          const q = nextRequest++;
          if (maxOf(q) === 0) continue; // done before it starts: no tokens
          reqOf[r] = q;
          const prompt = promptOf(q);
          column[r] = prompt[0]!;
          store.startRow(r);
          restarted[r] = 1;
          feeding[r] = prompt.slice(1);
          if (feeding[r]!.length === 0) {
            feeding[r] = undefined;
            restartDue[r] = 1;
          }
          return;
        }
        finished[r] = 1;
        column[r] = padId;
      };
      for (let r = 0; r < batch; r++) {
        if (finished[r]) {
          column[r] = padId;
          continue;
        }
        if (skip[r]) {
          skip[r] = 0;
          takeNext(r);
          continue;
        }
        const feed = feeding[r];
        if (feed !== undefined) {
          column[r] = feed.shift()!;
          if (feed.length === 0) {
            feeding[r] = undefined;
            restartDue[r] = 1;
          }
          continue;
        }
        const q = reqOf[r]!;
        const id = data[r]!;
        column[r] = id;
        shownIds[r] = id;
        served[r] = q;
        out[q]!.push(id);
        if (stepLogprobs) {
          const n = stepLogprobs.topIds[r]?.length ?? 0;
          const top = Array.from({ length: n }, (_, i) => ({ id: stepLogprobs!.topIds[r]![i]!, logprob: stepLogprobs!.topLogprobs[r]![i]! }));
          lps[q]!.push({ raw: stepLogprobs.raw[r]!, processed: stepLogprobs.processed[r]!, top });
        }
        const cut = stopCut(r, q, out[q]!, id);
        const complete = grammar?.accept(r, id, step) ?? false;
        let done = false;
        if (complete && cut === undefined) {
          reasons[q] = 'stop';
          done = true;
        } else if (cut !== undefined) {
          reasons[q] = 'stop';
          cuts[q] = cut;
          done = true;
        } else if (out[q]!.length >= maxOf(q)) {
          done = true;
        }
        if (done) {
          if (queued) takeNext(r);
          else finished[r] = 1;
        }
      }
      store.push(column);
      signal?.throwIfAborted();
      const shownTokens = queued ? shownIds : column;
      const extra = queued ? { requests: served } : {};
      if (stepLogprobs && !forced) {
        const shown = stepLogprobs;
        for (let r = 0; r < batch; r++) {
          if (!silent[r]) continue;
          shown.ids[r] = padId;
          shown.raw[r] = NaN;
          shown.processed[r] = NaN;
          shown.topIds[r]!.fill(-1);
          shown.topLogprobs[r]!.fill(NaN);
        }
        yield { step, tokens: shownTokens, finished: finished.slice(), logprobs: shown, ...extra };
      } else {
        yield { step, tokens: shownTokens, finished: finished.slice(), ...extra };
      }
      step++;
    }
    // detokenize (a user callback) may throw: the state is the caller's only once we return.
    const texts = trimStops(out, lps, cuts, detokenize, keepStop);
    completed = true;
    return {
      tokens: out,
      sequences: out.map((row, q) => [...promptOf(q), ...row]),
      finishReasons: reasons,
      steps: step,
      ...(lpPlan || forced ? { logprobs: lps } : {}),
      ...(texts ? { texts } : {}),
      state,
    };
  } finally {
    grammar?.dispose();
    sampler.dispose?.();
    // Aborted, failed, or the consumer stopped iterating: nobody else can free the last state.
    if (!completed) {
      for (const t of [...tensorsIn(state), ...tensorsIn(rejected)]) if (!callerOwned.has(t)) t.dispose();
    }
  }
}

/** The options of `generate` that `score` does not take (it scores the given tokens, drawing none). */
const SCORE_EXCLUDED = [
  'maxNewTokens',
  'stopTokens',
  'stopSequences',
  'stopStrings',
  'detokenize',
  'keepStop',
  'sampler',
  'onStep',
  'logprobs',
  'queue',
  'seeds',
  'grammar',
  'draft',
] as const satisfies readonly (keyof GenerateOptions)[];

/** What `score` needs: `generate`'s model, prompts and state options, and the tokens to score. */
export interface ScoreOptions<S = unknown>
  extends Omit<
    GenerateOptions<S>,
    | 'maxNewTokens'
    | 'stopTokens'
    | 'stopSequences'
    | 'stopStrings'
    | 'detokenize'
    | 'keepStop'
    | 'sampler'
    | 'onStep'
    | 'logprobs'
    | 'queue'
    | 'seeds'
    | 'grammar'
    | 'draft'
  > {
  /** The tokens to score after each prompt, one array per row (of any lengths). */
  continuations: readonly ArrayLike<number>[];
}

/** What `score` returns: the log-likelihood of each row's continuation under the model (teacher forcing). */
export interface ScoreResult<S = unknown> {
  /** Per row, the raw log-probability of each continuation token given the prompt and the tokens before it. */
  readonly logprobs: number[][];
  /** Per row, their sum: the continuation's log-likelihood under the model. */
  readonly total: Float64Array;
  /** As {@link GenerateResult.state}: the caller owns it. */
  readonly state: S | undefined;
}

/**
 * The log-likelihood of given continuations under the model, in batches (teacher forcing): the
 * loop of `generate` with each row's next token given instead of drawn, the same windows,
 * masks and state handling, one read-back per step (the raw log-probabilities of that step's
 * tokens). For ranking candidate answers, evaluation (bits per token), or checking
 * `generate`'s logprobs.
 *
 * @example
 * const { total } = await score(step, { prompts: [[5, 7], [5, 7]], continuations: [[3, 1], [4]], padId: 0 });
 * // total[0]: log p(3 1 | 5 7); total[1]: log p(4 | 5 7)
 */
export async function score<S = unknown>(model: GenerateModel<S>, options: ScoreOptions<S>): Promise<ScoreResult<S>> {
  if (typeof options !== 'object' || options === null) throw new SamplingError('options', 'must be an object', options);
  const given = options.continuations;
  if (!Array.isArray(given)) throw new SamplingError('continuations', 'must be an array of token-id arrays (one per row)', given);
  const forced = idRows('continuations', given);
  const p = options.prompts;
  const batch = isTensor(p) ? p.shape[0] : Array.isArray(p) ? p.length : undefined;
  if (batch !== undefined && forced.length !== batch) {
    throw new SamplingError('continuations', `must have one token array per prompt (batch size ${batch})`, new Described(`${forced.length} arrays`));
  }
  // Every generate option ScoreOptions leaves out: from plain JavaScript, a stop token would
  // otherwise end a row's scoring early and silently drop its log-probabilities.
  for (const key of SCORE_EXCLUDED) {
    if ((options as unknown as Record<string, unknown>)[key] !== undefined)
      throw new SamplingError(key, 'is not an option of score (it scores the given tokens)', new Described('given'));
  }
  const { continuations: _c, ...rest } = options;
  const result = await drain(run(model, { ...rest, maxNewTokens: forced.map((row) => row.length), sampler: { temperature: 0 } }, forced));
  const logprobs = (result.logprobs ?? []).map((row) => row.map((t) => t.raw));
  const total = Float64Array.from(logprobs, (row) => row.reduce((a, v) => a + v, 0));
  return { logprobs, total, state: result.state };
}

/**
 * Every tensor inside `value`: itself, or in arrays, `Map`s (keys and values), `Set`s and the
 * own enumerable properties of objects, at any depth. `tf.Variable`s (model weights) and typed
 * arrays are not looked into.
 */
function tensorsIn(value: unknown): tf.Tensor[] {
  const found: tf.Tensor[] = [];
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (isTensor(v)) {
      if (!(v instanceof tf.Variable)) found.push(v);
      return;
    }
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
    if (v instanceof Map) {
      for (const [k, x] of v) {
        visit(k);
        visit(x);
      }
      return;
    }
    if (v instanceof Set || Array.isArray(v)) {
      for (const x of v) visit(x);
      return;
    }
    for (const key of Object.keys(v)) visit((v as Record<string, unknown>)[key]);
  };
  visit(value);
  return found;
}

interface Plan extends StopRules {
  batch: number;
  padId: number;
  maxNew: Float64Array;
  prompts: number[][];
  tokens: TokenStore;
  signal: AbortSignal | undefined;
  logprobs: LogprobsPlan | undefined;
  queue: { prompt: number[]; seed: number; maxNew: number }[] | undefined;
  seeds: number[] | undefined;
  grammar: GrammarRows | undefined;
}

function isSampler(s: unknown): s is Sampler {
  return typeof s === 'object' && s !== null && typeof (s as Sampler).sample === 'function';
}

function isTokenId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;
}

/**
 * Validates everything before any tensor exists, then reads a tensor of prompts (once,
 * asynchronously: a synchronous read throws on webgpu in Node and blocks a browser tab).
 */
async function checkOptions<S>(model: GenerateModel<S>, options: GenerateOptions<S>): Promise<Plan> {
  if (typeof model !== 'function' && !(typeof model === 'object' && model !== null && typeof model.predict === 'function')) {
    throw new SamplingError(
      'model',
      'must be a step function (tokens, context) => logits or a tfjs model with predict()',
      model === null ? null : typeof model,
    );
  }
  if (typeof options !== 'object' || options === null) throw new SamplingError('options', 'must be an object', options);
  const { padId, signal } = options;
  if (!isTokenId(padId)) throw new SamplingError('padId', 'must be an integer token id >= 0', padId);
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.throwIfAborted === 'function')) {
    throw new SamplingError('signal', 'must be an AbortSignal', signal);
  }
  if (options.onStep !== undefined && typeof options.onStep !== 'function') {
    throw new SamplingError('onStep', 'must be a function (step) => void', options.onStep === null ? null : new Described(typeof options.onStep));
  }
  if (options.contextLength !== undefined && !(Number.isInteger(options.contextLength) && options.contextLength >= 1)) {
    throw new SamplingError('contextLength', 'must be an integer >= 1', options.contextLength);
  }
  if (options.feed !== undefined && options.feed !== 'window' && options.feed !== 'new')
    throw new SamplingError('feed', 'must be "window" or "new"', options.feed);
  if (options.io !== undefined) checkIO(model, options.io);
  if (options.feed === 'new' && typeof model !== 'function' && options.io?.state === undefined) {
    throw new SamplingError('feed', 'must be "window" for a predict model without io.state (the cache would be lost between steps)', options.feed);
  }
  if (options.feed === 'new' && options.contextLength !== undefined)
    throw new SamplingError('contextLength', 'must not be given with feed "new" (the step function gets the new tokens only)', options.contextLength);
  const source = promptSource(options);
  const { batch, lengths } = source;
  const maxNew = resolveRowParam(
    'maxNewTokens',
    validateRowParam('maxNewTokens', options.maxNewTokens, { check: (n) => Number.isInteger(n) && n >= 0, rule: 'must be an integer >= 0' }),
    batch,
  );
  const stops = readStops(options.stopTokens, batch);
  const stopSeqs = readPerRow(
    'stopSequences',
    options.stopSequences,
    batch,
    (v): v is number[] => Array.isArray(v) && v.length > 0 && v.every(isTokenId),
    'a non-empty array of token ids',
    'stop sequences (arrays of token ids)',
  );
  const stopStrs = readPerRow(
    'stopStrings',
    options.stopStrings,
    batch,
    (v): v is string => typeof v === 'string' && v.length > 0,
    'a non-empty string',
    'stop strings',
  );
  const detokenize = options.detokenize;
  if (detokenize !== undefined && typeof detokenize !== 'function')
    throw new SamplingError('detokenize', 'must be a function (tokens, row) => string', detokenize);
  if (stopStrs.some((l) => l.length > 0) && !detokenize)
    throw new SamplingError('detokenize', 'must be given with stopStrings (the text is matched, not the tokens)', undefined);
  const keepStop = options.keepStop ?? true;
  if (typeof keepStop !== 'boolean') throw new SamplingError('keepStop', 'must be a boolean', keepStop);
  const logprobs = readLogprobs(options.logprobs);
  if (options.sampler !== undefined && !isSampler(options.sampler) && (typeof options.sampler !== 'object' || options.sampler === null)) {
    throw new SamplingError('sampler', 'must be a Sampler or SamplerOptions', options.sampler);
  }
  if (options.sampler !== undefined && !isSampler(options.sampler)) normalizeOptions(options.sampler, 'sampler');
  const { queue, seeds } = readQueue(options, batch);
  const grammar = GrammarRows.read(options.grammar, batch, stops, queue ? options.queue!.map((q) => q.grammar) : undefined);
  const prompts = await source.read();
  const width = source.width ?? Math.max(0, ...lengths);
  const tokens = new TokenStore(batch, width, width + Math.max(0, ...maxNew), padId);
  prompts.forEach((row, r) => tokens.setPrompt(r, row));
  return { batch, padId, maxNew, stops, stopSeqs, stopStrs, detokenize, keepStop, prompts, tokens, signal, logprobs, queue, seeds, grammar };
}

/** The queue and seeds options (continuous batching). */
function readQueue<S>(options: GenerateOptions<S>, batch: number): { queue: Plan['queue']; seeds: Plan['seeds'] } {
  const { queue, seeds } = options;
  if (queue === undefined) {
    if (seeds !== undefined) throw new SamplingError('seeds', 'is only for the queue option (give a sampler seed otherwise)', seeds);
    return { queue: undefined, seeds: undefined };
  }
  if (!Array.isArray(queue)) throw new SamplingError('queue', 'must be an array of requests { prompt, seed, maxNewTokens? }', queue);
  if (!Array.isArray(seeds) || seeds.length !== batch)
    throw new SamplingError('seeds', `must be given with queue: one seed per prompt row (batch size ${batch})`, seeds);
  seeds.forEach((v, r) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SamplingError(`seeds[${r}]`, 'must be a finite number', v);
  });
  const perRow = (v: unknown, isItem: (x: unknown) => boolean): boolean =>
    Array.isArray(v) && v.length > 0 && v.every((l) => Array.isArray(l) && l.every((x: unknown) => !isItem(x)));
  if (Array.isArray(options.stopTokens) && options.stopTokens.length > 0 && options.stopTokens.every((l) => Array.isArray(l)))
    throw new SamplingError('stopTokens', 'must be one list for all rows with queue (rows change requests)', new Described('one list per row'));
  if (perRow(options.stopSequences, (x) => typeof x === 'number'))
    throw new SamplingError('stopSequences', 'must be one list for all rows with queue (rows change requests)', new Described('one list per row'));
  if (perRow(options.stopStrings, (x) => typeof x === 'string'))
    throw new SamplingError('stopStrings', 'must be one list for all rows with queue (rows change requests)', new Described('one list per row'));
  const fallback = typeof options.maxNewTokens === 'number' ? options.maxNewTokens : undefined;
  const list = queue.map((q: unknown, i) => {
    if (typeof q !== 'object' || q === null) throw new SamplingError(`queue[${i}]`, 'must be a request { prompt, seed, maxNewTokens? }', q);
    const { prompt, seed, maxNewTokens } = q as QueuedRequest;
    if (!(Array.isArray(prompt) || ArrayBuffer.isView(prompt))) throw new SamplingError(`queue[${i}].prompt`, 'must be an array of token ids', prompt);
    const ids = Array.from(prompt as ArrayLike<unknown>).map((id, j) => {
      if (!isTokenId(id)) throw new SamplingError(`queue[${i}].prompt[${j}]`, 'must be an integer token id >= 0', id);
      return id;
    });
    if (ids.length === 0)
      throw new SamplingError(`queue[${i}].prompt`, 'must have at least one token (it is fed to the model)', new Described('an empty array'));
    if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new SamplingError(`queue[${i}].seed`, 'must be a finite number', seed);
    const max = maxNewTokens ?? fallback;
    if (max === undefined) throw new SamplingError(`queue[${i}].maxNewTokens`, 'must be given when maxNewTokens is per row', undefined);
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 0) throw new SamplingError(`queue[${i}].maxNewTokens`, 'must be an integer >= 0', max);
    return { prompt: ids, seed, maxNew: max };
  });
  return { queue: list, seeds: [...seeds] };
}

/** The logprobs option, checked as far as it can be before the vocabulary is known. */
function readLogprobs(lp: GenerateOptions['logprobs']): LogprobsPlan | undefined {
  if (lp === undefined || lp === false) return undefined;
  if (lp === true) return { topLogprobs: 0, mode: 'raw', raw: true };
  if (typeof lp !== 'object' || lp === null) throw new SamplingError('logprobs', 'must be true, false or { topLogprobs?, mode?, raw? }', lp);
  const n = lp.topLogprobs ?? 0;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new SamplingError('logprobs.topLogprobs', 'must be an integer >= 0', n);
  const mode: LogprobsMode = lp.mode ?? 'raw';
  if (mode !== 'raw' && mode !== 'processed') throw new SamplingError('logprobs.mode', 'must be "raw" or "processed"', mode);
  return { topLogprobs: n, mode, raw: rawOption(lp.raw, mode, 'logprobs.raw') };
}

/** The prompts' batch size and row lengths (checked now), and how to read their ids (checked then). */
interface PromptSource {
  batch: number;
  lengths: Int32Array;
  /** A tensor's width P; undefined for arrays (the longest row). */
  width: number | undefined;
  read: () => Promise<number[][]>;
}

function promptSource<S>(options: GenerateOptions<S>): PromptSource {
  const p = options.prompts;
  if (isTensor(p)) {
    assertOwnTensor(p, 'prompts');
    if (p.isDisposed) throw new SamplingError('prompts', 'must not be disposed', new Described(`a disposed tensor of shape [${p.shape.join(', ')}]`));
    if (p.rank !== 2 || p.dtype !== 'int32') {
      throw new SamplingError(
        'prompts',
        'must be an int32 tf.Tensor2D [B, P] (left-padded) or arrays of token ids',
        new Described(`a ${p.dtype} tensor of shape [${p.shape.join(', ')}]`),
      );
    }
    const [batch, width] = p.shape as [number, number];
    const given = options.promptLengths;
    if (given !== undefined && !(Array.isArray(given) || ArrayBuffer.isView(given))) {
      throw new SamplingError('promptLengths', 'must be an array of lengths, one per row', given);
    }
    const list: unknown[] = given === undefined ? new Array<number>(batch).fill(width) : Array.from(given as ArrayLike<unknown>);
    if (list.length !== batch) throw new SamplingError('promptLengths', `must have one length per row (batch size ${batch})`, given);
    list.forEach((n, r) => {
      if (!(typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= width))
        throw new SamplingError(`promptLengths[${r}]`, `must be an integer in [0, ${width}]`, n);
    });
    const lengths = Int32Array.from(list as number[]);
    const read = async (): Promise<number[][]> => {
      // The one read of the prompts, before the loop; it creates no tensor.
      const flat = (await p.data()) as Int32Array;
      const prompts = Array.from(lengths, (n, r) => Array.from(flat.subarray(r * width + width - n, (r + 1) * width)));
      prompts.forEach((row, r) =>
        row.forEach((id, i) => {
          if (!isTokenId(id)) throw new SamplingError(`prompts[${r}][${i}]`, 'must be an integer token id >= 0', id);
        }),
      );
      return prompts;
    };
    return { batch, lengths, width, read };
  }
  if (options.promptLengths !== undefined)
    throw new SamplingError('promptLengths', 'is only for a tensor of prompts (arrays carry their lengths)', options.promptLengths);
  if (!Array.isArray(p)) throw new SamplingError('prompts', 'must be an array of token-id arrays (one per row) or an int32 tf.Tensor2D', p);
  const prompts = idRows('prompts', p);
  return { batch: prompts.length, lengths: Int32Array.from(prompts, (row) => row.length), width: undefined, read: async () => prompts };
}

/** Rows of token ids (arrays or typed arrays), checked: `name[r][i]` names a bad one. */
function idRows(name: string, rows: readonly unknown[]): number[][] {
  return rows.map((row, r) => {
    if (!(Array.isArray(row) || ArrayBuffer.isView(row))) throw new SamplingError(`${name}[${r}]`, 'must be an array of token ids', row);
    const ids = Array.from(row as ArrayLike<unknown>);
    ids.forEach((id, i) => {
      if (!isTokenId(id)) throw new SamplingError(`${name}[${r}][${i}]`, 'must be an integer token id >= 0', id);
    });
    return ids as number[];
  });
}

/**
 * A list for all rows or one list per row (a per-row list holds lists of items), each item
 * checked by `ok`.
 */
function readPerRow<T>(name: string, given: unknown, batch: number, ok: (v: unknown) => v is T, what: string, plural: string): T[][] {
  if (given === undefined) return Array.from({ length: batch }, () => []);
  if (!Array.isArray(given)) throw new SamplingError(name, `must be an array of ${plural}, or one such array per row`, given);
  // Per row when every entry is a list of items that are not token ids (a stop sequence is
  // itself a list of ids; a stop string is a string).
  const perRow = given.length > 0 && given.every((l) => Array.isArray(l) && l.every((x: unknown) => typeof x !== 'number'));
  if (perRow && given.length !== batch)
    throw new SamplingError(name, `must have one list per row (batch size ${batch}) when given per row`, new Described(`${given.length} lists`));
  const lists = (perRow ? given : Array.from({ length: batch }, () => given)) as unknown[][];
  return lists.map((list, r) =>
    list.map((v, i) => {
      if (!ok(v)) throw new SamplingError(perRow ? `${name}[${r}][${i}]` : `${name}[${i}]`, `must be ${what}`, v);
      return v;
    }),
  );
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
  private data: Int32Array;
  private width: number;

  constructor(
    readonly batch: number,
    promptWidth: number,
    private capacity: number,
    private readonly padId: number,
  ) {
    this.data = new Int32Array(batch * capacity).fill(padId);
    this.width = promptWidth;
    this.pad = new Int32Array(batch).fill(promptWidth);
  }

  /** Per row: how many left pads precede its prompt. */
  private readonly pad: Int32Array;

  setPrompt(row: number, ids: readonly number[]): void {
    this.data.set(ids, row * this.capacity + this.width - ids.length);
    this.pad[row] = this.width - ids.length;
  }

  /** Tokens so far per row, padding included. */
  get size(): number {
    return this.width;
  }

  /** Per row: its real tokens so far (prompt and generated). */
  lengths(): Int32Array {
    return Int32Array.from(this.pad, (p) => this.width - p);
  }

  /** Row r starts over at the next column: everything before it becomes padding (a new request). */
  startRow(r: number): void {
    this.data.fill(this.padId, r * this.capacity, r * this.capacity + this.width);
    this.pad[r] = this.width;
  }

  /** int32 `[B, L]` over the last L columns (left of the store: padding): 1 on real tokens. */
  mask(length: number): tf.Tensor2D {
    return this.perColumn(length, (c, r) => (c >= this.pad[r]! ? 1 : 0));
  }

  /** int32 `[B, L]` over the last L columns: each real token's position in its row (0 on padding). */
  positions(length: number): tf.Tensor2D {
    return this.perColumn(length, (c, r) => (c >= this.pad[r]! ? c - this.pad[r]! : 0));
  }

  private perColumn(length: number, f: (column: number, row: number) => number): tf.Tensor2D {
    const out = new Int32Array(this.batch * length);
    for (let r = 0; r < this.batch; r++) {
      for (let i = 0; i < length; i++) {
        const c = this.width - length + i;
        out[r * length + i] = c >= 0 ? f(c, r) : 0;
      }
    }
    return tf.tensor2d(out, [this.batch, length], 'int32');
  }

  push(column: Int32Array): void {
    if (this.width === this.capacity) {
      // Full (a queue keeps rows going past the first requests): twice the room.
      const cap = 2 * this.capacity + 1;
      const next = new Int32Array(this.batch * cap).fill(this.padId);
      for (let r = 0; r < this.batch; r++) next.set(this.data.subarray(r * this.capacity, r * this.capacity + this.width), r * cap);
      this.data = next;
      this.capacity = cap;
    }
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

type Caller<S> = (
  tokens: tf.Tensor2D | undefined,
  store: TokenStore,
  context: StepContext<S>,
  /** Receives an output that is not `logits` or `{ logits, state }`, before the error is thrown. */
  reject: (output: unknown) => void,
) => Promise<{ logits: tf.Tensor; state: S | undefined }>;

/** Calls a step function and checks its output (logits, or `{ logits, state }`). @internal */
export async function callStep<S>(
  model: StepFunction<S>,
  tokens: tf.Tensor2D,
  context: StepContext<S>,
  reject: (output: unknown) => void,
  argument = 'model',
): Promise<{ logits: tf.Tensor; state: S | undefined }> {
  const out = await model(tokens, context);
  if (isTensor(out)) return { logits: out, state: context.state };
  if (typeof out === 'object' && out !== null && isTensor(out.logits)) {
    return { logits: out.logits, state: 'state' in out ? out.state : context.state };
  }
  reject(out);
  const what = Array.isArray(out)
    ? `an array of ${out.length}`
    : out === null
      ? 'null'
      : typeof out === 'object'
        ? `an object without a logits tensor`
        : typeof out;
  throw new SamplingError(argument, 'must return a logits tensor or { logits, state }', new Described(what));
}

function modelCaller<S>(model: GenerateModel<S>, options: GenerateOptions<S>, callerOwned: Set<tf.Tensor>): Caller<S> {
  if (typeof model !== 'function' && options.io !== undefined) return ioCaller(model, options.io, callerOwned) as unknown as Caller<S>;
  if (typeof model === 'function') return (tokens, _store, context, reject) => callStep(model, tokens!, context, reject);
  const input = model.inputs?.[0];
  const fixed = input?.shape?.[1];
  const window = options.contextLength ?? (typeof fixed === 'number' && fixed > 0 ? fixed : undefined);
  const dtype = input?.dtype === 'float32' ? 'float32' : 'int32';
  return async (tokens, store, context) => {
    const logits = tf.tidy(() => {
      const x = window === undefined ? (tokens ?? store.tensor()) : store.window(window);
      const out = model.predict(dtype === 'float32' ? tf.cast(x, 'float32') : x);
      if (!isTensor(out)) {
        throw new SamplingError(
          'model',
          'must return one logits tensor from predict()',
          new Described(Array.isArray(out) ? `${out.length} tensors` : typeof out),
        );
      }
      return out;
    });
    return { logits, state: context.state };
  };
}

/** The io mapping, checked before any tensor exists. */
function checkIO(model: unknown, io: unknown): void {
  if (typeof model === 'function')
    throw new SamplingError('io', 'is for predict models (a step function makes its own inputs)', new Described('a step function'));
  const m = model as PredictModel;
  if (typeof io !== 'object' || io === null) throw new SamplingError('io', 'must be an object { inputs, logits?, state? }', io);
  const { inputs, logits, state } = io as PredictIO;
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs) || Object.keys(inputs).length === 0) {
    throw new SamplingError('io.inputs', 'must be an object with one entry per model input (name → source)', inputs);
  }
  const stateKeys = state === undefined ? [] : Object.keys(state);
  const names = m.inputs?.map((i) => i.name).filter((n): n is string => typeof n === 'string') ?? [];
  for (const [name, src] of Object.entries(inputs)) {
    const ok =
      src === 'tokens' ||
      src === 'attentionMask' ||
      src === 'positionIds' ||
      typeof src === 'function' ||
      (typeof src === 'object' && src !== null && typeof (src as { state?: unknown }).state === 'string');
    if (!ok)
      throw new SamplingError(`io.inputs.${name}`, "must be 'tokens', 'attentionMask', 'positionIds', { state: key } or a function (context) => tensor", src);
    if (names.length > 0 && !names.includes(name) && !names.includes(`${name}:0`))
      throw new SamplingError(`io.inputs.${name}`, `must name an input of the model (${names.join(', ')})`, name);
  }
  for (const n of names) {
    if (!(n in inputs) && !(n.replace(/:0$/, '') in inputs))
      throw new SamplingError('io.inputs', `must give every input of the model (missing ${n})`, new Described(Object.keys(inputs).join(', ')));
  }
  const isOut = (v: unknown): boolean => typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
  if (logits !== undefined && !isOut(logits)) throw new SamplingError('io.logits', 'must be an output name or index', logits);
  if (state !== undefined) {
    if (typeof state !== 'object' || state === null || Array.isArray(state))
      throw new SamplingError('io.state', 'must be an object (state key → output name or index)', state);
    for (const k of stateKeys) if (!isOut(state[k])) throw new SamplingError(`io.state.${k}`, 'must be an output name or index', state[k]);
  }
}

/** A predict model driven through an io mapping: named inputs, the logits and state outputs picked by name. */
function ioCaller(model: PredictModel, io: PredictIO, callerOwned: Set<tf.Tensor>): Caller<Record<string, tf.Tensor>> {
  const order = model.inputs?.map((i) => i.name?.replace(/:0$/, '')) ?? [];
  const dtypes = new Map(model.inputs?.map((i) => [i.name?.replace(/:0$/, ''), i.dtype]) ?? []);
  // A LayersModel takes an array in its inputs' order; a GraphModel (or any other) a named map.
  const asArray = typeof (model as { getLayer?: unknown }).getLayer === 'function' && order.length > 0 && order.every((n) => n !== undefined);
  const outputNames = model.outputs?.map((o) => o.name?.replace(/:0$/, '')) ?? [];
  return async (tokens, store, context, reject) => {
    const previous = context.state;
    const made: tf.Tensor[] = [];
    let outputs: unknown;
    try {
      const feeds: Record<string, tf.Tensor> = {};
      for (const [name, src] of Object.entries(io.inputs)) {
        let t: tf.Tensor;
        if (src === 'tokens') t = tokens ?? store.tensor();
        else if (src === 'attentionMask') t = context.attentionMask();
        else if (src === 'positionIds') t = context.positionIds();
        else if (typeof src === 'function') {
          t = src(context as StepContext<unknown>);
          if (!isTensor(t)) throw new SamplingError(`io.inputs.${name}`, 'must return a tensor', new Described(typeof t));
          if (!tensorsIn(previous).includes(t) && !callerOwned.has(t)) made.push(t);
        } else {
          const v = previous?.[src.state];
          if (!isTensor(v))
            throw new SamplingError(
              `io.inputs.${name}`,
              `must find the state entry ${JSON.stringify(src.state)} (give it in initialState for the first step)`,
              new Described(v === undefined ? 'no such entry' : typeof v),
            );
          t = v;
        }
        if (dtypes.get(name) === 'float32' && t.dtype !== 'float32') made.push((t = tf.cast(t, 'float32')));
        feeds[name] = t;
      }
      outputs = model.predict(asArray ? order.map((n) => feeds[n!]!) : feeds);
    } finally {
      tf.dispose(made);
    }
    const list: tf.Tensor[] = isTensor(outputs)
      ? [outputs]
      : Array.isArray(outputs)
        ? outputs.filter(isTensor)
        : typeof outputs === 'object' && outputs !== null
          ? Object.values(outputs).filter(isTensor)
          : [];
    const pick = (key: string | number, what: string): tf.Tensor => {
      let t: unknown;
      if (typeof key === 'number')
        t = isTensor(outputs) ? (key === 0 ? outputs : undefined) : Array.isArray(outputs) ? outputs[key] : Object.values(outputs as object)[key];
      else if (Array.isArray(outputs)) t = outputs[outputNames.indexOf(key)];
      else if (isTensor(outputs)) t = outputNames[0] === key || outputNames.length === 0 ? outputs : undefined;
      else t = (outputs as Record<string, unknown>)[key] ?? (outputs as Record<string, unknown>)[`${key}:0`];
      if (!isTensor(t)) {
        reject(list);
        throw new SamplingError(what, `must name an output of the model${outputNames.length ? ` (${outputNames.join(', ')})` : ''}`, key);
      }
      return t;
    };
    const logits = pick(io.logits ?? 0, 'io.logits');
    const state: Record<string, tf.Tensor> = {};
    for (const [k, out] of Object.entries(io.state ?? {})) state[k] = pick(out, `io.state.${k}`);
    const kept = new Set([logits, ...Object.values(state)]);
    // Outputs not used, then the previous state (never the caller's initialState tensors).
    tf.dispose(list.filter((t) => !kept.has(t)));
    if (io.state !== undefined) for (const t of tensorsIn(previous)) if (!kept.has(t) && !callerOwned.has(t)) t.dispose();
    return { logits, state: io.state !== undefined ? state : previous };
  };
}

/**
 * `[B, V]` logits of position `i` among the last `positions` of a `[B, T, V]` result (a `[B, V]`
 * result is one position): `who` names the model in the errors. @internal
 */
export function logitsAt(logits: tf.Tensor, batch: number, positions = 1, i = positions - 1, who = 'model'): tf.Tensor2D {
  if (logits.isDisposed) {
    throw new SamplingError(
      who,
      'must return a live logits tensor (generate disposes it after sampling: return a new one each step)',
      new Described(`a disposed tensor of shape [${logits.shape.join(', ')}]`),
    );
  }
  const sizes = logits.shape.slice(1);
  const ok = (logits.rank === 2 || logits.rank === 3) && logits.shape[0] === batch && logits.dtype === 'float32' && sizes.every((n) => n >= 1);
  if (!ok) {
    throw new SamplingError(
      who,
      `must return float32 logits [B, V] or [B, T, V] with B = ${batch}`,
      new Described(`a ${logits.dtype} tensor of shape [${logits.shape.join(', ')}]`),
    );
  }
  const t = logits.rank === 2 ? 1 : logits.shape[1]!;
  if (t < positions)
    throw new SamplingError(
      who,
      `must return logits [B, T, V] for the last ${positions} positions with a draft (context.logitPositions)`,
      new Described(`shape [${logits.shape.join(', ')}]`),
    );
  if (logits.rank === 2) return logits as tf.Tensor2D;
  // Rows b·T + j of the [B·T, V] view: tfjs-backend-cpu slices a middle axis element by element
  // (≈10× a row gather at B = 4, T = 5, V = 3421).
  const v = logits.shape[2]!;
  const at = t - positions + i;
  return tf.tidy(
    () =>
      tf.gather(
        tf.reshape(logits, [batch * t, v]),
        tf.tensor1d(
          Int32Array.from({ length: batch }, (_, b) => b * t + at),
          'int32',
        ),
      ) as tf.Tensor2D,
  );
}

/** Invalid rows among those still generating (finished rows' logits are not looked at). @internal */
export function checkIds(ids: Int32Array, finished: Uint8Array, step: number, grammar: GrammarRows | undefined): void {
  const bad = invalidRowsIn(ids).filter(({ row }) => !finished[row]);
  if (bad.length > 0) {
    const err = new InvalidRowsError(bad);
    const stuck = bad.filter(({ row, cause }) => cause === 'no-finite-logit' && grammar?.constrained(row)).map(({ row }) => row);
    const why = stuck.length > 0 ? ` (row${stuck.length > 1 ? 's' : ''} ${stuck.join(', ')}: the grammar allows no token the model gives a finite logit)` : '';
    err.message = `step ${step}: ${err.message}${why}`;
    throw err;
  }
}
