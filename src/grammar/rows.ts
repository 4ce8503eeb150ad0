// The grammar option of `generate`: one matcher per row, its bitmask each step, the drawn tokens
// fed back. Knows nothing of xgrammar (the engine does).
import { Described, SamplingError } from '../errors.js';
import type { CompiledGrammar, GrammarEnd, GrammarEngine, GrammarMatcher, GrammarSpec } from './engine.js';
import { specKey } from './engine.js';

/** A grammar for `generate`: a spec, or one the engine compiled. */
export type GrammarInput = GrammarSpec | CompiledGrammar;

/** The `grammar` option of `generate`. */
export interface GenerateGrammar {
  /** The engine of the model's vocabulary ({@link createGrammarEngine}). */
  readonly engine: GrammarEngine;
  /**
   * One grammar for every row, or one per row (`null`: the row is not constrained). With a
   * `queue`: one for every request, unless a request brings its own (`QueuedRequest.grammar`).
   */
  readonly rows: GrammarInput | readonly (GrammarInput | null)[];
  /**
   * How a constrained row ends (see {@link MatcherOptions.end}): default `'stopToken'` for rows
   * with stop tokens (the grammar allows them where it may end), else `'complete'`.
   */
  readonly end?: GrammarEnd;
}

function isEngine(e: unknown): e is GrammarEngine {
  return typeof e === 'object' && e !== null && typeof (e as GrammarEngine).matcher === 'function' && typeof (e as GrammarEngine).compile === 'function';
}

function checkGrammar(g: unknown, name: string): GrammarInput | null {
  if (g === null) return null;
  if (typeof g === 'object' && 'spec' in (g as object) && 'compileMs' in (g as object)) return g as CompiledGrammar;
  specKey(g, name);
  return g as GrammarSpec;
}

/** Per-row grammar matchers for one generation. */
export class GrammarRows {
  private readonly matchers: (GrammarMatcher | undefined)[];
  /** The request each row's matcher serves (-1: none yet). */
  private readonly served: Int32Array;
  private vocabChecked = false;

  private constructor(
    private readonly engine: GrammarEngine,
    private readonly grammarOf: (q: number) => GrammarInput | null,
    private readonly end: GrammarEnd | undefined,
    private readonly stops: readonly Set<number>[],
    batch: number,
  ) {
    this.matchers = new Array(batch).fill(undefined);
    this.served = new Int32Array(batch).fill(-1);
  }

  /**
   * Checks the option (undefined when not given). `queued`: each queued request's own grammar
   * (undefined: the option's one for all).
   */
  static read(option: unknown, batch: number, stops: readonly Set<number>[], queued: readonly unknown[] | undefined): GrammarRows | undefined {
    if (option === undefined) {
      queued?.forEach((g, i) => {
        if (g !== undefined) throw new SamplingError(`queue[${i}].grammar`, 'must come with the grammar option (its engine)', new Described('a grammar'));
      });
      return undefined;
    }
    if (typeof option !== 'object' || option === null) throw new SamplingError('grammar', 'must be { engine, rows, end? }', option);
    const { engine, rows, end } = option as GenerateGrammar;
    if (!isEngine(engine))
      throw new SamplingError('grammar.engine', 'must be a grammar engine (createGrammarEngine)', engine === null ? null : new Described(typeof engine));
    if (end !== undefined && end !== 'stopToken' && end !== 'complete') throw new SamplingError('grammar.end', 'must be "stopToken" or "complete"', end);
    if (rows === undefined) throw new SamplingError('grammar.rows', 'must be a grammar or one grammar (or null) per row', rows);
    let perRow: (GrammarInput | null)[] | undefined;
    let forAll: GrammarInput | null = null;
    if (Array.isArray(rows)) {
      if (rows.length !== batch)
        throw new SamplingError(
          'grammar.rows',
          `must have one grammar (or null) per row (batch size ${batch})`,
          new Described(`an array of length ${rows.length}`),
        );
      if (queued !== undefined)
        throw new SamplingError(
          'grammar.rows',
          'must be one grammar for all rows with queue (rows change requests; a request may bring its own)',
          new Described('one grammar per row'),
        );
      perRow = rows.map((g, r) => checkGrammar(g, `grammar.rows[${r}]`));
    } else {
      forAll = checkGrammar(rows, 'grammar.rows');
    }
    const own = (queued ?? []).map((g, i) => (g === undefined ? undefined : checkGrammar(g, `queue[${i}].grammar`)));
    const grammarOf = (q: number): GrammarInput | null =>
      q < batch ? (perRow ? perRow[q]! : forAll) : own[q - batch] === undefined ? forAll : own[q - batch]!;
    if (end === 'stopToken') {
      for (let r = 0; r < batch; r++) {
        if (stops[r]!.size === 0 && (perRow ? perRow[r] !== null : true))
          throw new SamplingError('stopTokens', `must be given for row ${r}: its grammar ends with a stop token (grammar.end "stopToken")`, []);
      }
    }
    return new GrammarRows(engine, grammarOf, end, stops, batch);
  }

  /**
   * This step's bitmask, all rows' words in one (unconstrained rows and `silent` rows, which draw
   * nothing, allow every token), or undefined when no row that draws is constrained.
   */
  async masks(silent: Uint8Array, requestOf: Int32Array, vocab: number): Promise<Int32Array | undefined> {
    if (!this.vocabChecked) {
      if (this.engine.vocabSize !== vocab)
        throw new SamplingError(
          'grammar.engine',
          `must have the logits' vocabulary size ${vocab}`,
          new Described(`an engine of ${this.engine.vocabSize} tokens`),
        );
      this.vocabChecked = true;
    }
    const W = Math.ceil(vocab / 32);
    let words: Int32Array | undefined;
    for (let r = 0; r < silent.length; r++) {
      if (silent[r]) continue;
      const q = requestOf[r]!;
      if (this.served[r] !== q) {
        this.matchers[r]?.dispose();
        this.matchers[r] = undefined;
        const g = this.grammarOf(q);
        if (g !== null)
          this.matchers[r] = await this.engine.matcher(g, {
            stopTokens: [...this.stops[r]!],
            end: this.end ?? (this.stops[r]!.size > 0 ? 'stopToken' : 'complete'),
          });
        this.served[r] = q;
      }
      const m = this.matchers[r];
      if (!m) continue;
      words ??= new Int32Array(silent.length * W).fill(-1);
      words.set(await m.nextMask(), r * W);
    }
    return words;
  }

  /** Whether row r is constrained now. */
  constrained(r: number): boolean {
    return this.matchers[r] !== undefined;
  }

  /** Feeds row r's drawn token to its matcher; true when the row's output is then complete. */
  accept(r: number, id: number, step: number): boolean {
    const m = this.matchers[r];
    if (!m) return false;
    if (!m.accept(id)) {
      throw new SamplingError(
        'grammar',
        `must allow the token drawn for row ${r} at step ${step} (the sampler drew a token outside the mask: an invalidRows policy other than "error" picks from the whole vocabulary)`,
        id,
      );
    }
    return m.isComplete();
  }

  dispose(): void {
    for (const m of this.matchers) m?.dispose();
    this.matchers.fill(undefined);
  }
}
