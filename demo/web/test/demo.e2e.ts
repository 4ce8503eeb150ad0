// End-to-end test of the browser demo (npm run test:demo): builds demo/web with Vite, serves the
// static page from 127.0.0.1 and drives the system Chromium (headless, WebGL2/WebGPU on
// SwiftShader; never a downloaded browser). Per backend pass it checks the backend shown, the
// entropy against temperature, a generation (vocabulary characters only), Stop, the sampler
// picker (a generation with typical-p; an invalid order shows its error), and that no tensor
// outlives a run; the first pass saves a screenshot (docs/demo.png with DEMO_SCREENSHOT=docs, so
// that `npm test` leaves the tracked file alone).
//
//   npm run test:demo                       # auto backend (WebGPU if a hardware adapter, else WebGL), then forced WebGPU
//   DEMO_BACKENDS=auto npm run test:demo    # passes to run: auto, webgl, webgpu (comma-separated)
//   DEMO_SCREENSHOT=docs npm run test:demo  # refresh docs/demo.png (default: the OS temp folder)
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Page } from 'playwright';
import { build } from 'vite';
import { serveStatic } from '../../../test/setup/static-server.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../../../test/setup/probe.js';

const here = import.meta.dirname;
const repo = path.resolve(here, '../../..');
const configFile = process.env.DEMO_VITE_CONFIG ? path.resolve(process.env.DEMO_VITE_CONFIG) : path.join(here, '../vite.config.ts');
const screenshot = process.env.DEMO_SCREENSHOT === 'docs' ? path.join(repo, 'docs/demo.png') : path.join(tmpdir(), 'tfjs-sampling-demo.png');
const passes = (process.env.DEMO_BACKENDS ?? 'auto,webgpu').split(',').filter(Boolean);


const log = (line: string): void => console.log(`[demo] ${line}`);

/** Moves a slider the way a user does (input event) and waits for the chart of that setting. */
async function setTemperature(page: Page, t: number): Promise<number> {
  await page.locator('#temperature').fill(String(t));
  await page.waitForFunction((v) => document.getElementById('entropy')?.dataset.temperature === v, String(t), { timeout: 20_000 });
  return Number(await page.locator('#entropy').getAttribute('data-bits'));
}

async function idle(page: Page): Promise<void> {
  // The final chart render reads back once more: wait for it too before counting tensors.
  await page.waitForFunction(() => window.__demo?.settled() === true, null, { timeout: 90_000 });
}

const numTensors = (page: Page): Promise<number> => page.evaluate(() => window.__demo!.tf.memory().numTensors);

async function runPass(page: Page, pass: string, url: string, first: boolean): Promise<string> {
  await page.goto(pass === 'auto' ? url : `${url}?backend=${pass}`);
  await page.waitForFunction(() => window.__demo?.ready === true, null, { timeout: 90_000 });

  const shown = (await page.locator('#backend').textContent())?.trim();
  const actual = await page.evaluate(() => window.__demo!.tf.getBackend());
  assert.ok(shown === 'webgl' || shown === 'webgpu', `backend shown: ${shown}`);
  assert.equal(shown, actual, 'the backend shown is the one tf runs on');
  if (pass !== 'auto') assert.equal(actual, pass);
  log(`${pass}: backend ${actual} ${(await page.locator('#backend-why').textContent()) ?? ''}`);

  // Entropy follows temperature without generating: greedy is 0 bits, hotter is higher.
  const h0 = await setTemperature(page, 0);
  const hLow = await setTemperature(page, 0.5);
  const hHigh = await setTemperature(page, 1.5);
  log(`${pass}: entropy after processing: T 0 → ${h0.toFixed(3)}, T 0.5 → ${hLow.toFixed(3)}, T 1.5 → ${hHigh.toFixed(3)} bits`);
  assert.ok(Math.abs(h0) < 1e-4, `greedy entropy ${h0}`);
  assert.ok(hHigh > hLow && hLow > 0, `entropy rises with temperature: ${hLow} → ${hHigh}`);
  await setTemperature(page, 0.8);

  await idle(page);
  const before = await numTensors(page);
  const shownTensors = Number(await page.locator('#debug').getAttribute('data-num-tensors'));
  assert.equal(shownTensors, before, 'the debug line shows tf.memory().numTensors');

  await page.locator('#maxTokens').fill(first ? '64' : '24');
  await page.locator('#generate').click();
  await idle(page);
  const text = await page.evaluate(() => window.__demo!.generated);
  const vocab = new Set(await page.evaluate(() => window.__demo!.vocab));
  assert.ok(text.length > 0, 'generated text is not empty');
  assert.equal((await page.locator('#generated').textContent()) ?? '', text, 'the page shows the generated text');
  for (const ch of text) assert.ok(vocab.has(ch), `generated character ${JSON.stringify(ch)} is in the model's vocabulary`);
  assert.equal(await numTensors(page), before, 'no tensor left after a generation');
  const q = Number(await page.locator('#chosen').getAttribute('data-q'));
  assert.ok(q > 0 && q <= 1, `the chosen token's probability is shown: ${q}`);
  assert.match((await page.locator('#chosen').textContent()) ?? '', /top: .+%, .+%, .+%/, 'three alternatives are shown');
  const tps = await page.evaluate(() => window.__demo!.tokensPerSecond);
  log(`${pass}: generated ${JSON.stringify(text)} at ${tps.toFixed(1)} tokens/s`);
  if (first) {
    mkdirSync(path.dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
    log(`screenshot: ${screenshot}`);
  }

  // Stop mid-run (AbortSignal): the loop ends and frees its tensors.
  await page.locator('#maxTokens').fill('200');
  await page.locator('#generate').click();
  await page.waitForFunction(() => (window.__demo?.generated.length ?? 0) >= 2 || window.__demo?.generating === false, null, { timeout: 60_000 });
  if (await page.evaluate(() => window.__demo!.generating)) await page.locator('#generate').click();
  await idle(page);
  const status = await page.locator('#status').textContent();
  assert.ok(status === 'stopped' || status === 'done', `status after Stop: ${status}`);
  assert.equal(await numTensors(page), before, 'no tensor left after a stopped generation');

  // Sampler picker: typical-p joins the chain and the page still samples.
  await page.locator('#typicalP').fill('0.5');
  await page.waitForFunction(() => document.getElementById('entropy')?.dataset.sampler?.includes('typical-p') === true, null, { timeout: 20_000 });
  await page.locator('#maxTokens').fill('8');
  await page.locator('#generate').click();
  await idle(page);
  const typical = await page.evaluate(() => window.__demo!.generated);
  assert.ok(typical.length > 0, 'generated text with typical-p is not empty');
  for (const ch of typical) assert.ok(vocab.has(ch), `generated character ${JSON.stringify(ch)} is in the model's vocabulary`);
  assert.equal(await numTensors(page), before, 'no tensor left after a generation with typical-p');
  // The "vllm" order has no typical-p: createSampler's SamplingError is shown, Generate is off.
  await page.locator('#order').selectOption('vllm');
  const message = (await page.locator('#options-error').textContent()) ?? '';
  assert.match(message, /"vllm" order has no typical-p/);
  assert.ok(await page.locator('#generate').isDisabled(), 'Generate is disabled while the options are invalid');
  await page.locator('#order').selectOption('default');
  assert.equal(await page.locator('#options-error').textContent(), '');
  assert.ok(await page.locator('#generate').isEnabled(), 'Generate is enabled again');
  log(`${pass}: typical-p 0.5 generated ${JSON.stringify(typical)}; order vllm: ${message}`);

  return `${actual}: ${tps.toFixed(1)} tokens/s`;
}

async function main(): Promise<void> {
  const started = Date.now();
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium libvulkan1 (or set CHROMIUM_PATH)`);
  const config = await import(configFile);
  const outDir: string = config.default.build.outDir;
  await build({ configFile, logLevel: 'warn' });
  assert.ok(existsSync(path.join(outDir, 'model.json')), `the build carries the model (model.json in ${outDir})`);
  const server = await serveStatic(outDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const results: string[] = [];
  try {
    for (const [i, pass] of passes.entries()) {
      const context = await browser.newContext({ viewport: { width: 1240, height: 660 } });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      try {
        results.push(await runPass(page, pass, server.url, i === 0));
        assert.deepEqual(errors, [], 'no page errors');
      } catch (e) {
        if (errors.length) console.error(`[demo] page errors:\n  ${errors.join('\n  ')}`);
        throw e;
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
  log(`ok in ${((Date.now() - started) / 1000).toFixed(1)} s — ${results.join('; ')}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
