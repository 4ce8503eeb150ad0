// Each bench table compared row by row with the recorded run (bench/baseline/<name>.json, or
// --compare FILE): a row 1.5× or more slower or faster in passes is listed, so a slowdown shows in
// any run, not only when someone reads old and new tables side by side (two once stayed two days:
// bench/CHAIN.md, stop 46). --save writes the run's rows there. The passes are this project's
// 2-core VM's; this VM moves rows by 10–40 % between runs, so nothing fails on a difference.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Per backend and shape, each row's cost in tf.max passes. */
type Recorded = Record<string, { recorded: string; passes: Record<string, number> }>;

const APART = 1.5;

export class Baseline {
  private readonly runs: Recorded;

  /** `off` (a smoke run): nothing compared or saved. */
  constructor(
    readonly file: string,
    private readonly save: boolean,
    private readonly off = false,
  ) {
    this.runs = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  }

  /** Prints how each row of a backend's run at B × V compares with the recorded one; with --save, records it. */
  compare(backend: string, B: number, V: number, result: { limit: number; rows: readonly { method: string; ms: number }[] }): void {
    if (this.off) return;
    const key = `${backend} B${B} V${V}`;
    const { limit, rows } = result;
    const passes = Object.fromEntries(rows.filter((x) => !Number.isNaN(x.ms)).map((x) => [x.method, Number((x.ms / limit).toFixed(3))]));
    const rec = this.runs[key];
    if (rec) {
      const lines: string[] = [];
      for (const [method, now] of Object.entries(passes)) {
        const was = rec.passes[method];
        if (was === undefined) continue;
        const f = now / was;
        if (f >= APART || f <= 1 / APART)
          lines.push(`  ${f >= APART ? 'SLOWER' : 'faster'} ${f.toFixed(2)}×: ${method} (${was.toFixed(2)} → ${now.toFixed(2)} passes)`);
      }
      console.log(
        lines.length === 0
          ? `vs ${this.file} (${rec.recorded}): every row within ${APART}× of its recorded passes`
          : `vs ${this.file} (${rec.recorded}), rows ${APART}× or more apart:\n${lines.join('\n')}`,
      );
    }
    if (this.save) this.runs[key] = { recorded: new Date().toISOString().slice(0, 10), passes: { ...rec?.passes, ...passes } };
  }

  /** With --save: writes the recorded runs. */
  write(): void {
    if (!this.save || this.off) return;
    writeFileSync(this.file, `${JSON.stringify(this.runs, null, 2)}\n`);
    console.log(`wrote ${this.file}`);
  }
}
