// Speculative decoding inside generate(): a draft model proposes γ tokens per row, the target
// scores them in one forward pass, and the sampler's keyed noise decides on the device which
// are kept. One read-back per verification pass (counts, tokens and log-probabilities packed).
import * as tf from '@tensorflow/tfjs-core';
import { isBuiltinProcessor } from './builtin.js';
import { Described, SamplingError } from './errors.js';
import { pickPerRowAt } from './processors/ops.js';
import { isTensor } from './logits.js';
import { stopChecker, trimStops, type StopCut, type StopRules } from './stops.js';
import { acceptUniform, residualUniform } from './noise.js';
import { PACKED_HEAD, rawLogprobAt, type LogprobsPlan } from './logprobs.js';
import { rowHooks, type Sampler } from './sampler.js';
import {
  callStep,
  checkIds,
  logitsAt,
  type FinishReason,
  type GenerateResult,
  type GenerateStep,
  type PredictModel,
  type StepContext,
  type StepFunction,
  type TokenLogprob,
} from './generate.js';

/** How the target decides which draft tokens to keep. */
export type DraftMode = 'exact' | 'rejection';

/**
 * The `draft` option of `generate`: a cheaper model that proposes `tokens` (γ) tokens per row,
 * which the target model checks in one forward pass.
 */
export interface DraftOptions<D = unknown> {
  /**
   * The draft model: a step function that keeps its cache by position (see
   * {@link GenerateOptions.draft}; it is fed 2 tokens per row at the first call of a pass, then
   * 1), or a `predict` model over a fixed window of token ids (fed its window each call).
   */
  readonly model: StepFunction<D> | PredictModel;
  /** γ: tokens proposed per row and pass (an integer in [1, 32]); with `adaptive`, the most. */
  readonly tokens: number;
  /**
   * `'exact'` (default): the draft draws with the same keyed noise as the target; a token is
   * kept while it equals the target's own draw, so the output is token for token the output of
   * plain decoding. `'rejection'`: Leviathan et al.'s test (keep x with probability
   * min(1, p(x)/q(x)), else draw from normalize(max(0, p − q))): the target's distribution,
   * not its tokens.
   */
  readonly mode?: DraftMode;
  /** Adapts γ between 1 and `tokens` by acceptance (Hugging Face's rule: +2 when every row kept all, else −1). */
  readonly adaptive?: boolean;
  /** The draft step function's first state (its tensors stay the caller's). */
  readonly initialState?: D;
  /** A `predict` draft's window (default: its input's fixed length). */
  readonly contextLength?: number;
  /** @internal Negative control of the tests: draw rejected positions from p instead of the residual. */
  readonly residualFrom?: 'residual' | 'p';
}

/** What the draft did, in the result of a generation with the `draft` option. */
export interface DraftStats {
  /** Target forward passes, the prefill included (each later one verifies a draft). */
  readonly passes: number;
  /** Per row: draft tokens proposed while the row was generating. */
  readonly proposed: number[];
  /**
   * Per row: draft tokens kept and emitted (a proposal the target kept past the row's end, its
   * `maxNewTokens` or a stop, is not counted).
   */
  readonly accepted: number[];
  /** Kept / proposed over all rows (0 when nothing was proposed). */
  readonly acceptanceRate: number;
  /**
   * New tokens per target forward pass (prefill included), over all rows: tokens / (rows ·
   * passes), the tokens counted before `keepStop: false` trims a stop (0 when no pass ran).
   */
  readonly tokensPerPass: number;
}

/** What the generate loop hands the speculative loop (checked there). */
export interface SpeculativeInput<S> extends StopRules {
  target: StepFunction<S>;
  draft: DraftOptions;
  sampler: Sampler;
  batch: number;
  padId: number;
  prompts: number[][];
  maxNew: Float64Array;
  signal: AbortSignal | undefined;
  logprobs: LogprobsPlan | undefined;
  initialState: S | undefined;
  callerOwned: Set<tf.Tensor>;
  tensorsIn: (v: unknown) => tf.Tensor[];
}

/** The draft option, checked before any tensor exists. */
export function checkDraft(
  draft: unknown,
  sampler: Sampler,
  target: unknown,
  options: { feed?: string; queue?: unknown; grammar?: unknown; io?: unknown; contextLength?: unknown },
  prompts: readonly (readonly number[])[],
): DraftOptions {
  if (typeof draft !== 'object' || draft === null) throw new SamplingError('draft', 'must be an object { model, tokens, mode? }', draft);
  const d = draft as DraftOptions;
  const isPredict = typeof d.model === 'object' && d.model !== null && typeof (d.model as PredictModel).predict === 'function';
  if (typeof d.model !== 'function' && !isPredict)
    throw new SamplingError('draft.model', 'must be a step function or a tfjs model with predict()', d.model === null ? null : new Described(typeof d.model));
  if (!(Number.isInteger(d.tokens) && d.tokens >= 1 && d.tokens <= 32)) throw new SamplingError('draft.tokens', 'must be an integer in [1, 32]', d.tokens);
  const mode = d.mode ?? 'exact';
  if (mode !== 'exact' && mode !== 'rejection') throw new SamplingError('draft.mode', 'must be "exact" or "rejection"', d.mode);
  if (d.adaptive !== undefined && typeof d.adaptive !== 'boolean') throw new SamplingError('draft.adaptive', 'must be a boolean', d.adaptive);
  if (d.residualFrom !== undefined && d.residualFrom !== 'residual' && d.residualFrom !== 'p')
    throw new SamplingError('draft.residualFrom', 'must be "residual" or "p"', d.residualFrom);
  if (d.contextLength !== undefined && !(Number.isInteger(d.contextLength) && d.contextLength >= 1))
    throw new SamplingError('draft.contextLength', 'must be an integer >= 1', d.contextLength);
  if (d.contextLength !== undefined && !isPredict)
    throw new SamplingError('draft.contextLength', 'is for a predict draft model (a step function keeps its own cache)', d.contextLength);
  if (isPredict && d.contextLength === undefined) {
    const fixed = (d.model as PredictModel).inputs?.[0]?.shape?.[1];
    if (!(typeof fixed === 'number' && fixed > 0))
      throw new SamplingError('draft.contextLength', 'must be given for a predict draft model without a fixed input length', undefined);
  }
  if (typeof target !== 'function')
    throw new SamplingError('model', 'must be a step function with a draft (it scores γ + 1 positions per call)', new Described('a predict model'));
  if (options.feed !== 'new') throw new SamplingError('feed', 'must be "new" with a draft (the target keeps its cache by position)', options.feed);
  if (options.queue !== undefined) throw new SamplingError('queue', 'is not supported with a draft', new Described('a queue'));
  if (options.grammar !== undefined) throw new SamplingError('grammar', 'is not supported with a draft', new Described('a grammar'));
  const hooks = rowHooks(sampler);
  if (!hooks) throw new SamplingError('sampler', 'must be made by createSampler for a draft (its history is rewound per row)', new Described('another object'));
  sampler.processors.forEach((p, i) => {
    if (!isBuiltinProcessor(p))
      throw new SamplingError(
        `sampler.processors[${i}]`,
        `(${JSON.stringify(p.name)}) must be a built-in processor with a draft`,
        new Described('a user processor'),
      );
  });
  if (mode === 'rejection' && sampler.processors.some((p) => p.name === 'mirostat')) {
    throw new SamplingError(
      'sampler.mirostat',
      'must be off with draft mode "rejection" (μ learns from the drawn token; use mode "exact")',
      new Described('mirostat on'),
    );
  }
  prompts.forEach((p, r) => {
    if (p.length === 0) throw new SamplingError(`prompts[${r}]`, 'must have at least one token with a draft', new Described('an empty prompt'));
  });
  return d;
}

/** The generation loop with a draft (see `GenerateOptions.draft`). */
export async function* runSpeculative<S>(input: SpeculativeInput<S>): AsyncGenerator<GenerateStep, GenerateResult<S> & { draft: DraftStats }, undefined> {
  const { target, draft, sampler, batch, padId, prompts, maxNew, stops, stopSeqs, stopStrs, detokenize, keepStop, signal, logprobs: lpPlan } = input;
  const hooks = rowHooks(sampler)!;
  const mode = draft.mode ?? 'exact';
  const gammaMax = draft.tokens;
  let gamma = gammaMax;
  const predictDraft = typeof draft.model !== 'function' ? (draft.model as PredictModel) : undefined;
  const draftWindow = predictDraft ? (draft.contextLength ?? (predictDraft.inputs![0]!.shape![1] as number)) : 0;
  const draftDtype = predictDraft?.inputs?.[0]?.dtype === 'float32' ? 'float32' : 'int32';
  const out: number[][] = Array.from({ length: batch }, () => []);
  const lps: TokenLogprob[][] = Array.from({ length: batch }, () => []);
  const reasons: FinishReason[] = new Array<FinishReason>(batch).fill('length');
  const cuts: (StopCut | undefined)[] = new Array(batch).fill(undefined);
  const stopCut = stopChecker(stops, stopSeqs, stopStrs, detokenize, batch);
  const finished = new Uint8Array(batch);
  const proposed = new Array<number>(batch).fill(0);
  const accepted = new Array<number>(batch).fill(0);
  for (let r = 0; r < batch; r++) if (maxNew[r] === 0) finished[r] = 1;
  const draftOwned = new Set(input.tensorsIn(draft.initialState));
  let state = input.initialState;
  let draftState = draft.initialState;
  let completed = false;
  let passes = 0;
  const keys = hooks.keys(batch);
  const lpWidth = lpPlan ? PACKED_HEAD + 2 * lpPlan.topLogprobs : 1;

  /** Adds row r's next token; returns whether the row finished. */
  const emit = (r: number, id: number, lp: TokenLogprob | undefined): boolean => {
    out[r]!.push(id);
    if (lp) lps[r]!.push(lp);
    const cut = stopCut(r, r, out[r]!, id);
    if (cut !== undefined) {
      reasons[r] = 'stop';
      cuts[r] = cut;
      finished[r] = 1;
    } else if (out[r]!.length >= maxNew[r]!) {
      finished[r] = 1;
    }
    return finished[r] === 1;
  };
  const lengthOf = (r: number): number => prompts[r]!.length + out[r]!.length;
  /** An unusable output's tensors join the pass's, freed with them. */
  const rejectInto =
    (owned: tf.Tensor[]) =>
    (bad: unknown): void =>
      void owned.push(...input.tensorsIn(bad));
  /** A step context over per-row positions (`first[r]` the position of the first fed token). */
  const contextOf = <T>(
    step: number,
    first: Int32Array,
    width: number,
    st: T | undefined,
    phase: 'prefill' | 'decode',
    owned: tf.Tensor[],
    logitPositions: number,
    mask?: Int32Array,
  ): StepContext<T> => {
    let am: tf.Tensor2D | undefined;
    let pi: tf.Tensor2D | undefined;
    return {
      step,
      lengths: Int32Array.from({ length: batch }, (_, r) => lengthOf(r)),
      finished: finished.slice(),
      state: st,
      phase,
      restarted: new Uint8Array(batch),
      logitPositions,
      attentionMask: () => {
        if (!am || am.isDisposed) owned.push((am = tf.tensor2d(mask ?? new Int32Array(batch * width).fill(1), [batch, width], 'int32')));
        return am;
      },
      positionIds: () => {
        if (!pi || pi.isDisposed) {
          const p = new Int32Array(batch * width);
          for (let r = 0; r < batch; r++) for (let i = 0; i < width; i++) p[r * width + i] = mask && !mask[r * width + i] ? 0 : Math.max(0, first[r]! + i);
          owned.push((pi = tf.tensor2d(p, [batch, width], 'int32')));
        }
        return pi;
      },
    };
  };
  // A sampler used before draws from its own step on, as plain decoding does.
  const stepBase = sampler.step;
  sampler.begin(prompts);
  try {
    // Prefill: the target over the prompts, the first token drawn as plain decoding draws it.
    // Like plain decoding's steps, none when no row wants a token (maxNewTokens 0, no prompts).
    if (finished.includes(0)) {
      signal?.throwIfAborted();
      const width = Math.max(...prompts.map((p) => p.length));
      const ids = new Int32Array(batch * width).fill(padId);
      const mask = new Int32Array(batch * width);
      prompts.forEach((p, r) => {
        ids.set(p, r * width + width - p.length);
        mask.fill(1, r * width + width - p.length, (r + 1) * width);
      });
      const first = Int32Array.from(prompts, (p) => width - p.length).map((pad) => -pad);
      const owned: tf.Tensor[] = [];
      let packed: Float32Array;
      try {
        const tokens = tf.tensor2d(ids, [batch, width], 'int32');
        owned.push(tokens);
        const ctx = contextOf(0, first, width, state, 'prefill', owned, 1, mask);
        const res = await callStep(target, tokens, ctx, rejectInto(owned));
        owned.push(res.logits);
        state = res.state;
        const logits = logitsAt(res.logits, batch);
        owned.push(logits);
        const steps = new Array<number>(batch).fill(stepBase);
        let pk: tf.Tensor;
        if (lpPlan) pk = sampler.sampleWithLogprobs(logits, { steps }, lpPlan);
        else {
          const ids = sampler.sample(logits, { steps }); // accepts outside any tidy
          owned.push(ids);
          pk = tf.cast(ids, 'float32');
        }
        owned.push(pk);
        packed = (await pk.data()) as Float32Array; // the one read-back of the step
        if (predictDraft === undefined) {
          // The draft's prefill (its cache of the prompts); its logits are not used.
          const dctx = contextOf(0, first, width, draftState, 'prefill', owned, 1, mask);
          const dres = await callStep(draft.model as StepFunction, tokens, dctx, rejectInto(owned), 'draft.model');
          owned.push(dres.logits);
          draftState = dres.state;
        }
      } finally {
        tf.dispose(owned.filter((t) => !input.tensorsIn(state).includes(t) && !input.tensorsIn(draftState).includes(t)));
      }
      checkIds(
        Int32Array.from({ length: batch }, (_, r) => packed[r * lpWidth]!),
        finished,
        0,
        undefined,
      );
      const shown = new Int32Array(batch).fill(padId);
      for (let r = 0; r < batch; r++) {
        if (finished[r]) continue;
        const id = packed[r * lpWidth]!;
        shown[r] = id;
        emit(r, id, lpPlan ? logprobOf(packed, r * lpWidth, lpPlan) : undefined);
      }
      passes++;
      signal?.throwIfAborted();
      yield { step: 0, tokens: shown, finished: finished.slice() };
    }
    while (finished.includes(0)) {
      signal?.throwIfAborted();
      const g = gamma;
      const owned: tf.Tensor[] = [];
      const steps0 = Array.from({ length: batch }, (_, r) => stepBase + out[r]!.length);
      const L = Int32Array.from({ length: batch }, (_, r) => lengthOf(r));
      const last = (r: number, back: number): number => {
        const k = out[r]!.length - back;
        return k >= 0 ? out[r]![k]! : prompts[r]![prompts[r]!.length + k]!;
      };
      let packed: Float32Array;
      try {
        // 1. The draft proposes g tokens per row with a copy of the target's sampler (the same
        //    chain and seeds; in 'exact' mode the same keyed noise as the target's draw).
        const ds = sampler.clone();
        const drafts: tf.Tensor1D[] = [];
        const q: tf.Tensor2D[] = [];
        try {
          let window: tf.Tensor2D | undefined;
          for (let i = 0; i < g; i++) {
            let dl: tf.Tensor2D;
            if (predictDraft) {
              if (i === 0) {
                const w = new Int32Array(batch * draftWindow).fill(padId);
                for (let r = 0; r < batch; r++) {
                  const all = [...prompts[r]!, ...out[r]!];
                  const tail = all.slice(Math.max(0, all.length - draftWindow));
                  w.set(tail, r * draftWindow + draftWindow - tail.length);
                }
                window = tf.tensor2d(w, [batch, draftWindow], 'int32');
              } else {
                const prev = window!;
                window = tf.tidy(() => tf.concat([tf.slice(prev, [0, 1], [batch, draftWindow - 1]), tf.reshape(drafts[i - 1]!, [batch, 1])], 1) as tf.Tensor2D);
              }
              owned.push(window);
              const x = window;
              const o = tf.tidy(() => {
                const y = predictDraft.predict(draftDtype === 'float32' ? tf.cast(x, 'float32') : x);
                if (!isTensor(y)) throw new SamplingError('draft.model', 'must return one logits tensor from predict()', new Described(typeof y));
                return y;
              });
              owned.push(o);
              dl = logitsAt(o, batch, 1, 0, 'draft.model');
            } else {
              const width = i === 0 ? 2 : 1;
              const first = Int32Array.from(L, (l) => (i === 0 ? l - 2 : l - 1 + i));
              let tokens: tf.Tensor2D;
              if (i === 0)
                tokens = tf.tensor2d(
                  Int32Array.from({ length: 2 * batch }, (_, k) => last(k >> 1, 2 - (k & 1))),
                  [batch, 2],
                  'int32',
                );
              else tokens = tf.reshape(drafts[i - 1]!, [batch, 1]) as tf.Tensor2D; // a new handle, disposed with `owned`
              owned.push(tokens);
              const ctx = contextOf(passes, first, width, draftState, 'decode', owned, 1);
              const res = await callStep(draft.model as StepFunction, tokens, ctx, rejectInto(owned), 'draft.model');
              owned.push(res.logits);
              draftState = res.state;
              dl = logitsAt(res.logits, batch, 1, 0, 'draft.model');
            }
            owned.push(dl);
            const steps = steps0.map((s) => s + i);
            if (mode === 'rejection') {
              const qi = ds.probabilities(dl, { steps });
              owned.push(qi);
              q.push(qi);
            }
            const d = ds.sample(dl, { steps });
            // An invalid draft row proposes token 0 (it is then checked like any proposal).
            const safe = tf.tidy(() => tf.maximum(d, tf.scalar(0, 'int32')) as tf.Tensor1D);
            d.dispose();
            owned.push(safe);
            drafts.push(safe);
          }
        } finally {
          ds.dispose();
        }
        // 2. The target scores the last token and the g proposals in one pass.
        const lastCol = tf.tensor2d(
          Int32Array.from({ length: batch }, (_, r) => last(r, 1)),
          [batch, 1],
          'int32',
        );
        owned.push(lastCol);
        const tokens = tf.tidy(() => tf.concat([lastCol, ...drafts.map((d) => tf.reshape(d, [batch, 1]))], 1) as tf.Tensor2D);
        owned.push(tokens);
        const ctx = contextOf(
          passes,
          Int32Array.from(L, (l) => l - 1),
          g + 1,
          state,
          'decode',
          owned,
          g + 1,
        );
        const res = await callStep(target, tokens, ctx, rejectInto(owned));
        owned.push(res.logits);
        state = res.state;
        // 3. Verification on the device: per position the target's draw (its history the tokens
        //    before it), whether the row is still accepting, what it emits.
        const u =
          mode === 'rejection'
            ? tf.tensor2d(
                Float32Array.from({ length: batch * g }, (_, k) => acceptUniform(keys[Math.floor(k / g)]!, steps0[Math.floor(k / g)]! + (k % g))),
                [batch, g],
              )
            : undefined;
        const ru =
          mode === 'rejection'
            ? tf.tensor2d(
                Float32Array.from({ length: batch * g }, (_, k) => residualUniform(keys[Math.floor(k / g)]!, steps0[Math.floor(k / g)]! + (k % g))),
                [batch, g],
              )
            : undefined;
        if (u) owned.push(u, ru!);
        let alive: tf.Tensor1D = tf.ones([batch], 'bool') as tf.Tensor1D;
        owned.push(alive);
        const cols: tf.Tensor2D[] = [];
        let count: tf.Tensor1D = tf.zeros([batch], 'int32') as tf.Tensor1D;
        owned.push(count);
        for (let i = 0; i <= g; i++) {
          const tl = logitsAt(res.logits, batch, g + 1, i);
          owned.push(tl);
          const steps = steps0.map((s) => s + i);
          const p = mode === 'rejection' ? sampler.probabilities(tl, { steps }) : undefined;
          if (p) owned.push(p);
          const pk = lpPlan
            ? sampler.sampleWithLogprobs(tl, { steps, accept: false }, lpPlan)
            : tf.tidy(() => tf.reshape(tf.cast(sampler.sample(tl, { steps, accept: false }), 'float32'), [batch, 1]) as tf.Tensor2D);
          owned.push(pk);
          const made = tf.tidy(() => {
            const t = tf.cast(tf.reshape(tf.slice(pk, [0, 0], [batch, 1]), [batch]), 'int32') as tf.Tensor1D;
            let e: tf.Tensor1D = t;
            let keep: tf.Tensor1D | undefined;
            if (i < g) {
              const d = drafts[i]!;
              if (mode === 'exact') {
                keep = tf.equal(t, d) as tf.Tensor1D;
              } else {
                const pd = pickPerRowAt(p!, d);
                const qd = pickPerRowAt(q[i]!, d);
                const ui = tf.reshape(tf.slice(u!, [0, i], [batch, 1]), [batch]);
                keep = tf.less(tf.mul(ui, qd), pd) as tf.Tensor1D;
                const from = draft.residualFrom === 'p' ? p! : (tf.relu(tf.sub(p!, q[i]!)) as tf.Tensor2D);
                const r = inverseCdf(from, tf.reshape(tf.slice(ru!, [0, i], [batch, 1]), [batch]) as tf.Tensor1D);
                e = tf.where(keep, d, r) as tf.Tensor1D;
              }
            }
            const emitted = tf.where(alive, e, tf.fill([batch], -1, 'int32')) as tf.Tensor1D;
            let col: tf.Tensor2D;
            if (lpPlan) {
              let head: tf.Tensor = tf.slice(pk, [0, 0], [batch, PACKED_HEAD]);
              if (mode === 'rejection') {
                const safe = tf.maximum(emitted, tf.scalar(0, 'int32')) as tf.Tensor1D;
                const raw = lpPlan.raw ? rawLogprobAt(tl, safe) : tf.fill([batch], NaN);
                const proc = tf.log(pickPerRowAt(p!, safe));
                head = tf.stack([tf.cast(emitted, 'float32'), raw, proc], 1);
              } else {
                head = tf.concat([tf.reshape(tf.cast(emitted, 'float32'), [batch, 1]), tf.slice(pk, [0, 1], [batch, PACKED_HEAD - 1])], 1);
              }
              col = tf.concat([head, tf.slice(pk, [0, PACKED_HEAD], [batch, lpWidth - PACKED_HEAD])], 1) as tf.Tensor2D;
            } else {
              col = tf.reshape(tf.cast(emitted, 'float32'), [batch, 1]) as tf.Tensor2D;
            }
            const nextAlive = keep ? (tf.logicalAnd(alive, keep) as tf.Tensor1D) : alive;
            // The history takes what the row emits here while it is still accepting: the
            // proposal where kept (what the next position's chain must see), the correction where
            // not; a row that stopped takes nothing more (its host counters are settled after the
            // read-back). Nothing goes back, so nothing is uploaded again.
            const active = tf.cast(alive, 'int32') as tf.Tensor1D;
            return { emitted, pushed: tf.clone(e), active, col, nextAlive: tf.clone(nextAlive), count: tf.add(count, active) as tf.Tensor1D };
          });
          owned.push(made.emitted, made.pushed, made.active, made.col, made.nextAlive, made.count);
          hooks.acceptHistory(made.pushed, made.active);
          hooks.acceptProcessors(made.emitted);
          cols.push(made.col);
          alive = made.nextAlive;
          count = made.count;
        }
        const all = tf.tidy(() => tf.concat([tf.reshape(tf.cast(count, 'float32'), [batch, 1]), ...cols], 1));
        owned.push(all);
        packed = (await all.data()) as Float32Array; // the one read-back of the pass
      } finally {
        const keep = new Set([...input.tensorsIn(state), ...input.tensorsIn(draftState)]);
        tf.dispose(owned.filter((t) => !keep.has(t)));
      }
      passes++;
      // 4. The host: how many tokens each row's history took (its count), each row's tokens, stops.
      const width = 1 + (g + 1) * lpWidth;
      hooks.settleHistory(
        Int32Array.from({ length: batch }, (_, r) => packed[r * width]!),
        g + 1,
      );
      const shown = new Int32Array(batch).fill(padId);
      const emittedRows: number[][] = [];
      const codes = new Int32Array(batch); // the invalid rows' codes (< 0) among the emitted tokens
      let allKept = true;
      for (let r = 0; r < batch; r++) {
        emittedRows.push([]);
        if (finished[r]) continue;
        const o = r * width;
        const n = packed[o]!;
        proposed[r]! += g;
        if (n - 1 < g) allKept = false;
        for (let k = 0; k < n; k++) {
          const at = o + 1 + k * lpWidth;
          const id = packed[at]!;
          if (id < 0) {
            codes[r] = id;
            break;
          }
          emittedRows[r]!.push(id);
          shown[r] = id;
          // The first n − 1 tokens are kept proposals, the n-th the target's own draw.
          if (k < n - 1) accepted[r]!++;
          if (emit(r, id, lpPlan ? logprobOf(packed, at, lpPlan) : undefined)) break;
        }
      }
      checkIds(codes, new Uint8Array(batch), passes - 1, undefined);
      if (draft.adaptive) gamma = allKept ? Math.min(gammaMax, gamma + 2) : Math.max(1, gamma - 1);
      signal?.throwIfAborted();
      yield { step: passes - 1, tokens: shown, finished: finished.slice(), draft: { tokens: emittedRows, proposed: g } };
    }
    // Counted before trimStops drops a stop (keepStop false): the pass generated it.
    const totalTokens = out.reduce((a, row) => a + row.length, 0);
    // detokenize (a user callback) may throw: the states are the caller's only once we return.
    const texts = trimStops(out, lps, cuts, detokenize, keepStop);
    const totalProposed = proposed.reduce((a, b) => a + b, 0);
    const totalAccepted = accepted.reduce((a, b) => a + b, 0);
    const draftStats: DraftStats = {
      passes,
      proposed,
      accepted,
      acceptanceRate: totalProposed > 0 ? totalAccepted / totalProposed : 0,
      tokensPerPass: passes > 0 ? totalTokens / (batch * passes) : 0,
    };
    if (draftState !== undefined) for (const t of input.tensorsIn(draftState)) if (!draftOwned.has(t)) t.dispose();
    completed = true;
    return {
      tokens: out,
      sequences: out.map((row, r) => [...prompts[r]!, ...row]),
      finishReasons: reasons,
      steps: passes,
      ...(lpPlan ? { logprobs: lps } : {}),
      ...(texts ? { texts } : {}),
      state,
      draft: draftStats,
    };
  } finally {
    sampler.dispose?.();
    if (!completed) {
      for (const t of input.tensorsIn(state)) if (!input.callerOwned.has(t)) t.dispose();
      for (const t of input.tensorsIn(draftState)) if (!draftOwned.has(t)) t.dispose();
    }
  }
}

/** One packed token's log-probabilities. */
function logprobOf(packed: Float32Array, at: number, plan: LogprobsPlan): TokenLogprob {
  const n = plan.topLogprobs;
  const top = Array.from({ length: n }, (_, i) => ({ id: packed[at + PACKED_HEAD + i]!, logprob: packed[at + PACKED_HEAD + n + i]! }));
  return { raw: packed[at + 1]!, processed: packed[at + 2]!, top };
}

/**
 * Per row, the token at which the cumulative sum of `weights` (≥ 0, unnormalized) first reaches
 * u · total: a draw from normalize(weights) with one uniform u per row.
 */
export function inverseCdf(weights: tf.Tensor2D, u: tf.Tensor1D): tf.Tensor1D {
  const [b, v] = weights.shape;
  const cdf = tf.cumsum(weights, 1);
  const total = tf.slice(cdf, [0, v - 1], [b, 1]);
  const below = tf.less(cdf, tf.mul(tf.reshape(u, [b, 1]), total));
  return tf.minimum(tf.sum(tf.cast(below, 'int32'), 1), tf.scalar(v - 1, 'int32')) as tf.Tensor1D;
}
