// `npm run bench:speculative [-- --backends cpu,wasm,webgpu,webgl,browser-webgpu --batch 4 --tokens 64 --gammas 2,4,6 --rounds 3 --smoke]`:
// speculative decoding with the project's Tang-poem models, side by side in one run per backend:
// the character transformer (model/transformer.ts, cachedStep with the position-indexed cache) as
// the target, the character MLP (model/char-model.ts, a window of 24 ids, three matmuls) as the
// draft. For each sampler setting (greedy; T 0.8 + top-k 40) and each γ: plain decoding, mode
// 'exact' and mode 'rejection', every run timed over the whole generate call (prefill included).
// Reported: tokens/s, speed-up against plain decoding (the ratio of the medians over --rounds
// rounds, the configurations interleaved within a round), acceptance rate, new tokens per target
// pass, and for 'exact' how many tokens equal plain decoding's. The draft's own cost is measured
// too: the MLP alone through generate, and its ratio to the transformer's decode step.
// One untimed warm-up run of every configuration first. tf.memory().numTensors is checked after
// each run: a leak throws. cpu, wasm and webgpu (Dawn) run in Node; webgl and browser-webgpu in
// headless Chromium (bench/page-speculative, the models handed over in memory).
import { parseArgs } from 'node:util';
import { DEFAULT_TRANSFORMER_DIR, DEFAULT_WEIGHTS_DIR, fileSystemIO, loadCharModelFromDisk, loadTransformerFromDisk } from '../model/fs-io.js';
import { Baseline } from './baseline.js';
import { measureSpeculative, type SpeculativeConfig, type SpeedUps } from './speculative-core.js';
import type { SerializedArtifacts, SpeculativePageConfig } from './page-speculative/main.js';
import { useNodeBackend } from './node-backend.js';

const HELP = `npx tsx bench/speculative.ts [options]        (npm run bench:speculative -- [options])
  --backends LIST   cpu,wasm (default) or any of cpu, wasm, webgpu (Dawn in Node), webgl, browser-webgpu (Chromium); SwiftShader here: slow
  --batch N         rows per generate call (default 4)
  --tokens N        new tokens per row (default 64)
  --gammas LIST     draft tokens per pass (default 2,4,6)
  --rounds N        timed rounds (default 3)
  --smoke           8 tokens, γ 2, one round
  --compare FILE    the recorded speed-ups each table is compared with (default bench/baseline/speculative.json)
  --save            record this run's speed-ups there (bench/baseline.ts)`;

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string' },
    batch: { type: 'string' },
    tokens: { type: 'string' },
    gammas: { type: 'string' },
    rounds: { type: 'string' },
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
const int = (v: string | undefined, fallback: number, name: string): number => {
  const n = Number(v ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected an integer ≥ 1, got '${v}'`);
  return n;
};
const backends = (args.backends ?? 'cpu,wasm').split(',').map((b) => (b === 'webgl' ? 'browser-webgl' : b));
for (const b of backends) if (!['cpu', 'wasm', 'webgpu', 'browser-webgl', 'browser-webgpu'].includes(b)) throw new Error(`--backends: unknown backend '${b}'`);
const base = {
  B: int(args.batch, 4, 'batch'),
  N: smoke ? 8 : int(args.tokens, 64, 'tokens'),
  gammas: smoke ? [2] : (args.gammas ?? '2,4,6').split(',').map((g) => int(g, 0, 'gammas')),
  rounds: smoke ? 1 : int(args.rounds, 3, 'rounds'),
};
const log = (line: string): void => console.log(line);
// Each table's speed-ups (mode and γ against plain decoding) compared with the recorded run.
const baseline = new Baseline(args.compare ?? 'bench/baseline/speculative.json', args.save === true, smoke);
const compare = (speedUps: SpeedUps): void => {
  for (const [key, values] of Object.entries(speedUps)) baseline.values(key, values, 'speed-up', 'faster');
};

for (const backend of backends.filter((b) => !b.startsWith('browser-'))) {
  await useNodeBackend(backend);
  const lm = await loadTransformerFromDisk();
  const mlp = await loadCharModelFromDisk();
  const cfg: SpeculativeConfig = { ...base, label: backend };
  compare(await measureSpeculative(lm, mlp, cfg, log));
  lm.dispose();
  mlp.model.dispose();
}
const inBrowser = backends.filter((b) => b.startsWith('browser-')).map((b) => b.replace('browser-', '') as 'webgl' | 'webgpu');
if (inBrowser.length > 0) {
  const { runPageBackends } = await import('./browser.js'); // Vite and playwright only when needed
  const serialize = async (dir: string): Promise<SerializedArtifacts> => {
    const { weightData, ...rest } = await fileSystemIO(dir).load!();
    return { ...rest, weights: Buffer.from(weightData as ArrayBuffer).toString('base64') };
  };
  const models = { transformer: await serialize(DEFAULT_TRANSFORMER_DIR), mlp: await serialize(DEFAULT_WEIGHTS_DIR) };
  await runPageBackends<SpeculativePageConfig, { adapter: string; lines: string[]; speedUps: SpeedUps }>(
    'page-speculative',
    inBrowser,
    { ready: '__specReady', run: '__specRun' },
    (backend) => ({ ...base, backend, label: `browser-${backend}`, models }),
    (label, result, version) => {
      console.log(`\n(${label}: Chromium ${version}, adapter ${result.adapter})`);
      for (const line of result.lines) console.log(line);
      compare(result.speedUps);
    },
  );
}
baseline.write();
console.log(
  '\n(self-draft: the transformer proposes for itself; greedy keeps every proposal, so its row is the loop at full acceptance with a draft as costly as the target.)',
);
