// webgl: the penalty window of each row as a directory of its distinct tokens, so that the
// penalties read a row's counts without a [B, V] counts tensor. webgl cannot write in place: a
// dense count kept per token costs a full copy per scope at every accept, and a full read in the
// penalties' pass. Here each row keeps its window's distinct tokens in ascending order with their
// counts (all entries, generated entries), and per bucket of 16 token ids an occupancy word
// (bit t: token 16·c + t is in the window) and the index of the bucket's first token. A token's
// counts are then a fixed, loop-free lookup: its bucket's word and start, a 16-bit popcount, and
// the two counts at that index — which matters on SwiftShader, where a shader's loops and
// branches cost every fragment whether taken or not. An accept removes one entry and adds one:
// a token whose count drops to 0 leaves the list, a new one enters it (O(B·D) for the list,
// O(B·V/16) for starts and words). Token ids and counts are float32 texels: exact below 2^24.
import * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';

export const WINDOW_UPDATE = 'TfjsSamplingWindowUpdate';
export const WINDOW_COUNTS = 'TfjsSamplingWindowCounts';

/** Tokens per bucket: one 16-bit occupancy word (exact as a float texel). */
const BUCKET = 16;

/** The five tensors of a row window directory (float32 texels; see the file comment). */
export type WindowDirectory = {
  /** `[B, D]` each row's distinct window tokens, ascending, padded with {@link emptyToken}. */
  tokens: tf.Tensor2D;
  /** `[B, D]` how many window entries each token has (0 in padding). */
  all: tf.Tensor2D;
  /** `[B, D]` how many of them are generated tokens. */
  gen: tf.Tensor2D;
  /** `[B, C + 1]`, C = ⌈V/16⌉: the index of the first token ≥ 16·c. */
  start: tf.Tensor2D;
  /** `[B, C]`: bit t set when token 16·c + t is in the window. */
  occ: tf.Tensor2D;
};

export const buckets = (V: number): number => Math.ceil(V / BUCKET);
/** The padding token: past every bucket. */
export const emptyToken = (V: number): number => BUCKET * buckets(V);
/** Whether the ids of a vocabulary are exact float32 integers. */
export const directoryFits = (V: number): boolean => emptyToken(V) < 2 ** 24;

/**
 * Host arrays of a directory of capacity D from each row's window (token, generated) entries
 * (the sampler's seed from the prompts).
 */
export function directoryArrays(rows: readonly (readonly (readonly [number, boolean])[])[], V: number, D: number): Record<keyof WindowDirectory, Float32Array> {
  const B = rows.length;
  const C = buckets(V);
  const tokens = new Float32Array(B * D).fill(emptyToken(V));
  const all = new Float32Array(B * D);
  const gen = new Float32Array(B * D);
  const start = new Float32Array(B * (C + 1));
  const occ = new Float32Array(B * C);
  rows.forEach((entries, r) => {
    const counts = new Map<number, [number, number]>();
    for (const [t, g] of entries) {
      const c = counts.get(t) ?? [0, 0];
      c[0]++;
      if (g) c[1]++;
      counts.set(t, c);
    }
    const distinct = [...counts.keys()].sort((a, b) => a - b);
    if (distinct.length > D) throw new Error(`internal: ${distinct.length} distinct tokens in a directory of ${D}`);
    distinct.forEach((t, i) => {
      tokens[r * D + i] = t;
      [all[r * D + i], gen[r * D + i]] = counts.get(t)!;
      occ[r * C + (t >> 4)]! += 2 ** (t & 15);
    });
    let p = 0;
    for (let c = 0; c <= C; c++) {
      while (p < distinct.length && distinct[p]! < BUCKET * c) p++;
      start[r * (C + 1) + c] = p;
    }
  });
  return { tokens, all, gen, start, occ };
}

/** GLSL `int dirBelow(int w, int t)`: the set bits of the 16-bit word w below bit t (GLSL ES 3.0 has no bitCount). */
const BELOW_GLSL = `
int dirBelow(int w, int t) {
  int x = w & ((1 << t) - 1);
  x = x - ((x >> 1) & 0x5555);
  x = (x & 0x3333) + ((x >> 2) & 0x3333);
  x = (x + (x >> 4)) & 0x0f0f;
  return (x + (x >> 8)) & 0x1f;
}`;

/**
 * GLSL `vec2 dirCounts(int b, int j)`: token j's counts in row b's window (x: all, y: generated).
 * No loop and no branch: a word, a start, a popcount, two count fetches. Needs samplers
 * `dirAll`, `dirGen`, `dirStart`, `dirOcc`; `D` is the directory's width.
 */
export function directoryLookupGlsl(D: number): string {
  return `${BELOW_GLSL}
vec2 dirCounts(int b, int j) {
  int c = j >> 4;
  int w = int(getDirOcc(b, c));
  int i = min(int(getDirStart(b, c)) + dirBelow(w, j & 15), ${D - 1});
  bool present = ((w >> (j & 15)) & 1) == 1;
  return present ? vec2(getDirAll(b, i), getDirGen(b, i)) : vec2(0.0);
}
`;
}

/** The names of a directory's samplers in programs that read it (kernel inputs of the same names). */
export const DIRECTORY_NAMES = ['dirAll', 'dirGen', 'dirStart', 'dirOcc'];

/** The directory tensors a lookup reads, as kernel inputs named {@link DIRECTORY_NAMES}. */
export function directoryInputs(dir: WindowDirectory): tf.NamedTensorMap {
  return { dirAll: dir.all, dirGen: dir.gen, dirStart: dir.start, dirOcc: dir.occ };
}

/** GLSL: row b's index of token t (its position among the distinct tokens < t) and whether it is present. */
const INDEX_GLSL = `${BELOW_GLSL}
int indexOf(int b, int t) { return int(getStart(b, t >> 4)) + dirBelow(int(getOcc(b, t >> 4)), t & 15); }
bool presentIn(int b, int t) { return ((int(getOcc(b, t >> 4)) >> (t & 15)) & 1) == 1; }
`;

/**
 * Per row: [the index of the entry removed (-1: none), where the new token goes in the list
 * after the removal (-1: none)]. `remove`: the token leaving the window (-1: none), `removeGen`
 * 1 when it was generated; `insert`: the new token (-1: none). The leaving token's entry goes
 * when its count drops to 0 (unless the same token comes back); the new token's entry comes
 * when it was not there.
 */
class PlanProgram implements GPGPUProgram {
  variableNames = ['all', 'start', 'occ', 'remove', 'insert'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, D: number) {
    this.outputShape = [B, 2];
    this.userCode = `${INDEX_GLSL}
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  int x = int(getRemove(b));
  int y = int(getInsert(b));
  int px = -1;
  if (x >= 0 && presentIn(b, x) && x != y) {
    int i = indexOf(b, x);
    if (i < ${D} && getAll(b, i) == 1.0) px = i;
  }
  int py = -1;
  if (y >= 0 && !presentIn(b, y)) {
    py = indexOf(b, y);
    if (px >= 0 && px < py) py -= 1;
  }
  setOutput(float(rc.y == 0 ? px : py));
}`;
  }
}

/** The list after the removal and the insertion: tokens, or counts (`what` 1: all, 2: generated). */
class ShiftProgram implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
  constructor(B: number, D: number, empty: number, what: 0 | 1 | 2) {
    this.outputShape = [B, D];
    this.variableNames = what === 0 ? ['tokens', 'plan', 'remove', 'insert'] : ['tokens', 'counts', 'plan', 'remove', 'removeGen', 'insert'];
    // A count follows its token; the leaving token's counts drop, the new token's grow.
    const value =
      what === 0
        ? `k < ${D} ? getTokens(b, k) : ${empty}.0`
        : `k < ${D} ? getCounts(b, k) + (getTokens(b, k) == y ? 1.0 : 0.0) - (getTokens(b, k) == x ? ${what === 1 ? '1.0' : 'getRemoveGen(b)'} : 0.0) : 0.0`;
    this.userCode = `
float at(int b, int k, float x, float y) {
  return ${value};
}
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  int i = rc.y;
  int px = int(getPlan(b, 0));
  int py = int(getPlan(b, 1));
  float x = getRemove(b);
  float y = getInsert(b);
  int k = i;
  if (py >= 0 && i > py) k = i - 1;
  if (px >= 0 && k >= px) k += 1;
  setOutput(py >= 0 && i == py ? ${what === 0 ? 'y' : '1.0'} : at(b, k, x, y));
}`;
  }
}

/** start − [an entry below the bucket left] + [an entry below the bucket came]. */
class StartProgram implements GPGPUProgram {
  variableNames = ['start', 'plan', 'remove', 'insert'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, C: number) {
    this.outputShape = [B, C + 1];
    this.userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  float first = float(${BUCKET} * rc.y);
  float v = getStart(b, rc.y);
  if (getPlan(b, 0) >= 0.0 && getRemove(b) < first) v -= 1.0;
  if (getPlan(b, 1) >= 0.0 && getInsert(b) < first) v += 1.0;
  setOutput(v);
}`;
  }
}

/** The occupancy words: the removed token's bit cleared, the inserted token's bit set. */
class OccupancyProgram implements GPGPUProgram {
  variableNames = ['occ', 'plan', 'remove', 'insert'];
  outputShape: number[];
  userCode: string;
  constructor(B: number, C: number) {
    this.outputShape = [B, C];
    this.userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  int w = int(getOcc(b, rc.y));
  int x = int(getRemove(b));
  int y = int(getInsert(b));
  if (getPlan(b, 0) >= 0.0 && x >> 4 == rc.y) w &= ~(1 << (x & 15));
  if (getPlan(b, 1) >= 0.0 && y >> 4 == rc.y) w |= 1 << (y & 15);
  setOutput(float(w));
}`;
  }
}

/** Dense counts of one scope, `[B, V]`. */
class CountsProgram implements GPGPUProgram {
  variableNames = DIRECTORY_NAMES;
  outputShape: number[];
  userCode: string;
  constructor(B: number, V: number, D: number, generated: boolean) {
    this.outputShape = [B, V];
    this.userCode = `${directoryLookupGlsl(D)}
void main() {
  ivec2 rc = getOutputCoords();
  setOutput(dirCounts(rc.x, rc.y).${generated ? 'y' : 'x'});
}`;
  }
}

function runUpdate(backend: MathBackendWebGL, inputs: tf.NamedTensorInfoMap, vocab: number): tf.TensorInfo[] {
  const { tokens, all, gen, start, occ, remove, removeGen, insert } = inputs as Record<string, tf.TensorInfo>;
  const [B, D] = tokens!.shape as [number, number];
  const C = buckets(vocab);
  const plan = backend.runWebGLProgram(new PlanProgram(B, D), [all!, start!, occ!, remove!, insert!], 'float32');
  try {
    return [
      backend.runWebGLProgram(new ShiftProgram(B, D, emptyToken(vocab), 0), [tokens!, plan, remove!, insert!], 'float32'),
      backend.runWebGLProgram(new ShiftProgram(B, D, emptyToken(vocab), 1), [tokens!, all!, plan, remove!, removeGen!, insert!], 'float32'),
      backend.runWebGLProgram(new ShiftProgram(B, D, emptyToken(vocab), 2), [tokens!, gen!, plan, remove!, removeGen!, insert!], 'float32'),
      backend.runWebGLProgram(new StartProgram(B, C), [start!, plan, remove!, insert!], 'float32'),
      backend.runWebGLProgram(new OccupancyProgram(B, C), [occ!, plan, remove!, insert!], 'float32'),
    ];
  } finally {
    backend.disposeIntermediateTensorInfo(plan);
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
          const [B, D] = inputs.dirAll!.shape as [number, number];
          const ins = DIRECTORY_NAMES.map((n) => inputs[n]!);
          return (backend as unknown as MathBackendWebGL).runWebGLProgram(new CountsProgram(B, vocab, D, generated), ins, 'float32');
        },
      });
    }
  } catch {
    registered = false;
  }
  return registered;
}

/**
 * The directory after one accept: float32 `[B]` each, `remove` the token leaving the window (-1:
 * none) and `removeGen` 1 when it was a generated one, `insert` the new token (-1: none). The
 * caller keeps the distinct tokens within the capacity.
 */
export function updateDirectory(dir: WindowDirectory, remove: tf.Tensor1D, removeGen: tf.Tensor1D, insert: tf.Tensor1D, vocab: number): WindowDirectory {
  const out = tf.engine().runKernel(WINDOW_UPDATE, { ...dir, remove, removeGen, insert }, { vocab } as unknown as tf.NamedAttrMap) as tf.Tensor2D[];
  const [tokens, all, gen, start, occ] = out as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  return { tokens, all, gen, start, occ };
}

/** float32 `[B, V]`: how many entries each token has in the window (all, or generated ones). */
export function directoryCounts(dir: WindowDirectory, vocab: number, generated: boolean): tf.Tensor2D {
  return tf.engine().runKernel(WINDOW_COUNTS, directoryInputs(dir), { vocab, generated } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}
