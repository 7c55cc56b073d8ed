import { assert, describe, it } from "@effect/vitest"
import { Decider, Document, type DocumentEvent, DocumentStore, Journal } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import { MemoryJournal, Rebuild, VersionedStore } from "../src/index.js"
import { created, deleted, listAll, updated } from "./fixtures/events.js"

const idOf = (n: number) => Document.DocumentId.make(`00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`)

/** Decides a command against the store's current state, the way the programs do. */
const decideOn = (store: DocumentStore.DocumentStoreService, command: Decider.Command, n: number) =>
  Effect.map(store.current(command.documentId), (state) =>
    Decider.decide(Option.getOrUndefined(state), command, {
      eventId: idOf(1_000_000 + n),
      now: DateTime.unsafeMake(n * 1000),
      correlationId: "c",
      causationId: "c"
    }))

/** A random workload over a few documents: creates, updates and deletes, some of them refused. */
const workload = FastCheck.array(
  FastCheck.tuple(FastCheck.integer({ min: 1, max: 4 }), FastCheck.integer({ min: 0, max: 9 }), FastCheck.string()),
  { maxLength: 60 }
).map((steps) =>
  steps.map(([doc, kind, text]): Decider.Command =>
    kind === 0
      ? Decider.Command.Delete({ documentId: idOf(doc), actor: "ann", reason: "gone" })
      : kind < 3
      ? Decider.Command.Create({ documentId: idOf(doc), title: "t", content: text, author: "ann" })
      : Decider.Command.Update({ documentId: idOf(doc), content: text, editor: "bob" })
  )
)

describe("VersionedStore", () => {
  it.effect.prop(
    "a store rebuilt from the journal equals the live one",
    [workload],
    ([commands]) =>
      Effect.gen(function*() {
        const journal = yield* MemoryJournal.make
        const live = yield* VersionedStore.make
        let n = 0
        for (const command of commands) {
          const decided = yield* decideOn(live, command, n++)
          if (Either.isRight(decided) && decided.right.length > 0) {
            const state = yield* live.current(command.documentId)
            yield* journal.append(decided.right, Option.match(state, { onNone: () => 0, onSome: (d) => d.version }))
            yield* live.apply(decided.right)
          }
        }
        const rebuilt = yield* VersionedStore.make
        yield* Rebuild.replay(rebuilt, journal)
        assert.deepStrictEqual(yield* listAll(rebuilt), yield* listAll(live))
        for (let doc = 1; doc <= 4; doc++) {
          const [a, b] = yield* Effect.all([live.history(idOf(doc)), rebuilt.history(idOf(doc))].map(Effect.either))
          assert.deepStrictEqual(a, b)
        }
      })
  )

  it.effect("refuses a batch with a gap as a whole and keeps what it had", () =>
    Effect.gen(function*() {
      const store = yield* VersionedStore.make
      const created = yield* decideOn(
        store,
        Decider.Command.Create({ documentId: idOf(1), title: "a", content: "b", author: "ann" }),
        1
      )
      yield* store.apply(Either.getOrThrow(created))
      const v2 = Either.getOrThrow(
        yield* decideOn(store, Decider.Command.Update({ documentId: idOf(1), content: "c", editor: "bob" }), 2)
      )
      const other = Either.getOrThrow(
        yield* decideOn(
          store,
          Decider.Command.Create({ documentId: idOf(2), title: "x", content: "y", author: "cid" }),
          3
        )
      )
      const skipping = { ...v2[0]!, version: 3 } as DocumentEvent.DocumentEvent
      const error = yield* Effect.flip(store.apply([...other, skipping]))
      assert.strictEqual(error._tag, "VersionConflict")
      assert.strictEqual(error.message, `document ${idOf(1)} is at version 1, expected 2; read it again and retry`)
      assert.deepStrictEqual((yield* listAll(store)).map((d) => d.id), [idOf(1)])
      assert.strictEqual((yield* store.get(idOf(1))).version, 1)
    }))

  it.effect("applies a batch that goes back and forth between documents as it applies them one by one", () =>
    Effect.gen(function*() {
      const batch = [
        created(1),
        updated(1, 2, { content: "1.2" }),
        created(2),
        updated(1, 3, { title: "one" }),
        updated(1, 4, { content: "1.4" }),
        updated(2, 2, { content: "2.2" }),
        deleted(1, 5),
        created(3)
      ]
      const whole = yield* VersionedStore.make
      yield* whole.apply(batch)
      const single = yield* VersionedStore.make
      for (const event of batch) yield* single.apply([event])
      assert.deepStrictEqual(yield* listAll(whole), yield* listAll(single))
      for (let doc = 1; doc <= 3; doc++) {
        assert.deepStrictEqual(yield* whole.history(idOf(doc)), yield* single.history(idOf(doc)))
        assert.deepStrictEqual(yield* whole.windowOf(idOf(doc)), yield* single.windowOf(idOf(doc)))
      }
      assert.deepStrictEqual((yield* whole.history(idOf(1))).map((v) => v.version), [1, 2, 3, 4, 5])
      assert.deepStrictEqual((yield* listAll(whole)).map((d) => d.id), [idOf(2), idOf(3)])
      // A later batch extends what the first one built, and a refused one leaves it as it was.
      yield* whole.apply([updated(2, 3, { content: "2.3" }), updated(3, 2, { content: "3.2" })])
      const refused = yield* Effect.flip(whole.apply([updated(2, 4, { content: "2.4" }), updated(3, 4, {})]))
      assert.strictEqual(refused._tag, "VersionConflict")
      assert.strictEqual((yield* whole.get(idOf(2))).version, 3)
      assert.deepStrictEqual((yield* whole.history(idOf(2))).map((v) => v.document.content), [
        "content of 2",
        "2.2",
        "2.3"
      ])
    }))

  it.effect("serves every version, lists in creation order, and rebuilds through its layer", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const store = yield* VersionedStore.make
      let n = 0
      const run = (command: Decider.Command) =>
        Effect.gen(function*() {
          const events = Either.getOrThrow(yield* decideOn(store, command, n++))
          const state = yield* store.current(command.documentId)
          yield* journal.append(events, Option.match(state, { onNone: () => 0, onSome: (d) => d.version }))
          yield* store.apply(events)
        })
      yield* run(Decider.Command.Create({ documentId: idOf(3), title: "third", content: "1", author: "ann" }))
      yield* run(Decider.Command.Create({ documentId: idOf(1), title: "first", content: "1", author: "ann" }))
      for (const content of ["2", "3", "4"]) {
        yield* run(Decider.Command.Update({ documentId: idOf(3), content, editor: "bob" }))
      }
      assert.deepStrictEqual((yield* listAll(store)).map((d) => d.title), ["third", "first"])
      assert.deepStrictEqual((yield* store.getAt(idOf(3), 2)).content, "2")
      assert.strictEqual((yield* Effect.flip(store.getAt(idOf(3), 9)))._tag, "VersionNotFound")
      const rebuilt = yield* Effect.provide(DocumentStore.DocumentStore, VersionedStore.layerFromJournal)
      assert.deepStrictEqual(yield* rebuilt.history(idOf(3)), yield* store.history(idOf(3)))
    }).pipe(Effect.provide(MemoryJournal.layer)))
})
