// The committed character transformer for the tests: from disk in Node, by URL in the browser
// projects (the vitest server serves the repository).
import { loadTransformer, type TransformerLM } from '../../model/transformer.js';

export async function loadTestTransformer(): Promise<TransformerLM> {
  if (typeof window === 'undefined') {
    const fsIO = '../../model/fs-io.js'; // Node only: not for the browser bundle
    const { loadTransformerFromDisk } = (await import(/* @vite-ignore */ fsIO)) as typeof import('../../model/fs-io.js');
    return loadTransformerFromDisk();
  }
  return loadTransformer('/model/transformer/weights/model.json');
}
