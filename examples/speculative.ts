// Speculative decoding with the project's two Tang-poem models: the character MLP (a window of 24
// characters, three matmuls) proposes γ characters per row, and the character transformer checks
// them in one forward pass over γ + 1 positions (generate's draft option). Mode 'exact' keeps a
// proposal while it equals the transformer's own keyed draw, so the poems are those plain
// decoding writes for the same seeds; mode 'rejection' keeps more proposals and samples the same
// distribution. Prints, per mode: identical tokens, acceptance, tokens per target pass, time.
import * as tf from '@tensorflow/tfjs-core';
import { generate, type GenerateOptions } from 'tfjs-sampling';
import { loadCharModelFromDisk, loadTransformerFromDisk } from '../model/fs-io.js';
import { cachedStep, disposeCache, type PositionCache } from '../model/transformer.js';
import { pickBackend } from './backend.js';

const backend = await pickBackend();
const before = tf.memory().numTensors;
const lm = await loadTransformerFromDisk();
const mlp = await loadCharModelFromDisk();
// Both models were trained on one vocabulary (model/char-model.ts): a draft must share the target's ids.
if (lm.vocab.join('\u0000') !== mlp.vocab.join('\u0000')) throw new Error('the draft and the target must have the same vocabulary');

const gamma = 2;
// The target's cache is indexed by position with γ spare slots: a later pass writes over the
// positions of rejected proposals (the rollback contract of the draft option).
const target = cachedStep(lm, { draftTokens: gamma });
const prompts = ['春風', '白日依山盡，', '月', '孤舟'].map((t) => lm.encodePrompt(t));
const options: GenerateOptions<PositionCache> = {
  prompts,
  padId: lm.config.padId,
  maxNewTokens: 48,
  feed: 'new',
  sampler: { temperature: 0.7, topK: 40, seed: [1, 2, 3, 4] },
};

const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const out = await f();
  return [out, performance.now() - t0];
};
const [plain, plainMs] = await timed(() => generate(target, options));
disposeCache(plain.state);
console.log(`backend ${backend.name} (${backend.reason}); B = ${prompts.length}, 48 new characters a row, T 0.7 + top-k 40`);
console.log(`plain decoding: ${plain.steps} target passes, ${plainMs.toFixed(0)} ms`);
for (const mode of ['exact', 'rejection'] as const) {
  const [spec, ms] = await timed(() => generate(target, { ...options, draft: { model: mlp.model, tokens: gamma, mode } }));
  disposeCache(spec.state);
  const same = spec.tokens.reduce((n, row, r) => n + row.filter((t, i) => t === plain.tokens[r]![i]).length, 0);
  const total = plain.tokens.reduce((n, row) => n + row.length, 0);
  const d = spec.draft!;
  console.log(
    `${mode.padEnd(9)} γ = ${gamma}: ${same} of ${total} tokens as plain decoding; ${(100 * d.acceptanceRate).toFixed(0)}% of proposals kept; ` +
      `${d.tokensPerPass.toFixed(2)} tokens per target pass (${d.passes} passes); ${ms.toFixed(0)} ms (${(plainMs / ms).toFixed(2)}× plain)`,
  );
  if (mode === 'exact' && same !== total)
    console.log('  (a batched pass rounds differently from one-token passes: see docs/generation.md, "Speculative decoding")');
  if (mode === 'exact') spec.tokens.forEach((row, r) => console.log(`  ${lm.decode(prompts[r]!.slice(1))}|${lm.decode([...row]).replaceAll('\n', ' / ')}`));
}
lm.dispose();
mlp.model.dispose();
if (tf.memory().numTensors !== before) throw new Error(`${tf.memory().numTensors - before} tensors left`);
