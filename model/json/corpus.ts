// The JSON model's corpus file and its fixed split (Node only): one JSON record per line, split
// as the Tang corpus is (model/corpus.ts: line i is held out when i % 20 === 19).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPoems, splitPoems, type Split } from '../corpus.js';

export const JSON_CORPUS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus', 'records.jsonl');

/** The records of the corpus, one compact JSON value per line, without the newline. */
export function readJsonRecords(file: string = JSON_CORPUS_FILE): string[] {
  return readPoems(file);
}

/** Training and held-out records (every 20th line held out). */
export function splitJsonRecords(records: readonly string[] = readJsonRecords()): Split {
  return splitPoems(records);
}
