// `npm run bench:bundle [-- --smoke]`: what the library adds to an app's bundle, per package entry.
// Each entry is bundled the way an app bundler would (Vite's library build: Rollup tree-shaking,
// esbuild minification, ESM) with tfjs external (the app brings its own backends), and the
// minified and gzipped sizes are printed, with the share of the inlined wasm module (base64).
// The GPU issue's budget — ≤ 15 KB gzipped for the core plus one GPU backend — needs per-backend
// entries (the package has one entry today, which carries every backend's kernels): the line says
// whether it holds. --smoke: the same run, exit 1 only when a build fails.
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { build, type Rollup } from 'vite';

const BUDGET_GZIP = 15 * 1024;

const { values: args } = parseArgs({ options: { smoke: { type: 'boolean' }, help: { type: 'boolean' } } });
if (args.help) {
  console.log('npm run bench:bundle [-- --smoke]: minified and gzipped size of each package entry (tfjs external)');
  process.exit(0);
}

/** Package entries (the `exports` map) and their sources. */
const ENTRIES: Record<string, string> = { '.': 'src/index.ts' };

interface Size {
  entry: string;
  min: number;
  gzip: number;
  wasmBase64: number;
  /** The largest contributors: [path, rendered bytes before minification]. */
  top: [string, number][];
}

async function measure(entry: string, source: string): Promise<Size> {
  const out = (await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      write: false,
      minify: 'esbuild',
      lib: { entry: source, formats: ['es'], fileName: 'entry' },
      rollupOptions: { external: [/^@tensorflow\//] },
    },
  })) as Rollup.RollupOutput[] | Rollup.RollupOutput;
  const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output);
  const code = outputs
    .filter((o): o is Rollup.OutputChunk => o.type === 'chunk')
    .map((o) => o.code)
    .join('\n');
  // The SIMD kernels travel as one long base64 string literal.
  const wasmBase64 = Math.max(0, ...Array.from(code.matchAll(/["'`]([A-Za-z0-9+/=]{4096,})["'`]/g), (m) => m[1]!.length));
  const modules = outputs.flatMap((o) => (o.type === 'chunk' ? Object.entries(o.modules).map(([id, m]) => [id.replace(process.cwd() + '/', ''), m.renderedLength] as [string, number]) : []));
  const top = modules.sort((a, b) => b[1] - a[1]).slice(0, 8);
  return { entry, min: Buffer.byteLength(code), gzip: gzipSync(code, { level: 9 }).length, wasmBase64, top };
}

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;
let failed = false;
for (const [entry, source] of Object.entries(ENTRIES)) {
  try {
    const s = await measure(entry, source);
    console.log(`tfjs-sampling${entry === '.' ? '' : entry.slice(1)}: ${kb(s.min)} minified, ${kb(s.gzip)} gzipped (of which the inlined wasm module: ${kb(s.wasmBase64)} of base64)`);
    console.log(`  largest modules (before minification): ${s.top.map(([id, n]) => `${id} ${kb(n)}`).join(', ')}`);
  } catch (e) {
    failed = true;
    console.error(`${entry}: the build failed: ${(e as Error).message}`);
  }
}
console.log(`budget (core + one GPU backend ≤ ${kb(BUDGET_GZIP)} gzipped): not measurable yet — one entry carries every backend (cpu, wasm, webgl, webgpu kernels)`);
if (failed) process.exit(1);
