import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, EventBus, NervEvent } from "@nerv/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type * as Tracer from "effect/Tracer"
import { Logging, Metrics, Nerv, Recorder, Tracing } from "../src/index.js"

class Boom extends Error {
  readonly _tag = "Boom"
}

describe("withLogging", () => {
  it.effect("logs the outcome with the duration, and tags every line of the operation with one request id", () =>
    Effect.gen(function*() {
      const work = Effect.zipRight(Effect.logInfo("inside"), Effect.sleep("250 millis"))
      const fiber = yield* Effect.fork(work.pipe(Logging.withLogging("Reports.build")))
      yield* TestClock.adjust("250 millis")
      yield* Fiber.join(fiber)
      const logged = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Logged"))
      assert.deepStrictEqual(logged.map((l) => [l.level, l.message]), [
        ["INFO", "Reports.build started"],
        ["INFO", "inside"],
        ["INFO", "Reports.build succeeded in 250.00 ms"]
      ])
      const requestIds = new Set(logged.map((l) => l.annotations.requestId))
      assert.strictEqual(requestIds.size, 1)
      assert.isString([...requestIds][0])
      assert.isTrue(logged.every((l) => l.annotations.operation === "Reports.build"))
    }).pipe(Effect.provide(Nerv.layerTest)))

  it.effect("logs a failure and publishes it on the bus as OperationFailed, keeping the error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.fail(new Boom("the printer is on fire")).pipe(
        Logging.withLogging("Reports.print"),
        Effect.flip
      )
      assert.instanceOf(error, Boom)
      const logged = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Logged"))
      assert.deepStrictEqual(logged.at(-1)?.level, "ERROR")
      assert.strictEqual(logged.at(-1)?.message, "Reports.print failed after 0.00 ms: Boom: the printer is on fire")
      const [failed] = yield* Effect.flatMap(EventBus.EventBus, (bus) => bus.history({ tags: ["OperationFailed"] }))
      assert.strictEqual(failed?._tag, "OperationFailed")
      if (failed?._tag === "OperationFailed") {
        assert.strictEqual(failed.operation, "Reports.print")
        assert.strictEqual(failed.error, "Boom")
        assert.strictEqual(failed.message, "the printer is on fire")
        assert.strictEqual(failed.requestId, logged.at(-1)?.annotations.requestId)
      }
    }).pipe(Effect.provide(Nerv.layerTest)))

  it.effect("OperationFailed carries how long the operation ran before it failed, in milliseconds on a wire", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Effect.sleep("1500 millis").pipe(
          Effect.zipRight(Effect.fail(new Boom("jammed"))),
          Logging.withLogging("Reports.print")
        )
      )
      yield* TestClock.adjust("1500 millis")
      yield* Fiber.await(fiber)
      const [failed] = yield* Effect.flatMap(EventBus.EventBus, (bus) => bus.history({ tags: ["OperationFailed"] }))
      assert.strictEqual(failed?._tag, "OperationFailed")
      if (failed?._tag === "OperationFailed") {
        assert.strictEqual(Duration.toMillis(failed.duration), 1500)
        const encoded = Schema.encodeSync(NervEvent.OperationFailed)(failed)
        assert.strictEqual(encoded.duration, 1500)
        assert.strictEqual(Duration.toMillis(Schema.decodeSync(NervEvent.OperationFailed)(encoded).duration), 1500)
      }
    }).pipe(Effect.provide(Nerv.layerTest)))

  it.effect("a defect is logged and published too, and stays a defect", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.die(new Error("bug")).pipe(Logging.withLogging("Reports.crash"), Effect.exit)
      assert.strictEqual(exit._tag, "Failure")
      const [failed] = yield* Effect.flatMap(EventBus.EventBus, (bus) => bus.history({ tags: ["OperationFailed"] }))
      assert.strictEqual(failed?._tag === "OperationFailed" && failed.error, "Defect")
    }).pipe(Effect.provide(Nerv.layerTest)))
})

describe("withLogging and correlation", () => {
  it.effect("a command's correlation and causation ids reach its events and every log line of the operation", () =>
    Effect.gen(function*() {
      const id = yield* Documents.create({ title: "Plan", content: "a" }).pipe(Access.as("ann")).pipe(
        Logging.withLogging("Plan.create")
      )
      const [created] = yield* Documents.history(id)
      const logged = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Logged"))
      // A request with no correlation yet starts one: its request id.
      const requestId = logged[0]!.annotations.requestId
      assert.deepStrictEqual([created!.event.correlationId, created!.event.causationId], [requestId, requestId])
      for (const line of logged) {
        assert.deepStrictEqual([line.annotations.correlationId, line.annotations.causationId], [requestId, requestId])
      }
      // A reaction keeps its cause: the event it reacts to.
      yield* Documents.update(id, { content: "b" }).pipe(Access.as("bob")).pipe(
        Logging.withLogging("Plan.react"),
        Documents.causedBy(created!.event)
      )
      const [, updated] = yield* Documents.history(id)
      const reacted = (yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Logged"))).slice(logged.length)
      assert.deepStrictEqual([updated!.event.correlationId, updated!.event.causationId], [
        requestId,
        created!.event.eventId
      ])
      assert.isAbove(reacted.length, 0)
      for (const line of reacted) {
        assert.deepStrictEqual([line.annotations.correlationId, line.annotations.causationId], [
          requestId,
          created!.event.eventId
        ])
      }
    }).pipe(Effect.provide(Nerv.layerTest)))
})

describe("withLogging and interruption", () => {
  it.effect("an operation interrupted from outside is logged as a warning and not published as a failure", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.never.pipe(Logging.withLogging("Reports.wait")))
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.interrupt(fiber)
      const logged = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Logged"))
      assert.deepStrictEqual(logged.at(-1)?.level, "WARN")
      assert.strictEqual(logged.at(-1)?.message, "Reports.wait was interrupted after 3000.00 ms")
      assert.deepStrictEqual(yield* Effect.flatMap(EventBus.EventBus, (bus) => bus.history()), [])
    }).pipe(Effect.provide(Nerv.layerTest)))
})

describe("withMetrics", () => {
  it.effect("counts calls and errors and reads total, min, max and average time as a report", () =>
    Effect.gen(function*() {
      const op = (ms: number, fail = false) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(
            Effect.sleep(ms).pipe(
              Effect.zipRight(fail ? Effect.fail("no") : Effect.void),
              Metrics.withMetrics("Test.op")
            )
          )
          yield* TestClock.adjust(ms)
          return yield* Effect.exit(Fiber.join(fiber))
        })
      yield* op(10)
      yield* op(30)
      yield* op(20, true)
      yield* op(40)
      const report = (yield* Metrics.report).find((r) => r.operation === "Test.op")
      assert.deepStrictEqual(report, {
        operation: "Test.op",
        count: 4,
        errors: 1,
        errorRate: 0.25,
        totalMs: 100,
        minMs: 10,
        maxMs: 40,
        averageMs: 25
      })
      const table = Metrics.formatReport([report!])
      assert.match(table, /Test\.op\s+4\s+1\s+25\.0%\s+100\.00 ms\s+10\.00 ms\s+25\.00 ms\s+40\.00 ms/)
    }))

  it.effect("an interrupted call is timed but not counted as a failure", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.never.pipe(Metrics.withMetrics("Test.interrupted")))
      yield* TestClock.adjust(5)
      yield* Fiber.interrupt(fiber)
      const report = (yield* Metrics.report).find((r) => r.operation === "Test.interrupted")
      assert.strictEqual(report?.count, 1)
      assert.strictEqual(report?.errors, 0)
    }))
})

describe("withTracing", () => {
  it.effect("runs a program in a span named after the operation, with the host's attributes", () =>
    Effect.gen(function*() {
      const id = yield* Documents.create({ title: "Traced", content: "v1" }).pipe(Access.as("ann")).pipe(
        Effect.zipLeft(Effect.flatMap(Effect.currentSpan, (span) => Effect.sync(() => spans.push(span)))),
        Tracing.withTracing("Documents.create", { tenant: "acme" })
      )
      assert.isString(id)
      const [span] = spans.splice(0)
      assert.strictEqual(span?.name, "Documents.create")
      assert.strictEqual(span?.attributes.get("tenant"), "acme")
      assert.strictEqual(span?.status._tag, "Ended")
      assert.isFalse(span?.attributes.has("error.tag"))
    }).pipe(Effect.provide(Nerv.layerTest)))

  it.effect("tags a failed call's span with the error it failed with, and keeps the error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flatMap(Effect.currentSpan, (span) => Effect.sync(() => spans.push(span))).pipe(
        Effect.zipRight(
          Documents.update("00000000-0000-4000-8000-000000000001", { content: "x" }).pipe(Access.as("bob"))
        ),
        Tracing.withTracing("Documents.update"),
        Effect.flip
      )
      assert.strictEqual(error._tag, "DocumentNotFound")
      const [span] = spans.splice(0)
      assert.strictEqual(span?.attributes.get("error.tag"), "DocumentNotFound")
    }).pipe(Effect.provide(Nerv.layerTest)))
})

const spans: Array<Tracer.Span> = []
