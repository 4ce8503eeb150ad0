// Structural guards: every processor has a float64 reference twin, and the reference never
// imports tfjs (so it cannot share the code it is meant to check).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as lib from '../src/index.js';

const root = path.resolve(import.meta.dirname, '..', 'src');
// Every file of src/processors but the shared ops is one processor.
const processorFiles = readdirSync(path.join(root, 'processors')).filter((f) => f !== 'ops.ts');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

describe('structure', () => {
  // The history processors are configured through createSampler options (they read the
  // sampler's device history), not exported as factories.
  const OPTION_ONLY = ['penalties.ts', 'dry.ts', 'logit-bias.ts', 'allowed-tokens.ts', 'min-new-tokens.ts', 'bad-words.ts', 'no-repeat-ngram.ts', 'token-mask.ts'];

  it.each(processorFiles)('processor %s has a reference twin file and method', async (file) => {
    expect(readdirSync(path.join(root, 'reference'))).toContain(file);
    if (OPTION_ONLY.includes(file)) {
      const mod = (await import(`../src/reference/${file.replace('.ts', '.js')}`)) as Record<string, unknown>;
      expect(Object.values(mod).some((v) => typeof v === 'function')).toBe(true);
      return;
    }
    const factoryName = file.replace('.ts', '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    const factory = (lib as unknown as Record<string, (v: number) => lib.LogitsProcessor>)[factoryName];
    expect(typeof factory).toBe('function');
    const processor = factory!(factoryName === 'topK' ? 2 : 0.5);
    expect(typeof processor.reference).toBe('function');
    expect(processor.name).toBe(file.replace('.ts', ''));
  });

  it('the reference and the noise never import tfjs', () => {
    const files = [
      ...readdirSync(path.join(root, 'reference')).map((f) => path.join(root, 'reference', f)),
      path.join(root, 'noise.ts'),
      path.join(root, 'params.ts'),
      path.join(root, 'options.ts'),
      path.join(root, 'invalid-rows.ts'),
      path.join(root, 'history-options.ts'),
    ];
    for (const f of files) expect(readFileSync(f, 'utf8'), f).not.toMatch(/@tensorflow/);
  });

  it('one rule for "is this a tensor": isTensor / assertOwnTensor in src/logits.ts, no instanceof elsewhere', () => {
    const offenders = sourceFiles(root)
      .filter((f) => !f.endsWith(path.join('src', 'logits.ts')))
      .filter((f) => /instanceof\s+(tf\.)?Tensor\b/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(root, f))).toEqual([]);
  });

  it('built-in processors are recognised by identity, never by name', () => {
    const offenders = sourceFiles(root).filter((f) => /new Set\(\[\s*'temperature',\s*'top-k'/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(root, f))).toEqual([]);
  });

  it('no tf.clipByValue: webgl\'s packed clip skips a whole 2×2 texel when one of its values is NaN', () => {
    const offenders = sourceFiles(root).filter((f) => /\bclipByValue\(/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(root, f))).toEqual([]);
  });

  it('no bare tf.max: rowMax (webgl\'s max starts from -1e20), unless the line says why it is safe', () => {
    const offenders = sourceFiles(root).flatMap((f) =>
      readFileSync(f, 'utf8').split('\n').flatMap((line, i) => (/\btf\.max\(/.test(line) && !/identity-safe/.test(line) ? [`${path.relative(root, f)}:${i + 1}`] : [])),
    );
    // Only rowMax itself (its two passes), in processors/ops.ts.
    expect(offenders.map((o) => o.replace(/:\d+$/, ''))).toEqual(['processors/ops.ts', 'processors/ops.ts']);
  });
});
