// The webgl draw of the fused GPU chain (GLSL ES 3.0), registered as THRESHOLD_DRAW_KERNEL: the
// raw input logits plus per-row thresholds in, int32 ids or invalid-row codes out — no masked
// [B, V] logits, no score tensor, no separate invalid-row passes:
//   kept_j  = z_j ≥ thr  and  !(mpE − (z_j − mpT) > 0)  and  z_j ≤ hi   (floors; min-p pair; XTC's bound)
//   score_j = (z_j − zmax) · ih + scale · g(key, j)  for kept tokens, −Infinity otherwise
//   id      = the lowest index of the largest score (the passes of gumbel-argmax.ts)
// The first pass also records, per window, three flags from the bits of the input: NaN (1),
// +Infinity (2), some finite logit kept (4); they travel with the window's best index as
// index + 2^21 · flags (exact in float32 below 2^24, so V ≤ 2^21), each later pass ORs them, and
// the last writes the row's code instead of a token: -1 NaN, else -2 +Infinity, else -3 nothing
// kept (src/select/invalid.ts). With a per-call bitmask (webgl/mask.ts) every pass masks what it
// reads, a fourth flag (8) records a finite input logit, so a row the mask empties gets the
// processors' code -6, and the flags start at 2^20 (V ≤ 2^20). The 'uniform'/'greedy' policies
// are applied by the caller.
import type * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { registerWebglKernels } from './register.js';
import { GUMBEL_GLSL, LANE_ARGMAX_GLSL, LANE_ARGMAX_STEP_GLSL, runPasses } from './gumbel-argmax.js';
import { maskBits4Glsl, MASKED_Z_GLSL } from './mask.js';
import { PROCESSOR_INVALID_CODE } from '../../invalid-rows.js';

import { THRESHOLD_DRAW_KERNEL } from '../kernel-names.js';

export { THRESHOLD_DRAW_KERNEL };
/** Largest vocabulary: the index and three flag bits share one float32 (24 bits). */
export const WEBGL_MAX_VOCAB = 2 ** 21;
/** With a folded bitmask a fourth flag (8: the input had a finite logit) halves the index room. */
export const WEBGL_MAX_MASKED_VOCAB = 2 ** 20;

/** The draw's keep test of the logit `z` (thr, mpT, mpE, hi in scope); KeptCountPass uses it too. */
function keepGlsl(z: string, minP: boolean, upper: boolean): string {
  return `${z} >= thr${minP ? ` && !(mpE - (${z} - mpT) > 0.0)` : ''}${upper ? ` && ${z} <= hi` : ''}`;
}

class ThresholdDrawPass implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, inSize: number, window: number, first: boolean, minP: boolean, masked: boolean, upper: boolean) {
    const outSize = Math.ceil(inSize / window);
    const last = outSize === 1;
    this.variableNames = [...(first ? ['logits', 'keys', 'params'] : ['logits', 'keys', 'params', 'best']), ...(masked ? ['mask'] : [])];
    this.outputShape = last ? [batch] : [batch, outSize];
    const coords = last ? 'int b = getOutputCoords(); int o = 0;' : 'ivec2 c = getOutputCoords(); int b = c.x; int o = c.y;';
    const read = first
      ? `ivec4 tok = at;
    uvec4 zu = floatBitsToUint(z0(b, tok));
    ${
      masked
        ? `uvec4 zr = zu; // the input's bits, for flag 8
    ${maskBits4Glsl('zu', 'tok', true)}`
        : ''
    }`
      : `vec4 e = vec4(getBest(b, at.x), getBest(b, at.y), getBest(b, at.z), getBest(b, at.w));
    vec4 fl = floor(e / TD_FLAG);
    ivec4 tok = ivec4(e - fl * TD_FLAG + 0.5);
    uvec4 f4 = uvec4(fl + 0.5) * uvec4(not(outside)); // (mix of uvec needs GLSL ES 3.1)
    flags |= f4.x | f4.y | f4.z | f4.w;`;
    const firstFlags = first
      ? `
    uvec4 inside = uvec4(not(outside));
    if (any(greaterThan((zu & 0x7fffffffu) * inside, uvec4(0x7f800000u)))) flags |= 1u;
    if (any(equal(zu * inside, uvec4(0x7f800000u)))) flags |= 2u;
    if (any(keep)) flags |= 4u;${
      masked
        ? `
    if (any(lessThan(((zr & 0x7fffffffu) | (uvec4(outside) * 0x7f800000u)), uvec4(0x7f800000u)))) flags |= 8u;`
        : ''
    }`
      : '';
    const keepLane = (l: string): string => `${keepGlsl(`z.${l}`, minP, upper)} && !outside.${l}`;
    const finish = last
      ? `
  int code = (flags & 1u) != 0u ? -1 : (flags & 2u) != 0u ? -2 : (flags & 4u) == 0u ? ${masked ? `((flags & 8u) != 0u ? ${PROCESSOR_INVALID_CODE['no-finite-logit']} : -3)` : '-3'} : 0;
  setOutput(code != 0 ? float(code) : index);`
      : 'setOutput(index + TD_FLAG * float(flags));';
    this.userCode = `
${GUMBEL_GLSL}
const float TS_NEG_INF = uintBitsToFloat(0xff800000u);
const float TD_FLAG = ${masked ? WEBGL_MAX_MASKED_VOCAB : WEBGL_MAX_VOCAB}.0;

vec4 z0(int b, ivec4 tok) {
  return vec4(getLogits(b, tok.x), getLogits(b, tok.y), getLogits(b, tok.z), getLogits(b, tok.w));
}

void main() {
  ${coords}
  uint key = (uint(getKeys(b, 0) + 0.5) << 16u) | uint(getKeys(b, 1) + 0.5);
  float thr = getParams(b, 0);
  float mpT = getParams(b, 1);
  float mpE = getParams(b, 2);
  float zmax = getParams(b, 3);
  float ih = getParams(b, 4);
  float scale = getParams(b, 5);
  ${upper ? 'float hi = getParams(b, 6);' : ''}
  bool noisy = scale != 0.0;
  float bound = abs(scale) * 17.5;
  int start = o * ${window};
  uint flags = 0u;
  vec4 bestValue = vec4(TS_NEG_INF);
  vec4 bestIndex = vec4(${first ? 'start' : `mod(getBest(b, start), TD_FLAG)`});
  for (int i = 0; i < ${window}; i += 4) {
    ivec4 at = ivec4(start + i) + ivec4(0, 1, 2, 3);
    bvec4 outside = greaterThanEqual(at, ivec4(${inSize}));
    at = min(at, ivec4(${inSize - 1}));
    ${read}
    ${first ? '' : `uvec4 zu = floatBitsToUint(z0(b, tok));${masked ? maskBits4Glsl('zu', 'tok', false) : ''}`}
    vec4 z = uintBitsToFloat(zu);
    bvec4 keep = bvec4(${keepLane('x')}, ${keepLane('y')}, ${keepLane('z')}, ${keepLane('w')});
    ${firstFlags}
    vec4 v = mix(vec4(TS_NEG_INF), (z - zmax) * ih, keep);
    if (noisy && any(keep) && any(greaterThanEqual(v + bound, bestValue))) {
      v += scale * tsGumbel(key, uvec4(tok)); // -Infinity stays -Infinity
    }
    ${LANE_ARGMAX_STEP_GLSL}
  }
  ${LANE_ARGMAX_GLSL}
  ${finish}
}
`;
  }
}

/**
 * Tests only (attribute `count`, see fused-observer.ts): per row, how many tokens pass the draw's
 * keep test with the same parameters — on greedy rows (scale 0) those equal to the row max — or
 * -1 where the row holds NaN or +Infinity or nothing passes. Pass 1 counts windows of KC_WINDOW
 * tokens (-1 for a window with NaN or +Infinity), pass 2 adds a row's windows.
 */
const KC_WINDOW = 256;

class KeptCountPass implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, vocab: number, minP: boolean, first: boolean, masked: boolean, upper: boolean) {
    const windows = Math.ceil(vocab / KC_WINDOW);
    this.variableNames = first ? ['logits', 'params', ...(masked ? ['mask'] : [])] : ['windows'];
    this.outputShape = first ? [batch, windows] : [batch];
    this.userCode = first
      ? `${masked ? MASKED_Z_GLSL : ''}
void main() {
  ivec2 c = getOutputCoords();
  int b = c.x;
  float thr = getParams(b, 0);
  float mpT = getParams(b, 1);
  float mpE = getParams(b, 2);
  float zmax = getParams(b, 3);
  float scale = getParams(b, 5);
  ${upper ? 'float hi = getParams(b, 6);' : ''}
  int start = c.y * ${KC_WINDOW};
  float n = 0.0;
  bool bad = false;
  for (int i = 0; i < ${KC_WINDOW}; i++) {
    int j = start + i;
    if (j >= ${vocab}) break;
    float z = ${masked ? 'maskedZ(uint(getMask(b, j >> 4)), j, getLogits(b, j))' : 'getLogits(b, j)'};
    uint zu = floatBitsToUint(z);
    if ((zu & 0x7fffffffu) >= 0x7f800000u && zu != 0xff800000u) bad = true;
    if ((${keepGlsl('z', minP, upper)}) && (scale != 0.0 || z >= zmax)) n += 1.0;
  }
  setOutput(bad ? -1.0 : n);
}
`
      : `
void main() {
  int b = getOutputCoords();
  float n = 0.0;
  bool bad = false;
  for (int w = 0; w < ${windows}; w++) {
    float v = getWindows(b, w);
    if (v < 0.0) bad = true;
    n += v;
  }
  setOutput(bad || n == 0.0 ? -1.0 : n);
}
`;
  }
}

function keptCount(backend: MathBackendWebGL, { logits, params, mask }: Inputs, minP: boolean, upper: boolean): tf.TensorInfo {
  const [batch, vocab] = logits.shape as [number, number];
  const windows = backend.runWebGLProgram(
    new KeptCountPass(batch, vocab, minP, true, mask !== undefined, upper),
    mask ? [logits, params, mask] : [logits, params],
    'float32',
  );
  try {
    return backend.runWebGLProgram(new KeptCountPass(batch, vocab, minP, false, false, upper), [windows], 'int32');
  } finally {
    backend.disposeIntermediateTensorInfo(windows);
  }
}

interface Inputs {
  logits: tf.TensorInfo;
  keys: tf.TensorInfo;
  params: tf.TensorInfo;
  /** The per-call bitmask's 16-bit halves, float32 [B, 2·ceil(V/32)] (webgl/mask.ts). */
  mask?: tf.TensorInfo;
}

function thresholdDraw(backend: MathBackendWebGL, { logits, keys, params, mask }: Inputs, minP: boolean, upper: boolean): tf.TensorInfo {
  const [batch, vocab] = logits.shape as [number, number];
  if (vocab > WEBGL_MAX_VOCAB) throw new Error(`${THRESHOLD_DRAW_KERNEL}: vocabulary of ${vocab} tokens is above 2^21`);
  if (mask && vocab > WEBGL_MAX_MASKED_VOCAB) throw new Error(`${THRESHOLD_DRAW_KERNEL}: a masked vocabulary of ${vocab} tokens is above 2^20`);
  return runPasses(
    backend,
    logits,
    keys,
    params,
    (inSize, window, first) => new ThresholdDrawPass(batch, inSize, window, first, minP, mask !== undefined, upper),
    mask,
  );
}

/** Registers the kernel for 'webgl' (WebGL2 with float32 textures, as the draw kernel needs). */
export function registerWebglThresholdDraw(): boolean {
  return registerWebglKernels({
    [THRESHOLD_DRAW_KERNEL]: (backend, inputs, attrs) =>
      ((attrs as { count?: boolean }).count ? keptCount : thresholdDraw)(
        backend,
        inputs as unknown as Inputs,
        (attrs as { minP: boolean }).minP,
        (attrs as { upper?: boolean }).upper ?? false,
      ),
  });
}
