// The committed character transformer for the tests: from disk in Node, by URL in the browser
// projects (the vitest server serves the repository).
import { loadTransformer, type TransformerLM } from '../../model/transformer.js';
import type { StepFunction } from '../../src/index.js';

export async function loadTestTransformer(): Promise<TransformerLM> {
  if (typeof window === 'undefined') {
    const fsIO = '../../model/fs-io.js'; // Node only: not for the browser bundle
    const { loadTransformerFromDisk } = (await import(/* @vite-ignore */ fsIO)) as typeof import('../../model/fs-io.js');
    return loadTransformerFromDisk();
  }
  return loadTransformer('/model/transformer/weights/model.json');
}

/** The step function, recording each step's logits into `into` (test-only read-backs). */
export function recorded<S>(step: StepFunction<S>, into: Float32Array[]): StepFunction<S> {
  return async (tokens, ctx) => {
    const out = await step(tokens, ctx);
    const logits = 'logits' in out ? out.logits : out;
    into.push((await logits.data()) as Float32Array);
    return out;
  };
}
