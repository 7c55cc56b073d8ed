/**
 * The store holds what is hot, within a budget, and loads the rest from the journal on demand:
 * what it answers must not depend on what it happened to hold.
 */
import { assert, describe, it } from "@effect/vitest"
import { Decider, Document, DocumentStore, Journal } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { join } from "node:path"
import { MemoryJournal, Rebuild, Snapshots, VersionedStore } from "../src/index.js"
import { execute, sqliteJournal, tempDir } from "./fixtures/events.js"

const idOf = (n: number) => Document.DocumentId.make(`00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`)

/** Random commands over six documents (some refused), with reads in between. */
const steps = FastCheck.array(
  FastCheck.tuple(FastCheck.integer({ min: 1, max: 6 }), FastCheck.integer({ min: 0, max: 11 }), FastCheck.string()),
  { minLength: 1, maxLength: 80 }
)

const commandOf = ([doc, kind, text]: readonly [number, number, string]): Decider.Command =>
  kind === 0
    ? Decider.Command.Delete({ documentId: idOf(doc), actor: "ann", reason: "gone" })
    : kind < 3
    ? Decider.Command.Create({ documentId: idOf(doc), title: `t${doc}`, content: text, author: `a${doc % 2}` })
    : Decider.Command.Update({
      documentId: idOf(doc),
      content: text,
      editor: "bob",
      ...(kind === 4 ? { title: text || "x" } : {})
    })

/** Everything a user can read of the six documents, errors included. */
const everything = Effect.gen(function*() {
  const store = yield* DocumentStore.DocumentStore
  const reads = []
  for (let doc = 1; doc <= 6; doc++) {
    const id = idOf(doc)
    reads.push(yield* Effect.either(store.get(id)))
    reads.push(yield* Effect.either(store.history(id)))
    reads.push(yield* Effect.either(store.getAt(id, 2)))
    reads.push(yield* Effect.either(store.shape(id)))
  }
  return { reads, list: (yield* store.list({ include: "all" })).documents }
})

/** The same, from a store that folded the whole journal and never let anything go. */
const folded = Effect.gen(function*() {
  const plain = yield* VersionedStore.make
  yield* Rebuild.replay(plain, yield* Journal.Journal)
  return yield* Effect.provideService(everything, DocumentStore.DocumentStore, plain)
})

/** Runs the steps through the store in context, reading one document after each command. */
const run = (input: ReadonlyArray<readonly [number, number, string]>) =>
  Effect.gen(function*() {
    const store = yield* DocumentStore.DocumentStore
    for (const step of input) {
      yield* Effect.either(execute(commandOf(step)))
      yield* Effect.either(store.get(idOf(((step[0] + 2) % 6) + 1)))
      // Time for the background snapshotter, as a real program's waits for I/O give it.
      yield* Effect.repeatN(Effect.yieldNow(), 3)
    }
  })

const tiny = VersionedStore.layerBudget({ maxDocuments: 1, maxBytes: 2_000 })

/** A store over an in-memory journal with snapshots every 3 versions and room for one document. */
const tinyInMemory = VersionedStore.layerFromJournal.pipe(
  Layer.provideMerge(Snapshots.layerMemory),
  Layer.provideMerge(MemoryJournal.layer),
  Layer.provide(Snapshots.layerPolicy(3)),
  Layer.provide(tiny)
)

describe("the store's hot set", () => {
  it.effect.prop(
    "in memory, with room for one document: every read equals a store that never let one go",
    [steps],
    ([input]) =>
      Effect.gen(function*() {
        yield* run(input)
        const held = yield* Effect.flatMap(DocumentStore.DocumentStore, (store) =>
          (store as VersionedStore.VersionedStoreService).held)
        assert.isAtMost(held.documents, 1)
        assert.deepStrictEqual(yield* everything, yield* folded)
      }).pipe(
        Effect.provide(tinyInMemory),
        Effect.scoped
      ),
    { fastCheck: { numRuns: 50 } }
  )

  it.live("on SQLite with snapshots every 3 versions and room for one document: the same reads", () =>
    Effect.gen(function*() {
      const samples = FastCheck.sample(steps, { numRuns: 6, seed: 42 })
      for (const [i, input] of samples.entries()) {
        const file = join(yield* tempDir, `journal-${i}.db`)
        yield* Effect.gen(function*() {
          yield* run(input)
          assert.deepStrictEqual(yield* everything, yield* folded)
        }).pipe(
          Effect.provide(
            VersionedStore.layerFromJournal.pipe(
              Layer.provideMerge(sqliteJournal(file)),
              Layer.provide(Snapshots.layerPolicy(3)),
              Layer.provide(tiny)
            )
          ),
          Effect.scoped
        )
      }
    }).pipe(Effect.scoped))

  it.live("a document let go is loaded back from its latest snapshot and the entries after it", () =>
    Effect.gen(function*() {
      const store = yield* DocumentStore.DocumentStore
      const snapshots = yield* Snapshots.SnapshotStore
      yield* execute(Decider.Command.Create({ documentId: idOf(1), title: "long", content: "v1", author: "ann" }))
      for (let v = 2; v <= 11; v++) {
        yield* execute(Decider.Command.Update({ documentId: idOf(1), content: `v${v}`, editor: "bob" }))
      }
      // Another document takes its place in memory; the snapshotter takes its snapshot meanwhile.
      yield* execute(Decider.Command.Create({ documentId: idOf(2), title: "other", content: "x", author: "ann" }))
      const snapshot = yield* Effect.zipLeft(snapshots.latest(idOf(1)), Effect.sleep("5 millis")).pipe(
        Effect.repeat({ until: Option.isSome })
      )
      assert.isAtLeast(Option.getOrThrow(snapshot).version, 9)
      assert.isTrue(Option.isNone(yield* (store as VersionedStore.VersionedStoreService).windowOf(idOf(1))))
      // Written to while another holds the memory, and let go again, twice over.
      for (let v = 12; v <= 13; v++) {
        yield* execute(Decider.Command.Update({ documentId: idOf(1), content: `v${v}`, editor: "bob" }))
        yield* store.get(idOf(2))
      }
      // Loaded back: every version reads as the fold of the journal's events.
      const history = yield* store.history(idOf(1))
      assert.deepStrictEqual(history.map((v) => v.document.content), Array.from({ length: 13 }, (_, i) => `v${i + 1}`))
      for (let v = 1; v <= 13; v++) assert.strictEqual((yield* store.getAt(idOf(1), v)).content, `v${v}`)
      assert.strictEqual((yield* store.get(idOf(1))).version, 13)
    }).pipe(
      Effect.provide(
        tinyInMemory
      ),
      Effect.scoped
    ))

  it.live("the document used last stays even when it alone is over the byte budget; it leaves for the next one", () =>
    Effect.gen(function*() {
      const store = (yield* DocumentStore.DocumentStore) as VersionedStore.VersionedStoreService
      yield* execute(
        Decider.Command.Create({ documentId: idOf(1), title: "large", content: "x".repeat(500), author: "a" })
      )
      yield* execute(Decider.Command.Update({ documentId: idOf(1), content: "y".repeat(500), editor: "bob" }))
      assert.isTrue(Option.isSome(yield* store.windowOf(idOf(1))), "the document being worked on was let go")
      yield* execute(Decider.Command.Create({ documentId: idOf(2), title: "next", content: "z", author: "a" }))
      assert.isTrue(Option.isNone(yield* store.windowOf(idOf(1))))
      assert.isTrue(Option.isSome(yield* store.windowOf(idOf(2))))
      assert.strictEqual((yield* store.get(idOf(1))).content, "y".repeat(500))
    }).pipe(
      Effect.provide(
        VersionedStore.layerFromJournal.pipe(
          Layer.provideMerge(MemoryJournal.layer),
          Layer.provide(VersionedStore.layerBudget({ maxDocuments: 10, maxBytes: 100 }))
        )
      ),
      Effect.scoped
    ))

  it.live("list pages neither skip nor repeat a document while others are created, changed and deleted", () =>
    Effect.gen(function*() {
      const store = yield* DocumentStore.DocumentStore
      for (let doc = 1; doc <= 40; doc++) {
        yield* execute(Decider.Command.Create({ documentId: idOf(doc), title: `t${doc}`, content: "c", author: "ann" }))
      }
      // Writers go on while the pages are read: new documents, changes, deletions of old ones.
      const writers = Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) =>
          Effect.zipRight(
            execute(Decider.Command.Create({ documentId: idOf(100 + i), title: "new", content: "c", author: "bob" })),
            execute(
              i % 2 === 0
                ? Decider.Command.Update({ documentId: idOf(i + 1), content: `c${i}`, editor: "bob" })
                : Decider.Command.Delete({ documentId: idOf(i + 1), actor: "bob", reason: "r" })
            )
          ).pipe(Effect.zipRight(Effect.yieldNow())),
        { discard: true }
      )
      const pages = Effect.gen(function*() {
        const seen: Array<string> = []
        let after: string | undefined
        do {
          const page = yield* store.list({ after, limit: 3, include: "all" })
          seen.push(...page.documents.map((d) => d.id))
          after = page.next
          yield* Effect.yieldNow()
        } while (after !== undefined)
        return seen
      })
      const [seen] = yield* Effect.all([pages, writers], { concurrency: "unbounded" })
      assert.strictEqual(new Set(seen).size, seen.length, "a document came twice")
      for (let doc = 1; doc <= 40; doc++) assert.include(seen, idOf(doc), `document ${doc} was skipped`)
      // In creation order.
      const sequence = seen.map((id) => Number.parseInt(id.slice(-12), 16))
      assert.deepStrictEqual(sequence.slice(0, 40), Array.from({ length: 40 }, (_, i) => i + 1))
    }).pipe(
      Effect.provide(
        VersionedStore.layerFromJournal.pipe(
          Layer.provideMerge(Snapshots.layerMemory),
          Layer.provideMerge(MemoryJournal.layer),
          Layer.provide(VersionedStore.layerBudget({ maxDocuments: 5 }))
        )
      ),
      Effect.scoped
    ))
})
