import type * as tf from '@tensorflow/tfjs-core';
import type { RowParam } from './params.js';
import type { ReferenceState } from './reference/types.js';
import type { TokenHistoryView } from './history.js';
import type { DryOptions, LogitBias, PenalizePrompt } from './history-options.js';
import type { TokenMask } from './processors/token-mask.js';
import type { DynamicTemperatureOptions, MirostatOptions, XtcOptions } from './chain-options.js';

export type { RowParam } from './params.js';
export type { ReferenceState } from './reference/types.js';
export type { TokenHistoryView } from './history.js';
export type { DryOptions, LogitBias, PenalizePrompt } from './history-options.js';
export type { TokenMask } from './processors/token-mask.js';
export type { DynamicTemperatureOptions, MirostatOptions, XtcOptions } from './chain-options.js';

/**
 * What processors see and return. Scores stay in logit space: temperature is carried as a
 * per-row factor and applied where a processor needs probabilities, so that thresholds compare
 * logits exactly (in float32) the way the float64 reference does.
 */
export interface SamplingState {
  /** `[B, V]` float32 working logits, before temperature; filtered tokens are -Infinity. */
  readonly logits: tf.Tensor2D;
  /** B: the rows. */
  readonly batch: number;
  /** V: the vocabulary (the logits' width). */
  readonly vocab: number;
  /** Per-row accumulated 1 / temperature; Infinity marks a greedy (T = 0) row. */
  readonly invTemperature: Float64Array;
  /** The step this call samples (0 after `reset()`): every row's, unless `steps` is set. */
  readonly step: number;
  /**
   * Each row's step, when the call gave one per row (`sample(logits, { steps })`: rows that
   * started at different times). A processor with its own per-(row, step) coin reads
   * `steps?.[r] ?? step`.
   */
  readonly steps?: ArrayLike<number>;
  /**
   * Optional: the tokens so far, int32 `[B, T]` (prompt and generated tokens, left-padded), for
   * processors that need history (penalties, n-gram bans). Set by `generate()` or by
   * `sample(logits, { history })`; on the device, never read back by the sampler.
   */
  readonly history?: tf.Tensor2D;
  /**
   * The sampler's own token history, kept on the device and updated after each draw (counts over
   * the penalty window, the last tokens): what the built-in history processors read.
   */
  readonly tokens?: TokenHistoryView;
  /**
   * Each row's 32-bit key (from the seeds), the key of its draw noise: a processor that needs
   * its own random coin per (row, step) hashes it (XTC), so its tokens stay reproducible and
   * independent of the batch and the backend.
   */
  readonly keys?: Uint32Array;
  /**
   * True when a draw follows this call (`sample`), whose ids `accept` will hand over; false for
   * `process` / `probabilities`: a processor then keeps nothing of this call for `accept`.
   */
  readonly draws?: boolean;
}

/** Per-call context for `Sampler.sample` and friends. */
export interface SampleContext {
  /** int32 `[B, T]`: the tokens so far, handed to processors as `state.history`. */
  history?: tf.Tensor2D;
  /**
   * A token bitmask for this call (the layout of xgrammar / llguidance): bit `j & 31` of word
   * `j >> 5` allows token j; one `Int32Array` of ceil(V/32) words per row, or all rows in one.
   */
  mask?: TokenMask;
  /** Whether `sample` adds the drawn tokens to the sampler's history (default true). */
  accept?: boolean;
  /**
   * Per row, the step this call draws at (integers in [0, 2^32)) instead of the sampler's
   * `step`: for loops whose rows started at different times (continuous batching, where a row
   * that takes a new request starts again at 0). The sampler's own `step` still advances.
   */
  steps?: ArrayLike<number>;
  /**
   * Per row, the seed of this call instead of the sampler's (finite numbers): a new request in a
   * reused row brings its own. A row's key then comes from its seed alone, as with
   * `seed: [...]` per row at creation, so its tokens do not depend on its place in the batch.
   */
  seeds?: ArrayLike<number>;
}

/**
 * One step of the chain. `apply` runs inside the sampler's `tf.tidy`; it must not dispose or
 * modify its input. `reference` is the float64 twin (plain TypeScript, no tfjs) that lets
 * `reference.probabilities` / `reference.sample` prove the tensor code right.
 */
export interface LogitsProcessor {
  /** llama.cpp-style name, e.g. `'top-p'`; a disabled processor is named `'?top-p'`. */
  readonly name: string;
  /** The tensor step: the state's logits in, the processed logits out (tidied by the caller). */
  apply(state: SamplingState): SamplingState;
  /** The float64 twin of `apply` on plain arrays, for `reference.*` and the tests. */
  reference?(state: ReferenceState): ReferenceState;
  /**
   * Called after each draw with the drawn ids (int32 `[B]`, on the device; negative ids mark
   * invalid rows), unless `sample` was called with `{ accept: false }` — llama.cpp's `accept`:
   * where a processor updates state it keeps across steps (on the device: never read the ids back).
   * Not called inside a tidy: keep what you store with `tf.keep`, free it in `reset`.
   */
  accept?(ids: tf.Tensor1D): void;
  /** Frees what the processor keeps across calls (state, device caches); called by the sampler's `reset()` / `dispose()`. */
  reset?(): void;
  /**
   * Puts the given rows back in their initial state, the others untouched (`Sampler.restartRows`:
   * a new request takes a row). Required of processors that keep per-row state (those with
   * `accept`) for `restartRows`.
   */
  restartRows?(rows: readonly number[]): void;
  /**
   * An independent copy with the same state (llama.cpp's `clone`), for `Sampler.clone()`: what
   * one copy accepts or resets afterwards must not change the other. Required of processors that
   * keep state (those with `accept` or `reset`); a processor with neither is shared by the copies.
   */
  clone?(): LogitsProcessor;
}

/** What happens to a row with NaN, +Infinity, or no finite logit left. */
export type InvalidRowPolicy = 'error' | 'uniform' | 'greedy';

/** How the token is drawn from the processed distribution. */
export type DrawMethod = 'gumbel' | 'multinomial';

/** Names of the built-in processors, for `order`. */
export type BuiltinName = 'temperature' | 'top-n-sigma' | 'top-k' | 'top-p' | 'min-p' | 'typical-p' | 'epsilon-cutoff' | 'eta-cutoff' | 'xtc' | 'mirostat';

/** The anchors' default chains (see `NAMED_ORDERS`). */
export type NamedOrder = 'llama.cpp' | 'hf' | 'vllm';

/** Options of `createSampler`. Every numeric option is one value for all rows or one per row. */
export interface SamplerOptions {
  /** T ≥ 0 (0 = greedy). Scalar or one per row. Default 1. */
  temperature?: RowParam;
  /** Integer k ≥ 0 (0 or ≥ V = off). Default 0. */
  topK?: RowParam;
  /** p in (0, 1] (1 = off). Default 1. */
  topP?: RowParam;
  /** m in [0, 1] (0 = off). Default 0. */
  minP?: RowParam;
  /** n ≥ 0 (0 = off): keep logits ≥ max − n·σ of the row's finite logits (llama.cpp top-n-sigma). Default 0. */
  topNSigma?: RowParam;
  /** ε in [0, 1) (0 = off): drop tokens with probability below ε (Hugging Face `epsilon_cutoff`). Default 0. */
  epsilonCutoff?: RowParam;
  /** η in [0, 1) (0 = off): drop tokens below min(η, √η·exp(−H)) (Hugging Face `eta_cutoff`). Default 0. */
  etaCutoff?: RowParam;
  /** p in (0, 1] (1 = off): locally typical sampling (Hugging Face `typical_p`, llama.cpp `typical`). Default 1. */
  typicalP?: RowParam;
  /**
   * Integer ≥ 1: top-k, top-p, min-p, typical-p, ε- and η-cutoff keep at least this many tokens
   * (Hugging Face `min_tokens_to_keep`, llama.cpp `min_keep`; XTC does nothing where it would
   * keep fewer). Default 1.
   */
  minTokensToKeep?: RowParam;
  /** llama.cpp's XTC (exclude top choices); one object for all rows or one per row. */
  xtc?: XtcOptions | readonly (XtcOptions | undefined)[];
  /** llama.cpp's entropy-based dynamic temperature around `temperature`; one object or one per row. */
  dynamicTemperature?: DynamicTemperatureOptions | readonly (DynamicTemperatureOptions | undefined)[];
  /** llama.cpp's Mirostat v1 / v2 (μ kept per row on the device, cleared by `reset()`); one object or one per row. */
  mirostat?: MirostatOptions | readonly (MirostatOptions | undefined)[];
  /** One seed (row r uses (seed, r)) or one per row. Default: a random seed per sampler. */
  seed?: RowParam;
  /**
   * Order of the built-in processors: names, or an anchor's default chain (`'llama.cpp'`, `'hf'`,
   * `'vllm'`). Default {@link DEFAULT_ORDER}: temperature, top-n-sigma, top-k, top-p, min-p,
   * typical-p, epsilon-cutoff, eta-cutoff, xtc, mirostat.
   */
  order?: readonly BuiltinName[] | NamedOrder;
  /** Processors run before the built-ins (penalties, biases, bans…), in this order. */
  processors?: readonly LogitsProcessor[];
  /** Default `'gumbel'` (keyed by row seed and step). `'multinomial'` is tfjs's stock op. */
  draw?: DrawMethod;
  /** Default `'error'`. */
  invalidRows?: InvalidRowPolicy;
  /** θ in [1e-30, 1e30] (1 = off): seen tokens' logits divided by θ if positive, multiplied if not. */
  repetitionPenalty?: RowParam;
  /** In [-1e30, 1e30] (0 = off): logit −= frequencyPenalty · count. */
  frequencyPenalty?: RowParam;
  /** In [-1e30, 1e30] (0 = off): logit −= presencePenalty · [count > 0]. */
  presencePenalty?: RowParam;
  /** Integer in [1, 2^20] or Infinity (default): only the last n history tokens count for the penalties. */
  penaltyLastN?: RowParam;
  /** Per penalty, whether prompt tokens count. Default `{ repetition: true, frequency: false, presence: false, dry: true }`. */
  penalizePrompt?: PenalizePrompt;
  /** Integer n in [0, 64] (0 = off): no n-gram of the history is repeated (HF rule). */
  noRepeatNgramSize?: RowParam;
  /** Token sequences never to complete (HF rule); one-token sequences are always banned. */
  badWords?: readonly (readonly number[])[];
  /** token → bias (−Infinity bans); one map for all rows or one per row. */
  logitBias?: LogitBias | readonly LogitBias[];
  /** Integer ≥ 0 (0 = off): `stopTokens` are banned until a row generated that many tokens. */
  minNewTokens?: RowParam;
  /** The EOS and stop tokens `minNewTokens` suppresses. */
  stopTokens?: readonly number[];
  /** Only these tokens may be drawn; one list for all rows or one per row. */
  allowedTokens?: readonly number[] | readonly (readonly number[])[];
  /**
   * llama.cpp's DRY penalty: a token that would extend a repeat of the history's end (longer than
   * `allowedLength`) loses `multiplier · base^(n − allowedLength)`; one object for all rows or one
   * per row (`undefined` or multiplier 0: off for that row).
   */
  dry?: DryOptions | readonly (DryOptions | undefined)[];
}
