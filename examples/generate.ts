import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu'; // or any other tfjs backend
import { generate, generateStream, type StepFunction } from 'tfjs-sampling';

// A toy bigram "model": the logits of the next token are row `last token` of a fixed table.
// A real step function runs a tfjs model here (a tf.LayersModel / tf.GraphModel can also be
// passed to generate() directly: the last position's logits are used).
const V = 16;
const EOS = 1;
const PAD = 0;
const table = tf.tidy(() => {
  const t = tf.randomNormal([V, V], 0, 2, 'float32', 3);
  const id = tf.range(0, V, 1, 'int32');
  const rarerEos = tf.where(tf.equal(id, EOS), tf.add(t, -1), t);
  return tf.where(tf.equal(id, PAD), tf.fill([V, V], -Infinity), rarerEos); // PAD is never generated
});
const step: StepFunction = (tokens) =>
  tf.tidy(() => {
    const [b, t] = tokens.shape;
    const last = tf.reshape(tf.slice(tokens, [0, t - 1], [b, 1]), [b]);
    return tf.gather(table, last) as tf.Tensor2D; // float32 [B, V]
  });

// Three prompts of different lengths (left-padded with PAD inside), one seed per row.
const options = {
  prompts: [[5, 7, 2], [9], [3, 3]],
  padId: PAD,
  maxNewTokens: [12, 6, 12],
  stopTokens: [EOS],
  sampler: { temperature: 0.9, topP: 0.95, minP: 0.05, seed: [11, 12, 13] },
};

// Streaming: one event per step, finished rows get PAD.
const streamed: number[][] = options.prompts.map(() => []);
for await (const { step: s, tokens, finished } of generateStream(step, options)) {
  console.log(`step ${String(s).padStart(2)}  tokens ${Array.from(tokens).join(' ').padEnd(10)}  finished ${Array.from(finished).join('')}`);
  tokens.forEach((t, r) => {
    if (streamed[r]!.length < options.maxNewTokens[r]! && !streamed[r]!.includes(EOS)) streamed[r]!.push(t);
  });
}

// The same generation in one call: the same seeds give the same tokens.
const result = await generate(step, options);
result.sequences.forEach((seq, r) => console.log(`row ${r}: ${seq.join(' ')}  (${result.finishReasons[r]})`));
if (JSON.stringify(streamed) !== JSON.stringify(result.tokens)) throw new Error('the stream and generate() drew different tokens');

// Multi-token stop sequences and stop strings (matched in the text of the new tokens, across
// token boundaries), trimmed from the result with keepStop: false.
const detokenize = (tokens: readonly number[]): string => tokens.map((t) => String.fromCharCode(97 + t)).join('');
const plainText = detokenize(result.tokens[0]!);
const stopAt = plainText.slice(2, 4); // two letters the first row generates
const stopped2 = await generate(step, { ...options, stopStrings: [[stopAt], [], []], detokenize, keepStop: false });
console.log(`row 0 without stops: "${plainText}", stopped at "${stopAt}": "${stopped2.texts![0]}" (${stopped2.finishReasons[0]})`);
if (stopped2.texts![0] !== plainText.slice(0, plainText.indexOf(stopAt))) throw new Error('stop string not trimmed where it starts');

// Stopping early: an AbortSignal ends the loop between steps and rejects with its reason.
const controller = new AbortController();
const stopped = await generate(step, {
  ...options,
  signal: controller.signal,
  onStep: ({ step: s }) => {
    if (s === 2) controller.abort(new Error('enough'));
  },
}).catch((e: unknown) => (e as Error).message);
console.log('aborted run:', stopped);

// A step function that carries state (here a running [B, 4] "cache") and needs only the newest
// token: contextLength 1 feeds it a fixed [B, 1] window (on GPU backends a [B, T] input growing
// every step would leave one pooled buffer per step). It disposes the state it replaces; the last
// one comes back in the result and is the caller's to dispose (on abort or error generate
// disposes it).
const withCache: StepFunction<tf.Tensor2D> = (tokens, { state }) => {
  const out = tf.tidy(() => {
    const logits = tf.gather(table, tf.reshape(tokens, [-1])) as tf.Tensor2D; // tokens: [B, 1]
    const cache = tf.add(state ?? tf.zeros([tokens.shape[0], 4]), tf.slice(logits, [0, 0], [-1, 4])) as tf.Tensor2D;
    return { logits, state: cache };
  });
  state?.dispose();
  return out;
};
const cached = await generate(withCache, { ...options, contextLength: 1 });
console.log('with a cache: same tokens', JSON.stringify(cached.tokens) === JSON.stringify(result.tokens), '- last state', cached.state?.shape);
if (JSON.stringify(cached.tokens) !== JSON.stringify(result.tokens)) throw new Error('the step function with a cache drew other tokens');
cached.state?.dispose();

table.dispose();
if (tf.memory().numTensors !== 0) throw new Error(`${tf.memory().numTensors} tensors leaked`);
if (stopped !== 'enough') throw new Error('abort did not stop the generation');
