// Held-out bits per character of the committed model against an add-one smoothed unigram model
// fitted on the training split. Writes model/weights/metrics.json and prints the result.
//
//   npm run evaluate
//
// Both models are scored on the same tokens: every character of each held-out poem plus the
// newline that ends it, with characters outside the vocabulary counted as the unk token.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { NEWLINE_ID, PAD_ID, UNK_ID, type CharModel } from './char-model.js';
import { predictionWindows, readPoems, splitPoems } from './corpus.js';
import { DEFAULT_WEIGHTS_DIR, loadCharModelFromDisk, MODEL_JSON, WEIGHTS_BIN } from './fs-io.js';
import { setTrainBackend } from './train-backend.js';

export const METRICS_JSON = 'metrics.json';

export interface Metrics {
  heldOut: { poems: number; tokens: number; unkRate: number };
  model: { bitsPerChar: number; params: number; vocabSize: number; contextLength: number };
  unigram: { bitsPerChar: number };
  /** unigram.bitsPerChar - model.bitsPerChar */
  improvementBits: number;
  weightsBytes: number;
  backend: string;
  training?: unknown;
}

/** Mean -log2 p(next token) of the model over the windows, in batches. */
export async function modelBitsPerChar(lm: CharModel, x: Int32Array, y: Int32Array, batch = 1024): Promise<number> {
  const ctx = lm.contextLength;
  let nats = 0;
  for (let s = 0; s < y.length; s += batch) {
    const n = Math.min(batch, y.length - s);
    const sum = tf.tidy(() => {
      const logits = lm.model.predict(tf.tensor2d(x.subarray(s * ctx, (s + n) * ctx), [n, ctx], 'int32')) as tf.Tensor2D;
      const logp = tf.logSoftmax(logits);
      return tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(y.subarray(s, s + n), 'int32'), lm.vocab.length)));
    });
    nats -= (await sum.data())[0]!;
    sum.dispose();
  }
  return nats / y.length / Math.LN2;
}

/** Add-one smoothed unigram over every id but pad, fitted on the training tokens; bits per held-out token. */
export function unigramBitsPerChar(trainTokens: ArrayLike<number>, heldOutTokens: ArrayLike<number>, vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  counts[PAD_ID] = 0;
  for (let i = 0; i < trainTokens.length; i++) counts[trainTokens[i]!]!++;
  const total = counts.reduce((a, b) => a + b, 0);
  let bits = 0;
  for (let i = 0; i < heldOutTokens.length; i++) bits -= Math.log2(counts[heldOutTokens[i]!]! / total);
  return bits / heldOutTokens.length;
}

/** Scores the model in `dir` and writes dir/metrics.json; `training` replaces the stored training record. */
export async function evaluate(dir: string = DEFAULT_WEIGHTS_DIR, training?: unknown): Promise<Metrics> {
  const lm = await loadCharModelFromDisk(dir);
  const { train, heldOut } = splitPoems(readPoems());
  const trainTokens = train.flatMap((p) => [...lm.encode(p), NEWLINE_ID]);
  const { x, y } = predictionWindows(heldOut, lm, lm.contextLength);
  const file = path.join(dir, METRICS_JSON);
  const model = await modelBitsPerChar(lm, x, y);
  const unigram = unigramBitsPerChar(trainTokens, y, lm.vocab.length);
  const metrics: Metrics = {
    heldOut: { poems: heldOut.length, tokens: y.length, unkRate: y.filter((t) => t === UNK_ID).length / y.length },
    model: { bitsPerChar: model, params: lm.model.countParams(), vocabSize: lm.vocab.length, contextLength: lm.contextLength },
    unigram: { bitsPerChar: unigram },
    improvementBits: unigram - model,
    weightsBytes: weightsBytes(dir),
    backend: tf.getBackend(),
  };
  writeMetrics(file, metrics, training);
  lm.model.dispose();
  console.log(
    `held-out (${metrics.heldOut.poems} poems, ${metrics.heldOut.tokens} characters incl. newlines, ${(100 * metrics.heldOut.unkRate).toFixed(2)}% unk): ` +
      `model ${model.toFixed(3)} bits/char, unigram ${unigram.toFixed(3)} bits/char, ${(unigram - model).toFixed(3)} bits/char better`,
  );
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  return metrics;
}

await evaluateCli(import.meta.url, evaluate, DEFAULT_WEIGHTS_DIR);

/** The saved model's size on disk (its model.json and weights.bin). */
export function weightsBytes(dir: string): number {
  return statSync(path.join(dir, MODEL_JSON)).size + statSync(path.join(dir, WEIGHTS_BIN)).size;
}

/** Writes `metrics` to `file` with `training` as its training record, else the one already stored there. */
export function writeMetrics(file: string, metrics: { training?: unknown }, training: unknown): void {
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { training?: unknown }) : {};
  const record = training ?? previous.training;
  if (record !== undefined) metrics.training = record;
  writeFileSync(file, `${JSON.stringify(metrics, null, 2)}\n`);
}

/**
 * Runs an evaluator when `url` is the script Node started: `--dir D` scores the model in D
 * (default `defaultDir`), `--cpu` on the cpu backend (default wasm).
 */
export async function evaluateCli(url: string, run: (dir: string) => Promise<unknown>, defaultDir: string): Promise<void> {
  if (!process.argv[1] || path.resolve(process.argv[1]) !== fileURLToPath(url)) return;
  const dirArg = process.argv.indexOf('--dir');
  await setTrainBackend(process.argv.includes('--cpu') ? 'cpu' : 'wasm');
  await run(dirArg > 0 ? path.resolve(process.argv[dirArg + 1]!) : defaultDir);
}
