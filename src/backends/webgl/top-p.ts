// Sort-free top-p for webgl (GLSL ES 3.0): the row's threshold τ (keep z ≥ τ) by a search on the
// order key of the logits, with exact integer masses, in fixed shapes and without a read-back.
// With q_i = exp((z_i − zmax)·1/T) over the finite logits ≥ a floor (an earlier top-k), the kept
// set is {z ≥ τ}, τ the largest key K whose mass M(K) = Σ{ q_i : key_i ≥ K } reaches p · total
// (the mass strictly above τ is below the target, the mass from τ on reaches it; ties of τ kept).
//
// Masses are integers in units of 2^-32 (q ≤ 1 rounded to the nearest unit, as two 16-bit limbs),
// so window sums are exact float32 integers and row sums exact uint limbs: no float summation
// order, no error-free transformation a GLSL compiler could reassociate. The target is
// ceil(total · P / 2^48), P = p rounded to 48 bits, compared as an integer.
//
// The search keeps a key interval [lo, hi] with M(lo) ≥ target > M(hi + 1), from [the least
// counted logit, zmax]. Each round tests one candidate in (lo, hi]: the value midpoint in the
// first rounds (on dense rows each halves the logits left inside), then the key midpoint (32 of
// those end any search). WebGL2 has no workgroup memory or atomics, so a round is one program
// over windows of G logits with a packed vec4 per window (its mass from the candidate up, that
// count, its count inside the interval), one per-row reduction and one per-row state update. A
// window with no logit left inside is not read: on flat rows the first ~6 rounds read the row,
// later ones a shrinking part of it.
import * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { registerWebglKernels } from './register.js';
import { KEY_GLSL as ORDER_KEY_GLSL } from './kth-largest.js';

export const WEBGL_TOP_P_KERNEL = 'TfjsSamplingTopPBisect';
/** Logits per window. */
const G = 256;
/** Columns of the per-row search state. */
const STATE = 13;

/**
 * Rounds whose candidate is the value midpoint of the interval (on dense rows each halves the
 * logits left in it); then key midpoints, of which 32 end any search.
 */
const VALUE_ROUNDS = 8;
const ROUNDS = VALUE_ROUNDS + 32;
const KEY_GLSL = `${ORDER_KEY_GLSL}
// The float of a key, clamped to the finite range (keys past -FLT_MAX or +FLT_MAX are no logit's).
float keyValue(uint k) {
  if (k <= 0x00800000u) return -3.4028234663852886e38;
  if (k >= 0xff7fffffu) return 3.4028234663852886e38;
  return uintBitsToFloat((k & 0x80000000u) != 0u ? (k & 0x7fffffffu) : ~k);
}`;

/**
 * One round, per window of G logits, packed [B, W, 2, 2]: the mass limbs (high, low) and the
 * count of its counted logits in the interval [lo, hi] from the candidate up, and its count in the
 * interval. `first`: the whole row: its mass, count and least counted logit.
 * params [B, 8]: floor, zmax, 1/T hi, 1/T lo, P limbs (high, middle, low), on.
 * state [B, 13] (keys as 16-bit halves): lo, hi, candidate, the last decision, the mass above hi
 * (3 limbs), the target (3 limbs).
 */
class RoundProgram implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  packedOutput = true;
  userCode: string;

  constructor(batch: number, vocab: number, first: boolean) {
    this.variableNames = first ? ['logits', 'params'] : ['logits', 'params', 'state', 'prev'];
    this.outputShape = [batch, Math.ceil(vocab / G), 2, 2];
    // Windows with nothing left in the interval read only the decision and their two counts.
    const gate = first ? `getParams(b, 7) > 0.0` : `(getState(b, 6) > 0.5 ? getPrev(b, w, 1, 0) : getPrev(b, w, 1, 1) - getPrev(b, w, 1, 0)) > 0.0`;
    const setup = first
      ? `
    const bool read = true;`
      : `
    uint lo = stateKey(getState(b, 0), getState(b, 1));
    uint hi = stateKey(getState(b, 2), getState(b, 3));
    uint cand = stateKey(getState(b, 4), getState(b, 5));
    bool read = lo < hi; // off, empty and finished rows: lo = hi`;
    this.userCode = `${KEY_GLSL}
void main() {
  ivec4 c = getOutputCoords();
  int b = c.x;
  int w = c.y;
  float mh = 0.0, ml = 0.0, nUp = 0.0, last = ${first ? '3.4028234663852886e38' : '0.0'};
  if (${gate}) {
    ${setup}
    float floorZ = getParams(b, 0);
    float zmax = getParams(b, 1);
    float ihH = getParams(b, 2);
    float ihL = getParams(b, 3);
    float dFloor = max(-3.4028234663852886e38, -2048.0 / ihH);
    if (read) {
      // Four logits a step, branch-free (SwiftShader runs both sides of a divergent branch).
      for (int i = 0; i < ${G}; i += 4) {
        int j = w * ${G} + i;
        if (j >= ${vocab}) break;
        bvec4 inside = lessThan(ivec4(j) + ivec4(0, 1, 2, 3), ivec4(${vocab}));
        vec4 z = vec4(getLogits(b, j), getLogits(b, min(j + 1, ${vocab - 1})), getLogits(b, min(j + 2, ${vocab - 1})), getLogits(b, min(j + 3, ${vocab - 1})));
        ${
          first
            ? `// NaN and ±Infinity fail (the bounds are finite).
        bvec4 counted = bvec4(uvec4(inside) & uvec4(greaterThanEqual(z, vec4(floorZ))) & uvec4(lessThanEqual(z, vec4(3.4028234663852886e38))));
        vec4 mz = mix(vec4(3.4028234663852886e38), z, counted);
        last = min(last, min(min(mz.x, mz.y), min(mz.z, mz.w)));
        bvec4 up = counted;`
            : `// Keys, not floats: exact at ±0 and denormals. lo ≥ the least counted key, hi ≤ zmax's:
        // the interval holds only finite logits ≥ the floor.
        uvec4 u = floatBitsToUint(z);
        u &= ~(uvec4(equal(u, uvec4(0x80000000u))) * 0x80000000u); // -0 as +0
        uvec4 neg = uvec4(0u) - (u >> 31u); // all ones where negative
        uvec4 k = (~u & neg) | ((u | 0x80000000u) & ~neg);
        bvec4 counted = bvec4(uvec4(inside) & uvec4(greaterThanEqual(k, uvec4(lo))) & uvec4(lessThanEqual(k, uvec4(hi))));
        last += dot(vec4(counted), vec4(1.0));
        bvec4 up = bvec4(uvec4(counted) & uvec4(greaterThanEqual(k, uvec4(cand))));`
        }
        // d clamped where its mass is 0 anyway (d·1/T < -2048), as scaleByInvTemperature does, and
        // to a finite value: z − zmax can overflow to -Infinity, and -Infinity · ihL is NaN or +Infinity.
        vec4 d = max(mix(vec4(0.0), z - zmax, up), vec4(dFloor));
        vec4 sc = exp(d * ihH + d * ihL) * 65536.0;
        vec4 h = floor(sc);
        vec4 on = vec4(up);
        mh += dot(h, on);
        ml += dot(floor((sc - h) * 65536.0 + 0.5), on);
        nUp += dot(on, vec4(1.0));
      }
    }
  }
  setOutput(vec4(mh, ml, nUp, last));
}
`;
  }
}

/**
 * Per row, the rounds' window masses summed exactly: packed [B, 2, 2] = (limb 0, limb 1, limb 2,
 * the least of the windows' last channel), 16-bit limbs (the top one wider).
 */
class ReduceProgram implements GPGPUProgram {
  variableNames = ['prev'];
  outputShape: number[];
  packedInputs = true;
  packedOutput = true;
  userCode: string;

  constructor(batch: number, vocab: number) {
    this.outputShape = [batch, 2, 2];
    this.userCode = `
void main() {
  int b = getOutputCoords().x;
  uint a0 = 0u, a1 = 0u, a2 = 0u;
  float least = 3.4028234663852886e38;
  for (int w = 0; w < ${Math.ceil(vocab / G)}; w++) {
    vec4 v = getPrev(b, w, 0, 0);
    a0 += uint(v.g);
    a1 += uint(v.r) + (a0 >> 16u);
    a0 &= 0xffffu;
    a2 += a1 >> 16u;
    a1 &= 0xffffu;
    least = min(least, v.a);
  }
  setOutput(vec4(float(a0), float(a1), float(a2), least));
}
`;
  }
}

/** The next candidate in (lo, hi]: the value midpoint in the first rounds, then the key midpoint (32 of those always end the search). */
const NEXT_GLSL = `
uint nextCandidate(uint lo, uint hi, int round) {
  if (lo >= hi) return hi;
  uint c = lo + ((hi - lo) >> 1u) + 1u;
  if (round < VALUE_ROUNDS) {
    float m = keyValue(lo) * 0.5 + keyValue(hi) * 0.5;
    c = clamp(orderKey(m), lo + 1u, hi);
  }
  return c;
}`;

/**
 * The state after a round ([B, 13], see RoundProgram). `first`: from the total mass S, the target
 * T = max(1, ceil(S · P / 2^48)), the interval [least counted logit, zmax]. Else M = mass above +
 * the round's sum: where M ≥ T the candidate becomes lo, else M becomes the mass above and the
 * candidate − 1 hi. Then the next candidate (uniform `round`: the next round's index).
 */
class UpdateProgram implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  customUniforms = [{ name: 'round', type: 'int' as const }];
  userCode: string;

  constructor(batch: number, first: boolean, valueRounds: number) {
    this.variableNames = first ? ['params', 'sums'] : ['state', 'sums'];
    this.outputShape = [batch, STATE];
    // S · P: S as 16-bit limbs S0..S3, P as P0..P2, columns of 16 bits with carries.
    const products = [0, 1, 2, 3]
      .flatMap((i) => [0, 1, 2].map((j) => `pr = S${i} * P${j}; C${i + j} += pr & 0xffffu; C${i + j + 1} += pr >> 16u;`))
      .join('\n    ');
    const carries = [0, 1, 2, 3, 4, 5].map((k) => `C${k + 1} += C${k} >> 16u; C${k} &= 0xffffu;`).join('\n    ');
    const body = first
      ? `
    uint S0 = s0, S1 = s1, S2 = s2 & 0xffffu, S3 = s2 >> 16u;
    uint P0 = uint(getParams(b, 6)), P1 = uint(getParams(b, 5)), P2 = uint(getParams(b, 4));
    uint C0 = 0u, C1 = 0u, C2 = 0u, C3 = 0u, C4 = 0u, C5 = 0u, C6 = 0u, pr;
    ${products}
    ${carries}
    uint t0 = C3, t1 = C4, t2 = C5 | (C6 << 16u);
    if ((C0 | C1 | C2) != 0u) {
      t0 += 1u;
      t1 += t0 >> 16u;
      t0 &= 0xffffu;
      t2 += t1 >> 16u;
      t1 &= 0xffffu;
    }
    if ((t0 | t1 | t2) == 0u) t0 = 1u;
    // Nothing counted (an empty or invalid row): lo = hi = 0, no logit's key.
    bool any = getSums(b, 1, 1) <= getParams(b, 1);
    uint lo = any ? orderKey(getSums(b, 1, 1)) : 0u;
    uint hi = any ? orderKey(getParams(b, 1)) : 0u;
    uint cand = nextCandidate(lo, hi, 0);
    float v[${STATE}] = float[${STATE}](float(lo >> 16u), float(lo & 0xffffu), float(hi >> 16u), float(hi & 0xffffu),
      float(cand >> 16u), float(cand & 0xffffu), 1.0, 0.0, 0.0, 0.0, float(t0), float(t1), float(t2));
    setOutput(v[col]);`
      : `
    uint lo = stateKey(getState(b, 0), getState(b, 1));
    uint hi = stateKey(getState(b, 2), getState(b, 3));
    if (lo >= hi) {
      setOutput(getState(b, col));
      return;
    }
    uint cand = stateKey(getState(b, 4), getState(b, 5));
    uint m0 = uint(getState(b, 7)) + s0;
    uint m1 = uint(getState(b, 8)) + s1 + (m0 >> 16u);
    m0 &= 0xffffu;
    uint m2 = uint(getState(b, 9)) + s2 + (m1 >> 16u);
    m1 &= 0xffffu;
    uint t0 = uint(getState(b, 10)), t1 = uint(getState(b, 11)), t2 = uint(getState(b, 12));
    bool reach = m2 > t2 || (m2 == t2 && (m1 > t1 || (m1 == t1 && m0 >= t0)));
    if (reach) lo = cand;
    else hi = cand - 1u;
    uint next = nextCandidate(lo, hi, round);
    float v[${STATE}] = float[${STATE}](float(lo >> 16u), float(lo & 0xffffu), float(hi >> 16u), float(hi & 0xffffu),
      float(next >> 16u), float(next & 0xffffu), reach ? 1.0 : 0.0,
      reach ? getState(b, 7) : float(m0), reach ? getState(b, 8) : float(m1), reach ? getState(b, 9) : float(m2),
      getState(b, 10), getState(b, 11), getState(b, 12));
    setOutput(v[col]);`;
    this.userCode = `${KEY_GLSL}
#define VALUE_ROUNDS ${valueRounds}
${NEXT_GLSL}
void main() {
  ivec2 c = getOutputCoords();
  int b = c.x;
  int col = c.y;
  uint s0 = uint(getSums(b, 0, 0)), s1 = uint(getSums(b, 0, 1)), s2 = uint(getSums(b, 1, 0));
  ${body}
}
`;
  }
}

/** τ from the state's key: [B]; -FLT_MAX (keep all) where the row is off or had nothing to count. */
class ValueProgram implements GPGPUProgram {
  variableNames = ['params', 'state'];
  outputShape: number[];
  userCode = `
void main() {
  int b = getOutputCoords();
  uint p = (uint(getState(b, 0)) << 16u) | uint(getState(b, 1));
  uint u = (p & 0x80000000u) != 0u ? (p & 0x7fffffffu) : ~p;
  setOutput(getParams(b, 7) > 0.0 && p != 0u ? uintBitsToFloat(u) : -3.4028234663852886e38);
}
`;

  constructor(batch: number) {
    this.outputShape = [batch];
  }
}

interface Inputs {
  logits: tf.TensorInfo;
  /** float32 [B, 8]: floor, zmax, 1/T hi, 1/T lo, P limbs (high, middle, low: P = p · 2^48 rounded), on (1) or off (0). */
  params: tf.TensorInfo;
}

function topPBisect(backend: MathBackendWebGL, { logits, params }: Inputs): tf.TensorInfo {
  const [batch, vocab] = logits.shape as [number, number];
  const reduce = new ReduceProgram(batch, vocab);
  const run = (program: GPGPUProgram, inputs: tf.TensorInfo[]): tf.TensorInfo => backend.runWebGLProgram(program, inputs, 'float32');
  const free = (...t: tf.TensorInfo[]): void => t.forEach((x) => backend.disposeIntermediateTensorInfo(x));
  let prev = run(new RoundProgram(batch, vocab, true), [logits, params]);
  let sums = run(reduce, [prev]);
  let state = backend.runWebGLProgram(new UpdateProgram(batch, true, VALUE_ROUNDS), [params, sums], 'float32', [[0]]);
  free(sums);
  const round = new RoundProgram(batch, vocab, false);
  const update = new UpdateProgram(batch, false, VALUE_ROUNDS);
  for (let r = 1; r <= ROUNDS; r++) {
    const next = run(round, [logits, params, state, prev]);
    free(prev);
    prev = next;
    sums = run(reduce, [prev]);
    const after = backend.runWebGLProgram(update, [state, sums], 'float32', [[r]]);
    free(sums, state);
    state = after;
  }
  const out = run(new ValueProgram(batch), [params, state]);
  free(prev, state);
  return out;
}

/** Row params of the kernel ([B, 8]) from the floor `[B, 1]`, zmax `[B, 1]`, the filters' 1/T pair and p per row. */
export function topPBisectParams(floor: tf.Tensor, zmax: tf.Tensor, ihH: tf.Tensor, ihL: tf.Tensor, P: Float64Array): tf.Tensor2D {
  const batch = P.length;
  const limbs = new Float32Array(batch * 4);
  for (let r = 0; r < batch; r++) {
    const p = P[r]!;
    const on = p < 1;
    const q = on ? Math.min(Math.round(p * 2 ** 48), 2 ** 48 - 1) : 0;
    limbs.set([Math.floor(q / 2 ** 32), Math.floor(q / 2 ** 16) % 2 ** 16, q % 2 ** 16, on ? 1 : 0], 4 * r);
  }
  return tf.concat([tf.reshape(floor, [batch, 1]), tf.reshape(zmax, [batch, 1]), ihH, ihL, tf.tensor2d(limbs, [batch, 4])], 1) as tf.Tensor2D;
}

/** Registers the kernel for 'webgl' (WebGL2 with float32 textures). */
export function registerWebglTopP(): boolean {
  return registerWebglKernels({ [WEBGL_TOP_P_KERNEL]: (backend, inputs) => topPBisect(backend, inputs as unknown as Inputs) });
}
