// `npm run docs:check` (in `npm test`): the API reference's checks without writing it. TypeDoc's
// validation (typedoc.json: every export and member documented, links resolve, nothing referenced
// left out), then every exported function, class and constant carries an `@example`.
import { Application, ReflectionKind, type Reflection } from 'typedoc';

const app = await Application.bootstrapWithPlugins({}, undefined);
const project = await app.convert();
if (!project) {
  console.error('docs:check: TypeDoc could not convert the project');
  process.exit(1);
}
app.validate(project);
const missing: string[] = [];
const hasExample = (r: Reflection & { signatures?: Reflection[] }): boolean =>
  [r, ...(r.signatures ?? [])].some((x) => x.comment?.blockTags.some((t) => t.tag === '@example') ?? false);
for (const r of project.getReflectionsByKind(ReflectionKind.Function | ReflectionKind.Class | ReflectionKind.Variable)) {
  if (!hasExample(r as Reflection & { signatures?: Reflection[] })) missing.push(r.getFullName());
}
const unique = [...new Set(missing)].sort();
for (const name of unique) console.error(`docs:check: ${name} has no @example`);
const failed = app.logger.hasErrors() || app.logger.hasWarnings() || unique.length > 0;
console.log(
  `docs:check: ${failed ? 'failed' : 'ok'} (${project.getReflectionsByKind(ReflectionKind.Function | ReflectionKind.Class | ReflectionKind.Variable).length} functions, classes and constants; ${unique.length} without an example)`,
);
process.exit(failed ? 1 : 0);
