// `npm run bench:chain [-- --backends cpu,wasm,webgpu,webgl,browser-webgpu --batch 64 --vocab 128256 --budget 3000 --only <regex> --shape peaky|flat]`:
// every sampler of the chain alone and the llama.cpp default chain (issue 11), side by side in one
// run, as ratios to one tf.max pass over the logits and to (b) T 0.8 + top-k 50 + top-p 0.95.
// Node backends: cpu, wasm (default both) and webgpu through Dawn (SwiftShader here unless
// VK_ICD_FILENAMES names another Vulkan driver); webgl and browser-webgpu in headless Chromium (the
// page bench/page-chain bundled by Vite). The measurement is bench/chain-core.ts.
// Each backend's table is compared with the recorded run (bench/baseline.ts; --compare FILE,
// --save).
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { Baseline } from './baseline.js';
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
    shape: { type: 'string' },
    compare: { type: 'string' },
    save: { type: 'boolean' },
  },
});
const smoke = args.smoke === true;
const backends = (args.backends ?? 'cpu,wasm').split(',').map((b) => (b === 'webgl' ? 'browser-webgl' : b));
const KNOWN = ['cpu', 'wasm', 'webgpu', 'browser-webgl', 'browser-webgpu'];
for (const b of backends) if (!KNOWN.includes(b)) throw new Error(`--backends: unknown backend '${b}' (one of ${KNOWN.join(', ')})`);
const shape = args.shape ?? 'peaky';
if (shape !== 'peaky' && shape !== 'flat') throw new Error(`--shape: 'peaky' or 'flat', not '${shape}'`);
const cfg: ChainConfig = {
  B: Number(args.batch ?? (smoke ? 4 : 64)),
  V: Number(args.vocab ?? (smoke ? 32000 : 128256)),
  budgetMs: Number(args.budget ?? (smoke ? 200 : 3000)),
  shape,
};
/** Flat rows are their own table (label and baseline key). */
const labelOf = (backend: string): string => (shape === 'flat' ? `${backend} flat` : backend);

const baseline = new Baseline(args.compare ?? 'bench/baseline/chain.json', args.save === true, smoke);

async function runNode(backend: string): Promise<void> {
  await useNodeBackend(backend);
  const before = tf.memory().numTensors;
  // The smoke run (npm test) checks that the runner works: (b), the llama.cpp chain and one tfjs-op sampler.
  const only = args.only === undefined ? undefined : new RegExp(args.only);
  // (b) always runs first: the × (b) column's unit.
  const methods = smoke ? CHAIN_METHODS.slice(0, 3) : CHAIN_METHODS.filter(([name], i) => i === 0 || !only || only.test(name));
  const result = await measureChain(cfg, methods);
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  console.log(`\n${formatChain(labelOf(backend), cfg.B, cfg.V, result)}`);
  baseline.compare(labelOf(backend), cfg.B, cfg.V, result);
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
      console.log(formatChain(labelOf(label), cfg.B, cfg.V, result));
      baseline.compare(labelOf(label), cfg.B, cfg.V, result);
    },
  );
}

for (const b of backends.filter((x) => !x.startsWith('browser-'))) await runNode(b);
const inBrowser = backends.filter((x) => x.startsWith('browser-')).map((x) => x.replace('browser-', '') as 'webgl' | 'webgpu');
if (inBrowser.length > 0) await runBrowser(inBrowser);
baseline.write();
