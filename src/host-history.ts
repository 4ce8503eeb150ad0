// The token history on the CPU backends (cpu, wasm), where the device is this process's memory:
// per-row token lists and sparse counts, updated in O(1) per row and step, with no [B, V] copy.
// From it the fused kernels get a row editor (penalties, DRY, n-gram and bad-word bans, min new
// tokens, logit bias; the per-call mask is applied next to it) that edits the few tokens
// concerned in the kernel's own copy of each row, while the row is in cache: the cost is the
// number of edited tokens, not B·V. What needs tensors (process(), probabilities(), user
// processors, allowedTokens) gets them built from the same state, so both paths see one history.
import * as tf from '@tensorflow/tfjs-core';
import { SamplingError } from './errors.js';
import type { DryWindow, HistoryNeeds, TokenHistoryView } from './history.js';
import { dryRowOf, rowOf, type HistorySpec, type HistoryStage } from './history-options.js';
import { dryEdit, dryLinks, dryRepeatsInto, dryRule } from './dry-rule.js';
import { suffixMatchLengths } from './reference/dry.js';
import { INVALID_CODE, PROCESSOR_INVALID_CODE } from './invalid-rows.js';
import { historyRows } from './plan.js';

const FLT_MAX = 3.4028234663852886e38;
const f32 = Math.fround;

/** The stages the host history turns into sparse edits (the others need the tensor chain). */
const SPARSE_STAGES = new Set<HistoryStage['kind']>(['penalties', 'dry', 'no-repeat-ngram', 'bad-words', 'min-new-tokens', 'logit-bias']);

/** True when every stage can run as sparse edits on the CPU backends. */
export function sparseStages(stages: readonly HistoryStage[]): boolean {
  return stages.every((s) => SPARSE_STAGES.has(s.kind));
}

/** True on the backends whose memory this process reads in place. */
export function hostBackend(): boolean {
  const name = tf.getBackend();
  return name === 'cpu' || name === 'wasm';
}

interface CpuData {
  data: { get(id: object): { values: unknown } };
}
interface WasmData {
  dataIdMap: { get(id: object): { memoryOffset: number } };
  wasm: { HEAPU8: Uint8Array };
}

/** An int32 tensor's values in place (cpu: the backend's array; wasm: a heap view). No read-back. */
function hostInt32(t: tf.Tensor): Int32Array {
  const backend = tf.backend() as unknown;
  if (tf.getBackend() === 'wasm') {
    const b = backend as WasmData;
    return new Int32Array(b.wasm.HEAPU8.buffer, b.dataIdMap.get(t.dataId).memoryOffset, t.size);
  }
  return (backend as CpuData).data.get(t.dataId).values as Int32Array;
}

/** Flags a row editor returns: what the edited tokens held before the edits. */
export const EDITED_POS_INF = 1;
export const EDITED_FINITE = 2;

/**
 * A fused kernel's code for an edited row, rewritten with the invalid-row rule over the input and
 * the edited logits (src/select/invalid.ts): edits keep NaN as NaN, so a NaN row is the input's; an
 * edited +Infinity saturates, so the originals decide that code; a row left with nothing finite
 * is the processors' doing when an edited original was finite (the others are the input's).
 */
export function editedCode(code: number, flags: number): number {
  if (code === INVALID_CODE.nan) return code;
  if (flags & EDITED_POS_INF) return INVALID_CODE['positive-infinity'];
  if (code === INVALID_CODE['no-finite-logit'] && flags & EDITED_FINITE) return PROCESSOR_INVALID_CODE['no-finite-logit'];
  return code;
}

/**
 * The row editor of a per-call token bitmask (xgrammar layout: bit j & 31 of word j >> 5 allows
 * token j): masks the others in the kernel's copy of the row, as `maskWhere` does (NaN and
 * +Infinity stay); whole allowed words are skipped.
 */
export function maskRowEditor(rows: readonly Int32Array[], vocab: number): (row: Float32Array, r: number) => number {
  return (row: Float32Array, r: number): number => {
    const words = rows[r]!;
    let flags = 0;
    for (let w = 0; w < words.length; w++) {
      const bits = words[w]!;
      if (bits === -1) continue;
      const base = w << 5;
      const end = Math.min(32, vocab - base);
      // The zero bits below `end`, lowest first.
      let off = end === 32 ? ~bits : ~bits & ((1 << end) - 1);
      while (off !== 0) {
        const j = base + 31 - Math.clz32(off & -off);
        off &= off - 1;
        const v = row[j]!;
        if (v === v && v !== Infinity) {
          if (v !== -Infinity) flags |= EDITED_FINITE;
          row[j] = -Infinity;
        }
      }
    }
    return flags;
  };
}

/** A growable int32 list. */
class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(8, capacity));
  }
  clone(): IntList {
    const c = new IntList(0);
    c.data = this.data.slice();
    c.length = this.length;
    return c;
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

/**
 * A row's window counts, for every token with a count in either scope: parallel typed arrays
 * (scanned in order by the row editor) and a token → slot map for the O(1) updates.
 */
class RowCounts {
  token = new Int32Array(64);
  all = new Int32Array(64);
  gen = new Int32Array(64);
  size = 0;
  private slot = new Map<number, number>();

  clone(): RowCounts {
    const c = new RowCounts();
    c.token = this.token.slice();
    c.all = this.all.slice();
    c.gen = this.gen.slice();
    c.size = this.size;
    c.slot = new Map(this.slot);
    return c;
  }

  add(t: number, scope: 'all' | 'gen', d: 1 | -1): void {
    let i = this.slot.get(t);
    if (i === undefined) {
      if (d < 0) return;
      if (this.size === this.token.length) this.grow();
      i = this.size++;
      this.token[i] = t;
      this.all[i] = 0;
      this.gen[i] = 0;
      this.slot.set(t, i);
    }
    this[scope][i]! += d;
    if (this.all[i] === 0 && this.gen[i] === 0) {
      // Swap-remove: the last entry takes slot i.
      const last = --this.size;
      this.slot.delete(t);
      if (i !== last) {
        const u = this.token[last]!;
        this.token[i] = u;
        this.all[i] = this.all[last]!;
        this.gen[i] = this.gen[last]!;
        this.slot.set(u, i);
      }
    }
  }

  private grow(): void {
    const n = this.token.length * 2;
    for (const k of ['token', 'all', 'gen'] as const) {
      const next = new Int32Array(n);
      next.set(this[k]);
      this[k] = next;
    }
  }
}

/**
 * The history of a sampler's rows on the CPU backends, with the semantics of TokenHistory
 * (src/history.ts): the same windows, the same counts, the same tail; negative ids (invalid rows)
 * are pushed and count as nothing.
 */
export class HostTokenHistory implements TokenHistoryView {
  readonly generated: Int32Array;
  readonly lengths: Int32Array;
  private readonly tokens: IntList[];
  /** Window counts per row (undefined when no penalty counts). */
  private readonly counted: RowCounts[] | undefined;
  private readonly lastN: Float64Array;
  private tailCap: number;
  /**
   * DRY, per row, indexed by the lag k (1 … N − 1): how many tokens the DRY history's end shares
   * with the history cut k tokens short (at least as many as fit in the window), updated by each
   * accept in O(N) like TokenHistory's device copy.
   */
  private readonly dryMatches: Int32Array[] | undefined;
  /** Scratch of the row editor: tokens edited in the current row. */
  private touched: Uint8Array | undefined;
  private list: Int32Array | undefined;

  constructor(
    readonly batch: number,
    readonly vocab: number,
    private readonly needs: HistoryNeeds,
    prompts?: readonly (readonly number[])[],
    generated?: ArrayLike<number>,
  ) {
    const B = batch;
    // `generated`: per row, how many of its last tokens were generated (0: all prompt).
    this.generated = Int32Array.from({ length: B }, (_, r) => generated?.[r] ?? 0);
    this.lengths = Int32Array.from({ length: B }, (_, r) => prompts?.[r]?.length ?? 0);
    this.lastN = needs.lastN(B);
    this.tokens = Array.from({ length: B }, (_, r) => {
      const p = prompts?.[r] ?? [];
      const l = new IntList(p.length + 64);
      for (const t of p) l.push(t);
      return l;
    });
    if (needs.countsAll || needs.countsGenerated) {
      this.counted = this.tokens.map((l, r) => {
        const c = new RowCounts();
        const n = this.lastN[r]!;
        const from = Number.isFinite(n) ? Math.max(0, l.length - n) : 0;
        if (needs.countsAll) for (let i = from; i < l.length; i++) c.add(l.data[i]!, 'all', 1);
        if (needs.countsGenerated) for (let i = Math.max(from, l.length - this.generated[r]!); i < l.length; i++) c.add(l.data[i]!, 'gen', 1);
        return c;
      });
    }
    const longest = Math.max(0, ...this.lengths);
    this.tailCap = needs.tail === 0 ? 0 : Number.isFinite(needs.tail) ? needs.tail : Math.max(64, 2 ** Math.ceil(Math.log2(longest + 1)));
    const dry = needs.dry;
    if (dry) {
      // Seeded from the prompt's last N tokens (a Z-function, once); empty when it does not count.
      this.dryMatches = this.tokens.map((l, r) => {
        const a = new Int32Array(dry.window);
        const start = dry.prompt ? 0 : l.length - this.generated[r]!;
        const z = suffixMatchLengths(l.data.subarray(Math.max(start, l.length - dry.window), l.length));
        a.set(z.subarray(1), 1);
        return a;
      });
    }
  }

  /** An independent copy (the same entries in the same order; fresh scratch). */
  clone(): HostTokenHistory {
    const c = Object.create(HostTokenHistory.prototype) as HostTokenHistory;
    return Object.assign(c, this, {
      generated: this.generated.slice(),
      lengths: this.lengths.slice(),
      tokens: this.tokens.map((l) => l.clone()),
      counted: this.counted?.map((x) => x.clone()),
      dryMatches: this.dryMatches?.map((a) => a.slice()),
      touched: undefined,
      list: undefined,
    });
  }

  /**
   * The given rows start over from new prompts (`Sampler.restartRows`); the other rows are
   * untouched. `generated` (per given row): how many of its last tokens count as generated.
   */
  restartRows(rows: readonly number[], prompts: readonly (readonly number[])[], generated?: readonly number[]): void {
    const given: (readonly number[])[] = Array.from({ length: this.batch }, () => []);
    const gens = new Int32Array(this.batch);
    rows.forEach((r, i) => {
      given[r] = prompts[i]!;
      gens[r] = generated?.[i] ?? 0;
    });
    const fresh = new HostTokenHistory(this.batch, this.vocab, this.needs, given, gens);
    for (const r of rows) {
      this.tokens[r] = fresh.tokens[r]!;
      if (this.counted) this.counted[r] = fresh.counted![r]!;
      if (this.dryMatches) this.dryMatches[r] = fresh.dryMatches![r]!;
      this.generated[r] = gens[r]!;
      this.lengths[r] = fresh.lengths[r]!;
    }
    this.tailCap = Math.max(this.tailCap, fresh.tailCap);
  }

  /** Throws unless the active backend is one whose memory this history reads (cpu, wasm). */
  assertBackend(): void {
    this.assertHost();
  }

  private assertHost(): void {
    if (!hostBackend()) {
      throw new SamplingError(
        'backend',
        'must stay cpu or wasm while a sampler keeps its token history there (call begin() or reset() after switching backends)',
        tf.getBackend(),
      );
    }
  }

  counts(scope: 'all' | 'generated'): tf.Tensor2D {
    const want = scope === 'all' ? this.needs.countsAll : this.needs.countsGenerated;
    if (!want || !this.counted) throw new Error(`internal: no ${scope} counts kept`);
    const V = this.vocab;
    const out = new Float32Array(this.batch * V);
    const k = scope === 'all' ? 'all' : 'gen';
    this.counted.forEach((c, r) => {
      for (let i = 0; i < c.size; i++) out[r * V + c.token[i]!] = c[k][i]!;
    });
    return tf.tensor2d(out, [this.batch, V]);
  }

  tail(): tf.Tensor2D {
    const L = this.tailCap;
    if (L === 0) throw new Error('internal: no tail kept');
    const out = new Int32Array(this.batch * L).fill(-1);
    this.tokens.forEach((l, r) => {
      const n = Math.min(L, l.length);
      out.set(l.data.subarray(l.length - n, l.length), r * L + L - n);
    });
    return tf.tensor2d(out, [this.batch, L], 'int32');
  }

  /** Where row r's DRY history starts in its token list (after the prompt when it does not count). */
  private dryStart(r: number): number {
    return this.needs.dry?.prompt === false ? this.tokens[r]!.length - this.generated[r]! : 0;
  }

  dryWindow(links = true): DryWindow {
    const N = this.needs.dry?.window;
    if (N === undefined) throw new Error('internal: no DRY window kept');
    const B = this.batch;
    const tokens = new Int32Array(B * N).fill(-1);
    const matches = new Int32Array(B * N);
    const previous = new Int32Array(B * N);
    const later = new Int32Array(B * N);
    this.tokens.forEach((l, r) => {
      const w = l.data.subarray(Math.max(this.dryStart(r), l.length - N), l.length);
      tokens.set(w, r * N + N - w.length);
      const a = this.dryMatches![r]!;
      for (let k = 1; k < N; k++) matches[r * N + N - k] = a[k]!;
      if (links) dryLinks(w, N, previous.subarray(r * N, (r + 1) * N), later.subarray(r * N, (r + 1) * N));
    });
    const t = (a: Int32Array): tf.Tensor2D => tf.tensor2d(a, [B, N], 'int32');
    return { tokens: t(tokens), matches: t(matches), previous: t(previous), later: t(later) };
  }

  /** Appends one token per row (int32 `[B]` on cpu or wasm, read in place). */
  accept(ids: tf.Tensor1D, active?: tf.Tensor1D): void {
    this.assertHost();
    const v = hostInt32(ids);
    const on = active ? hostInt32(active) : undefined; // int32: 0 = the row pushes nothing
    const B = this.batch;
    if (Number.isFinite(this.needs.tail) === false && this.tailCap > 0 && Math.max(...this.lengths) + 1 > this.tailCap) this.tailCap *= 2;
    for (let r = 0; r < B; r++) {
      if (on && on[r] === 0) continue;
      const id = v[r]!;
      const l = this.tokens[r]!;
      const before = l.length;
      const n = this.lastN[r]!;
      // The token leaving a finite window: the one n places back (none before the history).
      const leaving = Number.isFinite(n) && before - n >= 0 ? l.data[before - n]! : -1;
      const c = this.counted?.[r];
      if (c && this.needs.countsAll) {
        if (id >= 0) c.add(id, 'all', 1);
        if (leaving >= 0) c.add(leaving, 'all', -1);
      }
      if (c && this.needs.countsGenerated) {
        if (id >= 0) c.add(id, 'gen', 1);
        if (leaving >= 0 && this.generated[r]! >= n) c.add(leaving, 'gen', -1);
      }
      const a = this.dryMatches?.[r];
      if (a) {
        // A match at lag k grows by one when the new token equals the one k back, else it is 0;
        // lags reaching before the DRY history (or a negative id) match nothing, and stayed 0.
        const reach = Math.min(a.length - 1, before - this.dryStart(r));
        const h = l.data;
        for (let k = 1; k <= reach; k++) a[k] = id >= 0 && h[before - k] === id ? a[k]! + 1 : 0;
      }
      l.push(id);
      this.generated[r]!++;
      this.lengths[r]!++;
    }
  }

  /** TokenHistory.settle's twin: a host history's counters follow its active rows exactly. */
  settle(_taken: ArrayLike<number>, _accepts: number): void {}

  /**
   * The row editor of one step: applies the sparse stages to a kernel's own copy of row r (never
   * the caller's logits) with the float32 arithmetic of the tensor processors
   * (src/processors/*.ts), and returns what the edited tokens held (EDITED_* flags).
   */
  editor(spec: HistorySpec, stages: readonly HistoryStage[]): (row: Float32Array, r: number) => number {
    this.assertHost();
    const { batch: B, vocab: V } = this;
    const touched = this.touched ?? (this.touched = new Uint8Array(V));
    const list = this.list ?? (this.list = new Int32Array(V));
    const rows = historyRows(spec);
    const theta = rows.repetitionPenalty(B);
    const F = rows.frequencyPenalty(B);
    const P = rows.presencePenalty(B);
    // Each penalty's scope; one not kept falls back to the other (its penalty is 0 then).
    const scope = (all: boolean): 'all' | 'gen' => ((all ? this.needs.countsAll : !this.needs.countsGenerated) ? 'all' : 'gen');
    const sR = scope(spec.penalizePrompt.repetition);
    const sF = scope(spec.penalizePrompt.frequency);
    const sP = scope(spec.penalizePrompt.presence);
    // Per-stage row parameters (the spec's plan rows).
    const rowParams = stages.map((st) =>
      st.kind === 'no-repeat-ngram' ? rows.noRepeatNgramSize(B) : st.kind === 'min-new-tokens' ? rows.minNewTokens(B) : undefined,
    );
    const repeats = new Map<number, number>(); // DRY's token → repeat length, per row
    return (row: Float32Array, r: number): number => {
      let flags = 0;
      let n = 0; // tokens touched in this row, listed in `list` (reset at the end)
      const touch = (j: number): void => {
        if (touched[j]) return;
        touched[j] = 1;
        list[n++] = j;
        const v = row[j]!;
        if (v === Infinity) flags |= EDITED_POS_INF;
        else if (v === v && v !== -Infinity) flags |= EDITED_FINITE;
      };
      const ban = (j: number): void => {
        touch(j);
        const v = row[j]!;
        if (v === v && v !== Infinity) row[j] = -Infinity;
      };
      const h = this.tokens[r]!;
      const len = h.length;
      const hist = h.data;
      for (let si = 0; si < stages.length; si++) {
        const st = stages[si]!;
        switch (st.kind) {
          case 'penalties': {
            const counts = this.counted![r]!;
            const cR = counts[sR];
            const cF = counts[sF];
            const cP = counts[sP];
            const tok = counts.token;
            const inv = f32(1 / theta[r]!);
            const t = f32(theta[r]!);
            const fr = f32(F[r]!);
            const pr = f32(P[r]!);
            // The hot loop: `touch` inlined, its state in locals (closure variables are slow).
            let m = n;
            let fl = flags;
            for (let i = 0; i < counts.size; i++) {
              const c = cR[i]!;
              const cf = cF[i]!;
              const cp = cP[i]!;
              if (c === 0 && cf === 0 && cp === 0) continue;
              const j = tok[i]!;
              let v = row[j]!;
              if (touched[j] === 0) {
                touched[j] = 1;
                list[m++] = j;
                if (v === Infinity) fl |= EDITED_POS_INF;
                else if (v === v && v !== -Infinity) fl |= EDITED_FINITE;
              }
              if (c > 0) v = f32(v * (v > 0 ? inv : t));
              v = f32(v - f32(f32(cf * fr) + (cp > 0 ? pr : 0)));
              row[j] = Math.min(v, FLT_MAX);
            }
            n = m;
            flags = fl;
            break;
          }
          case 'no-repeat-ngram': {
            const size = rowParams[si]![r]!;
            if (size === 0 || size > len) break;
            const from = len - (size - 1);
            // A negative id in the suffix (an invalid row's code) is no token: nothing to ban.
            let clean = true;
            for (let j = from; j < len; j++) if (hist[j]! < 0) clean = false;
            if (!clean) break;
            for (let i = 0; i + size <= len; i++) {
              if (hist[i]! < 0) continue;
              let match = true;
              for (let j = 0; j < size - 1 && match; j++) match = hist[i + j] === hist[from + j];
              const t = hist[i + size - 1]!;
              if (match && t >= 0) ban(t);
            }
            break;
          }
          case 'bad-words':
            for (const s of st.sequences) {
              const m = s.length - 1;
              if (m > len) continue;
              let match = true;
              for (let j = 0; j < m && match; j++) match = hist[len - m + j] === s[j];
              if (match) ban(s[m]!);
            }
            break;
          case 'min-new-tokens':
            if (this.generated[r]! < rowParams[si]![r]!) for (const t of st.stopTokens) ban(t);
            break;
          case 'logit-bias':
            for (const [t, b] of rowOf(st.bias, r)) {
              touch(t);
              let v = row[t]!;
              if (v > FLT_MAX) v = FLT_MAX;
              if (b === -Infinity) row[t] = v !== v ? v : -Infinity;
              else {
                v = f32(v + f32(b));
                row[t] = Math.min(v, FLT_MAX);
              }
            }
            break;
          case 'dry': {
            // The window's suffix matches (kept per lag) and the rule of dry-rule.ts: O(window).
            const p = dryRowOf(st.dry, r);
            if (!p) break;
            const from = Math.max(this.dryStart(r), len - p.window);
            const rule = dryRule(p);
            if (len - from <= rule.allowedLength) break;
            dryRepeatsInto(repeats, len - from, hist, len - 1, this.dryMatches![r]!, 0, 1, rule, V);
            for (const [t, m] of repeats) {
              touch(t);
              row[t] = dryEdit(row[t]!, rule.table[m]!);
            }
            break;
          }
          default:
            throw new Error(`internal: stage ${st.kind} has no sparse form`);
        }
      }
      for (let i = 0; i < n; i++) touched[list[i]!] = 0;
      return flags;
    };
  }

  dispose(): void {
    this.touched = undefined;
    this.list = undefined;
  }
}
