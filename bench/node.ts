// `npm run bench` (issue 4): every method side by side on every backend, in one run.
// Node runs cpu, wasm and webgpu (Dawn on SwiftShader) and the plain-JS peers; headless
// Chromium runs webgl and webgpu (bench/browser.ts). See bench/README.md for the options.
import { execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import cliProgress from 'cli-progress';
import { cellsOf, DEFAULT_OPTIONS, SKIP_FACTOR, Estimator, measure, checkIds, runBackend, type BenchOptions, type Result } from './core.js';
import { LOGITS_SHAPES, makeLogits, type LogitsShape } from './logits.js';
import { selectMethods, type JsDeps, type MethodDef } from './methods.js';
import { Baseline } from './baseline.js';
import { Index, jsHeader, jsLine, renderSummary, shown, tensorHeader, tensorLine, writeOutputs, type RunFile } from './report.js';

const require = createRequire(import.meta.url);
const benchDir = path.dirname(fileURLToPath(import.meta.url));

const NODE_BACKENDS = ['cpu', 'wasm', 'webgpu'] as const;
const BROWSER_BACKENDS = ['browser-webgl', 'browser-webgpu'] as const;
const ALL_BACKENDS: readonly string[] = [...NODE_BACKENDS, ...BROWSER_BACKENDS];
const ALIASES: Record<string, string[]> = {
  webgl: ['browser-webgl'],
  node: [...NODE_BACKENDS],
  browser: [...BROWSER_BACKENDS],
  all: [...ALL_BACKENDS],
};

const HELP = `npm run bench -- [options]          (npm run bench:smoke: the CI-sized run)
  --backends LIST   cpu,wasm,webgpu,browser-webgl,browser-webgpu (aliases: webgl, node, browser, all)
                    default: all. webgpu = Node (Dawn); browser-webgpu = headless Chromium
  --batch LIST      default 1,16,64
  --vocab LIST      default 32000,50257,128256,262144
  --methods LIST    a,b,c,d,e,f (a letter selects its family: e = e,ek,ec; f = f,fc; exact ids work)
  --logits LIST     peaky,flat (default both)
  --budget MS       timed repetitions per (cell, method), after the warm-up (default ${DEFAULT_OPTIONS.budgetMs})
  --cap MS          a warm-up longer than this ends the cell as '>cap' (default ${DEFAULT_OPTIONS.capMs})
  --min-reps N      (default ${DEFAULT_OPTIONS.minReps})   --max-reps N (default ${DEFAULT_OPTIONS.maxReps})
  --no-estimate     run every cell, even when a smaller cell predicts more than ${SKIP_FACTOR} × cap
  --no-markdown     do not rewrite bench/RESULTS.md / RESULTS.svg
  --strict          exit 1 if any method errors, leaks tensors, hits the cap, or a backend is skipped
  --smoke           B=1, V=32000, cpu + wasm, 1-2 reps, --strict, results file *-smoke.json only
  --note TEXT       a remark printed in RESULTS.md (e.g. what else was running)
  --compare FILE    the recorded run each cell is compared with (default bench/baseline/main.json)
  --save            record this run's cells there (bench/baseline.ts); with --report, the cells of that file
  --report FILE     no measuring: re-render bench/RESULTS.md and RESULTS.svg from a results JSON`;

const list = (s: string | undefined): string[] | undefined =>
  s
    ?.split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const numbers = (s: string | undefined, what: string): number[] | undefined =>
  list(s)?.map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${what}: ${x} is not a positive integer`);
    return n;
  });

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string' },
    batch: { type: 'string' },
    vocab: { type: 'string' },
    methods: { type: 'string' },
    logits: { type: 'string' },
    budget: { type: 'string' },
    cap: { type: 'string' },
    'min-reps': { type: 'string' },
    'max-reps': { type: 'string' },
    'no-estimate': { type: 'boolean' },
    'no-markdown': { type: 'boolean' },
    strict: { type: 'boolean' },
    smoke: { type: 'boolean' },
    note: { type: 'string' },
    report: { type: 'string' },
    compare: { type: 'string' },
    save: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
/**
 * Each backend's cells compared with the recorded run: every tensor method in tf.max passes (the
 * plain-JS peers have no pass of their own; their ratios show in the table). Off in a smoke run.
 */
function compareWithBaseline(results: readonly Result[], off = false): void {
  const baseline = new Baseline(args.compare ?? path.join(benchDir, 'baseline', 'main.json'), args.save === true, off);
  const tables = new Map<string, { limit: number; rows: [string, number][] }>();
  for (const r of results) {
    if (r.backend === 'js' || r.status !== 'ok' || r.medianMs === undefined) continue;
    const key = `${r.backend} ${r.logits} B${r.B} V${r.V}`;
    const t = tables.get(key) ?? { limit: NaN, rows: [] };
    if (r.method === 'a') t.limit = r.medianMs;
    else t.rows.push([`(${r.method})`, r.medianMs]);
    tables.set(key, t);
  }
  for (const [key, t] of tables) if (Number.isFinite(t.limit)) baseline.values(key, Object.fromEntries(t.rows.map(([m, ms]) => [m, ms / t.limit])));
  baseline.write();
}

if (args.report) {
  const run = JSON.parse(readFileSync(args.report, 'utf8')) as RunFile;
  if (args.note) run.meta.note = args.note;
  const written = await renderSummary(run, benchDir);
  console.log(`wrote ${written.map((f) => path.relative(process.cwd(), f)).join(', ')} from ${args.report}`);
  compareWithBaseline(run.results);
  process.exit(0);
}

const smoke = args.smoke === true;
const strict = smoke || args.strict === true;
const opts: BenchOptions = {
  budgetMs: Number(args.budget ?? (smoke ? 100 : DEFAULT_OPTIONS.budgetMs)),
  capMs: Number(args.cap ?? (smoke ? 20000 : DEFAULT_OPTIONS.capMs)),
  minReps: Number(args['min-reps'] ?? (smoke ? 1 : DEFAULT_OPTIONS.minReps)),
  maxReps: Number(args['max-reps'] ?? (smoke ? 2 : DEFAULT_OPTIONS.maxReps)),
  estimate: args['no-estimate'] !== true,
};
for (const [k, v] of Object.entries(opts)) if (typeof v === 'number' && !(v >= 0)) throw new Error(`bad --${k}: ${v}`);

const backends = [...new Set((list(args.backends) ?? (smoke ? ['cpu', 'wasm'] : ['all'])).flatMap((b) => ALIASES[b] ?? [b]))];
const unknownBackends = backends.filter((b) => !ALL_BACKENDS.includes(b));
if (unknownBackends.length > 0) throw new Error(`unknown backend(s) ${unknownBackends.join(', ')}; known: ${ALL_BACKENDS.join(', ')}`);
const batches = numbers(args.batch, 'batch') ?? (smoke ? [1] : [1, 16, 64]);
const vocabs = numbers(args.vocab, 'vocab') ?? (smoke ? [32000] : [32000, 50257, 128256, 262144]);
const shapes = (list(args.logits) ?? [...LOGITS_SHAPES]) as LogitsShape[];
for (const s of shapes) if (!LOGITS_SHAPES.includes(s)) throw new Error(`unknown --logits ${s}; known: ${LOGITS_SHAPES.join(', ')}`);
const methods = selectMethods(list(args.methods));
const tensorMethods = methods.filter((m) => m.kind === 'tensor');
const jsMethods = methods.filter((m) => m.kind === 'js');
const cells = cellsOf(batches, vocabs, shapes);
const nodeBackends = backends.filter((b) => (NODE_BACKENDS as readonly string[]).includes(b));
const browserBackends = backends.filter((b) => (BROWSER_BACKENDS as readonly string[]).includes(b));

// ---- progress and the live table -------------------------------------------------------

const total = cells.length * (jsMethods.length + backends.length * tensorMethods.length);
const tty = process.stdout.isTTY === true;
const bars = new cliProgress.MultiBar(
  {
    format: ' {bar} {percentage}% | {value}/{total} | {duration_formatted} elapsed, eta {eta_formatted} | {task}',
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 20,
  },
  cliProgress.Presets.shades_classic,
);
const bar = tty ? bars.create(total, 0, { task: 'starting' }) : undefined;
const originalConsole = { log: console.log, warn: console.warn, error: console.error };
let done = 0;
function print(line: string): void {
  if (bar) {
    bars.log(`${line}\n`);
    bars.update();
  } else {
    originalConsole.log(line);
  }
}
if (bar) {
  // Library output (tfjs's Node banner, warnings) goes above the bar instead of through it.
  for (const name of ['log', 'warn', 'error'] as const) {
    console[name] = (...xs: unknown[]) =>
      print(
        xs
          .map((x) => (typeof x === 'string' ? x : String(x)))
          .join(' ')
          .replace(/\n+$/, ''),
      );
  }
}
function progress(task: string): void {
  bar?.update(done, { task });
}

const index = new Index();
const results: Result[] = [];
function onResult(r: Result, perCell: number): void {
  results.push(r);
  index.add(r);
  done++;
  progress(`${r.backend} ${r.logits} [${r.B}, ${r.V}] (${r.method}) ${shown(r)}`);
  if (r.status === 'error') print(`  ! ${r.backend} ${r.logits} [${r.B}, ${r.V}] (${r.method}): ${r.error}`);
  if (index.count(r.backend, r) === perCell) {
    print(r.backend === 'js' ? jsLine(index, r) : tensorLine(index, r.backend, r));
  }
}

// ---- environment -----------------------------------------------------------------------

function sh(cmd: string): string {
  try {
    return execSync(cmd, { cwd: benchDir, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return '';
  }
}
function version(pkg: string): string {
  // Read the file: packages with an `exports` map (transformers.js) do not export package.json.
  const file = path.join(benchDir, '..', 'node_modules', pkg, 'package.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : 'not installed';
}
const started = new Date();
const meta: Record<string, unknown> = {
  command: `npm run bench${smoke ? ':smoke' : ''}${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  date: started.toISOString(),
  host: os.hostname(),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  tfjs: tf.version_core,
  transformers: version('@huggingface/transformers'),
  onnxruntime: version('onnxruntime-node'),
  commit: sh('git rev-parse --short HEAD'),
  dirty: sh('git status --porcelain -- ../src') !== '',
  options: opts,
  loadavg: { cores: os.cpus().length, start: os.loadavg()[0] },
  ...(args.note ? { note: args.note } : {}),
  backends,
  batches,
  vocabs,
  logits: shapes,
  methods: methods.map((m) => m.id),
};
const skipped: { backend: string; why: string }[] = [];

// ---- Node backends -----------------------------------------------------------------------

async function setupNodeBackend(name: string): Promise<string | undefined> {
  if (name === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
  } else if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The trailing slash matters: without it tfjs silently falls back to cpu.
    wasm.setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
  } else if (name === 'webgpu') {
    // Dawn (npm `webgpu`) on the SwiftShader Vulkan driver shipped with Debian's chromium.
    process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    if (!existsSync(process.env.VK_ICD_FILENAMES)) return `no Vulkan driver at ${process.env.VK_ICD_FILENAMES} (apt-get install chromium)`;
    let gpu: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> };
    try {
      const { create, globals } = await import('webgpu');
      Object.assign(globalThis, globals);
      gpu = create([]) as unknown as typeof gpu;
      Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    } catch (e) {
      return `npm webgpu did not load: ${(e as Error).message} (apt-get install libvulkan1?)`;
    }
    const adapter = await gpu.requestAdapter();
    if (!adapter) return 'no WebGPU adapter (Dawn found no Vulkan device; apt-get install libvulkan1 chromium)';
    const info = adapter.info;
    meta.nodeWebgpuAdapter = info ? `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.trim() : 'unknown';
    await import('@tensorflow/tfjs-backend-webgpu');
  }
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (e) {
    return `setBackend failed: ${(e as Error).message}`;
  }
  // tfjs falls back silently when a backend fails to initialise.
  if (!ok || tf.getBackend() !== name) return `did not initialise (tf.getBackend() = ${tf.getBackend()})`;
  return undefined;
}

// ---- the plain-JS peers (backend-independent) ---------------------------------------------

async function runPeers(list: MethodDef[]): Promise<void> {
  const deps: JsDeps = {};
  if (list.some((m) => m.id.startsWith('e'))) {
    try {
      deps.hf = await import('@huggingface/transformers');
    } catch (e) {
      print(`  ! @huggingface/transformers did not load: ${(e as Error).message}`);
    }
  }
  print(jsHeader());
  const est = new Estimator();
  for (const cell of cells) {
    let data: Float32Array | undefined;
    for (const m of list) {
      const base = { runner: 'node', backend: 'js', B: cell.B, V: cell.V, logits: cell.logits, method: m.id } as const;
      const series = `${m.id}|${cell.logits}`;
      const predicted = opts.estimate ? est.predict(series, cell) : undefined;
      let r: Result;
      if (predicted !== undefined && predicted > SKIP_FACTOR * opts.capMs) {
        r = { ...base, status: 'cap', reps: 0, estimateMs: predicted };
      } else {
        progress(`js ${cell.logits} [${cell.B}, ${cell.V}] (${m.id})`);
        data ??= makeLogits(cell.logits, cell.B, cell.V);
        try {
          const step = m.js!(data, cell, deps);
          const t = await measure(step, opts, (out) => {
            if (out) checkIds(out, cell);
          });
          r = { ...base, ...t };
        } catch (e) {
          r = { ...base, status: 'error', reps: 0, error: (e as Error).message };
        }
        est.record(series, cell, r.status === 'ok' ? r.medianMs : r.firstMs);
      }
      onResult(r, list.length);
    }
  }
}

// ---- run ------------------------------------------------------------------------------------

console.log(
  `tfjs-sampling bench: backends ${backends.join(', ')}; B ${batches.join(', ')}; V ${vocabs.join(', ')}; logits ${shapes.join(', ')}; ` +
    `methods ${methods.map((m) => m.id).join(', ')}; budget ${opts.budgetMs} ms, cap ${opts.capMs} ms, reps ${opts.minReps}–${opts.maxReps}`,
);
if (jsMethods.length > 0) await runPeers(jsMethods);

for (const name of nodeBackends) {
  progress(`${name}: initialising`);
  const why = tensorMethods.length > 0 ? await setupNodeBackend(name) : undefined;
  if (why) {
    skipped.push({ backend: name, why });
    print(`  ! skipped ${name}: ${why}`);
    done += cells.length * tensorMethods.length;
    continue;
  }
  if (tensorMethods.length === 0) continue;
  print(tensorHeader());
  await runBackend({ runner: 'node', tfBackend: name, label: name, cells, methods: tensorMethods, opts }, (r) => onResult(r, tensorMethods.length));
}

if (browserBackends.length > 0 && tensorMethods.length > 0) {
  const { runBrowser } = await import('./browser.js');
  progress('browser: bundling the page (vite) and starting chromium');
  const out = await runBrowser({
    backends: browserBackends.map((b) => b.replace('browser-', '') as 'webgl' | 'webgpu'),
    cells,
    methods: tensorMethods.map((m) => m.id),
    opts,
    onResult: (r) => onResult(r, tensorMethods.length),
    onStart: () => print(tensorHeader()),
    log: print,
  });
  skipped.push(...out.skipped);
  Object.assign(meta, out.meta);
  for (const s of out.skipped) {
    print(`  ! skipped ${s.backend}: ${s.why}`);
    done += cells.length * tensorMethods.length;
  }
}
bar?.update(total, { task: 'writing results' });
bars.stop();
Object.assign(console, originalConsole);

// ---- files and exit status -------------------------------------------------------------

meta.durationS = Math.round((Date.now() - started.getTime()) / 1000);
(meta.loadavg as Record<string, number>).end = os.loadavg()[0]!;
const run: RunFile = { meta, skipped, results };
const baseStem = `${started.toISOString().slice(0, 10)}-${os.hostname()}${smoke ? '-smoke' : ''}`;
let stem = baseStem;
for (let i = 2; !smoke && existsSync(path.join(benchDir, 'results', `${stem}.json`)); i++) stem = `${baseStem}-${i}`;
const written = await writeOutputs(run, benchDir, stem, !smoke && args['no-markdown'] !== true);
console.log(
  `\nwrote ${[written.json, written.svg, written.markdown]
    .filter(Boolean)
    .map((f) => path.relative(process.cwd(), f!))
    .join(', ')} (${meta.durationS} s)`,
);

compareWithBaseline(results, smoke);

const problems: string[] = [];
for (const r of results) {
  const where = `${r.backend} ${r.logits} [${r.B}, ${r.V}] (${r.method})`;
  if (r.status === 'error') problems.push(`${where}: error: ${r.error}`);
  if (r.leakedTensorsPerStep !== undefined && r.leakedTensorsPerStep !== 0) problems.push(`${where}: leaks ${r.leakedTensorsPerStep} tensors per step`);
  else if (r.retainedTensors !== undefined && r.retainedTensors !== 0) problems.push(`${where}: ${r.retainedTensors} tensors left allocated after its runs`);
  if (strict && r.status === 'cap') problems.push(`${where}: over the cap (${shown(r)})`);
}
if (strict) for (const s of skipped) problems.push(`${s.backend}: skipped: ${s.why}`);
if (problems.length > 0) {
  console.log(`\n${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
}
process.exit(strict && problems.length > 0 ? 1 : 0);
