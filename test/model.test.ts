// The committed character model (model/): loads from disk without tfjs-node, tokenizes both ways,
// predicts [B, V] logits for padded windows, beats the unigram baseline, survives save -> load,
// fits in 5 MB and leaks no tensors.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextWindows, loadCharModel, type CharModel } from '../model/char-model.js';
import { readPoems, splitPoems } from '../model/corpus.js';
import { DEFAULT_WEIGHTS_DIR, fileSystemIO, loadCharModelFromDisk } from '../model/fs-io.js';
import type { Metrics } from '../model/evaluate.js';
import { BACKENDS, useBackend } from './helpers/backend.js';

let lm: CharModel;

beforeAll(async () => {
  await useBackend(BACKENDS[0] ?? 'cpu');
  lm = await loadCharModelFromDisk();
});

afterAll(() => lm?.model.dispose());

describe('char model', () => {
  it('loads from model/weights through fileSystemIO, without tfjs-node', () => {
    expect(tf.findBackendFactory('tensorflow')).toBeNull();
    expect(lm.padId).toBe(0);
    expect(lm.vocab[lm.newlineId]).toBe('\n');
    expect(lm.model.inputs[0]!.shape).toEqual([null, lm.contextLength]);
    expect(lm.model.outputs[0]!.shape).toEqual([null, lm.vocab.length]);
  });

  it('encode/decode round-trips text in the vocabulary; unknown characters become unk; pad is skipped', () => {
    const known = new Set(lm.vocab.slice(lm.newlineId));
    const poem = splitPoems(readPoems()).heldOut.find((p) => [...p].every((ch) => known.has(ch)))!;
    expect(poem).toBeDefined();
    const ids = lm.encode(`${poem}\n`);
    expect(ids).toHaveLength([...poem].length + 1);
    expect(ids.at(-1)).toBe(lm.newlineId);
    expect(lm.decode(ids)).toBe(`${poem}\n`);
    expect(lm.decode([lm.padId, lm.padId, ...ids])).toBe(`${poem}\n`);
    expect(lm.encode('A春')[0]).toBe(lm.unkId);
    expect(lm.encode('A春')[1]).not.toBe(lm.unkId);
  });

  it('predicts float32 logits [B, V] for a batch of left-padded windows of any prompt length', async () => {
    const prompts = ['', '春', '床前明月光，', '白日依山盡，黃河入海流。欲窮千里目，更上一層樓。'].map((p) => lm.encode(p));
    const x = contextWindows(lm, prompts);
    expect(x.dtype).toBe('int32');
    expect(x.shape).toEqual([4, lm.contextLength]);
    const row0 = Array.from((await x.array())[0]!);
    expect(row0.every((id) => id === lm.padId)).toBe(true);
    const logits = lm.model.predict(x) as tf.Tensor2D;
    expect(logits.shape).toEqual([4, lm.vocab.length]);
    expect(logits.dtype).toBe('float32');
    const values = await logits.data();
    expect(values.every(Number.isFinite)).toBe(true);
    tf.dispose([x, logits]);
  });

  it('has learnt the verse form: a comma after a five-character opening line', async () => {
    const probs = tf.tidy(() => tf.softmax(lm.model.predict(contextWindows(lm, [lm.encode('床前明月光')])) as tf.Tensor2D));
    const p = await probs.data();
    probs.dispose();
    expect(p[lm.encode('，')[0]!]!).toBeGreaterThan(0.5);
  });

  it('beats the unigram baseline by more than 1 bit per character on the held-out poems (metrics.json)', () => {
    const m = JSON.parse(readFileSync(path.join(DEFAULT_WEIGHTS_DIR, 'metrics.json'), 'utf8')) as Metrics;
    expect(m.heldOut.tokens).toBeGreaterThan(5000);
    expect(m.model.bitsPerChar).toBeLessThan(m.unigram.bitsPerChar - 1);
    expect(m.improvementBits).toBeCloseTo(m.unigram.bitsPerChar - m.model.bitsPerChar, 9);
  });

  it('save -> load through fileSystemIO gives identical predictions and metadata', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'char-model-'));
    try {
      await lm.model.save(fileSystemIO(dir));
      const again = await loadCharModel(fileSystemIO(dir));
      expect(again.vocab).toEqual(lm.vocab);
      expect(again.contextLength).toBe(lm.contextLength);
      const x = contextWindows(lm, [lm.encode('春眠不覺曉，'), lm.encode('')]);
      const a = lm.model.predict(x) as tf.Tensor;
      const b = again.model.predict(x) as tf.Tensor;
      expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
      tf.dispose([x, a, b]);
      again.model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the committed weights folder is at most 5 MB', () => {
    const bytes = readdirSync(DEFAULT_WEIGHTS_DIR).reduce((s, f) => s + statSync(path.join(DEFAULT_WEIGHTS_DIR, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
  });

  it('leaks no tensors: predicting, and loading then disposing a model', async () => {
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => tf.argMax(lm.model.predict(contextWindows(lm, [lm.encode('月落烏啼')])) as tf.Tensor2D, 1));
    await out.data();
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const other = await tfl.loadLayersModel(fileSystemIO(DEFAULT_WEIGHTS_DIR));
    other.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
