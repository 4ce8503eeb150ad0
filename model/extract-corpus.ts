// Builds model/corpus/tang.txt from the Tang poems (全唐詩) of the npm package chinese-poetry.
// The package is fetched with `npm pack` into a temporary folder (never a dependency of this repo),
// filtered and thinned by a fixed rule, and the text written one poem per line.
//
//   npm run corpus            # fetch, select, write tang.txt and print the counts
//
// The selection rule is documented in model/corpus/PROVENANCE.md; change both together.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE = 'chinese-poetry';
export const VERSION = '2.0.1';
/** Keep every STRIDE-th poem among those that pass the filter (in file order). */
export const STRIDE = 10;

interface Poem {
  author: string;
  title: string;
  paragraphs: string[];
}

// Only CJK unified ideographs and the sentence punctuation of regular verse; anything else
// (□ for lost characters, brackets around variant readings, notes) drops the poem.
const BODY = /^[\u4e00-\u9fff，。？！；]+$/u;
const STOPS = /[，。？！；]/u;

/** A regular 絕句 or 律詩 shape: 4 or 8 lines of 5 or 7 characters, ending in a full stop. */
export function isRegularVerse(body: string): boolean {
  if (!BODY.test(body) || !/[。？！]$/u.test(body)) return false;
  const lines = body.split(STOPS).filter((s) => s.length > 0);
  if (lines.length !== 4 && lines.length !== 8) return false;
  const n = lines[0]!.length;
  return (n === 5 || n === 7) && lines.every((l) => l.length === n);
}

function main(): void {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const tmp = mkdtempSync(path.join(tmpdir(), 'chinese-poetry-'));
  try {
    console.log(`npm pack ${PACKAGE}@${VERSION} into ${tmp} (about 85 MB)…`);
    const tgz = execFileSync('npm', ['pack', `${PACKAGE}@${VERSION}`, '--silent'], { cwd: tmp, encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop()!;
    execFileSync('tar', ['xzf', tgz, 'package/dist/quantangshi', 'package/LICENSE', 'package/package.json'], { cwd: tmp });
    const dir = path.join(tmp, 'package/dist/quantangshi');
    // poet.tang.<offset>.json, in numeric order of the offset: the order of the 全唐詩 itself.
    const files = readdirSync(dir)
      .filter((f) => /^poet\.tang\.\d+\.json$/.test(f))
      .sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]));
    let total = 0;
    let regular = 0;
    const kept: string[] = [];
    for (const f of files) {
      const poems = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Poem[];
      for (const p of poems) {
        total++;
        const body = p.paragraphs.join('');
        if (!isRegularVerse(body)) continue;
        if (regular % STRIDE === 0) kept.push(body);
        regular++;
      }
    }
    const text = `${kept.join('\n')}\n`;
    const out = path.join(here, 'corpus/tang.txt');
    writeFileSync(out, text);
    const chars = [...text].length;
    console.log(`${files.length} files, ${total} poems, ${regular} regular verse, kept ${kept.length} (every ${STRIDE}th)`);
    console.log(
      `wrote ${path.relative(process.cwd(), out)}: ${kept.length} lines, ${chars} characters, ${Buffer.byteLength(text)} bytes, ${new Set(text).size} distinct characters`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
