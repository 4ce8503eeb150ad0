// Sampler.clone() and LogitsProcessor.clone (llama.cpp's clone) on every backend: a clone draws
// what the original would have drawn, step for step, with every history processor and a user
// processor that keeps device state; advancing one leaves the other unchanged; a stateful user
// processor without clone is refused before anything is copied; nothing leaks.
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { createSampler, reference, SamplingError, type LogitsProcessor, type Sampler, type SamplerOptions } from '../src/index.js';
import { BACKENDS } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';

const B = 3;
const V = 24;

/** Bans each row's previous token (a user processor with device state across steps). */
function noImmediateRepeat(last?: tf.Tensor1D): LogitsProcessor {
  let prev = last;
  return {
    name: 'no-immediate-repeat',
    apply(state) {
      if (!prev) return state;
      const ban = tf.cast(tf.oneHot(prev, state.vocab), 'bool');
      return { ...state, logits: tf.where(ban, tf.fill(state.logits.shape, -Infinity), state.logits) as tf.Tensor2D };
    },
    accept(ids) {
      prev?.dispose();
      prev = tf.keep(tf.tidy(() => tf.maximum(ids, tf.scalar(0, 'int32')) as tf.Tensor1D));
    },
    reset() {
      prev?.dispose();
      prev = undefined;
    },
    clone() {
      return noImmediateRepeat(prev && tf.keep(tf.clone(prev)));
    },
  };
}

const OPTIONS: SamplerOptions = {
  temperature: [0.9, 1.3, 0],
  topK: [0, 12, 5],
  topP: 0.9,
  repetitionPenalty: 1.3,
  frequencyPenalty: 0.4,
  presencePenalty: [0.2, 0, 1],
  penaltyLastN: [4, Infinity, 6],
  noRepeatNgramSize: [2, 3, 0],
  badWords: [[5], [1, 2]],
  minNewTokens: 2,
  stopTokens: [0],
  logitBias: { 3: 1.5, 9: -Infinity },
  dry: { multiplier: 0.8, base: 1.75, allowedLength: 1 },
  seed: 11,
};

function withoutSeed({ seed: _seed, ...rest }: SamplerOptions): SamplerOptions {
  return rest;
}

function stepLogits(tag: string, steps: number): number[][][] {
  const r = seedrandom(`clone:${tag}`);
  return Array.from({ length: steps }, () => Array.from({ length: B }, () => Array.from({ length: V }, () => Math.fround(2 * r() - 1))));
}

async function draw(s: Sampler, rows: number[][]): Promise<number[]> {
  const x = tf.tensor2d(rows);
  try {
    return Array.from(await s.sampleIds(x));
  } finally {
    x.dispose();
  }
}

describe.each(BACKENDS)('Sampler.clone on %s', (backend) => {
  backendSuite(backend);
  const PROMPTS = [[1, 2, 1, 2], [7], [4, 4, 4, 8, 4]];

  it.each([
    { name: 'every history processor', opts: OPTIONS, user: false },
    { name: 'a user processor with device state (accept, reset, clone)', opts: { temperature: 1.1, topK: 8, seed: 3 }, user: true },
    { name: 'both, and no seed given (the clone keeps the random seed)', opts: withoutSeed(OPTIONS), user: true },
  ])('a clone draws what the original draws, and advancing one leaves the other as it was: $name', async ({ opts, user }) => {
    const make = (): Sampler => createSampler({ ...opts, ...(user ? { processors: [noImmediateRepeat()] } : {}) });
    const L = stepLogits('main', 10);
    const junk = stepLogits('junk', 3);
    const original = make();
    original.begin(PROMPTS);
    const head: number[][] = [];
    for (let t = 0; t < 4; t++) head.push(await draw(original, L[t]!));
    // The control: a second clone taken now and never touched, run over the same steps.
    const clone = original.clone();
    const detour = original.clone();
    expect(clone.step).toBe(4);
    expect(clone.name).toBe(original.name);
    // A detour: different logits, different tokens accepted into the detour's history only.
    const side: number[][] = [];
    for (const rows of junk) side.push(await draw(detour, rows));
    const a: number[][] = [];
    const b: number[][] = [];
    const d: number[][] = [];
    for (let t = 4; t < 10; t++) {
      a.push(await draw(original, L[t]!));
      b.push(await draw(clone, L[t]!));
      d.push(await draw(detour, L[t]!));
    }
    expect(b).toEqual(a);
    expect(detour.step).toBe(13);
    // The detour drew something else than the original's continuation (else it would be no test
    // of independence), and only what its own history gives: a never-cloned sampler fed the
    // same logits draws the same. Unseeded, a solo sampler has another seed: only the greedy
    // rows (temperature 0, seed-free) are compared there.
    const greedy = Array.from({ length: B }, (_, r) => r).filter((r) => {
      const t = opts.temperature;
      return opts.seed !== undefined || (Array.isArray(t) ? t[r] === 0 : t === 0);
    });
    expect(greedy.length).toBeGreaterThan(0);
    const pick = (draws: number[][]): number[][] => draws.map((d) => greedy.map((r) => d[r]!));
    // Both drew on L[4..9] after the same head; only the detour's history (and step) differ.
    expect(pick(d)).not.toEqual(pick(a));
    const solo = async (steps: number[][][]): Promise<number[][]> => {
      const s = make();
      s.begin(PROMPTS);
      const out: number[][] = [];
      for (const rows of steps) out.push(await draw(s, rows));
      s.dispose();
      return out;
    };
    // The original and the clone: what a sampler that never cloned draws.
    expect(pick(await solo(L))).toEqual(pick([...head, ...a]));
    // The detour: what one that took the detour's steps without cloning draws.
    expect(pick(await solo([...L.slice(0, 4), ...junk, ...L.slice(4)]))).toEqual(pick([...head, ...side, ...d]));
    for (const s of [original, clone, detour]) s.dispose();
  });

  it('reset() of a clone does not touch the original, and the reset clone replays from step 0', async () => {
    const make = (): Sampler => createSampler({ ...OPTIONS, processors: [noImmediateRepeat()] });
    const L = stepLogits('reset', 4);
    const s = make();
    s.begin(PROMPTS);
    const first: number[][] = [];
    for (const rows of L) first.push(await draw(s, rows));
    const c = s.clone();
    c.reset();
    c.begin(PROMPTS);
    const replay: number[][] = [];
    for (const rows of L) replay.push(await draw(c, rows));
    expect(replay).toEqual(first);
    expect(s.step).toBe(4);
    const next = await draw(s, L[0]!);
    const fresh = make();
    fresh.begin(PROMPTS);
    for (const rows of L) await draw(fresh, rows);
    expect(await draw(fresh, L[0]!)).toEqual(next);
    for (const x of [s, c, fresh]) x.dispose();
  });

  it('a clone keeps rows restarted before the history existed (restartRows before any call), and they stay its own', async () => {
    const opts: SamplerOptions = { repetitionPenalty: 2 };
    const rows = [
      [1, 1, 1, 1],
      [1, 1, 1, 1],
    ];
    const want = reference.process(rows, opts, { history: [[], [2, 3]], promptLength: [0, 2] }).map((r) => Array.from(r));
    const before = tf.memory().numTensors;
    const s = createSampler(opts);
    s.restartRows([1], [[2, 3]]);
    const c = s.clone();
    s.restartRows([1], [[0]]); // after the clone: the clone keeps [2, 3]
    const processOf = async (x: Sampler): Promise<number[][]> => {
      const t = tf.tensor2d(rows);
      const y = x.process(t);
      const out = (await y.array()) as number[][];
      tf.dispose([t, y]);
      return out;
    };
    expect(await processOf(c)).toEqual(want);
    expect(await processOf(s)).toEqual(reference.process(rows, opts, { history: [[], [0]], promptLength: [0, 1] }).map((r) => Array.from(r)));
    s.dispose();
    c.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a user processor that keeps state but has no clone is refused, naming it, before anything is copied', async () => {
    const before = tf.memory().numTensors;
    const stateful: LogitsProcessor = { name: 'counter', apply: (s) => s, accept: () => {} };
    const s = createSampler({ ...OPTIONS, processors: [{ name: 'stateless', apply: (x) => x }, stateful] });
    s.begin(PROMPTS);
    await draw(s, stepLogits('refuse', 1)[0]!);
    const held = tf.memory().numTensors;
    let error: unknown;
    try {
      s.clone();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SamplingError);
    expect((error as SamplingError).argument).toBe('processors[1]');
    expect((error as Error).message).toMatch(/"counter".*must implement clone\(\)/);
    expect(tf.memory().numTensors).toBe(held);
    s.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a clone() that returns no processor is refused, naming it, and the clones made before it are freed', async () => {
    const bad = { name: 'bad', apply: (s: never) => s, accept: () => {}, clone: () => 42 } as unknown as LogitsProcessor;
    const s = createSampler({ processors: [noImmediateRepeat(), bad], seed: 2 });
    await draw(s, stepLogits('bad-clone', 1)[0]!); // the first processor now holds a tensor
    const held = tf.memory().numTensors;
    expect(() => s.clone()).toThrow(/processors\[1\]\.clone\(\)` must return a LogitsProcessor/);
    expect(tf.memory().numTensors).toBe(held);
    s.dispose();
  });
});
