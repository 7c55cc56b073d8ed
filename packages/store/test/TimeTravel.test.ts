import { assert, describe, it } from "@effect/vitest"
import { Access, Documents } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { MemoryJournal, VersionedStore } from "../src/index.js"
import { quiet } from "./fixtures/events.js"

const layer = Layer.mergeAll(VersionedStore.layerFromJournal.pipe(Layer.provideMerge(MemoryJournal.layer)), quiet())

describe("Documents time travel", () => {
  it.effect("asOf: the version that was current at an instant; refuses before creation and bad instants", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 1, 9))
      const id = yield* Documents.create({ title: "Plan", content: "Draft" }).pipe(Access.as("ann"))
      yield* TestClock.adjust("1 hour")
      yield* Documents.update(id, { content: "Ship Friday" }).pipe(Access.as("bob"))
      yield* TestClock.adjust("1 hour")
      yield* Documents.update(id, { title: "Launch plan" }).pipe(Access.as("eve"))

      assert.strictEqual((yield* Documents.asOf(id, "2026-11-01T09:30:00Z")).content, "Draft")
      assert.strictEqual((yield* Documents.asOf(id, Date.UTC(2026, 10, 1, 10))).version, 2)
      assert.strictEqual((yield* Documents.asOf(id, new Date(Date.UTC(2027, 0, 1)))).title, "Launch plan")
      const early = yield* Effect.flip(Documents.asOf(id, "2026-11-01T08:59:59Z"))
      assert.strictEqual(early._tag, "NotYetCreated")
      assert.strictEqual(
        early.message,
        `document ${id} did not exist yet at 2026-11-01T08:59:59.000Z; it was created at 2026-11-01T09:00:00.000Z`
      )
      const bad = yield* Effect.flip(Documents.asOf(id, "next tuesday"))
      assert.strictEqual(bad._tag, "InvalidInput")
      const unknown = yield* Effect.flip(Documents.asOf("00000000-0000-4000-8000-00000000ffff", DateTime.unsafeNow()))
      assert.strictEqual(unknown._tag, "DocumentNotFound")
    }).pipe(Effect.provide(layer)))

  it.effect("diff: the fields that changed between two versions, old and new, and who changed them", () =>
    Effect.gen(function*() {
      const id = yield* Documents.create({ title: "Plan", content: "Draft" }).pipe(Access.as("ann"))
      yield* Documents.update(id, { content: "Ship Friday" }).pipe(Access.as("bob"))
      yield* Documents.update(id, { title: "Launch plan" }).pipe(Access.as("eve"))
      yield* Documents.update(id, { content: "Ship Monday" }).pipe(Access.as("bob"))
      yield* Documents.remove(id, { reason: "cancelled" }).pipe(Access.as("ann"))

      const diff = yield* Documents.diff(id, 1, 4)
      assert.deepStrictEqual(diff.changes, [
        { field: "title", before: "Plan", after: "Launch plan" },
        { field: "content", before: "Draft", after: "Ship Monday" }
      ])
      assert.deepStrictEqual(diff.editors, ["bob", "eve"])
      const deletion = yield* Documents.diff(id, 4, 5)
      assert.deepStrictEqual(deletion.changes.map((c) => [c.field, c.before, c.after]), [
        ["deletedAt", undefined, deletion.changes[0]!.after],
        ["deletionReason", undefined, "cancelled"]
      ])
      assert.deepStrictEqual((yield* Documents.diff(id, 3, 3)).changes, [])
      const backwards = yield* Documents.diff(id, 2, 1)
      assert.deepStrictEqual(backwards.changes, [{ field: "content", before: "Ship Friday", after: "Draft" }])
      assert.strictEqual((yield* Effect.flip(Documents.diff(id, 1, 9)))._tag, "VersionNotFound")
      assert.strictEqual((yield* Effect.flip(Documents.diff(id, 0, 1)))._tag, "InvalidInput")
    }).pipe(Effect.provide(layer)))

  it.effect("history tells who did what and when, version by version", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 1, 9))
      const id = yield* Documents.create({ title: "Plan", content: "Draft" }).pipe(Access.as("ann"))
      yield* TestClock.adjust("5 minutes")
      yield* Documents.update(id, { content: "Ship Friday" }).pipe(Access.as("bob"))
      const history = yield* Documents.history(id)
      assert.deepStrictEqual(
        history.map((v) => [v.version, v.event.actor, DateTime.formatIso(v.event.occurredAt), v.event._tag]),
        [
          [1, "ann", "2026-11-01T09:00:00.000Z", "DocumentCreated"],
          [2, "bob", "2026-11-01T09:05:00.000Z", "DocumentUpdated"]
        ]
      )
    }).pipe(Effect.provide(layer)))
})
