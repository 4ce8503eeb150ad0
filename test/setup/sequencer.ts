// Test order for the Node pool: the heaviest files first, across projects (longest processing
// time first). Vitest's default runs projects one after another in name order, so on a clean
// clone (no duration cache) the Node webgpu project — the slowest per file (SwiftShader) — ran
// last and nearly alone for minutes. Ranks, not timings: the weights are rough costs in seconds
// of one file alone on this 2-core machine; an unlisted file counts as 1.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const PROJECT_FACTOR: Record<string, number> = { webgpu: 4, cpu: 1, 'cpu-portable': 1, wasm: 0.3, 'wasm-portable': 0.5, 'node-cross': 1 };
const FILE_WEIGHT: Record<string, number> = {
  'statistics.test.ts': 40,
  'soak.test.ts': 35,
  'agreement.test.ts': 40,
  'fuzz.test.ts': 30,
  'readbacks.test.ts': 15,
  'cross-backend.test.ts': 20,
  'history.test.ts': 8,
  'contract-holes.test.ts': 6,
  'kept-sets.test.ts': 8,
  'fused-kernel.test.ts': 10,
  'gpu-chain.test.ts': 4,
  'dry.test.ts': 3,
  'generate.test.ts': 3,
  'errors.test.ts': 2,
  'sparse-edits.test.ts': 3,
  // Model-driven suites (a transformer forward per step): unlisted, they ran last and alone at
  // the end of a full run (measured at stop 46).
  'grammar.test.ts': 25,
  'transformer-generate.test.ts': 15,
  'transformer-cache.test.ts': 15,
  'speculative.test.ts': 12,
  'families.test.ts': 12,
  'transformer-model.test.ts': 10,
  'generate-families.test.ts': 8,
  'chain-samplers.test.ts': 8,
  'chain-statistics.test.ts': 8,
};

function cost(spec: TestSpecification): number {
  const file = spec.moduleId.split('/').pop() ?? '';
  return (PROJECT_FACTOR[spec.project.name] ?? 1) * (FILE_WEIGHT[file] ?? 1);
}

export class HeaviestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => cost(b) - cost(a));
  }
}
