// The committed character transformer (model/transformer.ts): loads from disk without
// tfjs-node, gives [B, T, V] logits; its KV-cache step function gives the logits of the full
// sliding-window forward token by token (past the window: the ring buffer wraps; rows with
// different left padding); a row's logits do not depend on the other rows; decode steps keep
// their shapes; nothing leaks; metrics.json beats the unigram baseline.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, type StepContext } from '../src/index.js';
import { DEFAULT_TRANSFORMER_DIR, DEFAULT_WEIGHTS_DIR, fileSystemIO, loadTransformerFromDisk } from '../model/fs-io.js';
import type { TransformerMetrics } from '../model/evaluate-transformer.js';
import {
  cachedStep,
  disposeCache,
  loadTransformer,
  receptiveField,
  saveTransformer,
  transformerLogits,
  windowStep,
  type KVCache,
  type TransformerLM,
} from '../model/transformer.js';
import { BACKENDS, useBackend } from './helpers/backend.js';

/**
 * Largest |cached − full| allowed on a logit. The two paths compute the same sums in different
 * orders (a [B, H, 1, W] softmax over the ring against a masked [B, H, T, T] one, rotary angles
 * of one position against a row of them): float32 rounding, measured ≤ 4e-6 on cpu (≤ 1.1e-5 on wasm, over 600 tokens).
 */
const TOL = 1e-4;

let lm: TransformerLM;

beforeAll(async () => {
  await useBackend(BACKENDS[0] ?? 'cpu');
  lm = await loadTransformerFromDisk();
});

afterAll(() => lm?.dispose());

/** Left-padded batch: tokens, positions (0 at each row's first real token) and mask, as arrays. */
function padRows(rows: number[][], width = Math.max(...rows.map((r) => r.length))) {
  const tokens: number[][] = [];
  const positions: number[][] = [];
  const mask: number[][] = [];
  for (const r of rows) {
    const pad = width - r.length;
    tokens.push([...new Array<number>(pad).fill(lm.config.padId), ...r]);
    positions.push(Array.from({ length: width }, (_, j) => Math.max(0, j - pad)));
    mask.push(Array.from({ length: width }, (_, j) => (j < pad ? 0 : 1)));
  }
  return { tokens, positions, mask };
}

function context(phase: 'prefill' | 'decode', step: number, state: KVCache | undefined, mask: tf.Tensor2D, positions: tf.Tensor2D): StepContext<KVCache> {
  const b = positions.shape[0];
  return { step, phase, state, lengths: new Int32Array(b), finished: new Uint8Array(b), attentionMask: () => mask, positionIds: () => positions };
}

/** A deterministic stretch of poem text, as ids (prompt rows and the tokens fed after them). */
function poemIds(n: number, from = 0): number[] {
  const text =
    '白日依山盡，黃河入海流。欲窮千里目，更上一層樓。床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。春眠不覺曉，處處聞啼鳥。夜來風雨聲，花落知多少。';
  const ids = lm.encode(text);
  return Array.from({ length: n }, (_, i) => ids[(from + i) % ids.length]!);
}

/**
 * Feeds the prompts (prefill), then `feed[s]` per row at decode step s, through cachedStep;
 * returns every step's logits [B, V] and the cache shapes seen after each step.
 */
async function runCached(prompts: number[][], feed: number[][]) {
  const step = cachedStep(lm);
  const p = padRows(prompts);
  const mask = tf.tensor2d(p.mask, undefined, 'int32');
  const pos = tf.tensor2d(p.positions, undefined, 'int32');
  const tokens = tf.tensor2d(p.tokens, undefined, 'int32');
  let out = (await step(tokens, context('prefill', 0, undefined, mask, pos))) as { logits: tf.Tensor2D; state: KVCache };
  tf.dispose([mask, pos, tokens]);
  const logits: number[][][] = [await out.logits.array()];
  out.logits.dispose();
  const shapes: string[] = [];
  const counts: number[] = [];
  const lengths = prompts.map((r) => r.length);
  for (let s = 0; s < feed[0]!.length; s++) {
    const t = tf.tensor2d(
      feed.map((f) => [f[s]!]),
      undefined,
      'int32',
    );
    const q = tf.tensor2d(
      lengths.map((n) => [n + s]),
      undefined,
      'int32',
    );
    const dummy = tf.ones([prompts.length, 1], 'int32') as tf.Tensor2D; // decode never reads the mask
    out = (await step(t, context('decode', s + 1, out.state, dummy, q))) as { logits: tf.Tensor2D; state: KVCache };
    tf.dispose([t, q, dummy]);
    logits.push(await out.logits.array());
    out.logits.dispose();
    shapes.push([...out.state.k, ...out.state.v, out.state.valid].map((x) => x.shape.join('x')).join(' '));
    counts.push(tf.memory().numTensors);
  }
  disposeCache(out.state);
  return { logits, shapes, counts };
}

/** transformerLogits over prompts + fed tokens: the logits at the last prompt position and after each fed token. */
async function runFull(prompts: number[][], feed: number[][]): Promise<number[][][]> {
  const rows = prompts.map((r, i) => [...r, ...feed[i]!]);
  const p = padRows(rows);
  const width = p.tokens[0]!.length;
  const all = tf.tidy(() =>
    transformerLogits(lm, tf.tensor2d(p.tokens, undefined, 'int32'), tf.tensor2d(p.positions, undefined, 'int32'), tf.tensor2d(p.mask, undefined, 'int32')),
  );
  const values = await all.array();
  all.dispose();
  const steps = feed[0]!.length;
  return Array.from({ length: steps + 1 }, (_, s) => values.map((row) => row[width - 1 - steps + s]!));
}

function maxAbsDiff(a: number[][][], b: number[][][]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((r, j) => r.forEach((v, k) => (m = Math.max(m, Math.abs(v - b[i]![j]![k]!))))));
  return m;
}

describe('char transformer', () => {
  it('loads from model/transformer/weights through fileSystemIO, with the MLP vocabulary', () => {
    expect(tf.findBackendFactory('tensorflow')).toBeNull();
    const mlp = JSON.parse(readFileSync(path.join(DEFAULT_WEIGHTS_DIR, 'model.json'), 'utf8')) as { userDefinedMetadata: { vocab: string[] } };
    expect(lm.vocab).toEqual(mlp.userDefinedMetadata.vocab);
    expect(lm.config.vocabSize).toBe(3421);
    expect(lm.vocab[lm.config.newlineId]).toBe('\n');
    expect(lm.encodePrompt('')).toEqual([lm.config.newlineId]);
    expect(lm.encodePrompt('春眠')).toEqual([lm.config.newlineId, ...lm.encode('春眠')]);
    expect(lm.decode(lm.encodePrompt('春眠'))).toBe('\n春眠');
  });

  it('transformerLogits: float32 [B, T, V], finite', async () => {
    const p = padRows([lm.encodePrompt('床前明月光，'), lm.encodePrompt('')]);
    const logits = tf.tidy(() =>
      transformerLogits(lm, tf.tensor2d(p.tokens, undefined, 'int32'), tf.tensor2d(p.positions, undefined, 'int32'), tf.tensor2d(p.mask, undefined, 'int32')),
    );
    expect(logits.shape).toEqual([2, 7, lm.config.vocabSize]);
    expect(logits.dtype).toBe('float32');
    expect((await logits.data()).every(Number.isFinite)).toBe(true);
    logits.dispose();
  });

  it('cachedStep = transformerLogits over the whole sequence: prompts longer than W, the ring wrapping, different left padding', async () => {
    const W = lm.config.window;
    // Prefill width W + 6 (row 0 longer than the window), then 20 decode steps.
    const prompts = [poemIds(W + 6), poemIds(30, 7), poemIds(1, 3)];
    const feed = [poemIds(20, 40), poemIds(20, 11), poemIds(20, 50)];
    const cached = await runCached(prompts, feed);
    const full = await runFull(prompts, feed);
    expect(maxAbsDiff(cached.logits, full)).toBeLessThanOrEqual(TOL);
    // Prompts shorter than W, then enough steps to wrap the ring (P + steps > W).
    const short = [poemIds(12, 2), poemIds(5, 9)];
    const long = [poemIds(W, 20), poemIds(W, 33)];
    const c2 = await runCached(short, long);
    const f2 = await runFull(short, long);
    expect(maxAbsDiff(c2.logits, f2)).toBeLessThanOrEqual(TOL);
  });

  it("a row's logits are the same alone as in a batch with other padding", async () => {
    const prompts = [poemIds(9, 4), poemIds(40, 1), poemIds(3, 30)];
    const feed = [poemIds(8, 60), poemIds(8, 2), poemIds(8, 17)];
    const batch = await runCached(prompts, feed);
    const alone = await runCached([prompts[0]!], [feed[0]!]);
    expect(
      maxAbsDiff(
        alone.logits,
        batch.logits.map((s) => [s[0]!]),
      ),
    ).toBeLessThanOrEqual(TOL);
  });

  it('decode steps keep their tensor shapes and tensor count', async () => {
    const W = lm.config.window;
    const { shapes, counts } = await runCached([poemIds(10), poemIds(3)], [poemIds(W + 5, 3), poemIds(W + 5, 8)]);
    const hd = lm.config.dModel / lm.config.heads;
    const kv = `2x${lm.config.heads}x${W}x${hd}`;
    expect(new Set(shapes)).toEqual(new Set([[...new Array(2 * lm.config.layers).fill(kv), `2x${W}`].join(' ')]));
    expect(new Set(counts).size).toBe(1);
  });

  it("generate: feed 'new' with the cache runs past W and gives the window step's tokens; nothing leaks", async () => {
    const before = tf.memory().numTensors;
    const W = lm.config.window;
    const prompts = [lm.encodePrompt('白日依山盡，'), lm.encodePrompt('春')];
    const base = { prompts, padId: lm.config.padId };
    const cached = await generate(cachedStep(lm), { ...base, maxNewTokens: W, feed: 'new' });
    disposeCache(cached.state);
    expect(cached.sequences[0]!.length).toBeGreaterThan(W);
    // Without a cache, a window of W tokens (exact while a row is at most W tokens long).
    const windowed = await generate(windowStep(lm), { ...base, maxNewTokens: 20, contextLength: W });
    expect(windowed.tokens).toEqual(cached.tokens.map((t) => t.slice(0, 20)));
    expect(receptiveField(lm.config)).toBe(lm.config.layers * (W - 1) + 1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('save -> load through fileSystemIO gives the same logits', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'char-transformer-'));
    try {
      await saveTransformer(lm, fileSystemIO(dir));
      const again = await loadTransformer(fileSystemIO(dir));
      expect(again.config).toEqual(lm.config);
      const p = padRows([lm.encodePrompt('月落烏啼')]);
      const run = (m: TransformerLM) =>
        tf.tidy(() =>
          transformerLogits(
            m,
            tf.tensor2d(p.tokens, undefined, 'int32'),
            tf.tensor2d(p.positions, undefined, 'int32'),
            tf.tensor2d(p.mask, undefined, 'int32'),
          ),
        );
      const a = run(lm);
      const b = run(again);
      expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
      tf.dispose([a, b]);
      again.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('metrics.json: beats the unigram on the 8,568 held-out tokens; weights.bin at most 4 MB', () => {
    const m = JSON.parse(readFileSync(path.join(DEFAULT_TRANSFORMER_DIR, 'metrics.json'), 'utf8')) as TransformerMetrics;
    expect(m.heldOut.tokens).toBe(8568);
    expect(m.transformer.bitsPerChar).toBeLessThan(m.unigram.bitsPerChar - 1);
    expect(m.improvementBits).toBeCloseTo(m.unigram.bitsPerChar - m.transformer.bitsPerChar, 9);
    expect(statSync(path.join(DEFAULT_TRANSFORMER_DIR, 'weights.bin')).size).toBeLessThanOrEqual(4 * 1024 * 1024);
  });
});
