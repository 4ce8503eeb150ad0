// `import 'tfjs-sampling/webgl'`: the webgl backend's kernels (GLSL ES 3.0): the GPU chain's
// threshold searches and draw, the Gumbel-max draw, the history's edit kernels, the window
// directory and the row scatter. Without it the webgl backend runs the portable tfjs-op path:
// the same tokens, slower.
import { registerWebglBands } from './backends/webgl/bands.js';
import { registerWebglGumbelArgmax } from './backends/webgl/gumbel-argmax.js';
import { registerWebglKthLargest } from './backends/webgl/kth-largest.js';
import { registerWebglThresholdDraw } from './backends/webgl/threshold-draw.js';
import { registerWebglTopP } from './backends/webgl/top-p.js';
import { registerWindowDirectory } from './backends/webgl/window-directory.js';
import { registerWebglWindowReduce } from './backends/webgl/window-reduce.js';
import { registerWebglEdits } from './backends/gpu-edits.js';
import { GPU_CHAIN } from './backends/gpu-chain.js';
import { registerRowScatter } from './backends/webgl-scatter.js';
import { provideKernels } from './backends/registry.js';

provideKernels('webgl', {
  families: {
    gumbelArgmax: registerWebglGumbelArgmax,
    thresholdDraw: registerWebglThresholdDraw,
    topP: registerWebglTopP,
    windows: registerWebglWindowReduce,
    bands: registerWebglBands,
    kthLargest: registerWebglKthLargest,
    edits: registerWebglEdits,
    windowDirectory: registerWindowDirectory,
    rowScatter: registerRowScatter,
  },
  gpuChain: GPU_CHAIN,
});
