// Structured output: the project's JSON character model (model/json) generates records that
// match a JSON schema, every time, through generate({ grammar }). The grammar engine
// (@mlc-ai/web-xgrammar, an optional dependency) is created once for the model's vocabulary;
// each step it gives every row's token bitmask to the sampler, and the drawn token advances the
// row's matcher. Rows may have different grammars (a schema, a regular expression, a choice, or
// none); every record is parsed and validated with ajv here. Then the Tang-poem transformer under
// a regular expression and a choice over its Chinese characters.
import * as tf from '@tensorflow/tfjs-core';
import Ajv from 'ajv';
import { createGrammarEngine, generate } from 'tfjs-sampling';
import { loadJsonModelFromDisk, loadTransformerFromDisk } from '../model/fs-io.js';
import { PACKAGE_SCHEMA } from '../model/json/schemas.js';
import { cachedStep, disposeCache } from '../model/transformer.js';
import { pickBackend } from './backend.js';

const backend = await pickBackend();
const lm = await loadJsonModelFromDisk();
const { padId, unkId, newlineId } = lm.config;
const before = tf.memory().numTensors;

// The tokenizer side: each token's text by id; null for tokens that are no text (padding,
// unknown, and the stop token, which the grammar allows only where the output may end).
const engine = await createGrammarEngine({ tokens: lm.vocab.map((text, id) => (id === padId || id === unkId || id === newlineId ? null : text)) });

// Six package records, then one row per kind of grammar.
const n = 6;
const start = performance.now();
const result = await generate(cachedStep(lm), {
  prompts: Array.from({ length: n + 3 }, () => [newlineId]), // a record starts after a newline
  padId,
  feed: 'new',
  maxNewTokens: 200,
  stopTokens: [newlineId],
  keepStop: false,
  sampler: { temperature: 0.9, topP: 0.95, seed: 2026 },
  grammar: {
    engine,
    rows: [
      ...Array.from({ length: n }, () => ({ jsonSchema: PACKAGE_SCHEMA })),
      { regex: '(application|text|image)/[a-z0-9.+-]{2,24}' }, // a media type
      { choice: ['MIT', 'ISC', 'Apache-2.0'] },
      null, // free
    ],
  },
});
disposeCache(result.state);
const texts = result.tokens.map((row) => lm.decode(row));
console.log(`backend ${backend.name}: ${n + 3} rows in ${result.steps} steps (${((performance.now() - start) / 1000).toFixed(2)} s)`);

const validate = new Ajv().compile(PACKAGE_SCHEMA);
let valid = 0;
for (const text of texts.slice(0, n)) {
  const ok = validate(JSON.parse(text)) === true;
  if (ok) valid++;
  console.log(`  ${ok ? 'valid  ' : 'INVALID'} ${text}`);
}
console.log(`  regex    ${texts[n]}`);
console.log(`  choice   ${texts[n + 1]}`);
console.log(`  free     ${texts[n + 2]!.replace(/\n/g, '⏎')}`);
if (valid !== n) throw new Error(`${n - valid} of ${n} records do not match the schema`);
if (!/^(application|text|image)\/[a-z0-9.+-]{2,24}$/.test(texts[n]!) || !['MIT', 'ISC', 'Apache-2.0'].includes(texts[n + 1]!))
  throw new Error('a regex or choice row does not match');

// The Tang-poem transformer's vocabulary is characters too (Chinese ones): a grammar over it
// starts a five-character line with a season, or picks one of two lines. (xgrammar 0.1.27
// mis-handles characters past ASCII inside [classes]: such grammars are refused; write
// alternations, as here.)
const tang = await loadTransformerFromDisk();
const tangEngine = await createGrammarEngine({
  tokens: tang.vocab.map((text, id) => (id === tang.config.padId || id === tang.config.unkId || id === tang.config.newlineId ? null : text)),
});
const tangBefore = tf.memory().numTensors;
const line = await generate(cachedStep(tang), {
  prompts: [tang.encodePrompt(''), tang.encodePrompt('')],
  padId: tang.config.padId,
  feed: 'new',
  maxNewTokens: 10,
  sampler: { temperature: 0.8, seed: [7, 8] },
  grammar: { engine: tangEngine, rows: [{ regex: '(春|夏|秋|冬).{4}' }, { choice: ['白日依山盡', '黃河入海流'] }], end: 'complete' },
});
disposeCache(line.state);
console.log(`Tang model: ${line.tokens.map((row) => tang.decode(row)).join(' / ')}`);
if (!/^[春夏秋冬].{4}$/.test(tang.decode(line.tokens[0]!)) || !['白日依山盡', '黃河入海流'].includes(tang.decode(line.tokens[1]!)))
  throw new Error('a Tang row does not match its grammar');
if (tf.memory().numTensors !== tangBefore) throw new Error('tensors leaked');
tangEngine.dispose();
tang.dispose();

const compiled = await engine.compile({ jsonSchema: PACKAGE_SCHEMA });
console.log(`compiled once per engine: ${engine.cached} grammars cached (the schema again: ${compiled.compileMs} ms)`);
engine.dispose();
if (tf.memory().numTensors !== before) throw new Error(`${tf.memory().numTensors - before} tensors leaked`);
lm.dispose();
