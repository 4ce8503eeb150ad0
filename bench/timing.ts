// Step timing shared by the bench cores (Node and the browser pages: no Node imports here).

/** The median of a step's time (ms) after two warm-up steps: at least 3 timed, at most 50, within the budget. */
export async function medianStep(step: () => Promise<unknown>, budgetMs: number): Promise<number> {
  await step();
  await step();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < budgetMs && times.length < 50)) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
