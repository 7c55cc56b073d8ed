/**
 * Crypto-shredding with several processes on one database: a document one process forgets is
 * forgotten by the others that are running, their store, their read models and their key cache,
 * as soon as they follow the journal's record of it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, DocumentStore } from "@nerv/core"
import { AuthorTitles, Projection } from "@nerv/store"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Nerv from "../../src/Nerv.js"
import * as Admin from "../../src/security/Admin.js"
import { DataKeys } from "../../src/security/DataKeys.js"
import * as Rbac from "../../src/security/Rbac.js"

const policy = Rbac.layerPolicy({
  principals: { ann: ["editor"], dpo: ["dpo"] },
  roles: { editor: ["documents:read", "documents:write"], dpo: ["documents:read", "documents:forget"] }
})
const ann = Access.as("ann")
const dpo = Access.as("dpo")

/** A process on the file: its own connections, store, key cache and `Forgetting`. */
const process = (filename: string) =>
  Layer.build(
    Nerv.layerSqlite({ filename, policy }).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.None)))
  )

describe("forgetting across processes", () => {
  it.scoped("what one process forgets, another running process forgets too: store, read model, key cache", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-forget-processes-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const filename = join(dir, "nerv.db")
      const a = yield* process(filename)
      const b = yield* process(filename)
      const on =
        (context: Context.Context<Nerv.SqliteServices>) =>
        <X, E, R extends Nerv.SqliteServices | Access.Principal>(effect: Effect.Effect<X, E, R>) =>
          Effect.provide(Access.as(effect, "ann"), context)

      const payroll = yield* on(a)(Documents.create({ title: "Payroll", content: "salary: 4242" }).pipe(ann))
      // b reads it (its store and key cache hold it) and folds it into a read model.
      assert.strictEqual((yield* on(b)(Documents.get(payroll).pipe(ann))).content, "salary: 4242")
      assert.isDefined(Context.get(b, DataKeys).peek(payroll))
      const titles = yield* Effect.provide(Projection.run(AuthorTitles.projection, { pollInterval: 5 }), b)
      const before = yield* titles.awaitPosition(1)
      assert.deepStrictEqual([...AuthorTitles.titlesOf(before.state, "ann").values()], ["Payroll"])

      yield* on(a)(Admin.forget(payroll).pipe(dpo))

      // b's next read follows the journal's record of the forgetting.
      const refused = yield* Effect.flip(on(b)(Documents.get(payroll)))
      assert.strictEqual(refused._tag, "DocumentForgotten")
      assert.strictEqual((yield* Effect.flip(on(b)(Documents.history(payroll))))._tag, "DocumentForgotten")
      assert.deepStrictEqual(yield* on(b)(Documents.list()), [])
      // Its shape stays readable.
      const shape = yield* on(b)(Effect.flatMap(DocumentStore.DocumentStore, (store) => store.shape(payroll)))
      assert.deepStrictEqual(shape.map((v) => [v.version, v.actor]), [[1, "ann"]])
      // b's key cache no longer holds the key, and its read model dropped the title.
      assert.isUndefined(Context.get(b, DataKeys).peek(payroll))
      assert.deepStrictEqual([...AuthorTitles.titlesOf((yield* titles.get).state, "ann").values()], [])
      // And b refuses to change it.
      const update = yield* Effect.flip(on(b)(Documents.update(payroll, { content: "again" }).pipe(Access.as("ann"))))
      assert.strictEqual(update._tag, "DocumentForgotten")
    }))
})
