// A small decoder-only character transformer of Tang poems: pre-LayerNorm blocks, multi-head
// causal self-attention over a sliding window of W tokens, rotary positions (relative, so that
// generation runs past the training length), a ReLU MLP, tied input/output embedding.
//
// Written with plain @tensorflow/tfjs-core ops on named weight tensors, so the same weights serve
//  - transformerLogits(): the full sliding-window causal forward over [B, T] (training, scoring);
//  - windowStep():        a StepFunction without a cache, for generate(step, { contextLength: W });
//  - cachedStep():        a StepFunction with a KV cache, for generate(step, { feed: 'new' }).
//
// The KV cache is a ring buffer of W slots per layer with fixed shapes ([B, heads, W, headDim] for
// k and v, [B, W] for the validity mask), updated by a one-hot blend: every decode step runs the
// same ops on the same shapes, whatever the generated length. Keys are stored already rotated at
// their absolute position. cachedStep(lm, { draftTokens }) keeps a cache indexed by position
// instead (W + draftTokens slots, a per-slot position), for speculative decoding: several tokens
// per call at per-row positions, and positions fed again after a rejection overwrite their slot.
//
// Platform-neutral (no node: imports): a browser loads the weights by URL; Node code loads them
// through model/fs-io.ts (loadTransformerFromDisk).
import * as tf from '@tensorflow/tfjs-core';
import type { StepContext, StepFunction } from '../src/generate.js';
import { makeTokenizer, NEWLINE_ID, PAD_ID, UNK_ID } from './char-model.js';

/** Marks the metadata this module writes, so a wrong model.json fails loudly. */
export const TRANSFORMER_FORMAT = 'tfjs-sampling-char-transformer';

export interface TransformerConfig {
  vocabSize: number;
  /** Attention window W: the query at index i sees keys j with i - W < j <= i (and mask 1). */
  window: number;
  layers: number;
  heads: number;
  dModel: number;
  /** Width of the ReLU MLP of each block. */
  dFF: number;
  /** Rotary embedding base (10,000 as in RoFormer). */
  ropeBase: number;
  /** LayerNorm epsilon. */
  lnEpsilon: number;
  padId: number;
  unkId: number;
  newlineId: number;
}

/** Stored in model.json as userDefinedMetadata. */
export interface TransformerMetadata {
  format: typeof TRANSFORMER_FORMAT;
  config: TransformerConfig;
  /** id -> character; '' for pad, UNK_TEXT for unk, '\n' for newline (the MLP's vocabulary). */
  vocab: string[];
}

export interface TransformerLM {
  readonly config: TransformerConfig;
  /** id -> character. */
  readonly vocab: string[];
  /** Characters to ids; characters outside the vocabulary become unk. */
  encode(text: string): number[];
  /** [NEWLINE_ID, ...encode(text)]: a prompt at the start of a poem, as in training (never empty). */
  encodePrompt(text: string): number[];
  /** Ids to text; pad ids are skipped. */
  decode(ids: ArrayLike<number>): string;
  /** The named weights (see weightShapes). */
  readonly weights: Record<string, tf.Tensor>;
  dispose(): void;
}

/** The defaults of the committed model (vocabSize comes from the vocabulary). */
export function defaultConfig(vocabSize: number, overrides: Partial<TransformerConfig> = {}): TransformerConfig {
  return {
    vocabSize,
    window: 64,
    layers: 2,
    heads: 4,
    dModel: 128,
    dFF: 512,
    ropeBase: 10000,
    lnEpsilon: 1e-5,
    padId: PAD_ID,
    unkId: UNK_ID,
    newlineId: NEWLINE_ID,
    ...overrides,
  };
}

/** Names and shapes of every weight. */
export function weightShapes(c: TransformerConfig): Record<string, number[]> {
  const s: Record<string, number[]> = { embed: [c.vocabSize, c.dModel], 'out/bias': [c.vocabSize], 'lnf/gamma': [c.dModel], 'lnf/beta': [c.dModel] };
  for (let l = 0; l < c.layers; l++) {
    const p = `block${l}/`;
    s[`${p}ln1/gamma`] = [c.dModel];
    s[`${p}ln1/beta`] = [c.dModel];
    for (const w of ['wq', 'wk', 'wv', 'wo']) s[`${p}attn/${w}`] = [c.dModel, c.dModel];
    s[`${p}ln2/gamma`] = [c.dModel];
    s[`${p}ln2/beta`] = [c.dModel];
    s[`${p}mlp/w1`] = [c.dModel, c.dFF];
    s[`${p}mlp/b1`] = [c.dFF];
    s[`${p}mlp/w2`] = [c.dFF, c.dModel];
    s[`${p}mlp/b2`] = [c.dModel];
  }
  return s;
}

export function countParams(c: TransformerConfig): number {
  return Object.values(weightShapes(c)).reduce((n, shape) => n + shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Layers · (W − 1) + 1: the tokens the last position's logits depend on (each layer looks W − 1
 * tokens further back). A window of this many tokens without a cache gives exactly the logits
 * of the full sliding-window forward (and of cachedStep); a window of W tokens (windowStep with
 * contextLength W) gives the same only while the sequence is at most W tokens long.
 */
export function receptiveField(c: TransformerConfig): number {
  return c.layers * (c.window - 1) + 1;
}

/**
 * Fresh weights, GPT-2 style: N(0, 0.02), residual output projections scaled by 1/sqrt(2·layers),
 * LayerNorm gains 1, biases 0. Deterministic for a given seed.
 */
export function initWeights(c: TransformerConfig, seed: number): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  let k = 0;
  for (const [name, shape] of Object.entries(weightShapes(c))) {
    k++;
    if (name.endsWith('gamma')) out[name] = tf.ones(shape);
    else if (name.endsWith('beta') || name.endsWith('bias') || /\/b\d$/.test(name)) out[name] = tf.zeros(shape);
    else {
      const residual = name.endsWith('attn/wo') || name.endsWith('mlp/w2');
      const std = residual ? 0.02 / Math.sqrt(2 * c.layers) : 0.02;
      out[name] = tf.randomNormal(shape, 0, std, 'float32', seed * 1000 + k);
    }
  }
  return out;
}

/** Wraps weights, config and vocabulary (no copy: dispose() disposes the given weights). */
export function makeTransformer(config: TransformerConfig, vocab: string[], weights: Record<string, tf.Tensor>): TransformerLM {
  if (vocab.length !== config.vocabSize) throw new Error(`transformer: vocabulary has ${vocab.length} ids, config says ${config.vocabSize}`);
  for (const [name, shape] of Object.entries(weightShapes(config))) {
    const w = weights[name];
    if (!w) throw new Error(`transformer: weight ${name} is missing`);
    if (w.shape.join() !== shape.join()) throw new Error(`transformer: weight ${name} has shape [${w.shape}], expected [${shape}]`);
  }
  const tok = makeTokenizer(vocab);
  return {
    config,
    vocab,
    weights,
    encode: tok.encode,
    encodePrompt: (text) => [config.newlineId, ...tok.encode(text)],
    decode: tok.decode,
    dispose: () => tf.dispose(Object.values(weights)),
  };
}

/** The artifacts a tfjs IOHandler saves: model.json (metadata, manifest) + weights.bin. */
export async function transformerArtifacts(lm: TransformerLM): Promise<tf.io.ModelArtifacts> {
  const names = Object.keys(weightShapes(lm.config));
  const { data, specs } = await tf.io.encodeWeights(names.map((name) => ({ name, tensor: lm.weights[name]! })));
  const metadata: TransformerMetadata = { format: TRANSFORMER_FORMAT, config: lm.config, vocab: lm.vocab };
  return {
    modelTopology: { class_name: 'CharTransformer', config: { ...lm.config } },
    format: TRANSFORMER_FORMAT,
    generatedBy: 'model/train-transformer.ts',
    weightSpecs: specs,
    weightData: data,
    userDefinedMetadata: metadata as unknown as { [key: string]: object },
  };
}

/** Saves through any IOHandler (Node: fileSystemIO(dir) from model/fs-io.ts). */
export async function saveTransformer(lm: TransformerLM, handler: tf.io.IOHandler): Promise<void> {
  if (!handler.save) throw new Error('saveTransformer: the IOHandler cannot save');
  await handler.save(await transformerArtifacts(lm));
}

/**
 * Loads the transformer from the URL of its model.json (browser: tf.io.http) or from any
 * IOHandler (Node: fileSystemIO(dir), or loadTransformerFromDisk in model/fs-io.ts).
 *
 * @example
 * const lm = await loadTransformer('/model/transformer/weights/model.json');
 * const r = await generate(cachedStep(lm), { prompts: [lm.encodePrompt('春')], padId: 0, feed: 'new', maxNewTokens: 40 });
 */
export async function loadTransformer(source: string | tf.io.IOHandler): Promise<TransformerLM> {
  const handler = typeof source === 'string' ? tf.io.http(source) : source;
  if (!handler.load) throw new Error('loadTransformer: the IOHandler cannot load');
  const a = await handler.load();
  const m = a.userDefinedMetadata as Partial<TransformerMetadata> | undefined;
  if (!m || m.format !== TRANSFORMER_FORMAT || !m.config || !Array.isArray(m.vocab)) {
    throw new Error(`loadTransformer: model.json has no ${TRANSFORMER_FORMAT} metadata (userDefinedMetadata); was it saved by model/train-transformer.ts?`);
  }
  if (!a.weightSpecs || a.weightData === undefined) throw new Error('loadTransformer: no weights in the artifacts');
  const weights = tf.io.decodeWeights(a.weightData, a.weightSpecs);
  return makeTransformer(m.config, m.vocab, weights);
}

// ---------------------------------------------------------------------------------------------
// The forward pass.

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const c = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(c), -1, true);
  return tf.add(tf.mul(tf.mul(c, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/** cos and sin of the rotary angles, [B, 1, T, headDim] each (broadcast over heads). */
function rotaryTables(c: TransformerConfig, positions: tf.Tensor2D): { cos: tf.Tensor; sin: tf.Tensor } {
  const half = c.dModel / c.heads / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = c.ropeBase ** ((-2 * i) / (2 * half));
  const angle = tf.mul(tf.expandDims(tf.cast(positions, 'float32'), 2), tf.tensor1d(inv)); // [B, T, half]
  const cos = tf.cos(angle);
  const sin = tf.sin(angle);
  return { cos: tf.expandDims(tf.concat([cos, cos], 2), 1), sin: tf.expandDims(tf.concat([sin, sin], 2), 1) };
}

/** [hd, hd]: x · R = rotate_half(x) = [−x₂, x₁] (one matmul instead of slices and a concat). */
function rotateHalfMatrix(hd: number): tf.Tensor2D {
  const half = hd / 2;
  const r = new Float32Array(hd * hd);
  for (let j = 0; j < half; j++) {
    r[(j + half) * hd + j] = -1;
    r[j * hd + j + half] = 1;
  }
  return tf.tensor2d(r, [hd, hd]);
}

/** x [B, H, T, hd] rotated at its positions. */
function rope(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, rot: tf.Tensor2D): tf.Tensor {
  const [b, h, t, hd] = x.shape as [number, number, number, number];
  const rotated = tf.reshape(tf.matMul(tf.reshape(x, [b * h * t, hd]), rot), [b, h, t, hd]);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}

/** [B·T, D] -> [B, H, T, hd]. */
function splitHeads(x: tf.Tensor, b: number, t: number, c: TransformerConfig): tf.Tensor {
  return tf.transpose(tf.reshape(x, [b, t, c.heads, c.dModel / c.heads]), [0, 2, 1, 3]);
}

/** [B, H, T, hd] -> [B·T, D]. */
function mergeHeads(x: tf.Tensor, b: number, t: number, c: TransformerConfig): tf.Tensor {
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b * t, c.dModel]);
}

/** Additive attention bias [B, 1, T, T]: 0 where i − W < j ≤ i and mask[j] = 1, −1e9 elsewhere. */
function windowBias(c: TransformerConfig, mask: tf.Tensor2D): tf.Tensor {
  const [b, t] = mask.shape;
  const band = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = Math.max(0, i - c.window + 1); j <= i; j++) band[i * t + j] = 1;
  const allowed = tf.mul(tf.tensor4d(band, [1, 1, t, t]), tf.reshape(tf.cast(mask, 'float32'), [b, 1, 1, t]));
  return tf.mul(tf.sub(allowed, 1), 1e9);
}

function mlp(lm: TransformerLM, p: string, x: tf.Tensor): tf.Tensor {
  const w = lm.weights;
  const h = tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, w[`${p}mlp/w1`] as tf.Tensor2D), w[`${p}mlp/b1`]!));
  return tf.add(tf.matMul(h as tf.Tensor2D, w[`${p}mlp/w2`] as tf.Tensor2D), w[`${p}mlp/b2`]!);
}

/** h [N, D] -> logits [N, V] through the final LayerNorm and the tied embedding. */
function head(lm: TransformerLM, h: tf.Tensor2D): tf.Tensor2D {
  const w = lm.weights;
  const n = layerNorm(h, w['lnf/gamma']!, w['lnf/beta']!, lm.config.lnEpsilon) as tf.Tensor2D;
  return tf.add(tf.matMul(n, w.embed as tf.Tensor2D, false, true), w['out/bias']!) as tf.Tensor2D;
}

interface ForwardResult {
  /** [B·T, D] (all positions) or [B, D] (lastOnly): the residual stream before the final norm. */
  hidden: tf.Tensor2D;
  /** Per layer, the rotated keys and the values [B, H, T, hd] (with keepKV). */
  kv: { k: tf.Tensor; v: tf.Tensor }[];
}

/**
 * The blocks over x [B·T, D] (call inside a tidy): per layer the rotated queries and keys and the
 * values of the T tokens, attention over what `keys` makes of them (the tokens themselves, or a
 * cache with them written in: [B, H, ·, hd]) with the additive `bias`, the MLP.
 */
function blocks(
  lm: TransformerLM,
  x: tf.Tensor,
  b: number,
  t: number,
  positions: tf.Tensor2D,
  bias: tf.Tensor,
  keys: (l: number, k: tf.Tensor, v: tf.Tensor) => { k: tf.Tensor; v: tf.Tensor },
): tf.Tensor {
  const c = lm.config;
  const w = lm.weights;
  const hd = c.dModel / c.heads;
  const { cos, sin } = rotaryTables(c, positions);
  const rot = rotateHalfMatrix(hd);
  const scale = 1 / Math.sqrt(hd);
  for (let l = 0; l < c.layers; l++) {
    const p = `block${l}/`;
    const h = layerNorm(x, w[`${p}ln1/gamma`]!, w[`${p}ln1/beta`]!, c.lnEpsilon) as tf.Tensor2D;
    const q = rope(splitHeads(tf.matMul(h, w[`${p}attn/wq`] as tf.Tensor2D), b, t, c), cos, sin, rot);
    const kv = keys(
      l,
      rope(splitHeads(tf.matMul(h, w[`${p}attn/wk`] as tf.Tensor2D), b, t, c), cos, sin, rot),
      splitHeads(tf.matMul(h, w[`${p}attn/wv`] as tf.Tensor2D), b, t, c),
    );
    const scores = tf.add(tf.matMul(tf.mul(q, scale), kv.k, false, true), bias); // [B, H, T, keys]
    const att = tf.matMul(tf.softmax(scores), kv.v); // [B, H, T, hd]
    x = tf.add(x, tf.matMul(mergeHeads(att, b, t, c) as tf.Tensor2D, w[`${p}attn/wo`] as tf.Tensor2D));
    x = tf.add(x, mlp(lm, p, layerNorm(x, w[`${p}ln2/gamma`]!, w[`${p}ln2/beta`]!, c.lnEpsilon)));
  }
  return x;
}

/** The full sliding-window causal forward (call inside a tidy). */
function forward(lm: TransformerLM, tokens: tf.Tensor2D, positions: tf.Tensor2D, mask: tf.Tensor2D, keepKV: boolean, lastOnly: boolean): ForwardResult {
  const c = lm.config;
  const w = lm.weights;
  const [b, t] = tokens.shape;
  const bias = windowBias(c, mask);
  const kv: ForwardResult['kv'] = [];
  const x = blocks(lm, tf.gather(w.embed!, tf.reshape(tokens, [b * t])), b, t, positions, bias, (_l, k, v) => {
    if (keepKV) kv.push({ k, v });
    return { k, v };
  });
  const hidden = (lastOnly ? tf.reshape(tf.slice(tf.reshape(x, [b, t, c.dModel]), [0, t - 1, 0], [b, 1, c.dModel]), [b, c.dModel]) : x) as tf.Tensor2D;
  return { hidden, kv };
}

/** tf.tidy for a result that holds tensors in a typed object (kept, as tidy keeps any nested tensor). */
function tidyOut<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

function checkInputs(name: string, tokens: tf.Tensor2D, positions: tf.Tensor2D, mask: tf.Tensor2D): void {
  if (tokens.rank !== 2) throw new Error(`${name}: tokens must be [B, T], got [${tokens.shape}]`);
  if (positions.shape.join() !== tokens.shape.join() || mask.shape.join() !== tokens.shape.join()) {
    throw new Error(`${name}: tokens [${tokens.shape}], positions [${positions.shape}] and mask [${mask.shape}] must have the same shape`);
  }
}

/**
 * Logits float32 [B, T, V] at every position: the full sliding-window causal forward (no cache).
 * tokens, positions (0 at each row's first real token) and mask (1 real, 0 padding): int32 [B, T].
 * A position attends to the positions i − W < j ≤ i whose mask is 1; pad positions' logits are
 * meaningless.
 */
export function transformerLogits(lm: TransformerLM, tokens: tf.Tensor2D, positions: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor3D {
  checkInputs('transformerLogits', tokens, positions, mask);
  const [b, t] = tokens.shape;
  return tf.tidy(() => tf.reshape(head(lm, forward(lm, tokens, positions, mask, false, false).hidden), [b, t, lm.config.vocabSize]));
}

/** Logits [B, V] of the last position only (no [B, T, V] intermediate). */
export function lastLogits(lm: TransformerLM, tokens: tf.Tensor2D, positions: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  checkInputs('lastLogits', tokens, positions, mask);
  return tf.tidy(() => head(lm, forward(lm, tokens, positions, mask, false, true).hidden));
}

/**
 * A StepFunction without a cache, for `generate(windowStep(lm), { contextLength: lm.config.window, … })`:
 * each call runs the forward on the given tokens with the context's attention mask and position
 * ids and returns the last position's logits [B, V]. With contextLength W it equals the cached
 * model while a row is at most W tokens long; past that the cached model (and transformerLogits
 * over the whole row) still sees, through the lower layers, tokens beyond the last W: give
 * contextLength = receptiveField(lm.config) for exactly the same logits.
 */
export function windowStep(lm: TransformerLM): StepFunction {
  return (tokens, context) => lastLogits(lm, tokens, context.positionIds(), context.attentionMask());
}

/** The ring-buffer KV cache of cachedStep. */
export interface KVCache {
  /** Per layer: rotated keys [B, H, W, hd]. */
  readonly k: tf.Tensor4D[];
  /** Per layer: values [B, H, W, hd]. */
  readonly v: tf.Tensor4D[];
  /** float32 [B, W]: 1 where the slot holds a real token. */
  readonly valid: tf.Tensor2D;
  /** The slot the next token is written to (the oldest entry once the ring is full). */
  readonly next: number;
}

/** Disposes a cache returned by cachedStep (either kind: the ring buffer or the position cache). */
export function disposeCache(cache: KVCache | PositionCache | undefined): void {
  if (!cache) return;
  tf.dispose([...cache.k, ...cache.v, 'valid' in cache ? cache.valid : cache.pos]);
}

/** Prefill: the forward over the prompts, keeping the last W keys and values in slots 0…. */
function prefill(lm: TransformerLM, tokens: tf.Tensor2D, positions: tf.Tensor2D, mask: tf.Tensor2D): { logits: tf.Tensor2D; state: KVCache } {
  checkInputs('cachedStep', tokens, positions, mask);
  const W = lm.config.window;
  const [b, p] = tokens.shape;
  return tidyOut(() => {
    const { hidden, kv } = forward(lm, tokens, positions, mask, true, true);
    const fitted = (x: tf.Tensor): tf.Tensor4D =>
      (p >= W
        ? tf.slice(x, [0, 0, p - W, 0], [-1, -1, W, -1])
        : tf.pad(x, [
            [0, 0],
            [0, 0],
            [0, W - p],
            [0, 0],
          ])) as tf.Tensor4D;
    const m = tf.cast(mask, 'float32');
    const valid = (
      p >= W
        ? tf.slice(m, [0, p - W], [b, W])
        : tf.pad(m, [
            [0, 0],
            [0, W - p],
          ])
    ) as tf.Tensor2D;
    const state: KVCache = { k: kv.map((e) => fitted(e.k)), v: kv.map((e) => fitted(e.v)), valid, next: p >= W ? 0 : p };
    return { logits: head(lm, hidden), state };
  });
}

/** Decode: one token per row [B, 1] at its position, written into slot cache.next. */
function decode(lm: TransformerLM, tokens: tf.Tensor2D, positions: tf.Tensor2D, cache: KVCache, forget?: Uint8Array): { logits: tf.Tensor2D; state: KVCache } {
  const c = lm.config;
  const w = lm.weights;
  const W = c.window;
  const [b, t] = tokens.shape;
  if (t !== 1 || positions.shape.join() !== tokens.shape.join()) {
    throw new Error(`cachedStep: a decode step takes tokens and positions [B, 1] (feed: 'new'), got [${tokens.shape}] and [${positions.shape}]`);
  }
  const hd = c.dModel / c.heads;
  return tidyOut(() => {
    const slot = new Float32Array(W);
    slot[cache.next] = 1;
    const oh = tf.tensor4d(slot, [1, 1, W, 1]);
    const keep = tf.sub(1, oh);
    // The new key / value into slot `next`: cache·keep + new·onehot. tfjs-backend-cpu multiplies
    // broadcast 4-D operands element by element with index arithmetic (8.8 s a step at 250
    // rows); there the same sum is written with operands it multiplies in a flat loop (a rank-1
    // mask over [B·H, W·hd], the new row padded into its slot). Other backends keep one shape of
    // op for every step (no shader per slot).
    const flat = tf.getBackend() === 'cpu';
    const keepFlat = flat ? tf.reshape(tf.tile(tf.reshape(keep, [W, 1]), [1, hd]), [W * hd]) : undefined;
    const write = (old: tf.Tensor4D, x: tf.Tensor): tf.Tensor4D => {
      if (!flat) return tf.add(tf.mul(old, keep), tf.mul(x, oh)) as tf.Tensor4D;
      const rows = b * c.heads;
      const placed = tf.pad(tf.reshape(x, [rows, hd]), [
        [0, 0],
        [cache.next * hd, (W - 1 - cache.next) * hd],
      ]);
      return tf.reshape(tf.add(tf.mul(tf.reshape(old, [rows, W * hd]), keepFlat!), placed), [b, c.heads, W, hd]) as tf.Tensor4D;
    };
    // Rows that start a new request (generate's queue) forget every slot they had.
    const before = forget?.includes(1)
      ? tf.mul(
          cache.valid,
          tf.tensor2d(
            Float32Array.from(forget, (f) => 1 - f),
            [b, 1],
          ),
        )
      : cache.valid;
    const valid = tf.add(tf.mul(before, tf.reshape(keep, [1, W])), tf.reshape(oh, [1, W])) as tf.Tensor2D;
    const bias = tf.reshape(tf.mul(tf.sub(valid, 1), 1e9), [b, 1, 1, W]);
    const ks: tf.Tensor4D[] = [];
    const vs: tf.Tensor4D[] = [];
    const x = blocks(lm, tf.gather(w.embed!, tf.reshape(tokens, [b])), b, 1, positions, bias, (l, k, v) => {
      const K = write(cache.k[l]!, k); // [B, H, W, hd]
      const V = write(cache.v[l]!, v);
      ks.push(K);
      vs.push(V);
      return { k: K, v: V };
    });
    return { logits: head(lm, x as tf.Tensor2D), state: { k: ks, v: vs, valid, next: (cache.next + 1) % W } };
  });
}

/**
 * A StepFunction with a KV cache, for `generate(cachedStep(lm), { feed: 'new', … })`. Prefill: the
 * left-padded prompts [B, P] with the context's attention mask and position ids (P may exceed W:
 * the last W stay in the cache). Decode: the newest token [B, 1] at context.positionIds(). Returns
 * the last logits [B, V] and the new cache; disposes the cache it replaces (an `initialState` is
 * never used nor disposed). The caller disposes the final cache (GenerateResult.state, e.g. with
 * disposeCache). A row marked in context.restarted (generate's queue) forgets its cached tokens.
 *
 * With `{ draftTokens: g }`: the position-indexed cache of speculative decoding instead (see
 * {@link CachedStepOptions} and {@link PositionCache}).
 */
export function cachedStep(lm: TransformerLM, options?: { draftTokens?: undefined }): StepFunction<KVCache>;
export function cachedStep(lm: TransformerLM, options: { draftTokens: number }): StepFunction<PositionCache>;
export function cachedStep(lm: TransformerLM, options?: CachedStepOptions): StepFunction<KVCache> | StepFunction<PositionCache> {
  if (options?.draftTokens !== undefined) return positionStep(lm, options.draftTokens);
  return (tokens: tf.Tensor2D, context: StepContext<KVCache>) => {
    if (context.phase === 'prefill') return prefill(lm, tokens, context.positionIds(), context.attentionMask());
    const cache = context.state;
    if (!cache) throw new Error('cachedStep: a decode step without the cache of the previous step');
    const out = decode(lm, tokens, context.positionIds(), cache, context.restarted);
    disposeCache(cache);
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// The position-indexed cache (speculative decoding: several tokens per call, rollback).

/** Options of cachedStep. */
export interface CachedStepOptions {
  /**
   * γ, the most tokens a call may feed past the last accepted position (a speculative pass
   * feeds the last token and γ proposals; a draft model with `draft.tokens` γ writes fewer).
   * Given (an integer ≥ 0), cachedStep keeps a {@link PositionCache} of W + γ slots per layer:
   * a decode call takes T ≥ 1 tokens per row at consecutive positions (context.positionIds()),
   * starting at any position up to the row's next one: a position fed again overwrites its
   * entry, so rejected proposals are rolled back by feeding their positions again. It returns
   * logits [B, T, V] when `context.logitPositions` > 1, else the last position's [B, V].
   * Absent: the ring buffer ({@link KVCache}), one token per decode call.
   */
  draftTokens?: number | undefined;
}

/**
 * The cache of `cachedStep(lm, { draftTokens: g })`: S = W + g slots per layer, the token at
 * position p in slot p mod S. A query at position q attends to the slots whose stored position s
 * has q − W < s ≤ q: s ≤ q hides what rejected proposals left at later positions, and S = W + g
 * means a call writing up to g positions past the last accepted one never overwrites an entry
 * that a later query's window still reaches.
 */
export interface PositionCache {
  /** Per layer: rotated keys [B, H, S, hd]. */
  readonly k: tf.Tensor4D[];
  /** Per layer: values [B, H, S, hd]. */
  readonly v: tf.Tensor4D[];
  /** float32 [B, S]: the position each slot holds, {@link EMPTY_POSITION} where none. */
  readonly pos: tf.Tensor2D;
  /** S = W + draftTokens. */
  readonly slots: number;
}

/** What PositionCache.pos holds for an empty slot: below any q − W, so never attended to. */
export const EMPTY_POSITION = -1e9;

/**
 * float32 [B, T, S]: the one-hot of each position's slot (p mod S), built on the device from
 * float32 ops only. The slot is p − S·floor((p + ½)/S) rather than tf.mod: GLSL's division may
 * be off by an ulp or two (a multiple of S could land in slot S, an all-zero row, a write
 * silently lost); the ½ keeps the quotient far from an integer. The one-hot is
 * relu(1 − |slot − s|), exact for integers (p < 2²⁴), rather than tf.oneHot: tfjs-backend-wasm
 * 4.22 writes int32 bits into a float32 oneHot, and tfjs-backend-webgpu casts int32 to float32
 * by relabelling the i32 buffer, on which its transpose (also inside tf.sum) fails to compile
 * (both seen with test/transformer-cache.test.ts).
 */
function slotOneHot(positions: tf.Tensor, slots: number): tf.Tensor3D {
  const [b, t] = positions.shape as [number, number];
  const p = tf.cast(positions, 'float32');
  const slot = tf.sub(p, tf.mul(tf.floor(tf.div(tf.add(p, 0.5), slots)), slots));
  const distance = tf.abs(tf.sub(tf.reshape(slot, [b, t, 1]), tf.reshape(tf.range(0, slots, 1, 'float32'), [1, 1, slots])));
  return tf.relu(tf.sub(1, distance)) as tf.Tensor3D;
}

/**
 * x [B, H, T, hd] placed into slots: [B, H, S, hd], row s the x of the token whose one-hot
 * (ohT [B, S, T], transposed) picks s, else 0. A batched matMul: one nonzero term per sum, so
 * exact, and the same op on the same shapes every call.
 */
function scatter(ohT: tf.Tensor3D, x: tf.Tensor, heads: number): tf.Tensor4D {
  const [b, s, t] = ohT.shape;
  return tf.matMul(tf.tile(tf.reshape(ohT, [b, 1, s, t]), [1, heads, 1, 1]), x) as tf.Tensor4D;
}

/** Prefill: the full forward; the real tokens at positions > (row's last) − S into their slots. */
function positionPrefill(
  lm: TransformerLM,
  slots: number,
  tokens: tf.Tensor2D,
  positions: tf.Tensor2D,
  mask: tf.Tensor2D,
): { logits: tf.Tensor2D; state: PositionCache } {
  checkInputs('cachedStep', tokens, positions, mask);
  const [b, p] = tokens.shape;
  return tidyOut(() => {
    const { hidden, kv } = forward(lm, tokens, positions, mask, true, true);
    const pf = tf.cast(positions, 'float32');
    const m = tf.cast(mask, 'float32');
    // Only the last S real tokens of a row: older ones would share a slot with a newer one.
    const last = tf.max(tf.mul(pf, m), 1, true); // [B, 1]
    const write = tf.mul(m, tf.cast(tf.greater(pf, tf.sub(last, slots)), 'float32')); // [B, P]
    const oh = tf.mul(slotOneHot(positions, slots), tf.reshape(write, [b, p, 1])); // [B, P, S]
    const ohT = tf.transpose(oh, [0, 2, 1]) as tf.Tensor3D; // [B, S, P]
    const filled = tf.sum(oh, 1); // [B, S], 0 or 1
    const placed = tf.sum(tf.mul(oh, tf.reshape(pf, [b, p, 1])), 1); // [B, S]: one nonzero term each
    const pos = tf.add(placed, tf.mul(tf.sub(1, filled), EMPTY_POSITION)) as tf.Tensor2D;
    const heads = lm.config.heads;
    const state: PositionCache = { k: kv.map((e) => scatter(ohT, e.k, heads)), v: kv.map((e) => scatter(ohT, e.v, heads)), pos, slots };
    return { logits: head(lm, hidden), state };
  });
}

/**
 * Decode: T tokens per row at their positions, written into their slots (overwriting whatever a
 * rejected proposal left there), then the T queries over all S slots. Logits [B, T, V] when
 * `allLogits`, else the last position's [B, V].
 */
function positionDecode(
  lm: TransformerLM,
  tokens: tf.Tensor2D,
  positions: tf.Tensor2D,
  cache: PositionCache,
  allLogits: boolean,
  forget?: Uint8Array,
): { logits: tf.Tensor; state: PositionCache } {
  const c = lm.config;
  const w = lm.weights;
  const W = c.window;
  const S = cache.slots;
  const [b, t] = tokens.shape;
  if (tokens.rank !== 2 || positions.shape.join() !== tokens.shape.join()) {
    throw new Error(`cachedStep: a decode step takes tokens and positions of the same shape [B, T], got [${tokens.shape}] and [${positions.shape}]`);
  }
  // More than S tokens in one call would put two of them in one slot.
  if (t > S) throw new Error(`cachedStep: a decode step takes at most ${S} tokens per row (W + draftTokens), got ${t}`);
  const hd = c.dModel / c.heads;
  return tidyOut(() => {
    const pf = tf.cast(positions, 'float32'); // [B, T]
    const oh = slotOneHot(positions, S); // [B, T, S]
    const ohT = tf.transpose(oh, [0, 2, 1]) as tf.Tensor3D; // [B, S, T]
    const keep = tf.sub(1, tf.sum(oh, 1)); // [B, S]: 0 on the slots written now
    // Rows that start a new request (generate's queue) forget every slot they had.
    const before = forget?.includes(1)
      ? tf.add(
          tf.mul(
            cache.pos,
            tf.tensor2d(
              Float32Array.from(forget, (f) => 1 - f),
              [b, 1],
            ),
          ),
          tf.tensor2d(
            Float32Array.from(forget, (f) => f * EMPTY_POSITION),
            [b, 1],
          ),
        )
      : cache.pos;
    // (The new positions by a product and a sum, not a matMul of pf, a relabelled int32 on webgpu: see slotOneHot.)
    const pos = tf.add(tf.mul(before, keep), tf.sum(tf.mul(oh, tf.reshape(pf, [b, t, 1])), 1)) as tf.Tensor2D;
    // Query q sees slot s when q − W < pos[s] ≤ q: its window, its own call's earlier tokens
    // (written above) and itself, never an entry at a later position (a stale proposal).
    const d = tf.sub(tf.reshape(pf, [b, t, 1]), tf.reshape(pos, [b, 1, S])); // [B, T, S]
    const allowed = tf.cast(tf.logicalAnd(tf.greaterEqual(d, 0), tf.less(d, W)), 'float32');
    const bias = tf.reshape(tf.mul(tf.sub(allowed, 1), 1e9), [b, 1, t, S]);
    // Old entries times a full-shape keep (one tile per call; element-wise ops of equal shapes
    // are flat loops on tfjs-backend-cpu, broadcast ones index arithmetic) plus the new ones.
    const keepFull = tf.tile(tf.reshape(keep, [b, 1, S, 1]), [1, c.heads, 1, hd]);
    const write = (old: tf.Tensor4D, x: tf.Tensor): tf.Tensor4D => tf.add(tf.mul(old, keepFull), scatter(ohT, x, c.heads)) as tf.Tensor4D;
    const ks: tf.Tensor4D[] = [];
    const vs: tf.Tensor4D[] = [];
    const x = blocks(lm, tf.gather(w.embed!, tf.reshape(tokens, [b * t])), b, t, positions, bias, (l, k, v) => {
      const K = write(cache.k[l]!, k); // [B, H, S, hd]
      const V = write(cache.v[l]!, v);
      ks.push(K);
      vs.push(V);
      return { k: K, v: V };
    });
    const state: PositionCache = { k: ks, v: vs, pos, slots: S };
    if (allLogits) return { logits: tf.reshape(head(lm, x as tf.Tensor2D), [b, t, c.vocabSize]), state };
    // One position wanted: the head on the last token only (no [B·T, V] intermediate).
    const lastHidden = t === 1 ? x : tf.reshape(tf.slice(tf.reshape(x, [b, t, c.dModel]), [0, t - 1, 0], [b, 1, c.dModel]), [b, c.dModel]);
    return { logits: head(lm, lastHidden as tf.Tensor2D), state };
  });
}

/** The step function of `cachedStep(lm, { draftTokens })`. */
function positionStep(lm: TransformerLM, draftTokens: number): StepFunction<PositionCache> {
  if (!(Number.isInteger(draftTokens) && draftTokens >= 0)) throw new Error(`cachedStep: draftTokens must be an integer >= 0, got ${draftTokens}`);
  const slots = lm.config.window + draftTokens;
  return (tokens: tf.Tensor2D, context: StepContext<PositionCache>) => {
    if (context.phase === 'prefill') return positionPrefill(lm, slots, tokens, context.positionIds(), context.attentionMask());
    const cache = context.state;
    if (!cache) throw new Error('cachedStep: a decode step without the cache of the previous step');
    if (cache.slots !== slots) throw new Error(`cachedStep: a cache of ${cache.slots} slots given to a step function of ${slots} (W + draftTokens)`);
    const out = positionDecode(lm, tokens, context.positionIds(), cache, (context.logitPositions ?? 1) > 1, context.restarted);
    disposeCache(cache);
    return out;
  };
}
