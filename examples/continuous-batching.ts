// Continuous batching with the project's character transformer and its KV cache: six requests
// through a batch of two rows. When a row's request ends (a newline or its token budget), the row
// takes the next request from the queue; each request gets exactly the tokens it gets when
// generated alone with its seed, which this example checks. Then the same with a loop of your
// own: sampler.sample(logits, { steps, seeds }) and sampler.restartRows().
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, generate } from 'tfjs-sampling';
import { loadTransformerFromDisk } from '../model/fs-io.js';
import { cachedStep, disposeCache } from '../model/transformer.js';
import { pickBackend } from './backend.js';

const backend = await pickBackend();
const lm = await loadTransformerFromDisk();
const { padId, newlineId } = lm.config;
const before = tf.memory().numTensors;

const requests = ['春', '秋風', '明月', '山中', '江上', '白雲'].map((text, i) => ({
  text,
  prompt: lm.encodePrompt(text),
  seed: 100 + i,
  maxNewTokens: 8 + 4 * (i % 3),
}));
const sampler = { temperature: 0.8, topK: 40, repetitionPenalty: 1.1 };

// Two rows, the other four requests queued.
const start = performance.now();
const steps: string[] = [];
const result = await generate(cachedStep(lm), {
  prompts: requests.slice(0, 2).map((r) => r.prompt),
  seeds: requests.slice(0, 2).map((r) => r.seed),
  maxNewTokens: requests.slice(0, 2).map((r) => r.maxNewTokens),
  queue: requests.slice(2).map(({ prompt, seed, maxNewTokens }) => ({ prompt, seed, maxNewTokens })),
  padId,
  stopTokens: [newlineId],
  feed: 'new',
  sampler,
  onStep: ({ requests: served }) => void steps.push(Array.from(served!, (q) => (q < 0 ? '·' : String(q))).join('')),
});
disposeCache(result.state);
console.log(
  `backend ${backend.name}: ${requests.length} requests through 2 rows in ${result.steps} steps (${((performance.now() - start) / 1000).toFixed(2)} s)`,
);
console.log(`request per row and step (· = feeding a prompt or idle): ${steps.join(' ')}`);

let same = true;
for (const [i, r] of requests.entries()) {
  const alone = await generate(cachedStep(lm), {
    prompts: [r.prompt],
    padId,
    maxNewTokens: r.maxNewTokens,
    stopTokens: [newlineId],
    feed: 'new',
    sampler: { ...sampler, seed: [r.seed] },
  });
  disposeCache(alone.state);
  const ok = JSON.stringify(alone.tokens[0]) === JSON.stringify(result.tokens[i]);
  same &&= ok;
  console.log(
    `  ${i} ${r.text} → ${lm.decode(result.tokens[i]!).replace('\n', '⏎')}  (${result.finishReasons[i]}; alone: ${ok ? 'same tokens' : 'DIFFERENT'})`,
  );
}
if (!same) throw new Error('a request got different tokens in the batch than alone');

// Your own loop: per-row steps and seeds for the draw, restartRows for the sampler's per-row state.
const s = createSampler({ ...sampler, seed: 0 });
const rows = [0, 1];
const seeds = rows.map((q) => requests[q]!.seed);
const rowStep = [0, 0];
const logits = tf.tensor2d([Array.from({ length: lm.vocab.length }, (_, j) => Math.sin(j)), Array.from({ length: lm.vocab.length }, (_, j) => Math.cos(j))]);
s.begin(rows.map((q) => requests[q]!.prompt));
const first = await s.sampleIds(logits, { steps: rowStep, seeds });
s.restartRows([1], [requests[5]!.prompt]); // row 1 takes request 5
seeds[1] = requests[5]!.seed;
rowStep[0] = 1;
rowStep[1] = 0;
const second = await s.sampleIds(logits, { steps: rowStep, seeds });
console.log(`own loop: step 0 ids ${Array.from(first)}, then row 1 restarted: ids ${Array.from(second)}`);
logits.dispose();
s.dispose();

const leaked = tf.memory().numTensors - before;
lm.dispose();
if (leaked !== 0) throw new Error(`${leaked} tensors leaked`);
