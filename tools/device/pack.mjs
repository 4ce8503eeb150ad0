// Builds the device pack in .devpack/ (git-ignored): everything the device run needs on a
// machine with python3 and a GPU but no Node.js and no network. See tools/device/README.md.
//   node tools/device/pack.mjs [--working-tree] [--keep-node]
// The sources are the committed HEAD (exported to a temporary folder), so that the run tests a
// known commit whatever else is being edited; --working-tree bundles the working tree instead.
// Then copy .devpack/COMMAND.txt and carry .devpack and .gl (CARRY.txt).
// - bench-node.mjs, penalties.mjs, chain.mjs, check.mjs, adapters.mjs: esbuild bundles (ESM, node20)
//   of bench/node.ts, bench/penalties.ts, bench/chain.ts, tools/device/check.ts, tools/device/adapters.ts, with
//   `webgpu` aliased to tools/device/webgpu-guard.ts (adapter printed, NVIDIA required),
//   `vitest` to tools/device/vitest-shim.ts and the tests' helpers/backend.js to
//   tools/device/backend-override.ts; transformers.js (bench method e) and the Chromium runner
//   are left out.
// - node_modules/webgpu/{package.json,index.js} and dawn.node.xz (the Linux x64 build);
//   node.xz: this machine's Node.js binary. python3's lzma module unpacks both there.
// - COMMAND.txt (from tools/device/command.sh, at most 2000 characters), CARRY.txt, PACK.json.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const here = (...p) => path.join(root, ...p);
const out = here('.devpack');
const skipNode = process.argv.includes('--keep-node'); // reuse .devpack/node.xz (slow to make)
const workingTree = process.argv.includes('--working-tree');

const git = (...a) => {
  try {
    return execFileSync('git', a, { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
};
// The sources to bundle: HEAD, exported, with this checkout's node_modules; or the working tree.
let srcRoot = root;
if (!workingTree) {
  srcRoot = mkdtempSync(path.join(os.tmpdir(), 'devpack-src-'));
  execFileSync('bash', ['-c', `git archive HEAD | tar -x -C '${srcRoot}'`], { cwd: root });
  symlinkSync(here('node_modules'), path.join(srcRoot, 'node_modules'));
}
const src = (...p) => path.join(srcRoot, ...p);

const keep = skipNode && existsSync(path.join(out, 'node.xz')) ? readFileSync(path.join(out, 'node.xz')) : undefined;
rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(out, 'node_modules/webgpu/dist/linux-x64'), { recursive: true });

const guard = src('tools/device/webgpu-guard.ts');
const aliases = {
  name: 'devpack-aliases',
  setup(b) {
    b.onResolve({ filter: /^webgpu$/ }, (a) => (a.importer === guard ? { path: 'webgpu', external: true } : { path: guard }));
    b.onResolve({ filter: /^vitest$/ }, () => ({ path: src('tools/device/vitest-shim.ts') }));
    b.onResolve({ filter: /^\.\/helpers\/backend\.js$/ }, (a) =>
      path.dirname(a.importer) === src('test') ? { path: src('tools/device/backend-override.ts') } : undefined,
    );
    // Not carried: transformers.js (onnxruntime-node is 288 MB) and the Chromium runner.
    b.onResolve({ filter: /^@huggingface\/transformers$/ }, () => ({ path: 'hf', namespace: 'devpack-stub' }));
    b.onResolve({ filter: /^\.\/browser\.js$/ }, (a) =>
      path.dirname(a.importer) === src('bench') ? { path: 'browser', namespace: 'devpack-stub' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'devpack-stub' }, (a) => ({
      contents: `throw new Error('${a.path === 'hf' ? '@huggingface/transformers' : 'bench/browser.ts'} is not in the device pack');`,
      loader: 'js',
    }));
  },
};

const entries = {
  'bench-node': 'bench/node.ts',
  penalties: 'bench/penalties.ts',
  chain: 'bench/chain.ts',
  check: 'tools/device/check.ts',
  adapters: 'tools/device/adapters.ts',
};
for (const [name, entry] of Object.entries(entries)) {
  await build({
    entryPoints: [src(entry)],
    outfile: path.join(out, `${name}.mjs`),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    // Keep side-effect imports such as '@tensorflow/tfjs-backend-cpu' (its package.json lists
    // only some files as having side effects; vitest and tsx run them all).
    ignoreAnnotations: true,
    logLevel: 'warning',
    plugins: [aliases],
    // CommonJS dependencies call require() for Node built-ins.
    banner: { js: "import { createRequire as __devpackRequire } from 'node:module'; globalThis.require ??= __devpackRequire(import.meta.url);" },
  });
}

// npm `webgpu`: its index.js needs only Node built-ins and dist/<platform>-<arch>/dawn.node.
const wg = here('node_modules/webgpu');
for (const f of ['package.json', 'index.js']) copyFileSync(path.join(wg, f), path.join(out, 'node_modules/webgpu', f));
const xz = (src, dst) => writeFileSync(dst, execFileSync('xz', ['-9', '-c', '-T1', src], { maxBuffer: 1 << 30 }));
xz(path.join(wg, 'dist/linux-x64/dawn.node'), path.join(out, 'dawn.node.xz'));
if (keep) writeFileSync(path.join(out, 'node.xz'), keep);
else xz(process.execPath, path.join(out, 'node.xz'));

writeFileSync(
  path.join(out, 'PACK.json'),
  `${JSON.stringify({ built: new Date().toISOString(), commit: git('rev-parse', '--short', 'HEAD'), sources: workingTree ? `working tree${git('status', '--porcelain', '--', 'src', 'bench', 'test', 'tools') !== '' ? ' (with uncommitted changes)' : ''}` : 'HEAD', node: process.version, webgpu: JSON.parse(readFileSync(path.join(wg, 'package.json'), 'utf8')).version })}\n`,
);

const command = readFileSync(src('tools/device/command.sh'), 'utf8').trim();
if (command.length > 2000) throw new Error(`tools/device/command.sh is ${command.length} characters (at most 2000)`);
writeFileSync(path.join(out, 'COMMAND.txt'), `${command}\n`);
writeFileSync(path.join(out, 'CARRY.txt'), '.devpack\n.gl\n');
if (!existsSync(here('.gl')) || !readdirSync(here('.gl'), { withFileTypes: true }).some((e) => e.name.startsWith('libvulkan1')))
  console.warn('warning: no .gl/libvulkan1*.deb (see tools/device/README.md)');

if (!workingTree) rmSync(srcRoot, { recursive: true, force: true });

const size = (p) => (statSync(p).isDirectory() ? readdirSync(p).reduce((s, f) => s + size(path.join(p, f)), 0) : statSync(p).size);
const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;
for (const f of readdirSync(out)) console.log(`${f.padEnd(16)} ${mib(size(path.join(out, f)))}`);
console.log(`.devpack ${mib(size(out))}, .gl ${existsSync(here('.gl')) ? mib(size(here('.gl'))) : 'missing'}; COMMAND.txt ${command.length} characters`);
