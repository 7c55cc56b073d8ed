import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { SagaStore } from "../src/index.js"
import { backends } from "./fixtures/backends.js"

/** Each store the sagas keep their progress in, with a way to make one save fail half-way, if it has one. */
const subjects: ReadonlyArray<{
  readonly name: string
  readonly store: Effect.Effect<
    { readonly store: SagaStore.SagaStoreService; readonly refuseKey?: (key: string) => Effect.Effect<void> },
    never,
    Scope.Scope
  >
}> = [
  {
    name: "memory",
    store: Effect.map(Layer.build(SagaStore.layerMemory), (context) => ({
      store: Context.get(context, SagaStore.SagaStore)
    }))
  },
  ...backends.map((backend) => ({
    name: backend.name,
    store: Effect.gen(function*() {
      const address = yield* backend.database
      const context = yield* Layer.build(
        SagaStore.layerSql.pipe(Layer.provideMerge(backend.journal(address)))
      )
      const sql = yield* Effect.provide(SqlClient.SqlClient, Layer.succeedContext(context))
      const store = yield* Effect.provide(SagaStore.SagaStore, Layer.succeedContext(context))
      // A constraint the database checks inside the save's transaction, after the checkpoint's write.
      const refuseKey = (key: string) =>
        sql.onDialectOrElse({
          sqlite: () =>
            sql.unsafe(`CREATE TRIGGER refuse BEFORE INSERT ON nerv_saga_instances WHEN NEW.key = '${key}'
              BEGIN SELECT RAISE(ABORT, 'refused'); END`),
          orElse: () => sql.unsafe(`ALTER TABLE nerv_saga_instances ADD CONSTRAINT refuse CHECK (key <> '${key}')`)
        }).pipe(Effect.orDie, Effect.asVoid)
      return { store, refuseKey }
    }).pipe(Effect.orDie)
  }))
]

const instance = (key: string, done: boolean, n: number): SagaStore.StoredInstance => ({
  key,
  done,
  data: { n, text: `état ${n}`, nested: { list: [n, n + 1] } }
})

describe("SagaStore", () => {
  for (const subject of subjects) {
    it.scoped(`${subject.name}: stores the checkpoint and changed instances together, and reads them back`, () =>
      Effect.gen(function*() {
        const { store } = yield* subject.store
        assert.deepStrictEqual(yield* store.load("review"), { position: 0, active: [] })
        yield* store.save("review", 3, [instance("b", false, 1), instance("a", false, 2)])
        yield* store.save("review", 7, [instance("b", true, 3)])
        yield* store.save("other", 1, [instance("a", false, 9)])
        assert.deepStrictEqual(yield* store.load("review"), { position: 7, active: [instance("a", false, 2)] })
        assert.deepStrictEqual(yield* store.instances("review"), [instance("a", false, 2), instance("b", true, 3)])
        assert.deepStrictEqual(yield* store.instance("review", "b"), Option.some(instance("b", true, 3)))
        assert.deepStrictEqual(yield* store.instance("review", "c"), Option.none())
        // The checkpoint alone moves too.
        yield* store.save("review", 12, [])
        assert.strictEqual((yield* store.load("review")).position, 12)
        assert.deepStrictEqual(yield* store.load("other"), { position: 1, active: [instance("a", false, 9)] })
      }))

    it.scoped(`${subject.name}: a save that fails half-way stores nothing`, () =>
      Effect.gen(function*() {
        const { refuseKey, store } = yield* subject.store
        yield* store.save("review", 3, [instance("a", false, 1)])
        // A value JSON cannot hold fails before anything is written.
        const cyclic: Record<string, unknown> = {}
        cyclic.self = cyclic
        const unencodable = yield* Effect.exit(
          store.save("review", 4, [instance("a", false, 2), { key: "x", done: false, data: cyclic }])
        )
        assert.strictEqual(unencodable._tag, "Failure")
        if (refuseKey !== undefined) {
          yield* refuseKey("boom")
          const refused = yield* Effect.flip(
            store.save("review", 5, [instance("a", true, 2), instance("boom", false, 0)])
          )
          assert.strictEqual(refused._tag, "JournalError")
        }
        assert.deepStrictEqual(yield* store.load("review"), { position: 3, active: [instance("a", false, 1)] })
      }))
  }
})
