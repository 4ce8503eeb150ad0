// `npm run bench:grammar [-- --backends cpu,wasm --batch 8 --budget 3000 --validity 1000 --smoke]`:
// what grammar-constrained generation costs, side by side in one run:
//   (1) the engine (xgrammar): creating it for a vocabulary, compiling each schema (first time,
//       then from the engine's cache), for the JSON model's 98 ASCII tokens and for a 32,000-token
//       vocabulary (the ASCII characters plus the most frequent substrings of the JSON corpus,
//       model/json/corpus: a stand-in for a BPE vocabulary, multi-character tokens included);
//   (2) one step at B rows (default 8) and V = 32,000 on each backend, ms and ratios:
//       - one tf.max pass over the logits (the bench's unit);
//       - the unconstrained step: sample() + the read-back of the ids;
//       - the sampler's share of the mask path: sample(logits, { mask }) + read-back, with a
//         bitmask of a mid-generation JSON state (the upload of the words included), measured
//         alternately with the unconstrained step (medians of each);
//       - the whole mask path: each row's matcher gives its bitmask, sample with it, read back,
//         each drawn token fed to its matcher (rows that complete start again): a real
//         constrained generation from random logits;
//   (3) validity (--validity N, default 1,000; smoke 10): the JSON model (model/json) generates
//       N records per schema of model/json/schemas.ts (T 0.9, top-p 0.95, KV cache), each parsed
//       and validated with ajv.
import * as tf from '@tensorflow/tfjs-core';
import Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createGrammarEngine, createSampler, generate, type GrammarEngine, type GrammarMatcher, type GrammarSpec } from '../src/index.js';
import { loadJsonModelFromDisk } from '../model/fs-io.js';
import { PACKAGE_SCHEMA, SCHEMAS } from '../model/json/schemas.js';
import { cachedStep, disposeCache, type KVCache } from '../model/transformer.js';
import { makeLogits } from './logits.js';
import { useNodeBackend } from './node-backend.js';
import { medianStep } from './timing.js';
import { Baseline } from './baseline.js';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string' },
    batch: { type: 'string' },
    budget: { type: 'string' },
    validity: { type: 'string' },
    smoke: { type: 'boolean' },
    compare: { type: 'string' },
    save: { type: 'boolean' },
  },
});
const smoke = args.smoke === true;
const backends = (args.backends ?? 'cpu,wasm').split(',');
const B = Number(args.batch ?? 8);
const V = 32000;
const budget = Number(args.budget ?? (smoke ? 100 : 3000));
const validityN = Number(args.validity ?? (smoke ? 10 : 1000));
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// Each backend's step table (in tf.max passes) compared with the recorded run (--compare FILE, --save).
const baseline = new Baseline(args.compare ?? 'bench/baseline/grammar.json', args.save === true, smoke);

/** The JSON model's vocabulary: pad, unk, newline (the stop token), printable ASCII. */
const ASCII: (string | null)[] = [null, null, null, ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))];
const STOP = 2;

/** ASCII plus the most frequent substrings (2–8 characters) of the JSON corpus, to `size` tokens. */
function corpusVocabulary(size: number): (string | null)[] {
  const text = readFileSync(path.join(root, 'model/json/corpus/records.jsonl'), 'utf8').split('\n');
  const counts = new Map<string, number>();
  for (const line of text) {
    for (let n = 2; n <= 8; n++) for (let i = 0; i + n <= line.length; i++) counts.set(line.slice(i, i + n), (counts.get(line.slice(i, i + n)) ?? 0) + 1);
  }
  const extra = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, size - ASCII.length)
    .map(([s]) => s);
  return [...ASCII, ...extra];
}

const SPECS: [string, GrammarSpec][] = [
  ...Object.entries(SCHEMAS).map(([name, jsonSchema]): [string, GrammarSpec] => [name.split(' (')[0]!, { jsonSchema }]),
  ['package', { jsonSchema: PACKAGE_SCHEMA }],
  ['any JSON', { json: true }],
  ['regex [0-9]{3}-[a-z]+', { regex: '[0-9]{3}-[a-z]+' }],
  ['choice of 3', { choice: ['yes', 'no', 'maybe'] }],
];

/** Medians (ms) of two steps run alternately: two warm-up rounds, then at least 3 rounds, at most 400, within twice the budget. */
async function medianPair(a: () => Promise<unknown>, b: () => Promise<unknown>, budgetMs: number): Promise<[number, number]> {
  for (let i = 0; i < 2; i++) {
    await a();
    await b();
  }
  const ta: number[] = [];
  const tb: number[] = [];
  const start = performance.now();
  while (ta.length < 3 || (performance.now() - start < 2 * budgetMs && ta.length < 400)) {
    let t0 = performance.now();
    await a();
    ta.push(performance.now() - t0);
    t0 = performance.now();
    await b();
    tb.push(performance.now() - t0);
  }
  const median = (x: number[]): number => x.sort((p, q) => p - q)[Math.floor(x.length / 2)]!;
  return [median(ta), median(tb)];
}

async function engineTable(label: string, tokens: (string | null)[]): Promise<GrammarEngine> {
  const t0 = performance.now();
  const engine = await createGrammarEngine({ tokens });
  const created = performance.now() - t0;
  console.log(`\n(1) engine, ${label} (${tokens.length} tokens): created in ${created.toFixed(0)} ms`);
  console.log('| grammar | compile ms | again (cache) ms |\n| --- | --- | --- |');
  for (const [name, spec] of SPECS) {
    const first = await engine.compile(spec);
    const t1 = performance.now();
    await engine.compile(spec);
    console.log(`| ${name} | ${first.compileMs.toFixed(1)} | ${(performance.now() - t1).toFixed(3)} |`);
  }
  return engine;
}

async function stepTable(backend: string, engine: GrammarEngine, vocab: (string | null)[]): Promise<void> {
  await useNodeBackend(backend);
  const before = tf.memory().numTensors;
  const logits = tf.tensor2d(makeLogits('peaky', B, V), [B, V]);
  const opts = { temperature: 0.8, topK: 50, topP: 0.95, seed: 1 };
  const spec: GrammarSpec = { jsonSchema: PACKAGE_SCHEMA };
  // A mid-generation mask: the state after '{"name":"'.
  const probe = await engine.matcher(spec, { stopTokens: [STOP] });
  for (const ch of '{"name":"') probe.accept(vocab.indexOf(ch));
  const one = await probe.nextMask();
  probe.dispose();
  const W = one.length;
  const fixed = new Int32Array(B * W);
  for (let r = 0; r < B; r++) fixed.set(one, r * W);
  const pass = await medianStep(async () => {
    const m = tf.max(logits, 1);
    await m.data();
    m.dispose();
  }, budget);
  const plain = createSampler(opts);
  const masked = createSampler(opts);
  // The two sides alternate call by call, so that the other jobs of a shared machine weigh on both.
  const [free, samplerShare] = await medianPair(
    async () => {
      const ids = plain.sample(logits);
      await ids.data();
      ids.dispose();
    },
    async () => {
      const ids = masked.sample(logits, { mask: fixed });
      await ids.data();
      ids.dispose();
    },
    budget,
  );
  // The whole path, along a real generation (matchers start again when their row completes).
  const matchers: GrammarMatcher[] = [];
  for (let r = 0; r < B; r++) matchers.push(await engine.matcher(spec, { stopTokens: [STOP] }));
  const words = new Int32Array(B * W);
  const full = createSampler(opts);
  let engineMs = 0;
  let steps = 0;
  const whole = await medianStep(async () => {
    const t0 = performance.now();
    for (let r = 0; r < B; r++) words.set(await matchers[r]!.nextMask(), r * W);
    const t1 = performance.now();
    const ids = full.sample(logits, { mask: words });
    const data = (await ids.data()) as Int32Array;
    ids.dispose();
    const t2 = performance.now();
    data.forEach((id, r) => {
      if (!matchers[r]!.accept(id)) throw new Error(`row ${r}: drawn token ${id} is outside the grammar`);
      if (matchers[r]!.isComplete()) matchers[r]!.reset();
    });
    engineMs += t1 - t0 + (performance.now() - t2);
    steps++;
  }, budget);
  for (const m of matchers) m.dispose();
  for (const s of [plain, masked, full]) s.dispose();
  logits.dispose();
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  const f = (x: number): string => x.toFixed(2);
  console.log(`\n(2) one step on ${backend}, B ${B}, V ${V}, T 0.8 + top-k 50 + top-p 0.95, the package schema`);
  console.log('| | ms | × one tf.max pass | × unconstrained step |\n| --- | --- | --- | --- |');
  console.log(`| one tf.max pass | ${f(pass)} | 1.00 | |`);
  console.log(`| unconstrained step (sample + read-back) | ${f(free)} | ${f(free / pass)} | 1.00 |`);
  console.log(`| sampler with the mask (upload + masked draw + read-back) | ${f(samplerShare)} | ${f(samplerShare / pass)} | ${f(samplerShare / free)} |`);
  console.log(`| whole mask path (engine + upload + masked draw + read-back + accept) | ${f(whole)} | ${f(whole / pass)} | ${f(whole / free)} |`);
  console.log(`engine (masks + accept) per step, mean over ${steps} steps: ${f(engineMs / steps)} ms (${f(engineMs / steps / B)} ms a row)`);
  baseline.values(`${backend} B${B} V${V}`, {
    'unconstrained step': free / pass,
    'sampler with the mask': samplerShare / pass,
    'whole mask path': whole / pass,
  });
}

async function validity(backend: string, engine: GrammarEngine): Promise<void> {
  await useNodeBackend(backend);
  const lm = await loadJsonModelFromDisk();
  const before = tf.memory().numTensors;
  console.log(`\n(3) validity on ${backend}: the JSON model, ${validityN} records per schema (T 0.9, top-p 0.95, KV cache)`);
  console.log('| schema | valid | of | finished by the grammar | mean tokens | seconds |\n| --- | --- | --- | --- | --- | --- |');
  const chunk = 250;
  for (const [name, schema] of [...Object.entries(SCHEMAS), ['package', PACKAGE_SCHEMA] as const]) {
    const validate = new Ajv({ multipleOfPrecision: 9 }).compile(schema);
    let valid = 0;
    let stopped = 0;
    let tokens = 0;
    const t0 = performance.now();
    for (let start = 0; start < validityN; start += chunk) {
      const n = Math.min(chunk, validityN - start);
      const result = await generate<KVCache>(cachedStep(lm), {
        prompts: Array.from({ length: n }, () => [STOP]),
        padId: 0,
        feed: 'new',
        maxNewTokens: 300,
        stopTokens: [STOP],
        keepStop: false,
        sampler: { temperature: 0.9, topP: 0.95, seed: Array.from({ length: n }, (_, r) => 1000 + start + r) },
        grammar: { engine, rows: { jsonSchema: schema } },
      });
      disposeCache(result.state);
      result.tokens.forEach((row, r) => {
        tokens += row.length;
        if (result.finishReasons[r] === 'stop') stopped++;
        try {
          if (validate(JSON.parse(row.map((i) => lm.vocab[i]).join('')))) valid++;
        } catch {
          // not JSON: counted as invalid
        }
      });
    }
    console.log(
      `| ${name.split(' (')[0]} | ${valid} | ${validityN} | ${stopped} | ${(tokens / validityN).toFixed(1)} | ${((performance.now() - t0) / 1000).toFixed(1)} |`,
    );
    if (valid !== validityN) process.exitCode = 1;
  }
  if (tf.memory().numTensors !== before) throw new Error(`validity leaked ${tf.memory().numTensors - before} tensors`);
  lm.dispose();
}

const ascii = await engineTable('the JSON model', ASCII);
const vocab = corpusVocabulary(V);
const big = await engineTable('a 32,000-token vocabulary from the JSON corpus', vocab);
for (const backend of backends) await stepTable(backend, big, vocab);
baseline.write();
for (const backend of backends.filter((b) => b !== 'webgpu' || !smoke)) await validity(backend, ascii);
ascii.dispose();
big.dispose();
