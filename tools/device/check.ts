// The device correctness check: the project's fuzz properties (test/fuzz.test.ts: 1,000 cases
// per GPU backend at TFJS_SAMPLING_FUZZ_SCALE=1, plus its shrunk regressions), the agreement
// cases (test/agreement.test.ts) and the history processors (test/history.test.ts), unmodified,
// on the webgpu backend (Dawn), against the float64 reference — without vitest: the bundle
// built by tools/device/pack.mjs aliases `vitest` to tools/device/vitest-shim.ts and the tests'
// backend helper to tools/device/backend-override.ts (nothing is "covered elsewhere" here).
//
//   node .devpack/check.mjs [--files fuzz,agreement,history,dry,families,generate-families,logprobs,bands,sparse-edits,chain-samplers,gpu-chain] [--grep REGEX] [--json FILE]
//   env: TFJS_SAMPLING_BACKENDS (default webgpu), TFJS_SAMPLING_FUZZ_SCALE (default 1),
//        TFJS_SAMPLING_FUZZ_SEED / _PATH (replay one counterexample, with --grep on its property)
// Prints each test, the per-property tallies (cases, rows, exemptions), failures with the
// fast-check seed and path to replay, and a summary; exit 1 on any failure.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { run, type TestResult } from './vitest-shim.js';
import { adaptersSeen } from './webgpu-guard.js';

const { values: args } = parseArgs({
  options: { files: { type: 'string' }, grep: { type: 'string' }, json: { type: 'string' } },
  strict: true,
});
process.env.TFJS_SAMPLING_BACKENDS ??= 'webgpu';
process.env.TFJS_SAMPLING_FUZZ_SCALE ??= '1';
process.env.XDG_RUNTIME_DIR ??= '/tmp';
// A real GPU runs the random-mix properties at ten times CI's GPU case counts.
process.env.TFJS_SAMPLING_FAMILIES_SCALE ??= '10';

// Imported after the variables above are set: the test helpers read them when they load.
const FILES: Record<string, () => Promise<unknown>> = {
  fuzz: () => import('../../test/fuzz.test.js'),
  agreement: () => import('../../test/agreement.test.js'),
  history: () => import('../../test/history.test.js'),
  dry: () => import('../../test/dry.test.js'),
  families: () => import('../../test/families.test.js'),
  'generate-families': () => import('../../test/generate-families.test.js'),
  logprobs: () => import('../../test/logprobs.test.js'),
  bands: () => import('../../test/bands.test.js'),
  'sparse-edits': () => import('../../test/sparse-edits.test.js'),
  'chain-samplers': () => import('../../test/chain-samplers.test.js'),
  'gpu-chain': () => import('../../test/gpu-chain.test.js'),
};
// The device run's default: every suite whose kernels differ per GPU (DEVPACK_FILES overrides it).
const files = (args.files ?? process.env.DEVPACK_FILES ?? 'fuzz,agreement,history,families,generate-families,logprobs,bands,sparse-edits')
  .split(',')
  .filter(Boolean);
for (const f of files) {
  const load = FILES[f];
  if (!load) throw new Error(`--files: unknown ${f}; known: ${Object.keys(FILES).join(', ')}`);
  await load();
}

const started = new Date();
const env = Object.fromEntries(
  [
    'TFJS_SAMPLING_BACKENDS',
    'TFJS_SAMPLING_FUZZ_SCALE',
    'TFJS_SAMPLING_FUZZ_SEED',
    'TFJS_SAMPLING_FUZZ_PATH',
    'VK_ICD_FILENAMES',
    'VK_DRIVER_FILES',
    'DEVPACK_ALLOW_SOFTWARE',
  ].flatMap((k) => (process.env[k] !== undefined ? [[k, process.env[k]]] : [])),
);
console.log(`device check: files ${files.join(', ')}; ${JSON.stringify(env)}; node ${process.version}; ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`);

function summary(results: TestResult[], done: boolean): Record<string, unknown> {
  const count = (s: TestResult['status']): number => results.filter((r) => r.status === s).length;
  return {
    done,
    date: started.toISOString(),
    seconds: Math.round((Date.now() - started.getTime()) / 1000),
    env,
    adapters: adaptersSeen,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    results,
  };
}
const write = (results: TestResult[], done: boolean): void => {
  if (args.json) writeFileSync(args.json, `${JSON.stringify(summary(results, done), null, 1)}\n`);
};

const results = await run({
  ...(args.grep ? { grep: new RegExp(args.grep) } : {}),
  onResult: (_r, all) => write(all, false),
});
write(results, true);

const s = summary(results, true);
console.log(`\n==== device check: ${String(s.passed)} passed, ${String(s.failed)} failed, ${String(s.skipped)} skipped in ${String(s.seconds)} s`);
console.log(`adapter(s): ${adaptersSeen.map((a) => JSON.stringify(a)).join('; ') || 'none requested'}`);
for (const r of results) {
  const tally = r.logs.filter((l) => /^fuzz |^tokens /.test(l)).map((l) => l.split('\n')[0]);
  for (const t of tally) console.log(`  ${t}`);
}
const failed = results.filter((r) => r.status === 'failed');
if (failed.length > 0) {
  console.log(`\nFAILED (${failed.length}):`);
  for (const r of failed) console.log(`✗ ${r.name}\n    ${(r.error ?? '').replace(/\n/g, '\n    ')}`);
}
process.exit(failed.length > 0 || results.length === 0 ? 1 : 0);
