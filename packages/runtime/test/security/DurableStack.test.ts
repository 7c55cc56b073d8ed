/**
 * The whole secured durable stack on one SQLite file, wired the way `Nerv.layerSqlite` is meant to
 * wire it: sealed journal payloads, wrapped data keys and the audit trail in the same database.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, Notifier } from "@nerv/core"
import { PayloadCodec, Snapshots, SqliteJournal, VersionedStore } from "@nerv/store"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as EventBus from "../../src/EventBus.js"
import * as Ids from "../../src/Ids.js"
import * as Admin from "../../src/security/Admin.js"
import * as AuditTrail from "../../src/security/AuditTrail.js"
import * as KeyStore from "../../src/security/KeyStore.js"
import * as PolicyGuard from "../../src/security/PolicyGuard.js"
import * as Rbac from "../../src/security/Rbac.js"
import * as SealedPayloads from "../../src/security/SealedPayloads.js"
import { masterKeys } from "./fixtures.js"

const stack = (filename: string) => {
  const client = SqliteJournal.layerClient({ filename })
  const codec = SealedPayloads.layerConfig(KeyStore.layerSql).pipe(Layer.provide(PayloadCodec.layerJson))
  const journal = SqliteJournal.layer().pipe(Layer.provideMerge(codec))
  const store = VersionedStore.layerFromJournal.pipe(
    Layer.provideMerge(journal),
    Layer.provide(Snapshots.layerPolicy(1_000))
  )
  const guard = PolicyGuard.layer.pipe(
    Layer.provideMerge(AuditTrail.layerSql),
    Layer.provide(Rbac.layerPolicy({
      principals: { ann: ["editor"], eve: [], aud: ["auditor"] },
      roles: { editor: ["documents:read", "documents:write"], auditor: ["audit:read"] }
    }))
  )
  return Layer.mergeAll(
    store,
    guard,
    EventBus.layer(),
    Layer.succeed(Notifier.Notifier, { notify: () => Effect.void })
  ).pipe(Layer.provideMerge(Ids.layerRandom), Layer.provideMerge(client), Layer.orDie)
}

const env = (entries: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(entries))))

describe("the secured durable stack", () => {
  it.effect("keeps content sealed on disk, rebuilds after a restart, and audits every call", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "nerv-stack-"))
      const filename = join(dir, "nerv.db")
      const keys = env({ NERV_MASTER_KEYS: masterKeys.k1 })
      const quiet = Logger.remove(Logger.defaultLogger)
      const ann = Access.as("ann")
      try {
        const id = yield* Effect.gen(function*() {
          const id = yield* Documents.create({ title: "Payroll", content: "salary of bob: forty-two thousand" })
            .pipe(ann)
          yield* Documents.update(id, { content: "salary of bob: 4343" }).pipe(ann)
          const denied = yield* Effect.flip(Documents.get(id).pipe(Access.as("eve")))
          assert.strictEqual(denied._tag, "PermissionDenied")
          return id
        }).pipe(Effect.provide(stack(filename)), Effect.provide(keys), Effect.provide(quiet))

        const [document, verification, tables] = yield* Effect.gen(function*() {
          const document = yield* Documents.get(id).pipe(ann)
          const verification = yield* Admin.verifyAudit().pipe(
            Access.as("aud")
          )
          const sql = yield* SqlClient.SqlClient
          const tables = yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'
            AND name IN ('nerv_events', 'nerv_data_keys', 'nerv_audit') ORDER BY name`
          return [document, verification, tables.map((t) => t.name)] as const
        }).pipe(Effect.provide(stack(filename)), Effect.provide(keys), Effect.provide(quiet))
        assert.strictEqual(document.content, "salary of bob: 4343")
        assert.strictEqual(verification._tag, "Intact")
        // create (2) + update (2) + denied get (1) before the restart; get (2) after; verify's own "allowed".
        assert.strictEqual(verification._tag === "Intact" && verification.count, 8)
        assert.deepStrictEqual(tables, ["nerv_audit", "nerv_data_keys", "nerv_events"])

        const onDisk = Buffer.concat(
          [filename, `${filename}-wal`].flatMap((file) => {
            try {
              return [readFileSync(file)]
            } catch {
              return []
            }
          })
        )
        assert.isTrue(onDisk.includes(Buffer.from("Documents.create")), "the audit trail is in the file")
        assert.isFalse(onDisk.includes(Buffer.from("forty-two thousand")), "a payload is in the file in clear")
        assert.isFalse(onDisk.includes(Buffer.from("Payroll")), "a title is in the file in clear")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }))
})
