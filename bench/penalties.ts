// `npm run bench:penalties [-- --backends cpu,wasm,webgpu --batch 64 --vocab 128256 --budget 3000]`:
// what penalties, biases and masks cost, side by side in one run, as ratios:
//   (b)  T 0.8 + top-k 50 + top-p 0.95 (the default chain)
//   (bp) (b) + repetition 1.1 + frequency 0.5 + presence 0.5 over a history of H tokens + a
//        100-entry logit bias, for H = 64, 1024 (the goal) and 4096: every history token is a
//        distinct token, the worst case of the sparse edits (work grows with the distinct tokens)
//   (bm) (b) + a per-call bitmask (half the vocabulary allowed)
//   (bd) (b) + DRY (multiplier 0.8, base 1.75, allowed length 2, four one-token breakers) with
//        window W (-1 = 4096 tokens, or 256) over a history of H tokens repeating a 50-token
//        phrase, so that DRY finds repeats at every step (work grows with W, not with V)
// against one tf.max pass over the logits. Every step ends with the read-back of the ids.
// Backends: cpu, wasm (default both) and webgpu (Node, Dawn: SwiftShader here unless
// VK_ICD_FILENAMES names another Vulkan driver; the adapter is printed).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createSampler, type DryOptions, type Sampler, type SamplerOptions } from '../src/index.js';
import { makeLogits } from './logits.js';

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: { backends: { type: 'string' }, batch: { type: 'string' }, vocab: { type: 'string' }, budget: { type: 'string' }, smoke: { type: 'boolean' } },
});
const smoke = args.smoke === true;
const backends = (args.backends ?? 'cpu,wasm').split(',');
const B = Number(args.batch ?? (smoke ? 4 : 64));
const V = Number(args.vocab ?? (smoke ? 32000 : 128256));
const budgetMs = Number(args.budget ?? (smoke ? 200 : 3000));

const CHAIN: SamplerOptions = { temperature: 0.8, topK: 50, topP: 0.95, seed: 7 };
const bias = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [(i * 1279) % V, ((i % 7) - 3) * 0.5]));
const PENALTIES: SamplerOptions = { ...CHAIN, repetitionPenalty: 1.1, frequencyPenalty: 0.5, presencePenalty: 0.5, logitBias: bias };
const DRY: SamplerOptions = { ...CHAIN, dry: { multiplier: 0.8, sequenceBreakers: [[13], [25], [1], [9]] } };

async function time(step: () => Promise<unknown>): Promise<number> {
  await step();
  await step();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < budgetMs && times.length < 50)) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

function history(H: number): number[][] {
  return Array.from({ length: B }, (_, r) => Array.from({ length: H }, (_, i) => (r * 7919 + i * 104729) % V));
}

/** A history that repeats a 50-token phrase (DRY's case: every step extends a repeat). */
function looping(H: number): number[][] {
  return Array.from({ length: B }, (_, r) => Array.from({ length: H }, (_, i) => (r * 7919 + (i % 50) * 104729 + 100) % V));
}

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

for (const backend of backends) {
  if (backend === 'webgpu') await setupWebgpu();
  if (backend === 'wasm') setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
  if (backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not initialise`);
  await tf.ready();
  if (tf.getBackend() !== backend) throw new Error(`backend ${backend} did not initialise (tf.getBackend() = ${tf.getBackend()})`);
  const x = tf.tensor2d(makeLogits('peaky', B, V), [B, V]);
  const W = Math.ceil(V / 32);
  const mask = new Int32Array(B * W).fill(0x55555555); // every even token
  const run = (s: Sampler, ctx = {}) => async () => (await s.sample(x, ctx).data()) as Int32Array;
  const limit = await time(async () => {
    const m = tf.max(x, 1);
    await m.data();
    m.dispose();
  });
  const rows: [string, number, string][] = [];
  const plain = createSampler(CHAIN);
  rows.push(['(b) T 0.8 + top-k 50 + top-p 0.95', await time(run(plain)), plain.lastPath]);
  for (const H of smoke ? [64] : [64, 1024, 4096]) {
    const s = createSampler(PENALTIES);
    s.begin(history(H));
    rows.push([`(bp) (b) + penalties (history ${H}) + 100-entry bias`, await time(run(s)), s.lastPath]);
    s.dispose();
  }
  rows.push(['(bm) (b) + per-call bitmask', await time(run(plain, { mask })), plain.lastPath]);
  for (const [H, W] of smoke ? [[64, -1]] : [[1024, 256], [1024, -1], [4096, -1]]) {
    const s = createSampler({ ...DRY, dry: { ...(DRY.dry as DryOptions), penaltyLastN: W! } });
    s.begin(looping(H!));
    rows.push([`(bd) (b) + DRY (window ${W === -1 ? '-1 = 4096' : W}, history ${H}, a repeated phrase)`, await time(run(s)), s.lastPath]);
    s.dispose();
  }
  plain.dispose();
  x.dispose();
  const base = rows[0]![1];
  console.log(`\n${backend}, B = ${B}, V = ${V}: one tf.max pass ${limit.toFixed(2)} ms (median)`);
  console.log('| method | × one pass | × (b) | path |\n| --- | --- | --- | --- |');
  for (const [name, ms, p] of rows) console.log(`| ${name} | ${(ms / limit).toFixed(2)} | ${(ms / base).toFixed(2)} | ${p} |`);
}
