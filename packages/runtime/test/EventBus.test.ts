import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as EventBus from "../src/EventBus.js"

type Event =
  | { readonly _tag: "Ping"; readonly eventId: string; readonly n: number; readonly from?: string }
  | { readonly _tag: "Pong"; readonly eventId: string; readonly n: number }

const ping = (n: number, from?: string): Event => ({
  _tag: "Ping",
  eventId: `ping-${from ?? ""}${n}`,
  n,
  ...(from ? { from } : {})
})
const pong = (n: number): Event => ({ _tag: "Pong", eventId: `pong-${n}`, n })
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

describe("EventBus", () => {
  it.scoped("delivers one publisher's events in the order it published them", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>()
      const events = yield* bus.subscribe(["Ping", "Pong"])
      const received = yield* Effect.fork(Stream.runCollect(Stream.take(events, 2_000)))
      for (const n of range(1_000)) yield* bus.publish(ping(n))
      yield* bus.publishAll(range(1_000).map(pong))
      const all = Chunk.toReadonlyArray(yield* Fiber.join(received))
      assert.deepStrictEqual(all.map((e) => e.eventId), [
        ...range(1_000).map((n) => `ping-${n}`),
        ...range(1_000).map((n) => `pong-${n}`)
      ])
    }))

  it.scoped("keeps each of several concurrent publishers' order", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>({ capacity: 64 })
      const events = yield* bus.subscribe("Ping")
      const received = yield* Effect.fork(Stream.runCollect(Stream.take(events, 5 * 500)))
      yield* Effect.forEach(["a", "b", "c", "d", "e"], (from) =>
        Effect.forEach(range(500), (n) => bus.publish(ping(n, from)), { discard: true }), {
        concurrency: "unbounded",
        discard: true
      })
      const all = Chunk.toReadonlyArray(yield* Fiber.join(received))
      for (const from of ["a", "b", "c", "d", "e"]) {
        assert.deepStrictEqual(
          all.filter((e) =>
            e.from === from
          ).map((e) => e.n),
          range(500)
        )
      }
    }))

  it.scoped("typed subscriptions get only their tags, or what their predicate accepts", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>()
      const pongs = yield* bus.subscribe("Pong")
      const even = yield* bus.subscribe((e: Event) => e.n % 2 === 0)
      const gotPongs = yield* Effect.fork(Stream.runCollect(Stream.take(pongs, 2)))
      const gotEven = yield* Effect.fork(Stream.runCollect(Stream.take(even, 2)))
      yield* bus.publishAll([ping(1), pong(2), ping(3), pong(5), ping(4)])
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(gotPongs)).map((e) => e.n), [2, 5])
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(gotEven)).map((e) => e.eventId), [
        "pong-2",
        "ping-4"
      ])
    }))

  it.scoped("middleware transforms and drops events before history and delivery, and can be removed", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>()
      const events = yield* bus.subscribe(["Ping", "Pong"])
      const received = yield* Effect.fork(Stream.runCollect(Stream.take(events, 4)))
      const removeDouble = yield* bus.use((e) => Effect.succeed(Option.some({ ...e, n: e.n * 10 })))
      const removeDropPongs = yield* bus.use((e) => Effect.succeed(e._tag === "Pong" ? Option.none() : Option.some(e)))
      const ids = yield* bus.publishAll([ping(1), pong(2), ping(3)])
      assert.deepStrictEqual(ids, ["ping-1", "pong-2", "ping-3"])
      yield* removeDouble
      yield* bus.publish(ping(4))
      yield* removeDropPongs
      yield* bus.publish(pong(5))
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(received)).map((e) => e.n), [10, 30, 4, 5])
      assert.deepStrictEqual((yield* bus.history()).map((e) => e.n), [5, 4, 30, 10])
    }))

  it.scoped("onDelivered sees each delivered batch after middleware, in delivery order", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const bus = yield* EventBus.make<Event>({
        onDelivered: (events) => Effect.sync(() => seen.push(...events.map((e) => e.eventId)))
      })
      yield* bus.use((e) => Effect.succeed(e._tag === "Pong" ? Option.none() : Option.some(e)))
      yield* bus.publishAll([ping(1), pong(2), ping(3)])
      yield* bus.publish(pong(4))
      yield* bus.publish(ping(5))
      assert.deepStrictEqual(seen, ["ping-1", "ping-3", "ping-5"])
    }))

  it.effect("history is bounded, newest first, and can be queried by tag and limit", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>({ historySize: 5 })
      yield* bus.publishAll(range(8).map((n) => n % 2 === 0 ? pong(n) : ping(n)))
      assert.deepStrictEqual((yield* bus.history()).map((e) => e.n), [8, 7, 6, 5, 4])
      assert.deepStrictEqual((yield* bus.history({ tags: ["Pong"] })).map((e) => e.n), [8, 6, 4])
      assert.deepStrictEqual((yield* bus.history({ tags: ["Ping"], limit: 1 })).map((e) => e.n), [7])
      assert.deepStrictEqual(yield* bus.history({ limit: 0 }), [])
    }).pipe(Effect.scoped))

  it.live("closing a subscription's scope unsubscribes it, so it no longer holds publishers back", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>({ capacity: 2 })
      const scope = yield* Scope.make()
      yield* bus.subscribe("Ping").pipe(Scope.extend(scope))
      yield* bus.publishAll([ping(1), ping(2)])
      // The subscriber reads nothing: with backpressure a third event waits for it…
      const blocked = yield* Effect.fork(bus.publish(ping(3)))
      yield* Effect.sleep("50 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(blocked)))
      // …until its scope closes, which unsubscribes it and frees the publishers.
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(blocked).pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "still blocked" }))
      yield* bus.publishAll(range(100).map((n) => ping(n))).pipe(
        Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "a closed subscription still holds publishers" })
      )
    }).pipe(Effect.scoped))

  it.live("a batch the bus cannot take at once waits for room in order, and an interrupted publisher frees it", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>({ capacity: 4 })
      const events = yield* bus.subscribe("Ping")
      const take = (n: number) => Effect.map(Stream.runCollect(Stream.take(events, n)), Chunk.toReadonlyArray)
      const blocked = yield* Effect.fork(bus.publishAll(range(10).map((n) => ping(n))))
      yield* Effect.sleep("20 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(blocked)))
      assert.deepStrictEqual((yield* take(10)).map((e) => e.n), range(10))
      yield* Fiber.join(blocked)

      const stuck = yield* Effect.fork(bus.publishAll(range(10).map((n) => ping(100 + n))))
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(stuck)
      assert.deepStrictEqual((yield* take(4)).map((e) => e.n), [101, 102, 103, 104])
      yield* bus.publish(ping(999)).pipe(
        Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "the interrupted publisher kept the bus" })
      )
      assert.deepStrictEqual((yield* take(1)).map((e) => e.n), [999])
    }).pipe(Effect.scoped))

  it.scoped("a late subscriber replays the history, then live events, with no gap and no duplicate", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>({ historySize: 10_000 })
      const total = 5_000
      const publisher = yield* Effect.fork(
        Effect.forEach(range(total), (n) => Effect.zipRight(bus.publish(ping(n)), Effect.yieldNow()), { discard: true })
      )
      // Join while the publisher is mid-way.
      for (let i = 0; i < 200; i++) yield* Effect.yieldNow()
      const events = yield* bus.subscribe("Ping", { replay: true })
      const received = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(events, total)))
      yield* Fiber.join(publisher)
      assert.deepStrictEqual(received.map((e) => e.n), range(total))
    }))

  it.scoped("replay of a number gives the most recent matching events only", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>()
      yield* bus.publishAll([ping(1), pong(2), ping(3), ping(4)])
      const events = yield* bus.subscribe("Ping", { replay: 2 })
      yield* bus.publish(ping(5))
      const received = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(events, 3)))
      assert.deepStrictEqual(received.map((e) => e.n), [3, 4, 5])
    }))

  it.scoped("a sliding bus never blocks publishers; a slow subscriber keeps the newest events", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus.make<Event>({ capacity: 4, strategy: "sliding" })
      const events = yield* bus.subscribe("Ping")
      yield* bus.publishAll(range(100).map((n) => ping(n)))
      const received = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(events, 4)))
      assert.deepStrictEqual(received.map((e) => e.n), [97, 98, 99, 100])
    }))
})
