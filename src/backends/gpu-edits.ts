// The edit kernels of js-kernels.ts (penalties, bias / drop, bitmask, counts update) for webgl
// (GLSL ES 3.0) and webgpu (WGSL): one dispatch over [B, V] each, where the tfjs-op formulation
// takes 3-15 (the cost on a real GPU is per dispatch: bench/DEVICE-H200.md). webgpu can write
// into an existing buffer, so there the counts update and the seen list change in place (B
// threads), and the penalties and the bias touch only their tokens (a copy, or nothing when the
// input is a fresh built-in output, then a patch). Same inputs, attributes and float32
// arithmetic as the JS bodies, so every backend gives the same bits:
// - products that meet a sum go through `opaque()` (an xor with a uniform 0 the compiler cannot
//   see), so no compiler fuses them into an fma, which rounds once where the reference rounds twice;
// - NaN and ±Infinity are recognised from the bits (WGSL may assume finite floats);
// - webgl stores int32 as float32 texels: bitmask words go up as 16-bit halves (exact), ids as
//   floats (exact below 2^24).
import * as tf from '@tensorflow/tfjs-core';
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import type { ProgramUniform, WebGPUBackendLike, WebGPUProgramLike } from './webgpu/gumbel-argmax.js';
import { DIRECTORY_NAMES, directoryLookupGlsl } from './webgl/window-directory.js';

import { BIAS_DROP, BITMASK, COUNTS_UPDATE, INVALID_CODES, PENALTIES, SEEN_APPEND } from './kernel-names.js';

export { BIAS_DROP, BITMASK, COUNTS_UPDATE, INVALID_CODES, PENALTIES, SEEN_APPEND };

type Kind = 'penalties' | 'counts' | 'bias' | 'bitmask' | 'invalid' | 'clamp' | 'copy';

/** What a kernel reads besides its [B, V] input, per kind (names in the kernel's inputs). */
interface Plan {
  kind: Kind;
  /** Input tensors, in program order; the first is the [B, V] input the output is shaped like. */
  inputs: tf.TensorInfo[];
  names: string[];
  /** Per-row float32 parameters uploaded for this call (penalties: 1/θ, θ, F, P; bias: row on). */
  params?: Float32Array;
  /** Variant flags, part of the shader key. */
  flags: Record<string, boolean>;
  /** invalid: the codes (constants of the shader). */
  codes?: Record<string, number>;
  /** penalties: which counts input (c0, c1, c2) holds the repetition, frequency and presence scope. */
  slots?: number[];
}

const FLT_MAX_GLSL = '3.4028234663852886e38';
const FLT_MAX_BITS = 0x7f7fffff;

/** The kernel's plan from its inputs and attributes (the same as js-kernels.ts passes). */
function planOf(kind: Kind, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>): Plan {
  switch (kind) {
    case 'penalties': {
      const th = attrs.theta as number[];
      const F = attrs.F as number[];
      const P = attrs.P as number[];
      const params = new Float32Array(th.length * 4);
      th.forEach((t, r) => params.set([Math.fround(1 / t), t, F[r]!, P[r]!], r * 4));
      const bias = inputs.bias ? [inputs.bias] : [];
      if (inputs.dirAll) {
        // webgl: the counts from the window directory (webgl/window-directory.ts); slot 0 all, 1 generated.
        const scopes = attrs.scopes as boolean[];
        const dir = DIRECTORY_NAMES.map((n) => inputs[n]!);
        return {
          kind,
          inputs: [inputs.logits!, ...dir, ...bias],
          names: ['z', ...DIRECTORY_NAMES, ...(bias.length ? ['bias'] : [])],
          params,
          flags: { bias: bias.length > 0, dir: true },
          slots: scopes.map((all) => (all ? 0 : 1)),
        };
      }
      // The scopes often share one counts tensor (frequency and presence over generated tokens by
      // default): each distinct tensor is read once (inputs c0, c1, c2; `slots` maps the scopes).
      const distinct: tf.TensorInfo[] = [];
      const slots = [inputs.rep!, inputs.freq!, inputs.pres!].map((t) => {
        let k = distinct.findIndex((d) => d.dataId === t.dataId);
        if (k < 0) k = distinct.push(t) - 1;
        return k;
      });
      return {
        kind,
        inputs: [inputs.logits!, ...distinct, ...bias],
        names: ['z', ...distinct.map((_, k) => `c${k}`), ...(bias.length ? ['bias'] : [])],
        params,
        flags: { bias: bias.length > 0 },
        slots,
      };
    }
    case 'counts': {
      const remove = inputs.remove;
      return {
        kind,
        inputs: remove ? [inputs.counts!, inputs.add!, remove] : [inputs.counts!, inputs.add!],
        names: remove ? ['counts', 'add', 'remove'] : ['counts', 'add'],
        flags: { remove: !!remove },
      };
    }
    case 'bias': {
      const [B] = (inputs.z as tf.TensorInfo).shape as [number, number];
      const rows = attrs.rows as number[] | null;
      const ins = [inputs.z!];
      const names = ['z'];
      if (inputs.add) {
        ins.push(inputs.add);
        names.push('add');
      }
      if (inputs.drop) {
        ins.push(inputs.drop);
        names.push('drop');
      }
      const params = inputs.drop ? Float32Array.from({ length: B }, (_, r) => (rows === null || rows[r] === 1 ? 1 : 0)) : undefined;
      return {
        kind,
        inputs: ins,
        names,
        ...(params ? { params } : {}),
        flags: { add: !!inputs.add, drop: !!inputs.drop, dropRows: attrs.dropRows === 1, bansInAdd: attrs.bansInAdd === 1 },
      };
    }
    case 'bitmask':
      return { kind, inputs: [inputs.z!, inputs.words!], names: ['z', 'words'], flags: {} };
    case 'clamp':
    case 'copy':
      return { kind, inputs: [inputs.z!], names: ['z'], flags: {} };
    case 'invalid': {
      // processed === input: the input's flags only (one read of [B, V]; finiteOut is finiteIn).
      const same = inputs.processed!.dataId === inputs.input!.dataId;
      const ins = same ? [inputs.input!] : [inputs.input!, inputs.processed!];
      const names = same ? ['input'] : ['input', 'processed'];
      if (inputs.madeNaN) {
        ins.push(inputs.madeNaN);
        names.push('madeNaN');
      }
      if (inputs.madeInf) {
        ins.push(inputs.madeInf);
        names.push('madeInf');
      }
      return { kind, inputs: ins, names, flags: { madeNaN: !!inputs.madeNaN, madeInf: !!inputs.madeInf, same }, codes: attrs.codes as Record<string, number> };
    }
  }
}

/** The invalid-row code from the four flags of a row (the rule of src/invalid-rows.ts). */
function codeExpr(
  k: Record<string, number>,
  f: Record<string, boolean>,
  made: { nan: string; inf: string },
  cast: (v: number) => string,
  select = 'select',
): string {
  // nan ? k.nan : inf ? k.inf : madeNaN ? … : madeInf ? … : finiteOut ? 0 : finiteIn ? k.madeNone : k.none
  // select(a, b, c): c ? b : a (WGSL's order).
  let e = `${select}(${cast(k.none!)}, ${cast(k.madeNone!)}, finiteIn)`;
  e = `${select}(${e}, ${cast(0)}, finiteOut)`;
  if (f.madeInf) e = `${select}(${e}, ${cast(k.madeInf!)}, ${made.inf})`;
  if (f.madeNaN) e = `${select}(${e}, ${cast(k.madeNaN!)}, ${made.nan})`;
  e = `${select}(${e}, ${cast(k.inf!)}, inf)`;
  return `${select}(${e}, ${cast(k.nan!)}, nan)`;
}

// ---------------------------------------------------------------------------------------------
// webgl

const GLSL_COMMON = `
float opaque(float x) { return uintBitsToFloat(floatBitsToUint(x) ^ uint(zero)); }
bool isNaNBits(float x) { uint u = floatBitsToUint(x) & 0x7fffffffu; return u > 0x7f800000u; }
bool isPosInf(float x) { return floatBitsToUint(x) == 0x7f800000u; }
// A float32 above FLT_MAX is +Infinity: it saturates, NaN stays (JS: v > FLT_MAX ? FLT_MAX : v).
float clampMax(float v) { return isPosInf(v) ? ${FLT_MAX_GLSL} : v; }
#define NEG_INF uintBitsToFloat(0xff800000u)
`;

class EditProgramGL implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
  customUniforms = [{ name: 'zero', type: 'int' as const }];

  constructor(plan: Plan, shape: [number, number]) {
    this.variableNames = plan.params ? [...plan.names, 'params'] : plan.names;
    this.outputShape = shape;
    const f = plan.flags;
    let body: string;
    switch (plan.kind) {
      case 'penalties':
        // With a bias (the logit bias of the next stage, webgl): added as its own pass adds it.
        body = `
  float v = getZ(b, j);
  ${
    f.dir
      ? `vec2 cc = dirCounts(b, j);
  float c = cc[${plan.slots![0]}];
  float cf = cc[${plan.slots![1]}];
  float cp = cc[${plan.slots![2]}];`
      : `float c = getC${plan.slots![0]}(b, j);
  float cf = getC${plan.slots![1]}(b, j);
  float cp = getC${plan.slots![2]}(b, j);`
  }
  if (c > 0.0 || cf > 0.0 || cp > 0.0) {
    if (c > 0.0) v = opaque(v * (floatBitsToUint(v) < 0x80000000u && v != 0.0 && !isNaNBits(v) ? getParams(b, 0) : getParams(b, 1)));
    v = v - (opaque(cf * getParams(b, 2)) + (cp > 0.0 ? getParams(b, 3) : 0.0));
  }
  v = clampMax(v);
  ${f.bias ? 'v = opaque(v); float a = getBias(b, j); v = floatBitsToUint(a) == 0xff800000u ? (isNaNBits(v) ? v : NEG_INF) : clampMax(v + a);' : ''}
  setOutput(v);`;
        break;
      case 'counts':
        body = `
  float v = getCounts(b, j);
  if (int(getAdd(b)) == j) v += 1.0;
  ${f.remove ? 'if (int(getRemove(b)) == j) v -= 1.0;' : ''}
  setOutput(v);`;
        break;
      case 'bias':
        body = `
  float v = getZ(b, j);
  ${f.add && f.bansInAdd ? 'float a = getAdd(b, j); v = floatBitsToUint(a) == 0xff800000u ? (isNaNBits(v) ? v : NEG_INF) : clampMax(v + a);' : f.add ? 'v = clampMax(v + getAdd(b, j));' : ''}
  ${f.drop ? `if (getParams(b, 0) == 1.0 && getDrop(${f.dropRows ? 'b' : '0'}, j) == 1.0 && !isNaNBits(v) && !isPosInf(v)) v = NEG_INF;` : ''}
  setOutput(v);`;
        break;
      case 'bitmask':
        // words: float32 [B, 2·ceil(V/32)], the 16-bit halves (bitmaskKernel uploads them so on webgl).
        body = `
  float v = getZ(b, j);
  int h = int(getWords(b, j >> 4));
  bool on = ((h >> (j & 15)) & 1) == 1;
  setOutput(on || isNaNBits(v) || isPosInf(v) ? v : NEG_INF);`;
        break;
      default:
        throw new Error(`internal: no edit program for ${plan.kind}`);
    }
    const prelude = f.dir ? directoryLookupGlsl(plan.inputs[1]!.shape[1]!) : '';
    this.userCode = `${GLSL_COMMON}${prelude}
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  int j = rc.y;
${body}
}
`;
  }
}

/** Tokens per fragment of the first invalid-row pass on webgl (a row of V = 128256: 126 chunks). */
const INVALID_CHUNK = 1024;

/** GLSL: the four flags of a row gain token j (input NaN / +Infinity / finite, processed finite). */
const accumulateFlags = (same: boolean): string => `
    uint w = floatBitsToUint(getIvInput(b, j));
    uint u = w & 0x7fffffffu;
    nan = nan || u > 0x7f800000u;
    inf = inf || w == 0x7f800000u;
    finiteIn = finiteIn || u < 0x7f800000u;
    finiteOut = finiteOut || ${same ? 'u < 0x7f800000u' : '(floatBitsToUint(getIvProcessed(b, j)) & 0x7fffffffu) < 0x7f800000u'};`;

/**
 * webgl, rows longer than INVALID_CHUNK, first pass: per (row, chunk) the four flags of the
 * chunk as bits (1 NaN in the input, 2 +Infinity in the input, 4 a finite input, 8 a finite
 * processed logit), so that B·⌈V/1024⌉ fragments share the row instead of one looping over it.
 */
class InvalidChunkGL implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;

  constructor(B: number, V: number, same: boolean) {
    this.variableNames = same ? ['ivInput'] : ['ivInput', 'ivProcessed'];
    this.outputShape = [B, Math.ceil(V / INVALID_CHUNK)];
    this.userCode = `
void main() {
  ivec2 rc = getOutputCoords();
  int b = rc.x;
  int start = rc.y * ${INVALID_CHUNK};
  bool nan = false;
  bool inf = false;
  bool finiteIn = false;
  bool finiteOut = false;
  for (int i = 0; i < ${INVALID_CHUNK}; i++) {
    int j = start + i;
    if (j >= ${V}) break;
${accumulateFlags(same)}
  }
  setOutput(float((nan ? 1 : 0) + (inf ? 2 : 0) + (finiteIn ? 4 : 0) + (finiteOut ? 8 : 0)));
}
`;
  }
}

/**
 * webgl: one output per row. Rows up to INVALID_CHUNK tokens loop over the row; longer rows
 * combine the flags of InvalidChunkGL's chunks (a reduction without workgroup memory).
 */
class InvalidProgramGL implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;

  constructor(plan: Plan, shape: [number, number], chunked: boolean) {
    const [B, V] = shape;
    const f = plan.flags;
    // 'input' is a reserved word in GLSL: prefixed names (getIvInput, …).
    const names = plan.names.map((n) => `iv${n[0]!.toUpperCase()}${n.slice(1)}`);
    const scanned = f.same ? 1 : 2; // the [B, V] inputs, which the chunk pass reads
    this.variableNames = chunked ? ['ivFlags', ...names.slice(scanned)] : names;
    this.outputShape = [B];
    const C = Math.ceil(V / INVALID_CHUNK);
    const scan = chunked
      ? `for (int c = 0; c < ${C}; c++) {
    int m = int(getIvFlags(b, c));
    nan = nan || (m & 1) != 0;
    inf = inf || (m & 2) != 0;
    finiteIn = finiteIn || (m & 4) != 0;
    finiteOut = finiteOut || (m & 8) != 0;
  }`
      : `for (int j = 0; j < ${V}; j++) {
${accumulateFlags(!!f.same)}
  }`;
    this.userCode = `
float pick(float a, float b, bool c) { return c ? b : a; }
void main() {
  int b = getOutputCoords();
  bool nan = false;
  bool inf = false;
  bool finiteIn = false;
  bool finiteOut = false;
  ${scan}
  ${f.madeNaN ? 'bool madeNaN = getIvMadeNaN(b) > 0.5;' : ''}
  ${f.madeInf ? 'bool madeInf = getIvMadeInf(b) > 0.5;' : ''}
  setOutput(${codeExpr(plan.codes!, f, { nan: 'madeNaN', inf: 'madeInf' }, (v) => v.toFixed(1), 'pick')});
}
`;
  }
}

function runGL(kind: Kind, backend: MathBackendWebGL, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>): tf.TensorInfo {
  const plan = planOf(kind, inputs, attrs);
  const first = plan.inputs[0]!;
  const shape = first.shape as [number, number];
  if (kind === 'invalid') {
    if (shape[1] <= INVALID_CHUNK) return backend.runWebGLProgram(new InvalidProgramGL(plan, shape, false), plan.inputs, 'float32');
    const scanned = plan.flags.same ? 1 : 2;
    const flags = backend.runWebGLProgram(new InvalidChunkGL(shape[0], shape[1], !!plan.flags.same), plan.inputs.slice(0, scanned), 'float32');
    try {
      return backend.runWebGLProgram(new InvalidProgramGL(plan, shape, true), [flags, ...plan.inputs.slice(scanned)], 'float32');
    } finally {
      backend.disposeIntermediateTensorInfo(flags);
    }
  }
  const temps: tf.TensorInfo[] = [];
  const ins = [...plan.inputs];
  if (plan.params) {
    const p = backend.makeTensorInfo([shape[0], plan.params.length / shape[0]], 'float32', plan.params);
    temps.push(p);
    ins.push(p);
  }
  try {
    return backend.runWebGLProgram(new EditProgramGL(plan, shape), ins, 'float32', [[0]]);
  } finally {
    for (const t of temps) backend.disposeIntermediateTensorInfo(t);
  }
}

// ---------------------------------------------------------------------------------------------
// webgpu

const WG = 64;
/** Workgroups at most per dispatch: threads stride over the rest. */
const MAX_GROUPS = 4096;

const WGSL_COMMON = `
  fn edOpaque(x : f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ u32(uniforms.zero)); }
  // Not a constant: WGSL rejects an infinite constant expression.
  fn edNegInf() -> f32 { return bitcast<f32>(0xff800000u ^ u32(uniforms.zero)); }
  fn edIsNaN(x : f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
  fn edIsPosInf(x : f32) -> bool { return bitcast<u32>(x) == 0x7f800000u; }
  fn edClampMax(v : f32) -> f32 { return select(v, bitcast<f32>(${FLT_MAX_BITS}u), edIsPosInf(v)); }
`;

/** The penalties of logit i (row b) into result[i], as penaltiesKernel's JS body. */
function penaltiesWGSL(slots: number[]): string {
  return `
      var v = edZ[i];
      let c = edC${slots[0]}[i];
      let cf = edC${slots[1]}[i];
      let cp = edC${slots[2]}[i];
      if (c > 0.0f || cf > 0.0f || cp > 0.0f) {
        let u = bitcast<u32>(v);
        let positive = u < 0x80000000u && u != 0u && !edIsNaN(v);
        if (c > 0.0f) { v = edOpaque(v * select(edParams[b * 4u + 1u], edParams[b * 4u], positive)); }
        v = v - (edOpaque(cf * edParams[b * 4u + 2u]) + select(0.0f, edParams[b * 4u + 3u], cp > 0.0f));
      }
      result[i] = edClampMax(v);`;
}

/** `v` + a bias `a` saturating at FLT_MAX; an `a` of -Infinity bans (NaN stays): the dense and sparse bias. */
const biasWGSL = (a: string): string => `v = select(edClampMax(v + ${a}), select(edNegInf(), v, edIsNaN(v)), bitcast<u32>(${a}) == 0xff800000u);`;

class EditProgramGPU implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames: string[];
  uniforms = 'zero : i32,';
  private plan: Plan;

  constructor(plan: Plan, shape: [number, number]) {
    this.plan = plan;
    this.outputShape = shape;
    this.variableNames = (plan.params ? [...plan.names, 'params'] : plan.names).map((n) => `ed${n[0]!.toUpperCase()}${n.slice(1)}`);
    const n = shape[0] * shape[1];
    this.dispatch = [Math.max(1, Math.min(MAX_GROUPS, Math.ceil(n / WG))), 1, 1];
    this.shaderKey = `tfjsSamplingEdit_${plan.kind}_${Object.entries(plan.flags)
      .filter(([, v]) => v)
      .map(([k]) => k)
      .join('_')}_${plan.slots?.join('') ?? ''}`;
  }

  getUserCode(): string {
    const f = this.plan.flags;
    let body: string;
    switch (this.plan.kind) {
      case 'penalties':
        body = penaltiesWGSL(this.plan.slots!);
        break;
      case 'clamp':
        body = 'result[i] = edClampMax(edZ[i]);';
        break;
      case 'copy':
        body = 'result[i] = edZ[i];';
        break;
      case 'counts':
        body = `
      var v = edCounts[i];
      if (edAdd[b] == i32(j)) { v = v + 1.0f; }
      ${f.remove ? 'if (edRemove[b] == i32(j)) { v = v - 1.0f; }' : ''}
      result[i] = v;`;
        break;
      case 'bias':
        body = `
      var v = edZ[i];
      ${f.add && f.bansInAdd ? `let a = edAdd[i]; ${biasWGSL('a')}` : f.add ? 'v = edClampMax(v + edAdd[i]);' : ''}
      ${f.drop ? `if (edParams[b] == 1.0f && edDrop[${f.dropRows ? 'i' : 'j'}] == 1.0f && !edIsNaN(v) && !edIsPosInf(v)) { v = edNegInf(); }` : ''}
      result[i] = v;`;
        break;
      case 'bitmask':
        body = `
      let v = edZ[i];
      let w = edWords[b * ((vocab + 31u) / 32u) + (j >> 5u)];
      let on = ((u32(w) >> (j & 31u)) & 1u) == 1u;
      result[i] = select(edNegInf(), v, on || edIsNaN(v) || edIsPosInf(v));`;
        break;
      default:
        throw new Error(`internal: no edit program for ${this.plan.kind}`);
    }
    const first = this.variableNames[0]!;
    return `
  ${WGSL_COMMON}
  fn main(index : i32) {
    let rows = u32(uniforms.${first}Shape.x);
    let vocab = u32(uniforms.${first}Shape.y);
    let n = rows * vocab;
    let stride = numWorkgroups.x * ${WG}u;
    for (var i = globalId.x; i < n; i += stride) {
      let b = i / vocab;
      let j = i - b * vocab;
${body}
    }
  }
`;
  }
}

/** webgpu: one workgroup per row, the four flags or-reduced in workgroup memory. */
class InvalidProgramGPU implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames: string[];
  private plan: Plan;

  constructor(plan: Plan, shape: [number, number]) {
    this.plan = plan;
    this.outputShape = [shape[0]];
    this.variableNames = plan.names.map((n) => `iv${n[0]!.toUpperCase()}${n.slice(1)}`);
    this.dispatch = [shape[0], 1, 1];
    const k = plan.codes!;
    this.shaderKey = `tfjsSamplingInvalid_${plan.flags.madeNaN ? 'n' : ''}${plan.flags.madeInf ? 'i' : ''}${plan.flags.same ? 's' : ''}_${[k.nan, k.inf, k.none, k.madeNaN, k.madeInf, k.madeNone].join('_')}`;
  }

  getUserCode(): string {
    const f = this.plan.flags;
    // bool inputs are i32 arrays on webgpu.
    return `
  var<workgroup> ivF : array<u32, ${WG}>;
  fn main(index : i32) {
    let lid = localId.x;
    let r = workgroupId.x;
    let vocab = u32(uniforms.ivInputShape.y);
    var flags = 0u;
    for (var j = lid; j < vocab; j += ${WG}u) {
      let u = bitcast<u32>(ivInput[r * vocab + j]);
      let a = u & 0x7fffffffu;
      if (a > 0x7f800000u) { flags |= 1u; }
      if (u == 0x7f800000u) { flags |= 2u; }
      if (a < 0x7f800000u) { flags |= 4u; }
      ${f.same ? 'if (a < 0x7f800000u) { flags |= 8u; }' : 'if ((bitcast<u32>(ivProcessed[r * vocab + j]) & 0x7fffffffu) < 0x7f800000u) { flags |= 8u; }'}
    }
    ivF[lid] = flags;
    workgroupBarrier();
    for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
      if (lid < s) { ivF[lid] = ivF[lid] | ivF[lid + s]; }
      workgroupBarrier();
    }
    if (lid == 0u) {
      let all = ivF[0];
      let nan = (all & 1u) != 0u;
      let inf = (all & 2u) != 0u;
      let finiteIn = (all & 4u) != 0u;
      let finiteOut = (all & 8u) != 0u;
      ${f.madeNaN ? 'let madeNaN = ivMadeNaN[r] != 0;' : ''}
      ${f.madeInf ? 'let madeInf = ivMadeInf[r] != 0;' : ''}
      result[r] = ${codeExpr(this.plan.codes!, f, { nan: 'madeNaN', inf: 'madeInf' }, (v) => `${v.toFixed(1)}f`)};
    }
  }
`;
  }
}

/**
 * webgpu: counts += 1 at `add[r]`, −= 1 at `remove[r]` (ids outside [0, V): nothing), written in
 * place into the counts' own buffer by B threads: the dense form copies the whole `[B, V]` every
 * step. Each row's two writes run in one thread, in the dense form's order.
 */
class CountsPatchGPU implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames: string[];
  private remove: boolean;

  constructor(shape: [number, number], remove: boolean) {
    this.outputShape = shape;
    this.remove = remove;
    this.variableNames = remove ? ['cpAdd', 'cpRemove'] : ['cpAdd'];
    this.dispatch = [Math.max(1, Math.ceil(shape[0] / WG)), 1, 1];
    this.shaderKey = `tfjsSamplingCountsPatch_${remove}`;
  }

  getUserCode(): string {
    return `
  fn main(index : i32) {
    let rows = uniforms.outShape.x;
    let vocab = uniforms.outShape.y;
    let b = i32(globalId.x);
    if (b >= rows) { return; }
    let a = cpAdd[b];
    if (a >= 0 && a < vocab) { result[b * vocab + a] = result[b * vocab + a] + 1.0f; }
    ${this.remove ? 'let x = cpRemove[b]; if (x >= 0 && x < vocab) { result[b * vocab + x] = result[b * vocab + x] - 1.0f; }' : ''}
  }
`;
  }
}

/**
 * Runs `program` with `target`'s own buffer as its output and returns that buffer as the kernel's
 * output (as tfjs's reshape returns its input's): the edit happens in place, so the caller must
 * be the only holder of `target` and treat it as consumed. A read may have cached the old values
 * on the CPU: that copy is dropped.
 */
function inPlace(
  backend: WebGPUBackendLike,
  program: WebGPUProgramLike,
  inputs: tf.TensorInfo[],
  target: tf.TensorInfo,
  uniforms?: ProgramUniform[],
): tf.TensorInfo {
  const out: tf.TensorInfo = { dataId: target.dataId, shape: target.shape, dtype: target.dtype };
  backend.runWebGPUProgram(program, inputs, target.dtype, uniforms, out);
  const data = backend.tensorMap!.get(target.dataId);
  if (data) data.values = null;
  backend.incRef!(target.dataId);
  return out;
}

/**
 * The counts update on webgpu: B threads write into the counts' own buffer; the sampler's
 * history owns its counts alone (TokenHistory.clone copies them), so nothing else sees the change.
 */
function countsInPlace(backend: WebGPUBackendLike, inputs: tf.NamedTensorInfoMap): tf.TensorInfo {
  const { counts, add, remove } = inputs;
  return inPlace(backend, new CountsPatchGPU(counts!.shape as [number, number], !!remove), remove ? [add!, remove] : [add!], counts!);
}

/**
 * webgpu, penalties with the history's list of seen tokens (`seen`, int32 `[B, 1 + cap]`: per row
 * its length, then tokens whose counts may be nonzero, repeats allowed): the logits are copied
 * (saturated at FLT_MAX, as the dense kernel does to every logit) and only the listed tokens are
 * recomputed, in place, with the dense kernel's arithmetic. Every token off the list has zero
 * counts, so the result equals the dense kernel's; a repeated token writes the same value twice.
 */
class PenaltiesPatchGPU implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames: string[];
  uniforms = 'zero : i32,';
  private slots: number[];

  constructor(plan: Plan, shape: [number, number], seen: [number, number]) {
    this.outputShape = shape;
    this.slots = plan.slots!;
    const counts = plan.names.filter((n) => n.startsWith('c'));
    this.variableNames = ['edZ', 'edSeen', ...counts.map((n) => `edC${n.slice(1)}`), 'edParams'];
    this.dispatch = [Math.max(1, Math.min(MAX_GROUPS, Math.ceil((seen[0] * (seen[1] - 1)) / WG))), 1, 1];
    this.shaderKey = `tfjsSamplingPenaltiesPatch_${this.slots.join('')}`;
  }

  getUserCode(): string {
    return `
  ${WGSL_COMMON}
  fn main(index : i32) {
    let vocab = u32(uniforms.edZShape.y);
    let width = u32(uniforms.edSeenShape.y);
    let cap = width - 1u;
    let n = u32(uniforms.edSeenShape.x) * cap;
    for (var e = globalId.x; e < n; e += numWorkgroups.x * ${WG}u) {
      let b = e / cap;
      let k = e - b * cap;
      let t = edSeen[b * width + 1u + k];
      if (k < u32(edSeen[b * width]) && t >= 0 && u32(t) < vocab) {
        let i = b * vocab + u32(t);
${penaltiesWGSL(this.slots)}
      }
    }
  }
`;
  }
}

/**
 * webgpu, a logit bias as sparse entries (`tokens` int32 `[B, E]`, -1 unused; `values` float32,
 * -Infinity bans): the dense kernel's arithmetic on the listed tokens only. In place (`result`
 * already holds the input, saturated at FLT_MAX: the output of a built-in edit made this call,
 * which nothing else holds) or on a saturated copy of `edZ` (the listed tokens read from the
 * input, so a +Infinity input gives what the dense kernel gives).
 */
class BiasPatchGPU implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0, 1] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames: string[];
  uniforms = 'zero : i32,';
  private inPlace: boolean;

  constructor(shape: [number, number], entries: [number, number], inPlace: boolean) {
    this.outputShape = shape;
    this.inPlace = inPlace;
    this.variableNames = inPlace ? ['edTok', 'edVal'] : ['edZ', 'edTok', 'edVal'];
    this.dispatch = [Math.max(1, Math.min(MAX_GROUPS, Math.ceil((entries[0] * entries[1]) / WG))), 1, 1];
    this.shaderKey = `tfjsSamplingBiasPatch_${inPlace}`;
  }

  getUserCode(): string {
    return `
  ${WGSL_COMMON}
  fn main(index : i32) {
    let vocab = u32(uniforms.outShape.y);
    let E = u32(uniforms.edTokShape.y);
    let n = u32(uniforms.edTokShape.x) * E;
    for (var e = globalId.x; e < n; e += numWorkgroups.x * ${WG}u) {
      let b = e / E;
      let t = edTok[e];
      if (t >= 0 && u32(t) < vocab) {
        let i = b * vocab + u32(t);
        var v = ${this.inPlace ? 'result[i]' : 'edZ[i]'};
        let a = edVal[e];
        ${biasWGSL('a')}
        result[i] = v;
      }
    }
  }
`;
  }
}

/**
 * webgpu: appends each row's new token to its seen list (`result`, int32 `[B, 1 + cap]`, written
 * in place) when the token's count (before this step's update) is 0. One thread per row; the
 * caller keeps cap above every row's length.
 */
class SeenAppendGPU implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey = 'tfjsSamplingSeenAppend';
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames = ['saAdd', 'saCounts'];

  constructor(shape: [number, number]) {
    this.outputShape = shape;
    this.dispatch = [Math.max(1, Math.ceil(shape[0] / WG)), 1, 1];
  }

  getUserCode(): string {
    return `
  fn main(index : i32) {
    let rows = uniforms.outShape.x;
    let width = uniforms.outShape.y;
    let vocab = uniforms.saCountsShape.y;
    let b = i32(globalId.x);
    if (b >= rows) { return; }
    let a = saAdd[b];
    if (a >= 0 && a < vocab && saCounts[b * vocab + a] == 0.0f) {
      let len = result[b * width];
      if (len < width - 1) {
        result[b * width + 1 + len] = a;
        result[b * width] = len + 1;
      }
    }
  }
`;
  }
}

/** The SEEN_APPEND kernel (webgpu): in place, like countsInPlace. */
function seenInPlace(backend: WebGPUBackendLike, inputs: tf.NamedTensorInfoMap): tf.TensorInfo {
  return inPlace(backend, new SeenAppendGPU(inputs.seen!.shape as [number, number]), [inputs.add!, inputs.counts!], inputs.seen!);
}

/**
 * webgpu: `z` into a new buffer (tf.clone would share it), saturated at FLT_MAX with `clamp`: the
 * buffer a sparse edit then patches in place.
 */
export function copyGPU(backend: WebGPUBackendLike, z: tf.TensorInfo, clamp: boolean): tf.TensorInfo {
  const kind = clamp ? 'clamp' : 'copy';
  const uniforms: ProgramUniform[] = [{ type: 'int32', data: [0] }];
  return backend.runWebGPUProgram(new EditProgramGPU({ kind, inputs: [z], names: ['z'], flags: {} }, z.shape as [number, number]), [z], 'float32', uniforms);
}

function runGPU(kind: Kind, backend: WebGPUBackendLike, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>): tf.TensorInfo {
  if (kind === 'counts' && backend.tensorMap && backend.incRef) return countsInPlace(backend, inputs);
  const plan = planOf(kind, inputs, attrs);
  const shape = plan.inputs[0]!.shape as [number, number];
  if (kind === 'invalid') return backend.runWebGPUProgram(new InvalidProgramGPU(plan, shape), plan.inputs, 'float32');
  const temps: tf.TensorInfo[] = [];
  const ins = [...plan.inputs];
  if (plan.params) {
    const p = backend.makeTensorInfo([plan.params.length], 'float32', plan.params);
    temps.push(p);
    ins.push(p);
  }
  const uniforms: ProgramUniform[] = [{ type: 'int32', data: [0] }];
  try {
    if (kind === 'bias' && inputs.tokens) {
      const entries = inputs.tokens.shape as [number, number];
      const z = inputs.z!;
      if (attrs.inPlace === 1 && backend.tensorMap && backend.incRef) {
        return inPlace(backend, new BiasPatchGPU(shape, entries, true), [inputs.tokens, inputs.values!], z, uniforms);
      }
      const copy = copyGPU(backend, z, true);
      return backend.runWebGPUProgram(new BiasPatchGPU(shape, entries, false), [z, inputs.tokens, inputs.values!], 'float32', uniforms, copy);
    }
    const seen = kind === 'penalties' ? inputs.seen : undefined;
    if (seen) {
      const copy = copyGPU(backend, plan.inputs[0]!, true);
      const patchInputs = [plan.inputs[0]!, seen, ...ins.slice(1)];
      return backend.runWebGPUProgram(new PenaltiesPatchGPU(plan, shape, seen.shape as [number, number]), patchInputs, 'float32', uniforms, copy);
    }
    return backend.runWebGPUProgram(new EditProgramGPU(plan, shape), ins, 'float32', uniforms);
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

// ---------------------------------------------------------------------------------------------

const KINDS: [string, Kind][] = [
  [PENALTIES, 'penalties'],
  [COUNTS_UPDATE, 'counts'],
  [BIAS_DROP, 'bias'],
  [BITMASK, 'bitmask'],
  [INVALID_CODES, 'invalid'],
];

/** Registers the edit kernels on webgl 2; false where it cannot. */
export function registerWebglEdits(): boolean {
  try {
    if (!tf.findBackend('webgl') || tf.env().getNumber('WEBGL_VERSION') !== 2) return false;
    for (const [kernelName, kind] of KINDS) {
      if (!tf.getKernel(kernelName, 'webgl')) {
        tf.registerKernel({
          kernelName,
          backendName: 'webgl',
          kernelFunc: ({ inputs, backend, attrs }) => runGL(kind, backend as unknown as MathBackendWebGL, inputs, attrs as Record<string, unknown>),
        });
      }
    }
    return true;
  } catch {
    return false;
  }
}

/** Registers the edit kernels on webgpu; false where it cannot. */
export function registerWebgpuEdits(): boolean {
  try {
    const backend = tf.findBackend('webgpu') as unknown as WebGPUBackendLike | null;
    if (!backend || typeof backend.runWebGPUProgram !== 'function') return false;
    if (!tf.getKernel(SEEN_APPEND, 'webgpu') && typeof backend.incRef === 'function') {
      tf.registerKernel({
        kernelName: SEEN_APPEND,
        backendName: 'webgpu',
        kernelFunc: ({ inputs, backend: b }) => seenInPlace(b as unknown as WebGPUBackendLike, inputs),
      });
    }
    for (const [kernelName, kind] of KINDS) {
      if (!tf.getKernel(kernelName, 'webgpu')) {
        tf.registerKernel({
          kernelName,
          backendName: 'webgpu',
          kernelFunc: ({ inputs, backend: b, attrs }) => runGPU(kind, b as unknown as WebGPUBackendLike, inputs, attrs as Record<string, unknown>),
        });
      }
    }
    return true;
  } catch {
    return false;
  }
}
