/**
 * The dispatcher's Effect `Metric`s, tagged by `dispatcher` and `handler`, and the plain record that
 * `snapshot()` reads back from them. Each handler binds its tags once and updates the metrics with
 * `unsafeUpdate`: Effect caches the metric hook per tag array, so an update on the hot path is a
 * field write, not a registry lookup.
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"

/**
 * The metrics, by what they count.
 *
 * @since 0.1.0
 */
export const metrics = {
  queueDepth: Metric.gauge("nerv_dispatcher_queue_depth", { description: "events waiting in a handler's queue" }),
  inFlight: Metric.gauge("nerv_dispatcher_in_flight", { description: "events a handler is running now" }),
  delivered: Metric.counter("nerv_dispatcher_delivered", {
    description: "events a handler completed",
    incremental: true
  }),
  failed: Metric.counter("nerv_dispatcher_failed", {
    description: "handler attempts that failed, died or timed out",
    incremental: true
  }),
  retried: Metric.counter("nerv_dispatcher_retried", { description: "attempts made again", incremental: true }),
  deadLettered: Metric.counter("nerv_dispatcher_dead_lettered", {
    description: "events given up on after the retries",
    incremental: true
  }),
  dropped: Metric.counter("nerv_dispatcher_dropped", {
    description: "events a full sliding or dropping queue lost",
    incremental: true
  }),
  latency: Metric.histogram(
    "nerv_dispatcher_latency_ms",
    // 1 µs to ~67 s, doubling: fine enough for the µs figures, wide enough for delayed retries.
    MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 27 }),
    "from an event's acceptance (or due time) to the start of its handler, in milliseconds"
  )
}

/**
 * One handler's figures.
 *
 * @since 0.1.0
 */
export interface HandlerSnapshot {
  readonly handler: string
  readonly tags: ReadonlyArray<string>
  readonly queueDepth: number
  readonly inFlight: number
  readonly delivered: number
  readonly failed: number
  readonly retried: number
  readonly deadLettered: number
  readonly dropped: number
  /** Acceptance → handler start, in milliseconds; the quantiles are the upper bounds of their buckets. */
  readonly latency: {
    readonly count: number
    readonly meanMs: number
    readonly minMs: number
    readonly maxMs: number
    readonly p50Ms: number
    readonly p99Ms: number
  }
}

/**
 * A handler's metrics with its tags bound.
 *
 * @since 0.1.0
 */
export class HandlerMetrics {
  private readonly tags: ReadonlyArray<MetricLabel.MetricLabel>
  constructor(dispatcher: string, readonly handler: string) {
    this.tags = [MetricLabel.make("dispatcher", dispatcher), MetricLabel.make("handler", handler)]
  }
  depth(n: number): void {
    metrics.queueDepth.unsafeUpdate(n, this.tags)
  }
  inFlight(n: number): void {
    metrics.inFlight.unsafeUpdate(n, this.tags)
  }
  delivered(): void {
    metrics.delivered.unsafeUpdate(1, this.tags)
  }
  failed(): void {
    metrics.failed.unsafeUpdate(1, this.tags)
  }
  retried(): void {
    metrics.retried.unsafeUpdate(1, this.tags)
  }
  deadLettered(): void {
    metrics.deadLettered.unsafeUpdate(1, this.tags)
  }
  dropped(n: number): void {
    metrics.dropped.unsafeUpdate(n, this.tags)
  }
  latency(ms: number): void {
    metrics.latency.unsafeUpdate(ms, this.tags)
  }

  read(tags: ReadonlyArray<string>): HandlerSnapshot {
    const latency = metrics.latency.unsafeValue(this.tags)
    const quantile = (q: number): number => {
      if (latency.count === 0) return 0
      const rank = q * latency.count
      for (const [bound, cumulative] of latency.buckets) if (cumulative >= rank) return bound
      return latency.max
    }
    return {
      handler: this.handler,
      tags,
      queueDepth: metrics.queueDepth.unsafeValue(this.tags).value,
      inFlight: metrics.inFlight.unsafeValue(this.tags).value,
      delivered: metrics.delivered.unsafeValue(this.tags).count,
      failed: metrics.failed.unsafeValue(this.tags).count,
      retried: metrics.retried.unsafeValue(this.tags).count,
      deadLettered: metrics.deadLettered.unsafeValue(this.tags).count,
      dropped: metrics.dropped.unsafeValue(this.tags).count,
      latency: {
        count: latency.count,
        meanMs: latency.count === 0 ? 0 : latency.sum / latency.count,
        minMs: latency.count === 0 ? 0 : latency.min,
        // The hook starts `max` at `Number.MIN_VALUE`, so a run of zeros would report it.
        maxMs: latency.count === 0 ? 0 : Math.max(latency.min, latency.max),
        p50Ms: quantile(0.5),
        p99Ms: quantile(0.99)
      }
    }
  }
}
