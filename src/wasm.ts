// `import 'tfjs-sampling/wasm'`: the wasm backend's kernels — the fused chain-and-draw kernel on
// the backend's heap, the WebAssembly SIMD module it runs rows with, the history's edit kernels.
// Without it the wasm backend runs the portable tfjs-op path: the same tokens, slower.
import * as tf from '@tensorflow/tfjs-core';
import { FUSED_KERNEL } from './backends/kernel-names.js';
import { provideKernels } from './backends/registry.js';
import { registerWasmKernel } from './backends/wasm/fused-sample.js';
import { registerHostEdits } from './backends/js/edit-kernels.js';

provideKernels('wasm', {
  families: {
    fused: () => {
      if (!tf.getKernel(FUSED_KERNEL, 'wasm')) registerWasmKernel();
      return true;
    },
    edits: () => registerHostEdits('wasm'),
  },
});
