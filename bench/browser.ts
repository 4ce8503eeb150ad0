// The browser runner: bundles bench/page (bench/core.ts, bench/methods.ts and src/ through
// Vite), serves it from 127.0.0.1, and drives headless Chromium (the system /usr/bin/chromium,
// through playwright-core; never `npx playwright install`) once per backend: webgl (WebGL2 on
// SwiftShader, WEBGL_CPU_FORWARD off) and webgpu (SwiftShader adapter).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { serveStatic } from '../test/setup/static-server.js';
import type { BenchOptions, Cell, Result } from './core.js';
import type { PageConfig } from './page/main.js';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const pageDir = path.join(benchDir, 'page');
const outDir = path.join(benchDir, 'results', '.page');

import { CHROMIUM, CHROMIUM_ARGS } from '../test/setup/probe.js';

export { CHROMIUM, CHROMIUM_ARGS };

export interface BrowserRun {
  backends: ('webgl' | 'webgpu')[];
  cells: Cell[];
  methods: string[];
  opts: BenchOptions;
  onResult: (r: Result) => void;
  /** Called when a backend starts measuring (the table header). */
  onStart: (backend: string) => void;
  log: (line: string) => void;
}

/** Why the browser runs cannot start here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}; apt-get install chromium (or set CHROMIUM_PATH)`;
}

/**
 * Bundles the page in `root` with Vite into `out`, serves it from 127.0.0.1 and opens headless
 * Chromium (the system binary); `use` gets the browser and the page's address. Closes both after.
 */
export async function withBundledPage<T>(root: string, out: string, use: (browser: Browser, url: string) => Promise<T>): Promise<T> {
  await build({
    configFile: false,
    root,
    logLevel: 'warn',
    build: { outDir: out, emptyOutDir: true, target: 'es2022', minify: false, reportCompressedSize: false, chunkSizeWarningLimit: 100_000 },
  });
  const server = await serveStatic(out);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    return await use(browser, server.url);
  } finally {
    await browser.close();
    await server.close();
  }
}

/**
 * Runs a bench page (bench/<name>: its main.ts sets `window[ready]` and `window[run](config)`)
 * once per backend in headless Chromium and hands each result, with its adapter, to `report`.
 */
export async function runPageBackends<C extends object, R extends { adapter: string }>(
  name: string,
  backends: ('webgl' | 'webgpu')[],
  keys: { ready: string; run: string },
  config: (backend: 'webgl' | 'webgpu') => C,
  report: (label: string, result: R, browserVersion: string) => void,
): Promise<void> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  await withBundledPage(path.join(benchDir, name), path.join(benchDir, 'results', `.${name}`), async (browser, url) => {
    for (const backend of backends) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        page.on('pageerror', (e) => console.log(`  ! browser-${backend} page error: ${e.message}`));
        await page.goto(url);
        await page.waitForFunction((k) => (window as unknown as Record<string, unknown>)[k] === true, keys.ready, { timeout: 60_000 });
        const result = (await page.evaluate(([k, c]) => (window as unknown as Record<string, (c: unknown) => Promise<unknown>>)[k as string]!(c), [
          keys.run,
          config(backend),
        ] as const)) as R;
        report(`browser-${backend}`, result, browser.version());
      } finally {
        await context.close();
      }
    }
  });
}

export async function runBrowser(run: BrowserRun): Promise<{ skipped: { backend: string; why: string }[]; meta: Record<string, unknown> }> {
  const skipped: { backend: string; why: string }[] = [];
  const meta: Record<string, unknown> = {};
  const missing = chromiumMissing();
  if (missing) return { skipped: run.backends.map((b) => ({ backend: `browser-${b}`, why: missing })), meta };
  await withBundledPage(pageDir, outDir, async (browser, url) => {
    meta.browser = `Chromium ${browser.version()} (headless, SwiftShader)`;
    for (const backend of run.backends) {
      const label = `browser-${backend}`;
      const reported = new Set<string>();
      const context = await browser.newContext();
      const page = await context.newPage();
      page.on('pageerror', (e) => run.log(`  ! ${label} page error: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') run.log(`  ! ${label} console: ${m.text()}`);
      });
      await page.exposeFunction('__benchReport', (r: Result) => {
        reported.add(`${r.logits}|${r.B}|${r.V}|${r.method}`);
        run.onResult(r);
      });
      try {
        await page.goto(url);
        await page.waitForFunction(() => window.__benchReady === true, null, { timeout: 60_000 });
        run.onStart(label);
        const cfg: PageConfig = { backend, cells: run.cells, methods: run.methods, opts: run.opts };
        const info = await page.evaluate((c) => window.__benchRun!(c), cfg);
        meta[label] = info;
      } catch (e) {
        const why = (e as Error).message.split('\n')[0] ?? String(e);
        if (reported.size === 0) {
          skipped.push({ backend: label, why });
        } else {
          // Failed part-way (a lost context, a crash): what was not measured is an error.
          for (const c of run.cells) {
            for (const m of run.methods) {
              if (reported.has(`${c.logits}|${c.B}|${c.V}|${m}`)) continue;
              run.onResult({ runner: 'browser', backend: label, B: c.B, V: c.V, logits: c.logits, method: m, status: 'error', reps: 0, error: why });
            }
          }
        }
      } finally {
        await context.close();
      }
    }
  });
  return { skipped, meta };
}
