import { assert, describe, it } from "@effect/vitest"
import { Decider, type DocumentEvent, DocumentStore, Errors, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { join } from "node:path"
import {
  AuthorTitles,
  Checkpoints,
  Forgetting,
  MemoryJournal,
  PayloadCodec,
  Projection,
  Snapshots,
  VersionedStore
} from "../src/index.js"
import { forgetEvent } from "../src/internal/forgotten.js"
import { created, execute, idOf, listAll, sqliteStore, tempDir, updated } from "./fixtures/events.js"

/**
 * A codec that stands in for a sealing one whose data keys can be destroyed: the payloads of the
 * documents in `forgotten` no longer open (`DocumentForgotten`), whatever their row.
 */
const shreddingCodec = (forgotten: Set<string>): Layer.Layer<PayloadCodec.PayloadCodec> =>
  Layer.succeed(PayloadCodec.PayloadCodec, {
    encode: (json, row) =>
      forgotten.has(row.documentId)
        ? Effect.fail(new Errors.DocumentForgotten({ documentId: row.documentId }))
        : PayloadCodec.json.encode(json, row),
    decode: (stored, row) =>
      forgotten.has(row.documentId)
        ? Effect.fail(new Errors.DocumentForgotten({ documentId: row.documentId }))
        : PayloadCodec.json.decode(stored, row)
  })

const storeOn = (filename: string, forgotten: Set<string>) =>
  sqliteStore(filename, 2, { codec: shreddingCodec(forgotten) }).pipe(Layer.orDie)

const store = DocumentStore.DocumentStore

const expectForgotten = <A, E extends { readonly _tag: string }, R>(read: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(read), (error) => assert.strictEqual(error._tag, "DocumentForgotten"))

/** Document 1: five versions by ann and bob; document 2: one version. */
const writeTwo = Effect.gen(function*() {
  yield* execute(Decider.Command.Create({ documentId: idOf(1), title: "secret", content: "v1", author: "ann" }))
  for (let v = 2; v <= 5; v++) {
    yield* execute(Decider.Command.Update({ documentId: idOf(1), content: `v${v}`, editor: v % 2 ? "ann" : "bob" }))
  }
  yield* execute(Decider.Command.Create({ documentId: idOf(2), title: "kept", content: "k", author: "bob" }))
})

/** Everything a reader sees of document 1 once forgotten, and of document 2, which was not. */
const checkForgotten = Effect.gen(function*() {
  const documents = yield* store
  yield* expectForgotten(documents.get(idOf(1)))
  yield* expectForgotten(documents.current(idOf(1)))
  yield* expectForgotten(documents.getAt(idOf(1), 1))
  yield* expectForgotten(documents.getAt(idOf(1), 5))
  yield* expectForgotten(documents.history(idOf(1)))
  yield* expectForgotten(execute(Decider.Command.Update({ documentId: idOf(1), content: "x", editor: "ann" })))
  const shape = yield* documents.shape(idOf(1))
  assert.deepStrictEqual(shape.map((v) => [v.version, v.event, v.actor]), [
    [1, "DocumentCreated", "ann"],
    [2, "DocumentUpdated", "bob"],
    [3, "DocumentUpdated", "ann"],
    [4, "DocumentUpdated", "bob"],
    [5, "DocumentUpdated", "ann"]
  ])
  assert.deepStrictEqual((yield* listAll(documents)).map((d) => d.title), ["kept"])
  assert.strictEqual((yield* documents.get(idOf(2))).content, "k")
})

describe("forgotten documents", () => {
  it.scoped("a rebuild goes past a forgotten document: no content, the shape kept, snapshots skipped", () =>
    Effect.gen(function*() {
      const filename = join(yield* tempDir, "journal.db")
      const forgotten = new Set<string>()
      yield* writeTwo.pipe(Effect.provide(storeOn(filename, forgotten)))
      // A restart takes snapshots of the long history (every 2 versions); then the key goes.
      const snapshot = yield* Effect.flatMap(Snapshots.SnapshotStore, (s) => s.latest(idOf(1))).pipe(
        Effect.provide(storeOn(filename, forgotten))
      )
      assert.strictEqual(snapshot._tag, "Some")
      forgotten.add(idOf(1))
      yield* Effect.gen(function*() {
        yield* checkForgotten
        // Old versions read from the journal: the snapshot that covers them cannot be opened.
        assert.isTrue((yield* Effect.flatMap(Snapshots.SnapshotStore, (s) => s.at(idOf(1), 5)))._tag === "None")
        const entries = yield* Effect.flatMap(Journal.Journal, (j) => j.head)
        assert.strictEqual(entries, 6)
      }).pipe(Effect.provide(storeOn(filename, forgotten)))
    }))

  it.effect("forget drops the content from memory at once, including versions that left it", () =>
    Effect.gen(function*() {
      const journal = yield* MemoryJournal.make
      const documents = yield* VersionedStore.makeWith({ journal })
      const write = (events: ReadonlyArray<DocumentEvent.DocumentEvent>, expected: number) =>
        Effect.zipRight(journal.append(events, expected), documents.apply(events))
      yield* write([created(1, "secret"), updated(1, 2, { content: "more" })], 0)
      yield* write([created(2, "kept")], 0)
      yield* documents.compact(idOf(1), 1)
      yield* documents.forget(idOf(1))
      yield* expectForgotten(documents.get(idOf(1)))
      yield* expectForgotten(documents.getAt(idOf(1), 2))
      yield* expectForgotten(documents.asOf(idOf(1), (yield* documents.get(idOf(2))).createdAt))
      yield* expectForgotten(documents.history(idOf(1)))
      assert.deepStrictEqual((yield* listAll(documents)).map((d) => d.title), ["kept"])
      // An event committed while the document was being forgotten still joins its shape.
      yield* write([updated(1, 3, { content: "late" })], 2)
      assert.deepStrictEqual((yield* documents.shape(idOf(1))).map((v) => v.version), [1, 2, 3])
      yield* expectForgotten(documents.getAt(idOf(1), 3))
      const window = yield* documents.windowOf(idOf(1))
      assert.isTrue(window._tag === "Some" && window.value.forgotten)
      const error = yield* Effect.flip(documents.forget(idOf(9)))
      assert.strictEqual(error._tag, "DocumentNotFound")
    }))

  it.effect("an event read without content marks its document forgotten, and drops what came before", () =>
    Effect.gen(function*() {
      const documents = yield* VersionedStore.make
      yield* documents.apply([created(1, "secret")])
      yield* documents.apply([forgetEvent(updated(1, 2, { content: "more" }))])
      yield* expectForgotten(documents.get(idOf(1)))
      yield* expectForgotten(documents.getAt(idOf(1), 1))
      assert.deepStrictEqual((yield* documents.shape(idOf(1))).map((v) => [v.version, v.event]), [
        [1, "DocumentCreated"],
        [2, "DocumentUpdated"]
      ])
      assert.deepStrictEqual(yield* listAll(documents), [])
    }))

  it.effect("an event without content in the middle of a batch forgets the versions before it in that batch", () =>
    Effect.gen(function*() {
      const documents = yield* VersionedStore.make
      yield* documents.apply([
        created(1, "secret"),
        updated(1, 2, { content: "more" }),
        created(2, "kept"),
        updated(1, 3, { content: "still" }),
        forgetEvent(updated(1, 4, { content: "gone" })),
        updated(1, 5, { content: "after" })
      ])
      yield* expectForgotten(documents.get(idOf(1)))
      const window = yield* documents.windowOf(idOf(1))
      assert.isTrue(window._tag === "Some" && window.value.forgotten && window.value.latest === 5)
      assert.deepStrictEqual((yield* documents.shape(idOf(1))).map((v) => v.version), [1, 2, 3, 4, 5])
      assert.deepStrictEqual((yield* listAll(documents)).map((d) => d.title), ["kept"])
    }))

  it.effect("AuthorTitles drops a forgotten document's titles: from its events, and from a stored checkpoint", () =>
    Effect.gen(function*() {
      yield* writeTwo
      const journal = yield* Journal.Journal
      const entries = Chunk.toReadonlyArray(yield* Stream.runCollect(journal.read()))
      const initial = { position: 0, state: AuthorTitles.projection.initial }
      const folded = yield* Projection.step(AuthorTitles.projection, initial, entries)
      assert.deepStrictEqual([...AuthorTitles.titlesOf(folded.state, "ann").values()], ["secret"])

      // Folded before the forget: the stored checkpoint drops it.
      yield* Projection.forget(AuthorTitles.projection, idOf(1))
      const stored = yield* Projection.load(AuthorTitles.projection)
      assert.strictEqual(stored.position, folded.position)
      assert.deepStrictEqual([...AuthorTitles.titlesOf(stored.state, "ann").values()], [])
      assert.deepStrictEqual([...AuthorTitles.titlesOf(stored.state, "bob").values()], ["kept"])

      // Rebuilt after the forget: the document's events come without content, and never enter it.
      const shredded = entries.map((entry) =>
        entry.event.documentId === idOf(1) ? { ...entry, event: forgetEvent(entry.event), forgotten: true } : entry
      )
      assert.isTrue(Projection.isForgotten(shredded[0]!))
      const rebuilt = yield* Projection.step(AuthorTitles.projection, initial, shredded)
      assert.strictEqual(AuthorTitles.titlesOf(rebuilt.state, "ann").size, 0)
      assert.deepStrictEqual([...AuthorTitles.titlesOf(rebuilt.state, "bob").values()], ["kept"])
    }).pipe(Effect.provide(
      Layer.mergeAll(VersionedStore.layerFromJournal, Checkpoints.layerMemory).pipe(
        Layer.provideMerge(MemoryJournal.layer)
      )
    )))

  it.scopedLive("a running projection drops a forgotten document when Forgetting says so", () =>
    Effect.gen(function*() {
      yield* writeTwo
      const running = yield* Projection.run(AuthorTitles.projection, { pollInterval: 5 })
      yield* running.awaitPosition(6)
      yield* Effect.flatMap(Forgetting.Forgetting, (forgetting) => forgetting.forgotten(idOf(1)))
      assert.strictEqual(AuthorTitles.titlesOf((yield* running.get).state, "ann").size, 0)
      const stored = yield* Projection.load(AuthorTitles.projection)
      assert.strictEqual(AuthorTitles.titlesOf(stored.state, "ann").size, 0)
    }).pipe(
      Effect.provide(
        Layer.mergeAll(VersionedStore.layerFromJournal, Checkpoints.layerMemory, Forgetting.layer)
          .pipe(Layer.provideMerge(MemoryJournal.layer))
      )
    ))
})
