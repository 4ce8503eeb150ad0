// The position-indexed KV cache of the committed character transformer, cachedStep(lm,
// { draftTokens }) (model/transformer.ts), on every backend: through generate it gives the tokens
// of the ring-buffer cache, past the window; a call of T tokens gives the logits of T one-token
// calls (and how many of them are bitwise equal is printed: a batched verification pass rounds
// differently); feeding positions again after a rejection gives the logits of a fresh cache fed
// the accepted tokens; a restarted row forgets its slots; nothing leaks; and speculative decoding
// with it (a perturbed draft, so proposals are rejected and both caches roll back) gives plain
// decoding's tokens.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, type StepContext, type StepFunction } from '../src/index.js';
import { cachedStep, disposeCache, type PositionCache, type TransformerLM } from '../model/transformer.js';
import { backendSuite } from './helpers/suite.js';
import { loadTestTransformer, recorded } from './helpers/transformer.js';
import { BACKENDS } from './helpers/backend.js';

/**
 * Largest |difference| allowed on a logit between two ways of computing the same position
 * (different op shapes and summation orders in float32: the position cache against the ring
 * buffer, a T-token call against one-token calls, a rolled-back cache against a fresh one).
 * Measured at most 1.6e-5 (wasm, rollback); cpu 4.5e-6, webgpu (Node and Chromium) 2.9e-6,
 * webgl 3.8e-6 (logits are O(10)).
 */
const TOL = 1e-3;

/** γ of these tests: S = W + 4 slots. */
const G = 4;

const POEM = '白日依山盡，黃河入海流。欲窮千里目，更上一層樓。床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。春眠不覺曉，處處聞啼鳥。夜來風雨聲，花落知多少。';

/** One step's logits read back: [B, T, V] flattened (T = 1 for a [B, V] result). */
interface Read {
  values: Float32Array;
  shape: number[];
}

describe.each(BACKENDS)('the position-indexed KV cache (draftTokens) on %s', (backend) => {
  backendSuite(backend);
  let lm: TransformerLM;
  beforeAll(async () => {
    lm = await loadTestTransformer();
  });
  afterAll(() => lm.dispose());
  // SwiftShader (webgl, webgpu) is slow: fewer generated tokens there.
  const gpu = backend === 'webgl' || backend === 'webgpu';

  /** n ids of poem text from offset `from` (wrapping). */
  const poem = (n: number, from = 0): number[] => {
    const ids = lm.encode(POEM);
    return Array.from({ length: n }, (_, i) => ids[(from + i) % ids.length]!);
  };

  /** The prefill: left-padded prompts with their mask and positions, as generate gives them. */
  const prefill = async (step: StepFunction<PositionCache>, prompts: number[][]): Promise<{ logits: Read; state: PositionCache }> => {
    const b = prompts.length;
    const width = Math.max(...prompts.map((p) => p.length));
    const ids = new Int32Array(b * width).fill(lm.config.padId);
    const mask = new Int32Array(b * width);
    const pos = new Int32Array(b * width);
    prompts.forEach((p, r) => {
      const pad = width - p.length;
      ids.set(p, r * width + pad);
      for (let j = pad; j < width; j++) {
        mask[r * width + j] = 1;
        pos[r * width + j] = j - pad;
      }
    });
    return call(step, ids, mask, pos, [b, width], 'prefill', undefined, 1);
  };

  /** A decode call: row r gets tokens[r] (all rows the same T) at positions first[r], first[r] + 1, …. */
  const decode = async (
    step: StepFunction<PositionCache>,
    state: PositionCache,
    tokens: number[][],
    first: number[],
    logitPositions: number,
    restarted?: Uint8Array,
  ): Promise<{ logits: Read; state: PositionCache }> => {
    const b = tokens.length;
    const t = tokens[0]!.length;
    const pos = Int32Array.from({ length: b * t }, (_, k) => first[Math.floor(k / t)]! + (k % t));
    return call(step, Int32Array.from(tokens.flat()), new Int32Array(b * t).fill(1), pos, [b, t], 'decode', state, logitPositions, restarted);
  };

  const call = async (
    step: StepFunction<PositionCache>,
    ids: Int32Array,
    mask: Int32Array,
    pos: Int32Array,
    shape: [number, number],
    phase: 'prefill' | 'decode',
    state: PositionCache | undefined,
    logitPositions: number,
    restarted?: Uint8Array,
  ): Promise<{ logits: Read; state: PositionCache }> => {
    const tokens = tf.tensor2d(ids, shape, 'int32');
    const am = tf.tensor2d(mask, shape, 'int32');
    const pi = tf.tensor2d(pos, shape, 'int32');
    const b = shape[0];
    const context: StepContext<PositionCache> = {
      step: 0,
      lengths: new Int32Array(b),
      finished: new Uint8Array(b),
      state,
      phase,
      logitPositions,
      restarted: restarted ?? new Uint8Array(b),
      attentionMask: () => am,
      positionIds: () => pi,
    };
    try {
      const out = (await step(tokens, context)) as { logits: tf.Tensor; state: PositionCache };
      const values = (await out.logits.data()) as Float32Array;
      const read = { values, shape: out.logits.shape };
      out.logits.dispose();
      return { logits: read, state: out.state };
    } finally {
      tf.dispose([tokens, am, pi]);
    }
  };

  /** Row r, position i (of T), the V logits. */
  const at = (x: Read, r: number, i: number): Float32Array => {
    const v = x.shape[x.shape.length - 1]!;
    const t = x.shape.length === 3 ? x.shape[1]! : 1;
    return x.values.subarray((r * t + i) * v, (r * t + i + 1) * v);
  };

  /** Max |a − b| and how many entries are bitwise equal. */
  const compare = (pairs: [Float32Array, Float32Array][]): { worst: number; equal: number; total: number } => {
    let worst = 0;
    let equal = 0;
    let total = 0;
    for (const [a, b] of pairs) {
      expect(a.length).toBe(b.length);
      for (let j = 0; j < a.length; j++) {
        const d = Math.abs(a[j]! - b[j]!);
        if (!(d <= worst)) worst = d; // NaN propagates
        if (Object.is(a[j], b[j])) equal++;
        total++;
      }
    }
    return { worst, equal, total };
  };

  it('through generate (feed "new"): the tokens of the ring-buffer cache, past the window; logits within the tolerance', async () => {
    const texts = ['春風', '白日依山盡，黃河入海流。', '月'];
    const prompts = texts.map((t) => lm.encodePrompt(t));
    const maxNewTokens = gpu ? 16 : 70; // cpu / wasm: past S = W + 4 = 68 positions (every slot rewritten)
    const sampler = { temperature: 0.9, topK: 40, seed: [11, 12, 13] };
    const pos: Float32Array[] = [];
    const ring: Float32Array[] = [];
    const a = await generate(recorded(cachedStep(lm, { draftTokens: G }), pos), { prompts, padId: 0, maxNewTokens, feed: 'new', sampler });
    expect(a.state!.pos.shape).toEqual([3, lm.config.window + G]);
    disposeCache(a.state);
    const b = await generate(recorded(cachedStep(lm), ring), { prompts, padId: 0, maxNewTokens, feed: 'new', sampler });
    disposeCache(b.state);
    expect(a.tokens.map((row) => row.length)).toEqual([maxNewTokens, maxNewTokens, maxNewTokens]);
    const changed = a.tokens.map((row, r) => row.findIndex((t, i) => t !== b.tokens[r]![i]));
    expect(changed, 'first differing token per row (-1: none)').toEqual([-1, -1, -1]);
    expect(pos.length).toBe(ring.length);
    const { worst, equal, total } = compare(pos.map((x, s) => [x, ring[s]!]));
    console.log(
      `cache on ${backend}: position cache vs ring buffer through generate, ${pos.length} steps: ${equal} of ${total} logits bitwise equal, max |diff| ${worst.toExponential(2)}`,
    );
    expect(worst).toBeLessThanOrEqual(TOL);
  });

  it('a call of T = 5 tokens gives the logits of five one-token calls (each position; bitwise-equal count printed)', async () => {
    const step = cachedStep(lm, { draftTokens: G });
    // Rows of different lengths; the first (66 tokens) has its 5 positions 66…70 wrap around S = 68.
    const prompts = [poem(66), poem(30, 7), lm.encodePrompt('山')];
    const feed = [poem(5, 70), poem(5, 40), poem(5, 3)];
    const L = prompts.map((p) => p.length);
    const p1 = await prefill(step, prompts);
    expect(p1.logits.shape).toEqual([3, lm.config.vocabSize]);
    const many = await decode(step, p1.state, feed, L, 5);
    expect(many.logits.shape).toEqual([3, 5, lm.config.vocabSize]);
    disposeCache(many.state);

    const p2 = await prefill(step, prompts);
    let state = p2.state;
    const ones: Read[] = [];
    for (let i = 0; i < 5; i++) {
      const o = await decode(
        step,
        state,
        feed.map((f) => [f[i]!]),
        L.map((l) => l + i),
        1,
      );
      expect(o.logits.shape).toEqual([3, lm.config.vocabSize]);
      ones.push(o.logits);
      state = o.state;
    }
    disposeCache(state);
    const pairs: [Float32Array, Float32Array][] = [];
    for (let r = 0; r < 3; r++) for (let i = 0; i < 5; i++) pairs.push([at(many.logits, r, i), at(ones[i]!, r, 0)]);
    const { worst, equal, total } = compare(pairs);
    console.log(`cache on ${backend}: T=5 pass vs 1-token passes: ${equal} of ${total} logits bitwise equal, max |diff| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOL);

    // logitPositions 1 with T > 1 (a draft's first call of a pass): the last position, [B, V].
    const p3 = await prefill(step, prompts);
    const two = await decode(
      step,
      p3.state,
      feed.map((f) => f.slice(0, 2)),
      L,
      1,
    );
    expect(two.logits.shape).toEqual([3, lm.config.vocabSize]);
    disposeCache(two.state);
    expect(compare([0, 1, 2].map((r) => [at(two.logits, r, 0), at(ones[1]!, r, 0)])).worst).toBeLessThanOrEqual(TOL);
  });

  it('rollback: positions fed again (per-row points, stale proposals left after them) give the logits of a fresh cache fed the accepted tokens', async () => {
    const step = cachedStep(lm, { draftTokens: G });
    const prompts = [poem(66), poem(30, 7), lm.encodePrompt('山')];
    const L = prompts.map((p) => p.length);
    const proposals = [poem(5, 70), poem(5, 40), poem(5, 3)];
    // Row 0 keeps 2 proposals (re-fed from the 3rd), row 1 keeps 4, row 2 keeps 1: rows 0 and 2
    // leave proposals at later positions that the next call must not see.
    const kept = [2, 4, 1];
    const fresh = [poem(3, 20), poem(3, 50), poem(3, 90)]; // differ from the proposals
    fresh.forEach((f, r) => expect(f.slice(0, 2)).not.toEqual(proposals[r]!.slice(kept[r]!, kept[r]! + 2)));

    const p = await prefill(step, prompts);
    const pass = await decode(step, p.state, proposals, L, 5);
    const again = await decode(
      step,
      pass.state,
      fresh.map((f) => f.slice(0, 2)),
      L.map((l, r) => l + kept[r]!),
      2,
    );
    const next = await decode(
      step,
      again.state,
      fresh.map((f) => [f[2]!]),
      L.map((l, r) => l + kept[r]! + 2),
      1,
    );
    disposeCache(next.state);

    // A fresh cache: the prompts plus the accepted proposals as the prefill, then the same calls.
    const q = await prefill(
      step,
      prompts.map((pr, r) => [...pr, ...proposals[r]!.slice(0, kept[r]!)]),
    );
    const again2 = await decode(
      step,
      q.state,
      fresh.map((f) => f.slice(0, 2)),
      L.map((l, r) => l + kept[r]!),
      2,
    );
    const next2 = await decode(
      step,
      again2.state,
      fresh.map((f) => [f[2]!]),
      L.map((l, r) => l + kept[r]! + 2),
      1,
    );
    disposeCache(next2.state);

    const pairs: [Float32Array, Float32Array][] = [];
    for (let r = 0; r < 3; r++) {
      pairs.push(
        [at(again.logits, r, 0), at(again2.logits, r, 0)],
        [at(again.logits, r, 1), at(again2.logits, r, 1)],
        [at(next.logits, r, 0), at(next2.logits, r, 0)],
      );
    }
    const { worst, equal, total } = compare(pairs);
    console.log(`cache on ${backend}: rolled back vs fresh cache: ${equal} of ${total} logits bitwise equal, max |diff| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOL);
    // The check is not vacuous: the re-fed position's logits differ from the proposal's at the same position.
    const moved = compare([0, 1, 2].map((r) => [at(again.logits, r, 0), at(pass.logits, r, kept[r]!)])).worst;
    expect(moved).toBeGreaterThan(0.1);
  });

  it('a restarted row (generate\u2019s queue) forgets its slots: its logits are those of a fresh one-token prompt; a queue gives the ring buffer\u2019s tokens', async () => {
    // The position mask alone would already hide the old slots from a row restarted at position
    // 0 (they all hold positions >= the new ones until overwritten), so the emptied slots are
    // checked directly as well.
    const step = cachedStep(lm, { draftTokens: G });
    const prompts = [poem(20), poem(9, 5)];
    const p = await prefill(step, prompts);
    const first = lm.encodePrompt('')[0]!; // a new request's first token, at position 0
    const o = await decode(step, p.state, [[poem(1, 20)[0]!], [first]], [20, 0], 1, Uint8Array.from([0, 1]));
    const pos = (await o.state.pos.array()) as number[][];
    disposeCache(o.state);
    expect(pos[0]!.filter((x) => x >= 0).sort((a, b) => a - b)).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(pos[1]!.filter((x) => x >= 0)).toEqual([0]);
    const alone = await prefill(step, [[first]]);
    disposeCache(alone.state);
    expect(compare([[at(o.logits, 1, 0), at(alone.logits, 0, 0)]]).worst).toBeLessThanOrEqual(TOL);

    const reqs = [
      { prompt: lm.encodePrompt('春'), seed: 21, maxNewTokens: 6 },
      { prompt: lm.encodePrompt('秋風'), seed: 22, maxNewTokens: 14 },
      { prompt: lm.encodePrompt('山'), seed: 23, maxNewTokens: 9 },
      { prompt: lm.encodePrompt('江上'), seed: 24, maxNewTokens: 8 },
    ];
    const options = {
      prompts: reqs.slice(0, 2).map((q) => q.prompt),
      seeds: reqs.slice(0, 2).map((q) => q.seed),
      maxNewTokens: reqs.slice(0, 2).map((q) => q.maxNewTokens),
      queue: reqs.slice(2),
      padId: 0,
      feed: 'new' as const,
      sampler: { temperature: 0.9, topK: 40 },
    };
    const withPositions = await generate(cachedStep(lm, { draftTokens: G }), options);
    disposeCache(withPositions.state);
    const withRing = await generate(cachedStep(lm), options);
    disposeCache(withRing.state);
    expect(withPositions.tokens).toEqual(withRing.tokens);
  });

  it('no tensor leaks: the same count after every call of one shape; none left once the final cache is disposed; no new shader after the first call of each T', async () => {
    /** Programs compiled so far (webgl: shader binaries; webgpu: pipelines); 0 elsewhere. */
    const compiled = (): number => {
      const be = tf.backend() as unknown as { binaryCache?: object; pipelineCache?: object };
      return Object.keys(be.binaryCache ?? be.pipelineCache ?? {}).length;
    };
    const before = tf.memory().numTensors;
    const step = cachedStep(lm, { draftTokens: G });
    const prompts = [poem(12), poem(4, 9)];
    const L = prompts.map((p) => p.length);
    let { state } = await prefill(step, prompts);
    const held = tf.memory().numTensors;
    expect(held - before).toBe(2 * lm.config.layers + 1); // k and v per layer, pos
    const programs: number[] = [];
    for (let i = 0; i < 4; i++) {
      // Overlapping positions (each T = 3 call re-feeds the last position of the one before: a rollback by one).
      state = (
        await decode(
          step,
          state,
          [poem(3, i), poem(3, i + 1)],
          L.map((l) => l + 2 * i),
          3,
        )
      ).state;
      expect(tf.memory().numTensors).toBe(held);
      state = (
        await decode(
          step,
          state,
          [poem(1, i), poem(1, i + 1)],
          L.map((l) => l + 2 * i + 3),
          1,
          i === 3 ? Uint8Array.from([0, 1]) : undefined,
        )
      ).state;
      expect(tf.memory().numTensors).toBe(held);
      programs.push(compiled());
    }
    disposeCache(state);
    expect(tf.memory().numTensors).toBe(before);
    console.log(`cache on ${backend}: programs compiled after each of 4 decode rounds: ${programs.join(', ')}`);
    // Rounds 2 and 3 (no restart) run only the programs round 1 compiled: the same ops on the same shapes.
    expect(programs.slice(1, 3)).toEqual([programs[0], programs[0]]);
  });

  it('speculative decoding with it (a perturbed draft: proposals rejected, both caches rolled back) gives plain decoding\u2019s tokens', async () => {
    const prompts = ['春風', '白日依山盡，', '月'].map((t) => lm.encodePrompt(t));
    const maxNewTokens = gpu ? 10 : 70;
    const sampler = { temperature: 0.9, topK: 40, seed: [11, 12, 13] };
    const plain = await generate(cachedStep(lm), { prompts, padId: 0, maxNewTokens, feed: 'new', sampler });
    disposeCache(plain.state);
    // The draft: the same model with its logits pushed by a fixed pseudo-random vector (0 … 3 per
    // id), so its draws often differ from the target's.
    const V = lm.config.vocabSize;
    const push = Float32Array.from({ length: V }, (_, i) => ((i * 2654435761) % 1000) * 0.003);
    const inner = cachedStep(lm, { draftTokens: G });
    const draft: StepFunction<PositionCache> = async (tokens, ctx) => {
      const out = (await inner(tokens, ctx)) as { logits: tf.Tensor; state: PositionCache };
      const logits = tf.tidy(() => tf.add(out.logits, tf.tensor1d(push)));
      out.logits.dispose();
      return { logits, state: out.state };
    };
    const spec = await generate(cachedStep(lm, { draftTokens: G }), {
      prompts,
      padId: 0,
      maxNewTokens,
      feed: 'new',
      sampler,
      draft: { model: draft as StepFunction, tokens: G },
    });
    disposeCache(spec.state);
    const stats = spec.draft!;
    const proposed = stats.proposed.reduce((a, b) => a + b, 0);
    const accepted = stats.accepted.reduce((a, b) => a + b, 0);
    console.log(
      `cache on ${backend}: speculative (γ = ${G}, perturbed draft): ${stats.passes} passes, ${accepted} of ${proposed} proposals kept, ${stats.tokensPerPass.toFixed(2)} tokens per pass`,
    );
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(proposed); // some rejected: rollback exercised
    expect(spec.tokens).toEqual(plain.tokens);
  });
});
