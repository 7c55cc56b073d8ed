import { assert, describe, it } from "@effect/vitest"
import { Access, Documents } from "@nerv/core"
import type { DataPoint, Histogram } from "@opentelemetry/sdk-metrics"
import { MetricReader } from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Metrics, Nerv, Tracing } from "../src/index.js"
import * as Rbac from "../src/security/Rbac.js"
import { dataKeysMemory, masterKeys } from "./security/fixtures.js"

/** A reader the test collects from when it wants, instead of on a timer. */
class OnDemandReader extends MetricReader {
  protected override onShutdown = () => Promise.resolve()
  protected override onForceFlush = () => Promise.resolve()
}

const exporter = new InMemorySpanExporter()
let reader = new OnDemandReader()

// A reader binds to one meter provider: each test's layer gets a fresh one.
const layer = Layer.mergeAll(
  Layer.unwrapEffect(Effect.sync(() => {
    exporter.reset()
    reader = new OnDemandReader()
    return Nerv.layerOtel({ serviceName: "nerv-test", spans: new SimpleSpanProcessor(exporter), metrics: reader })
  })),
  Nerv.layerTestWithPolicy(Rbac.layerPolicy({
    principals: { eve: ["editor"], ann: ["editor"] },
    roles: { editor: ["documents:read", "documents:write"] }
  })),
  Layer.orDie(dataKeysMemory(masterKeys.k1))
)

/** A command as a host writes one: guarded, traced and measured. */
const traced = <A, E, R>(operation: string, program: Effect.Effect<A, E, R>) =>
  program.pipe(Tracing.withTracing(operation), Metrics.withMetrics(`otel-test ${operation}`))

const spansNamed = (name: string): Array<ReadableSpan> => exporter.getFinishedSpans().filter((s) => s.name === name)

const metricPoints = Effect.promise(() => reader.collect()).pipe(
  Effect.map(({ resourceMetrics }) => resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics))
)

describe("OpenTelemetry export (Nerv.layerOtel)", () => {
  it.effect("a command's span tree, its attributes and its metrics reach the exporters", () =>
    Effect.gen(function*() {
      const id = yield* traced("Documents.create", Documents.create({ title: "Plan", content: "draft" }))
      yield* traced("Documents.update", Documents.update(id, { content: "final" }, { expectedVersion: 1 }))
      const refused = yield* traced(
        "Documents.update",
        Documents.update(id, { content: "stale" }, { expectedVersion: 1 })
      ).pipe(Effect.flip)
      assert.strictEqual(refused._tag, "VersionConflict")

      // The tree: the operation's span, and the guard's span inside it, in one trace.
      const updates = spansNamed("Documents.update")
      const guards = spansNamed("guarded Documents.update")
      assert.strictEqual(updates.length, 2)
      assert.strictEqual(guards.length, 2)
      const [committed, failed] = updates
      const guard = guards.find((g) => g.parentSpanContext?.spanId === committed!.spanContext().spanId)
      assert.isDefined(guard)
      assert.strictEqual(guard!.spanContext().traceId, committed!.spanContext().traceId)
      assert.isUndefined(committed!.parentSpanContext)

      // The attributes: operation, document, version, correlation and outcome.
      const [event] = (yield* Documents.history(id)).slice(1).map((v) => v.event)
      assert.deepInclude(committed!.attributes, {
        "nerv.operation": "Documents.update",
        "nerv.outcome": "succeeded",
        "nerv.document_id": id,
        "nerv.version": 2,
        "nerv.correlation_id": event!.correlationId,
        "nerv.causation_id": event!.causationId
      })
      assert.strictEqual(guard!.attributes["nerv.document_id"], id)
      assert.strictEqual(guard!.attributes["nerv.principal"], "eve")
      assert.deepInclude(failed!.attributes, {
        "nerv.operation": "Documents.update",
        "nerv.outcome": "failed",
        "error.tag": "VersionConflict"
      })
      assert.isUndefined(failed!.attributes["nerv.document_id"])
      assert.strictEqual(failed!.status.code, 2) // ERROR

      const created = spansNamed("Documents.create")[0]!
      assert.strictEqual(created.attributes["nerv.document_id"], id)
      assert.strictEqual(created.attributes["nerv.version"], 1)
      assert.strictEqual(created.resource.attributes["service.name"], "nerv-test")

      // The metrics: durations by operation, and the failure counted.
      const metrics = yield* metricPoints
      const duration = metrics.find((m) => m.descriptor.name === "nerv_operation_duration")
      assert.isDefined(duration)
      const pointOf = (operation: string) =>
        (duration!.dataPoints as Array<DataPoint<Histogram>>).find((p) => p.attributes.operation === operation)
      assert.strictEqual(pointOf("otel-test Documents.update")?.value.count, 2)
      assert.strictEqual(pointOf("otel-test Documents.create")?.value.count, 1)
      const errors = metrics.find((m) => m.descriptor.name === "nerv_operation_errors")
      const errorPoint = (errors!.dataPoints as Array<DataPoint<number>>).find((p) =>
        p.attributes.operation === "otel-test Documents.update"
      )
      assert.strictEqual(errorPoint?.value, 1)
    }).pipe(Access.as("eve"), Effect.provide(layer)))

  it.effect("an untraced command opens no span and exports nothing", () =>
    Effect.gen(function*() {
      yield* Documents.create({ title: "Quiet", content: "x" }).pipe(Access.as("ann"))
      assert.deepStrictEqual(exporter.getFinishedSpans(), [])
    }).pipe(Effect.provide(layer)))
})

describe("OpenTelemetry from the environment (Nerv.layerOtelConfig)", () => {
  const tracerUnder = (env: Record<string, string>) =>
    Effect.tracer.pipe(
      Effect.provide(Nerv.layerOtelConfig),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )

  it.effect("installs the OpenTelemetry tracer only when an OTLP endpoint is named", () =>
    Effect.gen(function*() {
      const native = yield* Effect.tracer
      assert.strictEqual(yield* tracerUnder({}), native)
      assert.strictEqual(
        yield* tracerUnder({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" }),
        native
      )
      assert.notStrictEqual(
        yield* tracerUnder({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_METRICS_EXPORTER: "none" }),
        native
      )
    }))
})
