// Trains the character model on model/corpus/tang.txt and saves it to model/weights, then runs
// the evaluation (model/evaluate.ts).
//
//   npm run train                                  # the committed model (about 15 min on 2 cores)
//   npx tsx model/train.ts --epochs 1 --out /tmp/m # a quick try that leaves model/weights alone
//   options: --backend wasm|cpu  --epochs N  --max-steps N (per epoch)  --out DIR
//
// Deterministic: the vocabulary, the split and the batches follow from the corpus, and every
// random number (weight init, dropout, shuffling) comes from fixed seeds.
import path from 'node:path';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import {
  buildCharModel,
  buildVocab,
  CHAR_MODEL_FORMAT,
  makeTokenizer,
  NEWLINE_ID,
  PAD_ID,
  UNK_ID,
  wrapCharModel,
  type ArchitectureConfig,
  type CharModelMetadata,
} from './char-model.js';
import { predictionWindows, readPoems, splitPoems } from './corpus.js';
import { evaluate, modelBitsPerChar } from './evaluate.js';
import { DEFAULT_WEIGHTS_DIR, fileSystemIO } from './fs-io.js';
import { setTrainBackend, type TrainBackend } from './train-backend.js';

export const TRAINING = {
  seed: 'tang-char-mlp-1',
  /** Characters seen fewer times in the training split become unk (keeps the weights under 5 MB). */
  minCount: 2,
  contextLength: 24,
  embedding: 32,
  hidden: 512,
  bottleneck: 128,
  dropout: 0.2,
  batchSize: 256,
  epochs: 5,
  /** Adam; the rate falls linearly from `learningRate` to `finalLearningRate` over the run. */
  learningRate: 2e-3,
  finalLearningRate: 1e-4,
};

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const backend = (arg('backend') ?? 'wasm') as TrainBackend;
  const epochs = Number(arg('epochs') ?? TRAINING.epochs);
  const maxSteps = Number(arg('max-steps') ?? Infinity);
  const out = path.resolve(arg('out') ?? DEFAULT_WEIGHTS_DIR);
  // Math.random drives tfjs weight initialisers and dropout masks when no seed is given:
  // seeding it makes every run draw the same numbers.
  seedrandom(TRAINING.seed, { global: true });
  const shuffleRng = seedrandom(`${TRAINING.seed}/shuffle`);
  await setTrainBackend(backend);

  const { train, heldOut } = splitPoems(readPoems());
  const vocab = buildVocab(train.join('\n'), TRAINING.minCount);
  const tok = makeTokenizer(vocab);
  const ctx = TRAINING.contextLength;
  const data = predictionWindows(train, tok, ctx);
  const held = predictionWindows(heldOut, tok, ctx);
  const n = data.y.length;
  console.log(
    `backend ${tf.getBackend()}; ${train.length} training poems (${n} predictions), ${heldOut.length} held out (${held.y.length}); vocabulary ${vocab.length}`,
  );

  const arch: ArchitectureConfig = {
    vocabSize: vocab.length,
    contextLength: ctx,
    embedding: TRAINING.embedding,
    hidden: TRAINING.hidden,
    bottleneck: TRAINING.bottleneck,
    dropout: TRAINING.dropout,
  };
  const model = buildCharModel(arch);
  const metadata: CharModelMetadata = { format: CHAR_MODEL_FORMAT, vocab, padId: PAD_ID, unkId: UNK_ID, newlineId: NEWLINE_ID, contextLength: ctx };
  model.setUserDefinedMetadata(metadata);
  const lm = wrapCharModel(model);
  console.log(`model: ${model.countParams()} parameters (${((model.countParams() * 4) / 1e6).toFixed(2)} MB of float32)`);

  const optimizer = tf.train.adam(TRAINING.learningRate);
  const B = TRAINING.batchSize;
  const stepsPerEpoch = Math.min(Math.floor(n / B), maxSteps);
  const totalSteps = stepsPerEpoch * epochs;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const xb = new Int32Array(B * ctx);
  const yb = new Int32Array(B);
  const t0 = performance.now();
  let step = 0;
  const history: { epoch: number; trainBits: number; heldOutBits: number; seconds: number }[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(shuffleRng() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let natsSum = 0;
    let natsCount = 0;
    for (let s = 0; s < stepsPerEpoch; s++, step++) {
      for (let b = 0; b < B; b++) {
        const k = order[s * B + b]!;
        xb.set(data.x.subarray(k * ctx, (k + 1) * ctx), b * ctx);
        yb[b] = data.y[k]!;
      }
      (optimizer as unknown as { learningRate: number }).learningRate =
        TRAINING.learningRate + (TRAINING.finalLearningRate - TRAINING.learningRate) * (step / totalSteps);
      const loss = optimizer.minimize(() => {
        const logits = model.apply(tf.tensor2d(xb, [B, ctx], 'int32'), { training: true }) as tf.Tensor2D;
        const picked = tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(tf.tensor1d(yb, 'int32'), vocab.length)), 1);
        return tf.neg(tf.mean(picked)) as tf.Scalar;
      }, true)!;
      natsSum += (await loss.data())[0]!;
      natsCount++;
      loss.dispose();
      if ((s + 1) % (Number.isFinite(maxSteps) ? 10 : 100) === 0 || s + 1 === stepsPerEpoch) {
        const sec = (performance.now() - t0) / 1000;
        const rate = ((step + 1) * B) / sec;
        console.log(
          `epoch ${epoch}/${epochs} step ${s + 1}/${stepsPerEpoch}  train ${(natsSum / natsCount / Math.LN2).toFixed(3)} bits/char  ` +
            `${rate.toFixed(0)} chars/s  ${sec.toFixed(0)} s elapsed, ~${(((totalSteps - step - 1) * B) / rate).toFixed(0)} s left`,
        );
      }
    }
    const heldOutBits = await modelBitsPerChar(lm, held.x, held.y);
    const seconds = (performance.now() - t0) / 1000;
    history.push({ epoch, trainBits: natsSum / natsCount / Math.LN2, heldOutBits, seconds });
    console.log(`epoch ${epoch}: held-out ${heldOutBits.toFixed(3)} bits/char (${seconds.toFixed(0)} s)`);
  }
  const seconds = (performance.now() - t0) / 1000;
  await model.save(fileSystemIO(out));
  console.log(`saved ${out} after ${seconds.toFixed(0)} s of training; tensors still allocated: ${tf.memory().numTensors}`);
  model.dispose();
  optimizer.dispose();
  await evaluate(out, {
    backend: tf.getBackend(),
    seconds: Math.round(seconds),
    steps: step,
    config: { ...TRAINING, epochs, ...(Number.isFinite(maxSteps) ? { maxStepsPerEpoch: maxSteps } : {}) },
    history,
  });
}

await main();
