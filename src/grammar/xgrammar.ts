// @mlc-ai/web-xgrammar (an optional dependency) is a UMD browser build. In a browser the caller
// imports it (its bundler resolves it; this file names it nowhere, so bundles without grammars
// never need it). Node reads the file as an ES module (its package says "type": "module"), where
// `exports` and `require` do not exist: it is evaluated here, once, with the CommonJS bindings it
// expects.

/** The parts of @mlc-ai/web-xgrammar 0.1.x this library uses. */
export interface XGrammarModule {
  TokenizerInfo: {
    createTokenizerInfo(
      vocab: string[],
      vocabType?: string,
      prependSpace?: boolean,
      vocabSize?: number,
      stopTokenIds?: number[] | number,
    ): Promise<XGTokenizerInfo>;
  };
  GrammarCompiler: { createGrammarCompiler(info: XGTokenizerInfo, cacheEnabled?: boolean): Promise<XGCompiler> };
  GrammarMatcher: {
    createGrammarMatcher(compiled: XGCompiledGrammar, stopTokens?: number[] | number, terminateWithoutStopToken?: boolean): Promise<XGMatcher>;
  };
  Testings: {
    _jsonSchemaToEBNF(schema: string, anyWhitespace?: boolean, indent?: number, separators?: [string, string], strictMode?: boolean): Promise<string>;
  };
}
export interface XGTokenizerInfo {
  getVocabSize(): number;
  dispose(): void;
}
export interface XGCompiledGrammar {
  dispose(): void;
}
export interface XGCompiler {
  compileGrammar(ebnf: string, rootRule?: string): Promise<XGCompiledGrammar>;
  compileBuiltinJSONGrammar(): Promise<XGCompiledGrammar>;
  compileStructuralTag(tag: unknown): Promise<XGCompiledGrammar>;
  dispose(): void;
}
export interface XGMatcher {
  acceptToken(id: number): boolean;
  getNextTokenBitmask(): Promise<Int32Array>;
  isTerminated(): boolean;
  reset(): void;
  rollBack(numTokens: number): void;
  dispose(): void;
}

let loading: Promise<XGrammarModule> | undefined;

/** @mlc-ai/web-xgrammar in Node, loaded on first use; in a browser the caller passes the module. */
export function loadXGrammar(): Promise<XGrammarModule> {
  if (!isNode()) {
    return Promise.reject(
      new Error("in a browser, pass the engine module: createGrammarEngine(vocabulary, { xgrammar: await import('@mlc-ai/web-xgrammar') })"),
    );
  }
  loading ??= loadInNode().catch((err: unknown) => {
    loading = undefined;
    throw new Error(`@mlc-ai/web-xgrammar could not be loaded (it is an optional dependency: npm install @mlc-ai/web-xgrammar@0.1.27): ${String(err)}`);
  });
  return loading;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && typeof (globalThis as { document?: unknown }).document === 'undefined';
}

/** The module as an `import()` of it gives it (a bundler may put the UMD's exports under `default`). */
export function xgrammarExports(mod: unknown): XGrammarModule | undefined {
  const m = mod as (XGrammarModule & { default?: XGrammarModule }) | null | undefined;
  if (typeof m?.TokenizerInfo?.createTokenizerInfo === 'function') return m;
  if (typeof m?.default?.TokenizerInfo?.createTokenizerInfo === 'function') return m.default;
  return undefined;
}

async function loadInNode(): Promise<XGrammarModule> {
  // Specifiers in variables: bundlers for the browser must not try to resolve Node's modules.
  const moduleId = 'node:module';
  const fsId = 'node:fs';
  const { createRequire, Module: NodeModule } = (await import(/* @vite-ignore */ moduleId)) as typeof import('node:module');
  const { readFileSync } = (await import(/* @vite-ignore */ fsId)) as typeof import('node:fs');
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar/lib/index.js');
  // Compiled by Node's CommonJS loader (not `new Function`), so that the dynamic `import()` in
  // the file has a loader in every host (vitest's included).
  const Module = NodeModule as unknown as CommonJSModule;
  const cjs = new Module(file);
  cjs.filename = file;
  cjs.paths = Module._nodeModulePaths(file.replace(/[\\/][^\\/]*$/, ''));
  cjs._compile(readFileSync(file, 'utf8'), file);
  return cjs.exports as XGrammarModule;
}

interface CommonJSModule {
  new (id: string): { filename: string; paths: string[]; exports: unknown; _compile(source: string, filename: string): void };
  _nodeModulePaths(dir: string): string[];
}
