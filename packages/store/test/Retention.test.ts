import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { join } from "node:path"
import { Retention, Snapshots, VersionedStore } from "../src/index.js"
import { idOf, sqliteJournal, tempDir } from "./fixtures/events.js"
import { everything, snapshotsTaken, workload } from "./fixtures/workload.js"

describe("Retention", () => {
  it.live("prunes the versions before a document's horizon, and reads answer from it on or refuse", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      const layer = VersionedStore.layerFromJournal.pipe(
        Layer.provideMerge(sqliteJournal(file)),
        Layer.provide(Snapshots.layerPolicy(10))
      )
      const { before, horizon } = yield* Effect.gen(function*() {
        yield* workload
        yield* snapshotsTaken([26, 17])
        const before = yield* everything
        const horizon = yield* Effect.flatMap(Snapshots.SnapshotStore, (s) => s.latest(idOf(1)))
        // Nothing is old enough yet: a day's policy prunes nothing.
        assert.deepStrictEqual(yield* Retention.pruneSqlite({ olderThan: "10000 days" }), { events: 0, snapshots: 0 })
        const pruned = yield* Retention.pruneSqlite({ olderThan: 0 })
        assert.isAbove(pruned.events, 40)
        return { before, horizon: Option.getOrThrow(horizon).version }
      }).pipe(Effect.provide(layer), Effect.scoped)

      yield* Effect.gen(function*() {
        const store = yield* DocumentStore.DocumentStore
        const history = yield* store.history(idOf(1))
        assert.strictEqual(history[0]!.version, horizon)
        assert.deepStrictEqual(history, before.histories[0]!.slice(horizon - 1))
        // The document without a snapshot keeps its whole history; latest states are untouched.
        assert.deepStrictEqual(yield* store.history(idOf(2)), before.histories[1])
        assert.deepStrictEqual(yield* store.list, before.list)
        assert.deepStrictEqual(yield* Effect.forEach([idOf(1), idOf(2), idOf(3)], store.get), before.latest)
        const early = yield* Effect.flip(store.getAt(idOf(1), 5))
        assert.deepInclude(early, { _tag: "VersionPruned", version: 5, earliest: horizon })
        assert.include(early.message, `its history is kept from version ${horizon} on`)
        const then = yield* Effect.flip(store.asOf(idOf(1), before.histories[0]![4]!.event.occurredAt))
        assert.strictEqual(then._tag, "VersionPruned")
        assert.deepStrictEqual(
          yield* store.getAt(idOf(1), horizon + 1),
          before.histories[0]![horizon]!.document
        )
        // The journal skips the pruned positions; what it kept is in order.
        const positions = Chunk.toReadonlyArray(
          yield* Stream.runCollect((yield* Journal.Journal).read({ pageSize: 5 }))
        )
          .map((entry) => entry.position)
        assert.deepStrictEqual(positions, [...positions].sort((a, b) => a - b))
      }).pipe(Effect.provide(layer), Effect.scoped)
    }).pipe(Effect.scoped))
})
