import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, score } from '../src/index.js';
import { cachedStep, disposeCache, receptiveField, windowStep, type TransformerLM } from '../model/transformer.js';
import { backendSuite } from './helpers/suite.js';
import { loadTestTransformer, recorded } from './helpers/transformer.js';
import { BACKENDS, coveredElsewhere, isSoftwareGpu } from './helpers/backend.js';

/**
 * Largest |cached − no cache| allowed on a logit: the two paths add the same terms in different
 * orders and shapes (float32). Measured 1.9e-6 on cpu, 1.3e-5 on webgl (SwiftShader).
 */
const TOL = 1e-3;

describe.each(BACKENDS)('the transformer through generate on %s', (backend) => {
  backendSuite(backend);
  let lm: TransformerLM;
  beforeAll(async () => {
    lm = await loadTestTransformer();
  });
  afterAll(() => lm.dispose());
  // Past the window W = 64 (the ring buffer wraps) on wasm; fewer steps elsewhere: the GPU
  // backends run SwiftShader here (the no-cache path costs seconds a step there), and cpu's
  // plain-JS matmuls took 49 s alone for 60 steps (wasm 3 s). The wrap is the model code's
  // ring-buffer indexing, the same on every backend (transformer-cache.test.ts wraps it on each).
  const maxNewTokens = backend === 'wasm' ? 60 : 16;
  const texts = ['春風', '白日依山盡，', '月'];
  const sampler = { temperature: 0.9, topK: 40, seed: [11, 12, 13] };

  const elsewhere = coveredElsewhere('kv-cache-equivalence', backend);
  (elsewhere ? it.skip : it)(
    `KV cache = no cache: the same tokens; the logits of the two paths within the tolerance${elsewhere ? ` (skipped here: ${elsewhere})` : ''}`,
    async () => {
      const prompts = texts.map((t) => lm.encodePrompt(t));
      const withCache: Float32Array[] = [];
      const without: Float32Array[] = [];
      const cached = await generate(recorded(cachedStep(lm), withCache), { prompts, padId: 0, maxNewTokens, feed: 'new', sampler });
      disposeCache(cached.state);
      const plain = await generate(recorded(windowStep(lm), without), { prompts, padId: 0, maxNewTokens, contextLength: receptiveField(lm.config), sampler });
      // Tokens that change between the paths: none (the tolerance below is far from any token's margin here).
      const changed = cached.tokens.map((row, r) => row.findIndex((t, i) => t !== plain.tokens[r]![i]));
      expect(changed, 'first differing token per row (-1: none)').toEqual([-1, -1, -1]);
      let worst = 0;
      withCache.forEach((a, s) => a.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - without[s]![j]!)))));
      console.log(`transformer on ${backend}: ${withCache.length} steps, max |cached − no cache| logit ${worst.toExponential(2)}`);
      expect(worst, `max |cached − no cache| logit on ${backend}`).toBeLessThanOrEqual(TOL);
    },
  );

  // 24 tokens; 12 on the software GPUs (three generations of ~2 s a step under CI's load there).
  const independent = isSoftwareGpu(backend) ? 12 : 24;
  it(`a row's tokens do not depend on the other rows (alone vs batched, other padding; ${independent} tokens); raw logprobs equal score()`, async () => {
    const prompts = texts.map((t) => lm.encodePrompt(t));
    const batched = await generate(cachedStep(lm), { prompts, padId: 0, maxNewTokens: independent, feed: 'new', sampler, logprobs: true });
    disposeCache(batched.state);
    const alone = await generate(cachedStep(lm), {
      prompts: [prompts[1]!],
      padId: 0,
      maxNewTokens: independent,
      feed: 'new',
      sampler: { ...sampler, seed: [12] },
    });
    disposeCache(alone.state);
    expect(alone.tokens[0]).toEqual(batched.tokens[1]);
    const scored = await score(cachedStep(lm), { prompts, continuations: batched.tokens, padId: 0, feed: 'new' });
    disposeCache(scored.state);
    // One log-probability per token on both sides (the loop below would pass over missing ones).
    expect(batched.tokens.every((t) => t.length > 0)).toBe(true);
    expect(batched.logprobs!.map((l) => l.length)).toEqual(batched.tokens.map((t) => t.length));
    expect(scored.logprobs.map((l) => l.length)).toEqual(batched.tokens.map((t) => t.length));
    batched.logprobs!.forEach((row, r) =>
      row.forEach((t, k) => expect(Math.abs(t.raw - scored.logprobs[r]![k]!), `row ${r} token ${k}`).toBeLessThanOrEqual(2e-4 * Math.max(1, Math.abs(t.raw)))),
    );
  });

  it('continuous batching through the cache: each request gets the tokens it gets alone', async () => {
    const reqs = [
      { prompt: lm.encodePrompt('春'), seed: 21, maxNewTokens: 6 },
      { prompt: lm.encodePrompt('秋風'), seed: 22, maxNewTokens: 14 },
      { prompt: lm.encodePrompt('山'), seed: 23, maxNewTokens: 9 },
      { prompt: lm.encodePrompt('江上'), seed: 24, maxNewTokens: 8 },
    ];
    const opts = { temperature: 0.9, topK: 40 };
    const want: number[][] = [];
    for (const q of reqs) {
      const one = await generate(cachedStep(lm), {
        prompts: [q.prompt],
        padId: 0,
        maxNewTokens: q.maxNewTokens,
        feed: 'new',
        sampler: { ...opts, seed: [q.seed] },
      });
      disposeCache(one.state);
      want.push(one.tokens[0]!);
    }
    const got = await generate(cachedStep(lm), {
      prompts: reqs.slice(0, 2).map((q) => q.prompt),
      seeds: reqs.slice(0, 2).map((q) => q.seed),
      maxNewTokens: reqs.slice(0, 2).map((q) => q.maxNewTokens),
      queue: reqs.slice(2),
      padId: 0,
      feed: 'new',
      sampler: opts,
    });
    disposeCache(got.state);
    expect(got.tokens).toEqual(want);
  });
});
