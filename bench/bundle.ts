// `npm run bench:bundle [-- --smoke]`: what the library adds to an app's bundle, per package entry
// and per combination an app would import. Each is bundled the way an app bundler would (Vite's
// library build: Rollup tree-shaking, esbuild minification, ESM) with tfjs external (the app brings
// its own backends), and the minified and gzipped sizes are printed. Two API surfaces: the whole
// API (`export *`) and an app that calls only `createSampler` (what tree-shaking leaves).
// Each bundle is also checked for what it must and must not carry — GLSL programs (webgl), WGSL
// programs (webgpu), the SIMD module (cpu, wasm) — so an entry that leaks another backend's
// kernels, or lacks its own, fails the run (also with --smoke, which runs in `npm test`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { build, type Rollup } from 'vite';

const BUDGET_GZIP = 15 * 1024;

const { values: args } = parseArgs({ options: { smoke: { type: 'boolean' }, help: { type: 'boolean' } } });
if (args.help) {
  console.log('npm run bench:bundle [-- --smoke]: minified and gzipped size of each package entry and combination (tfjs external)');
  process.exit(0);
}

const SRC = path.resolve(import.meta.dirname, '../src');
type Kernels = 'glsl' | 'wgsl' | 'simd';
interface Bundle {
  label: string;
  /** The app's imports. */
  code: string;
  /** The kernels it must carry; every other kind must be absent. */
  kernels: Kernels[];
}
const src = (file: string): string => JSON.stringify(path.join(SRC, file));
const BACKEND_KERNELS: Record<string, Kernels[]> = { cpu: ['simd'], wasm: ['simd'], webgl: ['glsl'], webgpu: ['wgsl'] };
const BUNDLES: Bundle[] = [
  { label: 'tfjs-sampling (every backend), whole API', code: `export * from ${src('index.ts')};`, kernels: ['glsl', 'wgsl', 'simd'] },
  { label: 'tfjs-sampling/core, whole API', code: `export * from ${src('core.ts')};`, kernels: [] },
  ...Object.entries(BACKEND_KERNELS).map(([b, kernels]) => ({
    label: `core + ${b}, whole API`,
    code: `export * from ${src('core.ts')};\nimport ${src(`${b}.ts`)};`,
    kernels,
  })),
  { label: 'tfjs-sampling, createSampler only', code: `export { createSampler } from ${src('index.ts')};`, kernels: ['glsl', 'wgsl', 'simd'] },
  { label: 'core, createSampler only', code: `export { createSampler } from ${src('core.ts')};`, kernels: [] },
  ...Object.entries(BACKEND_KERNELS).map(([b, kernels]) => ({
    label: `core + ${b}, createSampler only`,
    code: `export { createSampler } from ${src('core.ts')};\nimport ${src(`${b}.ts`)};`,
    kernels,
  })),
];

/** Text only a kernel kind's sources contain (inside template strings, so minification keeps it). */
const MARKERS: Record<Kernels, (code: string) => boolean> = {
  glsl: (code) => code.includes('getOutputCoords'),
  wgsl: (code) => code.includes('workgroupBarrier'),
  // The SIMD kernels travel as one long base64 string literal.
  simd: (code) => wasmBase64(code) > 0,
};

function wasmBase64(code: string): number {
  return Math.max(0, ...Array.from(code.matchAll(/["'`]([A-Za-z0-9+/=]{4096,})["'`]/g), (m) => m[1]!.length));
}

interface Size {
  min: number;
  gzip: number;
  wasmBase64: number;
  carries: Kernels[];
  /** The largest contributors: [path, rendered bytes before minification]. */
  top: [string, number][];
}

async function measure(entry: string): Promise<Size> {
  const out = (await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      write: false,
      minify: 'esbuild',
      lib: { entry, formats: ['es'], fileName: 'entry' },
      rollupOptions: { external: [/^@tensorflow\//] },
    },
  })) as Rollup.RollupOutput[] | Rollup.RollupOutput;
  const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output);
  const code = outputs
    .filter((o): o is Rollup.OutputChunk => o.type === 'chunk')
    .map((o) => o.code)
    .join('\n');
  const root = `${path.dirname(SRC)}/`;
  const modules = outputs.flatMap((o) =>
    o.type === 'chunk' ? Object.entries(o.modules).map(([id, m]) => [id.replace(root, ''), m.renderedLength] as [string, number]) : [],
  );
  const top = modules.sort((a, b) => b[1] - a[1]).slice(0, 6);
  const carries = (Object.keys(MARKERS) as Kernels[]).filter((k) => MARKERS[k](code));
  return { min: Buffer.byteLength(code), gzip: gzipSync(code, { level: 9 }).length, wasmBase64: wasmBase64(code), carries, top };
}

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'tfjs-sampling-bundle-'));
let failed = false;
const sizes = new Map<string, Size>();
try {
  for (const [i, b] of BUNDLES.entries()) {
    const entry = path.join(dir, `entry-${i}.ts`);
    writeFileSync(entry, `${b.code}\n`);
    try {
      const s = await measure(entry);
      sizes.set(b.label, s);
      const wrong = [
        ...b.kernels.filter((k) => !s.carries.includes(k)).map((k) => `lacks ${k}`),
        ...s.carries.filter((k) => !b.kernels.includes(k)).map((k) => `carries ${k}`),
      ];
      if (wrong.length > 0) failed = true;
      console.log(
        `${b.label}: ${kb(s.min)} minified, ${kb(s.gzip)} gzipped; kernels: ${s.carries.join(', ') || 'none'}${s.wasmBase64 ? ` (SIMD module: ${kb(s.wasmBase64)} of base64)` : ''}${wrong.length ? `  ← WRONG: ${wrong.join(', ')}` : ''}`,
      );
      if (!args.smoke) console.log(`    largest modules (before minification): ${s.top.map(([id, n]) => `${id} ${kb(n)}`).join(', ')}`);
    } catch (e) {
      failed = true;
      console.error(`${b.label}: the build failed: ${(e as Error).message}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const gpu = ['webgl', 'webgpu'].map((b) => [b, sizes.get(`core + ${b}, createSampler only`)] as const);
if (gpu.every(([, s]) => s)) {
  const line = gpu.map(([b, s]) => `core + ${b} ${kb(s!.gzip)} (${(s!.gzip / BUDGET_GZIP).toFixed(1)}×)`).join(', ');
  console.log(
    `budget (createSampler with one GPU backend ≤ ${kb(BUDGET_GZIP)} gzipped): ${gpu.every(([, s]) => s!.gzip <= BUDGET_GZIP) ? 'holds' : 'missed'}: ${line}`,
  );
}
if (failed) process.exit(1);
