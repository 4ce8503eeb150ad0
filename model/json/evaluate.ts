// Held-out bits per character of the JSON character transformer (model/json/weights) against the
// unigram baseline, into model/json/weights/metrics.json; then a few records generated through
// the KV-cache step function (printed only).
//
//   npx tsx model/json/evaluate.ts [--dir DIR] [--cpu]      (npm run evaluate:json)
//
// Each held-out record is scored as a Tang poem is (model/evaluate-transformer.ts): the prompt
// [NEWLINE_ID], then its characters, then the newline that ends it, through the full
// sliding-window forward.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { generate } from '../../src/index.js';
import { NEWLINE_ID, UNK_ID } from '../char-model.js';
import { unigramBitsPerChar, METRICS_JSON } from '../evaluate.js';
import { scoredSequences, transformerBitsPerChar } from '../evaluate-transformer.js';
import { DEFAULT_JSON_MODEL_DIR, loadJsonModelFromDisk, MODEL_JSON, WEIGHTS_BIN } from '../fs-io.js';
import { setTrainBackend, type TrainBackend } from '../train-backend.js';
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
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<JsonModelMetrics>) : {};
  const { bits, tokens } = await transformerBitsPerChar(lm, seqs, SCORE_BATCH);
  const unigram = unigramBitsPerChar(trainTokens, targets, lm.vocab.length);
  const metrics: JsonModelMetrics = {
    heldOut: { records: heldOut.length, tokens, unkRate: targets.filter((t) => t === UNK_ID).length / targets.length },
    transformer: { bitsPerChar: bits, params: countParams(lm.config), config: lm.config },
    unigram: { bitsPerChar: unigram },
    improvementBits: unigram - bits,
    weightsBytes: statSync(path.join(dir, MODEL_JSON)).size + statSync(path.join(dir, WEIGHTS_BIN)).size,
    backend: tf.getBackend(),
  };
  const record = training ?? previous.training;
  if (record !== undefined) metrics.training = record;
  writeFileSync(file, `${JSON.stringify(metrics, null, 2)}\n`);
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

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dirArg = process.argv.indexOf('--dir');
  const backend = (process.argv.includes('--cpu') ? 'cpu' : 'wasm') as TrainBackend;
  await setTrainBackend(backend);
  await evaluateJsonModel(dirArg > 0 ? path.resolve(process.argv[dirArg + 1]!) : DEFAULT_JSON_MODEL_DIR);
}
