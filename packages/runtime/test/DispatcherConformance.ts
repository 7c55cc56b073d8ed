/**
 * The transport conformance suite: what every `Dispatcher` transport does, whatever carries the
 * events. It runs against the in-process transport (on the `TestClock`) and against NATS
 * JetStream (in real time), in `DispatcherConformance.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import type * as Dispatcher from "../src/Dispatcher.js"

export const Ping = Schema.TaggedStruct("Ping", {
  eventId: Schema.String,
  n: Schema.Number,
  from: Schema.optional(Schema.Number)
})
export const Pong = Schema.TaggedStruct("Pong", { eventId: Schema.String, n: Schema.Number })

/** The events of the suite. */
export const Event = Schema.Union(Ping, Pong)
export type Event = typeof Event.Type

export const ping = (n: number, from?: number): Event => ({
  _tag: "Ping",
  eventId: `ping-${from ?? "x"}-${n}`,
  n,
  ...(from === undefined ? {} : { from })
})
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** A typed failure, to check that dead letters keep the tag and message of what failed. */
export class Boom extends Data.TaggedError("Boom")<{ readonly n: number }> {
  override get message(): string {
    return `boom ${this.n}`
  }
}

export type Options = Omit<Dispatcher.Options<Event>, "schema">
export type Make = (options?: Options) => Effect.Effect<Dispatcher.Service<Event>, never, Scope.Scope>

/**
 * A transport under test. `session` gives a fresh place for one test (on NATS: a prefix of its
 * own, deleted afterwards); the dispatchers `make` builds there share it, as processes would.
 */
export interface Transport {
  readonly name: string
  /** Real time (NATS) or the `TestClock` (in process). */
  readonly live: boolean
  readonly session: Effect.Effect<Make, never, Scope.Scope>
}

const failureOf = (cause: Cause.Cause<unknown>): { readonly _tag?: string; readonly message?: string } => {
  const failure = Option.getOrUndefined(Cause.failureOption(cause)) ?? Cause.squash(cause)
  return typeof failure === "object" && failure !== null ? failure : { message: String(failure) }
}

/** The suite. */
export const conformance = (transport: Transport) => {
  const test = transport.live ? it.scopedLive : it.scoped
  // Bounded, so that a broken transport fails instead of hanging.
  const eventually = (done: () => boolean, what: string) =>
    Effect.gen(function*() {
      for (let i = 0; i < 2_000 && !done(); i++) {
        yield* transport.live ? Effect.sleep("10 millis") : Effect.yieldNow()
      }
      if (!done()) assert.fail(`never happened: ${what}`)
    })
  const advance = (duration: Duration.DurationInput) =>
    transport.live ? Effect.sleep(duration) : TestClock.adjust(duration)
  const settle = (dispatcher: Dispatcher.Service<Event>) =>
    transport.live
      ? dispatcher.awaitIdle.pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "never idle" }))
      : Effect.raceFirst(
        dispatcher.awaitIdle,
        Effect.forever(Effect.zipRight(TestClock.adjust("100 millis"), Effect.yieldNow()))
      )
  const quickRetry = (retries: number) =>
    Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(retries))) as Schedule.Schedule<
      unknown,
      Cause.Cause<unknown>
    >

  describe(`Dispatcher conformance: ${transport.name}`, () => {
    test("priorities: a handler with a backlog takes it by priority, then in publish order", () =>
      Effect.gen(function*() {
        const make = yield* transport.session
        const dispatcher = yield* make({ retry: quickRetry(0) })
        const gate = yield* Deferred.make<void>()
        let started = false
        const seen: Array<number> = []
        yield* dispatcher.register("Ping", (e) =>
          e.n < 0
            ? Effect.zipRight(Effect.sync(() => (started = true)), Deferred.await(gate))
            : Effect.sync(() => seen.push(e.n)), { name: "h", timeout: Duration.infinity })
        yield* dispatcher.publish(ping(-1), { priority: -100 })
        yield* eventually(() => started, "the first event reached the handler")
        const priorities = range(24).map((n) => [1, 0, -1][(n * 7) % 3]!)
        for (const [n, priority] of priorities.entries()) yield* dispatcher.publish(ping(n), { priority })
        const queued = () =>
          Effect.map(dispatcher.snapshot, (s) => s.handlers.find((h) => h.handler === "h")?.queueDepth ?? 0)
        for (let i = 0; i < 1_000 && (yield* queued()) < priorities.length; i++) {
          yield* transport.live ? Effect.sleep("10 millis") : Effect.yieldNow()
        }
        assert.strictEqual(yield* queued(), priorities.length)
        yield* Deferred.succeed(gate, void 0)
        yield* settle(dispatcher)
        const expected = priorities.map((priority, n) => ({ priority, n }))
          .sort((a, b) => a.priority - b.priority || a.n - b.n)
          .map(({ n }) => n)
        assert.deepStrictEqual(seen, expected)
      }))

    test("a handler of several tags gets them in publish order, whatever their tags", () =>
      Effect.gen(function*() {
        const make = yield* transport.session
        const dispatcher = yield* make()
        const seen: Array<string> = []
        yield* dispatcher.register(["Ping", "Pong"], (e) => Effect.sync(() => seen.push(e.eventId)), { name: "both" })
        const pings: Array<number> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => pings.push(e.n)), { name: "pings" })
        const events = range(30).map((n): Event => (n % 3 === 0 ? { _tag: "Pong", eventId: `pong-${n}`, n } : ping(n)))
        yield* dispatcher.publishAll(events)
        yield* settle(dispatcher)
        assert.deepStrictEqual(seen, events.map((e) => e.eventId))
        assert.deepStrictEqual(pings, events.filter((e) => e._tag === "Ping").map((e) => e.n))
      }))

    test("delays: delayed and scheduled events are listed, fire when due and never before, and can be cancelled", () =>
      Effect.gen(function*() {
        const make = yield* transport.session
        const dispatcher = yield* make()
        const seen: Array<{ readonly n: number; readonly at: number }> = []
        yield* dispatcher.register(
          "Ping",
          (e) => Effect.map(Clock.currentTimeMillis, (at) => seen.push({ n: e.n, at })),
          { name: "h" }
        )
        const now = yield* Clock.currentTimeMillis
        yield* dispatcher.publish(ping(1), { delay: "600 millis" })
        yield* dispatcher.publish(ping(2), { at: now + 300 })
        yield* dispatcher.publish(ping(3), { delay: "900 millis" })
        const listed = yield* dispatcher.scheduled
        assert.deepStrictEqual(listed.map((s) => s.event.n), [2, 1, 3])
        assert.strictEqual(Number(listed[0]!.dueAt.epochMillis), now + 300)
        assert.isTrue(yield* dispatcher.cancel(ping(3).eventId))
        assert.isFalse(yield* dispatcher.cancel(ping(3).eventId))
        assert.isFalse(yield* dispatcher.cancel("no-such-event"))
        assert.deepStrictEqual((yield* dispatcher.scheduled).map((s) => s.event.n), [2, 1])
        yield* advance("700 millis")
        yield* eventually(() => seen.length >= 2, "both due events ran")
        assert.deepStrictEqual(seen.map((s) => s.n), [2, 1])
        assert.isAtLeast(seen[0]!.at, now + 300)
        assert.isAtLeast(seen[1]!.at, now + 600)
        // Past the cancelled event's due time, it has not run.
        yield* advance("600 millis")
        yield* settle(dispatcher)
        assert.deepStrictEqual(seen.map((s) => s.n), [2, 1])
        assert.deepStrictEqual(yield* dispatcher.scheduled, [])
      }))

    test("retries follow the handler's schedule; what still fails is a dead letter with its cause, then re-driven", () =>
      Effect.gen(function*() {
        const make = yield* transport.session
        const dispatcher = yield* make({ retry: quickRetry(2) })
        const attempts = new Map<number, number>()
        const flaky: Array<number> = []
        let broken = true
        const fixed: Array<number> = []
        yield* dispatcher.register("Ping", (e) =>
          Effect.suspend(() => {
            const k = (attempts.get(e.n) ?? 0) + 1
            attempts.set(e.n, k)
            return k < 3 ? Effect.fail(new Boom({ n: e.n })) : Effect.sync(() => flaky.push(e.n))
          }), { name: "flaky" })
        yield* dispatcher.register(
          "Ping",
          (e) => (broken ? Effect.fail(new Boom({ n: e.n })) : Effect.sync(() => fixed.push(e.n))),
          { name: "broken" }
        )
        yield* dispatcher.publishAll(range(3).map((n) => ping(n)))
        yield* settle(dispatcher)
        assert.deepStrictEqual([...flaky].sort(), [0, 1, 2])
        assert.deepStrictEqual([...attempts.values()], [3, 3, 3])
        const letters = yield* dispatcher.deadLetters
        assert.deepStrictEqual(letters.map((l) => l.handler), ["broken", "broken", "broken"])
        assert.deepStrictEqual(letters.map((l) => l.event.n).sort(), [0, 1, 2])
        for (const letter of letters) {
          assert.strictEqual(letter.attempts, 3)
          const failure = failureOf(letter.cause)
          assert.strictEqual(failure._tag, "Boom")
          assert.strictEqual(failure.message, `boom ${letter.event.n}`)
        }
        broken = false
        assert.strictEqual(yield* dispatcher.redrive({ handler: "nobody" }), 0)
        assert.strictEqual(yield* dispatcher.redrive({ handler: "broken" }), 3)
        yield* settle(dispatcher)
        assert.deepStrictEqual([...fixed].sort(), [0, 1, 2])
        assert.deepStrictEqual(yield* dispatcher.deadLetters, [])
        // The handlers that succeeded saw nothing again.
        assert.deepStrictEqual([...flaky].sort(), [0, 1, 2])
      }))

    test("a handler that hangs is cut at its timeout, retried, then dead-lettered", () =>
      Effect.gen(function*() {
        const make = yield* transport.session
        const dispatcher = yield* make({ retry: quickRetry(1) })
        let attempts = 0
        yield* dispatcher.register("Ping", () => Effect.zipRight(Effect.sync(() => attempts++), Effect.never), {
          name: "hangs",
          timeout: "200 millis"
        })
        yield* dispatcher.publish(ping(1))
        yield* settle(dispatcher)
        assert.strictEqual(attempts, 2)
        const [letter] = yield* dispatcher.deadLetters
        assert.strictEqual(letter!.attempts, 2)
        assert.strictEqual(failureOf(letter!.cause)._tag, "HandlerTimeout")
      }))

    test("dedupe: an event id published twice within the window is handled once", () =>
      Effect.gen(function*() {
        const make = yield* transport.session
        const dispatcher = yield* make({ duplicateWindow: "1 minute" })
        const seen: Array<string> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => seen.push(e.eventId)), { name: "h" })
        assert.strictEqual(yield* dispatcher.publish(ping(1)), ping(1).eventId)
        assert.strictEqual(yield* dispatcher.publish(ping(1)), ping(1).eventId)
        assert.deepStrictEqual(yield* dispatcher.publishAll([ping(2), ping(2), ping(3)]), [
          ping(2).eventId,
          ping(2).eventId,
          ping(3).eventId
        ])
        yield* settle(dispatcher)
        assert.deepStrictEqual(seen, [ping(1).eventId, ping(2).eventId, ping(3).eventId])
      }))

    test("a failing handler is isolated: the others get every event in order; the failures end as dead letters", () =>
      Effect.gen(function*() {
        const make = yield* transport.session
        const dispatcher = yield* make({ retry: quickRetry(1) })
        const good: Array<number> = []
        yield* dispatcher.register("Ping", (e) => Effect.sync(() => good.push(e.n)), { name: "good" })
        yield* dispatcher.register("Ping", (e) => {
          throw new Error(`thrown ${e.n}`)
        }, { name: "throws" })
        yield* dispatcher.register("Ping", (e) => Effect.fail(new Boom({ n: e.n })), { name: "fails" })
        yield* dispatcher.publishAll(range(20).map((n) => ping(n)))
        yield* eventually(() => good.length === 20, "the good handler got every event")
        assert.deepStrictEqual(good, range(20))
        yield* settle(dispatcher)
        const letters = yield* dispatcher.deadLetters
        for (const name of ["throws", "fails"]) {
          const mine = letters.filter((l) => l.handler === name)
          assert.deepStrictEqual(mine.map((l) => l.event.n).sort((a, b) => a - b), range(20), name)
        }
        const thrown = letters.find((l) => l.handler === "throws")!
        assert.isTrue(Cause.isDieType(thrown.cause))
        assert.include(failureOf(thrown.cause).message, "thrown")
        assert.deepStrictEqual(good, range(20))
      }))

    test("stop and drain: a graceful stop finishes what it holds, takes nothing new, and loses nothing", () =>
      Effect.gen(function*() {
        const make = yield* transport.session
        const first = yield* make()
        const seen: Array<string> = []
        const record = (e: Event) => Effect.zipRight(Effect.yieldNow(), Effect.sync(() => seen.push(e.eventId)))
        yield* first.register("Ping", record, { name: "h" })
        const events = range(50).map((n) => ping(n))
        yield* first.publishAll(events)
        const report = yield* first.stop("graceful")
        assert.deepStrictEqual(report.mode, "graceful")
        assert.strictEqual(report.undelivered, 0)
        assert.isTrue(Exit.isInterrupted(yield* Effect.exit(first.publish(ping(99)))))
        // A successor for the same handler takes whatever the first one had not started.
        const second = yield* make()
        yield* second.register("Ping", record, { name: "h" })
        yield* settle(second)
        assert.deepStrictEqual([...seen].sort(), events.map((e) => e.eventId).sort())
      }))
  })
}
