import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { MemoryJournal, Rebuild, Snapshots, VersionedStore } from "../src/index.js"
import { backends, storeOn } from "./fixtures/backends.js"
import { idOf } from "./fixtures/events.js"
import { everything, snapshotsTaken, workload } from "./fixtures/workload.js"

const every = 10

/** The same, read from a store that replays the whole journal without snapshots. */
const expected = Effect.gen(function*() {
  const plain = yield* VersionedStore.make
  yield* Rebuild.replay(plain, yield* Journal.Journal)
  return yield* Effect.provideService(everything, DocumentStore.DocumentStore, plain)
})

describe("snapshots", () => {
  it.live("in memory: the same store, whatever the snapshots", () =>
    Effect.gen(function*() {
      const layer = VersionedStore.layerFromJournal.pipe(
        Layer.provideMerge(Snapshots.layerMemory),
        Layer.provideMerge(MemoryJournal.layer),
        Layer.provide(Snapshots.layerPolicy(every))
      )
      yield* Effect.gen(function*() {
        yield* workload
        yield* snapshotsTaken([26, 16])
        assert.deepStrictEqual(yield* everything, yield* expected)
        // A second store rebuilt from the snapshots beside the same journal.
        const rebuilt = yield* Effect.provide(
          DocumentStore.DocumentStore,
          VersionedStore.layerFromJournal.pipe(
            Layer.provide(Layer.succeedContext(yield* Effect.context<Journal.Journal | Snapshots.SnapshotStore>()))
          )
        )
        assert.deepStrictEqual(
          yield* Effect.provideService(everything, DocumentStore.DocumentStore, rebuilt),
          yield* expected
        )
      }).pipe(Effect.provide(layer), Effect.scoped)
    }))

  for (const backend of backends) {
    it.live(`${backend.name}: taken automatically, rebuilt from, and every version still readable`, () =>
      Effect.gen(function*() {
        const file = yield* backend.database
        const layer = storeOn(backend, file, every)
        const before = yield* Effect.gen(function*() {
          yield* workload
          yield* snapshotsTaken([26, 16])
          const store = yield* DocumentStore.DocumentStore
          // The snapshot let the versions it covers leave memory; they are read from the journal now.
          assert.isTrue((yield* store.getAt(idOf(1), 3)).content === "v3")
          return yield* everything
        }).pipe(Effect.provide(layer), Effect.scoped)

        yield* Effect.gen(function*() {
          // What a restart reads: the snapshots and only the events after them.
          const items = yield* Effect.flatMap(
            Snapshots.SnapshotStore,
            (s) => Stream.runCollect(s.rebuild({ pageSize: 4 }))
          )
          const kinds = Chunk.toReadonlyArray(items).map((item) =>
            item._tag === "Snapshot" ? `S${item.snapshot.version}` : `E${item.entry.event.version}`
          )
          assert.isBelow(kinds.length, 3 + 2 * every + 3)
          assert.strictEqual(kinds.filter((k) => k.startsWith("S")).length, 2)
          assert.deepStrictEqual(yield* everything, before)
          assert.deepStrictEqual(yield* everything, yield* expected)
        }).pipe(Effect.provide(layer), Effect.scoped)
      }).pipe(Effect.scoped))

    it.live(`${backend.name}: time travel: as of an instant, before creation, and across a snapshot`, () =>
      Effect.gen(function*() {
        const file = yield* backend.database
        yield* Effect.gen(function*() {
          yield* workload
          yield* snapshotsTaken([26, 16])
          const store = yield* DocumentStore.DocumentStore
          const history = yield* store.history(idOf(1))
          for (const version of [1, 4, 30, 34]) {
            const at = history[version - 1]!.event.occurredAt
            assert.strictEqual((yield* store.asOf(idOf(1), at)).version, version)
            assert.strictEqual((yield* store.asOf(idOf(1), DateTime.add(at, { millis: 500 }))).version, version)
          }
          const early = yield* Effect.flip(
            store.asOf(idOf(1), DateTime.subtract(history[0]!.event.occurredAt, { millis: 1 }))
          )
          assert.strictEqual(early._tag, "NotYetCreated")
          assert.include(early.message, "did not exist yet at")
        }).pipe(
          Effect.provide(storeOn(backend, file, every)),
          Effect.scoped
        )
      }).pipe(Effect.scoped))

    it.live(`${backend.name}: an explicit rebuild reads every document, snapshots long histories, and loads read less after`, () =>
      Effect.gen(function*() {
        const file = yield* backend.database
        // Written without snapshots: a store that keeps everything, over the journal.
        yield* Effect.gen(function*() {
          const plain = yield* VersionedStore.make
          yield* Effect.provideService(workload, DocumentStore.DocumentStore, plain)
        }).pipe(Effect.provide(backend.journal(file)), Effect.scoped)
        yield* Effect.gen(function*() {
          const reports: Array<Rebuild.Progress> = []
          const summary = yield* Rebuild.run().pipe(
            Effect.provideService(Rebuild.RebuildProgress, {
              report: (progress) => Effect.sync(() => void reports.push(progress))
            })
          )
          assert.deepStrictEqual(summary, {
            documents: 3,
            events: 3 + 34 + 2 + 24,
            snapshotsTaken: 2,
            snapshotsRemoved: 0
          })
          assert.deepStrictEqual(reports.at(-1), { done: 3, total: 3, unit: "documents" })
          const found = yield* Effect.flatMap(Snapshots.SnapshotStore, (s) => s.latest(idOf(1)))
          assert.strictEqual(Option.getOrThrow(found).version, 35)
          // From scratch: the snapshots are taken again from the events.
          const again = yield* Rebuild.run({ fromScratch: true })
          assert.deepInclude(again, { documents: 3, snapshotsTaken: 2 })
          assert.isAbove(again.snapshotsRemoved, 0)
        }).pipe(Effect.provide(backend.journal(file)), Effect.provide(Snapshots.layerPolicy(every)), Effect.scoped)
        yield* Effect.gen(function*() {
          const store = yield* DocumentStore.DocumentStore
          assert.deepStrictEqual(yield* everything, yield* expected)
          assert.strictEqual((yield* store.getAt(idOf(1), 2)).content, "v2")
        }).pipe(
          Effect.provide(storeOn(backend, file, every)),
          Effect.scoped
        )
      }).pipe(Effect.scoped))
  }
})
