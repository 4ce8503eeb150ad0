// webgl helpers for the GPU chain (GLSL ES 3.0): searches on a per-row u32 order key without a
// sort and without a read-back. WebGL2 has no workgroup memory or atomics, so each is a bisection
// on the key, one bit a round (32 rounds): a program sums a weight per window of 256 logits over
// the keys ≥ the row's candidate (prefix | 1 << bit), and a step program sums a row's windows and
// keeps the bit where the sum reaches the row's target. The key lives in the state as two exact
// 16-bit halves (float texels).
//   KTH_LARGEST_KERNEL: the k-th largest logit for a k held on the device (Mirostat v1's k past
//     its 100 largest): key = the float's order key, weight 1, target k. A window of 64 whose
//     maximum is below the candidate is skipped unread, so on peaky rows a round reads a small
//     part of the row. Output float32 [B]: the k-th largest logit (ties: "≥ it" keeps them),
//     -Infinity or NaN where k exceeds the finite logits, NaN on rows with k ≤ 0 (nothing read).
//   TYPICAL_BAND_KERNEL: locally typical sampling's band: key = the order key of −|z − zc|, zc =
//     m + c·T the centre c = Σ e^a·a / S of a = (z − m)·1/T in logit units (one subtraction, so
//     the three programs compute the same key; a product-sum may round differently in each),
//     weight e^a over the kept tokens (the bands' kept test), target p·S: the closest-first set
//     whose mass reaches p·S, ties of its farthest distance kept (as webgpu/bands.ts 'typical').
//     One pass first keeps per window of 64 the range of −|z − zc| and Σ e^a, so a round reads
//     only the windows that straddle its candidate (on peaky rows, those holding the band's
//     tokens). With `counted` (minTokensToKeep in params column 8), each round sums the count too
//     and keeps its bit only where both reach their targets. Output [B, W, 2]: per window of 256
//     the least and the largest kept logit within that distance (combined by the caller).
import type * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { registerWebglKernels } from './register.js';

export const KTH_LARGEST_KERNEL = 'TfjsSamplingKthLargest';
export const TYPICAL_BAND_KERNEL = 'TfjsSamplingTypicalBand';
/** Logits per window of the maxima input (the GPU chain's window top-k: gpu-chain.ts WINDOW). */
export const KTH_MAX_WINDOW = 64;
const SUB = 4; // maxima windows per count window
const COUNT_WINDOW = KTH_MAX_WINDOW * SUB;

/** GLSL: the float's order-preserving u32 key (-0 as +0) and a key from its two 16-bit halves. */
export const KEY_GLSL = `
uint orderKey(float z) {
  uint u = floatBitsToUint(z);
  u = u == 0x80000000u ? 0u : u; // -0 as +0
  return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}
uint stateKey(float hi, float lo) { return (uint(hi) << 16u) | uint(lo); }
`;

/** k-th largest: counts per window of 256 the keys ≥ the row's candidate (prefix | 1 << bit). Output [B, W]. */
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

/**
 * One bisection round: state [B, 3] (key high half, low half, bit) and the window sums → the next
 * state (the bit kept where the sum reaches the row's target `k`). `counted`: the sums are
 * [B, W, 2] (mass, count) and the bit is kept where, besides, the count reaches params column 8
 * (typical-p's minTokensToKeep).
 */
class StepProgram implements GPGPUProgram {
  variableNames = ['state', 'counts', 'k'];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, windows: number, counted = false) {
    if (counted) this.variableNames = ['state', 'counts', 'k', 'params'];
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
    ${
      counted
        ? `float cnt = 0.0;
    for (int w = 0; w < ${windows}; w++) {
      n += getCounts(b, w, 0);
      cnt += getCounts(b, w, 1);
    }
    if (n >= getK(b) && cnt >= getParams(b, 8)) p = p | (1u << uint(bit));`
        : `for (int w = 0; w < ${windows}; w++) n += getCounts(b, w);
    if (n >= getK(b)) p = p | (1u << uint(bit));`
    }
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

/** The bands' kept test (webgl/bands.ts) and typical-p's centre zc, from params [B, 8] and search [B, 4]. */
function typicalHead(minP: boolean): string {
  return `
  float floorZ = getParams(b, 0);
  float hi = getParams(b, 1);
  float ihH = getParams(b, 3);
  float ihL = getParams(b, 4);
  float mpT = getParams(b, 5);
  float mpE = getParams(b, 6);
  float m = getSearch(b, 0);
  float zc = getSearch(b, 1);
  #define KEPT(z) ((floatBitsToUint(z) & 0x7fffffffu) < 0x7f800000u && z >= floorZ && z <= hi${minP ? ' && !(mpE - (z - mpT) > 0.0)' : ''})`;
}

/** typical-p: `body` for each kept token z of sub-window `w` (64 logits; a GLSL int), with its a = (z − m)·1/T. */
function keptLoop(vocab: number, w: string, body: string): string {
  return `for (int i = 0; i < ${KTH_MAX_WINDOW}; i++) {
      int j = (${w}) * ${KTH_MAX_WINDOW} + i;
      if (j >= ${vocab}) break;
      float z = getLogits(b, j);
      if (!KEPT(z)) continue;
      float dz = max(z - m, -2048.0 / ihH); // z − m can be -Infinity, -Infinity·ihL NaN (see bands.ts)
      float a = dz * ihH + dz * ihL;
      ${body}
    }`;
}

/**
 * typical-p, once per call: per window of 64 over its kept tokens the least and the largest
 * −|z − zc| and Σ e^a, and with `counted` their count. Output [B, W, 3 or 4] (±Infinity and 0 for
 * a window with no kept token).
 */
class TypicalStatsProgram implements GPGPUProgram {
  variableNames = ['logits', 'params', 'search'];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, vocab: number, minP: boolean, counted: boolean) {
    this.outputShape = [batch, Math.ceil(vocab / KTH_MAX_WINDOW), counted ? 4 : 3];
    this.userCode = `
void main() {
  ivec3 c = getOutputCoords();
  int b = c.x;
  float lo = uintBitsToFloat(0x7f800000u);
  float up = -lo;
  float s = 0.0;
  if (getSearch(b, 3) > 0.0) {
    ${typicalHead(minP)}
    ${keptLoop(
      vocab,
      'c.y',
      `
      if (c.z == 3) {
        s += 1.0;
      } else if (c.z == 2) {
        s += exp(a);
      } else {
        float d = -abs(z - zc);
        lo = min(lo, d);
        up = max(up, d);
      }`,
    )}
  }
  setOutput(c.z == 0 ? lo : c.z == 1 ? up : s);
}
`;
  }
}

/**
 * typical-p: Σ e^a per window of 256 over the kept tokens whose key reaches the candidate; a
 * window of 64 wholly below it adds 0 and one wholly at or above it its Σ e^a (the stats' sum),
 * unread. Output [B, W]; `counted`: [B, W, 2], the sum and the count of those tokens.
 */
class TypicalMassProgram implements GPGPUProgram {
  variableNames = ['logits', 'params', 'search', 'state', 'stats'];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, vocab: number, minP: boolean, counted: boolean) {
    const windows = Math.ceil(vocab / COUNT_WINDOW);
    this.outputShape = counted ? [batch, windows, 2] : [batch, windows];
    this.userCode = `${KEY_GLSL}
void main() {
  ${counted ? 'ivec3 c = getOutputCoords();\n  bool cnt = c.z == 1;' : 'ivec2 c = getOutputCoords();\n  const bool cnt = false;'}
  int b = c.x;
  float acc = 0.0;
  if (getSearch(b, 3) > 0.0) {
    ${typicalHead(minP)}
    int bit = int(getState(b, 2));
    uint cand = stateKey(getState(b, 0), getState(b, 1)) | (1u << uint(bit));
    for (int s = 0; s < ${SUB}; s++) {
      int w = c.y * ${SUB} + s;
      if (w >= ${Math.ceil(vocab / KTH_MAX_WINDOW)}) break;
      if (orderKey(getStats(b, w, 0)) >= cand) {
        acc += getStats(b, w, cnt ? 3 : 2);
      } else if (orderKey(getStats(b, w, 1)) >= cand) {
        ${keptLoop(vocab, 'w', 'if (orderKey(-abs(z - zc)) >= cand) acc += cnt ? 1.0 : exp(a);')}
      }
    }
  }
  setOutput(acc);
}
`;
  }
}

/** typical-p: per window of 256 the least and the largest kept logit whose key reaches the state's. Output [B, W, 2]. */
class TypicalRangeProgram implements GPGPUProgram {
  variableNames = ['logits', 'params', 'search', 'state', 'stats'];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, vocab: number, minP: boolean) {
    this.outputShape = [batch, Math.ceil(vocab / COUNT_WINDOW), 2];
    this.userCode = `${KEY_GLSL}
void main() {
  ivec3 c = getOutputCoords();
  int b = c.x;
  float lo = 3.4028234663852886e38;
  float up = -3.4028234663852886e38;
  uint keyD = stateKey(getState(b, 0), getState(b, 1));
  if (getSearch(b, 3) > 0.0) {
    ${typicalHead(minP)}
    for (int s = 0; s < ${SUB}; s++) {
      int w = c.y * ${SUB} + s;
      if (w >= ${Math.ceil(vocab / KTH_MAX_WINDOW)}) break;
      if (orderKey(getStats(b, w, 1)) < keyD) continue;
      ${keptLoop(
        vocab,
        'w',
        `
        if (orderKey(-abs(z - zc)) >= keyD) {
          lo = min(lo, z);
          up = max(up, z);
        }`,
      )}
    }
  }
  setOutput(c.z == 0 ? lo : up);
}
`;
  }
}

/** The bisection's start: key 0, bit 31 (a program: no per-call upload). Output [B, 3]. */
class StartProgram implements GPGPUProgram {
  variableNames: string[] = [];
  outputShape: number[];
  userCode = `
void main() {
  setOutput(getOutputCoords().y == 2 ? 31.0 : 0.0);
}
`;

  constructor(batch: number) {
    this.outputShape = [batch, 3];
  }
}

function bisect(
  backend: MathBackendWebGL,
  batch: number,
  windows: number,
  round: (state: tf.TensorInfo) => tf.TensorInfo,
  target: tf.TensorInfo,
  params?: tf.TensorInfo,
): tf.TensorInfo {
  let state = backend.runWebGLProgram(new StartProgram(batch), [], 'float32');
  const step = new StepProgram(batch, windows, params !== undefined);
  for (let r = 0; r < 32; r++) {
    const sums = round(state);
    const next = backend.runWebGLProgram(step, params ? [state, sums, target, params] : [state, sums, target], 'float32');
    backend.disposeIntermediateTensorInfo(sums);
    backend.disposeIntermediateTensorInfo(state);
    state = next;
  }
  return state;
}

interface TypicalInputs {
  logits: tf.TensorInfo;
  /** float32 [B, 9]: the bands' params (webgpu/bands.ts BAND_PARAMS: floor, hi, m, 1/T pair, min-p pair, p, minTokensToKeep). */
  params: tf.TensorInfo;
  /** float32 [B, 4]: m, the centre c, the target p·S, on (1) or off (0). */
  search: tf.TensorInfo;
  /** float32 [B]: the target p·S (the step's threshold). */
  target: tf.TensorInfo;
}

function typicalBand(backend: MathBackendWebGL, { logits, params, search, target }: TypicalInputs, minP: boolean, counted: boolean): tf.TensorInfo {
  const [batch, vocab] = logits.shape as [number, number];
  const stats = backend.runWebGLProgram(new TypicalStatsProgram(batch, vocab, minP, counted), [logits, params, search], 'float32');
  const mass = new TypicalMassProgram(batch, vocab, minP, counted);
  const state = bisect(
    backend,
    batch,
    Math.ceil(vocab / COUNT_WINDOW),
    (st) => backend.runWebGLProgram(mass, [logits, params, search, st, stats], 'float32'),
    target,
    counted ? params : undefined,
  );
  const out = backend.runWebGLProgram(new TypicalRangeProgram(batch, vocab, minP), [logits, params, search, state, stats], 'float32');
  backend.disposeIntermediateTensorInfo(state);
  backend.disposeIntermediateTensorInfo(stats);
  return out;
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
  const count = new CountProgram(batch, vocab);
  const state = bisect(backend, batch, Math.ceil(vocab / COUNT_WINDOW), (st) => backend.runWebGLProgram(count, [logits, maxima, st, k], 'float32'), k);
  const out = backend.runWebGLProgram(new ValueProgram(batch), [state, k], 'float32');
  backend.disposeIntermediateTensorInfo(state);
  return out;
}

/** Registers both kernels for 'webgl' (WebGL2 with float32 textures). */
export function registerWebglKthLargest(): boolean {
  return registerWebglKernels({
    [KTH_LARGEST_KERNEL]: (backend, inputs) => kthLargest(backend, inputs as unknown as Inputs),
    [TYPICAL_BAND_KERNEL]: (backend, inputs, attrs) => {
      const { minP, counted = false } = attrs as unknown as { minP: boolean; counted?: boolean };
      return typicalBand(backend, inputs as unknown as TypicalInputs, minP, counted);
    },
  });
}
