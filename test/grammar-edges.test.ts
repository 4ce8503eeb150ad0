// The grammar engine and its bitmasks at the edges: stop tokens that also have a text, a matcher
// asked for a mask after its stop token, bounded numbers that slipped past the exact rules
// (type arrays, properties named like keywords, bounds without a type), JSON schema keywords
// xgrammar ignores, and typed errors for bad matcher options and disposed matchers / engines.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGrammarEngine, generate, SamplingError, type GrammarEngine, type GrammarSpec, type StepFunction } from '../src/index.js';
import { BACKENDS, xgrammarModule } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';

/** The project's ASCII layout: 0 pad, 1 unk, 2 newline (a stop token that is also a text), then 0x20..0x7E. */
const TOKENS: (string | null)[] = [null, null, '\n', ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))];
const V = TOKENS.length;
const NEWLINE = 2;
const id = (ch: string): number => TOKENS.indexOf(ch);
const allowedIn = (mask: Int32Array): number[] => Array.from({ length: V }, (_, j) => j).filter((j) => ((mask[j >> 5]! >>> (j & 31)) & 1) === 1);

async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('grammar engine at the edges', () => {
  let engine: GrammarEngine;
  beforeAll(async () => {
    engine = await createGrammarEngine({ tokens: TOKENS }, { xgrammar: await xgrammarModule() });
  });
  afterAll(() => engine?.dispose());

  /** Whether the grammar accepts the whole text followed by the stop token (null: compiling it throws). */
  async function accepts(spec: GrammarSpec, text: string): Promise<boolean> {
    const m = await engine.matcher(spec, { stopTokens: [NEWLINE] });
    try {
      for (const ch of text) if (!m.accept(id(ch))) return false;
      return m.accept(NEWLINE) && m.isComplete();
    } finally {
      m.dispose();
    }
  }

  it('a stop token with a text: the mask allows it exactly where accept() takes it (where the grammar may end), never as text', async () => {
    const cases: [GrammarSpec, string, 'stopToken' | 'complete'][] = [
      [{ json: true, whitespace: 'any' }, '{', 'stopToken'],
      [{ regex: 'a(\\n|b)c' }, 'a', 'stopToken'],
      [{ regex: 'a[^b]*' }, 'a', 'stopToken'],
      [{ regex: 'a(\\n|b)c' }, 'a', 'complete'],
      [{ ebnf: 'root ::= "x" ("\\n" "y")?' }, 'x', 'stopToken'],
    ];
    for (const [spec, prefix, end] of cases) {
      const m = await engine.matcher(spec, { stopTokens: [NEWLINE], end });
      for (const ch of prefix) expect(m.accept(id(ch))).toBe(true);
      const mask = await m.nextMask();
      const replay = async (token: number): Promise<boolean> => {
        const r = await engine.matcher(spec, { stopTokens: [NEWLINE], end });
        for (const ch of prefix) r.accept(id(ch));
        const ok = r.accept(token);
        r.dispose();
        return ok;
      };
      // Every token the mask allows is one accept() takes, and the stop token is one of them
      // exactly when accept() takes it.
      for (const j of allowedIn(mask)) expect(await replay(j), `${JSON.stringify(spec)} after ${prefix}: token ${j}`).toBe(true);
      expect(allowedIn(mask).includes(NEWLINE), `${JSON.stringify(spec)} ${end}`).toBe(await replay(NEWLINE));
      m.dispose();
    }
    // Where the grammar may end, the stop token stays allowed ('stopToken').
    const m = await engine.matcher({ regex: 'a[^b]*' }, { stopTokens: [NEWLINE] });
    m.accept(id('a'));
    expect(allowedIn(await m.nextMask())).toContain(NEWLINE);
    // The probe left the matcher where it was: it goes on, then ends.
    expect(m.accept(id('c'))).toBe(true);
    expect(m.isComplete()).toBe(false);
    expect(m.accept(NEWLINE)).toBe(true);
    expect(m.isComplete()).toBe(true);
    m.dispose();
  });

  it("after the stop token the mask allows nothing (no abort of xgrammar's module); a disposed matcher gives a typed error", async () => {
    const m = await engine.matcher({ regex: 'a' }, { stopTokens: [NEWLINE] });
    expect(m.accept(id('a'))).toBe(true);
    expect(m.accept(NEWLINE)).toBe(true);
    const mask = await m.nextMask();
    expect(mask.length).toBe(Math.ceil(V / 32));
    expect(allowedIn(mask)).toEqual([]);
    m.reset();
    expect(allowedIn(await m.nextMask())).toEqual([id('a')]);
    m.dispose();
    for (const f of [() => m.nextMask(), () => m.accept(id('a')), () => m.isComplete(), () => m.reset()]) {
      const err = await caught(f);
      expect(err).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument).toBe('matcher');
    }
    m.dispose(); // twice is fine
  });

  it('bounded numbers stay exact in type arrays and under properties named like keywords', async () => {
    const nullable = { jsonSchema: { type: ['integer', 'null'], maximum: 120 } };
    expect(await accepts(nullable, '129')).toBe(false);
    expect(await accepts(nullable, '120')).toBe(true);
    expect(await accepts(nullable, 'null')).toBe(true);
    const mixed = { jsonSchema: { type: ['integer', 'number', 'null'], minimum: -2, maximum: 120 } };
    expect(await accepts(mixed, '129')).toBe(false);
    expect(await accepts(mixed, '1.5')).toBe(true);
    expect(await accepts(mixed, '-3')).toBe(false);
    for (const name of ['enum', 'const', 'default']) {
      const spec = { jsonSchema: { type: 'object', properties: { [name]: { type: 'integer', maximum: 120 } }, required: [name] } };
      expect(await accepts(spec, `{"${name}":129}`), name).toBe(false);
      expect(await accepts(spec, `{"${name}":7}`), name).toBe(true);
    }
    // A property named uniqueItems is a name, not the keyword.
    expect(await accepts({ jsonSchema: { type: 'object', properties: { uniqueItems: { type: 'boolean' } } } }, '{"uniqueItems":true}')).toBe(true);
  });

  it('refused rather than ignored: bounds without a numeric type, and keywords xgrammar does not enforce', async () => {
    const refused: [object, string][] = [
      [{ maximum: 5 }, 'jsonSchema'],
      [{ type: 'object', properties: { a: { minimum: 0 } } }, 'jsonSchema.properties.a'],
      [{ type: 'integer', not: { const: 3 } }, 'jsonSchema.not'],
      [{ type: 'array', items: { type: 'integer' }, contains: { const: 5 } }, 'jsonSchema.contains'],
      [JSON.parse('{"if":{"type":"integer"},"then":{"minimum":5}}'), 'jsonSchema.if'], // `then` written in JSON: no thenable in the source
      [{ type: 'object', properties: { a: { type: 'integer' } }, dependentRequired: { a: ['b'] } }, 'jsonSchema.dependentRequired'],
      [{ type: 'object', properties: { a: { type: 'integer' } }, dependencies: { a: ['b'] } }, 'jsonSchema.dependencies'],
      [{ allOf: [{ type: 'integer' }, { type: 'integer', maximum: 3 }] }, 'jsonSchema.allOf'],
      [{ type: ['integer', 'string'], maximum: 3, minLength: 2 }, 'jsonSchema'],
    ];
    for (const [schema, argument] of refused) {
      const err = await caught(() => engine.compile({ jsonSchema: schema }));
      expect(err, JSON.stringify(schema)).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument, JSON.stringify(schema)).toBe(argument);
    }
    // Still compiled: one allOf; data (examples, enum) that looks like a schema with those keywords.
    expect(await accepts({ jsonSchema: { allOf: [{ type: 'integer' }] } }, '4')).toBe(true);
    const data = { type: 'object', properties: { a: { type: 'integer' } }, examples: [{ a: 1, not: {}, maximum: 9 }] };
    expect(await accepts({ jsonSchema: data }, '{"a":1}')).toBe(true);
    expect(await accepts({ jsonSchema: { enum: [{ maximum: 9 }, 1] } }, '{"maximum":9}')).toBe(true);
  });

  it('bad matcher options and an engine disposed while it compiles: typed errors naming the argument', async () => {
    const cases: [unknown, string][] = [
      [null, 'options'],
      [{ stopTokens: 5 }, 'stopTokens'],
      [{ stopTokens: 'ab' }, 'stopTokens'],
    ];
    for (const [opts, argument] of cases) {
      const err = await caught(() => engine.matcher({ regex: 'a' }, opts as never));
      expect(err, JSON.stringify(opts)).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument).toBe(argument);
    }
    const other = await createGrammarEngine({ tokens: TOKENS }, { xgrammar: await xgrammarModule() });
    const pending = other.compile({ jsonSchema: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'integer', minimum: 0, maximum: 1000 } } } });
    other.dispose();
    const err = await caught(() => pending);
    expect(err).toBeInstanceOf(SamplingError);
    expect((err as SamplingError).argument).toBe('grammar engine');
  });
});

describe.each(BACKENDS)('grammar-constrained generation at the edges on %s', (backend) => {
  backendSuite(backend);
  let engine: GrammarEngine;
  beforeAll(async () => {
    engine = await createGrammarEngine({ tokens: TOKENS }, { xgrammar: await xgrammarModule() });
  });
  afterAll(() => engine?.dispose());

  /** Logits that prefer the newline (the stop token), then "c", then the rest equally. */
  const likesNewline: StepFunction = (tokens) => {
    const B = tokens.shape[0];
    const z = new Float32Array(B * V);
    for (let b = 0; b < B; b++) {
      z[b * V + NEWLINE] = 5;
      z[b * V + id('c')] = 3;
    }
    return tf.tensor2d(z, [B, V]);
  };

  it('a stop token that is also a text is drawn only where the grammar may end (no "token outside the mask" error)', async () => {
    for (const end of ['stopToken', 'complete'] as const) {
      const result = await generate(likesNewline, {
        prompts: [[NEWLINE], [NEWLINE], [NEWLINE]],
        padId: 0,
        maxNewTokens: 12,
        stopTokens: [NEWLINE],
        keepStop: false,
        sampler: { temperature: 0 },
        grammar: { engine, rows: [{ regex: 'a(\\n|b)c' }, { json: true, whitespace: 'any' }, { ebnf: 'root ::= "x" ("\\n" "y")? "c"' }], end },
      });
      const texts = result.tokens.map((row) => row.map((t) => TOKENS[t] ?? '').join(''));
      expect(texts[0], end).toBe('abc');
      expect(texts[1], end).not.toContain('\n');
      expect(texts[2], end).toBe('xc');
      expect(result.finishReasons[0], end).toBe('stop');
      expect(result.finishReasons[2], end).toBe('stop');
    }
  });
});
