// `import 'tfjs-sampling/cpu'`: the cpu backend's kernels — the fused chain-and-draw kernel, the
// WebAssembly SIMD module it runs rows with, the history's edit kernels. Without it the cpu
// backend runs the portable tfjs-op path: the same tokens, slower.
import * as tf from '@tensorflow/tfjs-core';
import { registerCpuKernel } from './backends/cpu/fused-sample.js';
import { FUSED_KERNEL } from './backends/kernel-names.js';
import { provideKernels } from './backends/registry.js';
import { registerHostEdits } from './backends/js/edit-kernels.js';

provideKernels('cpu', {
  families: {
    fused: () => {
      if (!tf.getKernel(FUSED_KERNEL, 'cpu')) registerCpuKernel();
      return true;
    },
    edits: () => registerHostEdits('cpu'),
  },
});
