// Held-out bits per character of the character transformer, on exactly the tokens of
// model/evaluate.ts (every character of each held-out poem plus the newline that ends it, out-of-
// vocabulary characters as unk), against the unigram baseline and the MLP (model/weights).
// Writes model/transformer/weights/metrics.json.
//
//   npx tsx model/evaluate-transformer.ts [--dir DIR] [--cpu]
//
// Each poem is scored from its start: the prompt [NEWLINE_ID], then its characters, then the
// ending newline, through the full sliding-window forward (transformerLogits), which is what
// cachedStep computes token by token.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { NEWLINE_ID, UNK_ID } from './char-model.js';
import { readPoems, splitPoems } from './corpus.js';
import { evaluateCli, METRICS_JSON, unigramBitsPerChar, weightsBytes, writeMetrics, type Metrics as MlpMetrics } from './evaluate.js';
import { DEFAULT_TRANSFORMER_DIR, DEFAULT_WEIGHTS_DIR, loadTransformerFromDisk } from './fs-io.js';
import { countParams, transformerLogits, type TransformerConfig, type TransformerLM } from './transformer.js';

export interface TransformerMetrics {
  heldOut: { poems: number; tokens: number; unkRate: number };
  transformer: { bitsPerChar: number; params: number; config: TransformerConfig };
  mlp: { bitsPerChar: number | null; params: number | null };
  unigram: { bitsPerChar: number };
  /** unigram.bitsPerChar - transformer.bitsPerChar */
  improvementBits: number;
  /** mlp.bitsPerChar - transformer.bitsPerChar (null without model/weights/metrics.json) */
  improvementOverMlpBits: number | null;
  weightsBytes: number;
  backend: string;
  training?: unknown;
}

/** Each poem as scored: [NEWLINE_ID, ...chars, NEWLINE_ID] (inputs all but the last, targets all but the first). */
export function scoredSequences(lm: Pick<TransformerLM, 'encode'>, poems: readonly string[]): number[][] {
  return poems.map((p) => [NEWLINE_ID, ...lm.encode(p), NEWLINE_ID]);
}

/**
 * Mean −log2 p(next token) over every target of the sequences (each scored from its first token),
 * in left-padded batches through transformerLogits. Returns bits per token and the token count.
 */
export async function transformerBitsPerChar(lm: TransformerLM, seqs: readonly number[][], batch = 32): Promise<{ bits: number; tokens: number }> {
  let nats = 0;
  let tokens = 0;
  for (let s = 0; s < seqs.length; s += batch) {
    const rows = seqs.slice(s, s + batch);
    const t = Math.max(...rows.map((r) => r.length - 1));
    const b = rows.length;
    const x = new Int32Array(b * t);
    const y = new Int32Array(b * t);
    const pos = new Int32Array(b * t);
    const mask = new Int32Array(b * t);
    rows.forEach((r, i) => {
      const n = r.length - 1;
      for (let j = 0; j < n; j++) {
        const k = i * t + (t - n) + j;
        x[k] = r[j]!;
        y[k] = r[j + 1]!;
        pos[k] = j;
        mask[k] = 1;
      }
      tokens += n;
    });
    const sum = tf.tidy(() => {
      const m = tf.tensor2d(mask, [b, t], 'int32');
      const logits = transformerLogits(lm, tf.tensor2d(x, [b, t], 'int32'), tf.tensor2d(pos, [b, t], 'int32'), m);
      const logp = tf.logSoftmax(tf.reshape(logits, [b * t, lm.config.vocabSize]));
      const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(y, 'int32'), lm.config.vocabSize)), 1);
      return tf.sum(tf.mul(picked, tf.cast(tf.reshape(m, [b * t]), 'float32')));
    });
    nats -= (await sum.data())[0]!;
    sum.dispose();
  }
  return { bits: nats / tokens / Math.LN2, tokens };
}

/** Scores the transformer in `dir` and writes dir/metrics.json; `training` replaces the stored training record. */
export async function evaluateTransformer(dir: string = DEFAULT_TRANSFORMER_DIR, training?: unknown): Promise<TransformerMetrics> {
  const lm = await loadTransformerFromDisk(dir);
  const { train, heldOut } = splitPoems(readPoems());
  const trainTokens = train.flatMap((p) => [...lm.encode(p), NEWLINE_ID]);
  const seqs = scoredSequences(lm, heldOut);
  const targets = seqs.flatMap((q) => q.slice(1));
  const file = path.join(dir, METRICS_JSON);
  const mlpFile = path.join(DEFAULT_WEIGHTS_DIR, METRICS_JSON);
  const mlp = existsSync(mlpFile) ? (JSON.parse(readFileSync(mlpFile, 'utf8')) as MlpMetrics) : undefined;
  const { bits, tokens } = await transformerBitsPerChar(lm, seqs);
  const unigram = unigramBitsPerChar(trainTokens, targets, lm.vocab.length);
  const metrics: TransformerMetrics = {
    heldOut: { poems: heldOut.length, tokens, unkRate: targets.filter((t) => t === UNK_ID).length / targets.length },
    transformer: { bitsPerChar: bits, params: countParams(lm.config), config: lm.config },
    mlp: { bitsPerChar: mlp?.model.bitsPerChar ?? null, params: mlp?.model.params ?? null },
    unigram: { bitsPerChar: unigram },
    improvementBits: unigram - bits,
    improvementOverMlpBits: mlp ? mlp.model.bitsPerChar - bits : null,
    weightsBytes: weightsBytes(dir),
    backend: tf.getBackend(),
  };
  writeMetrics(file, metrics, training);
  lm.dispose();
  console.log(
    `held-out (${metrics.heldOut.poems} poems, ${tokens} characters incl. newlines): transformer ${bits.toFixed(3)} bits/char, ` +
      `MLP ${mlp ? mlp.model.bitsPerChar.toFixed(3) : '?'}, unigram ${unigram.toFixed(3)}`,
  );
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  return metrics;
}

await evaluateCli(import.meta.url, evaluateTransformer, DEFAULT_TRANSFORMER_DIR);
