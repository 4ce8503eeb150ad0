// The browser demo: `npm run demo:web` (dev server) and `npm run demo:web:build` (static page in
// demo/web/dist). The library comes from src/ (as tsconfig's paths do); the poem model's files
// from model/weights/, served as the page's public folder, and the JSON model's from
// model/json/weights/, served at json/ and copied there by the build: no network, no CDN.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const here = import.meta.dirname;
const repo = path.resolve(here, '../..');

/** model/json/weights at json/: the dev server serves the files, the build emits them. */
function jsonModel(): Plugin {
  const dir = path.join(repo, 'model/json/weights');
  const files: Record<string, string> = { 'model.json': 'application/json', 'weights.bin': 'application/octet-stream' };
  return {
    name: 'demo-json-model',
    configureServer(server) {
      server.middlewares.use('/json', (req, res, next) => {
        const name = (req.url ?? '').replace(/^\//, '').replace(/[?#].*$/, '');
        const type = files[name];
        if (!type) return next();
        res.setHeader('content-type', type);
        res.end(readFileSync(path.join(dir, name)));
      });
    },
    generateBundle() {
      for (const name of Object.keys(files)) this.emitFile({ type: 'asset', fileName: `json/${name}`, source: readFileSync(path.join(dir, name)) });
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  publicDir: path.join(repo, 'model/weights'),
  plugins: [jsonModel()],
  resolve: { alias: { 'tfjs-sampling': path.join(repo, 'src/index.ts') } },
  // web-xgrammar is a UMD build (the JSON mode imports it on first use): pre-bundled for the dev server.
  optimizeDeps: { include: ['seedrandom/seedrandom.js', '@mlc-ai/web-xgrammar'] },
  server: { host: '127.0.0.1', fs: { allow: [repo] } },
  preview: { host: '127.0.0.1' },
  build: {
    outDir: path.join(here, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    chunkSizeWarningLimit: 10_000, // tfjs with two GPU backends is one large chunk, on purpose
  },
});
