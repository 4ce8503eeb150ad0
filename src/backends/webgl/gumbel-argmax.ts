// The webgl draw kernel (GLSL ES 3.0, WebGL2): ids[r] = the lowest index j maximising
// scores[r, j] + scale[r] · g(keys[r], j), with the Gumbel noise g of src/noise.ts computed in
// the shader from the same 32-bit integer hash (uint arithmetic wraps like Math.imul / >>> 0).
//
// A multi-pass reduction, like tfjs's own argmax: the first pass reduces windows of each row to
// the index of their best perturbed score; each later pass reduces windows of those indices,
// recomputing the perturbed score of every candidate (a gather and one hash per candidate, far
// cheaper than carrying the score in a second texture). Every pass keeps the lowest index among
// equal maxima (see GumbelArgmaxPass), so ties resolve as in tf.argMax and the reference.
// Nothing is read back to the CPU; intermediates are disposed.
//
// Keys: an int32 tensor is a float texture in tfjs webgl, which holds integers exactly only up
// to 2^24. The kernel reads the u32 keys from the CPU copy of the `keys` input (runGumbelArgmax
// creates it just before the call, so it was never uploaded) and uploads them as a float32
// [B, 2] tensor of 16-bit halves, exact in any float32 texture or uniform.
import { GUMBEL_ARGMAX_KERNEL } from '../kernel-names.js';
import type * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { registerWebglKernels } from './register.js';

const KERNEL = GUMBEL_ARGMAX_KERNEL;

/**
 * GLSL ES 3.0 for the noise: `tsGumbel(key, tokens)` = g(key, token) of src/noise.ts for four
 * tokens, in highp float. Every pass uses this one function, so that a candidate's noise has the
 * same bits in every pass.
 *
 * u = (m + 0.5) · 2^-24 with m = h >> 8 needs 25 significant bits when m ≥ 2^23 (u ≥ 1/2), so it
 * is not a float32 there (u = 1 - 2^-25 would even round to 1 and give g = +Infinity). There the
 * shader works with w = 1 - u = (2^24 - 1 - m + 0.5) · 2^-24 instead, which is exact, and
 * -ln(u) = -ln(1 - w) = 2 atanh(s), s = w / (2 - w) ≤ 1/3, by its odd series (relative error
 * ≈ 2^-26 after 8 terms): no log of a value near 1, where it would lose the relative precision
 * that g = -ln(-ln u) depends on.
 */
export const GUMBEL_GLSL = `
uvec4 tsMix32(uvec4 x) {
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

vec4 tsGumbel(uint key, uvec4 tokens) {
  uvec4 m = tsMix32(uvec4(key) + tokens * 0x9e3779b9u) >> 8u;
  vec4 viaLog = -log((vec4(m) + 0.5) * 5.9604644775390625e-8);
  vec4 w = (vec4(uvec4(16777215u) - m) + 0.5) * 5.9604644775390625e-8;
  vec4 s = w / (2.0 - w);
  vec4 t = s * s;
  vec4 series = vec4(1.0 / 15.0);
  series = series * t + 1.0 / 13.0;
  series = series * t + 1.0 / 11.0;
  series = series * t + 1.0 / 9.0;
  series = series * t + 1.0 / 7.0;
  series = series * t + 1.0 / 5.0;
  series = series * t + 1.0 / 3.0;
  series = series * t + 1.0;
  vec4 minusLogU = mix(2.0 * s * series, viaLog, lessThan(m, uvec4(8388608u)));
  return -log(minusLogU);
}
`;

/**
 * |g| < G_BOUND for every u the hash can give (g ≤ 17.33 at u = 1 - 2^-25, g ≥ -2.86 at u = 2^-25).
 * A token whose score + |scale| · G_BOUND is below the best perturbed score so far cannot win:
 * the shader skips its noise (rounding is monotonic, so its perturbed score is below the best too).
 */
const G_BOUND = '17.5';

/**
 * The draw loop's step over four lanes (`v` the scores of tokens `tok`): each lane keeps its
 * first maximum (a later token replaces it only when strictly greater).
 */
export const LANE_ARGMAX_STEP_GLSL = `bvec4 better = greaterThan(v, bestValue);
    bestValue = mix(bestValue, v, better);
    bestIndex = mix(bestIndex, vec4(tok), better);`;

/**
 * After the loop: `index`, the lowest token among the lanes' maxima (2^24 marks none; lane x's
 * index when every lane stayed -Infinity).
 */
export const LANE_ARGMAX_GLSL = `float top = max(max(bestValue.x, bestValue.y), max(bestValue.z, bestValue.w));
  vec4 tied = mix(vec4(16777216.0), bestIndex, equal(bestValue, vec4(top)));
  float index = min(min(tied.x, tied.y), min(tied.z, tied.w));
  index = index < 16777216.0 ? index : bestIndex.x;`;

/**
 * Entries per fragment. First pass: about √V tokens, a power of two in [64, 1024] (like tfjs's
 * own reductions; V = 32000 → 256, 128256 → 512). Later passes: up to 256 candidates, so
 * V ≤ 262144 needs at most two passes after the first. Multiples of 4: a scan reads four at a
 * time.
 */
export function passWindow(inSize: number, first: boolean): number {
  if (!first) return Math.min(4 * Math.ceil(inSize / 4), 256);
  const target = 2 ** Math.ceil(Math.log2(Math.sqrt(inSize)));
  return Math.min(Math.max(target, 64), 1024, 4 * Math.ceil(inSize / 4));
}

/**
 * One pass: output [B, outSize] (or [B] for the last pass) of best token indices over windows of
 * `window` entries of a row. The first pass scans the tokens 0..V-1; a later pass scans the
 * `inSize` candidates in `best` left by the previous pass (ascending token indices).
 *
 * A window is read four entries at a time into four lanes; each lane keeps its best value and the
 * first index reaching it (strictly larger values replace it, and a lane sees its entries in
 * ascending order). The window's result is the lowest index among the lanes holding the maximum:
 * the lowest index of the window's maximum. Entries past the end count as -Infinity; a window of
 * -Infinity only gives its first index.
 */
class GumbelArgmaxPass implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;

  constructor(batch: number, _vocab: number, inSize: number, window: number, first: boolean) {
    const outSize = Math.ceil(inSize / window);
    const last = outSize === 1;
    this.variableNames = first ? ['scores', 'keys', 'scale'] : ['scores', 'keys', 'scale', 'best'];
    this.outputShape = last ? [batch] : [batch, outSize];
    const coords = last ? 'int b = getOutputCoords(); int o = 0;' : 'ivec2 c = getOutputCoords(); int b = c.x; int o = c.y;';
    const read = first ? 'ivec4 tok = at;' : `ivec4 tok = ivec4(vec4(getBest(b, at.x), getBest(b, at.y), getBest(b, at.z), getBest(b, at.w)) + 0.5);`;
    // The sizes are in the source, so programs for different shapes never share a binary.
    this.userCode = `
${GUMBEL_GLSL}
const float TS_NEG_INF = uintBitsToFloat(0xff800000u);

void main() {
  ${coords}
  uint key = (uint(getKeys(b, 0) + 0.5) << 16u) | uint(getKeys(b, 1) + 0.5);
  float scale = getScale(b);
  bool noisy = scale != 0.0;
  float bound = abs(scale) * ${G_BOUND};
  int start = o * ${window};
  vec4 bestValue = vec4(TS_NEG_INF);
  vec4 bestIndex = vec4(${first ? 'start' : 'getBest(b, start)'});
  for (int i = 0; i < ${window}; i += 4) {
    ivec4 at = ivec4(start + i) + ivec4(0, 1, 2, 3);
    bvec4 outside = greaterThanEqual(at, ivec4(${inSize}));
    at = min(at, ivec4(${inSize - 1}));
    ${read}
    vec4 v = vec4(getScores(b, tok.x), getScores(b, tok.y), getScores(b, tok.z), getScores(b, tok.w));
    v = mix(v, vec4(TS_NEG_INF), outside);
    // -Infinity (masked) stays -Infinity whatever the noise; greedy rows (scale 0) need none.
    if (noisy && any(greaterThanEqual(v + bound, bestValue)) && !all(isinf(v))) {
      v += scale * tsGumbel(key, uvec4(tok));
    }
    ${LANE_ARGMAX_STEP_GLSL}
  }
  ${LANE_ARGMAX_GLSL}
  setOutput(index);
}
`;
  }
}

interface Inputs {
  scores: tf.TensorInfo;
  keys: tf.TensorInfo;
  scale: tf.TensorInfo;
}

function gumbelArgmax(backend: MathBackendWebGL, { scores, keys, scale }: Inputs): tf.TensorInfo {
  const [batch, vocab] = scores.shape as [number, number];
  if (batch === 0 || vocab === 0) return backend.makeTensorInfo([batch], 'int32', new Int32Array(batch));
  // Token indices travel through float textures: exact below 2^24.
  if (vocab > 2 ** 24) throw new Error(`${KERNEL}: vocabulary of ${vocab} tokens is above 2^24, which the webgl kernel cannot index exactly`);
  // Every pass reads the scores: unpack a packed texture once (in runPasses), not once per pass.
  return runPasses(backend, scores, keys, scale, (inSize, window, first) => new GumbelArgmaxPass(batch, vocab, inSize, window, first));
}

/**
 * The host side shared by the webgl draw kernels: the u32 row keys as 16-bit float halves (read
 * from the CPU copy — the callers create the keys tensor just before the call, so it has not
 * been uploaded; a float texture would already have rounded keys above 2^24), the input
 * unpacked once, then reduction passes until one id per row is left.
 */
export function runPasses(
  backend: MathBackendWebGL,
  input: tf.TensorInfo,
  keys: tf.TensorInfo,
  extra: tf.TensorInfo,
  program: (inSize: number, window: number, first: boolean) => GPGPUProgram,
  mask?: tf.TensorInfo,
): tf.TensorInfo {
  const [batch, vocab] = input.shape as [number, number];
  // The keys are made from host values each call; reading them back from a texture would be a
  // hidden GPU stall, so a GPU-resident keys tensor is a bug, not a case to handle.
  const values = backend.texData.get(keys.dataId)?.values as ArrayLike<number> | null | undefined;
  if (!values) throw new Error('tfjs-sampling (internal): the draw keys must be host-resident, not read back from the GPU');
  const halves = new Float32Array(2 * batch);
  for (let r = 0; r < batch; r++) {
    const k = values[r]! >>> 0;
    halves[2 * r] = k >>> 16;
    halves[2 * r + 1] = k & 0xffff;
  }
  const keyInfo = backend.makeTensorInfo([batch, 2], 'float32', halves);
  const packed = backend.texData.get(input.dataId)?.isPacked === true;
  const flat = packed ? backend.unpackTensor(input) : input;
  let best: tf.TensorInfo | undefined;
  let inSize = vocab;
  try {
    for (;;) {
      const first = best === undefined;
      // Every pass reads the logits (a later one re-reads its candidates), so every pass masks.
      const inputs = [flat, keyInfo, extra, ...(best ? [best] : []), ...(mask ? [mask] : [])];
      const out = backend.runWebGLProgram(program(inSize, passWindow(inSize, first), first), inputs, 'int32');
      if (best) backend.disposeIntermediateTensorInfo(best);
      best = out;
      if (out.shape.length === 1) return out;
      inSize = out.shape[1]!;
    }
  } catch (err) {
    if (best) backend.disposeIntermediateTensorInfo(best);
    throw err;
  } finally {
    backend.disposeIntermediateTensorInfo(keyInfo);
    if (packed) backend.disposeIntermediateTensorInfo(flat);
  }
}

/**
 * Registers the kernel for the 'webgl' backend. False (and nothing registered) where it cannot
 * run exactly: no webgl backend, WebGL 1 (no uint in shaders), or no float32 textures (token
 * indices up to 2^24 and the 16-bit key halves must survive them; half floats hold 2^11).
 */
export function registerWebglGumbelArgmax(): boolean {
  return registerWebglKernels({ [KERNEL]: (backend, inputs) => gumbelArgmax(backend, inputs as unknown as Inputs) });
}
