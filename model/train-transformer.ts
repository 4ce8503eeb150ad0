// Trains the character transformer (model/transformer.ts) on model/corpus/tang.txt, saves it to
// model/transformer/weights, then evaluates it (model/evaluate-transformer.ts). The same loop
// trains other corpora of one text per line through trainTransformer(data, settings): the JSON
// model (model/json/train.ts) is one.
//
//   npx tsx model/train-transformer.ts                                   # the committed model
//   npx tsx model/train-transformer.ts --epochs 1 --max-steps 5 --out /tmp/t   # a quick try
//   options: --backend wasm|cpu  --epochs N  --max-steps N (per epoch)  --out DIR
//            --batch N (sequences)  --seq N (tokens per sequence)  --d-model N  --layers N
//            --heads N  --d-ff N  --window N  --lr X  --final-lr X
//
// Deterministic: the vocabulary, the split and the batches follow from the corpus, the weights
// from a seed, the chunk order from a seeded generator.
//
// Data: the training poems as one stream "\n" + poem + "\n" + poem + "\n" …, cut into chunks of
// `seq` + 1 tokens at an offset that changes every epoch; every position of a chunk is a target
// (positions 0… from the chunk's start, no padding). A poem's start is preceded by a newline, as
// a prompt made by encodePrompt is.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import { buildVocab, makeTokenizer, NEWLINE_ID } from './char-model.js';
import { readPoems, splitPoems, type Split } from './corpus.js';
import { evaluateTransformer, scoredSequences, transformerBitsPerChar } from './evaluate-transformer.js';
import { DEFAULT_TRANSFORMER_DIR, fileSystemIO } from './fs-io.js';
import { setTrainBackend, type TrainBackend } from './train-backend.js';
import { countParams, defaultConfig, initWeights, makeTransformer, saveTransformer, transformerLogits } from './transformer.js';

export const TRAINING = {
  seed: 'tang-char-transformer-1',
  weightSeed: 1,
  /** Characters seen fewer times in the training split become unk (the MLP's vocabulary). */
  minCount: 2,
  window: 64,
  layers: 2,
  heads: 4,
  dModel: 128,
  dFF: 512,
  /** Sequences per batch and tokens per sequence (targets per step: batch · seq). */
  batch: 16,
  seq: 64,
  epochs: 5,
  /** Adam; linear warm-up over `warmup` steps, then a linear fall to `finalLearningRate`. */
  learningRate: 3e-3,
  finalLearningRate: 1e-4,
  warmup: 50,
};

export type TrainingSettings = typeof TRAINING;

/** What a run trains on, where it saves and how it scores (TANG_DATA: the committed Tang model). */
export interface TrainingData {
  /** The training and held-out lines (a poem, a record… per line, without the newline). */
  split(): Split;
  /** id -> text, laid out as in char-model.ts (pad, unk, newline, then characters), from the training lines. */
  vocab(train: readonly string[], settings: TrainingSettings): string[];
  /** The default of --out. */
  outDir: string;
  /** Scores the saved model in `dir` and writes its metrics.json with this training record. */
  evaluate(dir: string, training: unknown): Promise<unknown>;
  /** Held-out sequences per forward in the per-epoch score (default 32; fewer for long lines: the attention is [B, H, T, T]). */
  scoreBatch?: number;
}

/** The Tang poems of model/corpus/tang.txt, the MLP's vocabulary, model/transformer/weights. */
export const TANG_DATA: TrainingData = {
  split: () => splitPoems(readPoems()),
  vocab: (train, settings) => buildVocab(train.join('\n'), settings.minCount),
  outDir: DEFAULT_TRANSFORMER_DIR,
  evaluate: evaluateTransformer,
};

/**
 * Mean cross-entropy (nats) of logits [N, V] against targets, with a hand-written gradient
 * (softmax − one-hot) / N: fewer passes over the [N, V] logits than logSoftmax · oneHot, the
 * costliest elementwise work of a step on wasm.
 */
function crossEntropy(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  const [n, v] = logits.shape;
  const flat = tf.tensor1d(
    Int32Array.from(targets, (t, i) => i * v + t),
    'int32',
  );
  const y = tf.tensor1d(targets, 'int32');
  const ce = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const z = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const lse = tf.logSumExp(z, 1);
    save([z, lse, y]); // saved tensors outlive the forward scope (y would not)
    return {
      value: tf.mean(tf.sub(lse, tf.gather(tf.reshape(z, [-1]), flat))),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [zs, l, ys] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.mul(tf.sub(tf.exp(tf.sub(zs, tf.reshape(l, [-1, 1]))), tf.oneHot(ys as tf.Tensor1D, v)), tf.div(dy, n));
      },
    };
  });
  return ce(logits) as tf.Scalar;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function num(name: string, fallback: number): number {
  const v = arg(name);
  return v === undefined ? fallback : Number(v);
}

/**
 * Trains a transformer on `data` with `defaults` (each overridable by the command-line options
 * above), saves it to --out (default data.outDir), then runs data.evaluate on it.
 */
export async function trainTransformer(data: TrainingData = TANG_DATA, defaults: TrainingSettings = TRAINING): Promise<void> {
  const backend = (arg('backend') ?? 'wasm') as TrainBackend;
  const settings = {
    ...defaults,
    epochs: num('epochs', defaults.epochs),
    batch: num('batch', defaults.batch),
    seq: num('seq', defaults.seq),
    dModel: num('d-model', defaults.dModel),
    layers: num('layers', defaults.layers),
    heads: num('heads', defaults.heads),
    dFF: num('d-ff', defaults.dFF),
    window: num('window', defaults.window),
    learningRate: num('lr', defaults.learningRate),
    finalLearningRate: num('final-lr', defaults.finalLearningRate),
  };
  const maxSteps = num('max-steps', Infinity);
  /** A safety stop on the wall time (the held-out figure is still computed and saved). */
  const maxSeconds = num('max-seconds', Infinity);
  const out = path.resolve(arg('out') ?? data.outDir);
  const rng = seedrandom(`${settings.seed}/chunks`);
  await setTrainBackend(backend);

  const { train, heldOut } = data.split();
  const vocab = data.vocab(train, settings);
  const tok = makeTokenizer(vocab);
  const stream = Int32Array.from([NEWLINE_ID, ...train.flatMap((p) => [...tok.encode(p), NEWLINE_ID])]);
  const config = defaultConfig(vocab.length, {
    window: settings.window,
    layers: settings.layers,
    heads: settings.heads,
    dModel: settings.dModel,
    dFF: settings.dFF,
  });
  const init = initWeights(config, settings.weightSeed);
  // The output bias starts at the log unigram frequencies (add-one smoothed) of the training
  // stream: the model starts at the unigram's loss instead of spending its first thousands of
  // Adam steps (about lr per step) moving the bias there.
  const counts = new Float64Array(vocab.length).fill(1);
  for (const t of stream) counts[t]!++;
  const total = counts.reduce((a, b) => a + b, 0);
  init['out/bias']!.dispose();
  init['out/bias'] = tf.tensor1d(Float32Array.from(counts, (n) => Math.log(n / total)));
  const vars: Record<string, tf.Variable> = {};
  for (const [name, t] of Object.entries(init)) {
    vars[name] = tf.variable(t, true, name);
    t.dispose();
  }
  const lm = makeTransformer(config, vocab, vars);
  const heldSeqs = scoredSequences(lm, heldOut);
  const B = settings.batch;
  const T = settings.seq;
  const chunksPerEpoch = Math.floor((stream.length - 1 - T) / T);
  const stepsPerEpoch = Math.min(Math.floor(chunksPerEpoch / B), maxSteps);
  const totalSteps = stepsPerEpoch * settings.epochs;
  console.log(
    `backend ${tf.getBackend()}; ${train.length} training lines (${stream.length - 1} predictions), ${heldOut.length} held out; vocabulary ${vocab.length}; ` +
      `${countParams(config)} parameters; ${stepsPerEpoch} steps/epoch of ${B}×${T} tokens`,
  );

  const optimizer = tf.train.adam(settings.learningRate);
  const xb = new Int32Array(B * T);
  const yb = new Int32Array(B * T);
  const pos = tf.tensor2d(
    Int32Array.from({ length: B * T }, (_, i) => i % T),
    [B, T],
    'int32',
  );
  const mask = tf.ones([B, T], 'int32') as tf.Tensor2D;
  const t0 = performance.now();
  let step = 0;
  let stopped = false;
  const history: { epoch: number; steps: number; trainBits: number; heldOutBits: number; seconds: number }[] = [];
  for (let epoch = 1; epoch <= settings.epochs; epoch++) {
    const offset = Math.floor(rng() * T);
    const starts = Int32Array.from({ length: chunksPerEpoch }, (_, i) => offset + i * T);
    for (let i = starts.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [starts[i], starts[j]] = [starts[j]!, starts[i]!];
    }
    let natsSum = 0;
    let natsCount = 0;
    for (let s = 0; s < stepsPerEpoch; s++, step++) {
      for (let b = 0; b < B; b++) {
        const st = starts[s * B + b]!;
        xb.set(stream.subarray(st, st + T), b * T);
        yb.set(stream.subarray(st + 1, st + T + 1), b * T);
      }
      const lr =
        step < settings.warmup
          ? (settings.learningRate * (step + 1)) / settings.warmup
          : settings.learningRate +
            (settings.finalLearningRate - settings.learningRate) * ((step - settings.warmup) / Math.max(1, totalSteps - settings.warmup));
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      const loss = optimizer.minimize(() => {
        const logits = tf.reshape(transformerLogits(lm, tf.tensor2d(xb, [B, T], 'int32'), pos, mask), [B * T, config.vocabSize]) as tf.Tensor2D;
        return crossEntropy(logits, yb);
      }, true)!;
      natsSum += (await loss.data())[0]!;
      natsCount++;
      loss.dispose();
      if (performance.now() - t0 > maxSeconds * 1000) {
        console.log(`stopping: --max-seconds ${maxSeconds} reached at step ${step + 1}`);
        stopped = true;
        step++;
        break;
      }
      if ((s + 1) % (Number.isFinite(maxSteps) ? 1 : 50) === 0 || s + 1 === stepsPerEpoch) {
        const sec = (performance.now() - t0) / 1000;
        const rate = ((step + 1) * B * T) / sec;
        console.log(
          `epoch ${epoch}/${settings.epochs} step ${s + 1}/${stepsPerEpoch}  train ${(natsSum / natsCount / Math.LN2).toFixed(3)} bits/char  lr ${lr.toExponential(2)}  ` +
            `${rate.toFixed(0)} chars/s  ${sec.toFixed(0)} s elapsed, ~${(((totalSteps - step - 1) * B * T) / rate).toFixed(0)} s left`,
        );
      }
    }
    if (stopped && natsCount === 0) break;
    const heldOutBits = (await transformerBitsPerChar(lm, heldSeqs, data.scoreBatch)).bits;
    const seconds = (performance.now() - t0) / 1000;
    history.push({ epoch, steps: step, trainBits: natsSum / natsCount / Math.LN2, heldOutBits, seconds: Math.round(seconds) });
    console.log(`epoch ${epoch}: held-out ${heldOutBits.toFixed(3)} bits/char (${seconds.toFixed(0)} s)`);
    if (stopped) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  await saveTransformer(lm, fileSystemIO(out));
  console.log(`saved ${out} after ${seconds.toFixed(0)} s of training`);
  lm.dispose();
  optimizer.dispose();
  tf.dispose([pos, mask]);
  console.log(`tensors still allocated: ${tf.memory().numTensors}`);
  await data.evaluate(out, {
    backend: tf.getBackend(),
    seconds: Math.round(seconds),
    steps: step,
    tokensSeen: step * B * T,
    stoppedEarly: stopped,
    config: { ...settings, ...(Number.isFinite(maxSteps) ? { maxStepsPerEpoch: maxSteps } : {}), ...(Number.isFinite(maxSeconds) ? { maxSeconds } : {}) },
    history,
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await trainTransformer(TANG_DATA, TRAINING);
