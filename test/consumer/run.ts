// `npm run test:consumer` (in `npm test`): the package as a user installs it. `npm pack` (whose
// prepack builds dist), then a fresh project in a temporary directory installs the tarball with
// `npm ci --offline` — its lockfile is written here from this repository's (the same versions,
// resolved and integrity), so every tarball comes from the npm cache that installing this
// repository filled — and runs:
//   - a Node ESM script: `tfjs-sampling/core` with the `/cpu` and `/wasm` entries, then the
//     `tfjs-sampling` entry; the tokens equal `reference.sample`'s, the fused paths run, and
//     `tfjs-sampling/package.json` resolves;
//   - a TypeScript consumer typechecked with `moduleResolution` `bundler` and `node16`;
//   - a Vite app (built by this repository's Vite from the consumer's node_modules) opened in
//     headless Chromium on webgl and on webgpu (SwiftShader): `tfjs-sampling/core` with the
//     `/webgl` and `/webgpu` entries, the tokens equal `reference.sample`'s, the GPU chain runs,
//     no tensor is left.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { CHROMIUM, CHROMIUM_ARGS } from '../setup/probe.js';
import { serveStatic } from '../setup/static-server.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
// biome-ignore lint/suspicious/noExplicitAny: package.json and the lockfile are read as loose JSON
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, any>;
// biome-ignore lint/suspicious/noExplicitAny: as above
const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, any> };

const dir = mkdtempSync(path.join(os.tmpdir(), 'tfjs-sampling-consumer-'));
const keep = process.env.TFJS_SAMPLING_KEEP_CONSUMER === '1';
const run = (cmd: string, args: string[], cwd = dir): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
/** As `step`, for an async body (awaited at the top level). */
async function stepAsync(name: string, f: () => Promise<string>): Promise<void> {
  const t0 = performance.now();
  try {
    const out = await f();
    console.log(`ok   ${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)${out ? `\n${out.trim().replace(/^/gm, '       ')}` : ''}`);
  } catch (e) {
    console.error(`FAIL ${name}: ${(e as Error).message}`);
    if (!keep) rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  }
}

const step = (name: string, f: () => unknown): void => {
  const t0 = performance.now();
  try {
    const out = f();
    const text = typeof out === 'string' ? out : '';
    console.log(`ok   ${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)${text ? `\n${text.trim().replace(/^/gm, '       ')}` : ''}`);
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    console.error(`FAIL ${name}\n${err.stdout ?? ''}${err.stderr ?? ''}${err.stdout || err.stderr ? '' : err.message}`);
    if (!keep) rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  }
};

// The consumer's dependencies (peer dependencies of the package that it uses, and TypeScript).
const WANTS: Record<string, string> = {
  '@tensorflow/tfjs-core': pkg.devDependencies['@tensorflow/tfjs-core'],
  '@tensorflow/tfjs-backend-cpu': pkg.devDependencies['@tensorflow/tfjs-backend-cpu'],
  '@tensorflow/tfjs-backend-wasm': pkg.devDependencies['@tensorflow/tfjs-backend-wasm'],
  '@tensorflow/tfjs-backend-webgl': pkg.devDependencies['@tensorflow/tfjs-backend-webgl'],
  '@tensorflow/tfjs-backend-webgpu': pkg.devDependencies['@tensorflow/tfjs-backend-webgpu'],
  typescript: pkg.devDependencies.typescript,
};

/** The lock entry of `name` as seen from the package at `from` (Node's lookup up the tree). */
function locate(name: string, from: string): string {
  for (let at = from; ; at = at.slice(0, Math.max(0, at.lastIndexOf('/node_modules/')))) {
    const key = `${at ? `${at}/` : ''}node_modules/${name}`;
    if (lock.packages[key]) return key;
    if (!at) throw new Error(`${name} (needed by ${from || 'the root'}) is not in package-lock.json`);
  }
}

step('npm pack (prepack builds dist)', () => {
  run('npm', ['pack', '--pack-destination', dir, '--silent'], ROOT);
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  const bytes = readFileSync(path.join(dir, tgz));
  const files = run('tar', ['-tzf', tgz]).split('\n').filter(Boolean);
  for (const need of ['package/dist/index.js', 'package/dist/core.js', 'package/dist/webgl.js', 'package/dist/core.d.ts', 'package/LICENSE']) {
    if (!files.includes(need)) throw new Error(`the tarball lacks ${need}`);
  }
  // The lockfile: the tarball, then the closure of every dependency through the repository's lock.
  // biome-ignore lint/suspicious/noExplicitAny: lockfile entries, loose JSON
  const packages: Record<string, any> = {
    '': { name: 'consumer', version: '0.0.0', dependencies: { [pkg.name]: `file:${tgz}`, ...WANTS } },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: `file:${tgz}`,
      integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
      dependencies: pkg.dependencies,
      optionalDependencies: pkg.optionalDependencies,
      peerDependencies: pkg.peerDependencies,
      peerDependenciesMeta: pkg.peerDependenciesMeta,
    },
  };
  const queue: [string, string][] = [...Object.keys(WANTS), ...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies ?? {})].map((n) => [
    n,
    '',
  ]);
  while (queue.length > 0) {
    const [name, from] = queue.pop()!;
    const key = locate(name, from);
    if (packages[key]) continue;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = lock.packages[key];
    packages[key] = entry;
    for (const dep of [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {})]) queue.push([dep, key]);
  }
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '0.0.0', private: true, type: 'module', dependencies: packages['']!.dependencies }, null, 2),
  );
  writeFileSync(
    path.join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'consumer', version: '0.0.0', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
  return `${tgz}: ${(bytes.length / 1024).toFixed(0)} KB packed, ${files.length} files; ${Object.keys(packages).length - 1} packages in the consumer's lock`;
});

step('npm ci --offline in a fresh project', () => {
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--silent']);
});

step('Node ESM: tfjs-sampling/core + /cpu + /wasm, then tfjs-sampling', () => {
  writeFileSync(
    path.join(dir, 'main.mjs'),
    `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createSampler, kernelBackends, reference } from 'tfjs-sampling/core';
import 'tfjs-sampling/cpu';
import 'tfjs-sampling/wasm';

const require = createRequire(import.meta.url);
setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
const version = require('tfjs-sampling/package.json').version;
const rows = Array.from({ length: 3 }, (_, r) => Array.from({ length: 500 }, (_, j) => Math.fround(Math.sin(j * 0.7 + r) * 3)));
const options = { temperature: 0.8, topK: 40, topP: 0.95, seed: 5 };
const want = reference.sample(rows, options, 0);
const lines = [\`tfjs-sampling \${version}; kernels: \${kernelBackends().join(', ')}\`];
for (const backend of ['cpu', 'wasm']) {
  await tf.setBackend(backend);
  const sampler = createSampler(options);
  const x = tf.tensor2d(rows);
  const ids = Array.from(await sampler.sampleIds(x));
  x.dispose();
  if (ids.join() !== want.join()) throw new Error(\`\${backend}: tokens \${ids} differ from the reference's \${want}\`);
  if (sampler.lastPath !== 'fused:' + backend) throw new Error(\`\${backend}: path \${sampler.lastPath}\`);
  lines.push(\`\${backend}: \${sampler.lastPath}, tokens \${ids.join(' ')} = reference\`);
}
const all = await import('tfjs-sampling');
if (all.kernelBackends().join() !== 'cpu,wasm,webgl,webgpu') throw new Error('tfjs-sampling lacks backend entries: ' + all.kernelBackends());
if (all.createSampler !== createSampler) throw new Error('tfjs-sampling and tfjs-sampling/core are two copies');
lines.push('tfjs-sampling: kernels ' + all.kernelBackends().join(', '));
console.log(lines.join('\\n'));
`,
  );
  return run(process.execPath, ['main.mjs'])
    .split('\n')
    .filter((l) => !/tfjs-node|^=+$|^$/.test(l))
    .join('\n');
});

step('TypeScript consumer: moduleResolution bundler and node16', () => {
  writeFileSync(
    path.join(dir, 'consumer.ts'),
    `import * as tf from '@tensorflow/tfjs-core';
import { createSampler, reference, type SamplerOptions, type Sampler } from 'tfjs-sampling/core';
import { generate } from 'tfjs-sampling';
import 'tfjs-sampling/webgl';
import 'tfjs-sampling/webgpu';

const options: SamplerOptions = { temperature: 0.7, topP: [0.9, 0.5], repetitionPenalty: 1.1 };
const sampler: Sampler = createSampler(options);
const ids: tf.Tensor1D = sampler.sample(tf.zeros([2, 10]));
const ref: number[] = reference.sample([[0, 1]], options, 0);
export const used = [ids, ref, generate];
`,
  );
  const out: string[] = [];
  for (const [resolution, module] of [
    ['bundler', 'esnext'],
    ['node16', 'node16'],
  ]) {
    const config = `tsconfig.${resolution}.json`;
    writeFileSync(
      path.join(dir, config),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, target: 'es2022', module, moduleResolution: resolution, lib: ['es2022', 'dom'], skipLibCheck: false },
        files: ['consumer.ts'],
      }),
    );
    run(process.execPath, [path.join(dir, 'node_modules/typescript/bin/tsc'), '-p', config]);
    out.push(`${resolution}: no errors`);
  }
  return out.join('\n');
});

const APP = `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { createSampler, kernelBackends, reference } from 'tfjs-sampling/core';
import 'tfjs-sampling/webgl';
import 'tfjs-sampling/webgpu';

// Every op as a shader (tfjs forwards small webgl tensors to the CPU by default).
tf.env().set('WEBGL_CPU_FORWARD', false);
const rows = Array.from({ length: 3 }, (_, r) => Array.from({ length: 5000 }, (_, j) => Math.fround(Math.sin(j * 0.7 + r) * 3)));
const options = { temperature: 0.8, topK: 40, topP: 0.95, seed: 5 };
window.run = async (backend) => {
  if (!(await tf.setBackend(backend))) return { error: backend + ' did not initialise' };
  await tf.ready();
  const before = tf.memory().numTensors;
  const sampler = createSampler(options);
  const x = tf.tensor2d(rows);
  const ids = Array.from(await sampler.sampleIds(x));
  x.dispose();
  sampler.dispose();
  return { backend: tf.getBackend(), ids, want: reference.sample(rows, options, 0), path: sampler.lastPath, kernels: kernelBackends(), leaked: tf.memory().numTensors - before };
};
window.ready = true;
`;

await stepAsync('Vite app in headless Chromium: tfjs-sampling/core + /webgl + /webgpu', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium libvulkan1 (or set CHROMIUM_PATH)`);
  const app = path.join(dir, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'index.html'), '<!doctype html>\n<html lang="en"><body><script type="module" src="./main.js"></script></body></html>\n');
  writeFileSync(path.join(app, 'main.js'), APP);
  await build({ root: app, logLevel: 'warn', configFile: false, build: { outDir: path.join(app, 'dist'), target: 'es2022', chunkSizeWarningLimit: 4096 } });
  const server = await serveStatic(path.join(app, 'dist'));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const lines: string[] = [];
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, null, { timeout: 60_000 });
    for (const backend of ['webgl', 'webgpu']) {
      const got = (await page.evaluate((b) => (window as unknown as { run: (b: string) => Promise<unknown> }).run(b), backend)) as {
        error?: string;
        backend: string;
        ids: number[];
        want: number[];
        path: string;
        kernels: string[];
        leaked: number;
      };
      if (got.error) throw new Error(got.error);
      if (got.backend !== backend) throw new Error(`${backend}: the page runs ${got.backend}`);
      if (got.ids.join() !== got.want.join()) throw new Error(`${backend}: tokens ${got.ids} differ from the reference's ${got.want}`);
      if (got.path !== `fused:${backend}`) throw new Error(`${backend}: path ${got.path}`);
      if (got.leaked !== 0) throw new Error(`${backend}: ${got.leaked} tensors left`);
      lines.push(`${backend}: ${got.path}, tokens ${got.ids.join(' ')} = reference; kernels ${got.kernels.join(', ')}`);
    }
    if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
  } finally {
    await browser.close();
    await server.close();
  }
  return lines.join('\n');
});

if (!keep) rmSync(dir, { recursive: true, force: true });
else console.log(`kept ${dir}`);
