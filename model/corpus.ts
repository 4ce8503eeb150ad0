// The committed corpus and its fixed train / held-out split (Node only).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { contextWindow, NEWLINE_ID, type Tokenizer } from './char-model.js';

export const CORPUS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus/tang.txt');

/** Every HELD_OUT_EVERY-th poem (line index % 20 === 19) is held out: 5%, spread over the whole 全唐詩. */
export const HELD_OUT_EVERY = 20;

export interface Split {
  train: string[];
  heldOut: string[];
}

/** Poems of the corpus, one per line, without the newline. */
export function readPoems(file: string = CORPUS_FILE): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
}

export function splitPoems(poems: readonly string[]): Split {
  const train: string[] = [];
  const heldOut: string[] = [];
  poems.forEach((p, i) => (i % HELD_OUT_EVERY === HELD_OUT_EVERY - 1 ? heldOut : train).push(p));
  return { train, heldOut };
}

/**
 * Every prediction the model makes over `poems`: for each character of a poem and for the newline
 * that ends it, the window of the characters before it in the same poem, left-padded (so each poem
 * starts from an all-pad window, as a prompt at the start of a poem does).
 * Returns x int32 [N * contextLength] (row-major) and y int32 [N].
 */
export function predictionWindows(poems: readonly string[], tok: Tokenizer, contextLength: number): { x: Int32Array; y: Int32Array } {
  const seqs = poems.map((p) => [...tok.encode(p), NEWLINE_ID]);
  const n = seqs.reduce((s, q) => s + q.length, 0);
  const x = new Int32Array(n * contextLength);
  const y = new Int32Array(n);
  let k = 0;
  for (const q of seqs) {
    for (let t = 0; t < q.length; t++, k++) {
      x.set(contextWindow(q.slice(Math.max(0, t - contextLength), t), contextLength), k * contextLength);
      y[k] = q[t]!;
    }
  }
  return { x, y };
}
