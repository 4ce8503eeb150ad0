// Penalties, biases, bans and masks (issue 10) on every backend: the anchors' own test tables,
// exact agreement of kept sets and tokens with the float64 reference over many steps (the
// device history updated from the draws), invalid rows, chi-square with a negative control,
// errors and leaks.
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import fc from 'fast-check';
import { processedBy } from './helpers/chain.js';
import { describe, expect, it } from 'vitest';
import { createSampler, InvalidRowsError, reference, SamplingError, type SamplerOptions } from '../src/index.js';
import { BACKENDS, isSoftwareGpu } from './helpers/backend.js';
import { TokenCounts, chiSquareTest, formatChiSquare } from './helpers/chisquare.js';
import { backendSuite } from './helpers/suite.js';
import { TokenHistory } from '../src/history.js';
import { registerFusedFlag } from '../src/backends/fused.js';
import { HF_BAD_WORDS, HF_MIN_LENGTH, HF_NO_REPEAT_NGRAM, HF_REPETITION, LLAMA_PENALTIES } from './tables/anchor-penalties.js';

const ALL_PROMPT = { repetition: true, frequency: true, presence: true };

/** The kept set of a processed row: indices of finite values. */
const kept = (row: ArrayLike<number>): number[] => Array.from(row).flatMap((v, j) => (Number.isFinite(v) ? [j] : []));

const processed = processedBy;

describe.each(BACKENDS)('history processors on %s', (backend) => {
  backendSuite(backend);
  const gpu = isSoftwareGpu(backend);

  // Every table has its own vocabulary size, and each new shape compiles new pipelines on the
  // SwiftShader WebGPU adapter (minutes in all): the tables run on cpu, wasm and webgl; the
  // step-by-step agreement below covers the same processors on webgpu.
  const tablesElsewhere = backend === 'webgpu';
  describe.skipIf(tablesElsewhere)(
    `anchor tables${tablesElsewhere ? ' (skipped on webgpu: one pipeline compile per table shape; covered on cpu, wasm, webgl and by the agreement below)' : ''}`,
    () => {
      it.each(LLAMA_PENALTIES)('llama.cpp $source', async (c) => {
        const opts: SamplerOptions = {
          repetitionPenalty: c.repeat,
          frequencyPenalty: c.freq,
          presencePenalty: c.presence,
          penaltyLastN: c.lastN,
          penalizePrompt: ALL_PROMPT,
        };
        const logits = [c.probs.map((p) => Math.log(p))];
        const ctx = { history: [c.history], promptLength: [c.history.length] };
        const want = reference.probabilities(logits, opts, ctx)[0]!;
        c.expected.forEach((e, j) => expect(Math.abs(want[j]! - e), `reference, token ${j}`).toBeLessThan(c.tolerance));
        const s = createSampler(opts);
        s.begin([c.history]);
        const x = tf.tensor2d(logits);
        const p = s.probabilities(x);
        const got = (await p.data()) as Float32Array;
        tf.dispose([x, p]);
        s.dispose();
        c.expected.forEach((e, j) => expect(Math.abs(got[j]! - e), `tensor, token ${j}`).toBeLessThan(c.tolerance));
      });

      it.each(HF_REPETITION)('transformers $source', async (c) => {
        const opts: SamplerOptions = { repetitionPenalty: c.penalty };
        const ctx = { history: [c.inputIds], promptLength: [c.inputIds.length] };
        const want = reference.process([c.scores], opts, ctx)[0]!;
        const s = createSampler(opts);
        s.begin([c.inputIds]);
        const got = (await processed(s, [c.scores]))[0]!;
        s.dispose();
        for (const j of c.assertedIndices) {
          expect(Math.abs(want[j]! - c.expected[j]!)).toBeLessThan(1e-7);
          expect(Math.abs(got[j]! - c.expected[j]!)).toBeLessThan(1e-7);
        }
      });

      const bans: { name: string; opts: SamplerOptions; vocab: number; history: number[]; prompt: number; banned: number[] }[] = [
        ...HF_NO_REPEAT_NGRAM.map((c) => ({
          name: c.source,
          opts: { noRepeatNgramSize: c.ngramSize },
          vocab: c.vocabSize,
          history: c.inputIds,
          prompt: c.inputIds.length,
          banned: c.bannedExpected,
        })),
        // HF drops a bad word equal to [eos] before banning; badWords bans what it is given, so the
        // list passed is the one HF effectively uses.
        ...HF_BAD_WORDS.map((c) => ({
          name: c.source,
          opts: { badWords: c.badWordsIds.filter((w) => !(w.length === 1 && w[0] === c.eosTokenId)) },
          vocab: c.vocabSize,
          history: c.inputIds,
          prompt: c.inputIds.length,
          banned: c.bannedExpected,
        })),
        ...HF_MIN_LENGTH.map((c) => {
          const prompt = c.processor === 'min_length' ? 0 : (c.promptLengthToSkip ?? 0);
          const n = c.processor === 'min_length' ? c.minLength! : c.minNewTokens!;
          return {
            name: c.source,
            opts: { minNewTokens: n, stopTokens: c.eosTokenIds },
            vocab: c.vocabSize,
            history: Array.from({ length: c.inputLength }, (_, i) => i % c.vocabSize),
            prompt,
            banned: c.bannedExpected,
          };
        }),
      ].filter((c) => !('badWords' in c.opts) || (c.opts.badWords?.length ?? 0) > 0);

      it.each(bans)('transformers $name', async ({ opts, vocab, history, prompt, banned }) => {
        const scores = [Array.from({ length: vocab }, () => 1 / vocab)];
        const ctx = { history: [history], promptLength: [prompt] };
        const want = reference.process(scores, opts, ctx)[0]!;
        expect(kept(want)).toEqual(Array.from({ length: vocab }, (_, j) => j).filter((j) => !banned.includes(j)));
        const s = createSampler(opts);
        s.begin([history.slice(0, prompt)]);
        // The generated part of the history goes through accept(), as a generation loop would.
        if (prompt < history.length) {
          const x = tf.tensor2d(scores);
          s.sample(x, { accept: false }).dispose(); // fixes the history's batch and vocabulary
          x.dispose();
          for (const t of history.slice(prompt)) {
            const ids = tf.tensor1d([t], 'int32');
            s.accept(ids);
            ids.dispose();
          }
        }
        const got = (await processed(s, scores))[0]!;
        s.dispose();
        expect(kept(got)).toEqual(kept(want));
      });
    },
  );

  // Random per-row options over several steps: the tokens each step equal reference.sample with
  // the same history, and process() keeps exactly the reference's kept set.
  const plans: { name: string; B: number; V: number; steps: number; opts: (r: () => number, B: number, V: number) => SamplerOptions }[] = [
    {
      name: 'penalties with a per-row window, prompt scopes mixed',
      B: 4,
      V: 40,
      steps: 8,
      opts: (r, B) => ({
        repetitionPenalty: Array.from({ length: B }, () => 1 + r()),
        frequencyPenalty: Array.from({ length: B }, () => r() - 0.3),
        presencePenalty: 0.4,
        penaltyLastN: [3, Infinity, 1, 6].slice(0, B),
        penalizePrompt: { repetition: true, frequency: true, presence: false },
        temperature: 0.9,
        topK: 12,
        topP: 0.9,
      }),
    },
    {
      name: 'n-gram and bad-word bans, min new tokens, bias, allowed tokens',
      B: 3,
      V: 24,
      steps: 8,
      opts: (_r, B) => ({
        noRepeatNgramSize: [2, 3, 0].slice(0, B),
        badWords: [[5], [1, 2], [3, 4, 6]],
        minNewTokens: [3, 0, 5].slice(0, B),
        stopTokens: [0, 7],
        logitBias: [{ 1: 2, 9: -Infinity }, { 2: -1.5 }, {}],
        allowedTokens: [Array.from({ length: 20 }, (_, j) => j), Array.from({ length: 24 }, (_, j) => j), [0, 1, 2, 3, 4, 6, 7, 8, 10, 11, 12]],
        temperature: 1.2,
        minP: 0.02,
      }),
    },
    {
      name: 'everything at once, greedy and sampled rows, V = 1000',
      B: 3,
      V: 1000,
      steps: 6,
      opts: () => ({
        repetitionPenalty: 1.3,
        frequencyPenalty: 0.7,
        presencePenalty: [0.2, 0, 1],
        penaltyLastN: 5,
        noRepeatNgramSize: 2,
        badWords: [[10, 11]],
        logitBias: { 3: 5, 4: -Infinity },
        temperature: [0, 1, 0.7],
        topK: 50,
        topP: 0.95,
      }),
    },
  ];

  it.each(plans)('tokens and kept sets equal the reference step by step: $name', async ({ B, V, steps, opts: make, name }) => {
    const r = seedrandom(`history:${name}`);
    const opts = { ...make(r, B, V), seed: 7 };
    const prompts = Array.from({ length: B }, (_, b) => Array.from({ length: 1 + b * 2 }, () => Math.floor(r() * V)));
    const rows = Array.from({ length: B }, () => Array.from({ length: V }, () => Math.fround(3 * r() - 1.5)));
    const s = createSampler(opts);
    s.begin(prompts);
    const hist = prompts.map((p) => [...p]);
    const before = tf.memory().numTensors;
    for (let step = 0; step < steps; step++) {
      const ctx = { history: hist, promptLength: prompts.map((p) => p.length) };
      const want = reference.process(rows, opts, ctx);
      const got = await processed(s, rows);
      got.forEach((row, b) => expect(kept(row), `step ${step} row ${b} kept`).toEqual(kept(want[b]!)));
      const x = tf.tensor2d(rows);
      const ids = Array.from(await s.sampleIds(x));
      x.dispose();
      expect(ids, `step ${step} tokens (${s.lastPath})`).toEqual(reference.sample(rows, opts, step, ctx));
      ids.forEach((t, b) => hist[b]!.push(t));
    }
    s.dispose();
    expect(tf.memory().numTensors).toBe(before); // the device history is freed
  });

  it('a bad word whose whole prefix is the prompt bans its last token (where Hugging Face skips a sequence longer than its input), like the reference', async () => {
    const V = 8;
    const rows = [Array.from({ length: V }, (_, j) => j / 10), Array.from({ length: V }, (_, j) => j / 10)];
    // Row 0's history is exactly the prefix [3, 4]; row 1's ends with it after a longer prompt.
    const prompts = [
      [3, 4],
      [1, 2, 3, 4],
    ];
    const opts: SamplerOptions = { badWords: [[3, 4, 6]], temperature: 0 };
    const ctx = { history: prompts, promptLength: prompts.map((p) => p.length) };
    const want = reference.process(rows, opts, ctx);
    for (const row of want) expect(kept(row)).toEqual([0, 1, 2, 3, 4, 5, 7]);
    const s = createSampler(opts);
    s.begin(prompts);
    const got = await processed(s, rows);
    got.forEach((row, b) => expect(kept(row), `row ${b}`).toEqual(kept(want[b]!)));
    const x = tf.tensor2d(rows);
    expect(Array.from(await s.sampleIds(x))).toEqual([7, 7]);
    x.dispose();
    s.dispose();
  });

  it("an invalid row's code in the history is no token: an n-gram holding one bans nothing, like the reference", async () => {
    const V = 8;
    const rows = [Array.from({ length: V }, (_, j) => j / 10)];
    // [prompt, accepted ids (-1: the code sample() gives a NaN row), n]: both once banned token 4
    // on one path or the other (the reference matched -1 with -1; the tensor paths only skipped a
    // window starting with it).
    const cases: [number[], number[], number][] = [
      [[3], [-1, 4, -1], 2],
      [[1], [-1, 4, 1, -1], 3],
    ];
    for (const [prompt, accepted, n] of cases) {
      const opts: SamplerOptions = { noRepeatNgramSize: n, temperature: 0 };
      const s = createSampler(opts);
      s.begin([prompt]);
      const x = tf.tensor2d(rows);
      s.sample(x, { accept: false }).dispose(); // the history learns the vocabulary; no token taken
      x.dispose();
      for (const id of accepted) {
        const t = tf.tensor1d([id], 'int32');
        s.accept(t);
        t.dispose();
      }
      const before = tf.memory().numTensors;
      const got = await processed(s, rows);
      expect(tf.memory().numTensors).toBe(before);
      const want = reference.process(rows, opts, { history: [[...prompt, ...accepted]], promptLength: [prompt.length] });
      const label = `n ${n}, history ${[...prompt, ...accepted]}`;
      expect(kept(got[0]!), label).toEqual(kept(want[0]!));
      expect(kept(got[0]!), `${label}: nothing banned`).toEqual(Array.from({ length: V }, (_, j) => j));
      s.dispose();
    }
  });

  it('a per-call bitmask (xgrammar layout) allows exactly its bits, with the reference', async () => {
    const B = 3;
    const V = 70; // three words per row, the last one partial
    const W = Math.ceil(V / 32);
    const r = seedrandom('history:mask');
    const words = new Int32Array(B * W);
    for (let i = 0; i < words.length; i++) words[i] = (r() * 2 ** 32) | 0;
    words[0] = -2147483648; // bit 31 only: the sign bit survives the 16-bit halves
    const rows = Array.from({ length: B }, () => Array.from({ length: V }, () => Math.fround(r())));
    const maskRows = Array.from({ length: B }, (_, b) => words.subarray(b * W, (b + 1) * W));
    const s = createSampler({ seed: 3 });
    const x = tf.tensor2d(rows);
    const out = s.process(x, { mask: words });
    const got = (await out.array()) as number[][];
    const want = reference.process(rows, { seed: 3 }, { mask: maskRows });
    got.forEach((row, b) => {
      const allowed = Array.from({ length: V }, (_, j) => j).filter((j) => (maskRows[b]![j >> 5]! >>> (j & 31)) & 1);
      expect(kept(row)).toEqual(allowed);
      expect(kept(want[b]!)).toEqual(allowed);
    });
    const ids = Array.from(await s.sampleIds(x, { mask: maskRows }));
    expect(ids).toEqual(reference.sample(rows, { seed: 3 }, 0, { mask: maskRows }));
    tf.dispose([x, out]);
    s.dispose();
  });

  it('a row whose every token is banned is an invalid row caused by a processor, as in the reference', async () => {
    const opts: SamplerOptions = { allowedTokens: [[0, 1], [2]], logitBias: [{}, { 2: -Infinity }], seed: 1 };
    const rows = [
      [1, 2, 3],
      [1, 2, 3],
    ];
    expect(() => reference.sample(rows, opts, 0)).toThrow(InvalidRowsError);
    const s = createSampler(opts);
    const x = tf.tensor2d(rows);
    const before = tf.memory().numTensors;
    const err = await s.sampleIds(x).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRowsError);
    expect((err as InvalidRowsError).rows).toEqual([{ row: 1, cause: 'no-finite-logit', source: 'processor' }]);
    s.dispose(); // frees the bias and allowed-token masks it keeps on the device
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('bad options and bad calls give SamplingErrors naming the argument, and leave no tensors', async () => {
    const bad: [SamplerOptions, string][] = [
      [{ repetitionPenalty: 0 }, 'repetitionPenalty'],
      [{ frequencyPenalty: NaN }, 'frequencyPenalty'],
      [{ presencePenalty: [0, Infinity] }, 'presencePenalty[1]'],
      [{ penaltyLastN: 0 }, 'penaltyLastN'],
      [{ penalizePrompt: { repetition: 1 } as never }, 'penalizePrompt.repetition'],
      [{ noRepeatNgramSize: 1.5 }, 'noRepeatNgramSize'],
      [{ badWords: [[1, -2]] }, 'badWords[0][1]'],
      [{ logitBias: { 3: NaN } }, 'logitBias[3]'],
      [{ minNewTokens: 2 }, 'stopTokens'],
      [{ allowedTokens: [] }, 'allowedTokens'],
    ];
    for (const [opts, argument] of bad) {
      let err: unknown;
      try {
        createSampler(opts);
      } catch (e) {
        err = e;
      }
      expect(err, argument).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument).toBe(argument);
    }
    const s = createSampler({ logitBias: { 9: 1 }, repetitionPenalty: 1.2 });
    const x = tf.tensor2d([[1, 2, 3]]);
    const before = tf.memory().numTensors;
    expect(() => s.sample(x)).toThrow(/logitBias.*vocab size 3/);
    expect(() => s.sample(x, { mask: new Int32Array(2) })).toThrow(SamplingError);
    expect(tf.memory().numTensors).toBe(before);
    const ok = createSampler({ repetitionPenalty: 1.2, seed: 1 });
    ok.sample(x).dispose();
    const y = tf.tensor2d([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(() => ok.sample(y)).toThrow(/batch size and vocabulary of the sampler's token history/);
    ok.reset(); // a new history may have another shape
    ok.sample(y).dispose();
    ok.dispose();
    tf.dispose([x, y]);
    s.dispose();
  });

  it('the history lives on the device: fixed shapes, no growth of tensors or bytes over 40 steps', async () => {
    const B = 4;
    const V = 64;
    const s = createSampler({ repetitionPenalty: 1.2, frequencyPenalty: 0.3, penaltyLastN: 8, badWords: [[1, 2]], seed: 5 });
    s.begin([[1], [2, 3], [], [4, 5, 6]]);
    const x = tf.tensor2d(Array.from({ length: B }, (_, b) => Array.from({ length: V }, (_, j) => Math.sin(b + j))));
    s.sample(x).dispose();
    const after1 = tf.memory();
    for (let i = 0; i < 40; i++) s.sample(x).dispose();
    expect(tf.memory().numTensors).toBe(after1.numTensors);
    expect(tf.memory().numBytes).toBe(after1.numBytes);
    s.dispose();
    x.dispose();
  });

  // Regression (found by the sparse-edits property once the logit bias stopped adding +0 to
  // unlisted tokens): with negative frequency and presence penalties the tfjs-op path subtracted
  // (-0) + (-0) from unseen tokens and turned a -0 logit into +0; the reference subtracts +0.
  it('penalties keep the sign of a zero logit on unseen tokens, as the reference (F, P < 0)', async () => {
    const opts: SamplerOptions = { frequencyPenalty: -2, presencePenalty: -1.5, repetitionPenalty: 0.7 };
    const rows = [[-0, 1, -0, 0.5]];
    const ctx = { history: [[1, 3]], promptLength: [2] };
    const want = reference.process(rows, { ...opts, penalizePrompt: ALL_PROMPT }, ctx)[0]!;
    expect(Object.is(want[0], -0) && Object.is(want[2], -0)).toBe(true);
    // On webgl / webgpu also with the kernels off: the tfjs-op formulation (as on tfjs-node).
    registerFusedFlag();
    const flag = tf.env().getBool('TFJS_SAMPLING_FUSED');
    try {
      for (const fused of backend === 'webgl' || backend === 'webgpu' ? [true, false] : [flag]) {
        tf.env().set('TFJS_SAMPLING_FUSED', fused);
        const s = createSampler({ ...opts, penalizePrompt: ALL_PROMPT });
        s.begin(ctx.history);
        const got = (await processed(s, rows))[0]!;
        got.forEach((v, j) => expect(Object.is(v, Math.fround(want[j]!)), `kernels ${fused ? 'on' : 'off'}, token ${j}: ${v} vs ${want[j]}`).toBe(true));
        s.dispose();
      }
    } finally {
      tf.env().set('TFJS_SAMPLING_FUSED', flag);
    }
  });

  // The counts are updated in place on webgpu: a read in between caches them on the CPU, which the
  // update must not leave stale; the window's leaving token is subtracted in the same pass.
  it('the device counts equal a plain count after every accept, read back in between', async () => {
    const B = 3;
    const V = 10;
    const prompts = [[1, 1, 2], [], [9]];
    const lastN = [2, Infinity, 3];
    const before = tf.memory().numTensors;
    const h = new TokenHistory(B, V, { countsAll: true, countsGenerated: true, lastN: () => Float64Array.from(lastN), tail: 0 }, prompts);
    const seqs = prompts.map((p) => [...p]);
    const gens: number[][] = prompts.map(() => []);
    const steps = [
      [2, 0, 9],
      [2, 3, 9],
      [-3, 3, 1],
      [5, 3, 9],
      [5, 5, 5],
    ];
    for (const ids of steps) {
      const t = tf.tensor1d(ids, 'int32');
      h.accept(t);
      t.dispose();
      ids.forEach((id, r) => {
        // A negative id (an invalid row's code) counts as nothing and pushes nothing countable.
        seqs[r]!.push(id);
        gens[r]!.push(id);
      });
      const all = (await h.counts('all').array()) as number[][];
      const gen = (await h.counts('generated').array()) as number[][];
      for (let r = 0; r < B; r++) {
        const win = (xs: number[]): number[] => (Number.isFinite(lastN[r]!) ? xs.slice(-lastN[r]!) : xs);
        const plain = (xs: number[]): number[] => {
          const row = new Array<number>(V).fill(0);
          for (const v of win(xs)) if (v >= 0) row[v]!++;
          return row;
        };
        expect(all[r], `all, row ${r}, after ${JSON.stringify(ids)}`).toEqual(plain(seqs[r]!));
        expect(gen[r], `generated, row ${r}, after ${JSON.stringify(ids)}`).toEqual(plain(gens[r]!));
      }
    }
    // webgl keeps the window as a sorted directory, and makes the counts read here on demand.
    expect(h.directory() !== undefined).toBe(backend === 'webgl');
    h.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  // Random windows, prompts and draws (invalid rows' negative codes included): the counts a history
  // hands out equal a plain count of each row's window after every accept, and so do a clone's.
  // On webgl this is the window directory (sorted keys, bucket bounds, occupancy words), long
  // histories included: past its capacity limit (256 entries at these vocabularies) it turns into
  // dense counts, in the middle of a run.
  it('property: the counts of random windows equal a plain count after every accept, clones too', async () => {
    const arb = fc
      .record({
        B: fc.integer({ min: 1, max: 3 }),
        V: fc.integer({ min: 3, max: 90 }),
        steps: fc.integer({ min: 1, max: 24 }),
        lastN: fc.array(fc.oneof(fc.integer({ min: 1, max: 7 }), fc.constant(Infinity)), { minLength: 3, maxLength: 3 }),
        long: fc.boolean(),
        seed: fc.integer(),
      })
      .map((c) => {
        const rand = seedrandom(String(c.seed));
        const int = (n: number): number => Math.floor(rand() * n);
        const pick = (): number => (rand() < 0.1 ? -3 : int(Math.min(c.V, 1 + int(c.V)))); // skewed: repeats
        const prompts = Array.from({ length: c.B }, () => Array.from({ length: c.long ? 240 + int(40) : int(12) }, () => int(c.V)));
        const steps = Array.from({ length: c.steps }, () => Array.from({ length: c.B }, pick));
        return { ...c, lastN: c.lastN.slice(0, c.B), prompts, steps };
      });
    const plain = (xs: number[], n: number, V: number): number[] => {
      const row = new Array<number>(V).fill(0);
      for (const v of Number.isFinite(n) ? xs.slice(-n) : xs) if (v >= 0) row[v]!++;
      return row;
    };
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const before = tf.memory().numTensors;
        const h = new TokenHistory(c.B, c.V, { countsAll: true, countsGenerated: true, lastN: () => Float64Array.from(c.lastN), tail: 0 }, c.prompts);
        let copy: TokenHistory | undefined;
        const seqs = c.prompts.map((p) => [...p]);
        const gens: number[][] = c.prompts.map(() => []);
        try {
          for (const [i, ids] of c.steps.entries()) {
            const t = tf.tensor1d(ids, 'int32');
            h.accept(t);
            t.dispose();
            ids.forEach((id, r) => {
              seqs[r]!.push(id);
              gens[r]!.push(id);
            });
            if (i === Math.floor(c.steps.length / 2)) copy = h.clone();
            const all = (await h.counts('all').array()) as number[][];
            const gen = (await h.counts('generated').array()) as number[][];
            for (let r = 0; r < c.B; r++) {
              expect(all[r], `all, row ${r}, step ${i}`).toEqual(plain(seqs[r]!, c.lastN[r]!, c.V));
              expect(gen[r], `generated, row ${r}, step ${i}`).toEqual(plain(gens[r]!, c.lastN[r]!, c.V));
            }
          }
          if (copy) {
            // The clone, taken mid-run, goes on from there with one more push of its own.
            const at = Math.floor(c.steps.length / 2) + 1;
            const extra = Array.from({ length: c.B }, (_, r) => r % c.V);
            const t = tf.tensor1d(extra, 'int32');
            copy.accept(t);
            t.dispose();
            const all = (await copy.counts('all').array()) as number[][];
            for (let r = 0; r < c.B; r++) {
              const seq = [...c.prompts[r]!, ...c.steps.slice(0, at).map((s) => s[r]!), extra[r]!];
              expect(all[r], `clone, row ${r}`).toEqual(plain(seq, c.lastN[r]!, c.V));
            }
          }
        } finally {
          h.dispose();
          copy?.dispose();
        }
        expect(tf.memory().numTensors).toBe(before);
      }),
      { seed: 0x5eed0041, numRuns: 30 },
    );
  });

  // Chi-square: tokens drawn under a repetition + presence penalty follow reference.probabilities;
  // a sampler with a slightly different penalty is rejected by the same test.
  it('chi-square: penalised draws follow the reference; a 1.5 → 1.3 penalty is rejected', async () => {
    const V = 12;
    const rowsPerCall = gpu ? 1000 : 2000;
    const calls = gpu ? 20 : 50;
    const r = seedrandom('history:chi');
    const base = Array.from({ length: V }, () => Math.fround(r() * 2));
    const history = [0, 3, 3, 7];
    const counts = async (theta: number): Promise<TokenCounts> => {
      const s = createSampler({ repetitionPenalty: theta, presencePenalty: 0.5, penalizePrompt: ALL_PROMPT, seed: 99 });
      s.begin(Array.from({ length: rowsPerCall }, () => history));
      const x = tf.tensor2d(Array.from({ length: rowsPerCall }, () => base));
      const c = new TokenCounts(V);
      for (let i = 0; i < calls; i++) c.add(await s.sampleIds(x, { accept: false }));
      x.dispose();
      s.dispose();
      return c;
    };
    const expected = reference.probabilities(
      [base],
      { repetitionPenalty: 1.5, presencePenalty: 0.5, penalizePrompt: ALL_PROMPT },
      { history: [history], promptLength: [4] },
    )[0]!;
    const goodCounts = await counts(1.5);
    const controlCounts = await counts(1.3);
    const good = chiSquareTest(goodCounts.counts, expected);
    const control = chiSquareTest(controlCounts.counts, expected);
    console.log(`[history chi-square ${backend}] penalised: ${formatChiSquare(good)}; control θ=1.3: ${formatChiSquare(control)}`);
    // Every draw a token id of the vocabulary, and all of them counted (a lost or invalid id
    // would otherwise leave the test on fewer draws than it claims).
    for (const c of [goodCounts, controlCounts]) {
      expect(c.outOfRange).toBe(0);
      expect(c.draws).toBe(rowsPerCall * calls);
    }
    expect(good.draws).toBe(rowsPerCall * calls);
    expect(good.df).toBeGreaterThan(0);
    expect(good.impossible).toEqual([]);
    expect(good.pValue).toBeGreaterThan(1e-6);
    expect(control.df).toBeGreaterThan(0);
    expect(control.pValue).toBeLessThan(1e-6);
  });
});

describe.each(BACKENDS)('a user processor with state across steps (accept / reset) on %s', (backend) => {
  backendSuite(backend);

  /** Bans each row's previous token: its state (the last ids) lives on the device, updated by accept. */
  function noImmediateRepeat(): import('../src/index.js').LogitsProcessor & { kept(): number } {
    let last: tf.Tensor1D | undefined;
    return {
      name: 'no-immediate-repeat',
      apply(state) {
        if (!last) return state;
        const drop = tf.oneHot(last, state.vocab); // -1 (nothing yet / invalid row): a zero row
        return { ...state, logits: tf.where(tf.cast(drop, 'bool'), tf.fill(state.logits.shape, -Infinity), state.logits) as tf.Tensor2D };
      },
      accept(ids) {
        last?.dispose();
        last = tf.keep(tf.clone(ids));
      },
      reset() {
        last?.dispose();
        last = undefined;
      },
      reference(state) {
        const logits = state.logits.map((row, r) => {
          const h = state.history?.[r] ?? [];
          return h.length === 0 ? row : row.map((z, j) => (j === h[h.length - 1] ? -Infinity : z));
        });
        return { ...state, logits };
      },
      kept: () => (last ? 1 : 0),
    };
  }

  it('accept() sees every draw; the tokens equal the reference given the same history; reset() frees the state', async () => {
    const rows = [
      [3, 2.9, 0, -1],
      [0, 0, 0, 5],
    ];
    const p = noImmediateRepeat();
    const opts: SamplerOptions = { temperature: 0, processors: [p], seed: 4 };
    const s = createSampler(opts);
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(rows);
    const hist: number[][] = [[], []];
    for (let step = 0; step < 6; step++) {
      const ids = Array.from(await s.sampleIds(x));
      expect(ids, `step ${step}`).toEqual(reference.sample(rows, { ...opts, processors: [p] }, step, { history: hist }));
      ids.forEach((t, r) => hist[r]!.push(t));
    }
    // Greedy rows alternate between their two best tokens: the processor saw each draw.
    expect(hist).toEqual([
      [0, 1, 0, 1, 0, 1],
      [3, 0, 3, 0, 3, 0],
    ]);
    expect(p.kept()).toBe(1);
    // { accept: false } leaves the state alone: the same token again.
    const again = Array.from(await s.sampleIds(x, { accept: false }));
    expect(again).toEqual(Array.from(await s.sampleIds(x, { accept: false })));
    x.dispose();
    s.reset();
    expect(p.kept()).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe.each(BACKENDS)('generate() with history options on %s', (backend) => {
  backendSuite(backend);

  it('begins the history with the unpadded prompts, frees it at the end, and draws the reference tokens', async () => {
    const { generate } = await import('../src/index.js');
    const V = 12;
    const row = Array.from({ length: V }, (_, j) => 1.5 - 0.2 * j);
    const prompts = [[0, 1, 0], [5]];
    const options: SamplerOptions = { temperature: 0.8, repetitionPenalty: 1.6, presencePenalty: 0.4, noRepeatNgramSize: 2, seed: 21 };
    const before = tf.memory().numTensors;
    // A step function whose logits never change: every difference comes from the history.
    const result = await generate(() => tf.tensor2d([row, row]), { prompts, padId: 11, maxNewTokens: 8, sampler: options, contextLength: 1 });
    expect(tf.memory().numTensors).toBe(before);
    const hist = prompts.map((p) => [...p]);
    for (let step = 0; step < 8; step++) {
      const want = reference.sample([row, row], options, step, { history: hist, promptLength: prompts.map((p) => p.length) });
      want.forEach((t, r) => hist[r]!.push(t));
    }
    expect(result.tokens).toEqual(hist.map((h, r) => h.slice(prompts[r]!.length)));
  });
});
