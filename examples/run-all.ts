// `npm run examples` (part of `npm test`): runs every examples/*.ts except this file and the
// backend helper, each in its own Node process with tsx's loader (offline, no npx lookup), with a
// timeout. Prints each name and exit status; exits non-zero if any fails. Also checks that the
// README's usage block is an exact copy of examples/usage.ts.
// `npm run examples -- demo usage article/strategies` runs only the named ones.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const TIMEOUT_MS = Number(process.env.EXAMPLES_TIMEOUT_MS ?? 180_000);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const skip = new Set(['run-all.ts', 'backend.ts']);
const only = process.argv.slice(2).map((n) => (n.endsWith('.ts') ? n : `${n}.ts`));
// examples/article/*.ts (the seed article's demonstrations) run too, named `article/<file>`.
const files = [...readdirSync(here), ...readdirSync(path.join(here, 'article')).map((f) => `article/${f}`)]
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !skip.has(f))
  .filter((f) => only.length === 0 || only.includes(f))
  .sort();
if (only.length > 0 && files.length !== only.length) {
  console.error(`unknown example(s): ${only.filter((f) => !files.includes(f)).join(', ')}`);
  process.exit(2);
}

interface Result {
  file: string;
  status: string;
  ok: boolean;
  seconds: number;
}

function runOne(file: string): Promise<Result> {
  const start = performance.now();
  return new Promise((resolve) => {
    // cwd = repository root, so tsx finds tsconfig.json (the `tfjs-sampling` path mapping).
    const child = spawn(process.execPath, ['--import', tsxLoader, path.join(here, file)], {
      cwd: root,
      stdio: 'inherit',
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    const done = (status: string, ok: boolean): void => {
      clearTimeout(timer);
      resolve({ file, status, ok, seconds: (performance.now() - start) / 1000 });
    };
    child.on('error', (err) => done(`failed to start: ${err.message}`, false));
    child.on('exit', (code, signal) => {
      if (timedOut) done(`timed out after ${TIMEOUT_MS / 1000} s`, false);
      else if (signal !== null) done(`killed by ${signal}`, false);
      else done(`exit ${code}`, code === 0);
    });
  });
}

/** The README's usage block (after its `<!-- examples/usage.ts` marker) must equal usage.ts. */
function checkReadme(): Result {
  const start = performance.now();
  const result = (status: string, ok: boolean): Result => ({
    file: 'README.md',
    status,
    ok,
    seconds: (performance.now() - start) / 1000,
  });
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = /<!-- examples\/usage\.ts[^\n]*\n```ts\n([\s\S]*?)```\n/.exec(readme);
  if (!block) return result('no usage block after "<!-- examples/usage.ts"', false);
  const same = block[1] === readFileSync(path.join(here, 'usage.ts'), 'utf8');
  return result(same ? 'usage block = examples/usage.ts' : 'usage block differs from examples/usage.ts', same);
}

const results: Result[] = [];
if (only.length === 0 || only.includes('usage.ts')) results.push(checkReadme());
for (const file of files) {
  console.log(`\n━━ examples/${file} ━━`);
  const result = await runOne(file);
  console.log(`━━ examples/${file}: ${result.status} (${result.seconds.toFixed(1)} s)`);
  results.push(result);
}

console.log('\nexamples:');
for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.file.padEnd(34)} ${r.status} (${r.seconds.toFixed(1)} s)`);
const failed = results.filter((r) => !r.ok);
if (failed.length > 0) {
  console.error(`${failed.length} of ${results.length} failed`);
  process.exit(1);
}
console.log(`all ${results.length} passed`);
