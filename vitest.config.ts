// Every suite on every backend this machine can run: Node (cpu, wasm, webgpu via Dawn, and
// tensorflow when @tensorflow/tfjs-node is installed) and headless Chromium (webgl, webgpu).
// A backend that cannot run is reported as skipped, with the reason; with
// TFJS_SAMPLING_REQUIRE_ALL=1 (set by .ci/run) a skip is an error instead.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';
import { CHROMIUM, CHROMIUM_ARGS, probeAll } from './test/setup/probe.js';
import { HeaviestFirst } from './test/setup/sequencer.js';
import { BROWSER_DEPS, CORE_SUITES, CROSS_SUITES, NODE_ONLY_SUITES } from './test/setup/suites.js';

// The config is evaluated more than once per run: probe and report once.
const cached = process.env.TFJS_SAMPLING_PROBES;
const probes: ReturnType<typeof probeAll> = cached ? JSON.parse(cached) : probeAll();
const firstTime = !cached;
process.env.TFJS_SAMPLING_PROBES = JSON.stringify(probes);
const requireAll = process.env.TFJS_SAMPLING_REQUIRE_ALL === '1';
const only = process.env.TFJS_SAMPLING_ONLY?.split(',');
const missing: string[] = [];
for (const [key, p] of Object.entries(probes)) {
  if (p.ok) continue;
  if (firstTime) console.log(`[backends] skipped ${p.name}: ${p.why}`);
  if (key !== 'tensorflow') missing.push(`${p.name}: ${p.why}`);
}
if (requireAll && missing.length > 0) {
  throw new Error(`TFJS_SAMPLING_REQUIRE_ALL=1 but some backends cannot run:\n  ${missing.join('\n  ')}`);
}

// TFJS_SAMPLING_INCLUDE=test/x.test.ts runs just those files on every selected backend.
const INCLUDE = process.env.TFJS_SAMPLING_INCLUDE?.split(',');
const CORE = INCLUDE ?? CORE_SUITES;
const NODE_ONLY = NODE_ONLY_SUITES;
const CROSS = INCLUDE ?? CROSS_SUITES;
// Node webgpu (Dawn) and browser-webgpu run the same WGSL kernels on the same SwiftShader
// adapter, the costliest environment here (~700 CPU-seconds for the whole suite): Node runs what
// depends on Node (generate's async reads, where a synchronous read throws; the soak's heap,
// which only Node can collect and measure; errors and bad input) and the statistics (half their
// cost in Chromium); every other suite, the read-back counts at the backend included, runs in
// browser-webgpu.
const NODE_WEBGPU = ['test/statistics.test.ts', 'test/generate.test.ts', 'test/soak.test.ts', 'test/errors.test.ts', 'test/bad-input.test.ts'];

const nodeBackends = (['cpu', 'wasm', 'webgpu', 'tensorflow'] as const).filter((b) => probes[b].ok);
const want = (name: string): boolean => !only || only.includes(name);

// One process per worker for all its files, not one per file (TFJS_SAMPLING_ISOLATE=1: one per
// file). Each file still sets its backend and checks its own tensors. Measured alone on this 2-core
// machine: wasm 96 → 68 CPU-s; cpu, cpu-portable, wasm-portable, node-cross and webgpu together
// 653 → 498 CPU-s (a fresh process re-imports tfjs, the transformed sources and the wasm binary).
const ISOLATE = process.env.TFJS_SAMPLING_ISOLATE === '1';

function nodeProject(name: string, backends: string, include: string[], fused = true): TestProjectInlineConfiguration {
  return {
    extends: true,
    test: { name, include, pool: 'forks', isolate: ISOLATE, env: { TFJS_SAMPLING_BACKENDS: backends, TFJS_SAMPLING_FUSED: fused ? '1' : '0' } },
  };
}

// The SwiftShader processes run at a lower CPU priority: each Chromium's session at autogroup
// nice 4 (test/setup/chromium-low-priority.sh), Node webgpu's threads at nice 10 within vitest's
// session (test/helpers/backend.ts); TFJS_SAMPLING_NICE=<n> sets both, 0 turns it off. Why,
// measured on this 2-core machine before the change: Playwright starts each Chromium in its own
// session and the kernel's autogroup scheduling gives every session an equal share, so two
// browsers took ~960 of a full run's 1,840 CPU-seconds (most in SwiftShader's GPU-process threads,
// which Chromium as root also raises to nice -8) while Node suites ran up to 10x slower than
// alone. At nice 10 the browsers were starved past their connect timeout. The full-run effect of
// nice 4 is not yet measured apart from other changes.
const NICE = process.platform === 'linux' && process.env.TFJS_SAMPLING_NICE !== '0' && existsSync('/usr/bin/nice');
process.env.TFJS_SAMPLING_CHROMIUM = CHROMIUM;
const CHROMIUM_LAUNCH = NICE ? path.resolve(import.meta.dirname, 'test/setup/chromium-low-priority.sh') : CHROMIUM;

// browser-webgl and browser-webgpu have the most work of any project and run their files one
// after another: at the lowered priority each was starved while the Node pool ran and then ran
// alone at the end of a full run (webgl ~190 s; later webgpu ~200 s, its serial files summing to
// ~1,000 s of a 1,048 s run). Their sessions keep the normal weight (the GPU-process boost still
// dropped): vitest 1,048 → 951 s with two small test trims (stop 46). browser-cross stays at the
// lowered one.
const BROWSER_NICE: Record<string, string> = { 'browser-webgl': '0', 'browser-webgpu': '0' };

function browserProject(name: string, backends: string, include: string[]): TestProjectInlineConfiguration {
  return {
    extends: true,
    resolve: {
      alias: [{ find: /^\.\/(helpers\/)?backend\.js$/, replacement: path.resolve(import.meta.dirname, 'test/helpers/backend.browser.ts') }],
    },
    // Every bare import of the browser suites, pre-bundled before the first file runs (see suites.ts).
    optimizeDeps: { include: BROWSER_DEPS },
    test: {
      name,
      include,
      // One page for all files: the backend, its compiled shaders and pipelines carry over
      // (SwiftShader compiles each in seconds); every suite checks its own tensors and state.
      isolate: ISOLATE,
      provide: { backends },
      browser: {
        enabled: true,
        headless: true,
        // One file at a time per browser (TFJS_SAMPLING_BROWSER_PARALLEL=1: three): measured on
        // browser-webgl alone, the same wall time (302 s vs 306 s) for 441 instead of 532 CPU-s.
        fileParallelism: process.env.TFJS_SAMPLING_BROWSER_PARALLEL === '1',
        // Chromium starts slowly while the Node pool keeps both cores busy.
        connectTimeout: 300_000,
        screenshotFailures: false,
        provider: playwright({
          launchOptions: {
            executablePath: CHROMIUM_LAUNCH,
            ...(NICE && process.env.TFJS_SAMPLING_NICE === undefined && BROWSER_NICE[name] !== undefined
              ? { env: { ...process.env, TFJS_SAMPLING_NICE: BROWSER_NICE[name] } }
              : {}),
            args: CHROMIUM_ARGS,
          },
        }),
        instances: [{ browser: 'chromium' }],
      },
    },
  };
}

const projects: TestProjectInlineConfiguration[] = [];
for (const b of nodeBackends) {
  if (want(b))
    projects.push(nodeProject(b, b, b === 'cpu' ? [...CORE, ...NODE_ONLY] : b === 'webgpu' ? CORE.filter((f) => INCLUDE || NODE_WEBGPU.includes(f)) : CORE));
}
// cpu and wasm have fused kernels: their portable path runs every suite too.
for (const b of ['cpu', 'wasm'] as const) {
  if (probes[b].ok && want(`${b}-portable`)) projects.push(nodeProject(`${b}-portable`, b, CORE, false));
}
if (want('node-cross') && nodeBackends.length > 1) projects.push(nodeProject('node-cross', nodeBackends.join(','), CROSS));
if (probes.browser.ok) {
  for (const b of ['webgl', 'webgpu']) if (want(`browser-${b}`)) projects.push(browserProject(`browser-${b}`, b, CORE));
  if (want('browser-cross')) projects.push(browserProject('browser-cross', 'webgl,webgpu', CROSS));
}

export default defineConfig({
  test: {
    testTimeout: 600_000,
    hookTimeout: 120_000,
    maxWorkers: Number(process.env.TFJS_SAMPLING_WORKERS ?? 3),
    sequence: { sequencer: HeaviestFirst },
    projects,
  },
});
