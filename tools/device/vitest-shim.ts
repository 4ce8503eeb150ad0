// A small stand-in for the part of vitest's API that test/fuzz.test.ts, test/agreement.test.ts
// and test/history.test.ts (and their helpers) use: describe / it with .each, .skip, .skipIf,
// .runIf, .fails; beforeAll / beforeEach / afterEach / afterAll; and vitest's own `expect`
// (@vitest/expect on chai, as vitest builds it). The device bundle (tools/device/pack.mjs)
// aliases `vitest` to this file, so the unmodified test files run in plain Node where vitest
// itself (vite, workers, a server) is too big to carry. Tests run one at a time, in file order;
// hooks run as in vitest (beforeAll once per describe before its first test, beforeEach outer to
// inner, afterEach inner to outer; a failing afterEach fails its test).
import { chai, GLOBAL_EXPECT, getState, JestAsymmetricMatchers, JestChaiExpect, JestExtend, setState } from '@vitest/expect';

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

// biome-ignore lint/suspicious/noExplicitAny: chai's expect chain is untyped here
type Expect = ((value: unknown, message?: string) => any) & Record<string, any>;
export const expect: Expect = ((value: unknown, message?: string) => {
  const { assertionCalls } = getState(expect as never) as { assertionCalls: number };
  setState({ assertionCalls: assertionCalls + 1 }, expect as never);
  return chai.expect(value, message);
}) as Expect;
Object.assign(expect, chai.expect);
setState(
  {
    assertionCalls: 0,
    isExpectingAssertions: false,
    isExpectingAssertionsError: null,
    expectedAssertionsNumber: null,
    expectedAssertionsNumberErrorGen: null,
    currentTestName: '',
  },
  expect as never,
);
// biome-ignore lint/suspicious/noExplicitAny: chai's plugin API
expect.extend = (matchers: Record<string, unknown>) => (chai.expect as any).extend(expect, matchers);
expect.getState = () => getState(expect as never);
expect.setState = (state: object) => setState(state, expect as never);
(globalThis as Record<symbol, unknown>)[GLOBAL_EXPECT] = expect;

// biome-ignore lint/suspicious/noExplicitAny: test functions of any signature
type Fn = (...args: any[]) => unknown;
type Mode = 'run' | 'skip' | 'fails';

interface TestNode {
  kind: 'test';
  name: string;
  fn: Fn | undefined;
  args: unknown[];
  mode: Mode;
}
interface SuiteNode {
  kind: 'suite';
  name: string;
  parent: SuiteNode | undefined;
  children: (TestNode | SuiteNode)[];
  skip: boolean;
  beforeAll: Fn[];
  afterAll: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
}

const newSuite = (name: string, parent: SuiteNode | undefined, skip = false): SuiteNode => ({
  kind: 'suite',
  name,
  parent,
  children: [],
  skip,
  beforeAll: [],
  afterAll: [],
  beforeEach: [],
  afterEach: [],
});
const root = newSuite('', undefined);
let current = root;

// ---- names of .each cases, as vitest formats them ----------------------------------------

function show(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'function') return `[Function ${v.name}]`;
  try {
    return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  } catch {
    return String(v);
  }
}

function formatName(name: string, item: unknown, index: number): string {
  const args = Array.isArray(item) ? item : [item];
  let i = 0;
  let out = name.replace(/%[sdifjo#%]/g, (m) => {
    if (m === '%%') return '%';
    if (m === '%#') return String(index);
    const v = args[i++];
    if (m === '%d' || m === '%i') return String(m === '%i' ? Math.trunc(Number(v)) : Number(v));
    if (m === '%f') return String(Number(v));
    if (m === '%j' || m === '%o') return JSON.stringify(v);
    return show(v);
  });
  if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
    out = out.replace(/\$([A-Za-z_][\w.]*)/g, (m, path: string) => {
      let v: unknown = item;
      for (const k of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
      return v === undefined ? m : show(v);
    });
  }
  return out;
}

const argsOf = (item: unknown): unknown[] => (Array.isArray(item) ? item : [item]);

// ---- collection ------------------------------------------------------------------------------

function addTest(name: string, fn: Fn | undefined, mode: Mode, args: unknown[] = []): void {
  current.children.push({ kind: 'test', name, fn, args, mode });
}

function addSuite(name: string, fn: Fn, skip: boolean, args: unknown[] = []): void {
  const s = newSuite(name, current, skip);
  current.children.push(s);
  const parent = current;
  current = s;
  try {
    const r = fn(...args);
    if (r instanceof Promise) throw new Error(`describe('${name}') returned a promise: not supported here`);
  } finally {
    current = parent;
  }
}

function testApi(mode: Mode) {
  const t = (name: string, fn?: Fn) => addTest(name, fn, mode);
  return Object.assign(t, {
    each:
      (table: readonly unknown[]) =>
      (name: string, fn: Fn): void =>
        table.forEach((item, i) => addTest(formatName(name, item, i), fn, mode, argsOf(item))),
  });
}

const runTest = testApi('run');
export const it = Object.assign(runTest, {
  skip: testApi('skip'),
  fails: testApi('fails'),
  only: runTest,
  todo: (name: string) => addTest(name, undefined, 'skip'),
  skipIf: (cond: unknown) => (cond ? testApi('skip') : runTest),
  runIf: (cond: unknown) => (cond ? runTest : testApi('skip')),
});
export const test = it;

function suiteApi(skip: boolean) {
  const d = (name: string, fn: Fn) => addSuite(name, fn, skip);
  return Object.assign(d, {
    each:
      (table: readonly unknown[]) =>
      (name: string, fn: Fn): void =>
        table.forEach((item, i) => addSuite(formatName(name, item, i), fn, skip, argsOf(item))),
  });
}
const runSuite = suiteApi(false);
export const describe = Object.assign(runSuite, {
  skip: suiteApi(true),
  only: runSuite,
  skipIf: (cond: unknown) => suiteApi(Boolean(cond)),
  runIf: (cond: unknown) => suiteApi(!cond),
});

export const beforeAll = (fn: Fn): void => void current.beforeAll.push(fn);
export const afterAll = (fn: Fn): void => void current.afterAll.push(fn);
export const beforeEach = (fn: Fn): void => void current.beforeEach.push(fn);
export const afterEach = (fn: Fn): void => void current.afterEach.push(fn);

// ---- running --------------------------------------------------------------------------------

export interface TestResult {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  /** it.fails tests: they pass by failing. */
  expectedFailure?: boolean;
  error?: string;
  /** What the test printed with console.log (the fuzz tallies, token counts). */
  logs: string[];
}

export interface RunOptions {
  /** Only tests whose full name matches. */
  grep?: RegExp;
  /** Called after each test (results so far), e.g. to write them to a file. */
  onResult?: (r: TestResult, all: TestResult[]) => void;
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const stack = e.stack ?? `${e.name}: ${e.message}`;
    // The message first (fast-check's holds the seed and path to replay), then a few frames.
    const frames = stack
      .split('\n')
      .filter((l) => /^\s+at /.test(l))
      .slice(0, 6);
    const text = `${e.name}: ${e.message}\n${frames.join('\n')}`;
    return text.length > 8000 ? `${text.slice(0, 8000)}… (${text.length} chars)` : text;
  }
  return String(e);
}

const fullName = (s: SuiteNode | undefined, name: string): string => {
  const parts: string[] = [name];
  for (let p = s; p && p !== root; p = p.parent) parts.unshift(p.name);
  return parts.join(' > ');
};

function selected(node: TestNode | SuiteNode, suite: SuiteNode, grep: RegExp | undefined): boolean {
  if (node.kind === 'test') return !grep || grep.test(fullName(suite, node.name));
  return node.children.some((c) => selected(c, node, grep));
}

export async function run(opts: RunOptions = {}): Promise<TestResult[]> {
  const results: TestResult[] = [];
  const log = console.log.bind(console);
  let logs: string[] | undefined;
  console.log = (...xs: unknown[]) => {
    logs?.push(xs.map(show).join(' '));
    log(...xs);
  };
  const record = (r: TestResult): void => {
    results.push(r);
    const mark = r.status === 'passed' ? '✓' : r.status === 'failed' ? '✗' : '↓';
    log(`${mark} ${r.name}${r.status === 'skipped' ? '' : ` (${(r.ms / 1000).toFixed(1)} s)`}${r.expectedFailure ? ' [it.fails: failed as expected]' : ''}`);
    if (r.error) log(`    ${r.error.replace(/\n/g, '\n    ')}`);
    opts.onResult?.(r, results);
  };
  const hooks = (s: SuiteNode, key: 'beforeEach' | 'afterEach'): Fn[] => {
    const chain: Fn[][] = [];
    for (let p: SuiteNode | undefined = s; p; p = p.parent) chain.unshift(p[key]);
    return key === 'beforeEach' ? chain.flat() : chain.reverse().flat();
  };

  async function runSuiteNode(s: SuiteNode, skipped: boolean, failedSetup: string | undefined): Promise<void> {
    if (!selected(s, s.parent ?? root, opts.grep)) return;
    const skip = skipped || s.skip;
    let setupError = failedSetup;
    if (!skip && !setupError) {
      try {
        for (const h of s.beforeAll) await h();
      } catch (e) {
        setupError = `beforeAll of '${fullName(s, '')}' failed: ${errorText(e)}`;
      }
    }
    for (const c of s.children) {
      if (c.kind === 'suite') {
        await runSuiteNode(c, skip, setupError);
        continue;
      }
      const name = fullName(s, c.name);
      if (opts.grep && !opts.grep.test(name)) continue;
      if (skip || c.mode === 'skip' || !c.fn) {
        record({ name, status: 'skipped', ms: 0, logs: [] });
        continue;
      }
      if (setupError) {
        record({ name, status: 'failed', ms: 0, error: setupError, logs: [] });
        continue;
      }
      log(`▶ ${name}`);
      logs = [];
      const t0 = performance.now();
      let error: unknown;
      let threw = false;
      try {
        for (const h of hooks(s, 'beforeEach')) await h();
        try {
          await c.fn(...c.args);
        } catch (e) {
          threw = true;
          error = e;
        }
        if (c.mode === 'fails') {
          error = threw ? undefined : new Error('it.fails: the test passed, but it is expected to fail (a known hole fixed? then it leaves `known`)');
          threw = error !== undefined;
        }
        for (const h of hooks(s, 'afterEach')) {
          try {
            await h();
          } catch (e) {
            if (!threw) {
              threw = true;
              error = e;
            }
          }
        }
      } catch (e) {
        threw = true;
        error = e;
      }
      const ms = performance.now() - t0;
      const r: TestResult = { name, status: threw ? 'failed' : 'passed', ms, logs };
      if (threw) r.error = errorText(error);
      if (c.mode === 'fails' && !threw) r.expectedFailure = true;
      logs = undefined;
      record(r);
    }
    if (!skip && !failedSetup) {
      try {
        for (const h of s.afterAll) await h();
      } catch (e) {
        record({ name: `afterAll of '${fullName(s, '')}'`, status: 'failed', ms: 0, error: errorText(e), logs: [] });
      }
    }
  }

  try {
    await runSuiteNode(root, false, undefined);
  } finally {
    console.log = log;
  }
  return results;
}
