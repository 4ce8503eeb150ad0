// The webgpu draw kernel (WGSL): ids[r] = the lowest index j maximising
//   scores[r, j] + scale[r] · g(keys[r], j),  g = −ln(−ln u),  u from mix32(key + j · 0x9e3779b9)
// with the same 32-bit hash as src/noise.ts, registered as the tfjs kernel GUMBEL_ARGMAX_KERNEL.
//
// Two passes, no read-back:
//   1. one workgroup per (row, slice of `chunk` tokens): each thread scans its strided tokens in
//      increasing order (strict >, so it keeps its lowest index among equal maxima), then a tree
//      reduction in workgroup memory with the exact (value desc, index asc) order writes one
//      (value bits, index) pair per slice;
//   2. one workgroup per row reduces that row's pairs with the same order.
// A row that fits in one slice skips pass 2 (pass 1 writes the ids directly).
//
// The noise is computed in f32 with a portable logarithm (below) instead of WGSL `log`, whose
// accuracy near 1 is only an absolute 2^-21: g = −ln(e) with e = −ln(u) tiny for u near 1 needs
// a relative accuracy, and so do the winners (large g). Both logs are within ≈1 ulp; over all
// 2^24 values of u, g is within 2 ulps of the float64 noise rounded to float32 where |g| ≥ 0.5
// and within 1e-6 absolutely everywhere (scratch check), so tokens differ from the reference only
// on near-exact ties of the two best perturbed scores.
//
// Two variants of pass 1, chosen by adapter:
//   - GPUs ('pruned'): masked tokens (−Infinity) are skipped before hashing, and for scale > 0
//     the hash alone bounds the noise — if the top n bits of h are ones and the next is a zero,
//     u < 1 − 2^−(n+1), so −ln u > 2^−(n+1) and g < (n+1)·ln 2 — so a token whose bound cannot
//     reach the thread's best so far is skipped exactly, before any logarithm.
//   - software adapters (SwiftShader; 'dense'): SIMD lanes run both sides of every branch under
//     a mask, so skipping saves nothing there and the branches cost: every token takes the same
//     straight-line path (s + scale·g is s for scale 0 and −Infinity for masked tokens, as g is
//     finite). Fewer, smaller workgroups too: each one is a CPU task, and its barriers switch
//     coroutines.
import { GUMBEL_ARGMAX_KERNEL } from '../kernel-names.js';
import * as tf from '@tensorflow/tfjs-core';

const KERNEL = GUMBEL_ARGMAX_KERNEL;
const BACKEND = 'webgpu';
/** Threads per workgroup of pass 2 (one workgroup per row). */
const WG2 = 64;

/** How pass 1 runs on one adapter. */
export interface WebgpuDrawConfig {
  /** Threads per pass-1 workgroup (a power of 2, 2 to 256); each takes every wg-th token of its slice. */
  wg: number;
  /** Pass 1 aims at about this many workgroups in all. */
  targetWorkgroups: number;
  /** Smallest slice per workgroup, in tokens per thread. */
  minItems: number;
  /** Skip masked tokens and tokens whose noise bound cannot win (GPUs), or not (software). */
  prune: boolean;
  /**
   * The GPU chain's top-p after top-k: the digit search over the row, one dispatch (GPUs, where a
   * step's cost is its dispatches), or the pair arithmetic over the sorted candidates as some 60
   * small tensor ops (software adapters, where reading the row again costs more). The same
   * threshold bit for bit.
   */
  topPSearch: boolean;
}

/** Hardware GPUs: enough workgroups of 256 threads to fill a large GPU. */
export const GPU_CONFIG: Readonly<WebgpuDrawConfig> = { wg: 256, targetWorkgroups: 1024, minItems: 8, prune: true, topPSearch: true };
/**
 * Software adapters. Measured on SwiftShader (Node/Dawn, 2 cores; [64, 32000] and [16, 128256]):
 * 256-thread workgroups × ~1024 take ≈ 10× the time of 64 × ~8, and the pruned loop ≈ 1.3× the
 * dense one.
 */
export const SOFTWARE_CONFIG: Readonly<WebgpuDrawConfig> = { wg: 64, targetWorkgroups: 8, minItems: 8, prune: false, topPSearch: false };

let override: WebgpuDrawConfig | undefined;
const configs = new WeakMap<object, WebgpuDrawConfig>();

/** Forces a configuration (benchmarks, tests); undefined goes back to choosing by adapter. */
export function setWebgpuDrawConfig(config: WebgpuDrawConfig | undefined): void {
  override = config ? { ...config } : undefined;
}

/** True for software adapters (SwiftShader, llvmpipe/lavapipe, other CPU fallbacks). */
function isSoftwareAdapter(backend: WebGPUBackendLike): boolean {
  const info = backend.adapterInfo;
  const text = `${info?.vendor ?? ''} ${info?.architecture ?? ''}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|software|cpu/.test(text);
}

/** The device's largest power-of-2 workgroup size up to 256 that pass 1 can use. */
export function maxWorkgroupSize(backend: WebGPUBackendLike): number {
  const limits = backend.device?.limits;
  const threads = Math.min(limits?.maxComputeInvocationsPerWorkgroup ?? 256, limits?.maxComputeWorkgroupSizeX ?? 256);
  const bytes = limits?.maxComputeWorkgroupStorageSize ?? 16384;
  let wg = 256;
  while (wg > 1 && (wg > threads || 8 * wg > bytes)) wg /= 2;
  return wg;
}

/** The configuration for this backend's adapter. */
export function webgpuDrawConfig(backend: object): WebgpuDrawConfig {
  const b = backend as WebGPUBackendLike;
  let config = override ?? configs.get(backend);
  if (!config) {
    if (isSoftwareAdapter(b)) {
      // One workgroup runs on one CPU thread: at least two per core where the core count is known.
      const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 0;
      config = { ...SOFTWARE_CONFIG, targetWorkgroups: Math.max(SOFTWARE_CONFIG.targetWorkgroups, 2 * cores) };
    } else {
      config = { ...GPU_CONFIG };
    }
    configs.set(backend, config);
  }
  const wg = Math.min(config.wg, maxWorkgroupSize(b));
  return wg === config.wg ? config : { ...config, wg };
}

// Minimal views of the tfjs webgpu backend (an optional dependency: not imported).
export interface ProgramUniform {
  type: 'int32' | 'float32' | 'uint32';
  data: number[];
}
export interface WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames: string[];
  uniforms?: string;
  getUserCode: () => string;
}
export interface WebGPUBackendLike {
  runWebGPUProgram(program: WebGPUProgramLike, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms?: ProgramUniform[], output?: tf.TensorInfo): tf.TensorInfo;
  /** Per tensor: `values`, the CPU copy a read caches (stale once a program writes the buffer in place). */
  tensorMap?: { get(dataId: object): { values: unknown } | undefined };
  incRef?(dataId: object): void;
  disposeData(dataId: object, force?: boolean): boolean;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  device?: { limits?: { maxComputeInvocationsPerWorkgroup?: number; maxComputeWorkgroupStorageSize?: number; maxComputeWorkgroupSizeX?: number } };
  adapterInfo?: { vendor?: string; architecture?: string };
}

/** A float32 constant, from its bits, as an exact WGSL f32 literal. */
function f32Bits(bits: number): string {
  const v = new Float32Array(new Uint32Array([bits]).buffer)[0]!;
  return `${v}f`;
}

/** A number rounded to float32, as a WGSL f32 literal. */
export function f32(v: number): string {
  return `${Math.fround(v)}f`;
}

// ln(1 + f) on [√½ − 1, √2 − 1]: s = f / (2 + f), ln(1 + f) = f − f²/2 + s·(f²/2 + R(s²)), with
// the classic single-precision minimax coefficients of R (Cody–Waite split of ln 2).
const LG1 = f32(0xaaaaaa * 2 ** -24); // ≈ 0.66666663
const LG2 = f32(0xccce13 * 2 ** -25); // ≈ 0.40000972
const LG3 = f32(0x91e9ee * 2 ** -25); // ≈ 0.28498787
const LG4 = f32(0xf89e26 * 2 ** -26); // ≈ 0.24279079
const LN2_HI = f32Bits(0x3f317180);
const LN2_LO = f32Bits(0x3717f7d1);

/**
 * The first pass's slice of a row (both draw kernels): workgroup `wg` takes `[start, end)` of row
 * `r` (`end` = `start` past the last row, so a spare workgroup reads nothing). `shape` names the
 * uniform with the input's `[rows, vocab]`.
 */
export function chunkRangeWgsl(shape: string): string {
  return `let lid = localId.x;
    let wg = gaWorkgroupIndex();
    let rows = u32(uniforms.${shape}.x);
    let vocab = u32(uniforms.${shape}.y);
    let chunks = u32(uniforms.numChunks);
    let chunk = u32(uniforms.chunkSize);
    let row = wg / chunks;
    let valid = row < rows;
    let r = min(row, rows - 1u);
    let start = (wg - row * chunks) * chunk;
    var end = min(start + chunk, vocab);
    if (!valid) {
      end = 0u;
    }`;
}

/**
 * The pruned scan's step for token `j` with score `s` (both draw kernels): its noise only when
 * it could still win — the Gumbel noise of hash h is below (clz(~h) + 1)·ln 2 (+ a margin), so a
 * token whose bound is ≤ bestV is skipped (ties go to the lower index, already held) — then the
 * running (bestV, bestI) update. Needs `noisy` (scale ≠ 0) and `bounded` (scale > 0).
 */
export function prunedDrawWgsl(): string {
  return `var v = s;
      if (noisy) {
        let h = gaMix(key + j * 0x9e3779b9u);
        if (bounded) {
          let n = min(countLeadingZeros(~h), 24u);
          if (s + sc * (f32(n + 1u) * ${f32(Math.LN2)} + 0.001f) <= bestV) {
            continue; // cannot beat the best so far, which has a lower index
          }
        }
        v = s + sc * gaGumbel(h);
      }
      if (v > bestV) {
        bestV = v;
        bestI = j;
      }`;
}

/** WGSL shared by both passes: the hash, the logarithm, the noise and the (value, index) order. */
export function commonCode(): string {
  return `
  fn gaMix(x0 : u32) -> u32 {
    var x = x0;
    x = x ^ (x >> 16u);
    x = x * 0x7feb352du;
    x = x ^ (x >> 15u);
    x = x * 0x846ca68bu;
    x = x ^ (x >> 16u);
    return x;
  }

  // k·ln 2 + ln(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1].
  fn gaLogCore(k : f32, f : f32) -> f32 {
    let s = f / (2.0f + f);
    let z = s * s;
    let w = z * z;
    let r = z * (${LG1} + w * ${LG3}) + w * (${LG2} + w * ${LG4});
    let hfsq = 0.5f * f * f;
    return s * (hfsq + r) + k * ${LN2_LO} - hfsq + f + k * ${LN2_HI};
  }

  // ln(x) for a positive normal finite x: x = 2^k · m, m in [sqrt(1/2), sqrt(2)).
  fn gaLog(x : f32) -> f32 {
    let ix = bitcast<u32>(x) + (0x3f800000u - 0x3f3504f3u);
    let k = f32(i32(ix >> 23u) - 127);
    let m = bitcast<f32>((ix & 0x007fffffu) + 0x3f3504f3u);
    return gaLogCore(k, m - 1.0f);
  }

  // Standard Gumbel noise of the hash h: u = ((h >> 8) + 1/2) · 2^-24, g = -ln(-ln u).
  // Branch-free: -ln u = -(k·ln 2 + ln(1 + f)) with (k, f) picked by select().
  fn gaGumbel(h : u32) -> f32 {
    let q = h >> 8u;
    // u <= 1/2 is exact in f32: reduce it like gaLog.
    let u = (f32(q) + 0.5f) * ${f32(2 ** -24)};
    let iu = bitcast<u32>(u) + (0x3f800000u - 0x3f3504f3u);
    let ku = f32(i32(iu >> 23u) - 127);
    let fu = bitcast<f32>((iu & 0x007fffffu) + 0x3f3504f3u) - 1.0f;
    // u > 1/2 is not exact in f32, but t = 1 - u is: u = 1 + (-t), or 2^-1 · (1 + (1 - 2t)).
    let t = (f32(0xffffffu - q) + 0.5f) * ${f32(2 ** -24)};
    let near = t <= ${f32(1 - Math.SQRT1_2)};
    let low = q < 0x800000u;
    let k = select(select(-1.0f, 0.0f, near), ku, low);
    let f = select(select(1.0f - 2.0f * t, -t, near), fu, low);
    let e = -gaLogCore(k, f);
    return -gaLog(e);
  }

  // (v, i) comes before (bv, bi): larger value, then lower index.
  fn gaBetter(v : f32, i : u32, bv : f32, bi : u32) -> bool {
    return v > bv || (v == bv && i < bi);
  }

  fn gaWorkgroupIndex() -> u32 {
    return workgroupId.x + numWorkgroups.x * (workgroupId.y + numWorkgroups.y * workgroupId.z);
  }
`;
}

/** Tree reduction of (gaV, gaI) in workgroup memory; the winner ends in slot 0. */
function treeReduce(size: number): string {
  return `
    gaV[lid] = bestV;
    gaI[lid] = bestI;
    workgroupBarrier();
    for (var stride = ${size / 2}u; stride > 0u; stride = stride >> 1u) {
      if (lid < stride) {
        let ov = gaV[lid + stride];
        let oi = gaI[lid + stride];
        if (gaBetter(ov, oi, gaV[lid], gaI[lid])) {
          gaV[lid] = ov;
          gaI[lid] = oi;
        }
      }
      workgroupBarrier();
    }`;
}

/** Pass 1: one workgroup per (row, slice). `direct`: one slice per row, write the ids. */
class SliceProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames = ['gaScores', 'gaKeys', 'gaScale'];
  uniforms = 'numChunks : i32, chunkSize : i32,';
  private direct: boolean;
  private wg: number;
  private prune: boolean;

  constructor(batch: number, chunks: number, config: WebgpuDrawConfig) {
    this.direct = chunks === 1;
    this.wg = config.wg;
    this.prune = config.prune;
    this.workgroupSize = [this.wg, 1, 1];
    this.outputShape = this.direct ? [batch] : [batch, 2 * chunks];
    this.dispatch = [batch * chunks, 1, 1];
    const mode = `${this.direct ? 'direct' : 'pairs'}_${this.prune ? 'pruned' : 'dense'}`;
    this.shaderKey = `tfjsSamplingGumbelArgmax_slice_${mode}_${this.wg}`;
  }

  /** The scan of one thread's tokens into (bestV, bestI). */
  private scan(): string {
    const WG = this.wg;
    if (!this.prune) {
      return `
    for (; j < end; j += ${WG}u) {
      let h = gaMix(key + j * 0x9e3779b9u);
      // scale 0: s + 0 = s; masked: -Infinity + finite = -Infinity; NaN never wins.
      let v = gaScores[base + j] + sc * gaGumbel(h);
      let better = v > bestV;
      bestV = select(bestV, v, better);
      bestI = select(bestI, j, better);
    }`;
    }
    return `
    let noisy = sc != 0.0f;
    let bounded = sc > 0.0f;
    for (; j < end; j += ${WG}u) {
      let s = gaScores[base + j];
      if (!(s > negInf)) {
        continue; // masked (-Infinity) or NaN: never ahead of (bestV, bestI)
      }
      ${prunedDrawWgsl()}
    }`;
  }

  getUserCode(): string {
    const write = this.direct
      ? `result[row] = i32(gaI[0]);`
      : `result[2u * wg] = bitcast<i32>(gaV[0]);
         result[2u * wg + 1u] = i32(gaI[0]);`;
    const WG = this.wg;
    return `
  ${commonCode()}
  var<workgroup> gaV : array<f32, ${WG}>;
  var<workgroup> gaI : array<u32, ${WG}>;

  fn main(index : i32) {
    ${chunkRangeWgsl('gaScoresShape')}
    let key = bitcast<u32>(gaKeys[r]);
    let sc = gaScale[r];
    let negInf = -uniforms.INFINITY;
    let base = r * vocab;

    var bestV = negInf;
    var bestI = 0xffffffffu;
    var j = start + lid;
    if (j < end) {
      bestI = j; // all -Infinity: the lowest index
    }
    ${this.scan()}
    ${treeReduce(WG)}
    if (lid == 0u && valid) {
      ${write}
    }
  }
`;
  }
}

/** Pass 2: one workgroup per row over that row's (value bits, index) pairs. */
class RowProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey = `tfjsSamplingGumbelArgmax_rows_${WG2}`;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG2, 1, 1];
  variableNames = ['gaPairs'];

  constructor(batch: number) {
    this.outputShape = [batch];
    this.dispatch = [batch, 1, 1];
  }

  getUserCode(): string {
    return `
  ${commonCode()}
  var<workgroup> gaV : array<f32, ${WG2}>;
  var<workgroup> gaI : array<u32, ${WG2}>;

  fn main(index : i32) {
    let lid = localId.x;
    let row = gaWorkgroupIndex();
    let rows = u32(uniforms.gaPairsShape.x);
    let chunks = u32(uniforms.gaPairsShape.y) / 2u;
    let valid = row < rows;
    var end = chunks;
    if (!valid) {
      end = 0u;
    }
    var bestV = -uniforms.INFINITY;
    var bestI = 0xffffffffu;
    for (var c = lid; c < end; c += ${WG2}u) {
      let at = 2u * (row * chunks + c);
      let v = bitcast<f32>(gaPairs[at]);
      let i = u32(gaPairs[at + 1u]);
      if (gaBetter(v, i, bestV, bestI)) {
        bestV = v;
        bestI = i;
      }
    }
    ${treeReduce(WG2)}
    if (lid == 0u && valid) {
      result[row] = i32(gaI[0]);
    }
  }
`;
  }
}

/** Tokens per pass-1 workgroup: a multiple of wg, ≥ wg · minItems, ~targetWorkgroups in all. */
export function sliceSize(batch: number, vocab: number, config: WebgpuDrawConfig): number {
  const perRow = Math.max(1, Math.ceil(config.targetWorkgroups / Math.max(1, batch)));
  const chunk = Math.ceil(vocab / perRow / config.wg) * config.wg;
  return Math.max(config.wg * config.minItems, chunk);
}

function gumbelArgmax(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as WebGPUBackendLike;
  const { scores, keys, scale } = args.inputs as { scores: tf.TensorInfo; keys: tf.TensorInfo; scale: tf.TensorInfo };
  if (scores.shape.length !== 2) throw new Error(`${KERNEL}: scores must be [B, V], got [${scores.shape.join(', ')}]`);
  const [batch, vocab] = scores.shape as [number, number];
  if (batch === 0 || vocab === 0) return backend.makeTensorInfo([batch], 'int32', new Int32Array(batch));
  const config = webgpuDrawConfig(backend);
  const chunk = sliceSize(batch, vocab, config);
  const chunks = Math.ceil(vocab / chunk);
  const uniforms: ProgramUniform[] = [
    { type: 'int32', data: [chunks] },
    { type: 'int32', data: [chunk] },
  ];
  const slices = new SliceProgram(batch, chunks, config);
  const first = backend.runWebGPUProgram(slices, [scores, keys, scale], 'int32', uniforms);
  if (chunks === 1) return first;
  const out = backend.runWebGPUProgram(new RowProgram(batch), [first], 'int32');
  backend.disposeData(first.dataId);
  return out;
}

/** Registers the kernel for 'webgpu'; false when the backend or its device cannot run it. */
export function registerWebgpuGumbelArgmax(): boolean {
  try {
    if (tf.getKernel(KERNEL, BACKEND)) return true;
    const backend = tf.findBackend(BACKEND) as unknown as WebGPUBackendLike | null;
    if (!backend || typeof backend.runWebGPUProgram !== 'function' || typeof backend.disposeData !== 'function') return false;
    // Pass 2 needs 64 threads (the WebGPU default limits allow 256).
    if (maxWorkgroupSize(backend) < WG2) return false;
    tf.registerKernel({ kernelName: KERNEL, backendName: BACKEND, kernelFunc: gumbelArgmax as unknown as tf.KernelFunc });
    return true;
  } catch {
    return false;
  }
}
