// `import 'tfjs-sampling/webgpu'`: the webgpu backend's kernels (WGSL): the GPU chain's top-k,
// top-p, bands and threshold draw, the Gumbel-max draw, the history's edit kernels, DRY and the
// log-probability statistics.
// Without it the webgpu backend runs the portable tfjs-op path: the same tokens, slower.
import { registerWebgpuBands } from './backends/webgpu/bands.js';
import { registerWebgpuDry } from './backends/webgpu/dry.js';
import { registerWebgpuGumbelArgmax } from './backends/webgpu/gumbel-argmax.js';
import { registerWebgpuLogprobStats } from './backends/webgpu/logprob-stats.js';
import { registerWebgpuThresholdDraw } from './backends/webgpu/threshold-draw.js';
import { registerWebgpuTopK } from './backends/webgpu/top-k.js';
import { registerWebgpuTopP } from './backends/webgpu/top-p.js';
import { registerWebgpuEdits } from './backends/gpu-edits.js';
import { GPU_CHAIN } from './backends/gpu-chain.js';
import { provideKernels } from './backends/registry.js';

provideKernels('webgpu', {
  families: {
    gumbelArgmax: registerWebgpuGumbelArgmax,
    thresholdDraw: registerWebgpuThresholdDraw,
    topK: registerWebgpuTopK,
    topP: registerWebgpuTopP,
    bands: registerWebgpuBands,
    edits: registerWebgpuEdits,
    dry: registerWebgpuDry,
    logprobs: registerWebgpuLogprobStats,
  },
  gpuChain: GPU_CHAIN,
});
