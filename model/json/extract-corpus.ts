// Builds model/json/corpus/records.jsonl, the corpus of the JSON character model, from JSON data
// shipped by npm packages installed in this repository's node_modules (offline, no registry):
//  1. mime-db's db.json: one record per media type;
//  2. the package.json of every installed package with a permissive licence: a fixed set of fields;
//  3. the JSON Schema definitions of vega-lite, vega and vega-scenegraph: one per line.
// One compact JSON value per line (JSON.stringify, no spaces), printable ASCII only (anything else
// escaped as \uXXXX), lines longer than MAX_LINE dropped; each source in sorted order, the sources
// in that order. The held-out split (every 20th line) is applied by the readers (model/corpus.ts).
//
//   npx tsx model/json/extract-corpus.ts        # writes records.jsonl and prints the counts
//
// The rules are documented in model/json/corpus/PROVENANCE.md; change both together. The output
// depends on what is installed: run it after `npm ci` with the committed package-lock.json.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JSON_CORPUS_FILE } from './corpus.js';

const NODE_MODULES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules');

/** Longer lines are dropped (they would dominate the O(T²) scoring of a held-out record). */
export const MAX_LINE = 1000;

/** SPDX identifiers accepted in a package's licence expression (every identifier must be one). */
export const PERMISSIVE = new Set(['MIT', 'ISC', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', '0BSD', 'Unlicense', 'CC0-1.0', 'BSL-1.0', 'BlueOak-1.0.0']);

/** The package.json fields kept, in this order (absent ones are skipped). */
export const PACKAGE_FIELDS = [
  'name',
  'version',
  'description',
  'keywords',
  'homepage',
  'license',
  'author',
  'repository',
  'type',
  'main',
  'types',
  'engines',
  'dependencies',
  'peerDependencies',
] as const;

/** The schema files and the definitions object each holds. */
export const SCHEMA_SOURCES = [
  'vega-lite/build/vega-lite-schema.json',
  'vega/build/vega-schema.json',
  'vega-scenegraph/build/vega-scenegraph-schema.json',
] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface PackageJson {
  name?: string;
  version?: string;
  license?: unknown;
  [key: string]: unknown;
}

/** Compact JSON with every character outside 0x20..0x7E written as \uXXXX (UTF-16 code units). */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** True when every identifier of the SPDX expression is in PERMISSIVE. */
export function isPermissive(license: unknown): boolean {
  if (typeof license !== 'string') return false;
  const ids = license
    .replace(/[()]/g, ' ')
    .split(/\s+(?:AND|OR)\s+|\s+/)
    .filter((s) => s.length > 0);
  return ids.length > 0 && ids.every((id) => PERMISSIVE.has(id));
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

function packageJson(name: string): PackageJson {
  return readJson<PackageJson>(path.join(NODE_MODULES, name, 'package.json'));
}

/** Checks that a source package is installed with the licence PROVENANCE.md states. */
function requireLicense(name: string, license: string): string {
  const p = packageJson(name);
  if (p.license !== license) throw new Error(`extract-corpus: ${name} has licence ${String(p.license)}, expected ${license}`);
  return `${name}@${p.version}`;
}

/** Every package folder under node_modules, nested node_modules included, in sorted walk order. */
function packageDirs(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir).sort(byString)) {
    if (entry.startsWith('.')) continue;
    const p = path.join(dir, entry);
    const inner = entry.startsWith('@')
      ? readdirSync(p)
          .sort(byString)
          .map((e) => path.join(p, e))
      : [p];
    for (const pkg of inner) {
      if (existsSync(path.join(pkg, 'package.json'))) out.push(pkg);
      packageDirs(path.join(pkg, 'node_modules'), out);
    }
  }
  return out;
}

/** "Name <email> (url)" or { name, email, url } -> "Name" (no e-mail addresses in the corpus). */
function authorName(author: unknown): string | undefined {
  if (typeof author === 'string') return author.replace(/<[^>]*>|\([^)]*\)/g, '').trim() || undefined;
  if (author && typeof author === 'object' && typeof (author as { name?: unknown }).name === 'string')
    return (author as { name: string }).name.trim() || undefined;
  return undefined;
}

function mimeRecords(): string[] {
  const db = readJson<Record<string, Record<string, Json>>>(path.join(NODE_MODULES, 'mime-db', 'db.json'));
  return Object.keys(db)
    .sort(byString)
    .map((type) => asciiJson({ type, ...db[type] }));
}

function packageRecords(): { lines: string[]; skippedLicense: string[] } {
  const seen = new Map<string, PackageJson>();
  for (const dir of packageDirs(NODE_MODULES)) {
    const p = readJson<PackageJson>(path.join(dir, 'package.json'));
    if (typeof p.name !== 'string' || typeof p.version !== 'string') continue;
    const key = `${p.name}@${p.version}`;
    if (!seen.has(key)) seen.set(key, p);
  }
  const lines: string[] = [];
  const skippedLicense: string[] = [];
  for (const key of [...seen.keys()].sort(byString)) {
    const p = seen.get(key)!;
    if (!isPermissive(p.license)) {
      skippedLicense.push(`${key} (${String(p.license)})`);
      continue;
    }
    const r: Record<string, unknown> = {};
    for (const f of PACKAGE_FIELDS) {
      const v = f === 'author' ? authorName(p.author) : p[f];
      if (v !== undefined) r[f] = v;
    }
    lines.push(asciiJson(r));
  }
  return { lines, skippedLicense };
}

function schemaRecords(file: string): string[] {
  const schema = readJson<{ definitions?: Record<string, Json> }>(path.join(NODE_MODULES, file));
  const defs = schema.definitions ?? {};
  return Object.keys(defs)
    .sort(byString)
    .map((name) => asciiJson({ name, definition: defs[name] }));
}

function main(): void {
  const versions = [requireLicense('mime-db', 'MIT'), ...['vega-lite', 'vega', 'vega-scenegraph'].map((n) => requireLicense(n, 'BSD-3-Clause'))];
  const packages = packageRecords();
  const sources: [string, string[]][] = [
    ['mime-db db.json', mimeRecords()],
    ['package.json records', packages.lines],
    ...SCHEMA_SOURCES.map((f): [string, string[]] => [f, schemaRecords(f)]),
  ];
  const kept: string[] = [];
  for (const [name, lines] of sources) {
    const fit = lines.filter((l) => l.length <= MAX_LINE);
    kept.push(...fit);
    const chars = fit.reduce((n, l) => n + l.length + 1, 0);
    console.log(`${name}: ${lines.length} records, ${fit.length} kept (≤ ${MAX_LINE} characters), ${chars} characters`);
  }
  for (const line of kept) {
    if (!/^[\x20-\x7e]+$/.test(line)) throw new Error(`extract-corpus: a line outside printable ASCII: ${line.slice(0, 80)}`);
    JSON.parse(line);
  }
  const text = kept.map((l) => `${l}\n`).join('');
  writeFileSync(JSON_CORPUS_FILE, text);
  const heldOut = kept.filter((_, i) => i % 20 === 19);
  console.log(`source packages: ${versions.join(', ')}`);
  console.log(`package.json records skipped for their licence: ${packages.skippedLicense.join(', ') || 'none'}`);
  console.log(
    `wrote ${path.relative(process.cwd(), JSON_CORPUS_FILE)}: ${kept.length} lines, ${text.length} bytes; held out ${heldOut.length} lines ` +
      `(${heldOut.reduce((n, l) => n + l.length + 1, 0)} characters with their newlines); sha256 ${createHash('sha256').update(text).digest('hex')}`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
