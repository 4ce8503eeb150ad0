// The committed JSON character transformer (model/json/weights): loads from disk without
// tfjs-node, has the ASCII vocabulary (pad, unk, newline, then every printable ASCII character in
// code order), its KV-cache step gives the full forward's logits on a JSON prompt, fits in 4 MB,
// beats the unigram baseline and leaks no tensors.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, type StepContext } from '../src/index.js';
import { DEFAULT_JSON_MODEL_DIR, loadJsonModelFromDisk } from '../model/fs-io.js';
import type { JsonModelMetrics } from '../model/json/evaluate.js';
import { asciiVocab, FIRST_CHAR_ID, PRINTABLE_ASCII } from '../model/json/vocab.js';
import { cachedStep, disposeCache, transformerLogits, type KVCache, type TransformerLM } from '../model/transformer.js';
import { BACKENDS, useBackend } from './helpers/backend.js';

/** Largest |cached − full| allowed on a logit (float32 rounding of two orders of the same sums). */
const TOL = 1e-4;

const PROMPT = '{"type":"application/json","source":"iana","compressible":true,"extensions":["json","map"]}';

let lm: TransformerLM;

beforeAll(async () => {
  await useBackend(BACKENDS[0] ?? 'cpu');
  lm = await loadJsonModelFromDisk();
});

afterAll(() => lm?.dispose());

function context(phase: 'prefill' | 'decode', state: KVCache | undefined, mask: tf.Tensor2D, positions: tf.Tensor2D): StepContext<KVCache> {
  const b = positions.shape[0];
  return { step: 0, phase, state, lengths: new Int32Array(b), finished: new Uint8Array(b), attentionMask: () => mask, positionIds: () => positions };
}

describe('JSON char transformer', () => {
  it('loads from model/json/weights through fileSystemIO; vocabulary: pad 0, unk 1, newline 2, then printable ASCII', () => {
    expect(tf.findBackendFactory('tensorflow')).toBeNull();
    const { padId, unkId, newlineId, vocabSize } = lm.config;
    expect([padId, unkId, newlineId]).toEqual([0, 1, 2]);
    expect(vocabSize).toBe(3 + 95);
    expect(lm.vocab).toEqual(asciiVocab());
    expect(lm.vocab[padId]).toBe('');
    expect(lm.vocab[newlineId]).toBe('\n');
    for (let code = 0x20; code <= 0x7e; code++) expect(lm.vocab[FIRST_CHAR_ID + code - 0x20]).toBe(String.fromCharCode(code));
    expect(lm.vocab.slice(FIRST_CHAR_ID)).toEqual(PRINTABLE_ASCII);
    const ids = lm.encode(PROMPT);
    expect(ids).not.toContain(unkId);
    expect(lm.decode(ids)).toBe(PROMPT);
    expect(lm.encode('é')).toEqual([unkId]);
    expect(lm.encodePrompt('{')).toEqual([newlineId, FIRST_CHAR_ID + '{'.charCodeAt(0) - 0x20]);
  });

  it('cachedStep = transformerLogits over a JSON prompt and the tokens fed after it (past the window)', async () => {
    const W = lm.config.window;
    const all = lm.encodePrompt(PROMPT + PROMPT); // 1 + 2 · 93 tokens
    const p = 20;
    expect(all.length).toBeGreaterThan(p + W + 10); // the ring wraps
    const full = tf.tidy(() => {
      const n = all.length;
      const pos = tf.tensor2d([Array.from({ length: n }, (_, i) => i)], undefined, 'int32');
      return transformerLogits(lm, tf.tensor2d([all], undefined, 'int32'), pos, tf.ones([1, n], 'int32') as tf.Tensor2D);
    });
    const expected = (await full.array())[0]!;
    full.dispose();
    const step = cachedStep(lm);
    const mask = tf.ones([1, p], 'int32') as tf.Tensor2D;
    const pos = tf.tensor2d([Array.from({ length: p }, (_, i) => i)], undefined, 'int32');
    const tokens = tf.tensor2d([all.slice(0, p)], undefined, 'int32');
    let out = (await step(tokens, context('prefill', undefined, mask, pos))) as { logits: tf.Tensor2D; state: KVCache };
    tf.dispose([mask, pos, tokens]);
    let worst = 0;
    for (let t = p - 1; ; t++) {
      const got = (await out.logits.array())[0]!;
      out.logits.dispose();
      got.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - expected[t]![k]!))));
      if (t + 1 === all.length) break;
      const x = tf.tensor2d([[all[t + 1]!]], undefined, 'int32');
      const q = tf.tensor2d([[t + 1]], undefined, 'int32');
      const dummy = tf.ones([1, 1], 'int32') as tf.Tensor2D;
      out = (await step(x, context('decode', out.state, dummy, q))) as { logits: tf.Tensor2D; state: KVCache };
      tf.dispose([x, q, dummy]);
    }
    disposeCache(out.state);
    expect(worst).toBeLessThanOrEqual(TOL);
  });

  it('generate with the cache: greedy records end at the newline id; nothing leaks', async () => {
    const before = tf.memory().numTensors;
    const r = await generate(cachedStep(lm), {
      prompts: [lm.encodePrompt(''), lm.encodePrompt('{"type":"')],
      padId: lm.config.padId,
      feed: 'new',
      maxNewTokens: 400,
      stopTokens: [lm.config.newlineId],
    });
    disposeCache(r.state);
    expect(tf.memory().numTensors).toBe(before);
    for (const t of r.tokens) {
      expect(t).not.toContain(lm.config.padId);
      expect(t).not.toContain(lm.config.unkId);
    }
    expect(r.finishReasons).toEqual(['stop', 'stop']);
  });

  it('metrics.json: beats the unigram on the held-out records; weights at most 4 MB', () => {
    const m = JSON.parse(readFileSync(path.join(DEFAULT_JSON_MODEL_DIR, 'metrics.json'), 'utf8')) as JsonModelMetrics;
    expect(m.heldOut.records).toBeGreaterThan(100);
    expect(m.heldOut.unkRate).toBe(0);
    expect(m.transformer.bitsPerChar).toBeLessThan(m.unigram.bitsPerChar - 2);
    expect(m.improvementBits).toBeCloseTo(m.unigram.bitsPerChar - m.transformer.bitsPerChar, 9);
    const bytes = statSync(path.join(DEFAULT_JSON_MODEL_DIR, 'weights.bin')).size + statSync(path.join(DEFAULT_JSON_MODEL_DIR, 'model.json')).size;
    expect(bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(m.weightsBytes).toBe(bytes);
  });
});
