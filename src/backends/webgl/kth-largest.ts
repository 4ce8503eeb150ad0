// webgl helper for the GPU chain (GLSL ES 3.0), registered as KTH_LARGEST_KERNEL: each row's k-th
// largest logit for a k held on the device (Mirostat v1's k past its 100 largest), without a sort
// and without a read-back. WebGL2 has no workgroup memory or atomics, so it is a bisection on the
// float's order-preserving u32 key, one bit a round (32 rounds): a count program (windows of 256
// logits; a window of 64 whose maximum is below the candidate is skipped unread, so on peaky rows
// a round reads a small part of the row) and a step program that sums a row's window counts and
// keeps the bit where at least k keys reach the candidate. The key lives in the state as two
// exact 16-bit halves (float texels). Output float32 [B]: the k-th largest logit (ties: "≥ it"
// keeps them), -Infinity or NaN where k exceeds the finite logits, NaN on rows with k ≤ 0
// (skipped: nothing read).
import * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';

export const KTH_LARGEST_KERNEL = 'TfjsSamplingKthLargest';
/** Logits per window of the maxima input (the GPU chain's window top-k: gpu-chain.ts WINDOW). */
export const KTH_MAX_WINDOW = 64;
const SUB = 4; // maxima windows per count window
const COUNT_WINDOW = KTH_MAX_WINDOW * SUB;

const KEY_GLSL = `
uint orderKey(float z) {
  uint u = floatBitsToUint(z);
  u = u == 0x80000000u ? 0u : u; // -0 as +0
  return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}
uint stateKey(float hi, float lo) { return (uint(hi) << 16u) | uint(lo); }
`;

/** Counts per window of 256 the keys ≥ the row's candidate (prefix | 1 << bit). Output [B, W]. */
class CountProgram implements GPGPUProgram {
  variableNames = ['logits', 'maxima', 'state', 'k'];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, vocab: number) {
    const windows = Math.ceil(vocab / COUNT_WINDOW);
    const sub = Math.ceil(vocab / KTH_MAX_WINDOW);
    this.outputShape = [batch, windows];
    this.userCode = `${KEY_GLSL}
void main() {
  ivec2 c = getOutputCoords();
  int b = c.x;
  float acc = 0.0;
  if (getK(b) >= 1.0) {
    int bit = int(getState(b, 2));
    uint cand = stateKey(getState(b, 0), getState(b, 1)) | (bit >= 0 ? (1u << uint(bit)) : 0u);
    for (int s = 0; s < ${SUB}; s++) {
      int w = c.y * ${SUB} + s;
      if (w >= ${sub}) break;
      if (orderKey(getMaxima(b, w)) < cand) continue;
      for (int i = 0; i < ${KTH_MAX_WINDOW}; i++) {
        int j = w * ${KTH_MAX_WINDOW} + i;
        if (j >= ${vocab}) break;
        acc += orderKey(getLogits(b, j)) >= cand ? 1.0 : 0.0;
      }
    }
  }
  setOutput(acc);
}
`;
  }
}

/** One bisection round: state [B, 3] (key high half, low half, bit) → the next state. */
class StepProgram implements GPGPUProgram {
  variableNames = ['state', 'counts', 'k'];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, windows: number) {
    this.outputShape = [batch, 3];
    this.userCode = `${KEY_GLSL}
void main() {
  ivec2 c = getOutputCoords();
  int b = c.x;
  float bit = getState(b, 2);
  if (c.y == 2) {
    setOutput(bit - 1.0);
    return;
  }
  uint p = stateKey(getState(b, 0), getState(b, 1));
  if (bit >= 0.0) {
    float n = 0.0;
    for (int w = 0; w < ${windows}; w++) n += getCounts(b, w);
    if (n >= getK(b)) p = p | (1u << uint(bit));
  }
  setOutput(c.y == 0 ? float(p >> 16u) : float(p & 0xffffu));
}
`;
  }
}

/** The logit of the state's key: [B]. */
class ValueProgram implements GPGPUProgram {
  variableNames = ['state', 'k'];
  outputShape: number[];
  userCode: string;

  constructor(batch: number) {
    this.outputShape = [batch];
    this.userCode = `${KEY_GLSL}
void main() {
  int b = getOutputCoords();
  uint p = stateKey(getState(b, 0), getState(b, 1));
  uint u = (p & 0x80000000u) != 0u ? (p & 0x7fffffffu) : ~p;
  setOutput(getK(b) >= 1.0 ? uintBitsToFloat(u) : uintBitsToFloat(0x7fc00000u));
}
`;
  }
}

interface Inputs {
  logits: tf.TensorInfo;
  /** float32 [B, ceil(V / 64)]: each window's maximum (the window top-k's WINDOW_REDUCE 'max'). */
  maxima: tf.TensorInfo;
  /** float32 [B]: k per row (an integer; ≤ 0: skipped). */
  k: tf.TensorInfo;
}

function kthLargest(backend: MathBackendWebGL, { logits, maxima, k }: Inputs): tf.TensorInfo {
  const [batch, vocab] = logits.shape as [number, number];
  const windows = Math.ceil(vocab / COUNT_WINDOW);
  const init = new Float32Array(batch * 3);
  for (let b = 0; b < batch; b++) init[3 * b + 2] = 31;
  let state = backend.makeTensorInfo([batch, 3], 'float32', init);
  const count = new CountProgram(batch, vocab);
  const step = new StepProgram(batch, windows);
  for (let round = 0; round < 32; round++) {
    const counts = backend.runWebGLProgram(count, [logits, maxima, state, k], 'float32');
    const next = backend.runWebGLProgram(step, [state, counts, k], 'float32');
    backend.disposeIntermediateTensorInfo(counts);
    backend.disposeIntermediateTensorInfo(state);
    state = next;
  }
  const out = backend.runWebGLProgram(new ValueProgram(batch), [state, k], 'float32');
  backend.disposeIntermediateTensorInfo(state);
  return out;
}

/** Registers the kernel for 'webgl' (WebGL2 with float32 textures). */
export function registerWebglKthLargest(): boolean {
  try {
    if (tf.getKernel(KTH_LARGEST_KERNEL, 'webgl')) return true;
    if (!tf.findBackend('webgl')) return false;
    const env = tf.env();
    if (env.getNumber('WEBGL_VERSION') !== 2 || !env.getBool('WEBGL_RENDER_FLOAT32_ENABLED') || env.getBool('WEBGL_FORCE_F16_TEXTURES')) return false;
    tf.registerKernel({
      kernelName: KTH_LARGEST_KERNEL,
      backendName: 'webgl',
      kernelFunc: ({ inputs, backend }) => kthLargest(backend as unknown as MathBackendWebGL, inputs as unknown as Inputs),
    });
    return true;
  } catch {
    return false;
  }
}
