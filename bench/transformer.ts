// `npm run bench:transformer [-- --backends cpu,wasm,webgpu --batch 4 --budget 12000 --max-reps 15 --smoke]`:
// the project's character transformer (model/transformer.ts, the committed weights) driven by
// generate(), side by side in one run per backend, as ratios:
//   (1) per-token cost vs generated length with the KV cache (cachedStep, feed 'new'): ms per
//       decode step for 32 and for 512 new tokens, the ratio 512/32 (goal ≈ 1: the cache is a
//       fixed-size ring of W slots, every decode step runs the same ops on the same shapes), and
//       in the 512 run the last 64 steps against the first 64;
//   (2) tokens/s with the cache against no cache (windowStep with contextLength =
//       receptiveField = the exact equivalent), 64 new tokens, prefill included;
//   (3) logprobs ({ topLogprobs: 5 }) against none, cached, 64 new tokens: ms per decode step.
// B rows (default 4) from lm.encodePrompt of short prompts, T 0.8 + top-k 40, fixed seeds, no stop
// tokens (every row runs the full length). The two sides of a comparison run in rounds until the
// budget is spent (at least one round, at most --max-reps): 3 runs of the cheap side around one of
// the dear side (32 around 512 tokens, cache around no cache), or logprobs and none alternately;
// the median of each side is reported.
// ms per step = the median decode step of a run (step 0, the prefill, excluded), robust to the
// bursts of other jobs on a shared machine; the mean (decode time / steps) is shown beside it.
// One warm-up run of every configuration first (not timed). tf.memory().numTensors is checked
// after each run (the last cache disposed) and after the model is disposed: a leak throws.
// Backends: cpu, wasm (default both) and webgpu through Dawn in Node (SwiftShader here unless
// VK_ICD_FILENAMES names another Vulkan driver: slow, not run by default).
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { generate, type LogprobsOptions } from '../src/index.js';
import { loadTransformerFromDisk } from '../model/fs-io.js';
import { cachedStep, disposeCache, receptiveField, windowStep, type KVCache, type TransformerLM } from '../model/transformer.js';
import { Baseline } from './baseline.js';
import { useNodeBackend } from './node-backend.js';

const HELP = `npx tsx bench/transformer.ts [options]        (npm run bench:transformer -- [options])
  --backends LIST   cpu,wasm (default) or any of cpu, wasm, webgpu (Dawn in Node; SwiftShader here: slow)
  --batch N         rows per generate call (default 4)
  --budget MS       time per comparison before it stops starting rounds (default 12000; smoke 0)
  --max-reps N      most rounds per comparison (default 15)
  --smoke           tiny lengths (8 vs 16 cached, 4 without cache, 8 with logprobs), one run per side
  --compare FILE    the recorded ratios each backend is compared with (default bench/baseline/transformer.json)
  --save            record this run's ratios there (bench/baseline.ts)`;

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string' },
    batch: { type: 'string' },
    budget: { type: 'string' },
    'max-reps': { type: 'string' },
    smoke: { type: 'boolean' },
    compare: { type: 'string' },
    save: { type: 'boolean' },
    help: { type: 'boolean' },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const smoke = args.smoke === true;
const backends = (args.backends ?? 'cpu,wasm').split(',');
const KNOWN = ['cpu', 'wasm', 'webgpu'];
for (const b of backends) if (!KNOWN.includes(b)) throw new Error(`--backends: unknown backend '${b}' (one of ${KNOWN.join(', ')})`);
const positive = (value: string | undefined, fallback: number, name: string, min = 1): number => {
  const n = Number(value ?? fallback);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer ≥ ${min}, got '${value}'`);
  return n;
};
const B = positive(args.batch, 4, 'batch');
const budgetMs = positive(args.budget, smoke ? 0 : 12000, 'budget', 0);
const maxReps = positive(args['max-reps'], smoke ? 1 : 15, 'max-reps');
/** New tokens: the short and the long cached run, the cache-vs-none runs, the logprobs runs. */
const LEN = smoke ? { short: 8, long: 16, noCache: 4, logprobs: 8 } : { short: 32, long: 512, noCache: 64, logprobs: 64 };
/** Steps compared at the start and the end of the long run (64, or a quarter of a smoke run). */
const EDGE = Math.min(64, Math.floor(LEN.long / 4));
/** Runs of the cheap side (the short cached run, the cached run against no cache) per run of the dear one. */
const CHEAP_PER_ROUND = smoke ? 1 : 3;
const TEXTS = ['春風', '明月照', '白日依山盡，', '孤舟', '秋夜', '山中']; // traditional, as the corpus
const SAMPLER = { temperature: 0.8, topK: 40 };
const LOGPROBS: LogprobsOptions = { topLogprobs: 5 };

interface Run {
  /** Wall time of the generate call (prefill included), ms. */
  totalMs: number;
  /** ms from the start of the call to the end of each step (onStep: after its read-back). */
  stamps: number[];
  tokens: number[][];
}

/** Durations (ms) of the decode steps 1…n−1, or of those in (from, to]: step 0 (prefill + first draw) is never in it. */
function stepTimes(run: Run, from = 0, to = run.stamps.length - 1): number[] {
  return run.stamps.slice(from + 1, to + 1).map((t, i) => t - run.stamps[from + i]!);
}
/** The median decode step of a run: robust to the other jobs' bursts on this shared VM. */
const medianStep = (run: Run, from?: number, to?: number): number => median(stepTimes(run, from, to));
/** The mean decode step (decode time / steps): what a user waits, bursts included. */
const meanStep = (run: Run): number => (run.stamps[run.stamps.length - 1]! - run.stamps[0]!) / (run.stamps.length - 1);
const tokensPerSecond = (run: Run): number => (run.tokens.reduce((n, row) => n + row.length, 0) * 1000) / run.totalMs;
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Measured {
  backend: string;
  /** Runs per side: [short, long], [cache, no cache], [with, without logprobs]. */
  reps: { length: [number, number]; cache: [number, number]; logprobs: [number, number] };
  short: number; // median decode step (ms), LEN.short
  long: number; // median decode step (ms), LEN.long
  shortMean: number; // mean decode step (ms), LEN.short
  longMean: number; // mean decode step (ms), LEN.long
  first: number; // median step (ms) of the first EDGE decode steps of the long run
  last: number; // median step (ms) of its last EDGE steps
  prefix: boolean; // the short run's tokens are the long run's first tokens
  cacheTps: number;
  noCacheTps: number;
  agree: boolean; // cache and no cache drew the same tokens
  withLogprobs: number;
  withoutLogprobs: number;
}

async function measure(backend: string): Promise<Measured> {
  await useNodeBackend(backend);
  const atStart = tf.memory().numTensors;
  const lm: TransformerLM = await loadTransformerFromDisk();
  const prompts = Array.from({ length: B }, (_, r) => lm.encodePrompt(TEXTS[r % TEXTS.length]!));
  const seeds = Array.from({ length: B }, (_, r) => 1000 + r);
  const W = lm.config.window;
  const field = receptiveField(lm.config);

  /** One generate call, timed step by step; checks its length and that it leaves no tensor behind. */
  async function run(kind: 'cache' | 'none', maxNewTokens: number, logprobs = false): Promise<Run> {
    const before = tf.memory().numTensors;
    const stamps: number[] = [];
    const base = { prompts, padId: lm.config.padId, maxNewTokens, sampler: { ...SAMPLER, seed: seeds }, ...(logprobs ? { logprobs: LOGPROBS } : {}) };
    const t0 = performance.now();
    const onStep = (): void => void stamps.push(performance.now() - t0);
    const result =
      kind === 'cache'
        ? await generate(cachedStep(lm), { ...base, feed: 'new', onStep })
        : await generate(windowStep(lm), { ...base, contextLength: field, onStep });
    const totalMs = performance.now() - t0;
    disposeCache(result.state as KVCache | undefined);
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) throw new Error(`${backend}: generate (${kind}, ${maxNewTokens} tokens${logprobs ? ', logprobs' : ''}) leaked ${leaked} tensors`);
    if (result.steps !== maxNewTokens || stamps.length !== maxNewTokens || result.tokens.some((row) => row.length !== maxNewTokens)) {
      throw new Error(
        `${backend}: expected ${maxNewTokens} steps and tokens per row, got ${result.steps} steps, rows of ${result.tokens.map((r) => r.length)}`,
      );
    }
    if (logprobs && result.logprobs?.[0]?.[0]?.top.length !== LOGPROBS.topLogprobs)
      throw new Error(`${backend}: no top-${LOGPROBS.topLogprobs} logprobs in the result`);
    return { totalMs, stamps, tokens: result.tokens };
  }

  /**
   * Rounds of k A runs around one B run (A…A B A…A; for k = 1, B A and A B alternately), A being
   * the cheap side, until the budget is spent (≥ 1 round, ≤ maxReps rounds).
   */
  async function rounds(a: () => Promise<Run>, b: () => Promise<Run>, k: number): Promise<[Run[], Run[]]> {
    const as: Run[] = [];
    const bs: Run[] = [];
    const start = performance.now();
    for (let round = 0; round < maxReps && (round === 0 || performance.now() - start < budgetMs); round++) {
      const before = k === 1 ? round % 2 : Math.floor(k / 2);
      for (let i = 0; i < before; i++) as.push(await a());
      bs.push(await b());
      for (let i = before; i < k; i++) as.push(await a());
    }
    return [as, bs];
  }

  console.log(`\n${backend}: B ${B}, prompts of ${prompts.map((p) => p.length).join(', ')} ids, W ${W}, receptive field ${field}; warm-up…`);
  // Warm-up (not timed): every configuration once; the no-cache step's shape is [B, field]
  // whatever the length, so 2 tokens compile / register all it uses.
  await run('cache', Math.min(8, LEN.short));
  await run('cache', Math.min(8, LEN.short), true);
  await run('none', 2);

  const [shorts, longs] = await rounds(
    () => run('cache', LEN.short),
    () => run('cache', LEN.long),
    CHEAP_PER_ROUND,
  );
  const short = median(shorts.map((r) => medianStep(r)));
  const long = median(longs.map((r) => medianStep(r)));
  const shortMean = median(shorts.map(meanStep));
  const longMean = median(longs.map(meanStep));
  const first = median(longs.map((r) => medianStep(r, 0, EDGE)));
  const last = median(longs.map((r) => medianStep(r, LEN.long - 1 - EDGE, LEN.long - 1)));
  const prefix = shorts[0]!.tokens.every((row, i) => row.every((t, k) => t === longs[0]!.tokens[i]![k]));
  console.log(
    `  cached: ${LEN.short} tokens ${short.toFixed(2)} ms/step, ${LEN.long} tokens ${long.toFixed(2)} ms/step (median steps; ${shorts.length} + ${longs.length} runs)`,
  );

  const [cached, plain] = await rounds(
    () => run('cache', LEN.noCache),
    () => run('none', LEN.noCache),
    CHEAP_PER_ROUND,
  );
  const cacheTps = median(cached.map(tokensPerSecond));
  const noCacheTps = median(plain.map(tokensPerSecond));
  const agree = cached[0]!.tokens.every((row, i) => row.join() === plain[0]!.tokens[i]!.join());
  console.log(
    `  ${LEN.noCache} tokens: cache ${cacheTps.toFixed(1)} tokens/s, no cache ${noCacheTps.toFixed(1)} tokens/s (${cached.length} + ${plain.length} runs)`,
  );

  const [withoutL, withL] = await rounds(
    () => run('cache', LEN.logprobs),
    () => run('cache', LEN.logprobs, true),
    1,
  );
  const withLogprobs = median(withL.map((r) => medianStep(r)));
  const withoutLogprobs = median(withoutL.map((r) => medianStep(r)));
  console.log(`  logprobs: ${withLogprobs.toFixed(2)} vs ${withoutLogprobs.toFixed(2)} ms/step (${withL.length} + ${withoutL.length} runs)`);

  lm.dispose();
  const left = tf.memory().numTensors - atStart;
  if (left !== 0) throw new Error(`${backend}: ${left} tensors left after the model was disposed`);
  return {
    backend,
    reps: { length: [shorts.length, longs.length], cache: [cached.length, plain.length], logprobs: [withL.length, withoutL.length] },
    short,
    long,
    shortMean,
    longMean,
    first,
    last,
    prefix,
    cacheTps,
    noCacheTps,
    agree,
    withLogprobs,
    withoutLogprobs,
  };
}

const f = (x: number, digits = 2): string => x.toFixed(digits);
function tables(rows: Measured[]): string {
  const out: string[] = [];
  out.push(
    `**Per-token cost vs length, KV cache** (B ${B}; ms per decode step: the median step of each run, median over the runs; mean = decode time / steps; first / last ${EDGE} decode steps of the ${LEN.long}-token run)`,
    '',
  );
  out.push(
    `| backend | ${LEN.short} tokens | ${LEN.long} tokens | ${LEN.long}/${LEN.short} | mean ${LEN.short} / ${LEN.long} | mean ${LEN.long}/${LEN.short} | first ${EDGE} | last ${EDGE} | last/first | ${LEN.short} = prefix of ${LEN.long} | runs |`,
  );
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    out.push(
      `| ${r.backend} | ${f(r.short)} | ${f(r.long)} | **${f(r.long / r.short)}** | ${f(r.shortMean)} / ${f(r.longMean)} | ${f(r.longMean / r.shortMean)} | ${f(r.first)} | ${f(r.last)} | ${f(r.last / r.first)} | ${r.prefix ? 'yes' : 'NO'} | ${r.reps.length.join(' + ')} |`,
    );
  }
  out.push('', `**KV cache vs no cache** (${LEN.noCache} new tokens × B ${B}, prefill included; no cache = windowStep, contextLength = receptive field)`, '');
  out.push('| backend | tokens/s cache | tokens/s no cache | cache / no cache | same tokens | runs |');
  out.push('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    out.push(
      `| ${r.backend} | ${f(r.cacheTps, 1)} | ${f(r.noCacheTps, 1)} | **${f(r.cacheTps / r.noCacheTps)}** | ${r.agree ? 'yes' : 'NO'} | ${r.reps.cache.join(' + ')} |`,
    );
  out.push(
    '',
    `**Logprobs overhead** (cached, ${LEN.logprobs} new tokens, B ${B}, ms per decode step as above; logprobs: { topLogprobs: ${LOGPROBS.topLogprobs} })`,
    '',
  );
  out.push('| backend | with logprobs | without | with / without | runs |');
  out.push('| --- | --- | --- | --- | --- |');
  for (const r of rows)
    out.push(
      `| ${r.backend} | ${f(r.withLogprobs)} | ${f(r.withoutLogprobs)} | **${f(r.withLogprobs / r.withoutLogprobs)}** | ${r.reps.logprobs.join(' + ')} |`,
    );
  return out.join('\n');
}

const started = performance.now();
const results: Measured[] = [];
for (const b of backends) results.push(await measure(b));
console.log(`\n${tables(results)}\n`);
// Each backend's ratios compared with the recorded run, all as costs (larger: slower).
const baseline = new Baseline(args.compare ?? 'bench/baseline/transformer.json', args.save === true, smoke);
for (const r of results) {
  baseline.values(
    `${r.backend} B${B}`,
    {
      [`cached step, ${LEN.long} vs ${LEN.short} tokens`]: r.long / r.short,
      [`cached step, last vs first ${EDGE} of ${LEN.long}`]: r.last / r.first,
      [`cached run's time ÷ no cache's (${LEN.noCache} tokens)`]: r.noCacheTps / r.cacheTps,
      'cached step with logprobs ÷ without': r.withLogprobs / r.withoutLogprobs,
    },
    'ratio',
  );
}
baseline.write();
console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s in all${smoke ? ', smoke' : ''})`);
