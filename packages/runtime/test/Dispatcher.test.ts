import { assert, describe, it } from "@effect/vitest"
import { EventBus as CoreEventBus, NervEvent } from "@nerv/core"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Dispatcher from "../src/Dispatcher.js"
import * as EventBus from "../src/EventBus.js"
import { StablePriorityQueue } from "../src/internal/priorityQueue.js"

type Event =
  | { readonly _tag: "Ping"; readonly eventId: string; readonly n: number; readonly from?: number }
  | { readonly _tag: "Pong"; readonly eventId: string; readonly n: number }

const ping = (n: number, from?: number): Event => ({
  _tag: "Ping",
  eventId: `ping-${from ?? ""}-${n}`,
  n,
  ...(from === undefined ? {} : { from })
})
const pong = (n: number): Event => ({ _tag: "Pong", eventId: `pong-${n}`, n })
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Lets the other fibers run until `done()` holds (bounded, so a broken dispatcher fails instead of hanging). */
const until = (done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow()
  })

/** Advances the TestClock a second at a time until every accepted delivery is finished. */
const settle = (dispatcher: Dispatcher.Service<any>) =>
  Effect.raceFirst(
    dispatcher.awaitIdle,
    Effect.forever(Effect.zipRight(TestClock.adjust("1 second"), Effect.yieldNow()))
  )

/** A handler that holds its first event until `open`, so the rest pile up in its queue. */
const gated = Effect.gen(function*() {
  const gate = yield* Deferred.make<void>()
  const seen: Array<Event> = []
  const handler = (event: Event) =>
    Effect.zipRight(
      event.n < 0 ? Deferred.await(gate) : Effect.void,
      Effect.sync(() => {
        seen.push(event)
      })
    )
  return { seen, handler, open: Deferred.succeed(gate, void 0) }
})
const blocker = (): Event => ({ _tag: "Ping", eventId: "blocker", n: -1 })

describe("StablePriorityQueue", () => {
  it.prop(
    "takes the smallest (priority, seq) among what it holds, for any interleaving of pushes and takes",
    [FastCheck.array(FastCheck.oneof(FastCheck.integer({ min: -3, max: 3 }), FastCheck.constant("take" as const)))],
    ([operations]) => {
      const queue = new StablePriorityQueue<{ priority: number; seq: number }>()
      const model: Array<{ priority: number; seq: number }> = []
      let seq = 0
      for (const operation of operations) {
        if (operation === "take") {
          model.sort((a, b) => a.priority - b.priority || a.seq - b.seq)
          assert.deepStrictEqual(queue.shift(), model.shift())
        } else {
          const entry = { priority: operation, seq: seq++ }
          queue.push(entry)
          model.push(entry)
        }
        assert.strictEqual(queue.size, model.length)
      }
    }
  )
})

describe("Dispatcher", () => {
  describe("ordering", () => {
    it.scoped.prop(
      "a handler with a backlog takes it by priority, then in publish order (ties are FIFO)",
      [FastCheck.array(FastCheck.integer({ min: -2, max: 2 }), { maxLength: 200 })],
      ([priorities]) =>
        Effect.gen(function*() {
          const dispatcher = yield* Dispatcher.make<Event>()
          const { handler, open, seen } = yield* gated
          yield* dispatcher.register("Ping", handler)
          yield* dispatcher.publish(blocker(), { priority: -100 })
          for (const [n, priority] of priorities.entries()) yield* dispatcher.publish(ping(n), { priority })
          yield* open
          yield* dispatcher.awaitIdle
          const expected = priorities.map((priority, n) => ({ priority, n }))
            .sort((a, b) => a.priority - b.priority || a.n - b.n)
            .map(({ n }) => n)
          assert.deepStrictEqual(seen.map((e) => e.n), [-1, ...expected])
        })
    )

    it.scoped.prop(
      "with concurrent publishers: priorities in order, each publisher's events in its order",
      [FastCheck.array(FastCheck.array(FastCheck.integer({ min: 0, max: 3 }), { maxLength: 40 }), {
        minLength: 2,
        maxLength: 5
      })],
      ([publishers]) =>
        Effect.gen(function*() {
          const dispatcher = yield* Dispatcher.make<Event>()
          const { handler, open, seen } = yield* gated
          yield* dispatcher.register("Ping", handler)
          yield* dispatcher.publish(blocker(), { priority: -100 })
          const priorityOf = new Map<string, number>()
          yield* Effect.forEach(publishers, (priorities, from) =>
            Effect.forEach(priorities, (priority, n) => {
              priorityOf.set(ping(n, from).eventId, priority)
              return Effect.zipRight(Effect.yieldNow(), dispatcher.publish(ping(n, from), { priority }))
            }), { concurrency: "unbounded" })
          yield* open
          yield* dispatcher.awaitIdle
          const delivered = seen.slice(1)
          assert.strictEqual(delivered.length, publishers.flat().length)
          const priorities = delivered.map((e) => priorityOf.get(e.eventId)!)
          assert.deepStrictEqual(priorities, [...priorities].sort((a, b) => a - b))
          for (const [from] of publishers.entries()) {
            for (const priority of [0, 1, 2, 3]) {
              const ns = delivered.filter((e) =>
                e._tag === "Ping" && e.from === from && priorityOf.get(e.eventId) === priority
              )
                .map((e) => e.n)
              assert.deepStrictEqual(ns, [...ns].sort((a, b) => a - b))
            }
          }
        })
    )

    it.scoped("routes by tag; a handler may take several tags; an event without handlers is counted", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>()
        const pings: Array<number> = []
        const both: Array<string> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => pings.push(e.n)))
        yield* dispatcher.register(["Ping", "Pong"], (e) => Effect.sync(() => both.push(e._tag)))
        yield* dispatcher.publishAll([ping(1), pong(2), ping(3)])
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(pings, [1, 3])
        assert.deepStrictEqual(both, ["Ping", "Pong", "Ping"])
        const empty = yield* Dispatcher.make<Event>()
        yield* empty.publish(pong(1))
        assert.strictEqual((yield* empty.snapshot).unhandled, 1)
      }))
  })

  describe("delayed and scheduled events", () => {
    it.scoped("runs a delayed event when the TestClock reaches it, not before", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>()
        const seen: Array<number> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => seen.push(e.n)))
        yield* dispatcher.publish(ping(1), { delay: "10 seconds" })
        yield* dispatcher.publish(ping(2), { at: DateTime.unsafeMake(5_000) })
        const scheduled = yield* dispatcher.scheduled
        assert.deepStrictEqual(scheduled.map((s) => [s.event.n, DateTime.toEpochMillis(s.dueAt)]), [[2, 5_000], [
          1,
          10_000
        ]])
        yield* TestClock.adjust("4999 millis")
        yield* until(() => seen.length > 0)
        assert.deepStrictEqual(seen, [])
        yield* TestClock.adjust("1 millis")
        yield* until(() => seen.length > 0)
        assert.deepStrictEqual(seen, [2])
        yield* TestClock.adjust("5 seconds")
        yield* until(() => seen.length > 1)
        assert.deepStrictEqual(seen, [2, 1])
        assert.deepStrictEqual(yield* dispatcher.scheduled, [])
      }))

    it.scoped("a delayed event keeps its priority when it becomes due", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>()
        const { handler, open, seen } = yield* gated
        yield* dispatcher.register("Ping", handler)
        yield* dispatcher.publish(blocker(), { priority: -100 })
        yield* dispatcher.publish(ping(5), { priority: 5, delay: "1 second" })
        yield* dispatcher.publish(ping(3), { priority: 3 })
        yield* dispatcher.publish(ping(1), { priority: 1, delay: "1 second" })
        yield* TestClock.adjust("1 second")
        yield* until(() => false)
        yield* open
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(seen.map((e) => e.n), [-1, 1, 3, 5])
      }))

    it.scoped("a scheduled event can be cancelled, and then never runs", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>()
        const seen: Array<number> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => seen.push(e.n)))
        yield* dispatcher.publish(ping(1), { delay: "1 minute" })
        yield* dispatcher.publish(ping(2), { delay: "2 minutes" })
        assert.isTrue(yield* dispatcher.cancel(ping(1).eventId))
        assert.isFalse(yield* dispatcher.cancel(ping(1).eventId))
        assert.isFalse(yield* dispatcher.cancel("no-such-event"))
        assert.deepStrictEqual((yield* dispatcher.scheduled).map((s) => s.event.n), [2])
        yield* TestClock.adjust("3 minutes")
        yield* until(() => seen.length > 0)
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(seen, [2])
      }))

    it.scoped("an event due in the past runs at once", () =>
      Effect.gen(function*() {
        yield* TestClock.adjust("1 hour")
        const dispatcher = yield* Dispatcher.make<Event>()
        const seen: Array<number> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => seen.push(e.n)))
        yield* dispatcher.publish(ping(1), { at: new Date(0) })
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(seen, [1])
      }))
  })

  describe("lifecycle", () => {
    it.effect("closing the scope drains what was accepted (graceful)", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const dispatcher = yield* Dispatcher.make<Event>().pipe(Scope.extend(scope))
        const seen: Array<number> = []
        yield* dispatcher.register("Ping", (e) =>
          Effect.zipRight(Effect.sleep("10 millis"), Effect.sync(() => seen.push(e.n))))
        yield* dispatcher.publishAll(
          range(100).map((n) =>
            ping(n)
          )
        )
        yield* dispatcher.publish(ping(999), { delay: "1 hour" })
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* until(() => false)
        // Once stopping, nothing new is accepted.
        const late = yield* Effect.exit(dispatcher.publish(ping(1_000)))
        assert.isTrue(Exit.isInterrupted(late))
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(closing)
        assert.deepStrictEqual(seen, range(100))
        const report = yield* dispatcher.stop()
        assert.deepStrictEqual(report, { mode: "graceful", undelivered: 0, discardedScheduled: 1 })
      }))

    it.scoped("stop('immediate') interrupts the handlers and reports what was not delivered", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>()
        const interrupted: Array<number> = []
        yield* dispatcher.register(
          "Ping",
          (e) => Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted.push(e.n)))
        )
        yield* dispatcher.publishAll(range(10).map((n) => ping(n)))
        yield* until(() => false)
        const report = yield* dispatcher.stop("immediate")
        assert.deepStrictEqual(report, { mode: "immediate", undelivered: 10, discardedScheduled: 0 })
        assert.deepStrictEqual(interrupted, [0])
        assert.isTrue(Exit.isInterrupted(yield* Effect.exit(dispatcher.publish(ping(11)))))
        yield* dispatcher.awaitIdle
      }))

    it.scoped("onClose: 'immediate' makes closing the scope stop at once", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const dispatcher = yield* Dispatcher.make<Event>({ onClose: "immediate" }).pipe(Scope.extend(scope))
        const seen: Array<number> = []
        yield* dispatcher.register("Ping", (e) =>
          Effect.zipRight(Effect.sleep("1 second"), Effect.sync(() => seen.push(e.n))))
        yield* dispatcher.publishAll(
          range(5).map((n) =>
            ping(n)
          )
        )
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(seen, [])
        assert.strictEqual((yield* dispatcher.stop()).undelivered, 5)
      }))

    it.scoped("removing a handler lets it finish its queue, then it gets nothing more", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>()
        const seen: Array<number> = []
        const remove = yield* dispatcher.register("Ping", (e) => Effect.sync(() => seen.push(e.n)), { name: "h" })
        yield* dispatcher.publishAll(range(50).map((n) => ping(n)))
        yield* remove
        assert.deepStrictEqual(seen, range(50))
        yield* dispatcher.publish(ping(50))
        yield* dispatcher.awaitIdle
        assert.strictEqual(seen.length, 50)
        assert.strictEqual((yield* dispatcher.snapshot).unhandled, 1)
        // The name is free again.
        yield* dispatcher.register("Ping", () => Effect.void, { name: "h" })
      }))

    it.scoped("dispatch runs one event's handlers directly and reports each outcome", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>({ retry: Schedule.recurs(2) })
        const seen: Array<string> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => seen.push(e.eventId)), { name: "ok" })
        yield* dispatcher.register("Ping", () => Effect.fail("nope"), { name: "bad" })
        const outcomes = yield* dispatcher.dispatch(ping(1))
        assert.deepStrictEqual(outcomes, [
          { handler: "ok", status: "delivered", attempts: 1 },
          { handler: "bad", status: "dead-lettered", attempts: 3 }
        ])
        assert.deepStrictEqual(seen, [ping(1).eventId])
        const [letter] = yield* dispatcher.deadLetters
        assert.strictEqual(letter!.handler, "bad")
        assert.deepStrictEqual(Cause.failures(letter!.cause).pipe((c) => [...c]), ["nope"])
      }))
  })

  describe("isolation", () => {
    it.scoped("fault matrix: throws, dies, hangs, slow — the others get every event in order; failures end in dead letters and can be re-driven", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>({ timeout: "1 second" })
        const events = range(20).map((n) => ping(n))
        const good1: Array<number> = []
        const good2: Array<number> = []
        const slow: Array<number> = []
        const recovered: Array<number> = []
        let broken = true
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => good1.push(e.n)), { name: "good1" })
        yield* dispatcher.register("Ping", (e) => {
          if (broken) return Effect.fail(new Error(`cannot handle ${e.n}`))
          return Effect.sync(() => recovered.push(e.n))
        }, { name: "throws" })
        yield* dispatcher.register("Ping", (e) => {
          // A plain throw inside the handler, not a typed failure.
          throw new Error(`boom ${e.n}`)
        }, { name: "dies" })
        yield* dispatcher.register("Ping", () => Effect.never, { name: "hangs" })
        yield* dispatcher.register(
          "Ping",
          (e) => Effect.zipRight(Effect.sleep("300 millis"), Effect.sync(() => slow.push(e.n))),
          { name: "slow" }
        )
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => good2.push(e.n)), { name: "good2" })
        yield* dispatcher.publishAll(events)

        // Without the clock moving at all, the healthy handlers are done while the others are
        // still failing, retrying or hanging.
        yield* until(() => good1.length === 20 && good2.length === 20)
        assert.deepStrictEqual(good1, range(20))
        assert.deepStrictEqual(good2, range(20))

        yield* settle(dispatcher)
        assert.deepStrictEqual(slow, range(20))
        const letters = yield* dispatcher.deadLetters
        const byHandler = (name: string) => letters.filter((l) => l.handler === name)
        for (const name of ["throws", "dies", "hangs"]) {
          assert.deepStrictEqual(byHandler(name).map((l) => l.event.n), range(20), name)
          for (const letter of byHandler(name)) assert.strictEqual(letter.attempts, 4)
        }
        assert.strictEqual(letters.length, 60)
        assert.strictEqual(Cause.squash(byHandler("throws")[0]!.cause) instanceof Error, true)
        assert.isTrue(Cause.isFailType(byHandler("throws")[0]!.cause))
        assert.isTrue(Cause.isDieType(byHandler("dies")[0]!.cause))
        assert.strictEqual((Cause.squash(byHandler("dies")[0]!.cause) as Error).message, "boom 0")
        const timeout = Cause.squash(byHandler("hangs")[0]!.cause)
        assert.instanceOf(timeout, Dispatcher.HandlerTimeout)

        const snapshot = yield* dispatcher.snapshot
        const figures = (name: string) => snapshot.handlers.find((h) => h.handler === name)!
        assert.deepStrictEqual(
          [figures("throws").failed, figures("throws").retried, figures("throws").deadLettered],
          [80, 60, 20]
        )
        assert.strictEqual(figures("good1").delivered, 20)
        assert.strictEqual(figures("slow").delivered, 20)
        assert.strictEqual(snapshot.deadLetters, 60)

        broken = false
        assert.strictEqual(yield* dispatcher.redrive({ handler: "throws" }), 20)
        yield* settle(dispatcher)
        assert.deepStrictEqual(recovered, range(20))
        assert.deepStrictEqual((yield* dispatcher.deadLetters).map((l) => l.handler).filter((h) => h === "throws"), [])
        assert.strictEqual((yield* dispatcher.deadLetters).length, 40)
        // The others saw nothing again.
        assert.deepStrictEqual(good1, range(20))
      }))

    it.scoped("re-drive reaches a fixed handler registered under the same name", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>({ retry: Schedule.recurs(1) })
        const remove = yield* dispatcher.register("Ping", () => Effect.die("bug"), { name: "projector" })
        yield* dispatcher.publishAll(range(3).map((n) => ping(n)))
        yield* dispatcher.awaitIdle
        assert.strictEqual((yield* dispatcher.deadLetters).length, 3)
        yield* remove
        assert.strictEqual(yield* dispatcher.redrive(), 0)
        const seen: Array<number> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => seen.push(e.n)), { name: "projector" })
        const [first] = yield* dispatcher.deadLetters
        assert.strictEqual(yield* dispatcher.redrive({ ids: [first!.id] }), 1)
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(seen, [0])
        assert.strictEqual(yield* dispatcher.redrive(), 2)
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(seen, [0, 1, 2])
        assert.deepStrictEqual(yield* dispatcher.deadLetters, [])
      }))

    it.scoped("the retry schedule is used between attempts, on the Clock", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>({
          retry: Schedule.spaced("1 minute").pipe(Schedule.intersect(Schedule.recurs(2)))
        })
        let attempts = 0
        yield* dispatcher.register("Ping", () => Effect.suspend(() => (attempts++, Effect.fail("again"))))
        yield* dispatcher.publish(ping(1))
        yield* until(() => attempts > 0)
        assert.strictEqual(attempts, 1)
        yield* TestClock.adjust("59 seconds")
        yield* until(() => attempts > 1)
        assert.strictEqual(attempts, 1)
        yield* TestClock.adjust("1 second")
        yield* until(() => attempts > 1)
        assert.strictEqual(attempts, 2)
        yield* TestClock.adjust("1 minute")
        yield* dispatcher.awaitIdle
        assert.strictEqual(attempts, 3)
        assert.strictEqual((yield* dispatcher.deadLetters)[0]!.attempts, 3)
      }))
  })

  describe("backpressure", () => {
    it.scoped("backpressure (default): the publisher waits for room and nothing is lost", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>({ capacity: 4 })
        const { handler, open, seen } = yield* gated
        yield* dispatcher.register("Ping", handler)
        yield* dispatcher.publish(blocker())
        yield* until(() => false)
        const publishing = yield* Effect.fork(dispatcher.publishAll(range(20).map((n) => ping(n))))
        yield* until(() => false)
        assert.isNull(publishing.unsafePoll())
        const [figures] = (yield* dispatcher.snapshot).handlers
        assert.deepStrictEqual([figures!.queueDepth, figures!.inFlight], [4, 1])
        yield* open
        yield* Fiber.join(publishing)
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(seen.map((e) => e.n), [-1, ...range(20)])
        assert.strictEqual((yield* dispatcher.snapshot).handlers[0]!.dropped, 0)
      }))

    it.scoped("sliding keeps the newest and counts what it drops", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>({ capacity: 3, strategy: "sliding" })
        const { handler, open, seen } = yield* gated
        yield* dispatcher.register("Ping", handler)
        yield* dispatcher.publish(blocker())
        yield* until(() => false)
        yield* dispatcher.publishAll(range(10).map((n) => ping(n)))
        yield* open
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(seen.map((e) => e.n), [-1, 7, 8, 9])
        assert.strictEqual((yield* dispatcher.snapshot).handlers[0]!.dropped, 7)
      }))

    it.scoped("dropping keeps the oldest and counts what it refuses", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>({ capacity: 3, strategy: "dropping" })
        const { handler, open, seen } = yield* gated
        yield* dispatcher.register("Ping", handler)
        yield* dispatcher.publish(blocker())
        yield* until(() => false)
        yield* dispatcher.publishAll(range(10).map((n) => ping(n)))
        yield* open
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(seen.map((e) => e.n), [-1, 0, 1, 2])
        assert.strictEqual((yield* dispatcher.snapshot).handlers[0]!.dropped, 7)
      }))

    it.scoped("a sliding handler never holds up a backpressured one", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>({ capacity: 2 })
        const fast: Array<number> = []
        yield* dispatcher.register("Ping", () => Effect.never, { strategy: "sliding", timeout: Duration.infinity })
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => fast.push(e.n)))
        yield* dispatcher.publishAll(range(100).map((n) => ping(n)))
        yield* until(() => fast.length === 100)
        assert.deepStrictEqual(fast, range(100))
        const report = yield* dispatcher.stop("immediate")
        assert.strictEqual(report.undelivered, 3)
      }))
  })

  describe("monitoring", () => {
    it.scoped("snapshot reads the handlers' metrics", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>({ name: "monitored", retry: Schedule.recurs(1) })
        yield* dispatcher.register("Ping", (e) => (e.n === 3 ? Effect.fail("three") : Effect.void), { name: "h" })
        yield* dispatcher.publishAll(range(5).map((n) => ping(n)))
        yield* dispatcher.awaitIdle
        const snapshot = yield* dispatcher.snapshot
        assert.strictEqual(snapshot.dispatcher, "monitored")
        assert.strictEqual(snapshot.accepted, 5)
        assert.strictEqual(snapshot.pending, 0)
        const [h] = snapshot.handlers
        assert.deepStrictEqual(
          { delivered: h!.delivered, failed: h!.failed, retried: h!.retried, deadLettered: h!.deadLettered },
          { delivered: 4, failed: 2, retried: 1, deadLettered: 1 }
        )
        assert.strictEqual(h!.latency.count, 5)
        assert.strictEqual(h!.queueDepth, 0)
        assert.strictEqual(h!.inFlight, 0)
      }))
  })

  describe("bad events", () => {
    const Ping = Schema.TaggedStruct("Ping", {
      eventId: Schema.NonEmptyString,
      n: Schema.Int.pipe(Schema.nonNegative())
    })
    type Ping = typeof Ping.Type

    it.scoped("an event that fails the schema is refused with InvalidInput and never reaches a handler", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Ping>({ schema: Ping })
        const seen: Array<number> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => seen.push(e.n)))
        const error = yield* Effect.flip(dispatcher.publish({ _tag: "Ping", eventId: "x", n: -1 }))
        assert.strictEqual(error._tag, "InvalidInput")
        assert.include(error.message, "invalid input to Dispatcher.publish")
        assert.include(error.message, "n")
        // A batch with one bad event is refused as a whole.
        const batch = yield* Effect.flip(
          dispatcher.publishAll([{ _tag: "Ping", eventId: "a", n: 1 }, { _tag: "Ping", eventId: "", n: 2 }])
        )
        assert.strictEqual(batch._tag, "InvalidInput")
        const decoded = yield* Effect.flip(dispatcher.publishUnknown({ _tag: "Ping", n: "7" }))
        assert.include(decoded.message, "eventId")
        assert.strictEqual((yield* Effect.flip(dispatcher.publishUnknown(42)))._tag, "InvalidInput")
        assert.strictEqual(
          (yield* Effect.flip(dispatcher.dispatch({ _tag: "Ping", eventId: "y", n: 0.5 })))._tag,
          "InvalidInput"
        )
        // The dispatcher carries on.
        yield* dispatcher.publish({ _tag: "Ping", eventId: "ok", n: 1 })
        yield* dispatcher.publishUnknown({ _tag: "Ping", eventId: "ok2", n: 2 })
        yield* dispatcher.awaitIdle
        assert.deepStrictEqual(seen, [1, 2])
        assert.strictEqual((yield* dispatcher.snapshot).accepted, 2)
      }))

    it.scoped("without a schema, the event shape and the options are still checked", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.make<Event>()
        const shape = yield* Effect.flip(dispatcher.publish({ n: 1 } as unknown as Event))
        assert.include(shape.message, "_tag")
        const priority = yield* Effect.flip(dispatcher.publish(ping(1), { priority: Number.NaN }))
        assert.include(priority.message, "priority")
        const both = yield* Effect.flip(dispatcher.publish(ping(1), { delay: "1 second", at: 0 }))
        assert.include(both.message, "not both")
        assert.strictEqual((yield* dispatcher.snapshot).accepted, 0)
      }))
  })

  describe("with the EventBus", () => {
    it.scoped("consume forwards every event the bus carries", () =>
      Effect.gen(function*() {
        const bus = yield* EventBus.make<Event>()
        const dispatcher = yield* Dispatcher.make<Event>()
        const seen: Array<string> = []
        yield* dispatcher.register(["Ping", "Pong"], (e) => Effect.sync(() => seen.push(e.eventId)))
        yield* Dispatcher.consume(bus, dispatcher, { priority: (e) => (e._tag === "Pong" ? -1 : 0) })
        yield* bus.publishAll([ping(1), pong(2)])
        yield* until(() => seen.length === 2)
        assert.deepStrictEqual(seen.sort(), [ping(1).eventId, pong(2).eventId].sort())
      }))

    it.effect("layer: NERV's events on the bus reach the Dispatcher service's handlers", () =>
      Effect.gen(function*() {
        const dispatcher = yield* Dispatcher.Dispatcher
        const seen: Array<string> = []
        yield* dispatcher.register("OperationFailed", (e) => Effect.sync(() => seen.push(e.operation)))
        const event = NervEvent.OperationFailed.make({
          eventId: "8f0b6f47-5fd9-4c4a-9f6b-0d7f3c1f9d11",
          operation: "Documents.update",
          requestId: "r1",
          error: "VersionConflict",
          message: "stale",
          duration: Duration.millis(3),
          occurredAt: DateTime.unsafeMake(0)
        })
        const bus = yield* CoreEventBus.EventBus
        yield* bus.publish(event)
        yield* until(() => seen.length === 1)
        assert.deepStrictEqual(seen, ["Documents.update"])
      }).pipe(Effect.provide(Dispatcher.layer().pipe(Layer.provideMerge(EventBus.layer())))))
  })

  describe("load", () => {
    it.effect(
      "10 concurrent publishers × 100,000 events, 10 handlers: each gets every event once, in each publisher's order",
      () =>
        Effect.gen(function*() {
          const publishers = 10
          const perPublisher = 100_000
          const handlers = 10
          const dispatcher = yield* Dispatcher.make<Event>()
          const next = Array.from({ length: handlers }, () => new Array<number>(publishers).fill(0))
          const errors: Array<string> = []
          let received = 0
          for (let h = 0; h < handlers; h++) {
            const expected = next[h]!
            yield* dispatcher.register("Ping", (e) =>
              Effect.sync(() => {
                const from = (e as { readonly from: number }).from
                if (e.n !== expected[from]) {
                  errors.push(`handler ${h}: publisher ${from} sent ${e.n}, expected ${expected[from]}`)
                }
                expected[from] = e.n + 1
                received++
              }))
          }
          const batch = 500
          yield* Effect.forEach(range(publishers), (from) =>
            Effect.forEach(range(perPublisher / batch), (b) =>
              dispatcher.publishAll(Array.from({ length: batch }, (_, i) =>
                ping(b * batch + i, from))), { discard: true }), {
            concurrency: "unbounded",
            discard: true
          })
          yield* dispatcher.awaitIdle
          assert.deepStrictEqual(errors.slice(0, 5), [])
          assert.strictEqual(received, publishers * perPublisher * handlers)
          for (const counts of next) {
            assert.deepStrictEqual(counts, new Array(publishers).fill(perPublisher))
          }
        }).pipe(Effect.scoped),
      60_000
    )
  })
})
