import * as tf from '@tensorflow/tfjs-core';
import { afterProcessors, fusedBackend, fusedPlan, gumbelArgmaxAvailable, runFused, runFusedLogprobs, runGumbelArgmax } from './backends/fused.js';
import { planRows, type RowPlan } from './plan.js';
import type { KeptLogits } from './backends/gpu-chain.js';
import { builtinProcessors, runChain, type ChainResult } from './chain.js';
import { Described, SamplingError } from './errors.js';
import { isValueArray } from './params.js';
import { assertOwnTensor, checkLogits, isTensor, type LogitsShape } from './logits.js';
import { isLogitsProcessor, normalizeOptions, type NormalizedOptions } from './options.js';
import { fillGumbel, rowKeys, stepKey, stepKeysOf, rowKey } from './noise.js';
import { FLT_MAX, firstArgMax, invTemperaturePair, rowMax, temperedSoftmax } from './processors/ops.js';
import { assertValidIds, INVALID_CODE, invalidCodes, PROCESSOR_INVALID_CODE, policyFallbackIds, policyRows } from './select/invalid.js';
import type { LogitsProcessor, RowParam, SampleContext, SamplerOptions, SamplingState } from './types.js';
import { TokenHistory } from './history.js';
import { historyNeeds, historyProcessors } from './history-chain.js';
import { checkHistoryVocab, historyStages } from './history-options.js';
import { HostTokenHistory, hostBackend, sparseStages } from './host-history.js';
import { DeviceCache } from './processors/ops.js';
import { maskRows, tokenMask } from './processors/token-mask.js';
import { mirostatFusedHooks } from './processors/mirostat.js';
import { logprobsPlan, packLogprobs, PACKED_HEAD, unpackLogprobs, type LogprobsOptions, type SampledLogprobs } from './logprobs.js';

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
   * (-1 NaN, -2 +Infinity, -3 no finite logit in the input; -4, -5, -6 the same made by a
   * processor: {@link INVALID_CODE}, {@link PROCESSOR_INVALID_CODE}), which {@link readIds} turns into an
   * `InvalidRowsError`; use {@link Sampler.sampleIds} to get both in one call.
   */
  sample(logits: tf.Tensor, context?: SampleContext): tf.Tensor1D;
  /** `sample` plus the one read-back a generation loop needs; throws `InvalidRowsError`. */
  sampleIds(logits: tf.Tensor, context?: SampleContext): Promise<Int32Array>;
  /**
   * `sample` with log-probabilities, packed with the ids in one float32 tensor `[B, 3 + 2n]`
   * (n = `topLogprobs`): per row the id, its raw and its processed log-probability, n
   * alternative ids, their log-probabilities (see {@link SampledLogprobs} for what each number
   * is). The same tokens as `sample` for the same seeds and step; advances the step and accepts
   * like it. Never reads back: {@link Sampler.sampleIdsWithLogprobs} reads and unpacks it once.
   */
  sampleWithLogprobs(logits: tf.Tensor, context?: SampleContext, options?: LogprobsOptions): tf.Tensor2D;
  /** `sampleWithLogprobs` plus its one read-back, unpacked; throws `InvalidRowsError` under `invalidRows: 'error'`. */
  sampleIdsWithLogprobs(logits: tf.Tensor, context?: SampleContext, options?: LogprobsOptions): Promise<SampledLogprobs>;
  /**
   * float32 `[B, V]`: the distribution each row is drawn from (does not advance the step). Like
   * every per-token output it keeps the input's rank: `[V]` in, `[V]` out. Invalid rows are NaN
   * rows under `invalidRows: 'error'`.
   */
  probabilities(logits: tf.Tensor1D, context?: SampleContext): tf.Tensor1D;
  /** The same for float32 `[B, V]` logits: `[B, V]` out. */
  probabilities(logits: tf.Tensor, context?: SampleContext): tf.Tensor2D;
  /**
   * float32 `[B, V]`: the logits after the whole chain, divided by each row's temperature
   * (greedy rows unscaled) and clamped to ±FLT_MAX; filtered tokens are -Infinity. The kept set is
   * where it is finite. `[V]` in, `[V]` out.
   */
  process(logits: tf.Tensor1D, context?: SampleContext): tf.Tensor1D;
  /** The same for float32 `[B, V]` logits: `[B, V]` out. */
  process(logits: tf.Tensor, context?: SampleContext): tf.Tensor2D;
  /**
   * Back to step 0 (the same seeds give the same tokens again) with an empty token history;
   * frees the history and the device caches of the processors.
   */
  reset(): void;
  /**
   * Starts a new token history for the history processors (penalties, n-gram and bad-word bans,
   * `minNewTokens`): each row's prompt tokens, without padding. Keeps the step. `generate()` calls
   * it with its prompts. Without it, the history holds the tokens drawn since the last reset.
   */
  begin(prompts: readonly (readonly number[])[]): void;
  /**
   * Continuous batching: the given rows take new requests. Each starts over from its prompt
   * (its history becomes that prompt, its per-row processor state such as Mirostat's μ is
   * reset); the other rows keep theirs. Give the new rows their step (0 at their first draw) and
   * their seed through `sample(logits, { steps, seeds })`: a row's tokens then do not depend on
   * when it started or on the other rows. Throws a `SamplingError` for a user processor that
   * keeps per-row state (`accept`) but has no `restartRows`.
   *
   * @example
   * sampler.restartRows([2], [[5, 9, 4]]); // row 2: a new prompt
   * steps[2] = 0; seeds[2] = 77;
   * const ids = sampler.sample(logits, { steps, seeds });
   */
  restartRows(rows: readonly number[], prompts: readonly ArrayLike<number>[]): void;
  /**
   * Adds drawn tokens (int32 `[B]`, on the device) to the history and hands them to the
   * processors' `accept` (Mirostat's μ learns from them). `sample` does it itself unless called
   * with `{ accept: false }`. A negative id (an invalid row) takes a place in the history, so it
   * counts for `minNewTokens` and moves the penalty windows, but penalizes no token.
   */
  accept(ids: tf.Tensor1D): void;
  /** Frees the device state (history, caches) and keeps the step; the next call starts an empty history. */
  dispose(): void;
  /**
   * An independent sampler in the same state: the same options, seeds and step, a copy of the
   * token history and of each user processor's state (`LogitsProcessor.clone`). Both draw the
   * same tokens for the same logits from here on, and what one accepts leaves the other as it
   * was: fork a row set for beam search, or keep a copy to return to when a speculative draft is
   * rejected. Throws a `SamplingError` for a user processor that keeps state (`accept` or
   * `reset`) but has no `clone`.
   */
  clone(): Sampler;
}

/**
 * What a loop that draws several positions per row before knowing which it keeps (speculative
 * decoding) needs besides `accept`: the history and the processors' per-row state updated
 * separately, rows that stop taking tokens on the device, and the host's counters told
 * afterwards how many each row took. @internal
 */
export interface RowHooks {
  /** Each row's noise key (the sampler's seeds). */
  keys(batch: number): Uint32Array;
  /** Adds one token per row to the token history only; rows where `active` (int32 `[B]`) is 0 take none. */
  acceptHistory(ids: tf.Tensor1D, active?: tf.Tensor1D): void;
  /** Hands the ids to the processors' `accept` only (negative ids: the row's state is left as it is). */
  acceptProcessors(ids: tf.Tensor1D): void;
  /** After `accepts` acceptHistory calls with `active` masks: row r took `taken[r]` tokens. */
  settleHistory(taken: ArrayLike<number>, accepts: number): void;
}

/** The keys of a {@link SampleContext}. */
const CONTEXT_KEYS = ['history', 'mask', 'accept', 'steps', 'seeds'] as const satisfies readonly (keyof SampleContext)[];

const ROW_HOOKS = new WeakMap<Sampler, RowHooks>();

/** The row hooks of a sampler made by `createSampler` (undefined for other objects). @internal */
export function rowHooks(sampler: Sampler): RowHooks | undefined {
  return ROW_HOOKS.get(sampler);
}

/** What a clone carries over from the sampler it copies. */
interface Carried {
  baseSeed: RowParam;
  step: number;
  lastPath: string;
  tokens: TokenHistory | HostTokenHistory | undefined;
  prompts: (readonly number[])[] | undefined;
  /** Rows restarted before the history existed, with their prompts (copied). */
  pending?: ReadonlyMap<number, number[]>;
  /** The built-in processors, cloned with their state. */
  builtins?: LogitsProcessor[];
}

/**
 * Creates a batched sampler. Default chain ({@link DEFAULT_ORDER}, only the enabled samplers):
 * temperature → top-nσ → top-k → top-p → min-p → typical-p → ε → η → XTC → Mirostat → draw.
 *
 * @example
 * const sampler = createSampler({ temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 42 });
 * const ids = sampler.sample(logits);          // int32 [B]
 * const tokens = await sampler.sampleIds(logits); // Int32Array, invalid rows throw
 */
export function createSampler(options: SamplerOptions = {}): Sampler {
  return build(normalizeOptions(options));
}

function build(opts: NormalizedOptions, carried?: Carried): Sampler {
  const history = historyProcessors(opts.history);
  const needs = historyNeeds(opts.history);
  // A clone carries the built-ins' state (Mirostat's μ) in its own copies.
  const builtinChain = carried?.builtins ?? builtinProcessors(opts);
  const processors = [...history, ...opts.processors, ...builtinChain];
  const maskCache = new DeviceCache();
  let tokens: TokenHistory | HostTokenHistory | undefined = carried?.tokens;
  let prompts: (readonly number[])[] | undefined = carried?.prompts;
  /** Rows restarted before the history exists (no begin(), no call yet): their prompts. */
  const pending = new Map<number, number[]>([...(carried?.pending ?? [])].map(([r, p]) => [r, [...p]]));
  // On cpu / wasm, history processors that are sparse edits of the logits (penalties, n-gram and
  // bad-word bans, min new tokens, bias) are patched into the fused kernel's rows: no [B, V] pass.
  const stages = historyStages(opts.history);
  const sparse = stages.length > 0 && sparseStages(stages);
  let stateless: HostTokenHistory | undefined; // edits without a history (a logit bias alone)
  const freeState = (): void => {
    pending.clear();
    tokens?.dispose();
    tokens = undefined;
    stateless = undefined;
    prompts = undefined;
    maskCache.dispose();
    for (const p of processors) p.reset?.();
  };
  /** The token history for this batch, created from the begun prompts on first use. */
  const tokensFor = (batch: number, vocab: number): TokenHistory | HostTokenHistory | undefined => {
    if (!needs) return undefined;
    if (tokens && (tokens.batch !== batch || tokens.vocab !== vocab)) {
      throw new SamplingError(
        'logits',
        `must keep the batch size and vocabulary of the sampler's token history ([${tokens.batch}, ${tokens.vocab}]) until reset() or begin()`,
        new Described(`shape [${batch}, ${vocab}]`),
      );
    }
    if (!tokens) {
      if (prompts && prompts.length !== batch) {
        throw new SamplingError('logits', `must have one row per prompt given to begin() (${prompts.length})`, new Described(`${batch} rows`));
      }
      if (!prompts && pending.size > 0) {
        // Rows restarted before the first call: their prompts, the other rows empty.
        if (Math.max(...pending.keys()) >= batch)
          throw new SamplingError(
            'logits',
            `must have a row for each row given to restartRows() (row ${Math.max(...pending.keys())})`,
            new Described(`${batch} rows`),
          );
        prompts = Array.from({ length: batch }, (_, r) => pending.get(r) ?? []);
        pending.clear();
      }
      prompts?.forEach((p, r) =>
        p.forEach((t, i) => {
          if (t >= vocab) throw new SamplingError(`prompts[${r}][${i}]`, `must be a token id < vocab size ${vocab}`, t);
        }),
      );
      tokens = sparse && hostBackend() ? new HostTokenHistory(batch, vocab, needs, prompts) : new TokenHistory(batch, vocab, needs, prompts);
    }
    return tokens;
  };
  /** The sparse-edit builder of this batch: the host history, or a stateless one (no history needed). */
  const sparseEditor = (batch: number, vocab: number): HostTokenHistory | undefined => {
    if (needs) {
      const t = tokensFor(batch, vocab);
      return t instanceof HostTokenHistory ? t : undefined;
    }
    if (!stateless || stateless.batch !== batch || stateless.vocab !== vocab) {
      stateless = new HostTokenHistory(batch, vocab, { countsAll: false, countsGenerated: false, lastN: (b) => new Float64Array(b).fill(Infinity), tail: 0 });
    }
    return stateless;
  };
  /**
   * cpu / wasm: the history stages as a row editor and this call's mask, applied by the fused
   * kernel to its own copy of each row; undefined when something needs the tensor chain (a stage
   * without a sparse form, a history kept as tensors) or there is nothing to apply.
   */
  const rowEdits = (
    shape: LogitsShape,
    context: SampleContext | undefined,
  ): { editRow?: (row: Float32Array, r: number) => number; mask?: Int32Array[] } | undefined => {
    const mask = context?.mask !== undefined ? maskRows(context.mask, shape.batch, shape.vocab) : undefined;
    if (stages.length === 0) return mask ? { mask } : undefined;
    const editor = sparse ? sparseEditor(shape.batch, shape.vocab) : undefined;
    if (!editor) return undefined;
    const editRow = editor.editor(opts.history, stages);
    return mask ? { editRow, mask } : { editRow };
  };
  const baseSeed = carried?.baseSeed ?? opts.seed ?? Math.floor(Math.random() * 2 ** 32);
  let step = carried?.step ?? 0;
  let lastPath = carried?.lastPath ?? 'portable';
  let keyCache: { batch: number; keys: Uint32Array } | undefined;
  let seedCache: { seeds: Float64Array; keys: Uint32Array } | undefined;
  const keysFor = (batch: number, context?: SampleContext): Uint32Array => {
    if (context?.seeds !== undefined) {
      // Per-call seeds: keys made again only when a seed changed (a request took a row).
      const seeds = Float64Array.from(context.seeds);
      if (!seedCache || seedCache.seeds.length !== seeds.length || seeds.some((v, r) => v !== seedCache!.seeds[r])) {
        seedCache = { seeds, keys: rowKeys(seeds, batch) };
      }
      return seedCache.keys;
    }
    if (keyCache?.batch !== batch) {
      keyCache = { batch, keys: rowKeys(baseSeed, batch) };
    }
    return keyCache.keys;
  };
  /** This call's step: the sampler's, or one per row from the context. */
  const stepsFor = (context: SampleContext | undefined): number | Float64Array => (context?.steps !== undefined ? Float64Array.from(context.steps) : step);

  /** Checks a call's arguments; returns the logits' shape and the options' plan for its batch. */
  const check = (logits: tf.Tensor, context: SampleContext | undefined): LogitsShape & { rows: RowPlan } => {
    const shape = checkLogits(logits);
    if (context !== undefined && (typeof context !== 'object' || context === null || Array.isArray(context))) {
      throw new SamplingError('context', `must be an object { ${CONTEXT_KEYS.map((k) => `${k}?`).join(', ')} }`, context);
    }
    // A misspelt key ({ step: … }) would otherwise be ignored, as an unknown option name is not.
    const unknown = context === undefined ? undefined : Object.keys(context).find((k) => !(CONTEXT_KEYS as readonly string[]).includes(k));
    if (unknown !== undefined) throw new SamplingError('context', `must only use known keys (${CONTEXT_KEYS.join(', ')})`, unknown);
    const rows = planRows(opts, shape.batch);
    if (tokens instanceof HostTokenHistory) tokens.assertBackend();
    checkHistoryVocab(opts.history, shape.vocab, shape.batch);
    if (context?.history !== undefined) checkHistory(context.history, shape.batch);
    if (context?.mask !== undefined) maskRows(context.mask, shape.batch, shape.vocab);
    if (context?.accept !== undefined && typeof context.accept !== 'boolean') throw new SamplingError('context.accept', 'must be a boolean', context.accept);
    if (context?.steps !== undefined || context?.seeds !== undefined) {
      if (opts.draw === 'multinomial')
        throw new SamplingError(
          context.steps !== undefined ? 'context.steps' : 'context.seeds',
          'must not be given with draw "multinomial" (tf.multinomial takes one seed per call)',
          new Described('per-row values'),
        );
      checkPerRow('context.steps', context.steps, shape.batch, (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32, 'must be an integer in [0, 2^32)');
      checkPerRow('context.seeds', context.seeds, shape.batch, Number.isFinite, 'must be a finite number');
    }
    return { ...shape, rows };
  };
  /** The processors before the built-in truncation chain: history, this call's mask, the user's. */
  const preChain = (shape: LogitsShape, context: SampleContext | undefined): LogitsProcessor[] =>
    context?.mask !== undefined
      ? [...history, tokenMask(maskRows(context.mask, shape.batch, shape.vocab), maskCache), ...opts.processors]
      : [...history, ...opts.processors];
  const initialState = (input: tf.Tensor2D, shape: LogitsShape, context: SampleContext | undefined, draws: boolean): SamplingState => {
    const t = tokensFor(shape.batch, shape.vocab);
    return {
      logits: input,
      batch: shape.batch,
      vocab: shape.vocab,
      invTemperature: new Float64Array(shape.batch).fill(1),
      step,
      ...(context?.steps !== undefined ? { steps: Float64Array.from(context.steps) } : {}),
      keys: keysFor(shape.batch, context),
      draws,
      ...(context?.history !== undefined ? { history: context.history } : {}),
      ...(t ? { tokens: t } : {}),
    };
  };
  const prepare = (logits: tf.Tensor, shape: LogitsShape, context: SampleContext | undefined, draws: boolean): Prepared => {
    const input = as2d(logits, shape);
    const { state, ...made } = runChain([...preChain(shape, context), ...builtinChain], initialState(input, shape, context, draws));
    return { input, made, state };
  };
  const checkDrawBackend = (): void => {
    const backend = tf.getBackend();
    if (opts.draw === 'multinomial' && (backend === 'webgpu' || backend === 'webgl')) {
      throw new SamplingError(
        'draw',
        `must not be "multinomial" on the ${backend} backend, where tf.multinomial's shader hash draws from a biased distribution (row 0 always gets token 0 on webgpu, tfjs issue 8057; measured biased on the other rows too)`,
        'multinomial',
        'Use the default draw "gumbel"',
      );
    }
  };
  /** Mirostat in a fused kernel: its μ goes in, the drawn tokens' surprise comes back to it. */
  const fusedMirostat = (batch: number): { mu: tf.Tensor1D; pending: (s: tf.Tensor1D) => void } | undefined => {
    const hooks = builtinChain.map(mirostatFusedHooks).find((h) => h !== undefined);
    return hooks ? { mu: hooks.mu(batch), pending: (sp: tf.Tensor1D) => hooks.pending(sp) } : undefined;
  };
  /** After a draw with logprobs: accept the ids as sample does, free them, advance the step. */
  const finish = (ids: tf.Tensor1D, packed: tf.Tensor2D, accept: boolean): tf.Tensor2D => {
    try {
      if (accept) {
        tokens?.accept(ids);
        for (const p of processors) p.accept?.(ids);
      }
    } catch (err) {
      packed.dispose();
      throw err;
    } finally {
      ids.dispose();
    }
    step++;
    return packed;
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
      checkDrawBackend();
      const keys = keysFor(shape.batch, context);
      const steps = stepsFor(context);
      if (shape.batch === 0) return tf.tensor1d([], 'int32');
      const pre = preChain(shape, context);
      const fused = fusedBackend();
      const plan = fused === undefined ? undefined : fusedPlan(opts, shape.rows, shape.vocab, keys, steps, pre.length > 0);
      let ids: tf.Tensor1D;
      const miro = plan?.mirostat ? fusedMirostat(shape.batch) : undefined;
      const edits = plan && (fused === 'cpu' || fused === 'wasm') && opts.processors.length === 0 ? rowEdits(shape, context) : undefined;
      if (plan && edits) {
        ids = tf.tidy(() => runFused(as2d(logits, shape), { ...plan, ...edits }, miro));
        lastPath = `fused:${fused}`;
      } else if (plan) {
        ids = tf.tidy(() => {
          const input = as2d(logits, shape);
          if (pre.length === 0) return runFused(input, plan, miro);
          // Penalties, bans, masks and the user's processors run first; the fused threshold and
          // draw kernels then run on what they produced (never replaced by the portable path).
          const gpu = fused === 'webgl' || fused === 'webgpu';
          // GPU: without user processors, this call's bitmask goes to the chain, whose threshold
          // and draw kernels read it themselves where they can (gpu-chain.ts): no masked copy.
          const maskToChain = gpu && context?.mask !== undefined && opts.processors.length === 0;
          const { state, ...made } = runChain(maskToChain ? history : pre, initialState(input, shape, context, true));
          // A user processor may have changed 1/T: the built-in temperature applies on top of it.
          const next = afterProcessors(plan, shape.rows, state.invTemperature);
          const onInput = history.length === 0;
          const drawn = runFused(
            state.logits,
            maskToChain ? { ...next, mask: maskRows(context.mask, shape.batch, shape.vocab), maskOnInput: onInput } : next,
            miro,
          );
          // The mask on the input itself: the chain's codes are the rule's (-6 where the mask
          // empties a row with a finite logit); no pass over the input for the rule.
          if (maskToChain && onInput) return drawn;
          if (gpu) return withInputCodes(input, made, drawn);
          const codes = invalidCodes(input, made, state.logits);
          return tf.where(tf.less(codes, 0), tf.cast(codes, 'int32'), drawn) as tf.Tensor1D;
        });
        lastPath = `fused:${fused}`;
      } else {
        const out = tf.tidy(() => {
          const { ids: drawnIds, drawKernel } = draw(opts, prepare(logits, shape, context, true), keys, baseSeed);
          return { ids: drawnIds, drawKernel };
        });
        ids = out.ids;
        lastPath = out.drawKernel ? `portable+draw:${tf.getBackend()}` : 'portable';
      }
      if (context?.accept !== false) {
        try {
          tokens?.accept(ids);
          for (const p of processors) p.accept?.(ids);
        } catch (err) {
          ids.dispose(); // a processor's accept threw: the caller never gets the ids to free
          throw err;
        }
      }
      step++;
      return ids;
    },
    sampleWithLogprobs(logits, context, options) {
      const shape = check(logits, context);
      const plan = logprobsPlan(options, shape.vocab);
      checkDrawBackend();
      const keys = keysFor(shape.batch, context);
      if (shape.batch === 0) return tf.zeros([0, PACKED_HEAD + 2 * plan.topLogprobs]) as tf.Tensor2D;
      // cpu / wasm: the fused kernel, which knows each row's kept set, packs the logprobs too.
      const pre = preChain(shape, context);
      const fused = fusedBackend();
      const host = fused === 'cpu' || fused === 'wasm';
      const fplan = host ? fusedPlan(opts, shape.rows, shape.vocab, keys, stepsFor(context), pre.length > 0) : undefined;
      const edits = fplan && opts.processors.length === 0 ? rowEdits(shape, context) : undefined;
      if (fplan && (edits || pre.length === 0)) {
        const miro = fplan.mirostat ? fusedMirostat(shape.batch) : undefined;
        const lp = { n: plan.topLogprobs, mode: plan.mode, raw: plan.raw };
        const res = tf.tidy(() => runFusedLogprobs(as2d(logits, shape), { ...fplan, ...edits }, lp, miro));
        lastPath = `fused:${fused}`;
        return finish(res.ids, res.packed, context?.accept !== false);
      }
      // webgl / webgpu: the GPU chain draws and packs (webgpu: one kernel reads the row after the
      // draw) or says which logits it kept (its keep test as tensor ops), and the packing
      // computes the log-probabilities at the drawn id and the top n.
      const gplan =
        (fused === 'webgl' || fused === 'webgpu') && pre.length === 0 && opts.invalidRows === 'error'
          ? fusedPlan(opts, shape.rows, shape.vocab, keys, stepsFor(context), false)
          : undefined;
      if (gplan && !gplan.dynamic) {
        const miro = gplan.mirostat ? fusedMirostat(shape.batch) : undefined;
        const res = tf.tidy(() => {
          const input = as2d(logits, shape);
          const kept: KeptLogits = { want: { n: plan.topLogprobs, mode: plan.mode, raw: plan.raw } };
          const ids = runFused(input, gplan, miro, kept);
          if (kept.packed) return { ids, packed: kept.packed };
          if (!kept.processed) throw new Error('tfjs-sampling (internal): the GPU chain did not report its kept logits');
          const codes = tf.cast(tf.minimum(ids, tf.scalar(0, 'int32')), 'float32') as tf.Tensor1D;
          return { ids, packed: packLogprobs({ input, processed: kept.processed, invTemperature: gplan.invT, codes, ids }, plan) };
        });
        lastPath = `fused:${fused}`;
        return finish(res.ids, res.packed, context?.accept !== false);
      }
      // Elsewhere the chain as tensor ops (the processed logits are needed), then the same draw
      // as the portable path of sample: the same tokens as the fused paths (the contract's tests).
      const out = tf.tidy(() => {
        const prepared = prepare(logits, shape, context, true);
        const drawn = draw(opts, prepared, keys, baseSeed);
        const { input, state } = prepared;
        const packed = packLogprobs(
          {
            input,
            processed: state.logits,
            invTemperature: state.invTemperature,
            codes: drawn.codes,
            ids: drawn.ids,
          },
          plan,
        );
        return { ids: drawn.ids, packed, drawKernel: drawn.drawKernel };
      });
      lastPath = out.drawKernel ? `portable+draw:${tf.getBackend()}` : 'portable';
      return finish(out.ids, out.packed, context?.accept !== false);
    },
    async sampleIdsWithLogprobs(logits, context, options) {
      const packed = sampler.sampleWithLogprobs(logits, context, options);
      try {
        const [batch, width] = packed.shape;
        const plan = { topLogprobs: (width - PACKED_HEAD) / 2, mode: options?.mode ?? 'raw' };
        const result = unpackLogprobs((await packed.data()) as Float32Array, batch, plan);
        if (opts.invalidRows === 'error') assertValidIds(result.ids);
        return result;
      } finally {
        packed.dispose();
      }
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
        return sameRank(distribution(opts, prepare(logits, shape, context, false)), shape);
      });
    }) as Sampler['probabilities'],
    process: ((logits: tf.Tensor, context?: SampleContext): tf.Tensor => {
      const shape = check(logits, context);
      if (shape.batch === 0) return tf.zeros([0, shape.vocab]) as tf.Tensor2D;
      return tf.tidy(() => {
        const { state } = prepare(logits, shape, context, false);
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
      freeState();
    },
    restartRows(rows, newPrompts) {
      if (!Array.isArray(rows)) throw new SamplingError('rows', 'must be an array of row indices', rows);
      const batch = tokens?.batch ?? prompts?.length;
      rows.forEach((r, i) => {
        if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || (batch !== undefined && r >= batch)) {
          throw new SamplingError(`rows[${i}]`, `must be a row index (an integer in [0, ${batch ?? 'B'}))`, r);
        }
        if (rows.indexOf(r) !== i) throw new SamplingError(`rows[${i}]`, 'must not repeat a row', r);
      });
      if (!Array.isArray(newPrompts) || newPrompts.length !== rows.length) {
        throw new SamplingError('prompts', `must be an array with one token array per restarted row (${rows.length})`, newPrompts);
      }
      const copy = newPrompts.map((p, i) => {
        if (!isValueArray(p)) throw new SamplingError(`prompts[${i}]`, 'must be an array of token ids', p);
        const row = Array.from(p as ArrayLike<unknown>);
        row.forEach((t, j) => {
          const ok = typeof t === 'number' && Number.isInteger(t) && t >= 0 && (tokens === undefined || t < tokens.vocab);
          if (!ok)
            throw new SamplingError(
              `prompts[${i}][${j}]`,
              tokens ? `must be a token id (an integer in [0, ${tokens.vocab}))` : 'must be a token id (an integer >= 0)',
              t,
            );
        });
        return row as number[];
      });
      opts.processors.forEach((p, i) => {
        if (p.accept && !p.restartRows) {
          throw new SamplingError(
            `processors[${i}]`,
            `(${JSON.stringify(p.name)}) must implement restartRows() for Sampler.restartRows(): it keeps per-row state (it has accept)`,
            new Described('no restartRows method'),
          );
        }
      });
      for (const p of processors) p.restartRows?.(rows);
      if (tokens) {
        tokens.restartRows(rows, copy);
      } else if (prompts) {
        prompts = prompts.slice();
        rows.forEach((r, i) => (prompts![r] = copy[i]!));
      } else if (needs) {
        rows.forEach((r, i) => pending.set(r, copy[i]!));
      }
    },
    begin(newPrompts) {
      if (!Array.isArray(newPrompts)) throw new SamplingError('prompts', 'must be an array with one token array per row', newPrompts);
      const copy = Array.from(newPrompts as unknown[], (p, r) => {
        if (!isValueArray(p)) throw new SamplingError(`prompts[${r}]`, 'must be an array of token ids', p);
        const row = Array.from(p as ArrayLike<unknown>);
        row.forEach((t, i) => {
          if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) throw new SamplingError(`prompts[${r}][${i}]`, 'must be a token id (an integer >= 0)', t);
        });
        return row as number[];
      });
      tokens?.dispose();
      tokens = undefined;
      pending.clear();
      prompts = copy;
    },
    accept(ids) {
      if (!isTensor(ids) || ids.isDisposed || ids.dtype !== 'int32' || ids.rank !== 1) {
        throw new SamplingError(
          'ids',
          'must be a live int32 [B] tensor of token ids',
          isTensor(ids) ? new Described(`a ${ids.dtype} tensor of shape [${ids.shape.join(', ')}]`) : ids,
        );
      }
      if (!needs) {
        for (const p of processors) p.accept?.(ids);
        return;
      }
      if (!tokens)
        throw new SamplingError(
          'ids',
          'can only be accepted after a sample() call of this history (the vocabulary is not known yet)',
          new Described('no history yet'),
        );
      if (ids.shape[0] !== tokens.batch)
        throw new SamplingError('ids', `must have one id per row (batch size ${tokens.batch})`, new Described(`shape [${ids.shape[0]}]`));
      tokens.accept(ids);
      for (const p of processors) p.accept?.(ids);
    },
    dispose() {
      freeState();
    },
    clone() {
      // Every stateful processor must clone: checked before any clone is made (nothing to undo).
      opts.processors.forEach((p, i) => {
        if (!p.clone && (p.accept || p.reset)) {
          throw new SamplingError(
            `processors[${i}]`,
            `(${JSON.stringify(p.name)}) must implement clone() for Sampler.clone(): it keeps state across steps (it has accept or reset)`,
            new Described('no clone method'),
          );
        }
      });
      const user: LogitsProcessor[] = [];
      for (const [i, p] of opts.processors.entries()) {
        const c = p.clone ? p.clone() : p;
        if (!isLogitsProcessor(c)) {
          user.forEach((made, j) => made !== opts.processors[j] && made.reset?.()); // free the clones made so far
          throw new SamplingError(`processors[${i}].clone()`, 'must return a LogitsProcessor ({ name, apply(state) })', c);
        }
        user.push(c);
      }
      const builtins = builtinChain.map((p) => (p.clone ? p.clone() : p));
      return build({ ...opts, processors: user }, { baseSeed, step, lastPath, tokens: tokens?.clone(), prompts, pending, builtins });
    },
  };
  ROW_HOOKS.set(sampler, {
    keys: (batch) => keysFor(batch),
    acceptHistory(ids, active) {
      tokens?.accept(ids, active);
    },
    acceptProcessors(ids) {
      for (const p of processors) p.accept?.(ids);
    },
    settleHistory(taken, accepts) {
      tokens?.settle(taken, accepts);
    },
  });
  return sampler;
}

/** A per-row context array: one number per row, each passing `ok`. */
function checkPerRow(name: string, value: unknown, batch: number, ok: (v: number) => boolean, rule: string): void {
  if (value === undefined) return;
  const arrayLike = isValueArray(value);
  if (!arrayLike) throw new SamplingError(name, `must be an array with one number per row (batch size ${batch})`, value);
  const a = value as ArrayLike<unknown>;
  if (a.length !== batch) throw new SamplingError(name, `must have one number per row (batch size ${batch})`, new Described(`${a.length} numbers`));
  for (let r = 0; r < batch; r++) {
    const v = a[r];
    if (typeof v !== 'number' || !ok(v)) throw new SamplingError(`${name}[${r}]`, rule, v);
  }
}

/**
 * Reads sampled ids (the one read-back per step) and throws `InvalidRowsError` on invalid rows.
 *
 * @example
 * const ids = sampler.sample(logits); // on the device, no read-back
 * const tokens = await readIds(ids); // one read; InvalidRowsError on invalid rows
 * ids.dispose();
 */
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
): { ids: tf.Tensor1D; drawKernel: boolean; codes: tf.Tensor1D } {
  const { batch, vocab, logits: z } = state;
  const greedy = greedyFlags(state);
  let zmaxT: tf.Tensor | undefined;
  const zmaxOf = (): tf.Tensor => (zmaxT ??= rowMax(z));
  const needNoiseAll = opts.invalidRows !== 'error';
  let noise: tf.Tensor2D | undefined;
  // GPU backends with the draw kernel compute the noise in the shader: no [B, V] upload.
  const inShader = opts.draw === 'gumbel' && gumbelArgmaxAvailable();
  // cpu / wasm: the fused kernel draws (no filter of its own): the noise is hashed only for
  // tokens whose score can still win, in float64 as the reference does. Policy 'error' only (the
  // other policies draw their fallback from the [B, V] noise below).
  const backend = fusedBackend();
  const onHost = opts.draw === 'gumbel' && opts.invalidRows === 'error' && (backend === 'cpu' || backend === 'wasm');
  const steps = state.steps ?? state.step;
  const stepKeys = inShader ? stepKeysOf(keys, steps) : undefined;
  const getNoise = (): tf.Tensor2D => {
    if (!noise) {
      const scale = needNoiseAll || opts.draw !== 'gumbel' ? undefined : Uint8Array.from(greedy, (g) => 1 - g);
      noise = tf.tensor2d(fillGumbel(keys, steps, vocab, new Float32Array(batch * vocab), scale), [batch, vocab]);
    }
    return noise;
  };
  let ids: tf.Tensor1D;
  const [ih] = invTemperaturePair(state.invTemperature);
  if (greedy.every((g) => g === 1)) {
    ids = firstArgMax(z);
  } else if (inShader) {
    ids = runGumbelArgmax(
      tf.mul(tf.sub(z, zmaxOf()), ih) as tf.Tensor2D,
      stepKeys!,
      Array.from(greedy, (g) => 1 - g),
    );
  } else if (onHost) {
    ids = runFused(z, {
      batch,
      vocab,
      invT: state.invTemperature,
      topK: new Float64Array(batch),
      topP: new Float64Array(batch).fill(1),
      minP: new Float64Array(batch),
      stepKeys: stepKeysOf(keys, steps),
      invalidRows: 'error',
      drawOnly: true,
    });
  } else if (opts.draw === 'gumbel') {
    let g: tf.Tensor = getNoise();
    if (needNoiseAll && greedy.some((x) => x === 1))
      g = tf.mul(
        g,
        tf.tensor2d(
          Float32Array.from(greedy, (x) => 1 - x),
          [batch, 1],
        ),
      );
    const score = tf.add(tf.mul(tf.sub(z, zmaxOf()), ih), g) as tf.Tensor2D;
    // Greedy rows (no noise) tie often; perturbed scores essentially never do.
    ids = greedy.some((x) => x === 1) ? firstArgMax(score) : (tf.argMax(score, 1) as tf.Tensor1D);
  } else {
    const a = tf.mul(tf.sub(z, zmaxOf()), ih) as tf.Tensor2D;
    // In (0, 1) with 24 bits: the cpu kernel hashes seed.toString(), wasm reads the float32
    // bits, the GPU kernels scale coordinates by it; 0 would mean "unseeded" to tfjs.
    const seed = ((stepKey(rowKey(baseSeed as number, undefined), state.step) >>> 8) | 1) / 16777216;
    const drawn = tf.reshape(tf.multinomial(a, 1, seed, false), [batch]) as tf.Tensor1D;
    ids = greedy.some((x) => x === 1) ? (tf.where(tf.tensor1d(Array.from(greedy), 'bool'), firstArgMax(z), drawn) as tf.Tensor1D) : drawn;
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
    fallback = policyFallbackIds(input, opts.invalidRows, uniformIds);
  }
  // The draw kernel counts as used when it drew the tokens of some (non-greedy) row.
  const drawKernel = (inShader || onHost) && !greedy.every((g) => g === 1);
  return { ids: tf.where(invalid, fallback, ids) as tf.Tensor1D, drawKernel, codes };
}

function distribution(opts: NormalizedOptions, { input, made, state }: Prepared): tf.Tensor2D {
  const { batch, vocab, logits: z } = state;
  const p = temperedSoftmax(z, state.invTemperature);
  const rows = (flag: tf.Tensor1D): tf.Tensor2D => tf.broadcastTo(tf.reshape(flag, [batch, 1]), [batch, vocab]) as tf.Tensor2D;
  const codes = invalidCodes(input, made, z);
  return tf.where(rows(tf.less(codes, 0) as tf.Tensor1D), policyRows(input, opts.invalidRows), p) as tf.Tensor2D;
}

/**
 * The invalid-row rule after processors, from one pass over the input (GPU backends, policy
 * 'error'): the draw kernel already scans the processed logits and codes a row it cannot draw
 * from. NaN and +Infinity in the input, and those a user processor made, decide first (the
 * input's codes and the processors' flags); otherwise a row the draw rejected has no finite
 * logit left — no built-in edit makes NaN or +Infinity from finite values (they saturate) — and
 * the cause is the processors when the input had a finite logit.
 */
function withInputCodes(input: tf.Tensor2D, made: { madeNaN?: tf.Tensor1D; madeInf?: tf.Tensor1D }, drawn: tf.Tensor1D): tf.Tensor1D {
  const codes = tf.cast(invalidCodes(input, made, input), 'int32'); // processed = input: its flags only
  const noneIn = tf.equal(codes, INVALID_CODE['no-finite-logit']);
  const decisive = tf.logicalAnd(tf.less(codes, 0), tf.logicalNot(noneIn));
  const none = tf.where(noneIn, codes, tf.fill(codes.shape, PROCESSOR_INVALID_CODE['no-finite-logit'], 'int32'));
  return tf.where(decisive, codes, tf.where(tf.less(drawn, 0), none, drawn)) as tf.Tensor1D;
}
