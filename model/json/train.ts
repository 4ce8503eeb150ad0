// Trains the JSON character transformer: model/train-transformer.ts's loop on the records of
// model/json/corpus/records.jsonl with the ASCII vocabulary (model/json/vocab.ts), saved to
// model/json/weights, then scored by model/json/evaluate.ts.
//
//   npx tsx model/json/train.ts                        # the committed model (npm run train:json)
//   npx tsx model/json/train.ts --max-steps 5 --epochs 1 --out /tmp/j   # a quick try
//   options as in model/train-transformer.ts (--backend, --epochs, --batch, --layers, --lr, --max-seconds…)
import { trainTransformer, TRAINING, type TrainingData, type TrainingSettings } from '../train-transformer.js';
import { DEFAULT_JSON_MODEL_DIR } from '../fs-io.js';
import { splitJsonRecords } from './corpus.js';
import { evaluateJsonModel, SCORE_BATCH } from './evaluate.js';
import { asciiVocab } from './vocab.js';

/** The Tang settings except the seed and the measured choices below (see model/README.md). */
export const JSON_TRAINING: TrainingSettings = {
  ...TRAINING,
  seed: 'json-char-transformer-1',
  weightSeed: 2,
  /** Unused: the vocabulary is fixed (all printable ASCII). */
  minCount: 0,
  epochs: 3,
};

export const JSON_DATA: TrainingData = {
  split: () => splitJsonRecords(),
  vocab: () => asciiVocab(),
  outDir: DEFAULT_JSON_MODEL_DIR,
  evaluate: evaluateJsonModel,
  scoreBatch: SCORE_BATCH,
};

await trainTransformer(JSON_DATA, JSON_TRAINING);
