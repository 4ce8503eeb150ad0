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
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

describe('structure', () => {
  // The history processors are configured through createSampler options (they read the
  // sampler's device history), not exported as factories.
  const OPTION_ONLY = [
    'penalties.ts',
    'dry.ts',
    'logit-bias.ts',
    'allowed-tokens.ts',
    'min-new-tokens.ts',
    'bad-words.ts',
    'no-repeat-ngram.ts',
    'token-mask.ts',
  ];

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
    // The object-valued samplers take their options object.
    const arg: Record<string, unknown> = { topK: 2, xtc: { probability: 0.5 }, mirostat: { version: 2 } };
    const processor = factory!((arg[factoryName] ?? 0.5) as number);
    expect(typeof processor.reference).toBe('function');
    expect(processor.name).toBe(file.replace('.ts', ''));
  });

  it('the reference and the noise never import tfjs, directly or through the modules they import', () => {
    const start = [...readdirSync(path.join(root, 'reference')).map((f) => path.join(root, 'reference', f)), path.join(root, 'noise.ts')];
    // Every module reachable by value imports; type-only imports are erased at compile time (the
    // reference's types name tf.Tensor through src/types.ts, which loads nothing).
    const seen = new Set<string>();
    const queue = [...start];
    while (queue.length > 0) {
      const f = queue.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      const text = readFileSync(f, 'utf8').replace(/\b(import|export)\s+type\s[^;]*;/g, '');
      expect(text, f).not.toMatch(/@tensorflow/);
      for (const m of text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'/g)) queue.push(path.resolve(path.dirname(f), m[1]!.replace(/\.js$/, '.ts')));
    }
    // The walk reached past src/reference (params, options, …), so it does follow imports.
    expect([...seen].some((f) => !f.includes(`${path.sep}reference${path.sep}`) && !f.endsWith('noise.ts'))).toBe(true);
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

  it("no tf.clipByValue: webgl's packed clip skips a whole 2×2 texel when one of its values is NaN", () => {
    const offenders = sourceFiles(root).filter((f) => /\bclipByValue\(/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(root, f))).toEqual([]);
  });

  it('no tf.oneHot: it refuses a depth of 1, and a one-token vocabulary is valid input (oneHotRows)', () => {
    const offenders = sourceFiles(root).filter((f) => /\btf\.oneHot\(/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(root, f))).toEqual([]);
  });

  it('no tf.scatterND outside rowScatterAdd: on webgl it loops over every update for every output element (B·V·B·W steps)', () => {
    const offenders = sourceFiles(root).filter(
      (f) => /\btf\.scatterND\(/.test(readFileSync(f, 'utf8')) && !f.endsWith(path.join('backends', 'webgl-scatter.ts')),
    );
    expect(offenders.map((f) => path.relative(root, f))).toEqual([]);
  });

  it("no bare tf.max / tf.min: rowMax / rowMin (webgl's reductions start from ∓1e20), unless the line says why it is safe", () => {
    // XTC's tf.min returned 1e20 on webgl for rows whose reaching tokens all lie above 1e20.
    const offenders = sourceFiles(root).flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (/\btf\.(max|min)\(/.test(line) && !/identity-safe/.test(line) ? [`${path.relative(root, f)}:${i + 1}`] : [])),
    );
    // Only rowMax itself (its two passes), in processors/ops.ts.
    expect(offenders.map((o) => o.replace(/:\d+$/, ''))).toEqual(['processors/ops.ts', 'processors/ops.ts']);
  });
});

describe('test configuration', () => {
  const repo = path.resolve(import.meta.dirname, '..');

  /** Bare specifiers of the static imports reachable from `entries` (relative imports followed). */
  function bareImports(entries: string[], alias: (file: string) => string): Map<string, string> {
    const found = new Map<string, string>(); // specifier -> first file importing it
    const seen = new Set<string>();
    const queue = entries.map((e) => path.join(repo, e));
    while (queue.length > 0) {
      const file = alias(queue.pop()!);
      if (seen.has(file)) continue;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      // import … from 'x'; import 'x'; export … from 'x' (type-only imports vanish at runtime).
      for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) {
        const [, , typeOnly, spec] = m as unknown as [string, string, string | undefined, string];
        if (typeOnly) continue;
        // Relative modules are followed; assets (`?raw`, .json, .md) hold no imports.
        if (spec.startsWith('.')) {
          if (/\.(js|ts)$/.test(spec)) queue.push(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
        } else if (!found.has(spec)) found.set(spec, path.relative(repo, file));
      }
    }
    return found;
  }

  it('every bare import of the browser suites is pre-bundled (optimizeDeps.include): no page reload mid-run', async () => {
    const { BROWSER_DEPS, CORE_SUITES, CROSS_SUITES } = await import('./setup/suites.js');
    // The browser projects alias the Node backend helper to its browser twin (vitest.config.ts).
    const alias = (f: string): string => (/[/\\]test[/\\]helpers[/\\]backend\.ts$/.test(f) ? f.replace(/backend\.ts$/, 'backend.browser.ts') : f);
    const found = bareImports([...CORE_SUITES, ...CROSS_SUITES], alias);
    const missing = [...found].filter(([spec]) => spec !== 'vitest' && !spec.startsWith('node:') && !BROWSER_DEPS.includes(spec));
    expect(missing.map(([spec, file]) => `${spec} (imported by ${file})`)).toEqual([]);
    // The scan itself works: it sees the imports the reload was seen with.
    expect([...found.keys()]).toEqual(expect.arrayContaining(['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', 'fast-check']));
  });

  it('every test file belongs to a project', async () => {
    const { CORE_SUITES, CROSS_SUITES, NODE_ONLY_SUITES } = await import('./setup/suites.js');
    const files = readdirSync(path.join(repo, 'test'))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => `test/${f}`);
    expect(files.filter((f) => ![...CORE_SUITES, ...CROSS_SUITES, ...NODE_ONLY_SUITES].includes(f))).toEqual([]);
  });
});
