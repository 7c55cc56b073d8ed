/**
 * Exports what the aspects measure to OpenTelemetry, through `@effect/opentelemetry`: the spans of
 * `Tracing.withTracing` (and every other Effect span: the guard's, the host's) and the Effect
 * `Metric`s (`Metrics.withMetrics`'s `nerv_operation_duration` and `nerv_operation_errors`, the
 * dispatcher's `nerv_dispatcher_*`).
 *
 * ```ts
 * program.pipe(Tracing.withTracing("Documents.update"), Metrics.withMetrics("Documents.update"))
 * Effect.runPromise(program.pipe(Effect.provide(Nerv.layerOtel({ serviceName: "billing" })), …))
 * ```
 *
 * By default both go over OTLP/HTTP, configured by the standard variables the exporters read
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
 * …; default `http://localhost:4318`). `layerConfig` builds the same from the environment only
 * when an endpoint is set, so a host can always include it. Pinned to the 2.x SDK, which supports
 * Node 20 (the 3.x SDK needs Node 22).
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { type MetricReader, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, type SpanExporter, type SpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * @since 0.1.0
 */
export interface Options {
  /** `service.name` of the resource (default `OTEL_SERVICE_NAME`, else `"nerv"`). */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /**
   * Where spans go: a processor (e.g. a `SimpleSpanProcessor` over an in-memory exporter in tests),
   * or an exporter, batched; `false` exports no span. Default: OTLP/HTTP, batched.
   */
  readonly spans?: SpanProcessor | SpanExporter | false | undefined
  /** Reads the metrics: default a periodic reader over OTLP/HTTP; `false` exports no metric. */
  readonly metrics?: MetricReader | false | undefined
  /** How often the default metric reader exports, in milliseconds (default `OTEL_METRIC_EXPORT_INTERVAL`, else 60 s). */
  readonly metricInterval?: number | undefined
}

const isProcessor = (value: SpanProcessor | SpanExporter): value is SpanProcessor => "onStart" in value

/**
 * Exports Effect's spans and metrics to OpenTelemetry for the lifetime of the layer; closing it
 * flushes what is pending.
 *
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<never> =>
  NodeSdk.layer(() => {
    const spans = options?.spans ?? new OTLPTraceExporter()
    const interval = options?.metricInterval ?? Number(process.env.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000)
    const metrics = options?.metrics ??
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(),
        exportIntervalMillis: Number.isFinite(interval) && interval > 0 ? interval : 60_000
      })
    return {
      resource: {
        serviceName: options?.serviceName ?? process.env.OTEL_SERVICE_NAME ?? "nerv",
        ...(options?.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion })
      },
      ...(spans === false ? {} : { spanProcessor: isProcessor(spans) ? spans : new BatchSpanProcessor(spans) }),
      ...(metrics === false ? {} : { metricReader: metrics })
    }
  }).pipe(Layer.discard)

const endpoint = (name: string) => Config.option(Config.nonEmptyString(name))

/**
 * `layer` when the environment names an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, or one of
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`), and nothing
 * otherwise or under `OTEL_SDK_DISABLED=true`. `OTEL_TRACES_EXPORTER=none` or
 * `OTEL_METRICS_EXPORTER=none` turns one of the two off.
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const disabled = yield* Config.boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false))
    const all = yield* endpoint("OTEL_EXPORTER_OTLP_ENDPOINT")
    const traces = yield* endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    const metrics = yield* endpoint("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    const tracesOff = (yield* endpoint("OTEL_TRACES_EXPORTER").pipe(Config.map(Option.getOrUndefined))) === "none"
    const metricsOff = (yield* endpoint("OTEL_METRICS_EXPORTER").pipe(Config.map(Option.getOrUndefined))) === "none"
    const wantTraces = !tracesOff && (Option.isSome(all) || Option.isSome(traces))
    const wantMetrics = !metricsOff && (Option.isSome(all) || Option.isSome(metrics))
    if (disabled || (!wantTraces && !wantMetrics)) return Layer.empty
    return layer({
      ...(wantTraces ? {} : { spans: false }),
      ...(wantMetrics ? {} : { metrics: false })
    })
  })
)
