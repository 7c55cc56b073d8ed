import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents } from "@nerv/core"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseFile, Nerv, Rbac } from "../src/index.js"
import { masterKeys } from "./security/fixtures.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-file-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const withKeys = Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["NERV_MASTER_KEYS", masterKeys.k1]])))

const reasonOf = <A, E extends { readonly message: string }>(layer: Layer.Layer<A, E>) =>
  Effect.map(Effect.flip(Effect.scoped(Layer.build(layer))), (error) => error.message)

describe("DatabaseFile.layerClient", () => {
  it.scoped("refuses a missing file unless asked to create it, and then creates nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "data", "nerv.db")
      const reason = yield* reasonOf(DatabaseFile.layerClient(file))
      assert.include(reason, `there is no database at ${file}, and nothing was created`)
      assert.deepStrictEqual(readdirSync(dir), [])
      const created = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe("SELECT 1 AS one")).pipe(
        Effect.provide(DatabaseFile.layerClient(file, { create: true }))
      )
      assert.deepStrictEqual(created, [{ one: 1 }])
      assert.deepStrictEqual(readdirSync(dir), ["data"])
    }))

  it.scoped("refuses what is not a database by name: a folder, text, an empty name", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      mkdirSync(join(dir, "folder"))
      writeFileSync(join(dir, "text"), "hello")
      assert.include(yield* reasonOf(DatabaseFile.layerClient(join(dir, "folder"))), "is a folder")
      assert.include(yield* reasonOf(DatabaseFile.layerClient(join(dir, "text"), { create: true })), "not a SQLite")
      assert.include(yield* reasonOf(DatabaseFile.layerClient("", { create: true })), "file name is empty")
      assert.include(yield* reasonOf(DatabaseFile.layerClient(join(dir, "missing"), { readOnly: true })), "no database")
    }))
})

describe("Nerv.layerSqlite and creation", () => {
  it.scoped("creates its database by default (for code), and refuses a missing one with create: false", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "nerv.db")
      const refused = yield* reasonOf(Nerv.layerSqlite({ filename: file, create: false }))
      assert.include(refused, `there is no database at ${file}`)
      assert.deepStrictEqual(readdirSync(dir), [])
      const id = yield* Documents.create({ title: "Plan", content: "" }).pipe(Access.as("ann")).pipe(
        Effect.provide(Nerv.layerSqlite({ filename: file, policy: Rbac.layerAllowAll }))
      )
      const again = yield* Documents.get(id).pipe(
        Access.as("ann"),
        Effect.provide(Nerv.layerSqlite({ filename: file, create: false, policy: Rbac.layerAllowAll }))
      )
      assert.strictEqual(again.title, "Plan")
    }).pipe(withKeys))
})
