// End-to-end test of the browser demo (npm run test:demo): builds demo/web with Vite, serves the
// static page from 127.0.0.1 and drives the system Chromium (headless, WebGL2/WebGPU on
// SwiftShader; never a downloaded browser). Per backend pass it checks the backend shown, the
// entropy against temperature, a generation (vocabulary characters only), Stop, the sampler
// picker (a generation with typical-p; an invalid order shows its error), the JSON mode (automatic pass only, DEMO_JSON; a package
// record through the grammar that parses, has the schema's required keys and matches the schema;
// the validity indicator; Stop), and that no tensor outlives a run; the first pass saves a
// screenshot (docs/demo.png with DEMO_SCREENSHOT=docs, so that `npm test` leaves the tracked file
// alone).
//
//   npm run test:demo                       # auto backend (WebGPU if a hardware adapter, else WebGL), then forced WebGPU
//   DEMO_BACKENDS=auto npm run test:demo    # passes to run: auto, webgl, webgpu (comma-separated)
//   DEMO_SCREENSHOT=docs npm run test:demo  # refresh docs/demo.png (default: the OS temp folder)
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Ajv from 'ajv';
import { chromium, type Page } from 'playwright';
import { build } from 'vite';
import { PACKAGE_SCHEMA } from '../../../model/json/schemas.js';
import { serveStatic } from '../../../test/setup/static-server.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../../../test/setup/probe.js';

const here = import.meta.dirname;
const repo = path.resolve(here, '../../..');
const configFile = process.env.DEMO_VITE_CONFIG ? path.resolve(process.env.DEMO_VITE_CONFIG) : path.join(here, '../vite.config.ts');
const screenshot = process.env.DEMO_SCREENSHOT === 'docs' ? path.join(repo, 'docs/demo.png') : path.join(tmpdir(), 'tfjs-sampling-demo.png');
const passes = (process.env.DEMO_BACKENDS ?? 'auto,webgpu').split(',').filter(Boolean);
// JSON mode in the automatic pass only by default: forced WebGPU runs the transformer at about a
// second a token on SwiftShader (two minutes a record); the library's grammar path on webgpu is
// tested by the vitest browser-webgpu project. DEMO_JSON=auto,webgpu runs both.
const jsonPasses = (process.env.DEMO_JSON ?? 'auto').split(',').filter(Boolean);

const log = (line: string): void => console.log(`[demo] ${line}`);

/** Moves a slider the way a user does (input event) and waits for the chart of that setting. */
async function setTemperature(page: Page, t: number): Promise<number> {
  await page.locator('#temperature').fill(String(t));
  await page.waitForFunction((v) => document.getElementById('entropy')?.dataset.temperature === v, String(t), { timeout: 20_000 });
  return Number(await page.locator('#entropy').getAttribute('data-bits'));
}

async function idle(page: Page, timeout = 90_000): Promise<void> {
  // The final chart render reads back once more: wait for it too before counting tensors.
  await page.waitForFunction(() => window.__demo?.settled() === true, null, { timeout });
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
  // Stop clicked mid-run must end as 'stopped'; only a run that ended before the click is 'done'.
  const clicked = await page.evaluate(() => window.__demo!.generating);
  if (clicked) await page.locator('#generate').click();
  await idle(page);
  const status = await page.locator('#status').textContent();
  assert.equal(status, clicked ? 'stopped' : 'done', 'status after Stop');
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

  if (!jsonPasses.includes(pass)) return `${actual}: ${tps.toFixed(1)} tokens/s`;
  const jsonTps = await runJson(page, pass);
  return `${actual}: ${tps.toFixed(1)} tokens/s, JSON ${jsonTps.toFixed(1)} tokens/s`;
}

/**
 * JSON mode: the transformer and the grammar engine load on the switch; a record for the package
 * schema parses, has the required keys, matches the schema (ajv) and is marked valid; Stop ends a
 * run; the KV cache never outlives one. Returns the tokens per second of the record.
 */
async function runJson(page: Page, pass: string): Promise<number> {
  await page.locator('#mode').selectOption('json');
  await page.waitForFunction(() => window.__demo?.jsonReady === true, null, { timeout: 90_000 });
  await page.locator('#schema').selectOption('package');
  const shownSchema: unknown = JSON.parse((await page.locator('#schema-text').textContent()) ?? '');
  assert.deepEqual(shownSchema, PACKAGE_SCHEMA, 'the page shows the package schema');
  await idle(page);
  const before = await numTensors(page); // the JSON model's weights included
  assert.equal(Number(await page.locator('#debug').getAttribute('data-num-tensors')), before, 'the debug line shows tf.memory().numTensors');

  // A record is about 100 characters; 160 tokens leave room (a cut record would not parse).
  await page.locator('#jsonMaxTokens').fill('160');
  await page.locator('#generate').click();
  await idle(page, 480_000); // the transformer on SwiftShader: 1 (WebGPU) to 5 (WebGL) tokens per second
  const text = await page.evaluate(() => window.__demo!.generated);
  assert.equal((await page.locator('#generated').textContent()) ?? '', text, 'the page shows the generated record');
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (e) {
    assert.fail(`the record is not JSON (${String(e)}): ${JSON.stringify(text)}`);
  }
  assert.ok(typeof record === 'object' && record !== null && !Array.isArray(record), `the record is an object: ${text}`);
  for (const key of PACKAGE_SCHEMA.required) assert.ok(key in record, `the record has "${key}": ${text}`);
  const validate = new Ajv().compile(PACKAGE_SCHEMA);
  assert.ok(validate(record), `the record matches the schema (${JSON.stringify(validate.errors)}): ${text}`);
  assert.equal(await page.evaluate(() => window.__demo!.valid), true, 'the page found the record valid');
  assert.equal(await page.locator('#validity').textContent(), 'valid JSON ✓', 'the validity indicator');
  assert.equal(await page.locator('#validity').getAttribute('data-valid'), 'true');
  assert.equal(await numTensors(page), before, 'no tensor left after a JSON record (the KV cache disposed)');
  const tps = await page.evaluate(() => window.__demo!.tokensPerSecond);
  log(`${pass}: JSON record ${text} at ${tps.toFixed(1)} tokens/s`);

  // Stop mid-record: the stream disposes the KV cache; no validity verdict on a cut record.
  await page.locator('#jsonMaxTokens').fill('400');
  await page.locator('#generate').click();
  await page.waitForFunction(() => (window.__demo?.generated.length ?? 0) >= 2 || window.__demo?.generating === false, null, { timeout: 120_000 });
  const stopped = await page.evaluate(() => window.__demo!.generating);
  if (stopped) await page.locator('#generate').click();
  await idle(page, 480_000);
  const status = await page.locator('#status').textContent();
  assert.equal(status, stopped ? 'stopped' : 'done', 'status after Stop');
  if (stopped) assert.equal(await page.locator('#validity').textContent(), '', 'no verdict on a stopped record');
  assert.equal(await numTensors(page), before, 'no tensor left after a stopped JSON record');
  return tps;
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
