// Row statistics for the bands of the GPU chain on webgl (GLSL ES 3.0): the webgpu bands kernel's
// statistics (webgpu/bands.ts), here per window of WINDOW logits — output float32
// [B, ceil(V / WINDOW), K], each of the K values of a window computed by its own pixel over the
// same texels — and combined across windows with [B, W] ops (rowBandsWebgl). Modes:
//   'range':   max and min of the finite logits;
//   'moments': Welford's (count, mean, M2) of u = (z − max)/range (max and 1/half-range, as two
//              factors, in the params), merged across windows by Chan's rule;
//   'mass':    Σ e^a and Σ e^a·a over the kept tokens, a = (z − m)·1/T;
//   'above':   the smallest kept logit ≥ cut and how many there are.
// The kept test is the draw's: z ≥ floor, z ≤ hi, min-p's pair.
import * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { registerWebglKernels } from './register.js';
import { rowMax, rowMin } from '../../processors/ops.js';
import { TYPICAL_BAND_KERNEL } from './kth-largest.js';

export const BAND_WINDOWS_KERNEL = 'TfjsSamplingBandWindows';
export type WindowMode = 'range' | 'moments' | 'mass' | 'above';
const WINDOW = 256;
const K: Record<WindowMode, number> = { range: 2, moments: 3, mass: 2, above: 2 };

class BandWindowsProgram implements GPGPUProgram {
  variableNames = ['logits', 'params'];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, vocab: number, mode: WindowMode, minP: boolean, entropy: boolean, logit: boolean) {
    const windows = Math.ceil(vocab / WINDOW);
    // 'mass' without η needs Σ e^a only: one value per window (each value re-reads the window).
    this.outputShape = [batch, windows, mode === 'mass' && !entropy ? 1 : K[mode]];
    const kept = `fin && z >= floorZ && z <= hi${minP ? ' && !(mpE - (z - mpT) > 0.0)' : ''}`;
    const body: Record<WindowMode, string> = {
      range: `
    if (fin) { a0 = max(a0, z); a1 = min(a1, z); }`,
      moments: `
    if (fin) {
      float u = ((z * 0.5 - m * 0.5) * p7) * ihH; // ihH: the scale's second factor in this mode
      a0 += 1.0;
      float d = u - a1;
      a1 += d / a0;
      a2 += d * (u - a1);
    }`,
      mass: `
    if (${kept}) {
      // Clamped where the mass is 0 anyway (as scaleByInvTemperature): z − m is -Infinity past a
      // span of FLT_MAX, and -Infinity·ihL NaN where ihL is 0 or negative.
      float d = max(z - m, -2048.0 / ihH);
      float a = d * ihH + d * ihL;
      float x = exp(a);
      a0 += x;
      a1 += x == 0.0 ? 0.0 : x * ${logit ? 'd' : 'a'};
    }`,
      above: `
    if (${kept} && z >= p7) { a0 = min(a0, z); a1 += 1.0; }`,
    };
    const init: Record<WindowMode, string> = {
      range: 'float a0 = -3.4028234663852886e38, a1 = 3.4028234663852886e38, a2 = 0.0;',
      moments: 'float a0 = 0.0, a1 = 0.0, a2 = 0.0;',
      mass: 'float a0 = 0.0, a1 = 0.0, a2 = 0.0;',
      above: 'float a0 = 3.4028234663852886e38, a1 = 0.0, a2 = 0.0;',
    };
    this.userCode = `
void main() {
  ivec3 c = getOutputCoords();
  int b = c.x;
  int start = c.y * ${WINDOW};
  float floorZ = getParams(b, 0);
  float hi = getParams(b, 1);
  float m = getParams(b, 2);
  float ihH = getParams(b, 3);
  float ihL = getParams(b, 4);
  float mpT = getParams(b, 5);
  float mpE = getParams(b, 6);
  float p7 = getParams(b, 7);
  ${init[mode]}
  for (int i = 0; i < ${WINDOW}; i++) {
    int j = start + i;
    if (j >= ${vocab}) break;
    float z = getLogits(b, j);
    bool fin = (floatBitsToUint(z) & 0x7fffffffu) < 0x7f800000u;
    ${body[mode]}
  }
  setOutput(c.z == 0 ? a0 : c.z == 1 ? a1 : a2);
}
`;
  }
}

interface Inputs {
  logits: tf.TensorInfo;
  params: tf.TensorInfo;
}

interface Attrs {
  mode: WindowMode;
  minP: boolean;
  entropy?: boolean;
  logit?: boolean;
}

function bandWindows(backend: MathBackendWebGL, { logits, params }: Inputs, attrs: Attrs): tf.TensorInfo {
  const [batch, vocab] = logits.shape as [number, number];
  const program = new BandWindowsProgram(batch, vocab, attrs.mode, attrs.minP, attrs.entropy ?? true, attrs.logit ?? false);
  return backend.runWebGLProgram(program, [logits, params], 'float32');
}

/** Registers the kernel for 'webgl' (WebGL2 with float32 textures). */
export function registerWebglBands(): boolean {
  return registerWebglKernels({
    [BAND_WINDOWS_KERNEL]: (backend, inputs, attrs) => bandWindows(backend, inputs as unknown as Inputs, attrs as unknown as Attrs),
  });
}

/**
 * The webgpu bands kernel's per-row result from window statistics: 'moments' [B, 2] (the σ floor
 * with n from params column 7, and the row max), 'mass' [B, 5] (Σ e^a and Σ e^a·a as pairs with
 * zero low parts — Σ e^a·a only with `entropy` (Σ e^a·(z − m) with `logit` too), else 0 — and m; no count: 'above' at cut
 * -FLT_MAX gives it), 'above' [B, 2] (the least logit ≥ cut, the count).
 */
export function rowBandsWebgl(
  input: tf.Tensor2D,
  params: tf.Tensor2D,
  mode: 'moments' | 'mass' | 'above',
  minP: boolean,
  entropy = true,
  logit = false,
): tf.Tensor2D {
  const [batch] = input.shape;
  const run = (p: tf.Tensor2D, m: WindowMode): tf.Tensor3D =>
    tf.engine().runKernel(BAND_WINDOWS_KERNEL, { logits: input, params: p }, { mode: m, minP, entropy, logit } as unknown as tf.NamedAttrMap) as tf.Tensor3D;
  const ch = (t: tf.Tensor3D, k: number): tf.Tensor2D => tf.squeeze(tf.slice(t, [0, 0, k], [-1, -1, 1]), [2]) as tf.Tensor2D;
  // Not tf.min / tf.max: webgl's reductions start at ±1e20 (rowMax's note).
  const col = (p: tf.Tensor2D, k: number): tf.Tensor2D => tf.slice(p, [0, k], [batch, 1]) as tf.Tensor2D;
  if (mode === 'mass') {
    const w = run(params, 'mass');
    const zero = tf.zeros([batch, 1]);
    return tf.concat([tf.sum(ch(w, 0), 1, true), zero, entropy ? tf.sum(ch(w, 1), 1, true) : zero, zero, col(params, 2)], 1) as tf.Tensor2D;
  }
  if (mode === 'above') {
    const w = run(params, 'above');
    return tf.concat([rowMin(ch(w, 0)), tf.sum(ch(w, 1), 1, true)], 1) as tf.Tensor2D;
  }
  const r = run(params, 'range');
  const zmax = rowMax(ch(r, 0));
  const zmin = rowMin(ch(r, 1));
  const half = tf.sub(tf.mul(zmax, 0.5), tf.mul(zmin, 0.5));
  // u = (z − max)/range as (d·(2^64/half))·2^-64 past half = 2^64, where 1/half would be subnormal
  // (flushed to 0 on GPUs: σ = 0); below, (d·(1/half))·1 as before. Halves under the smallest
  // normal float32 give u = 0 (σ = 0) rather than 1/half = Infinity.
  const big = tf.greater(half, 2 ** 64);
  const after = tf.where(big, tf.fill([batch, 1], 2 ** -64), tf.onesLike(half));
  const scale = tf.where(tf.greaterEqual(half, 2 ** -126), tf.div(1, tf.mul(half, after)), tf.zerosLike(half));
  const mp = tf.concat([tf.slice(params, [0, 0], [batch, 2]), zmax, after, tf.slice(params, [0, 4], [batch, 3]), scale], 1) as tf.Tensor2D;
  const w = run(mp, 'moments');
  // Chan: N = Σ n, mean = Σ n·mean_w / N, M2 = Σ M2_w + Σ n·(mean_w − mean)².
  const n = ch(w, 0);
  const mw = ch(w, 1);
  const total = tf.sum(n, 1, true);
  const N = tf.maximum(total, 1);
  const mean = tf.div(tf.sum(tf.mul(n, mw), 1, true), N);
  const M2 = tf.add(tf.sum(ch(w, 2), 1, true), tf.sum(tf.mul(n, tf.square(tf.sub(mw, mean))), 1, true));
  // σ_u ≤ 1/2, so (σ_u·2)·half ≤ half stays finite where 2·half overflows.
  const sigma = tf.mul(tf.mul(tf.sqrt(tf.div(tf.relu(M2), N)), 2), half);
  const ns = col(params, 7);
  const f = tf.maximum(tf.sub(zmax, tf.mul(ns, sigma)), -3.4028234663852886e38);
  const on = tf.logicalAnd(tf.greater(ns, 0), tf.greater(total, 0));
  const finite = tf.where(tf.greater(total, 0), zmax, tf.fill([batch, 1], -Infinity));
  return tf.concat([tf.where(on, f, tf.fill([batch, 1], -3.4028234663852886e38)), finite], 1) as tf.Tensor2D;
}

/**
 * typical-p's band on webgl, the webgpu bands kernel's 'typical' output [B, 3] (the floor, the
 * upper bound, the kept maximum; -FLT_MAX, FLT_MAX and m where the row keeps everything): a mass
 * pass gives S and the centre zc = m + Σ e^a·(z − m) / S over the kept tokens (m from params
 * column 2), then TYPICAL_BAND_KERNEL bisects the key of −|z − zc| for the farthest distance whose closer-or-equal
 * mass reaches p·S (p in column 7) — and, with `counted`, whose closer-or-equal kept tokens number
 * at least column 8 (minTokensToKeep) — and returns per window the extreme kept logits within it.
 */
export function typicalBandWebgl(input: tf.Tensor2D, params: tf.Tensor2D, minP: boolean, counted = false): tf.Tensor2D {
  const [batch] = input.shape;
  const FLT = 3.4028234663852886e38;
  const col = (t: tf.Tensor2D, k: number): tf.Tensor2D => tf.slice(t, [0, k], [batch, 1]) as tf.Tensor2D;
  // The centre in logit units, Σ e^a·(z − m) / S: the scaled a of a row spread over a few ulps at a
  // large T is subnormal, which GPUs flush (the centre Σ e^a·a / S with it).
  const mass = rowBandsWebgl(input, params, 'mass', minP, true, true);
  const S = col(mass, 0);
  const m = col(params, 2);
  const p = col(params, 7);
  const on = tf.logicalAnd(tf.logicalAnd(tf.less(p, 1), tf.greater(S, 0)), tf.greater(m, -FLT));
  // TYPICAL_BAND_KERNEL ranks by |z − zc|. S ≥ 1 where `on` (the max's own term).
  const zc = tf.add(m, tf.div(col(mass, 2), tf.maximum(S, 1)));
  const target = tf.mul(p, S);
  const search = tf.concat([m, zc, target, tf.cast(on, 'float32')], 1);
  const w = tf.engine().runKernel(TYPICAL_BAND_KERNEL, { logits: input, params, search, target: tf.reshape(target, [batch]) }, {
    minP,
    counted,
  } as unknown as tf.NamedAttrMap) as tf.Tensor3D;
  const ch = (k: number): tf.Tensor2D => tf.squeeze(tf.slice(w, [0, 0, k], [-1, -1, 1]), [2]) as tf.Tensor2D;
  const lo = rowMin(ch(0));
  const up = rowMax(ch(1));
  return tf.concat([tf.where(on, lo, tf.fill([batch, 1], -FLT)), tf.where(on, up, tf.fill([batch, 1], FLT)), tf.where(on, up, m)], 1) as tf.Tensor2D;
}
