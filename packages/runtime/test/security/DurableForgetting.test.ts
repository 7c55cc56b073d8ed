/**
 * `Nerv.layerSqlite` end to end: encryption on by default (with a local key file when no master key
 * is configured), crypto-shredding that survives restarts, and encryption explicitly off.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents } from "@nerv/core"
import { AuthorTitles, Projection } from "@nerv/store"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Nerv from "../../src/Nerv.js"
import * as Admin from "../../src/security/Admin.js"
import * as Keyring from "../../src/security/Keyring.js"
import * as Rbac from "../../src/security/Rbac.js"
import * as SealedPayloads from "../../src/security/SealedPayloads.js"

const policy = Rbac.layerPolicy({
  principals: { ann: ["editor"], bob: ["editor"], dpo: ["dpo"] },
  roles: {
    editor: ["documents:read", "documents:write", "documents:delete"],
    dpo: ["documents:read", "documents:forget"]
  }
})
const ann = Access.as("ann")
const bob = Access.as("bob")
const dpo = Access.as("dpo")

/** Runs `program` in one "process": a fresh layer on the file, with this configuration and a log sink. */
const session = <A, E, R>(
  filename: string,
  env: Record<string, string>,
  logs: Array<string>,
  program: Effect.Effect<A, E, R>
) =>
  program.pipe(
    Effect.scoped,
    Access.as("ann"),
    Effect.provide(Nerv.layerSqlite({ filename, snapshotEvery: 2, policy })),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    Effect.provide(Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ message }) => void logs.push(Array.isArray(message) ? message.join(" ") : String(message)))
    ))
  )

/** The database file and its WAL, as bytes. */
const onDisk = (filename: string) =>
  Buffer.concat([filename, `${filename}-wal`].flatMap((file) => existsSync(file) ? [readFileSync(file)] : []))

const withTempDir = <A, E, R>(use: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-forget-"))),
    use,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const forgotten = <A, E extends { readonly _tag: string; readonly message: string }, R>(
  read: Effect.Effect<A, E, R>
) => Effect.map(Effect.flip(read), (error) => assert.strictEqual(error._tag, "DocumentForgotten", error.message))

/** A second connection to the database, to look at what is stored. */
const inDatabase = <A, E>(filename: string, query: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.provide(query, SqliteClient.layer({ filename }))

/** What a user can read of a forgotten document and of one that was not. */
const checkForgotten = (payroll: string, memo: string) =>
  Effect.gen(function*() {
    yield* forgotten(Documents.get(payroll).pipe(ann))
    yield* forgotten(Documents.history(payroll).pipe(ann))
    yield* forgotten(Documents.at(payroll, 1).pipe(ann))
    yield* forgotten(Documents.update(payroll, { content: "again" }).pipe(ann))
    // Every read: the store itself no longer has the content.
    yield* forgotten(Documents.get(payroll))
    yield* forgotten(Documents.at(payroll, 2))
    yield* forgotten(Documents.asOf(payroll, Date.now()))
    yield* forgotten(Documents.history(payroll))
    yield* forgotten(Documents.update(payroll, { content: "again" }).pipe(Access.as("ann")))
    yield* forgotten(Documents.remove(payroll, { reason: "gone" }).pipe(Access.as("ann")))
    const shape = yield* Documents.shape(payroll).pipe(ann)
    assert.deepStrictEqual(shape.map((v) => [v.version, v.event, v.actor]), [
      [1, "DocumentCreated", "ann"],
      [2, "DocumentUpdated", "bob"],
      [3, "DocumentUpdated", "ann"],
      [4, "DocumentUpdated", "bob"],
      [5, "DocumentUpdated", "ann"]
    ])
    const listed = yield* Documents.list().pipe(ann)
    assert.deepStrictEqual(listed.map((d) => d.id), [memo])
    assert.strictEqual((yield* Documents.list()).length, 1)
    assert.strictEqual((yield* Documents.get(memo).pipe(ann)).content, "lunch at noon")
  })

describe("Nerv.layerSqlite: encryption and crypto-shredding", () => {
  it.live("seals by default, forgets a document everywhere, and stays forgotten after restarts", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "nerv.db")
        const logs: Array<string> = []
        const keyFile = join(dir, "master.key")

        // First start, nothing configured: a key file is generated beside the database.
        const [payroll, memo] = yield* session(
          filename,
          {},
          logs,
          Effect.gen(function*() {
            const payroll = yield* Documents.create({ title: "Payroll", content: "salary of bob: 4242" }).pipe(
              ann
            )
            for (let v = 2; v <= 5; v++) {
              yield* Documents.update(payroll, { content: `salary of bob: 42${v}0` }).pipe(v % 2 ? ann : bob)
            }
            const memo = yield* Documents.create({ title: "Lunch memo", content: "lunch at noon" }).pipe(bob)
            return [payroll, memo] as const
          })
        )
        assert.isTrue(logs.some((line) => line.includes(Keyring.generatedWarning(keyFile))))
        assert.strictEqual(statSync(keyFile).mode & 0o777, 0o600)
        assert.isFalse(logs.some((line) => line.includes("encryption at rest is OFF")))

        // Second start: the same key is read back (no new one), the rebuild takes snapshots of the
        // long history, and then the document is forgotten while a read model holds its title.
        logs.length = 0
        yield* session(
          filename,
          {},
          logs,
          Effect.gen(function*() {
            assert.strictEqual((yield* Documents.get(payroll).pipe(ann)).content, "salary of bob: 4250")
            const snapshots = yield* inDatabase(
              filename,
              Effect.flatMap(SqlClient.SqlClient, (sql) =>
                sql<{ readonly n: number }>`SELECT count(*) AS n FROM nerv_snapshots WHERE document_id = ${payroll}`)
            )
            assert.isAbove(snapshots[0]!.n, 0, "a snapshot of the document was taken before the forget")

            const titles = yield* Projection.run(AuthorTitles.projection)
            const before = yield* titles.awaitPosition(6)
            assert.deepStrictEqual([...AuthorTitles.titlesOf(before.state, "ann").values()], ["Payroll"])

            yield* Admin.forget(payroll).pipe(dpo)
            yield* checkForgotten(payroll, memo)
            // The running read model dropped the title, and so did its stored checkpoint.
            assert.deepStrictEqual([...AuthorTitles.titlesOf((yield* titles.get).state, "ann").values()], [])
            const stored = yield* Projection.load(AuthorTitles.projection)
            assert.deepStrictEqual([...AuthorTitles.titlesOf(stored.state, "ann").values()], [])
          })
        )
        assert.isFalse(
          logs.some((line) =>
            line.includes("generated")
          ),
          "the key file is not generated twice"
        )

        // Third start: the rebuild goes past the forgotten document (its snapshot cannot be opened,
        // its events come back without content) and everything reads as before the restart.
        yield* session(
          filename,
          {},
          logs,
          Effect.gen(function*() {
            yield* checkForgotten(payroll, memo)
            const rebuilt = yield* Projection.run(AuthorTitles.projection, { rebuild: true })
            const { state } = yield* rebuilt.awaitPosition(6)
            assert.deepStrictEqual([...AuthorTitles.titlesOf(state, "ann").values()], [])
            assert.deepStrictEqual([...AuthorTitles.titlesOf(state, "bob").values()], ["Lunch memo"])
          })
        )

        const bytes = onDisk(filename)
        // Only words that are not hex: ids in clear columns are random hex and may contain any digits.
        for (const secret of ["Payroll", "salary of bob", "Lunch memo", "lunch at noon"]) {
          assert.isFalse(bytes.includes(Buffer.from(secret)), `"${secret}" is in the database in clear`)
        }
        assert.isTrue(bytes.includes(Buffer.from("Documents.forget")), "the audit trail is in the same file")
      })
    ))

  it.live("with NERV_ENCRYPTION=off, warns at start and writes payloads in clear", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "nerv.db")
        const logs: Array<string> = []
        const id = yield* session(
          filename,
          { NERV_ENCRYPTION: "off" },
          logs,
          Effect.gen(function*() {
            const id = yield* Documents.create({ title: "Visible title", content: "visible content" }).pipe(ann)
            const error = yield* Effect.flip(Admin.forget(id).pipe(dpo))
            assert.strictEqual(error._tag, "KeyStoreError")
            return id
          })
        )
        assert.isTrue(logs.some((line) => line.includes(SealedPayloads.plaintextWarning)))
        assert.isFalse(existsSync(join(dir, "master.key")), "no master key is needed with encryption off")
        const bytes = onDisk(filename)
        assert.isTrue(bytes.includes(Buffer.from("Visible title")))
        assert.isTrue(bytes.includes(Buffer.from("visible content")))
        // And it reads back after a restart.
        const document = yield* session(filename, { NERV_ENCRYPTION: "off" }, logs, Documents.get(id).pipe(ann))
        assert.strictEqual(document.content, "visible content")
      })
    ))

  it.live("never generates a key over sealed data: a missing key file is a start-up error", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "nerv.db")
        const logs: Array<string> = []
        yield* session(filename, {}, logs, Documents.create({ title: "t", content: "c" }).pipe(ann))
        rmSync(join(dir, "master.key"))
        const error = yield* Effect.flip(session(filename, {}, logs, Documents.list()))
        assert.include(String(error), "restore")
        assert.isFalse(existsSync(join(dir, "master.key")))
      })
    ))

  it.live("uses the configured master key and makes no key file", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const filename = join(dir, "nerv.db")
        const logs: Array<string> = []
        const env = { NERV_MASTER_KEYS: Keyring.generate("k1") }
        const id = yield* session(filename, env, logs, Documents.create({ title: "t", content: "c" }).pipe(ann))
        assert.isFalse(existsSync(join(dir, "master.key")))
        assert.strictEqual((yield* session(filename, env, logs, Documents.get(id).pipe(ann))).content, "c")
      })
    ))
})
