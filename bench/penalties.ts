// `npm run bench:penalties [-- --backends cpu,wasm,webgpu,webgl,browser-webgpu --batch 64 --vocab 128256 --budget 3000]`:
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
// Backends: cpu, wasm (default both) and webgpu in Node (Dawn: SwiftShader here unless
// VK_ICD_FILENAMES names another Vulkan driver; the adapter is printed); webgl and
// browser-webgpu in headless Chromium (the system /usr/bin/chromium through playwright-core,
// the page bench/page-penalties bundled by Vite). The measurement is bench/penalties-core.ts.
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { formatPenalties, measurePenalties, type PenaltiesConfig, type PenaltiesResult } from './penalties-core.js';
import type { PenaltiesPageConfig } from './page-penalties/main.js';
import { useNodeBackend } from './node-backend.js';
import { Baseline } from './baseline.js';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string' },
    batch: { type: 'string' },
    vocab: { type: 'string' },
    budget: { type: 'string' },
    smoke: { type: 'boolean' },
    compare: { type: 'string' },
    save: { type: 'boolean' },
  },
});
const smoke = args.smoke === true;
const backends = (args.backends ?? 'cpu,wasm').split(',').map((b) => (b === 'webgl' ? 'browser-webgl' : b));
const KNOWN = ['cpu', 'wasm', 'webgpu', 'browser-webgl', 'browser-webgpu'];
for (const b of backends) if (!KNOWN.includes(b)) throw new Error(`--backends: unknown backend '${b}' (one of ${KNOWN.join(', ')}, or webgl)`);
const cfg: PenaltiesConfig = {
  B: Number(args.batch ?? (smoke ? 4 : 64)),
  V: Number(args.vocab ?? (smoke ? 32000 : 128256)),
  budgetMs: Number(args.budget ?? (smoke ? 200 : 3000)),
  smoke,
};

// Each backend's table compared with the recorded run (bench/baseline.ts).
const baseline = new Baseline(args.compare ?? 'bench/baseline/penalties.json', args.save === true, smoke);

async function runNode(backend: string): Promise<void> {
  await useNodeBackend(backend);
  const before = tf.memory().numTensors;
  const result = await measurePenalties(cfg);
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  console.log(`\n${formatPenalties(backend, cfg.B, cfg.V, result)}`);
  baseline.compare(backend, cfg.B, cfg.V, result);
}

/** webgl and webgpu in headless Chromium: one page per backend. */
async function runBrowser(list: ('webgl' | 'webgpu')[]): Promise<void> {
  const { runPageBackends } = await import('./browser.js'); // Vite and playwright only when needed
  await runPageBackends<PenaltiesPageConfig, PenaltiesResult & { adapter: string }>(
    'page-penalties',
    list,
    { ready: '__penaltiesReady', run: '__penaltiesRun' },
    (backend) => ({ ...cfg, backend }),
    (label, result, version) => {
      console.log(`\n${label} adapter: ${result.adapter} (${version}, headless)`);
      console.log(formatPenalties(label, cfg.B, cfg.V, result));
      baseline.compare(label, cfg.B, cfg.V, result);
    },
  );
}

for (const b of backends.filter((x) => !x.startsWith('browser-'))) await runNode(b);
const inBrowser = backends.filter((x) => x.startsWith('browser-')).map((x) => x.replace('browser-', '') as 'webgl' | 'webgpu');
if (inBrowser.length > 0) await runBrowser(inBrowser);
baseline.write();
