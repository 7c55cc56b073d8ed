/**
 * The metrics aspect, `program.pipe(withMetrics("Documents.update"))`, and a readable report of
 * what it measured. Built on Effect's `Metric`, so any metrics exporter Effect supports sees them.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricState from "effect/MetricState"

const durationName = "nerv_operation_duration"

/**
 * The duration of every call, in milliseconds, tagged with `operation`.
 *
 * @since 0.1.0
 */
export const duration = Metric.timer(durationName, "how long each operation took")

const errorsName = "nerv_operation_errors"

/**
 * The calls that failed (with an error or a defect), tagged with `operation`.
 *
 * @since 0.1.0
 */
export const errors = Metric.counter(errorsName, {
  description: "how many operations failed",
  incremental: true
})

/**
 * Measures every call of a program, successful or failed: its duration (count, total, min, max)
 * and whether it failed. Interrupted calls are timed but not counted as failures.
 *
 * @since 0.1.0
 */
export const withMetrics = (operation: string) => {
  const timer = Metric.tagged(duration, "operation", operation)
  const failures = Metric.tagged(errors, "operation", operation)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.clockWith((clock) => {
      const start = clock.unsafeCurrentTimeNanos()
      // onExit, not Effect.exit: it also sees the call being interrupted from outside.
      return Effect.onExit(self, (exit) => {
        const took = Duration.nanos(clock.unsafeCurrentTimeNanos() - start)
        return Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
          ? Effect.zipRight(Metric.update(timer, took), Metric.increment(failures))
          : Metric.update(timer, took)
      })
    })
}

/**
 * What `withMetrics` measured for one operation. Times are in milliseconds.
 *
 * @since 0.1.0
 */
export interface OperationReport {
  readonly operation: string
  readonly count: number
  readonly errors: number
  readonly errorRate: number
  readonly totalMs: number
  readonly minMs: number
  readonly maxMs: number
  readonly averageMs: number
}

/**
 * Reads the current figures of every measured operation, sorted by name.
 *
 * @since 0.1.0
 */
export const report: Effect.Effect<ReadonlyArray<OperationReport>> = Effect.map(Metric.snapshot, (pairs) => {
  const timers = new Map<string, MetricState.MetricState.Histogram>()
  const failures = new Map<string, number>()
  for (const pair of pairs) {
    const operation = pair.metricKey.tags.find((label) => label.key === "operation")?.value
    if (operation === undefined) continue
    const state: unknown = pair.metricState
    if (pair.metricKey.name === durationName && MetricState.isHistogramState(state)) timers.set(operation, state)
    if (pair.metricKey.name === errorsName && MetricState.isCounterState(state)) {
      failures.set(operation, Number(state.count))
    }
  }
  return [...timers.entries()].filter(([, state]) => state.count > 0).sort(([a], [b]) => a.localeCompare(b)).map((
    [operation, state]
  ) => {
    const errorCount = failures.get(operation) ?? 0
    return {
      operation,
      count: state.count,
      errors: errorCount,
      errorRate: errorCount / state.count,
      totalMs: state.sum,
      minMs: state.min,
      maxMs: state.max,
      averageMs: state.sum / state.count
    }
  })
})

const ms = (value: number) => `${value.toFixed(2)} ms`

/**
 * The report as an aligned text table.
 *
 * @since 0.1.0
 */
export const formatReport = (reports: ReadonlyArray<OperationReport>): string => {
  const header = ["operation", "count", "errors", "error rate", "total", "min", "avg", "max"]
  const rows = reports.map((r) => [
    r.operation,
    String(r.count),
    String(r.errors),
    `${(r.errorRate * 100).toFixed(1)}%`,
    ms(r.totalMs),
    ms(r.minMs),
    ms(r.averageMs),
    ms(r.maxMs)
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ")
  return [line(header), ...rows.map(line)].join("\n")
}
