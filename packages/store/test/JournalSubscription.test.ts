import { assert, describe, it } from "@effect/vitest"
import { Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { JournalSubscription, MemoryJournal } from "../src/index.js"
import { created, updated } from "./fixtures/events.js"

describe("JournalSubscription", () => {
  it.live("delivers every entry after a checkpoint, then those committed later, once each and in order", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* journal.append([created(1)], 0)
      yield* journal.append([created(2)], 0)
      yield* journal.append([updated(1, 2, { content: "x" })], 1)
      // A subscriber that had seen position 1 before it stopped (say, a crash after a commit and
      // before any publish) resumes from there: it misses nothing the journal committed meanwhile.
      const fiber = yield* JournalSubscription.fromPosition(journal, 1, { pageSize: 2, pollInterval: 5 }).pipe(
        Stream.take(4),
        Stream.runCollect,
        Effect.fork
      )
      yield* Effect.sleep("20 millis")
      yield* journal.append([updated(2, 2, { title: "y" })], 1)
      yield* journal.append([updated(1, 3, { content: "z" })], 2)
      const entries = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(entries.map((e) => e.position), [2, 3, 4, 5])
      assert.deepStrictEqual(entries.map((e) => e.event.version), [1, 2, 2, 3])
    }).pipe(Effect.provide(MemoryJournal.layer)))
})
