// `npm run bench:chain [-- --backends cpu,wasm,webgpu,webgl,browser-webgpu --batch 64 --vocab 128256 --budget 3000 --only <regex>]`:
// every sampler of the chain alone and the llama.cpp default chain (issue 11), side by side in one
// run, as ratios to one tf.max pass over the logits and to (b) T 0.8 + top-k 50 + top-p 0.95.
// Node backends: cpu, wasm (default both) and webgpu through Dawn (SwiftShader here unless
// VK_ICD_FILENAMES names another Vulkan driver); webgl and browser-webgpu in headless Chromium (the
// page bench/page-chain bundled by Vite). The measurement is bench/chain-core.ts.
// Each backend's table is compared row by row with the recorded one (bench/baseline/chain.json,
// or --compare FILE): a row 1.5× or more slower in passes is flagged, so a slowdown shows in any
// run, not only when someone reads the tables side by side. --save writes this run's rows there.
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ChainPageConfig } from './page-chain/main.js';
import { useNodeBackend } from './node-backend.js';
import { CHAIN_METHODS, formatChain, measureChain, type ChainConfig, type ChainResult } from './chain-core.js';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string' },
    batch: { type: 'string' },
    vocab: { type: 'string' },
    budget: { type: 'string' },
    smoke: { type: 'boolean' },
    only: { type: 'string' },
    compare: { type: 'string' },
    save: { type: 'boolean' },
  },
});
const smoke = args.smoke === true;
const backends = (args.backends ?? 'cpu,wasm').split(',').map((b) => (b === 'webgl' ? 'browser-webgl' : b));
const KNOWN = ['cpu', 'wasm', 'webgpu', 'browser-webgl', 'browser-webgpu'];
for (const b of backends) if (!KNOWN.includes(b)) throw new Error(`--backends: unknown backend '${b}' (one of ${KNOWN.join(', ')})`);
const cfg: ChainConfig = {
  B: Number(args.batch ?? (smoke ? 4 : 64)),
  V: Number(args.vocab ?? (smoke ? 32000 : 128256)),
  budgetMs: Number(args.budget ?? (smoke ? 200 : 3000)),
};

/** Per backend and shape, each row's cost in tf.max passes. */
type Baseline = Record<string, { recorded: string; passes: Record<string, number> }>;
const BASELINE = args.compare ?? 'bench/baseline/chain.json';
const baseline: Baseline = existsSync(BASELINE) ? JSON.parse(readFileSync(BASELINE, 'utf8')) : {};
const key = (backend: string): string => `${backend} B${cfg.B} V${cfg.V}`;
const SLOWER = 1.5;

/** Prints how each row compares with the recorded run (this VM moves rows by 10–40 % between runs). */
function compare(backend: string, r: ChainResult): void {
  const rec = baseline[key(backend)];
  if (!rec || smoke) return;
  const lines: string[] = [];
  for (const row of r.rows) {
    const was = rec.passes[row.method];
    if (was === undefined || Number.isNaN(row.ms)) continue;
    const now = row.ms / r.limit;
    const f = now / was;
    if (f >= SLOWER || f <= 1 / SLOWER)
      lines.push(`  ${f >= SLOWER ? 'SLOWER' : 'faster'} ${f.toFixed(2)}×: ${row.method} (${was.toFixed(2)} → ${now.toFixed(2)} passes)`);
  }
  console.log(
    lines.length === 0
      ? `vs ${BASELINE} (${rec.recorded}): every row within ${SLOWER}× of its recorded passes`
      : `vs ${BASELINE} (${rec.recorded}), rows ${SLOWER}× or more apart:\n${lines.join('\n')}`,
  );
  if (args.save) {
    baseline[key(backend)] = {
      recorded: new Date().toISOString().slice(0, 10),
      passes: { ...rec.passes, ...Object.fromEntries(r.rows.filter((x) => !Number.isNaN(x.ms)).map((x) => [x.method, Number((x.ms / r.limit).toFixed(3))])) },
    };
  }
}

function record(backend: string, r: ChainResult): void {
  if (!baseline[key(backend)] && args.save && !smoke)
    baseline[key(backend)] = {
      recorded: new Date().toISOString().slice(0, 10),
      passes: Object.fromEntries(r.rows.filter((x) => !Number.isNaN(x.ms)).map((x) => [x.method, Number((x.ms / r.limit).toFixed(3))])),
    };
  else compare(backend, r);
}

async function runNode(backend: string): Promise<void> {
  await useNodeBackend(backend);
  const before = tf.memory().numTensors;
  // The smoke run (npm test) checks that the runner works: (b), the llama.cpp chain and one tfjs-op sampler.
  const only = args.only === undefined ? undefined : new RegExp(args.only);
  // (b) always runs first: the × (b) column's unit.
  const methods = smoke ? CHAIN_METHODS.slice(0, 3) : CHAIN_METHODS.filter(([name], i) => i === 0 || !only || only.test(name));
  const result = await measureChain(cfg, methods);
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  console.log(`\n${formatChain(backend, cfg.B, cfg.V, result)}`);
  record(backend, result);
}

/** webgl and webgpu in headless Chromium: one page per backend. */
async function runBrowser(list: ('webgl' | 'webgpu')[]): Promise<void> {
  const { runPageBackends } = await import('./browser.js'); // Vite and playwright only when needed
  const only = args.only === undefined ? {} : { only: args.only };
  await runPageBackends<ChainPageConfig, ChainResult & { adapter: string }>(
    'page-chain',
    list,
    { ready: '__chainReady', run: '__chainRun' },
    (backend) => ({ ...cfg, backend, ...only }),
    (label, result, version) => {
      console.log(`\n${label} adapter: ${result.adapter} (${version}, headless)`);
      console.log(formatChain(label, cfg.B, cfg.V, result));
      record(label, result);
    },
  );
}

for (const b of backends.filter((x) => !x.startsWith('browser-'))) await runNode(b);
const inBrowser = backends.filter((x) => x.startsWith('browser-')).map((x) => x.replace('browser-', '') as 'webgl' | 'webgpu');
if (inBrowser.length > 0) await runBrowser(inBrowser);
if (args.save && !smoke) {
  writeFileSync(BASELINE, `${JSON.stringify(baseline, null, 2)}\n`);
  console.log(`wrote ${BASELINE}`);
}
