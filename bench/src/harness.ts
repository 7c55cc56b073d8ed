/**
 * The contract between the benchmark runner (`main.ts`) and the suites (`suites/*.ts`): each suite
 * measures its workloads for every system it compares, in the same process and run, and returns
 * one record per (workload, system, metric). The runner writes them all to
 * `bench/results/latest.json` and prints them side by side as ratios.
 */

/** One figure of the results file (read by other tools: keep the field names). */
export interface BenchRecord {
  readonly workload: string
  readonly system: string
  readonly metric: string
  readonly median: number
  readonly min: number
  readonly max: number
  readonly runs: number
}

/** How hard to measure: `quick` is a smoke check (the whole `pnpm bench --quick` under two minutes). */
export interface BenchContext {
  readonly quick: boolean
  /** Measured runs per figure, after `warmup` unmeasured ones. */
  readonly runs: number
  readonly warmup: number
}

/** A group of workloads, measured together. */
export interface Suite {
  readonly name: string
  readonly run: (context: BenchContext) => Promise<ReadonlyArray<BenchRecord>>
}

/** Median, min and max of samples as a record. */
export const summarize = (
  workload: string,
  system: string,
  metric: string,
  samples: ReadonlyArray<number>
): BenchRecord => {
  const sorted = [...samples].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  return { workload, system, metric, median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: samples.length }
}

/**
 * Runs `once` `warmup` times unmeasured, then `runs` times measured; each run returns how many
 * events it processed, and the sample is events per second of wall time.
 */
export const throughput = async (
  context: BenchContext,
  once: () => Promise<number>
): Promise<Array<number>> => {
  for (let i = 0; i < context.warmup; i++) await once()
  const samples: Array<number> = []
  for (let i = 0; i < context.runs; i++) {
    const start = process.hrtime.bigint()
    const events = await once()
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    samples.push(events / seconds)
  }
  return samples
}
