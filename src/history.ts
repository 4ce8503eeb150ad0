// The token history of a sampler's rows, kept on the device and updated from the sampled ids
// after each draw (the `accept` step), so history processors never see the whole history
// re-uploaded and never redo O(B·T·V) work per step. Seeded once from the prompts (host arrays:
// padding never counts as history). Owned by the sampler: `dispose()` frees every tensor.
import * as tf from '@tensorflow/tfjs-core';
import { countsUpdateKernel, editKernelsAvailable, seenAppendKernel } from './backends/js-kernels.js';
import { SEEN_APPEND } from './backends/kernel-names.js';
import { hasKernels } from './backends/registry.js';
import { dryLinks } from './dry-rule.js';
import { suffixMatchLengths } from './reference/dry.js';
import { oneHotRows } from './processors/ops.js';
import { directoryArrays, directoryCounts, directoryFits, emptyToken, updateDirectory, type WindowDirectory } from './backends/webgl/window-directory.js';

/** What the sampler's history processors need (fixed when the sampler is created). */
export interface HistoryNeeds {
  /** Token counts over the penalty window, prompt and generated tokens. */
  countsAll: boolean;
  /** Token counts over the penalty window, generated tokens only. */
  countsGenerated: boolean;
  /** Per-row penalty window (Infinity: the whole history); resolved against the batch. */
  lastN: (batch: number) => Float64Array;
  /** Trailing tokens per row the sequence processors need (0: none; Infinity: all). */
  tail: number;
  /** DRY's window: its width, and whether prompt tokens enter it. */
  dry?: { window: number; prompt: boolean } | undefined;
}

/** Read-only view of a row history, for processors (`SamplingState.tokens`). */
export interface TokenHistoryView {
  /**
   * float32 `[B, V]`: how often each token occurs in each row's penalty window — prompt and
   * generated tokens (`'all'`) or generated tokens only (`'generated'`). Valid during the call
   * that hands it out: the sampler's next accept may update it in place (webgpu).
   */
  counts(scope: 'all' | 'generated'): tf.Tensor2D;
  /**
   * webgpu only (else undefined): int32 `[B, 1 + cap]`, per row the number of entries, then
   * tokens that may have nonzero counts (every token with a nonzero count is listed; repeats and
   * tokens that left the window may be), for edits that touch only those tokens. Valid during the call.
   */
  seen?(): tf.Tensor2D | undefined;
  /**
   * webgl only (else undefined): the penalty window as a directory of its distinct tokens, from which the
   * penalties read counts without a `[B, V]` tensor (see backends/webgl/window-directory.ts).
   * Valid during the call. @internal
   */
  directory?(): WindowDirectory | undefined;
  /** int32 `[B, L]`: each row's last L tokens, oldest first, right-aligned; -1 before the first. */
  tail(): tf.Tensor2D;
  /**
   * DRY's window (see {@link DryWindow}). `links: false` says the caller will not read
   * `previous` and `later` (a history kept on the host may then leave them empty).
   */
  dryWindow(links?: boolean): DryWindow;
  /** Tokens generated (accepted) since the prompt, per row. */
  readonly generated: Int32Array;
  /** Tokens in each row's history (prompt + generated). */
  readonly lengths: Int32Array;
}

/** DRY's window of each row: four int32 `[B, N]` tensors, column c the same position in each. */
// A type (not an interface): it must fit tf.tidy's TensorContainer.
export type DryWindow = {
  /** Each row's last N DRY-history tokens, right-aligned, -1 before the first. */
  tokens: tf.Tensor2D;
  /**
   * For the lag k = N − c: how many tokens the history's end shares with the history cut k
   * tokens short (at least as many as fit in the window: min(matches, N − k) is the in-window length).
   */
  matches: tf.Tensor2D;
  /** The column of the previous occurrence of the same token in the window; -1 for none. */
  previous: tf.Tensor2D;
  /** 1 where the same token occurs again later in the window, else 0. */
  later: tf.Tensor2D;
};

/** webgl: the largest window directory kept (beyond it the dense counts cost less per step). */
const directoryLimit = (V: number): number => Math.max(256, V / 8);

/** Device state of the history; every tensor is kept (outside any tidy) until `dispose()`. */
export class TokenHistory implements TokenHistoryView {
  readonly generated: Int32Array;
  readonly lengths: Int32Array;
  private countsAllT: tf.Tensor2D | undefined;
  private countsGenT: tf.Tensor2D | undefined;
  /** Ring of the last N pushed tokens (N = the largest finite window), -1 where empty. */
  private ring: tf.Tensor2D | undefined;
  private ringSize = 0;
  /** Per row, how many tokens were pushed into the ring (its next slot: ringPos mod N). */
  private ringPos: Int32Array;
  private readonly lastN: Float64Array;
  private tailT: tf.Tensor2D | undefined;
  private tailCap = 0;
  private dry: DryWindow | undefined;
  /** webgpu: the seen list (see TokenHistoryView.seen), its capacity and a bound on its entries. */
  private seenT: tf.Tensor2D | undefined;
  private seenCap = 0;
  private seenBound = 0;
  /** webgl: the penalty window as a directory (instead of the dense counts), its capacity in distinct tokens. */
  private dir: WindowDirectory | undefined;
  private dirCap = 0;
  /** webgl: dense counts made from the directory for `counts()`, until the next accept. */
  private denseOf: { all?: tf.Tensor2D; generated?: tf.Tensor2D } = {};

  constructor(
    readonly batch: number,
    readonly vocab: number,
    private readonly needs: HistoryNeeds,
    prompts?: readonly (readonly number[])[],
    dense = false,
    generated?: ArrayLike<number>,
  ) {
    // `generated`: per row, how many of its last tokens were generated (0: all prompt).
    this.generated = Int32Array.from({ length: batch }, (_, r) => generated?.[r] ?? 0);
    this.lengths = Int32Array.from({ length: batch }, (_, r) => prompts?.[r]?.length ?? 0);
    this.ringPos = new Int32Array(batch);
    this.lastN = needs.lastN(batch);
    const counting = needs.countsAll || needs.countsGenerated;
    const finite = Array.from(this.lastN).filter((n) => Number.isFinite(n));
    if (counting && finite.length > 0) this.ringSize = Math.max(...finite);
    this.seed(prompts ?? Array.from({ length: batch }, () => []), dense);
  }

  private seed(prompts: readonly (readonly number[])[], dense: boolean): void {
    const { batch: B, vocab: V } = this;
    const counting = this.needs.countsAll || this.needs.countsGenerated;
    if (counting && !dense && tf.getBackend() === 'webgl' && editKernelsAvailable() && directoryFits(V) && hasKernels('windowDirectory', 'webgl')) {
      // Each row's window of the prompt, when it fits the directory.
      const rows = prompts.map((p, r) => {
        const n = this.lastN[r]!;
        const from = Number.isFinite(n) ? Math.max(0, p.length - n) : 0;
        const g = p.length - this.generated[r]!;
        return p.slice(from).map((t, i) => [t, from + i >= g] as const);
      });
      const cap = Math.max(64, 2 ** Math.ceil(Math.log2(Math.max(0, ...rows.map((k) => k.length)) + 1)));
      if (cap <= directoryLimit(V)) {
        const a = directoryArrays(rows, V, cap);
        const C = a.occ.length / B;
        const t = (x: Float32Array, w: number): tf.Tensor2D => tf.keep(tf.tensor2d(x, [B, w]));
        this.dir = { tokens: t(a.tokens, cap), all: t(a.all, cap), gen: t(a.gen, cap), start: t(a.start, C + 1), occ: t(a.occ, C) };
        this.dirCap = cap;
      }
    }
    if (this.needs.countsAll && !this.dir) {
      const counts = new Float32Array(B * V);
      prompts.forEach((p, r) => {
        const n = this.lastN[r]!;
        const from = Number.isFinite(n) ? Math.max(0, p.length - n) : 0;
        for (let i = from; i < p.length; i++) counts[r * V + p[i]!]! += 1;
      });
      this.countsAllT = tf.keep(tf.tensor2d(counts, [B, V]));
    }
    if (this.needs.countsGenerated && !this.dir) {
      // The generated tokens among each row's window (none for fresh prompts).
      const counts = new Float32Array(B * V);
      prompts.forEach((p, r) => {
        const n = this.lastN[r]!;
        const from = Math.max(p.length - this.generated[r]!, Number.isFinite(n) ? p.length - n : 0, 0);
        for (let i = from; i < p.length; i++) counts[r * V + p[i]!]! += 1;
      });
      this.countsGenT = tf.keep(tf.tensor2d(counts, [B, V]));
    }
    if ((this.needs.countsAll || this.needs.countsGenerated) && tf.getBackend() === 'webgpu' && editKernelsAvailable() && tf.getKernel(SEEN_APPEND, 'webgpu')) {
      // The list follows the broadest counts kept: all tokens (the prompt's window seeds it) or generated ones.
      const rows = prompts.map((p, r) => {
        const n = this.lastN[r]!;
        const from = Math.max(this.needs.countsAll ? 0 : p.length - this.generated[r]!, Number.isFinite(n) ? p.length - n : 0, 0);
        return [...new Set(p.slice(from))];
      });
      this.seenBound = Math.max(0, ...rows.map((t) => t.length));
      this.seenCap = Math.max(64, 2 ** Math.ceil(Math.log2(this.seenBound + 1)));
      const W = this.seenCap + 1;
      const list = new Int32Array(B * W).fill(-1);
      rows.forEach((t, r) => {
        list[r * W] = t.length;
        list.set(t, r * W + 1);
      });
      this.seenT = tf.keep(tf.tensor2d(list, [B, W], 'int32'));
    }
    if (this.ringSize > 0) {
      const N = this.ringSize;
      const ring = new Int32Array(B * N).fill(-1);
      prompts.forEach((p, r) => {
        for (let j = 1; j <= Math.min(N, p.length); j++) ring[r * N + N - j] = p[p.length - j]!;
      });
      this.ring = tf.keep(tf.tensor2d(ring, [B, N], 'int32'));
    }
    if (this.needs.tail > 0) {
      const longest = Math.max(0, ...prompts.map((p) => p.length));
      const L = Number.isFinite(this.needs.tail) ? this.needs.tail : Math.max(64, 2 ** Math.ceil(Math.log2(longest + 1)));
      const tail = new Int32Array(B * L).fill(-1);
      prompts.forEach((p, r) => {
        for (let j = 1; j <= Math.min(L, p.length); j++) tail[r * L + L - j] = p[p.length - j]!;
      });
      this.tailCap = L;
      this.tailT = tf.keep(tf.tensor2d(tail, [B, L], 'int32'));
    }
    if (this.needs.dry) {
      // The last N prompt tokens and their suffix matches, from host arrays (once, O(N) a row).
      const N = this.needs.dry.window;
      const tokens = new Int32Array(B * N).fill(-1);
      const matches = new Int32Array(B * N);
      const previous = new Int32Array(B * N).fill(-1);
      const later = new Int32Array(B * N);
      {
        const prompt = this.needs.dry.prompt;
        prompts.forEach((p, r) => {
          const w = Int32Array.from(p.slice(Math.max(prompt ? 0 : p.length - this.generated[r]!, p.length - N)));
          tokens.set(w, r * N + N - w.length);
          const z = suffixMatchLengths(w);
          for (let k = 1; k < w.length; k++) matches[r * N + N - k] = z[k]!;
          dryLinks(w, N, previous.subarray(r * N, (r + 1) * N), later.subarray(r * N, (r + 1) * N));
        });
      }
      const t = (a: Int32Array): tf.Tensor2D => tf.keep(tf.tensor2d(a, [B, N], 'int32'));
      this.dry = { tokens: t(tokens), matches: t(matches), previous: t(previous), later: t(later) };
    }
  }

  counts(scope: 'all' | 'generated'): tf.Tensor2D {
    if (this.dir) {
      // Made once per step, on demand (the built-in penalties read the directory itself).
      this.denseOf[scope] ??= tf.keep(directoryCounts(this.dir, this.vocab, scope === 'generated'));
      return this.denseOf[scope]!;
    }
    const t = scope === 'all' ? this.countsAllT : this.countsGenT;
    if (!t) throw new Error(`internal: no ${scope} counts kept`);
    return t;
  }

  seen(): tf.Tensor2D | undefined {
    return this.seenT;
  }

  directory(): WindowDirectory | undefined {
    return this.dir;
  }

  private dropDense(): void {
    tf.dispose([this.denseOf.all, this.denseOf.generated].filter((t): t is tf.Tensor2D => t !== undefined));
    this.denseOf = {};
  }

  tail(): tf.Tensor2D {
    if (!this.tailT) throw new Error('internal: no tail kept');
    return this.tailT;
  }

  dryWindow(_links = true): DryWindow {
    if (!this.dry) throw new Error('internal: no DRY window kept');
    return this.dry;
  }

  /**
   * Appends one token per row (int32 `[B]`; negative ids, the invalid rows' codes, count as
   * nothing). `active` (int32 `[B]`, on the device): rows where it is 0 push nothing and keep
   * their whole state; the host's per-row counters still advance for them until `settle` says
   * how many tokens each row took (speculative decoding, whose rows stop at their first
   * rejection, known only after the pass's read-back).
   */
  accept(ids: tf.Tensor1D, active?: tf.Tensor1D): void {
    const { batch: B, vocab: V } = this;
    const replace = <T extends tf.Tensor>(old: T | undefined, next: T): T => {
      old?.dispose();
      return tf.keep(next);
    };
    if (this.seenT && this.seenBound + 1 > this.seenCap && this.seenCap * 2 > V / 2) {
      // A list that could outgrow half the vocabulary saves nothing over the dense pass: dropped.
      this.seenT.dispose();
      this.seenT = undefined;
    }
    this.dropDense();
    if (this.dir) {
      // Room for every row's window after this push; past the limit, dense counts from here on.
      let needed = 0;
      for (let r = 0; r < B; r++) needed = Math.max(needed, Math.min(this.lastN[r]!, this.lengths[r]! + 1));
      if (needed > this.dirCap) {
        const cap = 2 * this.dirCap;
        const dir = this.dir;
        if (cap > directoryLimit(V)) {
          if (this.needs.countsAll) this.countsAllT = tf.keep(directoryCounts(dir, V, false));
          if (this.needs.countsGenerated) this.countsGenT = tf.keep(directoryCounts(dir, V, true));
          this.dir = undefined;
        } else {
          // Wider: the new columns are padding (no token, no counts).
          const widen = (x: tf.Tensor2D, fill: number): tf.Tensor2D =>
            tf.keep(
              tf.pad(
                x,
                [
                  [0, 0],
                  [0, this.dirCap],
                ],
                fill,
              ),
            );
          this.dir = { ...dir, tokens: widen(dir.tokens, emptyToken(V)), all: widen(dir.all, 0), gen: widen(dir.gen, 0) };
          this.dirCap = cap;
        }
        tf.dispose(this.dir ? [dir.tokens, dir.all, dir.gen] : Object.values(dir));
      }
    }
    const next = tf.tidy(() => {
      // Inactive rows: no token (-1) for the counts, the seen list and the directory, and every
      // shifted tensor keeps its old row.
      const act = active ? (tf.reshape(tf.cast(active, 'bool'), [B, 1]) as tf.Tensor2D) : undefined;
      const pushed = act ? (tf.where(tf.reshape(act, [B]), ids, tf.fill([B], -1, 'int32')) as tf.Tensor1D) : ids;
      const onRows = <T extends tf.Tensor2D>(next: T, old: T): T => (act ? (tf.where(act, next, old) as T) : next);
      const out: { all?: tf.Tensor2D; gen?: tf.Tensor2D; ring?: tf.Tensor2D; tail?: tf.Tensor2D; dry?: DryWindow; seen?: tf.Tensor2D; dir?: WindowDirectory } =
        {};
      if (this.seenT) {
        // Before the counts change: a token is listed when its count leaves 0. Each accept adds at
        // most one entry a row; the capacity doubles ahead of the bound (log many shapes in all).
        let list = this.seenT;
        if (this.seenBound + 1 > this.seenCap) {
          list = tf.pad(
            list,
            [
              [0, 0],
              [0, this.seenCap],
            ],
            -1,
          ) as tf.Tensor2D;
          this.seenCap *= 2;
        }
        out.seen = seenAppendKernel(list, pushed, (this.countsAllT ?? this.countsGenT)!);
        this.seenBound++;
      }
      // Per row, the token leaving the window (-1: none), for all tokens and for generated ones.
      let leaveAll: tf.Tensor1D | undefined;
      let leaveGen: tf.Tensor1D | undefined;
      if (this.ring) {
        const N = this.ringSize;
        // Row r's window loses the token pushed n_r pushes ago: ring slot (w_r - n_r) mod N, w_r
        // the row's next slot.
        const idx = new Int32Array(B);
        const at = new Int32Array(B);
        const windowed = new Uint8Array(B);
        const genLeaving = new Uint8Array(B);
        for (let r = 0; r < B; r++) {
          const n = this.lastN[r]!;
          const back = Number.isFinite(n) ? n : N;
          const w = this.ringPos[r]! % N;
          at[r] = w;
          idx[r] = r * N + ((((w - back) % N) + N) % N);
          windowed[r] = Number.isFinite(n) ? 1 : 0;
          genLeaving[r] = Number.isFinite(n) && this.generated[r]! >= n ? 1 : 0;
        }
        const old = tf.gather(tf.reshape(this.ring, [B * N]), tf.tensor1d(idx, 'int32')) as tf.Tensor1D;
        const none = tf.fill([B], -1, 'int32');
        const live = act ? tf.reshape(act, [B]) : undefined;
        const leaving = (rows: Uint8Array): tf.Tensor1D => {
          const on = tf.tensor1d(rows, 'bool');
          return tf.where(live ? tf.logicalAnd(on, live) : on, old, none) as tf.Tensor1D;
        };
        leaveAll = leaving(windowed);
        leaveGen = leaving(genLeaving);
        let col = tf.equal(tf.reshape(tf.range(0, N, 1, 'int32'), [1, N]), tf.reshape(tf.tensor1d(at, 'int32'), [B, 1]));
        if (act) col = tf.logicalAnd(col, act);
        out.ring = tf.where(col, tf.reshape(ids, [B, 1]), this.ring) as tf.Tensor2D;
      }
      // counts + one at the new token − one at the leaving token: a copy and O(B) writes on the
      // CPU and GPU backends (one kernel); two one-hot rows per row elsewhere (-1: a zero row).
      // (On webgpu the kernel writes into the kept counts' own buffer and returns it: no copy.)
      const update = (counts: tf.Tensor2D, leave: tf.Tensor1D | undefined): tf.Tensor2D => {
        if (editKernelsAvailable()) return countsUpdateKernel(counts, pushed, leave);
        const plus = tf.add(counts, oneHotRows(pushed, V));
        return (leave ? tf.sub(plus, oneHotRows(leave, V)) : plus) as tf.Tensor2D;
      };
      if (this.countsAllT) out.all = update(this.countsAllT, leaveAll);
      if (this.countsGenT) out.gen = update(this.countsGenT, leaveGen);
      if (this.dir) {
        // The leaving token (a generated one when it left the generated window too) and the new one.
        const none = tf.fill([B], -1) as tf.Tensor1D;
        const remove = leaveAll ? (tf.cast(leaveAll, 'float32') as tf.Tensor1D) : none;
        const removeGen = leaveGen ? (tf.cast(tf.greaterEqual(leaveGen, 0), 'float32') as tf.Tensor1D) : (tf.zeros([B]) as tf.Tensor1D);
        const insert = tf.where(tf.logicalAnd(tf.greaterEqual(pushed, 0), tf.less(pushed, V)), tf.cast(pushed, 'float32'), none) as tf.Tensor1D;
        out.dir = updateDirectory(this.dir, remove, removeGen, insert, V);
      }
      if (this.tailT) {
        let tail = this.tailT;
        let L = this.tailCap;
        if (!Number.isFinite(this.needs.tail) && Math.max(...this.lengths) + 1 > L) {
          tail = tf.pad(
            tail,
            [
              [0, 0],
              [L, 0],
            ],
            -1,
          ) as tf.Tensor2D; // doubles: log T shapes in all
          L *= 2;
        }
        out.tail = onRows(tf.concat([tf.slice(tail, [0, 1], [B, L - 1]), tf.reshape(ids, [B, 1])], 1) as tf.Tensor2D, tail);
      }
      if (this.dry) {
        // A match at lag k grows by one when the new token equals the token k back, else it is
        // 0: column c (lag N − c) compares the new token with the window's column c. Negative
        // ids (invalid rows) match nothing. The window shifts left by one column, so do the
        // previous-occurrence columns; the new token's previous occurrence is its last equal
        // column, which now has a later one. O(B·N), whatever the history length.
        const { tokens: w, matches, previous, later } = this.dry;
        const N = w.shape[1];
        const id = tf.reshape(ids, [B, 1]);
        const hit = tf.cast(tf.logicalAnd(tf.equal(w, id), tf.greaterEqual(id, 0)), 'int32');
        const cols = tf.reshape(tf.range(0, N, 1, 'int32'), [1, N]);
        const prevNew = tf.sub(tf.max(tf.mul(hit, cols), 1, true), tf.scalar(1, 'int32')); // ≥ -1 (identity-safe: values ≥ 0, webgl's -1e20 start is below them)
        const shift = (x: tf.Tensor, last: tf.Tensor): tf.Tensor2D => (N === 1 ? last : tf.concat([tf.slice(x, [0, 1], [B, N - 1]), last], 1)) as tf.Tensor2D;
        const moved = tf.maximum(tf.sub(previous, tf.scalar(1, 'int32')), tf.scalar(-1, 'int32'));
        const laterShifted = shift(later, tf.zeros([B, 1], 'int32'));
        out.dry = {
          tokens: onRows(shift(w, id), w),
          matches: onRows(tf.mul(hit, tf.add(matches, tf.scalar(1, 'int32'))) as tf.Tensor2D, matches),
          previous: onRows(shift(moved, prevNew), previous),
          later: onRows(tf.maximum(laterShifted, tf.cast(tf.equal(cols, prevNew), 'int32')) as tf.Tensor2D, later),
        };
      }
      return out;
    });
    if (next.all) this.countsAllT = replace(this.countsAllT, next.all);
    if (next.gen) this.countsGenT = replace(this.countsGenT, next.gen);
    if (next.ring) this.ring = replace(this.ring, next.ring);
    if (next.seen) this.seenT = replace(this.seenT, next.seen);
    if (next.dir && this.dir) {
      const old = this.dir;
      this.dir = {
        tokens: replace(old.tokens, next.dir.tokens),
        all: replace(old.all, next.dir.all),
        gen: replace(old.gen, next.dir.gen),
        start: replace(old.start, next.dir.start),
        occ: replace(old.occ, next.dir.occ),
      };
    }
    if (next.tail) {
      this.tailCap = next.tail.shape[1];
      this.tailT = replace(this.tailT, next.tail);
    }
    if (next.dry && this.dry) {
      const old = this.dry;
      this.dry = {
        tokens: replace(old.tokens, next.dry.tokens),
        matches: replace(old.matches, next.dry.matches),
        previous: replace(old.previous, next.dry.previous),
        later: replace(old.later, next.dry.later),
      };
    }
    for (let r = 0; r < B; r++) {
      this.generated[r]!++;
      this.lengths[r]!++;
      this.ringPos[r]!++;
    }
  }

  /**
   * After accepts with `active` masks: row r took `taken[r]` of the last `accepts` pushes (the
   * host counters had advanced by `accepts` for every row).
   */
  settle(taken: ArrayLike<number>, accepts: number): void {
    for (let r = 0; r < this.batch; r++) {
      const d = accepts - taken[r]!;
      this.generated[r]! -= d;
      this.lengths[r]! -= d;
      this.ringPos[r]! -= d;
    }
  }

  /**
   * The given rows start over from new prompts (`Sampler.restartRows`), the other rows untouched:
   * a history seeded with those prompts (empty elsewhere) and blended in row by row. Once per
   * restart, not per step; a webgl directory becomes dense counts first (rows of one width).
   * `generated` (per given row): how many of its last tokens count as generated, for a row that
   * resumes from an earlier point of its generation (speculative decoding's rejected drafts).
   */
  restartRows(rows: readonly number[], prompts: readonly (readonly number[])[], generated?: readonly number[]): void {
    const { batch: B, vocab: V } = this;
    const given: (readonly number[])[] = Array.from({ length: B }, () => []);
    rows.forEach((r, i) => (given[r] = prompts[i]!));
    if (this.dir) {
      const dir = this.dir;
      this.dropDense();
      if (this.needs.countsAll) this.countsAllT = tf.keep(directoryCounts(dir, V, false));
      if (this.needs.countsGenerated) this.countsGenT = tf.keep(directoryCounts(dir, V, true));
      tf.dispose(Object.values(dir));
      this.dir = undefined;
    }
    const gens = new Int32Array(B);
    if (generated) rows.forEach((r, i) => (gens[r] = generated[i]!));
    const fresh = new TokenHistory(B, V, this.needs, given, true, gens);
    try {
      const on = new Uint8Array(B);
      for (const r of rows) on[r] = 1;
      const blend = <T extends tf.Tensor2D | undefined>(mine: T, theirs: tf.Tensor2D | undefined, align?: (t: tf.Tensor2D) => tf.Tensor2D): T => {
        if (!mine || !theirs) return mine;
        const next = tf.tidy(() => {
          let t = align ? align(theirs) : theirs;
          const [w, W] = [t.shape[1], mine.shape[1]];
          // The same width: pad on the left (right-aligned tails, seen lists: pad on the right).
          if (w < W)
            t =
              align === undefined
                ? (tf.pad(
                    t,
                    [
                      [0, 0],
                      [W - w, 0],
                    ],
                    -1,
                  ) as tf.Tensor2D)
                : t;
          if (w > W) t = tf.slice(t, [0, w - W], [B, W]);
          return tf.keep(tf.where(tf.reshape(tf.tensor1d(on, 'bool'), [B, 1]), t, mine) as tf.Tensor2D);
        });
        mine.dispose();
        return next as T;
      };
      this.countsAllT = blend(this.countsAllT, fresh.countsAllT);
      this.countsGenT = blend(this.countsGenT, fresh.countsGenT);
      // The fresh ring puts the token j back at column N − j, its next slot 0 (ringPos reset below).
      if (this.ring && fresh.ring) this.ring = blend(this.ring, fresh.ring, (t) => t);
      if (this.tailT && fresh.tailT && fresh.tailCap > this.tailCap) {
        const grown = tf.keep(
          tf.pad(
            this.tailT,
            [
              [0, 0],
              [fresh.tailCap - this.tailCap, 0],
            ],
            -1,
          ) as tf.Tensor2D,
        );
        this.tailT.dispose();
        this.tailT = grown;
        this.tailCap = fresh.tailCap;
      }
      this.tailT = blend(this.tailT, fresh.tailT);
      if (this.dry && fresh.dry) {
        const d = this.dry;
        this.dry = {
          tokens: blend(d.tokens, fresh.dry.tokens),
          matches: blend(d.matches, fresh.dry.matches),
          previous: blend(d.previous, fresh.dry.previous),
          later: blend(d.later, fresh.dry.later),
        };
      }
      if (this.seenT && fresh.seenT) {
        // Lists of different capacities: the wider one's, padded with -1 on the right.
        const cap = Math.max(this.seenCap, fresh.seenCap);
        const widen = (t: tf.Tensor2D, c: number): tf.Tensor2D =>
          c < cap
            ? (tf.pad(
                t,
                [
                  [0, 0],
                  [0, cap - c],
                ],
                -1,
              ) as tf.Tensor2D)
            : t;
        const mine = this.seenT;
        const next = tf.tidy(() =>
          tf.keep(tf.where(tf.reshape(tf.tensor1d(on, 'bool'), [B, 1]), widen(fresh.seenT!, fresh.seenCap), widen(mine, this.seenCap)) as tf.Tensor2D),
        );
        mine.dispose();
        this.seenT = next;
        this.seenCap = cap;
        this.seenBound = Math.max(this.seenBound, fresh.seenBound);
      }
    } finally {
      fresh.dispose();
    }
    for (const r of rows) {
      this.generated[r] = gens[r]!;
      this.lengths[r] = given[r]!.length;
      this.ringPos[r] = 0;
    }
  }

  /**
   * An independent copy (tensors cloned: they share data until either side replaces them; the
   * counts and the seen list, which webgpu updates in place, get their own buffers).
   */
  clone(): TokenHistory {
    const keep = <T extends tf.Tensor | undefined>(t: T): T => (t ? tf.keep(tf.clone(t)) : t) as T;
    const own = (t: tf.Tensor2D | undefined): tf.Tensor2D | undefined => (t ? tf.keep(tf.add(t, tf.scalar(0)) as tf.Tensor2D) : t);
    const c = Object.create(TokenHistory.prototype) as TokenHistory;
    const dry = this.dry;
    return Object.assign(c, this, {
      generated: this.generated.slice(),
      lengths: this.lengths.slice(),
      ringPos: this.ringPos.slice(),
      countsAllT: tf.tidy(() => own(this.countsAllT)),
      countsGenT: tf.tidy(() => own(this.countsGenT)),
      seenT: this.seenT && tf.tidy(() => tf.keep(tf.add(this.seenT!, tf.scalar(0, 'int32')) as tf.Tensor2D)),
      dir: this.dir && {
        tokens: keep(this.dir.tokens),
        all: keep(this.dir.all),
        gen: keep(this.dir.gen),
        start: keep(this.dir.start),
        occ: keep(this.dir.occ),
      },
      denseOf: {},
      ring: keep(this.ring),
      tailT: keep(this.tailT),
      dry: dry && { tokens: keep(dry.tokens), matches: keep(dry.matches), previous: keep(dry.previous), later: keep(dry.later) },
    });
  }

  dispose(): void {
    const dry = this.dry ? [this.dry.tokens, this.dry.matches, this.dry.previous, this.dry.later] : [];
    const dir = this.dir ? Object.values(this.dir) : [];
    this.dropDense();
    tf.dispose([this.countsAllT, this.countsGenT, this.ring, this.tailT, this.seenT, ...dry, ...dir].filter((t): t is tf.Tensor2D => t !== undefined));
    this.countsAllT = this.countsGenT = this.ring = this.tailT = this.dry = this.seenT = this.dir = undefined;
  }
}
