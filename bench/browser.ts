// The browser runner: bundles bench/page (bench/core.ts, bench/methods.ts and src/ through
// Vite), serves it from 127.0.0.1, and drives headless Chromium (the system /usr/bin/chromium,
// through playwright-core; never `npx playwright install`) once per backend: webgl (WebGL2 on
// SwiftShader, WEBGL_CPU_FORWARD off) and webgpu (SwiftShader adapter).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
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


export async function runBrowser(run: BrowserRun): Promise<{ skipped: { backend: string; why: string }[]; meta: Record<string, unknown> }> {
  const skipped: { backend: string; why: string }[] = [];
  const meta: Record<string, unknown> = {};
  if (!existsSync(CHROMIUM)) {
    const why = `no Chromium at ${CHROMIUM}; apt-get install chromium (or set CHROMIUM_PATH)`;
    return { skipped: run.backends.map((b) => ({ backend: `browser-${b}`, why })), meta };
  }
  await build({
    configFile: false,
    root: pageDir,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, target: 'es2022', minify: false, reportCompressedSize: false, chunkSizeWarningLimit: 100_000 },
  });
  const server = await serveStatic(outDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  meta.browser = `Chromium ${browser.version()} (headless, SwiftShader)`;
  try {
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
        await page.goto(server.url);
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
  } finally {
    await browser.close();
    await server.close();
  }
  return { skipped, meta };
}
