// webgl: the penalty window of each row as a sorted directory, so that the penalties read a
// row's counts without a [B, V] counts tensor. webgl cannot write in place: a dense count kept
// per token costs a full copy per scope at every accept, and a full read in the penalties' pass.
// Here each row keeps its window's entries as sorted keys (key = 2·token + 1 for a generated
// token, 2·token for a prompt token), the first sorted position of every bucket of 16 tokens
// (`bounds`) and a 16-bit occupancy word per bucket (`occ`). An accept removes the leaving
// key and inserts the new one: O(B·W) for the keys, O(B·V/16) for bounds and occupancy. A
// token's counts are then one occupancy fetch (most tokens: not in the window) or three binary
// searches within its bucket. Keys are float32 texels: exact while 32·⌈V/16⌉ < 2^24.
import * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';

export const WINDOW_UPDATE = 'TfjsSamplingWindowUpdate';
export const WINDOW_COUNTS = 'TfjsSamplingWindowCounts';

/** Tokens per bucket: one 16-bit occupancy word (exact as a float texel). */
const BUCKET = 16;

/** The three tensors of a row window directory (float32 texels; see the file comment). */
export type WindowDirectory = {
  /** `[B, W]` sorted keys, padded with {@link emptyKey}. */
  sorted: tf.Tensor2D;
  /** `[B, C + 1]`, C = ⌈V/16⌉: the first sorted position whose key is ≥ 32·c. */
  bounds: tf.Tensor2D;
  /** `[B, C]`: bit t set when token 16·c + t has an entry. */
  occ: tf.Tensor2D;
};

export const buckets = (V: number): number => Math.ceil(V / BUCKET);
/** The padding key: at or above every bucket's start, so it never enters a bucket. */
export const emptyKey = (V: number): number => 2 * BUCKET * buckets(V);
/** Whether the keys of a vocabulary are exact float32 integers. */
export const directoryFits = (V: number): boolean => emptyKey(V) < 2 ** 24;

/** Host arrays of a directory from each row's keys (the sampler's seed from the prompts). */
export function directoryArrays(rows: readonly (readonly number[])[], V: number, W: number): { sorted: Float32Array; bounds: Float32Array; occ: Float32Array } {
  const B = rows.length;
  const C = buckets(V);
  const sorted = new Float32Array(B * W).fill(emptyKey(V));
  const bounds = new Float32Array(B * (C + 1));
  const occ = new Float32Array(B * C);
  rows.forEach((keys, r) => {
    if (keys.length >= W) throw new Error(`internal: ${keys.length} window entries in a directory of ${W}`);
    const s = [...keys].sort((a, b) => a - b);
    sorted.set(s, r * W);
    let p = 0;
    for (let c = 0; c <= C; c++) {
      while (p < s.length && s[p]! < 2 * BUCKET * c) p++;
      bounds[r * (C + 1) + c] = p;
    }
    const bits = new Uint16Array(C);
    for (const k of s) bits[k >> 5]! |= 1 << ((k >> 1) & 15);
    occ.set(bits, r * C);
  });
  return { sorted, bounds, occ };
}

/** log2 steps of a binary search over W keys. */
const steps = (W: number): number => Math.ceil(Math.log2(W)) + 1;

/**
 * GLSL: `dirLowerBound(b, lo, hi, key)`, the first position in [lo, hi) of row b whose key is
 * ≥ key (hi if none), and `dirCounts(b, j)`: token j's entries (x: all, y: generated).
 * Needs samplers `sorted`, `bounds`, `occ`.
 */
export function directoryLookupGlsl(W: number): string {
  return `
int dirLowerBound(int b, int lo, int hi, float key) {
  for (int s = 0; s < ${steps(W)}; s++) {
    if (lo >= hi) break;
    int mid = (lo + hi) / 2;
    if (getSorted(b, mid) < key) lo = mid + 1; else hi = mid;
  }
  return lo;
}
vec2 dirCounts(int b, int j) {
  int c = j >> 4;
  if (((int(getOcc(b, c)) >> (j & 15)) & 1) == 0) return vec2(0.0);
  int lo = int(getBounds(b, c));
  int hi = int(getBounds(b, c + 1));
  int a = dirLowerBound(b, lo, hi, float(2 * j));
  int g = dirLowerBound(b, a, hi, float(2 * j + 1));
  int e = dirLowerBound(b, g, hi, float(2 * j + 2));
  return vec2(float(e - a), float(e - g));
}
`;
}

/** Per row: [the position of the key removed (-1: none), where the new key goes (-1: none)]. */
class PositionsProgram implements GPGPUProgram {
  variableNames = ['sorted', 'remove', 'insert'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, W: number) {
    this.outputShape = [B, 2];
    this.userCode = `
int lowerBound(int b, float key) {
  int lo = 0;
  int hi = ${W};
  for (int s = 0; s < ${steps(W)}; s++) {
    if (lo >= hi) break;
    int mid = (lo + hi) / 2;
    if (getSorted(b, mid) < key) lo = mid + 1; else hi = mid;
  }
  return lo;
}
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  float x = getRemove(b);
  float y = getInsert(b);
  int px = -1;
  if (x >= 0.0) {
    int p = lowerBound(b, x);
    if (p < ${W} && getSorted(b, p) == x) px = p;
  }
  if (rc.y == 0) {
    setOutput(float(px));
  } else {
    setOutput(y >= 0.0 ? float(lowerBound(b, y) - (px >= 0 && x < y ? 1 : 0)) : -1.0);
  }
}`;
  }
}

/** The keys after the removal and the insertion (one fragment a position). */
class ShiftProgram implements GPGPUProgram {
  variableNames = ['sorted', 'pos', 'insert'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, W: number, empty: number) {
    this.outputShape = [B, W];
    this.userCode = `
float afterRemoval(int b, int i, int px) {
  int k = px >= 0 && i >= px ? i + 1 : i;
  return k < ${W} ? getSorted(b, k) : ${empty}.0;
}
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  int i = rc.y;
  int px = int(getPos(b, 0));
  int py = int(getPos(b, 1));
  float v;
  if (py < 0 || i < py) v = afterRemoval(b, i, px);
  else if (i == py) v = getInsert(b);
  else v = afterRemoval(b, i - 1, px);
  setOutput(v);
}`;
  }
}

/** bounds − [a key below the bucket left] + [a key below the bucket came]. */
class BoundsProgram implements GPGPUProgram {
  variableNames = ['bounds', 'pos', 'remove', 'insert'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, C: number) {
    this.outputShape = [B, C + 1];
    this.userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  float start = float(${2 * BUCKET} * rc.y);
  float v = getBounds(b, rc.y);
  if (getPos(b, 0) >= 0.0 && getRemove(b) < start) v -= 1.0;
  if (getPos(b, 1) >= 0.0 && getInsert(b) < start) v += 1.0;
  setOutput(v);
}`;
  }
}

/** The occupancy words of the (at most two) buckets an accept touched, from the new keys. */
class OccupancyProgram implements GPGPUProgram {
  variableNames = ['occ', 'sorted', 'bounds', 'pos', 'remove', 'insert'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, C: number, W: number) {
    this.outputShape = [B, C];
    this.userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  int c = rc.y;
  bool touched = (getPos(b, 0) >= 0.0 && int(getRemove(b)) >> 5 == c) || (getPos(b, 1) >= 0.0 && int(getInsert(b)) >> 5 == c);
  if (!touched) {
    setOutput(getOcc(b, c));
    return;
  }
  int lo = int(getBounds(b, c));
  int hi = int(getBounds(b, c + 1));
  int bits = 0;
  for (int q = 0; q < ${W}; q++) {
    if (lo + q >= hi) break;
    bits |= 1 << ((int(getSorted(b, lo + q)) >> 1) & 15);
  }
  setOutput(float(bits));
}`;
  }
}

/** Dense counts of one scope (0: all entries, 1: generated ones), `[B, V]`. */
class CountsProgram implements GPGPUProgram {
  variableNames = ['sorted', 'bounds', 'occ'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, V: number, W: number, generated: boolean) {
    this.outputShape = [B, V];
    this.userCode = `${directoryLookupGlsl(W)}
void main() {
  ivec2 rc = getOutputCoords();
  setOutput(dirCounts(rc.x, rc.y).${generated ? 'y' : 'x'});
}`;
  }
}

function runUpdate(backend: MathBackendWebGL, inputs: tf.NamedTensorInfoMap, vocab: number): tf.TensorInfo[] {
  const { sorted, bounds, occ, remove, insert } = inputs as Record<string, tf.TensorInfo>;
  const [B, W] = sorted!.shape as [number, number];
  const C = buckets(vocab);
  const pos = backend.runWebGLProgram(new PositionsProgram(B, W), [sorted!, remove!, insert!], 'float32');
  try {
    const nextSorted = backend.runWebGLProgram(new ShiftProgram(B, W, emptyKey(vocab)), [sorted!, pos, insert!], 'float32');
    const nextBounds = backend.runWebGLProgram(new BoundsProgram(B, C), [bounds!, pos, remove!, insert!], 'float32');
    const nextOcc = backend.runWebGLProgram(new OccupancyProgram(B, C, W), [occ!, nextSorted, nextBounds, pos, remove!, insert!], 'float32');
    return [nextSorted, nextBounds, nextOcc];
  } finally {
    backend.disposeIntermediateTensorInfo(pos);
  }
}

let registered: boolean | undefined;

/** Registers the directory's kernels on webgl 2; false where it cannot (the history then keeps dense counts). */
export function registerWindowDirectory(): boolean {
  if (registered !== undefined) return registered;
  try {
    registered = tf.findBackend('webgl') !== undefined && tf.env().getNumber('WEBGL_VERSION') === 2;
    if (registered && !tf.getKernel(WINDOW_UPDATE, 'webgl')) {
      tf.registerKernel({
        kernelName: WINDOW_UPDATE,
        backendName: 'webgl',
        kernelFunc: ({ inputs, backend, attrs }) => runUpdate(backend as unknown as MathBackendWebGL, inputs, (attrs as { vocab: number }).vocab),
      });
      tf.registerKernel({
        kernelName: WINDOW_COUNTS,
        backendName: 'webgl',
        kernelFunc: ({ inputs, backend, attrs }) => {
          const { vocab, generated } = attrs as unknown as { vocab: number; generated: boolean };
          const [B, W] = inputs.sorted!.shape as [number, number];
          return (backend as unknown as MathBackendWebGL).runWebGLProgram(new CountsProgram(B, vocab, W, generated), [inputs.sorted!, inputs.bounds!, inputs.occ!], 'float32');
        },
      });
    }
  } catch {
    registered = false;
  }
  return registered;
}

/**
 * The directory after one accept: `remove` and `insert` float32 `[B]` keys (-1: none). A removed
 * key that is not in the row is not removed; the caller keeps the keys below the capacity.
 */
export function updateDirectory(dir: WindowDirectory, remove: tf.Tensor1D, insert: tf.Tensor1D, vocab: number): WindowDirectory {
  const [sorted, bounds, occ] = tf.engine().runKernel(WINDOW_UPDATE, { sorted: dir.sorted, bounds: dir.bounds, occ: dir.occ, remove, insert }, { vocab } as unknown as tf.NamedAttrMap) as tf.Tensor2D[];
  return { sorted: sorted!, bounds: bounds!, occ: occ! };
}

/** float32 `[B, V]`: how many entries each token has in the window (all, or generated ones). */
export function directoryCounts(dir: WindowDirectory, vocab: number, generated: boolean): tf.Tensor2D {
  return tf.engine().runKernel(WINDOW_COUNTS, { sorted: dir.sorted, bounds: dir.bounds, occ: dir.occ }, { vocab, generated } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}
