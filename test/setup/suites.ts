// The test files of each project kind (vitest.config.ts) and the bare imports the browser projects
// pre-bundle; test/guard.test.ts checks that every bare import reachable from a browser suite is
// listed, so Vite never discovers a dependency mid-run (it then re-optimizes and reloads the page,
// failing the files running at that moment: seen with tfjs-converter / tfjs-layers).
export const CORE_SUITES = [
  'test/tables.test.ts',
  'test/clone.test.ts',
  'test/plan.test.ts',
  'test/agreement.test.ts',
  'test/errors.test.ts',
  'test/statistics.test.ts',
  'test/generate.test.ts',
  'test/stats.test.ts',
  'test/gpu-chain.test.ts',
  'test/fuzz.test.ts',
  'test/soak.test.ts',
  'test/bad-input.test.ts',
  'test/readbacks.test.ts',
  'test/kept-sets.test.ts',
  'test/contract-holes.test.ts',
  'test/history.test.ts',
  'test/sparse-edits.test.ts',
  'test/dry.test.ts',
  'test/top-n-sigma.test.ts',
  'test/cutoff.test.ts',
  'test/chain-samplers.test.ts',
  'test/chain-statistics.test.ts',
  'test/bands.test.ts',
  'test/logprobs.test.ts',
  'test/logprob-edges.test.ts',
  'test/stops.test.ts',
  'test/transformer-context.test.ts',
  'test/continuous-batching.test.ts',
  'test/transformer-generate.test.ts',
  'test/transformer-cache.test.ts',
  'test/grammar.test.ts',
  'test/speculative.test.ts',
  'test/families.test.ts',
  'test/generate-families.test.ts',
];
export const NODE_ONLY_SUITES = [
  'test/guard.test.ts',
  'test/entries.test.ts',
  'test/select-backend.test.ts',
  'test/fused-kernel.test.ts',
  'test/model.test.ts',
  'test/transformer-model.test.ts',
  'test/json-model.test.ts',
  'test/grammar-engine.test.ts',
  // Host-side option checks (the cpu project runs them; the tensor paths see only validated options).
  'test/options.test.ts',
  'test/stops-edges.test.ts',
  // Host-side: the masks the engine builds (the mask kernels of every backend: grammar.test.ts).
  'test/grammar-edges.test.ts',
  'test/named-orders.test.ts',
];
export const CROSS_SUITES = ['test/cross-backend.test.ts'];

/** Bare imports of the browser suites (and what they import), pre-bundled before the first file runs. */
export const BROWSER_DEPS = [
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-webgl',
  '@tensorflow/tfjs-backend-webgpu',
  '@tensorflow/tfjs-converter',
  '@tensorflow/tfjs-layers',
  'fast-check',
  'seedrandom',
  'seedrandom/seedrandom.js',
  '@stdlib/math-base-special-gammainc',
  '@mlc-ai/web-xgrammar',
  'ajv',
];
