// generate()'s stops beyond single tokens: multi-token stop sequences per row, stop strings through
// a detokenizer (matched wherever the tokens split them), kept or trimmed; checked against a run
// without stops on a deterministic bigram model, on every backend, with no tensor left behind.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { SamplingError, generate } from '../src/index.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS } from './helpers/backend.js';
import { makeRows } from './helpers/logits.js';
import { bigram } from './helpers/bigram.js';

const V = 30;
const TABLE = makeRows('peaky', V, V, 'stops-table').map((r) => Array.from(r));
const prompts = [[1, 2], [3], [4, 5, 6]];
const base = { prompts, padId: 0, maxNewTokens: 14, sampler: { temperature: 1.3, seed: [5, 6, 7] } };
/** Two characters per token, so that a stop string can start inside a token. */
const detokenize = (tokens: readonly number[]): string => tokens.map((t) => 'abcde'[t % 5]! + 'xyz'[t % 3]!).join('');

/** The end (exclusive) of the first occurrence of `seq` in `row`, or -1. */
function firstEnd(row: readonly number[], seq: readonly number[]): number {
  for (let e = seq.length; e <= row.length; e++) if (seq.every((t, i) => row[e - seq.length + i] === t)) return e;
  return -1;
}

describe.each(BACKENDS)('stop sequences and stop strings on %s', (backend) => {
  backendSuite(backend);

  it('multi-token stop sequences per row: the row ends at the first match, kept or trimmed; the prompt never matches', async () => {
    const table = tf.tensor2d(TABLE);
    const plain = await generate(bigram(table), base);
    // Row 0: two of its tokens; row 1: none; row 2: its prompt's last token and its first new token (must not match there).
    const seq0 = plain.tokens[0]!.slice(4, 6);
    const seq2 = [6, plain.tokens[2]![0]!];
    const stopSequences = [[seq0], [], [seq2, plain.tokens[2]!.slice(7, 10)]];
    for (const keepStop of [true, false]) {
      const got = await generate(bigram(table), { ...base, stopSequences, keepStop, logprobs: true });
      const e0 = firstEnd(plain.tokens[0]!, seq0);
      expect(got.tokens[0]).toEqual(plain.tokens[0]!.slice(0, keepStop ? e0 : e0 - 2));
      expect(got.finishReasons[0]).toBe('stop');
      expect(got.tokens[1]).toEqual(plain.tokens[1]);
      expect(got.finishReasons[1]).toBe('length');
      const e2 = Math.min(...[firstEnd(plain.tokens[2]!, seq2), firstEnd(plain.tokens[2]!, plain.tokens[2]!.slice(7, 10))].filter((e) => e > 0));
      // The trap: over prompt + tokens, seq2 first matches across the prompt's end (at the first
      // new token); the row must run past it to a match among its new tokens, and stop there.
      expect(firstEnd([...prompts[2]!, ...plain.tokens[2]!], seq2)).toBe(prompts[2]!.length + 1);
      expect(got.finishReasons[2]).toBe('stop');
      const len2 = e2 === firstEnd(plain.tokens[2]!, seq2) ? 2 : 3;
      expect(got.tokens[2]).toEqual(plain.tokens[2]!.slice(0, keepStop ? e2 : e2 - len2));
      got.tokens.forEach((row, r) => expect(got.logprobs![r]!.length).toBe(row.length));
      expect(got.sequences[0]).toEqual([...prompts[0]!, ...got.tokens[0]!]);
    }
    table.dispose();
  });

  it('stop strings through a detokenizer, across token boundaries: kept, or trimmed exactly in texts', async () => {
    const table = tf.tensor2d(TABLE);
    const plain = await generate(bigram(table), { ...base, detokenize });
    const text0 = plain.texts![0]!;
    expect(text0).toBe(detokenize(plain.tokens[0]!));
    const str = text0.slice(5, 8); // starts in the middle of token 2, ends in token 3
    const at = text0.indexOf(str);
    for (const keepStop of [true, false]) {
      const got = await generate(bigram(table), { ...base, stopStrings: [[str], [], []], detokenize, keepStop });
      const endToken = Math.ceil((at + str.length) / 2); // the first prefix whose text holds it
      expect(got.finishReasons[0]).toBe('stop');
      if (keepStop) {
        expect(got.tokens[0]).toEqual(plain.tokens[0]!.slice(0, endToken));
        expect(got.texts![0]).toBe(detokenize(got.tokens[0]!));
      } else {
        expect(got.texts![0]).toBe(text0.slice(0, at));
        expect(got.tokens[0]).toEqual(plain.tokens[0]!.slice(0, Math.floor(at / 2)));
      }
      expect(got.tokens[1]).toEqual(plain.tokens[1]);
    }
    // One list for every row.
    const all = await generate(bigram(table), { ...base, stopStrings: [str], detokenize });
    expect(all.tokens[0]!.length).toBe(Math.ceil((at + str.length) / 2));
    table.dispose();
  });

  it('keepStop false trims a stop token too; bad options are SamplingErrors naming them, nothing left behind', async () => {
    const table = tf.tensor2d(TABLE);
    const plain = await generate(bigram(table), base);
    const stop = plain.tokens[0]![3]!;
    const kept = await generate(bigram(table), { ...base, stopTokens: [[stop], [], []] });
    const trimmed = await generate(bigram(table), { ...base, stopTokens: [[stop], [], []], keepStop: false });
    expect(kept.tokens[0]!.at(-1)).toBe(stop);
    expect(trimmed.tokens[0]).toEqual(kept.tokens[0]!.slice(0, -1));
    const m = bigram(table);
    const bad: [object, string][] = [
      [{ stopStrings: ['x'] }, 'detokenize'],
      [{ stopSequences: [[1], []] }, 'stopSequences[1]'],
      [{ stopSequences: [[1, -1]] }, 'stopSequences[0]'],
      [{ stopSequences: [[[1]], [[2]]] }, 'stopSequences'],
      [{ stopStrings: [''], detokenize }, 'stopStrings[0]'],
      [{ keepStop: 'no' }, 'keepStop'],
      [{ detokenize: 'abc' }, 'detokenize'],
    ];
    for (const [extra, argument] of bad) {
      const before = tf.memory().numTensors;
      const err = await generate(m, { ...base, ...extra }).catch((e: unknown) => e);
      expect(err, argument).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument).toBe(argument);
      expect(tf.memory().numTensors).toBe(before);
    }
    table.dispose();
  });
});
