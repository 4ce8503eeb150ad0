// Output: the live table, bench/results/<date>-<host>.json, bench/RESULTS.md and an SVG chart
// (vega-lite compiled to vega, rendered headless in Node).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { SKIP_FACTOR, type Cell, type Result } from './core.js';
import { METHODS } from './methods.js';

export interface RunFile {
  meta: Record<string, unknown>;
  /** Backends that could not run, with the reason. */
  skipped: { backend: string; why: string }[];
  results: Result[];
}

const key = (backend: string, c: Cell): string => `${backend}|${c.logits}|${c.B}|${c.V}`;

export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

const withUnit = (ms: number | undefined): string => {
  const t = fmtMs(ms);
  return t.endsWith(' s') || t === '—' ? t : `${t} ms`;
};

function fmtRatio(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

function fmtBytes(b: number | undefined): string {
  if (b === undefined) return '—';
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(1)} MB`;
  if (b >= 1 << 10) return `${(b / (1 << 10)).toFixed(0)} kB`;
  return `${b} B`;
}

/** A cell's time as shown: the median, '>cap' (with the warm-up or the estimate), or 'ERR'. */
export function shown(r: Result | undefined): string {
  if (!r) return '—';
  if (r.status === 'ok') return fmtMs(r.medianMs);
  if (r.status === 'cap') return r.estimateMs !== undefined ? `>cap (≈${fmtMs(r.estimateMs)})` : `>cap (${fmtMs(r.firstMs)})`;
  return 'ERR';
}

const ok = (r: Result | undefined): number | undefined => (r?.status === 'ok' ? r.medianMs : undefined);
function ratio(x: Result | undefined, y: Result | undefined): number | undefined {
  const a = ok(x);
  const b = ok(y);
  return a !== undefined && b !== undefined && b > 0 ? a / b : undefined;
}

/** Results indexed by (backend, cell) and method. */
export class Index {
  private map = new Map<string, Map<string, Result>>();
  constructor(results: Result[] = []) {
    for (const r of results) this.add(r);
  }
  add(r: Result): void {
    const k = key(r.backend, r);
    const m = this.map.get(k) ?? new Map<string, Result>();
    m.set(r.method, r);
    this.map.set(k, m);
  }
  get(backend: string, c: Cell, method: string): Result | undefined {
    return this.map.get(key(backend, c))?.get(method);
  }
  count(backend: string, c: Cell): number {
    return this.map.get(key(backend, c))?.size ?? 0;
  }
}

// ---- the live table (one line per backend × cell) ----------------------------------------

const TENSOR_COLS: [string, number][] = [
  ['backend', 14],
  ['logits', 6],
  ['B', 3],
  ['V', 7],
  ['(a) max', 9],
  ['(b) ours', 9],
  ['b/a', 6],
  ['(c) top-p', 9],
  ['c/a', 6],
  ['(d) naive', 16],
  ['d/a', 6],
  ['b/d', 6],
  ['b/e', 6],
  ['b/f', 6],
  ['c/ec', 6],
  ['c/fc', 6],
  ['peak b', 9],
  ['leak', 5],
  ['path', 10],
];
const JS_COLS: [string, number][] = [
  ['peers (Node, plain JS)', 23],
  ['logits', 6],
  ['B', 3],
  ['V', 7],
  ['(e) hf+top-p', 16],
  ['(ek) hf top-k', 16],
  ['(ec) hf top-p', 16],
  ['(f) article', 16],
  ['(fc) article', 16],
];

const row = (cols: [string, number][], cells: string[]): string => cells.map((s, i) => s.padStart(cols[i]![1])).join(' ');
export const tensorHeader = (): string =>
  row(
    TENSOR_COLS,
    TENSOR_COLS.map(([h]) => h),
  );
export const jsHeader = (): string =>
  row(
    JS_COLS,
    JS_COLS.map(([h]) => h),
  );

/** '0', or per method: tensors leaked per step (after the first), '+n' for a one-time retention. */
function leakText(idx: Index, backend: string, c: Cell): string {
  const parts: string[] = [];
  for (const m of METHODS) {
    const r = idx.get(backend, c, m.id);
    if (r?.leakedTensorsPerStep) parts.push(`${m.id}:${fmtRatio(r.leakedTensorsPerStep)}/step`);
    else if (r?.retainedTensors) parts.push(`${m.id}:+${r.retainedTensors}`);
  }
  return parts.length === 0 ? '0' : parts.join(',');
}

function tensorCells(idx: Index, backend: string, c: Cell): string[] {
  const g = (m: string): Result | undefined => idx.get(backend, c, m);
  const peer = (m: string): Result | undefined => idx.get('js', c, m);
  const b = g('b');
  const paths = [...new Set(['b', 'c'].map((m) => g(m)?.path).filter((p): p is string => p !== undefined))];
  return [
    backend,
    c.logits,
    String(c.B),
    String(c.V),
    shown(g('a')),
    shown(b),
    fmtRatio(ratio(b, g('a'))),
    shown(g('c')),
    fmtRatio(ratio(g('c'), g('a'))),
    shown(g('d')),
    fmtRatio(ratio(g('d'), g('a'))),
    fmtRatio(ratio(b, g('d'))),
    fmtRatio(ratio(b, peer('e'))),
    fmtRatio(ratio(b, peer('f'))),
    fmtRatio(ratio(g('c'), peer('ec'))),
    fmtRatio(ratio(g('c'), peer('fc'))),
    fmtBytes(b?.peakExtraBytes),
    leakText(idx, backend, c),
    paths.join(',') || '—',
  ];
}

function jsCells(idx: Index, c: Cell): string[] {
  const g = (m: string): Result | undefined => idx.get('js', c, m);
  return ['js', c.logits, String(c.B), String(c.V), shown(g('e')), shown(g('ek')), shown(g('ec')), shown(g('f')), shown(g('fc'))];
}

export const tensorLine = (idx: Index, backend: string, c: Cell): string => row(TENSOR_COLS, tensorCells(idx, backend, c));
export const jsLine = (idx: Index, c: Cell): string => row(JS_COLS, jsCells(idx, c));

// ---- files -------------------------------------------------------------------------------

const md = (cols: string[], rows: string[][]): string =>
  [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

function cellsOfResults(results: Result[], backend: string): Cell[] {
  const seen = new Map<string, Cell>();
  for (const r of results) if (r.backend === backend) seen.set(key(backend, r), { B: r.B, V: r.V, logits: r.logits });
  return [...seen.values()];
}

export function backendsOf(results: Result[]): string[] {
  const order = ['cpu', 'wasm', 'webgpu', 'browser-webgl', 'browser-webgpu'];
  const names = [...new Set(results.map((r) => r.backend))].filter((b) => b !== 'js');
  const rank = (b: string): number => (order.includes(b) ? order.indexOf(b) : order.length);
  return names.sort((x, y) => rank(x) - rank(y) || x.localeCompare(y));
}

/** The Markdown summary (bench/RESULTS.md). */
export function summary(run: RunFile, chartFile: string | undefined): string {
  const { meta, results } = run;
  const idx = new Index(results);
  const out: string[] = [];
  out.push('# Benchmark results', '');
  out.push(
    `Generated by \`${String(meta.command)}\` on ${String(meta.date)} (host \`${String(meta.host)}\`). Raw numbers: \`${String(meta.jsonFile)}\` (git-ignored).`,
    '',
  );
  out.push(
    `Machine: ${String(meta.cpu)} × ${String(meta.cores)} cores, ${String(meta.memoryGB)} GB; Node ${String(meta.node)}; tfjs ${String(meta.tfjs)}; ` +
      `transformers.js ${String(meta.transformers)}; browser: ${String(meta.browser ?? '—')}. GPU backends run on software adapters (SwiftShader): ` +
      `compare them as ratios, not as GPU speeds. Commit ${String(meta.commit)}${meta.dirty ? ' (src/ had uncommitted changes)' : ''}.`,
    '',
  );
  const load = meta.loadavg as { cores: number; start: number; end?: number } | undefined;
  if (load) {
    const busy = Math.max(load.start, load.end ?? 0) > 0.75 * load.cores;
    out.push(
      `Load average (1 min) at start / end: ${load.start.toFixed(1)} / ${load.end?.toFixed(1) ?? '—'} on ${load.cores} cores` +
        (busy ? ' — other processes shared the CPUs: timings are noisy (compare within a row, rerun on a quiet machine for absolute numbers).' : '.'),
      '',
    );
  }
  if (meta.note) out.push(`Note: ${String(meta.note)}`, '');
  const o = meta.options as Record<string, unknown>;
  out.push(
    `Per (cell, method): one warm-up run, then timed runs for ${String(o.budgetMs)} ms (at least ${String(o.minReps)} when they fit in twice that, at most ${String(o.maxReps)}); ` +
      `the median is shown, in ms unless marked s. A single run longer than ${String(o.capMs)} ms (a first run up to twice that gets a second try, for compilation) is shown as \`>cap (its time)\`; ` +
      `a cell that a smaller cell of the same series predicts (linearly in B·V) above ${SKIP_FACTOR}× that is not run: \`>cap (≈prediction)\`. ` +
      'Every step includes the one read-back of the result (`await data()`).',
    '',
  );
  out.push('Methods:', '');
  for (const m of METHODS)
    out.push(`- **(${m.id})** ${m.label}${m.kind === 'js' ? ' — Node, plain JS on a Float32Array, no tfjs: the same column for every backend' : ''}`);
  out.push(
    '',
    'Logits: **peaky** = −1.1·ln(rank) + 0.1·N(0,1) with the ranks shuffled (Zipf-like); **flat** = 0.1·N(0,1) (near-equal: top-p keeps most of the vocabulary).',
    '',
    'Columns: x/a = time of x ÷ time of (a) on the same backend and shape; b/d, b/e, b/f, c/ec, c/fc = ours ÷ the peer (below 1: ours is faster). ' +
      '*peak b* = peak tfjs-accounted bytes above the starting level during one step of (b) (the distinct data buffers of tensors of every backend; a view such as a reshape shares its buffer and is not counted again; ' +
      'scratch memory inside a kernel — the typed arrays of the fused cpu/wasm kernels, buffers a GPU kernel allocates for itself — is not counted). ' +
      '*leak* = tensors left allocated by a method: `x:n/step` growing per step, `x:+n` once (0 = none, for every method). *path* = `sampler.lastPath`.',
    '',
  );
  if (run.skipped.length > 0) {
    out.push(`Skipped backends: ${run.skipped.map((s) => `${s.backend} (${s.why})`).join('; ')}`, '');
  }
  out.push('## Tensor backends', '');
  const tcols = TENSOR_COLS.map(([h]) => h);
  const trows: string[][] = [];
  for (const be of backendsOf(results)) for (const c of cellsOfResults(results, be)) trows.push(tensorCells(idx, be, c));
  out.push(md(tcols, trows), '');
  const jsCellsList = cellsOfResults(results, 'js');
  if (jsCellsList.length > 0) {
    out.push('## Peers in plain JS (Node)', '');
    out.push(
      md(
        JS_COLS.map(([h]) => h),
        jsCellsList.map((c) => jsCells(idx, c)),
      ),
      '',
    );
  }
  out.push('## Peak extra memory per step (tfjs-accounted)', '');
  const mems = ['a', 'b', 'c', 'd'];
  const mrows: string[][] = [];
  for (const be of backendsOf(results)) {
    for (const c of cellsOfResults(results, be)) {
      mrows.push([be, c.logits, String(c.B), String(c.V), ...mems.map((m) => fmtBytes(idx.get(be, c, m)?.peakExtraBytes))]);
    }
  }
  out.push(md(['backend', 'logits', 'B', 'V', ...mems.map((m) => `(${m})`)], mrows), '');
  const bad = results.filter((r) => r.status !== 'ok');
  if (bad.length > 0) {
    out.push('## Not measured', '');
    for (const r of bad) {
      const what =
        r.status === 'cap'
          ? r.estimateMs !== undefined
            ? `>cap: predicted ${withUnit(r.estimateMs)} from a smaller cell, not run`
            : `>cap: one run took ${withUnit(r.firstMs)}`
          : `error: ${r.error}`;
      out.push(`- ${r.backend} ${r.logits} [${r.B}, ${r.V}] (${r.method}): ${what}`);
    }
    out.push('');
  }
  if (chartFile) out.push('## Chart', '', `![median time per step](${chartFile})`, '');
  return out.join('\n');
}

/** Median time per step (log scale) by cell, one line per method; one panel per backend × logits. */
export async function chartSvg(run: RunFile): Promise<string> {
  const label = new Map(METHODS.map((m) => [m.id, `(${m.id}) ${m.label}`]));
  const values = run.results
    .filter((r) => r.status === 'ok' && r.medianMs !== undefined)
    .map((r) => ({
      backend: r.backend === 'js' ? 'plain JS (Node)' : r.backend,
      logits: r.logits,
      cell: `${r.B}×${r.V}`,
      size: r.B * r.V,
      method: label.get(r.method) ?? r.method,
      ms: r.medianMs,
    }));
  const cellOrder = [...new Map(values.sort((x, y) => x.size - y.size).map((v) => [v.cell, v.size])).keys()];
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'tfjs-sampling benchmark: median time per step (ms, log scale)', subtitle: String(run.meta.date) },
    data: { values },
    facet: {
      row: { field: 'backend', type: 'nominal', title: null, sort: [...backendsOf(run.results), 'plain JS (Node)'] },
      column: { field: 'logits', type: 'nominal', title: null },
    },
    spec: {
      width: 260,
      height: 170,
      layer: [
        {
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'cell', type: 'ordinal', sort: cellOrder, title: 'B×V', axis: { labelAngle: -40 } },
            y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms' },
            color: { field: 'method', type: 'nominal', legend: { orient: 'bottom', columns: 1, labelLimit: 0 } },
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  };
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  return view.toSVG();
}

export interface Written {
  json: string;
  svg: string;
  markdown?: string;
}

/** bench/RESULTS.md and bench/RESULTS.svg from a run. */
export async function renderSummary(run: RunFile, benchDir: string, svgText?: string): Promise<string[]> {
  const svg = path.join(benchDir, 'RESULTS.svg');
  writeFileSync(svg, svgText ?? (await chartSvg(run)));
  const mdFile = path.join(benchDir, 'RESULTS.md');
  writeFileSync(mdFile, summary(run, 'RESULTS.svg'));
  return [mdFile, svg];
}

/** Writes <dir>/results/<stem>.json and .svg; with `markdown`, also bench/RESULTS.md and bench/RESULTS.svg. */
export async function writeOutputs(run: RunFile, benchDir: string, stem: string, markdown: boolean): Promise<Written> {
  const resultsDir = path.join(benchDir, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const json = path.join(resultsDir, `${stem}.json`);
  run.meta.jsonFile = path.relative(path.dirname(benchDir), json);
  writeFileSync(json, `${JSON.stringify(run, null, 1)}\n`);
  const svgText = await chartSvg(run);
  const svg = path.join(resultsDir, `${stem}.svg`);
  writeFileSync(svg, svgText);
  if (!markdown) return { json, svg };
  const [mdFile] = await renderSummary(run, benchDir, svgText);
  return { json, svg, markdown: mdFile! };
}
