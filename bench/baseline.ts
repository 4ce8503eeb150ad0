// Each bench table compared row by row with the recorded run (bench/baseline/<name>.json, or
// --compare FILE): a row 1.5× or more slower or faster is listed, so a slowdown shows in any run,
// not only when someone reads old and new tables side by side (two once stayed two days:
// bench/CHAIN.md, stop 46). --save writes the run's rows there. The values are this project's
// 2-core VM's; this VM moves rows by 10–40 % between runs, so nothing fails on a difference.
// Rows are dimensionless: tf.max passes (chain, penalties, the main bench, grammar) or ratios
// between two runs of the same bench (speculative speed-ups, the transformer's cache ratios).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Per table (a backend and a shape), each row's value in `unit`. */
type Recorded = Record<string, { recorded: string; unit: string; values: Record<string, number> }>;

const APART = 1.5;

export class Baseline {
  private readonly runs: Recorded;
  private readonly shown: string;

  /** `off` (a smoke run): nothing compared or saved. */
  constructor(
    readonly file: string,
    private readonly save: boolean,
    private readonly off = false,
  ) {
    this.runs = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
    this.shown = path.relative(process.cwd(), file);
  }

  /** Prints how each row of a backend's run at B × V compares with the recorded one; with --save, records it. */
  compare(backend: string, B: number, V: number, result: { limit: number; rows: readonly { method: string; ms: number }[] }): void {
    const { limit, rows } = result;
    const passes = Object.fromEntries(rows.filter((x) => !Number.isNaN(x.ms)).map((x) => [x.method, x.ms / limit]));
    this.values(`${backend} B${B} V${V}`, passes);
  }

  /**
   * Prints how each value of table `key` compares with the recorded one; with --save, records
   * them. `unit` 'passes' (a cost: larger is slower) or a ratio named by `unit`; `higher`
   * says whether a larger value is 'slower' (a cost) or 'faster' (a speed-up).
   */
  values(key: string, values: Record<string, number>, unit = 'passes', higher: 'slower' | 'faster' = 'slower'): void {
    if (this.off) return;
    const now = Object.fromEntries(
      Object.entries(values)
        .filter(([, v]) => Number.isFinite(v) && v > 0)
        .map(([k, v]) => [k, Number(v.toFixed(3))]),
    );
    const rec = this.runs[key];
    if (rec && rec.unit === unit) {
      const lines: string[] = [];
      for (const [row, v] of Object.entries(now)) {
        const was = rec.values[row];
        if (was === undefined) continue;
        const f = v / was;
        if (f >= APART || f <= 1 / APART) {
          const slower = f >= APART === (higher === 'slower');
          lines.push(`  ${slower ? 'SLOWER' : 'faster'} ${(f >= 1 ? f : 1 / f).toFixed(2)}× apart: ${row} (${was.toFixed(2)} → ${v.toFixed(2)} ${unit})`);
        }
      }
      console.log(
        lines.length === 0
          ? `vs ${this.shown} [${key}] (${rec.recorded}): every row within ${APART}× of its recorded ${unit}`
          : `vs ${this.shown} [${key}] (${rec.recorded}), rows ${APART}× or more apart:\n${lines.join('\n')}`,
      );
    } else if (!this.save) console.log(`vs ${this.shown} [${key}]: nothing recorded for this table (--save records it)`);
    if (this.save) {
      const kept = rec && rec.unit === unit ? rec.values : {};
      this.runs[key] = { recorded: new Date().toISOString().slice(0, 10), unit, values: { ...kept, ...now } };
    }
  }

  /** With --save: writes the recorded runs. */
  write(): void {
    if (!this.save || this.off) return;
    writeFileSync(this.file, `${JSON.stringify(this.runs, null, 2)}\n`);
    console.log(`wrote ${this.shown}`);
  }
}
