// The browser demo: `npm run demo:web` (dev server) and `npm run demo:web:build` (static page in
// demo/web/dist). The library comes from src/ (as tsconfig's paths do) and the model files from
// model/weights/, served as the page's public folder: no network, no CDN.
import path from 'node:path';
import { defineConfig } from 'vite';

const here = import.meta.dirname;
const repo = path.resolve(here, '../..');

export default defineConfig({
  root: here,
  base: './',
  publicDir: path.join(repo, 'model/weights'),
  resolve: { alias: { 'tfjs-sampling': path.join(repo, 'src/index.ts') } },
  optimizeDeps: { include: ['seedrandom'] },
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
