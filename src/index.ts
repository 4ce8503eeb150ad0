// `tfjs-sampling`: the whole API with every backend's kernels. An app that runs one backend can
// import `tfjs-sampling/core` and that backend's entry (`tfjs-sampling/webgl`, …) instead, and
// ship only those kernels.
import './cpu.js';
import './wasm.js';
import './webgl.js';
import './webgpu.js';

export * from './core.js';
