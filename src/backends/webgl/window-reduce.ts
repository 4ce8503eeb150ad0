// webgl helper for the GPU chain (GLSL ES 3.0), registered as WINDOW_REDUCE_KERNEL: per row,
// windows of `window` consecutive logits reduced to one float each — their maximum ('max'), or
// how many are ≥ the row's threshold ('count'; NaN and -Infinity below a finite threshold never
// count). Output float32 [B, ceil(V / window)]; one read of the logits, nothing [B, V] allocated.
// Top-k uses the window maxima to find the few windows that can hold the k largest logits, and
// top-p after top-k counts the logits ≥ the k-th (ties beyond the sorted k join its total).
import type * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { registerWebglKernels } from './register.js';
import { MASKED_Z_GLSL } from './mask.js';

export const WINDOW_REDUCE_KERNEL = 'TfjsSamplingWindowReduce';

class WindowReduceProgram implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, vocab: number, window: number, mode: 'max' | 'count', masked: boolean) {
    if (masked && window % 16 !== 0) throw new Error(`${WINDOW_REDUCE_KERNEL}: a masked window must be a multiple of 16 tokens, not ${window}`);
    const windows = Math.ceil(vocab / window);
    this.variableNames = [...(mode === 'max' ? ['logits'] : ['logits', 'thr']), ...(masked ? ['mask'] : [])];
    this.outputShape = [batch, windows];
    const init = mode === 'max' ? 'uintBitsToFloat(0xff800000u)' : '0.0';
    const step = mode === 'max' ? 'acc = max(acc, z);' : 'acc += z >= t ? 1.0 : 0.0;';
    this.userCode = `${masked ? MASKED_Z_GLSL : ''}
void main() {
  ivec2 c = getOutputCoords();
  int b = c.x;
  int start = c.y * ${window};
  ${mode === 'count' ? 'float t = getThr(b);' : ''}
  float acc = ${init};
  ${masked ? 'uint h = 0u;' : ''}
  for (int i = 0; i < ${window}; i++) {
    int j = start + i;
    if (j >= ${vocab}) break;
    ${masked ? 'if ((i & 15) == 0) h = uint(getMask(b, j >> 4));' : ''}
    float z = ${masked ? 'maskedZ(h, j, getLogits(b, j))' : 'getLogits(b, j)'};
    ${step}
  }
  setOutput(acc);
}
`;
  }
}

interface Inputs {
  logits: tf.TensorInfo;
  thr?: tf.TensorInfo;
  /** The per-call bitmask's 16-bit halves (webgl/mask.ts). */
  mask?: tf.TensorInfo;
}

function windowReduce(backend: MathBackendWebGL, { logits, thr, mask }: Inputs, attrs: { window: number; mode: 'max' | 'count' }): tf.TensorInfo {
  const [batch, vocab] = logits.shape as [number, number];
  const program = new WindowReduceProgram(batch, vocab, attrs.window, attrs.mode, mask !== undefined);
  const inputs = attrs.mode === 'max' ? [logits] : [logits, thr!];
  return backend.runWebGLProgram(program, mask ? [...inputs, mask] : inputs, 'float32');
}

/** Registers the kernel for 'webgl' (WebGL2). */
export function registerWebglWindowReduce(): boolean {
  return registerWebglKernels(
    {
      [WINDOW_REDUCE_KERNEL]: (backend, inputs, attrs) =>
        windowReduce(backend, inputs as unknown as Inputs, attrs as unknown as { window: number; mode: 'max' | 'count' }),
    },
    false,
  );
}
