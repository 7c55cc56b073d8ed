import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { makeKeyedLock } from "../src/internal/keyedLock.js"

describe("keyedLock", () => {
  it.effect("runs the effects of one key one at a time, and of different keys at once", () =>
    Effect.gen(function*() {
      const lock = makeKeyedLock()
      let inside = 0
      let most = 0
      const critical = Effect.gen(function*() {
        inside++
        most = Math.max(most, inside)
        yield* Effect.yieldNow()
        yield* Effect.yieldNow()
        inside--
      })
      yield* Effect.all(Array.from({ length: 20 }, () => lock("a", critical)), { concurrency: "unbounded" })
      assert.strictEqual(most, 1)

      const bothIn = yield* Deferred.make<void>()
      let entered = 0
      const meet = Effect.suspend(() => ++entered === 2 ? Deferred.succeed(bothIn, undefined) : Deferred.await(bothIn))
      yield* Effect.all([lock("a", meet), lock("b", meet)], { concurrency: "unbounded" })
      assert.strictEqual(entered, 2)
    }))

  it.effect("releases on failure, defect and interruption of the holder", () =>
    Effect.gen(function*() {
      const lock = makeKeyedLock()
      assert.isTrue(Exit.isFailure(yield* Effect.exit(lock("k", Effect.fail("no")))))
      assert.isTrue(Exit.isFailure(yield* Effect.exit(lock("k", Effect.die("bug")))))
      const holder = yield* Effect.fork(lock("k", Effect.never))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(holder)
      assert.strictEqual(yield* lock("k", Effect.succeed("free")), "free")
    }))

  it.effect("a waiter interrupted while it waits never takes the lock, and the others still get it", () =>
    Effect.gen(function*() {
      const lock = makeKeyedLock()
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(lock("k", Deferred.await(release)))
      yield* Effect.yieldNow()
      let ran = false
      const waiter = yield* Effect.fork(lock("k", Effect.sync(() => ran = true)))
      const next = yield* Effect.fork(lock("k", Effect.succeed("next")))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(waiter)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      assert.strictEqual(yield* Fiber.join(next), "next")
      assert.isFalse(ran)
    }))
})
