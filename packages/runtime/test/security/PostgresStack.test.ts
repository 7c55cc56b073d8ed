/**
 * `Nerv.layerPostgres`, the secured durable stack in a PostgreSQL database that two nodes share:
 * sealed payloads under the master keys both nodes are configured with, the data keys and the
 * audit trail in the same database, and forgetting that reaches the other node.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents } from "@nerv/core"
import { PostgresJournal } from "@nerv/store"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Nerv from "../../src/Nerv.js"
import * as Admin from "../../src/security/Admin.js"
import * as Rbac from "../../src/security/Rbac.js"
import { tempSchema } from "../fixtures/postgres.js"
import { masterKeys } from "./fixtures.js"

const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["NERV_MASTER_KEYS", masterKeys.k1]])))
const policy = Rbac.layerPolicy({
  principals: { ann: ["editor"], root: ["admin"], aud: ["auditor"] },
  roles: {
    editor: ["documents:read", "documents:write"],
    admin: ["documents:read", "documents:forget"],
    auditor: ["audit:read"]
  }
})
const ann = Access.as("ann")

describe("Nerv.layerPostgres", () => {
  it.live("two nodes on one database: sealed at rest, each reads what the other wrote, forgetting reaches both", () =>
    Effect.gen(function*() {
      const url = yield* tempSchema
      const node = () =>
        Effect.map(
          Layer.build(
            Nerv.layerPostgres({ url, policy }).pipe(Layer.provide(config), Layer.orDie)
          ),
          (context) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
            Effect.provide(effect, context as Context.Context<never>) as Effect.Effect<A, E, never>
        )
      const a = yield* node()
      const b = yield* node()
      const id = yield* a(Documents.create({ title: "Payroll", content: "salary of bob: 42" }).pipe(ann))
      assert.strictEqual((yield* b(Documents.get(id).pipe(ann))).content, "salary of bob: 42")
      yield* b(Documents.update(id, { content: "salary of bob: 43" }).pipe(ann))
      assert.strictEqual((yield* a(Documents.get(id).pipe(ann))).content, "salary of bob: 43")

      // At rest: sealed rows, one wrapped data key, an audit record per call.
      const rows = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        return yield* sql<{ readonly encoding: string; readonly payload: Uint8Array }>`
          SELECT encoding, payload FROM nerv_events ORDER BY position`
      }).pipe(Effect.provide(Layer.orDie(PostgresJournal.layerClient({ url: Redacted.make(url) }))))
      assert.deepStrictEqual(rows.map((row) => row.encoding), ["json+aes256gcm", "json+aes256gcm"])
      for (const row of rows) assert.notInclude(Buffer.from(row.payload).toString("latin1"), "salary")

      yield* a(Admin.forget(id).pipe(Access.as("root")))
      const forgotten = yield* Effect.flip(b(Documents.get(id).pipe(ann)))
      assert.strictEqual(forgotten._tag, "DocumentForgotten")

      const audit = yield* b(Admin.verifyAudit().pipe(Access.as("aud")))
      assert.strictEqual(audit._tag, "Intact")
      // create, get, update, get, forget, get (denied by the forgetting, still audited), verify.
      assert.isAtLeast(audit._tag === "Intact" ? audit.count : 0, 7)
    }).pipe(Effect.scoped, Effect.provide(Logger.remove(Logger.defaultLogger))))
})
