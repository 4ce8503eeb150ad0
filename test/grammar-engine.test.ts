// The grammar engine without tensors (Node; its loader in Chromium is exercised by
// test/grammar.test.ts): bounded numbers are exact (a property over random bounds and numbers,
// checked against the matcher itself), choices escape what they must, compiled grammars are
// cached, bad grammars and vocabularies give typed errors.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGrammarEngine, SamplingError, type GrammarEngine, type GrammarSpec } from '../src/index.js';
import { numberRange } from '../src/grammar/numbers.js';

const TOKENS: (string | null)[] = [null, null, '\n', ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))];
const STOP = 2;

describe('grammar engine (xgrammar)', () => {
  let engine: GrammarEngine;
  beforeAll(async () => {
    engine = await createGrammarEngine({ tokens: TOKENS });
  });
  afterAll(() => engine?.dispose());

  /** Whether the grammar accepts the whole text followed by the stop token. */
  async function accepts(spec: GrammarSpec, text: string): Promise<boolean> {
    const m = await engine.matcher(spec, { stopTokens: [STOP] });
    try {
      for (const ch of text) if (!m.accept(TOKENS.indexOf(ch))) return false;
      return m.accept(STOP) && m.isComplete();
    } finally {
      m.dispose();
    }
  }

  it("bounded integers and numbers accept exactly the values inside the bounds, with at most multipleOf's decimal places (property over random bounds and values)", async () => {
    const bound = fc.oneof(fc.integer({ min: -1200, max: 1200 }), fc.constantFrom(-1, 0, 1, 9, 10, 99, 100, 999, 1000, -10, -100));
    const numberText = fc.oneof(
      fc.integer({ min: -20000, max: 20000 }).map(String),
      fc.tuple(fc.integer({ min: -1300, max: 1300 }), fc.constantFrom('', '.0', '.00', '.5', '.05', '.999', '.1')).map(([i, f]) => `${i}${f}`),
      fc.constantFrom('0', '-0', '-0.5', '0.5', '-0.0', '00', '01', '1.', '.5', '1e3', '-', '1000.0', '999.99'),
    );
    const isJsonNumber = (t: string): boolean => /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(t);
    let checked = 0;
    let emptyCases = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          type: fc.constantFrom('integer', 'number'),
          lo: fc.option(bound, { nil: undefined }),
          hi: fc.option(bound, { nil: undefined }),
          loEx: fc.boolean(),
          hiEx: fc.boolean(),
          places: fc.constantFrom(undefined, undefined, 0, 1, 2),
          values: fc.array(numberText, { minLength: 8, maxLength: 8 }),
        }),
        async ({ type, lo, hi, loEx, hiEx, places, values }) => {
          fc.pre(lo !== undefined || hi !== undefined || places !== undefined); // otherwise xgrammar's own number (exponents included)
          const schema: Record<string, unknown> = { type };
          if (places !== undefined) schema.multipleOf = 10 ** -places;
          if (lo !== undefined) schema[loEx ? 'exclusiveMinimum' : 'minimum'] = lo;
          if (hi !== undefined) schema[hiEx ? 'exclusiveMaximum' : 'maximum'] = hi;
          const inside = (v: number): boolean => (lo === undefined || (loEx ? v > lo : v >= lo)) && (hi === undefined || (hiEx ? v < hi : v <= hi));
          // Empty or not, decided here, not by numberRange: is there a value on the grid of the
          // allowed decimals (integers: none; number without multipleOf: any, 6 stands for that)
          // inside the bounds? The bounds are integers, so in grid units the smallest candidate is
          // lo, or lo plus one step when lo is excluded.
          const grid = 10 ** (type === 'integer' || places === 0 ? 0 : (places ?? 6));
          const first = lo === undefined ? undefined : lo * grid + (loEx ? 1 : 0);
          const empty = first !== undefined && hi !== undefined && (hiEx ? first >= hi * grid : first > hi * grid);
          let threw: unknown;
          try {
            numberRange(schema, 'jsonSchema');
          } catch (err) {
            threw = err;
          }
          if (threw !== undefined && !(threw instanceof SamplingError)) throw threw;
          expect(threw !== undefined, `numberRange throws exactly on empty ranges: ${JSON.stringify(schema)}`).toBe(empty);
          if (empty) {
            emptyCases++;
            await expect(engine.matcher({ jsonSchema: schema }, { stopTokens: [STOP] }), JSON.stringify(schema)).rejects.toBeInstanceOf(SamplingError);
          }
          // Around the bounds too.
          const near = [lo, hi].flatMap((b) => (b === undefined ? [] : [b - 1, b, b + 1].map(String).concat([`${b}.5`, `${b - 1}.5`])));
          for (const t of [...values, ...near]) {
            const decimals = t.includes('.') ? t.length - t.indexOf('.') - 1 : 0;
            const fits = type === 'number' ? places === undefined || decimals <= places : decimals === 0;
            // No !empty here: on an empty range no value may pass inside() (a check of the test's own emptiness).
            const want = isJsonNumber(t) && t !== '-0' && !/^-0\.0*$/.test(t) && fits && inside(Number(t));
            const got = empty ? false : await accepts({ jsonSchema: schema }, t);
            expect(got, `${JSON.stringify(schema)} on ${t}`).toBe(want);
            checked++;
          }
        },
      ),
      { numRuns: 400, seed: 0x13 },
    );
    expect(checked).toBeGreaterThan(400 * 8);
    // Both sides of the emptiness check are exercised.
    expect(emptyCases).toBeGreaterThan(20);
    expect(emptyCases).toBeLessThan(380);
  });

  it('choices are exact strings: quotes, backslashes and control characters escaped', async () => {
    const choice = ['say "hi"', 'back\\slash', 'tab\tand\nnewline\r', 'bell\u0007', 'x'];
    const tokens = [...TOKENS.slice(0, 3), '\t', '\r', '\u0007', ...TOKENS.slice(3)];
    const e = await createGrammarEngine({ tokens });
    try {
      for (const c of choice) {
        const m = await e.matcher({ choice }, { end: 'complete' });
        let ok = true;
        for (const ch of c) ok &&= m.accept(tokens.indexOf(ch));
        expect(ok && m.isComplete(), c).toBe(true);
        m.dispose();
      }
      const m = await e.matcher({ choice }, { end: 'complete' });
      expect(m.accept(tokens.indexOf('y'))).toBe(false);
      m.dispose();
    } finally {
      e.dispose();
    }
  });

  it('characters past ASCII: "." matches them (written [^\\n] for xgrammar), classes with them are refused', async () => {
    const tokens = [null, '春', '夏', '，', 'a', '\n'];
    const e = await createGrammarEngine({ tokens });
    try {
      const m = await e.matcher({ regex: '春.' }, { end: 'complete' });
      expect(m.accept(1)).toBe(true);
      const bits = await m.nextMask();
      expect([1, 2, 3, 4, 5].filter((j) => (bits[0]! >>> j) & 1)).toEqual([1, 2, 3, 4]); // not the newline
      m.dispose();
      for (const [spec, argument] of [
        [{ regex: '[春夏]' }, 'grammar.regex'],
        [{ regex: 'a[^，]' }, 'grammar.regex'],
        [{ ebnf: 'root ::= [\\u6625]' }, 'grammar.ebnf'],
        [{ jsonSchema: { type: 'string', pattern: '^[春]+$' } }, 'jsonSchema.pattern'],
      ] as const) {
        const err = await e.compile(spec as GrammarSpec).catch((x: unknown) => x);
        expect(err, JSON.stringify(spec)).toBeInstanceOf(SamplingError);
        expect((err as SamplingError).argument).toBe(argument);
      }
      // ASCII classes and quoted literals stay.
      await e.compile({ ebnf: 'root ::= "[春]" [a-z]' });
    } finally {
      e.dispose();
    }
  });

  it('compiles a grammar once per engine (the cache returns it at no cost)', async () => {
    const spec: GrammarSpec = { jsonSchema: { type: 'object', properties: { a: { type: 'integer', minimum: 3, maximum: 7 } }, required: ['a'] } };
    const first = await engine.compile(spec);
    const n = engine.cached;
    const again = await engine.compile({ jsonSchema: JSON.stringify(spec.jsonSchema) });
    expect(engine.cached).toBe(n);
    expect(again.compileMs).toBe(0);
    expect(first.compileMs).toBeGreaterThanOrEqual(0);
    expect(await accepts(spec, '{"a":7}')).toBe(true);
    expect(await accepts(spec, '{"a":8}')).toBe(false);
  });

  it('bad grammars and vocabularies: typed errors naming the argument', async () => {
    const bad = async (f: () => Promise<unknown>, argument: string): Promise<void> => {
      const err = await f().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SamplingError);
      expect((err as SamplingError).argument).toBe(argument);
    };
    await bad(() => engine.compile({ ebnf: 'root ::= undefined_rule' }), 'grammar');
    await bad(() => engine.compile({ regex: '' }), 'grammar.regex');
    await bad(() => engine.compile({ choice: [] }), 'grammar.choice');
    await bad(() => engine.compile({ choice: ['a', ''] }), 'grammar.choice[1]');
    await bad(() => engine.compile({ jsonSchema: '{not json' }), 'grammar.jsonSchema');
    await bad(() => engine.compile({ jsonSchema: { type: 'number', minimum: 0.5 } }), 'jsonSchema.minimum');
    await bad(() => engine.compile({ jsonSchema: { type: 'integer', minimum: 5, maximum: 4 } }), 'jsonSchema');
    await bad(() => engine.compile({ jsonSchema: { type: 'number', multipleOf: 0.25 } }), 'jsonSchema.multipleOf');
    await bad(() => engine.compile({ jsonSchema: { type: 'integer', minimum: 0, format: 'int32' } }), 'jsonSchema');
    await bad(
      () => engine.compile({ jsonSchema: { type: 'object', properties: { tags: { type: 'array', uniqueItems: true } } } }),
      'jsonSchema.properties.tags.uniqueItems',
    );
    await bad(() => engine.compile({ regex: 'a', choice: ['a'] } as never), 'grammar');
    await bad(() => engine.matcher({ regex: 'a+' }, { end: 'stopToken' }), 'stopTokens');
    await bad(() => engine.matcher({ regex: 'a+' }, { stopTokens: [TOKENS.length] }), 'stopTokens[0]');
    await bad(() => createGrammarEngine({ tokens: [] }), 'vocabulary.tokens');
    await bad(() => createGrammarEngine({ tokens: ['a', 3 as never] }), 'vocabulary.tokens[1]');
    await bad(() => createGrammarEngine({ tokens: ['a'], vocabSize: 0 }), 'vocabulary.vocabSize');
    await bad(() => createGrammarEngine({ tokens: ['a'] }, { xgrammar: {} }), 'xgrammar');
    // The engine still works after xgrammar failed on a grammar.
    expect(await accepts({ regex: '[ab]+' }, 'abba')).toBe(true);
  });
});
