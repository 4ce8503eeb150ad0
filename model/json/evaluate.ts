import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { generate } from '../../src/index.js';
import { NEWLINE_ID, UNK_ID } from '../char-model.js';
import { evaluateCli, METRICS_JSON, unigramBitsPerChar, weightsBytes, writeMetrics } from '../evaluate.js';
import { scoredSequences, transformerBitsPerChar } from '../evaluate-transformer.js';
import { DEFAULT_JSON_MODEL_DIR, loadJsonModelFromDisk } from '../fs-io.js';
import { cachedStep, countParams, disposeCache, type TransformerConfig, type TransformerLM } from '../transformer.js';
import { splitJsonRecords } from './corpus.js';

/** Held-out records per forward: lines run to 1,000 characters and the attention is [B, H, T, T]. */
export const SCORE_BATCH = 4;

export interface JsonModelMetrics {
  heldOut: { records: number; tokens: number; unkRate: number };
  transformer: { bitsPerChar: number; params: number; config: TransformerConfig };
  unigram: { bitsPerChar: number };
  /** unigram.bitsPerChar - transformer.bitsPerChar */
  improvementBits: number;
  weightsBytes: number;
  backend: string;
  training?: unknown;
}

/** Scores the model in `dir` and writes dir/metrics.json; `training` replaces the stored training record. */
export async function evaluateJsonModel(dir: string = DEFAULT_JSON_MODEL_DIR, training?: unknown): Promise<JsonModelMetrics> {
  const lm = await loadJsonModelFromDisk(dir);
  const { train, heldOut } = splitJsonRecords();
  const trainTokens = train.flatMap((r) => [...lm.encode(r), NEWLINE_ID]);
  const seqs = scoredSequences(lm, heldOut);
  const targets = seqs.flatMap((q) => q.slice(1));
  const file = path.join(dir, METRICS_JSON);
  const { bits, tokens } = await transformerBitsPerChar(lm, seqs, SCORE_BATCH);
  const unigram = unigramBitsPerChar(trainTokens, targets, lm.vocab.length);
  const metrics: JsonModelMetrics = {
    heldOut: { records: heldOut.length, tokens, unkRate: targets.filter((t) => t === UNK_ID).length / targets.length },
    transformer: { bitsPerChar: bits, params: countParams(lm.config), config: lm.config },
    unigram: { bitsPerChar: unigram },
    improvementBits: unigram - bits,
    weightsBytes: weightsBytes(dir),
    backend: tf.getBackend(),
  };
  writeMetrics(file, metrics, training);
  console.log(
    `held-out (${heldOut.length} records, ${tokens} characters incl. newlines): transformer ${bits.toFixed(3)} bits/char, unigram ${unigram.toFixed(3)}`,
  );
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  await printSamples(lm);
  lm.dispose();
  return metrics;
}

/** A few records through generate with the KV cache: greedy, then temperature 0.8 (seeded). */
export async function printSamples(lm: TransformerLM, maxNewTokens = 300): Promise<void> {
  const texts = ['', '{"type":"', '{"name":"'];
  const prompts = texts.map((t) => lm.encodePrompt(t));
  const base = { prompts, padId: lm.config.padId, feed: 'new' as const, maxNewTokens, stopTokens: [lm.config.newlineId], keepStop: false };
  for (const [label, sampler] of [
    ['greedy', { temperature: 0 }],
    ['temperature 0.8', { temperature: 0.8, seed: [1, 2, 3] }],
  ] as const) {
    const r = await generate(cachedStep(lm), { ...base, sampler });
    disposeCache(r.state);
    console.log(`samples (${label}):`);
    r.tokens.forEach((t, i) => {
      const text = texts[i]! + lm.decode(t);
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      console.log(`  ${text}${r.finishReasons[i] === 'stop' ? '' : ' …'}   [${parses ? 'parses' : 'does not parse'}]`);
    });
  }
}

await evaluateCli(import.meta.url, evaluateJsonModel, DEFAULT_JSON_MODEL_DIR);
