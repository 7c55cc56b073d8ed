import { assert, describe, it } from "@effect/vitest"
import { Decider, Journal } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { join } from "node:path"
import { AuthorTitles, Checkpoints, MemoryJournal, Projection, VersionedStore } from "../src/index.js"
import { counter, expectedCounter } from "./fixtures/counter.js"
import { execute, idOf, sqliteJournal, tempDir } from "./fixtures/events.js"

const writeSome = (from: number, to: number) =>
  Effect.forEach(Array.from({ length: to - from + 1 }, (_, i) => from + i), (n) =>
    Effect.gen(function*() {
      yield* execute(Decider.Command.Create({ documentId: idOf(n), title: `t${n}`, content: "c", author: `a${n % 3}` }))
      yield* execute(Decider.Command.Update({ documentId: idOf(n), title: `t${n}'`, editor: "eve" }))
      if (n % 4 === 0) yield* execute(Decider.Command.Delete({ documentId: idOf(n), actor: "eve", reason: "r" }))
    }), { discard: true })

const caughtUp = <S, I>(projection: Projection.Projection<S, I>) =>
  Effect.gen(function*() {
    const running = yield* Projection.run(projection, { pageSize: 7, pollInterval: 5 })
    return yield* running.awaitPosition(yield* Effect.flatMap(Journal.Journal, (j) => j.head))
  })

describe("Projection", () => {
  it.live("AuthorTitles: each author's live documents with their latest titles", () =>
    Effect.gen(function*() {
      yield* writeSome(1, 9)
      const { state } = yield* caughtUp(AuthorTitles.projection)
      assert.deepStrictEqual(Object.fromEntries(AuthorTitles.titlesOf(state, "a1")), {
        [idOf(1)]: "t1'",
        [idOf(7)]: "t7'"
      })
      assert.deepStrictEqual([...AuthorTitles.titlesOf(state, "a0").values()].sort(), ["t3'", "t6'", "t9'"])
      // Documents 4 and 8 were deleted: they left their authors' lists.
      assert.deepStrictEqual([...AuthorTitles.titlesOf(state, "a2").keys()].sort(), [idOf(2), idOf(5)])
      assert.strictEqual(AuthorTitles.titlesOf(state, "eve").size, 0)
    }).pipe(
      Effect.provide(
        Layer.mergeAll(VersionedStore.layerFromJournal, Checkpoints.layerMemory).pipe(
          Layer.provideMerge(MemoryJournal.layer)
        )
      ),
      Effect.scoped
    ))

  it.live("resumes from its stored checkpoint after a restart, folding each entry exactly once", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      const layer = VersionedStore.layerFromJournal.pipe(Layer.provideMerge(sqliteJournal(file)))
      const first = yield* Effect.gen(function*() {
        yield* writeSome(1, 10)
        return yield* caughtUp(counter)
      }).pipe(Effect.provide(layer), Effect.scoped)
      assert.deepStrictEqual(first.state, expectedCounter(first.position))

      yield* Effect.gen(function*() {
        // Before it runs again: the checkpoint holds the state and the position together.
        const stored = yield* Projection.load(counter)
        assert.deepStrictEqual(stored, first)
        yield* writeSome(11, 15)
        const second = yield* caughtUp(counter)
        assert.isAbove(second.position, first.position)
        assert.deepStrictEqual(second.state, expectedCounter(second.position))
        // Rebuilt from zero, it reaches the same state.
        const rebuilt = yield* Projection.run(counter, { rebuild: true, pageSize: 3, pollInterval: 5 })
        assert.deepStrictEqual(yield* rebuilt.awaitPosition(second.position), second)
      }).pipe(Effect.provide(layer), Effect.scoped)
    }).pipe(Effect.scoped))
})
