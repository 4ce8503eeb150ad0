// `npm run bench:chain [-- --backends cpu,wasm,webgpu --batch 64 --vocab 128256 --budget 3000 --only <regex>]`:
// every sampler of the chain alone and the llama.cpp default chain (issue 11), side by side in one
// run, as ratios to one tf.max pass over the logits and to (b) T 0.8 + top-k 50 + top-p 0.95.
// Node backends: cpu, wasm (default both) and webgpu through Dawn (SwiftShader here unless
// VK_ICD_FILENAMES names another Vulkan driver). The measurement is bench/chain-core.ts.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CHAIN_METHODS, formatChain, measureChain, type ChainConfig } from './chain-core.js';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: { backends: { type: 'string' }, batch: { type: 'string' }, vocab: { type: 'string' }, budget: { type: 'string' }, smoke: { type: 'boolean' }, only: { type: 'string' } },
});
const smoke = args.smoke === true;
const backends = (args.backends ?? 'cpu,wasm').split(',');
const KNOWN = ['cpu', 'wasm', 'webgpu'];
for (const b of backends) if (!KNOWN.includes(b)) throw new Error(`--backends: unknown backend '${b}' (one of ${KNOWN.join(', ')})`);
const cfg: ChainConfig = {
  B: Number(args.batch ?? (smoke ? 4 : 64)),
  V: Number(args.vocab ?? (smoke ? 32000 : 128256)),
  budgetMs: Number(args.budget ?? (smoke ? 200 : 3000)),
};

/** Dawn (npm `webgpu`) as navigator.gpu, then the tfjs webgpu backend; prints the adapter. */
async function setupWebgpu(): Promise<void> {
  process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create([]) as unknown as { requestAdapter(): Promise<{ info?: Record<string, string> } | null> };
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error(`webgpu: no adapter (Dawn found no Vulkan device; VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES})`);
  const info = adapter.info ?? {};
  console.log(`webgpu adapter: ${[info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown'}`);
  await import('@tensorflow/tfjs-backend-webgpu');
}

async function runNode(backend: string): Promise<void> {
  if (backend === 'webgpu') await setupWebgpu();
  if (backend === 'wasm') {
    setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
    await import('@tensorflow/tfjs-backend-wasm');
  }
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not initialise`);
  await tf.ready();
  if (tf.getBackend() !== backend) throw new Error(`backend ${backend} did not initialise (tf.getBackend() = ${tf.getBackend()})`);
  const before = tf.memory().numTensors;
  // The smoke run (npm test) checks that the runner works: (b), the llama.cpp chain and one tfjs-op sampler.
  const only = args.only === undefined ? undefined : new RegExp(args.only);
  // (b) always runs first: the × (b) column's unit.
  const methods = smoke ? CHAIN_METHODS.slice(0, 3) : CHAIN_METHODS.filter(([name], i) => i === 0 || !only || only.test(name));
  const result = await measureChain(cfg, methods);
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  console.log(`\n${formatChain(backend, cfg.B, cfg.V, result)}`);
}

for (const b of backends) await runNode(b);
