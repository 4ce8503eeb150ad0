// Grammar-constrained decoding: a grammar engine (xgrammar) compiles JSON schemas, regular
// expressions, EBNF grammars and choices against a vocabulary, and its matchers give each row's
// token bitmask per step, the layout `SampleContext.mask` takes.
import { Described, SamplingError } from '../errors.js';
import { DATA_KEYWORDS, placeholder, rangeRule, replaceBoundedNumbers, SCHEMA_MAPS } from './numbers.js';
import {
  loadXGrammar,
  xgrammarExports,
  type XGCompiledGrammar,
  type XGCompiler,
  type XGMatcher,
  type XGrammarModule,
  type XGTokenizerInfo,
} from './xgrammar.js';

/**
 * What a row's output must match.
 * - `jsonSchema`: a JSON schema (object or string). Output is compact JSON (no whitespace) unless
 *   `whitespace: 'any'`; `strict` (default true) forbids properties and items the schema does not
 *   name. Bounded integers and numbers are exact (see the README for what is supported).
 * - `json: true`: any JSON value.
 * - `regex`: a regular expression the whole output matches.
 * - `ebnf`: an EBNF grammar in xgrammar's syntax (GBNF-like), from rule `root` or `rootRule`.
 * - `choice`: exactly one of the strings.
 */
export type GrammarSpec =
  | {
      /** A JSON schema, as an object or a string. */
      readonly jsonSchema: object | string;
      /** `'compact'` (default): no whitespace between tokens; `'any'`: JSON's whitespace allowed. */
      readonly whitespace?: 'compact' | 'any';
      /** Default true: no properties or items the schema does not name. */
      readonly strict?: boolean;
    }
  | {
      /** Any JSON value. */
      readonly json: true;
      /** As for `jsonSchema`. */
      readonly whitespace?: 'compact' | 'any';
    }
  | {
      /** A regular expression the whole output matches. */
      readonly regex: string;
    }
  | {
      /** An EBNF grammar in xgrammar's syntax (GBNF-like). */
      readonly ebnf: string;
      /** Its start rule (default `root`). */
      readonly rootRule?: string;
    }
  | {
      /** Exactly one of these strings. */
      readonly choice: readonly string[];
    };

/** The token texts a grammar engine matches against. */
export interface GrammarVocabulary {
  /**
   * Each token's text, by id: the characters it stands for (`'raw'`), or the tokenizer's own
   * form (`'byte_level'`: GPT-2 style, `Ġ` for a space; `'byte_fallback'`: SentencePiece, `▁` and
   * `<0x0A>`). `null` for tokens with no text (padding, unknown, begin / end of text): a grammar
   * never allows them, except stop tokens where it may end.
   */
  readonly tokens: readonly (string | null)[];
  /** How `tokens` are written (default `'raw'`). */
  readonly encoding?: 'raw' | 'byte_level' | 'byte_fallback';
  /** The logits' width when it is larger than `tokens` (padded output layers); ids past `tokens` are never allowed. */
  readonly vocabSize?: number;
}

/** Options of `createGrammarEngine`. */
export interface GrammarEngineOptions {
  /**
   * The @mlc-ai/web-xgrammar module. Needed in a browser (`await import('@mlc-ai/web-xgrammar')`,
   * so that only bundles that use grammars contain it); in Node it is loaded when omitted.
   */
  readonly xgrammar?: unknown;
}

/** A grammar compiled for an engine's vocabulary (cached by the engine; freed by its `dispose`). */
export interface CompiledGrammar {
  /** The grammar as given to `compile`. */
  readonly spec: GrammarSpec;
  /** Milliseconds the compilation took (0 when it came from the cache). */
  readonly compileMs: number;
}

/** How a row's output ends when its grammar is complete. */
export type GrammarEnd = 'stopToken' | 'complete';

/** Options of `GrammarEngine.matcher`: how a row's output ends. */
export interface MatcherOptions {
  /**
   * The tokens that end the output: allowed exactly where the grammar may end (`'stopToken'` end),
   * even when they also have a text (such as "\n"): a stop token is never drawn as text.
   */
  readonly stopTokens?: readonly number[];
  /**
   * `'stopToken'` (default when `stopTokens` are given): the grammar may end only with a stop
   * token, which the model chooses where the grammar allows it. `'complete'`: the output ends at
   * the first token after which it matches the grammar, no stop token drawn (for a grammar that
   * could go on, such as `a+`, the shortest match).
   */
  readonly end?: GrammarEnd;
}

/** One row's matcher: its bitmask for the next token, and the tokens drawn. */
export interface GrammarMatcher {
  /**
   * The next token's bitmask: ceil(V/32) int32 words, bit j & 31 of word j >> 5 allows token j.
   * A stop token is allowed exactly where the output may end (never as its text, and never with
   * `end: 'complete'`); once the output is complete, nothing is allowed.
   */
  nextMask(): Promise<Int32Array>;
  /** Advances by a drawn token; false (and no change) when the grammar does not allow it. */
  accept(token: number): boolean;
  /** True when the output is complete: the stop token was accepted (`'stopToken'`), or it matches (`'complete'`). */
  isComplete(): boolean;
  /** Back to the grammar's start. */
  reset(): void;
  /** Frees the matcher's state. */
  dispose(): void;
}

/** A grammar engine over one vocabulary (`createGrammarEngine`): it compiles grammars and makes per-row matchers. */
export interface GrammarEngine {
  /** The width of the logits and of the bitmasks' vocabulary. */
  readonly vocabSize: number;
  /** Compiles a grammar, or returns it from the cache (same spec, same engine). */
  compile(spec: GrammarSpec): Promise<CompiledGrammar>;
  /** A matcher of a compiled grammar (a spec is compiled first). */
  matcher(grammar: CompiledGrammar | GrammarSpec, options?: MatcherOptions): Promise<GrammarMatcher>;
  /** How many compiled grammars the cache holds. */
  readonly cached: number;
  /** Frees the compiled grammars, the compiler and the vocabulary. */
  dispose(): void;
}

interface Compiled extends CompiledGrammar {
  readonly handle: XGCompiledGrammar;
  readonly engine: GrammarEngine;
}

/**
 * A grammar engine for a vocabulary, on @mlc-ai/web-xgrammar (an optional dependency). Create
 * it once per vocabulary: compiling a grammar costs milliseconds to seconds, and the engine
 * keeps every grammar it compiled.
 *
 * @example
 * const engine = await createGrammarEngine({ tokens: lm.vocab.map((t, id) => (id < 3 ? null : t)) });
 * const { tokens } = await generate(step, { ..., stopTokens: [eos], grammar: { engine, rows: { jsonSchema } } });
 */
export async function createGrammarEngine(vocabulary: GrammarVocabulary, options: GrammarEngineOptions = {}): Promise<GrammarEngine> {
  if (typeof vocabulary !== 'object' || vocabulary === null || !Array.isArray(vocabulary.tokens) || vocabulary.tokens.length === 0) {
    throw new SamplingError('vocabulary.tokens', 'must be a non-empty array of token texts (null for tokens without text)', vocabulary?.tokens);
  }
  vocabulary.tokens.forEach((t, i) => {
    if (t !== null && typeof t !== 'string') throw new SamplingError(`vocabulary.tokens[${i}]`, 'must be a string or null', t);
  });
  const encoding = vocabulary.encoding ?? 'raw';
  if (encoding !== 'raw' && encoding !== 'byte_level' && encoding !== 'byte_fallback') {
    throw new SamplingError('vocabulary.encoding', 'must be "raw", "byte_level" or "byte_fallback"', encoding);
  }
  const size = vocabulary.vocabSize ?? vocabulary.tokens.length;
  if (!Number.isInteger(size) || size < vocabulary.tokens.length) {
    throw new SamplingError('vocabulary.vocabSize', `must be an integer >= the number of tokens (${vocabulary.tokens.length})`, vocabulary.vocabSize);
  }
  let xg: XGrammarModule;
  if (options.xgrammar !== undefined) {
    const given = xgrammarExports(options.xgrammar);
    if (!given)
      throw new SamplingError(
        'xgrammar',
        'must be the @mlc-ai/web-xgrammar module (await import("@mlc-ai/web-xgrammar"))',
        new Described(typeof options.xgrammar),
      );
    xg = given;
  } else {
    xg = await loadXGrammar();
  }
  // Tokens without text: xgrammar treats the empty string as special and never allows it.
  const texts = vocabulary.tokens.map((t) => t ?? '');
  const info: XGTokenizerInfo = await xg.TokenizerInfo.createTokenizerInfo(texts, encoding, false, size, []);
  const compiler: XGCompiler = await xg.GrammarCompiler.createGrammarCompiler(info);
  const cache = new Map<string, Promise<Compiled>>();
  let disposed = false;
  const alive = (): void => {
    if (disposed) throw new SamplingError('grammar engine', 'must not be used after dispose()', new Described('a disposed engine'));
  };

  const engine: GrammarEngine = {
    vocabSize: size,
    get cached() {
      return cache.size;
    },
    compile(spec: GrammarSpec): Promise<CompiledGrammar> {
      let key: string;
      try {
        alive();
        key = specKey(spec, 'grammar');
      } catch (err) {
        return Promise.reject(err);
      }
      let hit = cache.get(key);
      if (hit) return hit.then((c) => ({ ...c, compileMs: 0 }));
      hit = compileSpec(xg, compiler, spec).then(
        ({ handle, ms }) => ({ spec, compileMs: ms, handle, engine }),
        (err: unknown) => {
          cache.delete(key);
          alive(); // disposed while it compiled: say so, not that the grammar is bad
          throw err;
        },
      );
      cache.set(key, hit);
      return hit;
    },
    async matcher(grammar: CompiledGrammar | GrammarSpec, opts: MatcherOptions = {}): Promise<GrammarMatcher> {
      alive();
      const compiled = (isCompiled(grammar) ? grammar : await engine.compile(grammar as GrammarSpec)) as Compiled;
      if (compiled.engine !== engine)
        throw new SamplingError(
          'grammar',
          'must be compiled by this engine (each engine has its own vocabulary)',
          new Described('a grammar of another engine'),
        );
      if (typeof opts !== 'object' || opts === null) throw new SamplingError('options', 'must be { stopTokens?, end? }', opts);
      if (opts.stopTokens !== undefined && !Array.isArray(opts.stopTokens))
        throw new SamplingError('stopTokens', 'must be an array of token ids', opts.stopTokens);
      const stops = [...(opts.stopTokens ?? [])];
      stops.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= size) throw new SamplingError(`stopTokens[${i}]`, `must be a token id in [0, ${size})`, id);
      });
      const end = opts.end ?? (stops.length > 0 ? 'stopToken' : 'complete');
      if (end !== 'stopToken' && end !== 'complete') throw new SamplingError('end', 'must be "stopToken" or "complete"', end);
      if (end === 'stopToken' && stops.length === 0)
        throw new SamplingError('stopTokens', 'must hold at least one token for a grammar that ends with a stop token (or use end "complete")', stops);
      const m: XGMatcher = await xg.GrammarMatcher.createGrammarMatcher(compiled.handle, stops.length > 0 ? stops : undefined, end === 'complete');
      return wrapMatcher(m, size, stops, end === 'complete', (id) => id < texts.length && texts[id] !== '');
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      for (const p of cache.values())
        void p.then(
          (c) => c.handle.dispose(),
          () => undefined,
        );
      cache.clear();
      compiler.dispose();
      info.dispose();
    },
  };
  return engine;
}

function isCompiled(g: unknown): g is Compiled {
  return typeof g === 'object' && g !== null && 'handle' in g && 'engine' in g;
}

/**
 * A row's matcher over xgrammar's. xgrammar reads a stop token that has a text both ways: its
 * bitmask allows it wherever its text fits the grammar, while `acceptToken` takes it as a stop
 * only, refusing it where the grammar may not end (measured: `{ json: true, whitespace: 'any' }`
 * with stop token "\n" allows "\n" after "{" and then refuses it). So the stop tokens' bits are
 * set here exactly where the output may end (`'stopToken'`), and never with `'complete'` (whose
 * output ends without one). After the stop token, the mask allows nothing: xgrammar 0.1.27 aborts
 * its module (`Aborted()`) when asked for it.
 */
function wrapMatcher(m: XGMatcher, vocab: number, stops: readonly number[], complete: boolean, hasText: (id: number) => boolean): GrammarMatcher {
  let disposed = false;
  const alive = (): void => {
    if (disposed) throw new SamplingError('matcher', 'must not be used after dispose()', new Described('a disposed matcher'));
  };
  const bit = (mask: Int32Array, id: number): boolean => ((mask[id >> 5]! >>> (id & 31)) & 1) === 1;
  const exact = stops.find((id) => !hasText(id)); // its bit is "may end" alone
  return {
    async nextMask() {
      alive();
      if (!complete && m.isTerminated()) return new Int32Array(Math.ceil(vocab / 32));
      const mask = await m.getNextTokenBitmask();
      if (stops.length === 0) return mask;
      let mayEnd = false;
      if (!complete) {
        if (exact !== undefined) mayEnd = bit(mask, exact);
        else if (stops.some((id) => bit(mask, id))) {
          // Whether a stop is accepted here: try one, then take it back.
          mayEnd = m.acceptToken(stops[0]!);
          if (mayEnd) m.rollBack(1);
        }
      }
      for (const id of stops) {
        if (mayEnd) mask[id >> 5]! |= 1 << (id & 31);
        else mask[id >> 5]! &= ~(1 << (id & 31));
      }
      return mask;
    },
    accept: (token) => {
      alive();
      if (!Number.isInteger(token) || token < 0 || token >= vocab || (complete && stops.includes(token))) return false;
      return m.acceptToken(token);
    },
    isComplete: () => {
      alive();
      return m.isTerminated();
    },
    reset: () => {
      alive();
      m.reset();
    },
    dispose: () => {
      if (!disposed) m.dispose();
      disposed = true;
    },
  };
}

/** The cache key of a spec, after checking its shape. */
export function specKey(spec: unknown, name: string): string {
  if (typeof spec !== 'object' || spec === null)
    throw new SamplingError(name, 'must be a grammar { jsonSchema } | { json: true } | { regex } | { ebnf } | { choice }', spec);
  const s = spec as Record<string, unknown>;
  const kinds = ['jsonSchema', 'json', 'regex', 'ebnf', 'choice'].filter((k) => k in s);
  if (kinds.length !== 1) throw new SamplingError(name, 'must have exactly one of jsonSchema, json, regex, ebnf, choice', spec);
  const kind = kinds[0]!;
  if (s.whitespace !== undefined && s.whitespace !== 'compact' && s.whitespace !== 'any')
    throw new SamplingError(`${name}.whitespace`, 'must be "compact" or "any"', s.whitespace);
  if (kind === 'jsonSchema') {
    if (typeof s.jsonSchema === 'string') {
      try {
        JSON.parse(s.jsonSchema);
      } catch {
        throw new SamplingError(`${name}.jsonSchema`, 'must be a JSON schema (an object or its JSON text)', s.jsonSchema);
      }
    } else if (typeof s.jsonSchema !== 'object' || s.jsonSchema === null) {
      throw new SamplingError(`${name}.jsonSchema`, 'must be a JSON schema (an object or its JSON text)', s.jsonSchema);
    }
    if (s.strict !== undefined && typeof s.strict !== 'boolean') throw new SamplingError(`${name}.strict`, 'must be a boolean', s.strict);
  }
  if (kind === 'json' && s.json !== true) throw new SamplingError(`${name}.json`, 'must be true (any JSON value)', s.json);
  if (kind === 'regex' && (typeof s.regex !== 'string' || s.regex.length === 0))
    throw new SamplingError(`${name}.regex`, 'must be a non-empty string', s.regex);
  if (kind === 'ebnf') {
    if (typeof s.ebnf !== 'string' || s.ebnf.length === 0) throw new SamplingError(`${name}.ebnf`, 'must be a non-empty string', s.ebnf);
    if (s.rootRule !== undefined && (typeof s.rootRule !== 'string' || !/^[A-Za-z_][\w-]*$/.test(s.rootRule)))
      throw new SamplingError(`${name}.rootRule`, 'must be a rule name', s.rootRule);
  }
  if (kind === 'choice') {
    const c = s.choice;
    if (!Array.isArray(c) || c.length === 0) throw new SamplingError(`${name}.choice`, 'must be a non-empty array of non-empty strings', c);
    c.forEach((v: unknown, i) => {
      if (typeof v !== 'string' || v.length === 0) throw new SamplingError(`${name}.choice[${i}]`, 'must be a non-empty string', v);
    });
  }
  const schema = kind === 'jsonSchema' && typeof s.jsonSchema === 'string' ? JSON.parse(s.jsonSchema) : s.jsonSchema;
  return JSON.stringify({
    kind,
    schema,
    json: s.json,
    regex: s.regex,
    ebnf: s.ebnf,
    rootRule: s.rootRule,
    choice: s.choice,
    whitespace: s.whitespace,
    strict: s.strict,
  });
}

async function compileSpec(xg: XGrammarModule, compiler: XGCompiler, spec: GrammarSpec): Promise<{ handle: XGCompiledGrammar; ms: number }> {
  const t0 = performance.now();
  const handle = await compileWith(xg, compiler, spec);
  return { handle, ms: performance.now() - t0 };
}

async function compileWith(xg: XGrammarModule, compiler: XGCompiler, spec: GrammarSpec): Promise<XGCompiledGrammar> {
  const compact = !('whitespace' in spec) || spec.whitespace !== 'any';
  refuseWideClasses(spec);
  const fail = (what: string, err: unknown): never => {
    throw new SamplingError('grammar', `must be ${what} xgrammar can compile (its reason is printed on the console)`, spec, String(err));
  };
  if ('jsonSchema' in spec) {
    const schema = typeof spec.jsonSchema === 'string' ? JSON.parse(spec.jsonSchema) : spec.jsonSchema;
    const { schema: bounded, ranges } = replaceBoundedNumbers(schema);
    const replaced = mapPatterns(bounded, anyCharacter);
    let ebnf: string;
    try {
      ebnf = await xg.Testings._jsonSchemaToEBNF(JSON.stringify(replaced), !compact, compact ? -1 : 2, compact ? [',', ':'] : undefined, spec.strict ?? true);
    } catch (err) {
      return fail('a JSON schema', err);
    }
    ranges.forEach((rules, i) => {
      ebnf = `${ebnf.split(`"\\"${placeholder(i)}\\""`).join(rangeRule(i))}\n${rules.join('\n')}`;
    });
    if (compact) ebnf = compactAny(ebnf);
    try {
      return await compiler.compileGrammar(ebnf, 'root');
    } catch (err) {
      return fail('a JSON schema', err);
    }
  }
  if ('json' in spec) {
    try {
      if (!compact) return await compiler.compileBuiltinJSONGrammar();
      const ebnf = compactAny(await xg.Testings._jsonSchemaToEBNF('{}', false, -1, [',', ':'], false));
      return await compiler.compileGrammar(ebnf, 'root');
    } catch (err) {
      return fail('JSON', err);
    }
  }
  if ('regex' in spec) {
    try {
      return await compiler.compileStructuralTag({ type: 'structural_tag', format: { type: 'regex', pattern: anyCharacter(spec.regex) } });
    } catch (err) {
      return fail('a regular expression', err);
    }
  }
  if ('ebnf' in spec) {
    try {
      return await compiler.compileGrammar(spec.ebnf, spec.rootRule ?? 'root');
    } catch (err) {
      return fail('an EBNF grammar', err);
    }
  }
  const ebnf = `root ::= ${spec.choice.map(ebnfString).join(' | ')}`;
  try {
    return await compiler.compileGrammar(ebnf, 'root');
  } catch (err) {
    return fail('a choice', err);
  }
}

/**
 * xgrammar 0.1.27 mis-handles characters past ASCII in character classes: measured on the Tang
 * vocabulary, `[春夏]` allows no token and `[^，。]` allows every token, `，` and `。` included.
 * Such grammars are refused (alternations such as `(春|夏)` work).
 */
function refuseWideClasses(spec: GrammarSpec): void {
  const check = (text: string, where: string, ebnf: boolean): void => {
    const cls = wideClass(text, ebnf);
    if (cls !== undefined) {
      throw new SamplingError(
        where,
        `must not have characters past ASCII in a character class (xgrammar 0.1.27 mis-handles them: ${cls} would allow the wrong tokens); write an alternation such as (春|夏) instead`,
        text,
      );
    }
  };
  if ('regex' in spec) check(spec.regex, 'grammar.regex', false);
  else if ('ebnf' in spec) check(spec.ebnf, 'grammar.ebnf', true);
  else if ('jsonSchema' in spec) {
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) node.forEach((v, i) => walk(v, `${path}[${i}]`));
      else if (typeof node === 'object' && node !== null) {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'pattern' && typeof v === 'string') check(v, `${path}.pattern`, false);
          else if (isSchemaMap(k, v)) for (const [name, sub] of Object.entries(v)) walk(sub, `${path}.${k}.${name}`);
          else if (!DATA_KEYWORDS.includes(k)) walk(v, `${path}.${k}`);
        }
      }
    };
    walk(typeof spec.jsonSchema === 'string' ? JSON.parse(spec.jsonSchema) : spec.jsonSchema, 'jsonSchema');
  }
}

/**
 * A regex with each `.` (outside classes, unescaped) written `[^\n]`, its meaning: xgrammar 0.1.27's
 * `.` matches no character past ASCII in a raw vocabulary (measured: no token of the Tang
 * vocabulary), while `[^\n]` matches them all.
 */
export function anyCharacter(regex: string): string {
  let out = '';
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i]!;
    if (c === '\\') {
      out += regex.slice(i, i + 2);
      i++;
    } else if (c === '[') {
      let j = i + 1;
      if (regex[j] === '^') j++;
      if (regex[j] === ']') j++;
      for (; j < regex.length && regex[j] !== ']'; j++) if (regex[j] === '\\') j++;
      out += regex.slice(i, j + 1);
      i = j;
    } else out += c === '.' ? '[^\\n]' : c;
  }
  return out;
}

/** Whether a schema's entry maps names to subschemas (`properties`, `$defs`, …). */
function isSchemaMap(k: string, v: unknown): v is Record<string, unknown> {
  return SCHEMA_MAPS.includes(k) && typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A copy of a JSON schema with `f` applied to every `pattern`. */
function mapPatterns(node: unknown, f: (pattern: string) => string): unknown {
  if (Array.isArray(node)) return node.map((v) => mapPatterns(v, f));
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [
      k,
      k === 'pattern' && typeof v === 'string'
        ? f(v)
        : isSchemaMap(k, v)
          ? Object.fromEntries(Object.entries(v).map(([name, sub]) => [name, mapPatterns(sub, f)]))
          : DATA_KEYWORDS.includes(k)
            ? v
            : mapPatterns(v, f),
    ]),
  );
}

/** The first character class of a regex or an EBNF text with a character past ASCII in it. */
export function wideClass(text: string, ebnf: boolean): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (ebnf && c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      continue;
    }
    if (ebnf && c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c !== '[') continue;
    let j = i + 1;
    if (text[j] === '^') j++;
    if (text[j] === ']') j++; // a leading ] is a member
    let wide = false;
    for (; j < text.length && text[j] !== ']'; j++) {
      if (text[j] === '\\') {
        const m = /^\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2}))/.exec(text.slice(j));
        if (m && parseInt(m[1] ?? m[2] ?? m[3]!, 16) > 0x7f) wide = true;
        j++;
        continue;
      }
      if (text.charCodeAt(j) > 0x7f) wide = true;
    }
    if (wide) return text.slice(i, j + 1);
    i = j;
  }
  return undefined;
}

/**
 * xgrammar 0.1.27 writes the separators of free-form values (`basic_array`, `basic_object`) as
 * ", " whatever separators it is given: compact output needs ",".
 */
function compactAny(ebnf: string): string {
  return ebnf
    .split('\n')
    .map((line) => (/^basic_(array|object) ::=/.test(line) ? line.split('", "').join('","') : line))
    .join('\n');
}

/** A string as an EBNF literal: quotes, backslashes and control characters escaped. */
export function ebnfString(text: string): string {
  let out = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f)
      out += `\\u${c.toString(16).padStart(4, '0')}`; // xgrammar 0.1.27 misreads \x escapes
    else out += ch;
  }
  return `${out}"`;
}
