// A row-local scatter-add for webgl: out[b, j] = Σ values[b, i] over the i with tokens[b, i] = j.
// tfjs's webgl scatterND loops, for every output element, over every update: B·V·B·W steps for a
// [B, W] → [B, V] scatter (DRY's window of 4,096 tokens at V = 128256: ~10¹² at B = 64). Here each
// row's W tokens are sorted once (a bitonic network of index permutations: ⌈log₂W⌉·(⌈log₂W⌉+1)/2
// passes over [B, W], one program with the pass as uniforms); a directory of the sorted keys
// per bucket of 64 token ids narrows each output element's binary search to its bucket's few
// window tokens: O(B·W·log²W + B·(V/64)·log W + B·V·log(per-bucket)). Duplicates are summed in sorted order, so
// the result equals scatterND's bit for bit when each token's values are integers or all but one
// are zero — the only uses here (hit flags, DRY's one value per token).
import * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { hasKernels } from './registry.js';

export const ROW_SCATTER = 'TfjsSamplingRowScatter';

/** keys[b, i]: the token where it is a vocabulary index, else V (sorts last); padding columns V. */
class KeyProgram implements GPGPUProgram {
  variableNames = ['tokens'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, W: number, Wp: number, V: number) {
    this.outputShape = [B, Wp];
    this.userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  float t = rc.y < ${W} ? getTokens(rc.x, rc.y) : -1.0;
  setOutput(t >= 0.0 && t < ${V}.0 ? t : ${V}.0);
}`;
  }
}

/** The identity permutation. */
class IotaProgram implements GPGPUProgram {
  variableNames: string[] = [];
  outputShape: number[];
  userCode = `
void main() {
  setOutput(float(getOutputCoords().y));
}`;
  constructor(B: number, Wp: number) {
    this.outputShape = [B, Wp];
  }
}

/** One compare-exchange pass (k, j) of the bitonic network, on the permutation. */
class PassProgram implements GPGPUProgram {
  variableNames = ['perm', 'keys'];
  outputShape: number[];
  customUniforms = [
    { name: 'k', type: 'int' as const },
    { name: 'j', type: 'int' as const },
  ];
  userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  int i = rc.y;
  int p = i ^ j;
  float a = getPerm(b, i);
  float c = getPerm(b, p);
  float ka = getKeys(b, int(a));
  float kc = getKeys(b, int(c));
  bool aFirst = ka < kc || (ka == kc && a < c);
  bool up = (i & k) == 0;
  bool lower = i < p;
  setOutput((up == aFirst) == lower ? a : c);
}`;
  constructor(B: number, Wp: number) {
    this.outputShape = [B, Wp];
  }
}

/** The keys in sorted order: sorted[b, i] = keys[b, perm[b, i]] (one fetch a search step, not two). */
class SortedKeysProgram implements GPGPUProgram {
  variableNames = ['perm', 'keys'];
  outputShape: number[];
  userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  setOutput(getKeys(rc.x, int(getPerm(rc.x, rc.y))));
}`;
  constructor(B: number, Wp: number) {
    this.outputShape = [B, Wp];
  }
}

/** Tokens per directory bucket: the search of token j starts from its bucket's bounds. */
const BUCKET = 64;

/** bounds[b, c]: the first sorted position whose key is ≥ c·BUCKET (c = 0 … ⌈V/BUCKET⌉). */
class BoundsProgram implements GPGPUProgram {
  variableNames = ['sorted'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, Wp: number, V: number) {
    this.outputShape = [B, Math.ceil(V / BUCKET) + 1];
    const steps = Math.ceil(Math.log2(Wp)) + 1;
    this.userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  float t = float(rc.y * ${BUCKET});
  int lo = 0;
  int hi = ${Wp};
  for (int s = 0; s < ${steps}; s++) {
    if (lo >= hi) break;
    int mid = (lo + hi) / 2;
    if (getSorted(b, mid) < t) lo = mid + 1; else hi = mid;
  }
  setOutput(float(lo));
}`;
  }
}

/**
 * out[b, j]: the first sorted key ≥ j, searched between the bounds of j's bucket (a few
 * window tokens at most, typically), then the sum of that key's run in sorted order.
 */
class SearchProgram implements GPGPUProgram {
  variableNames = ['perm', 'sorted', 'values', 'bounds'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, Wp: number, V: number) {
    this.outputShape = [B, V];
    const steps = Math.ceil(Math.log2(Wp)) + 1;
    this.userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  float j = float(rc.y);
  int c = rc.y / ${BUCKET};
  int lo = int(getBounds(b, c));
  int hi = int(getBounds(b, c + 1));
  for (int s = 0; s < ${steps}; s++) {
    if (lo >= hi) break;
    int mid = (lo + hi) / 2;
    if (getSorted(b, mid) < j) lo = mid + 1; else hi = mid;
  }
  float sum = 0.0;
  for (int q = 0; q < ${Wp}; q++) {
    if (lo + q >= ${Wp}) break;
    if (getSorted(b, lo + q) != j) break;
    sum += getValues(b, int(getPerm(b, lo + q)));
  }
  setOutput(sum);
}`;
  }
}

function runRowScatter(backend: MathBackendWebGL, tokens: tf.TensorInfo, values: tf.TensorInfo, V: number): tf.TensorInfo {
  const [B, W] = tokens.shape as [number, number];
  const Wp = 2 ** Math.ceil(Math.log2(Math.max(W, 2)));
  const temps: tf.TensorInfo[] = [];
  try {
    const keys = backend.runWebGLProgram(new KeyProgram(B, W, Wp, V), [tokens], 'float32');
    temps.push(keys);
    let perm = backend.runWebGLProgram(new IotaProgram(B, Wp), [], 'float32');
    const pass = new PassProgram(B, Wp);
    for (let k = 2; k <= Wp; k *= 2) {
      for (let j = k / 2; j >= 1; j /= 2) {
        const next = backend.runWebGLProgram(pass, [perm, keys], 'float32', [[k], [j]]);
        backend.disposeIntermediateTensorInfo(perm);
        perm = next;
      }
    }
    temps.push(perm);
    const sorted = backend.runWebGLProgram(new SortedKeysProgram(B, Wp), [perm, keys], 'float32');
    temps.push(sorted);
    const bounds = backend.runWebGLProgram(new BoundsProgram(B, Wp, V), [sorted], 'float32');
    temps.push(bounds);
    return backend.runWebGLProgram(new SearchProgram(B, Wp, V), [perm, sorted, values, bounds], 'float32');
  } finally {
    for (const t of temps) backend.disposeIntermediateTensorInfo(t);
  }
}

let registered: boolean | undefined;

/** Registers the kernel on webgl 2; false where it cannot (then callers use tf.scatterND). */
export function registerRowScatter(): boolean {
  if (registered !== undefined) return registered;
  try {
    registered = tf.findBackend('webgl') !== undefined && tf.env().getNumber('WEBGL_VERSION') === 2;
    if (registered && !tf.getKernel(ROW_SCATTER, 'webgl')) {
      tf.registerKernel({
        kernelName: ROW_SCATTER,
        backendName: 'webgl',
        kernelFunc: ({ inputs, backend, attrs }) =>
          runRowScatter(backend as unknown as MathBackendWebGL, inputs.tokens!, inputs.values!, (attrs as { vocab: number }).vocab),
      });
    }
  } catch {
    registered = false;
  }
  return registered;
}

/**
 * `[B, V]` float32: out[b, j] = Σ values[b, i] over tokens[b, i] = j (tokens int32 `[B, W]`,
 * values float32 `[B, W]`; tokens outside [0, V) add nothing). One sort and one search on webgl;
 * tf.scatterND elsewhere (linear there). Exact where each token's values are integers or all but
 * one are zero.
 */
export function rowScatterAdd(tokens: tf.Tensor2D, values: tf.Tensor2D, vocab: number): tf.Tensor2D {
  const [B, W] = tokens.shape;
  if (tf.getBackend() === 'webgl' && W > 0 && hasKernels('rowScatter', 'webgl')) {
    return tf.engine().runKernel(ROW_SCATTER, { tokens, values }, { vocab } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  }
  return tf.tidy(() => {
    const valid = tf.logicalAnd(tf.greaterEqual(tokens, 0), tf.less(tokens, vocab));
    const rows = tf.broadcastTo(tf.reshape(tf.range(0, B, 1, 'int32'), [B, 1]), [B, W]);
    const safe = tf.where(valid, tokens, tf.zerosLike(tokens));
    const idx = tf.reshape(tf.stack([rows, safe], 2), [B * W, 2]);
    const v = tf.where(valid, values, tf.zerosLike(values));
    return tf.scatterND(idx, tf.reshape(v, [B * W]), [B, vocab]) as tf.Tensor2D;
  });
}
