// A small character-level language model of Tang poems: its tokenizer, its architecture and its
// loader. Platform-neutral (no node: imports) so that a browser bundle can load it by URL; Node
// code loads it through model/fs-io.ts.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Marks the metadata this module writes, so a wrong model.json fails loudly. */
export const CHAR_MODEL_FORMAT = 'tfjs-sampling-char-model';

/** Ids of the special tokens; ordinary characters follow from id 3 on. */
export const PAD_ID = 0;
export const UNK_ID = 1;
export const NEWLINE_ID = 2;
/** How the unknown token prints: the conventional mark for a lost character in 全唐詩 editions. */
export const UNK_TEXT = '□';

/** Stored in model.json as the model's user-defined metadata. */
export interface CharModelMetadata {
  format: typeof CHAR_MODEL_FORMAT;
  /** id -> character; '' for pad, UNK_TEXT for unk, '\n' for newline. */
  vocab: string[];
  padId: number;
  unkId: number;
  newlineId: number;
  contextLength: number;
}

export interface CharModel {
  /** predict(int32 [B, contextLength]) -> float32 logits [B, V], no softmax. */
  readonly model: tfl.LayersModel;
  /** id -> character. */
  readonly vocab: readonly string[];
  /** 0: left padding and start of text, as in training. */
  readonly padId: number;
  readonly unkId: number;
  /** Ends every poem: a natural stop token. */
  readonly newlineId: number;
  readonly contextLength: number;
  /** Characters to ids; characters outside the vocabulary become unkId. */
  encode(text: string): number[];
  /** Ids to text; pad ids are skipped. */
  decode(ids: ArrayLike<number>): string;
}

export interface Tokenizer {
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
}

/** The tokenizer of a vocabulary laid out as in CharModelMetadata. */
export function makeTokenizer(vocab: readonly string[]): Tokenizer {
  const index = new Map<string, number>();
  // Pad and unk never match input text; newline does.
  vocab.forEach((ch, id) => {
    if (id >= NEWLINE_ID) index.set(ch, id);
  });
  return {
    encode: (text) => Array.from(text, (ch) => index.get(ch) ?? UNK_ID),
    decode: (ids) => {
      let out = '';
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if (id === PAD_ID) continue;
        out += vocab[id] ?? UNK_TEXT;
      }
      return out;
    },
  };
}

/**
 * Builds the vocabulary from training text: specials, then every character seen at least
 * `minCount` times, most frequent first (ties by code point, so the order is deterministic).
 */
export function buildVocab(text: string, minCount: number): string[] {
  const counts = new Map<string, number>();
  for (const ch of text) if (ch !== '\n') counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const chars = [...counts]
    .filter(([, n]) => n >= minCount)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([ch]) => ch);
  return ['', UNK_TEXT, '\n', ...chars];
}

/**
 * The last `contextLength` ids of `ids`, left-padded with PAD_ID: the model's input row for
 * predicting the token that follows `ids`.
 */
export function contextWindow(ids: ArrayLike<number>, contextLength: number): number[] {
  const row = new Array<number>(contextLength).fill(PAD_ID);
  const n = Math.min(ids.length, contextLength);
  for (let i = 0; i < n; i++) row[contextLength - n + i] = ids[ids.length - n + i]!;
  return row;
}

/**
 * int32 [B, contextLength]: one left-padded window per row of ids (prompts may differ in length).
 *
 * @example
 * const x = contextWindows(lm, [lm.encode('春眠'), lm.encode('床前明月光，')]);
 * const logits = lm.model.predict(x) as tf.Tensor2D; // [2, V]
 */
export function contextWindows(lm: Pick<CharModel, 'contextLength'>, rows: ArrayLike<number>[]): tf.Tensor2D {
  const flat = new Int32Array(rows.length * lm.contextLength);
  rows.forEach((r, b) => flat.set(contextWindow(r, lm.contextLength), b * lm.contextLength));
  return tf.tensor2d(flat, [rows.length, lm.contextLength], 'int32');
}

export interface ArchitectureConfig {
  vocabSize: number;
  contextLength: number;
  /** Width of a character embedding. */
  embedding: number;
  /** Width of the hidden ReLU layer over the concatenated window. */
  hidden: number;
  /** Width of the linear bottleneck before the output layer (keeps the V-wide layer small). */
  bottleneck: number;
  /** Dropout after the window and after the hidden layer (training only). */
  dropout: number;
}

/**
 * A windowed MLP language model (Bengio et al.'s NPLM shape): embed each of the `contextLength`
 * previous characters, concatenate, one ReLU layer, a linear bottleneck, then logits over V.
 * Input int32 [B, contextLength]; output float32 logits [B, V].
 */
export function buildCharModel(c: ArchitectureConfig): tfl.LayersModel {
  const input = tfl.input({ shape: [c.contextLength], dtype: 'int32', name: 'window' });
  let x = tfl.layers.embedding({ inputDim: c.vocabSize, outputDim: c.embedding, name: 'embed' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.flatten({ name: 'concat' }).apply(x) as tfl.SymbolicTensor;
  if (c.dropout > 0) x = tfl.layers.dropout({ rate: c.dropout, name: 'drop_window' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: c.hidden, activation: 'relu', name: 'hidden' }).apply(x) as tfl.SymbolicTensor;
  if (c.dropout > 0) x = tfl.layers.dropout({ rate: c.dropout, name: 'drop_hidden' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: c.bottleneck, name: 'bottleneck' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: c.vocabSize, name: 'logits' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: 'tang_char_mlp' });
}

/** Checks and returns the metadata stored by the training script. */
export function readMetadata(model: tfl.LayersModel): CharModelMetadata {
  const m = model.getUserDefinedMetadata() as Partial<CharModelMetadata> | undefined;
  if (!m || m.format !== CHAR_MODEL_FORMAT || !Array.isArray(m.vocab) || typeof m.contextLength !== 'number') {
    throw new Error(`loadCharModel: model.json has no ${CHAR_MODEL_FORMAT} metadata (userDefinedMetadata); was it saved by model/train.ts?`);
  }
  const inShape = model.inputs[0]?.shape;
  const outShape = model.outputs[0]?.shape;
  if (inShape?.[1] !== m.contextLength || outShape?.[1] !== m.vocab.length) {
    throw new Error(
      `loadCharModel: model shapes ${JSON.stringify(inShape)} -> ${JSON.stringify(outShape)} do not match contextLength ${m.contextLength} and vocabulary size ${m.vocab.length}`,
    );
  }
  return m as CharModelMetadata;
}

/** Wraps a LayersModel that carries CharModelMetadata. */
export function wrapCharModel(model: tfl.LayersModel): CharModel {
  const m = readMetadata(model);
  const tok = makeTokenizer(m.vocab);
  return {
    model,
    vocab: Object.freeze([...m.vocab]),
    padId: m.padId,
    unkId: m.unkId,
    newlineId: m.newlineId,
    contextLength: m.contextLength,
    encode: tok.encode,
    decode: tok.decode,
  };
}

/**
 * Loads the model from a URL of its model.json (browser; fetched with tf.io.http) or from any
 * IOHandler (Node: `fileSystemIO(dir)` from model/fs-io.ts).
 *
 * @example
 * const lm = await loadCharModel('/model/weights/model.json');
 * const logits = lm.model.predict(contextWindows(lm, [lm.encode('春眠')])) as tf.Tensor2D; // [1, V]
 */
export async function loadCharModel(source: string | tf.io.IOHandler): Promise<CharModel> {
  return wrapCharModel(await tfl.loadLayersModel(source));
}
