// Runs npm scripts in parallel lanes (`npm test` uses it for the checks around vitest): each
// argument is one lane, a comma-separated list of scripts run one after another. A step's output
// is printed whole when it ends, under a header with its lane and time, so the log stays readable.
// Every lane runs to its end or its first failure; the exit status is 1 when any step failed.
//
//   tsx tools/lanes.ts examples,bench:smoke test:demo,test:consumer
import { spawn } from 'node:child_process';

interface Result {
  step: string;
  ok: boolean;
  seconds: number;
}

function runStep(lane: number, step: string): Promise<Result> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '-s', step], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    const done = (ok: boolean, why = ''): void => {
      const seconds = (performance.now() - t0) / 1000;
      const out = Buffer.concat(chunks).toString('utf8');
      console.log(`\n── lane ${lane}: npm run ${step} — ${ok ? 'ok' : `FAILED${why}`} (${seconds.toFixed(1)} s)\n${out.trimEnd()}`);
      resolve({ step, ok, seconds });
    };
    child.on('error', (e) => done(false, `: ${e.message}`));
    child.on('close', (code, signal) => done(code === 0, code === 0 ? '' : signal ? `: ${signal}` : `: exit ${code}`));
  });
}

async function runLane(lane: number, steps: string[]): Promise<Result[]> {
  const results: Result[] = [];
  for (const step of steps) {
    const r = await runStep(lane, step);
    results.push(r);
    if (!r.ok) break;
  }
  return results;
}

const lanes = process.argv.slice(2).map((a) => a.split(',').filter(Boolean));
if (lanes.length === 0 || lanes.some((l) => l.length === 0)) {
  console.error('usage: tsx tools/lanes.ts <script>[,<script>...] [<script>[,<script>...] ...]');
  process.exit(2);
}
const t0 = performance.now();
const results = (await Promise.all(lanes.map((steps, i) => runLane(i + 1, steps)))).flat();
const failed = results.filter((r) => !r.ok);
const ran = new Set(results.map((r) => r.step));
const skipped = lanes.flat().filter((s) => !ran.has(s));
console.log(
  `\n── lanes: ${results.map((r) => `${r.step} ${r.ok ? 'ok' : 'FAILED'} ${r.seconds.toFixed(1)} s`).join(', ')}; ` +
    `${((performance.now() - t0) / 1000).toFixed(1)} s in all${skipped.length ? `; not run after a failure: ${skipped.join(', ')}` : ''}`,
);
process.exit(failed.length > 0 ? 1 : 0);
