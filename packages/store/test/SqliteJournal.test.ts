import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { type Errors, Journal } from "@nerv/core"
import Database from "better-sqlite3"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import { join } from "node:path"
import { PayloadCodec, SqliteJournal } from "../src/index.js"
import { created, idOf, sqliteClient, sqliteJournal, tempDir, updated } from "./fixtures/events.js"
import { journalConformance, Second } from "./JournalConformance.js"

const inTempFile = <A, E, R>(f: (file: string) => Layer.Layer<A, E, R>) =>
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => f(join(dir, "journal.db"))))

journalConformance("SqliteJournal", {
  empty: inTempFile((file) => sqliteJournal(file)),
  // A second client and journal on the same file: another connection, as another process has.
  pair: inTempFile((file) =>
    Layer.scoped(Second, SqliteJournal.make()).pipe(
      Layer.provide(sqliteClient(file)),
      Layer.provideMerge(sqliteJournal(file))
    )
  ),
  withRows: (rows) =>
    inTempFile((file) =>
      Layer.effectDiscard(
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          for (const row of rows) {
            yield* sql.unsafe(
              `INSERT INTO nerv_events (position, document_id, version, event_id, event_type, schema_version,
             occurred_at, actor, correlation_id, causation_id, encoding, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
              [
                row.position,
                row.documentId,
                row.version,
                row.eventId,
                row.eventType,
                row.schemaVersion,
                row.occurredAt,
                row.actor,
                row.correlationId,
                row.causationId,
                "json",
                Buffer.from(JSON.stringify(row.payload))
              ]
            )
            if (row.version === 1) {
              yield* sql.unsafe("INSERT INTO nerv_documents (seq, document_id) VALUES (?, ?)", [
                row.position,
                row.documentId
              ])
            }
          }
        }).pipe(Effect.orDie)
      ).pipe(Layer.provideMerge(sqliteJournal(file)))
    )
})

const readAll = Effect.flatMap(
  Journal.Journal,
  (journal) => Effect.map(Stream.runCollect(journal.read()), Chunk.toReadonlyArray)
)

describe("SqliteJournal", () => {
  it.scoped("keeps what it acknowledged across a restart, and reads every row whatever its codec", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      const long = "x".repeat(2_000)
      yield* Effect.flatMap(
        Journal.Journal,
        (journal) =>
          Effect.zipRight(journal.append([created(1)], 0), journal.append([updated(1, 2, { content: long })], 1))
      ).pipe(
        Effect.provide(sqliteJournal(file))
      )
      // Reopened with compression on: the old plain rows still read, the new row is compressed.
      const stored = yield* Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* journal.append([updated(1, 3, { content: long + "y" })], 2)
        const sql = yield* SqlClient.SqlClient
        return yield* sql<{ readonly encoding: string; readonly size: number }>`
          SELECT encoding, length(payload) AS size FROM nerv_events ORDER BY position`
      }).pipe(Effect.provide(sqliteJournal(file, { codec: PayloadCodec.layerCompressed({ minBytes: 100 }) })))
      assert.deepStrictEqual(stored.map((row) => row.encoding), ["json", "json", "json+gzip"])
      assert.isBelow(stored[2]!.size, 200)
      // Reopened with plain JSON again: every row, compressed or not, reads back as it was written.
      const events = yield* Effect.provide(readAll, sqliteJournal(file))
      assert.deepStrictEqual(events.map((e) => e.event), [
        created(1),
        updated(1, 2, { content: long }),
        updated(1, 3, { content: long + "y" })
      ])
    }))

  it.scoped("keeps only the event's own fields in the payload, the metadata in clear columns", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      const row = yield* Effect.gen(function*() {
        yield* Effect.flatMap(Journal.Journal, (journal) => journal.append([created(1, "Plan")], 0))
        const sql = yield* SqlClient.SqlClient
        const [row] = yield* sql<Record<string, unknown>>`SELECT * FROM nerv_events`
        return row!
      }).pipe(Effect.provide(sqliteJournal(file)))
      assert.deepStrictEqual(JSON.parse(Buffer.from(row.payload as Uint8Array).toString()), {
        title: "Plan",
        content: "content of 1"
      })
      assert.deepInclude(row, { document_id: idOf(1), version: 1, event_type: "DocumentCreated", actor: "ann" })
    }))

  it.scoped("commits many concurrent commands in fewer transactions, each with its own result", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      yield* Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* Effect.forEach(Array.from({ length: 32 }, (_, d) => d + 1), (d) => journal.append([created(d)], 0))
        const before = yield* Metric.value(SqliteJournal.commits)
        const results = yield* Effect.all(
          Array.from(
            { length: 64 },
            (_, i) => Effect.either(journal.append([updated(i % 32 + 1, 2, { content: `w${i}` })], 1))
          ),
          { concurrency: "unbounded" }
        )
        const after = yield* Metric.value(SqliteJournal.commits)
        // Two writers per document: exactly one of each pair wins, the other gets its own conflict.
        assert.strictEqual(results.filter((r) => r._tag === "Right").length, 32)
        assert.strictEqual(results.filter((r) => r._tag === "Left" && r.left._tag === "VersionConflict").length, 32)
        assert.isBelow(after.count - before.count, 64)
        assert.strictEqual(yield* journal.head, 64)
      }).pipe(Effect.provide(sqliteJournal(file)))
    }))

  it.scoped("checks the versions of a group of more documents than one query takes, each command on its own", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      yield* Effect.gen(function*() {
        const journal = yield* Journal.Journal
        // 700 documents (the versions query takes 512 ids at a time), 300 of them created first.
        const documents = Array.from({ length: 700 }, (_, d) => d + 1)
        yield* Effect.forEach(documents.slice(0, 300), (d) => journal.append([created(d)], 0), {
          concurrency: "unbounded"
        })
        // One group: a create of each new document, an update of each old one, and for every old
        // document a second update that expects the version it had before (a conflict). The old
        // documents come last, so that their versions are read by the second query of the group.
        const results = yield* Effect.all(
          [...documents].reverse().flatMap((d) =>
            d <= 300
              ? [
                Effect.either(journal.append([updated(d, 2, { content: `new ${d}` })], 1)),
                Effect.either(journal.append([updated(d, 2, { content: `stale ${d}` })], 1))
              ]
              : [Effect.either(journal.append([created(d)], 0))]
          ),
          { concurrency: "unbounded" }
        )
        const conflicts = results.filter((r) => r._tag === "Left")
        assert.strictEqual(results.length - conflicts.length, 700)
        assert.strictEqual(conflicts.length, 300)
        for (const conflict of conflicts) {
          assert.strictEqual(conflict._tag === "Left" && conflict.left._tag, "VersionConflict")
          assert.strictEqual(
            conflict._tag === "Left" && conflict.left._tag === "VersionConflict" && conflict.left.actual,
            2
          )
        }
        assert.strictEqual(yield* journal.head, 300 + 700)
        const versions = new Map<string, number>()
        yield* Stream.runForEach(
          journal.read(),
          (entry) => Effect.sync(() => versions.set(entry.event.documentId, entry.event.version))
        )
        assert.strictEqual(versions.size, 700)
        for (const d of documents) assert.strictEqual(versions.get(idOf(d)), d <= 300 ? 2 : 1)
      }).pipe(Effect.provide(sqliteJournal(file)))
    }))

  it.scoped("runs with synchronous=FULL in WAL mode unless told otherwise", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      const pragmas = (options?: SqliteJournal.Options) =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const [sync] = yield* sql<{ readonly synchronous: number }>`PRAGMA synchronous`
          const [mode] = yield* sql<{ readonly journal_mode: string }>`PRAGMA journal_mode`
          return [sync!.synchronous, mode!.journal_mode]
        }).pipe(Effect.provide(sqliteJournal(file, options)))
      assert.deepStrictEqual(yield* pragmas(), [2, "wal"])
      assert.deepStrictEqual(yield* pragmas({ durability: "NORMAL" }), [1, "wal"])
    }))

  it.scoped("the database itself refuses a second row for a (document, version)", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      yield* Effect.gen(function*() {
        yield* Effect.flatMap(Journal.Journal, (journal) => journal.append([created(1)], 0))
        const sql = yield* SqlClient.SqlClient
        // A row copied under a new position, as a second writer that skipped the check would write.
        const error = yield* Effect.flip(
          sql`INSERT INTO nerv_events SELECT 2, document_id, version, event_id, event_type, schema_version,
              occurred_at, actor, correlation_id, causation_id, encoding, payload FROM nerv_events`
        )
        assert.include(String(error.cause), "UNIQUE constraint failed: nerv_events.document_id, nerv_events.version")
      }).pipe(Effect.provide(sqliteJournal(file)))
    }))

  it.effect("refuses appends once closed, with a JournalError rather than a hang", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      const closed = yield* Effect.provide(Journal.Journal, sqliteJournal(file))
      const error = yield* Effect.flip(closed.append([created(1)], 0))
      assert.deepInclude(error, { _tag: "JournalError", reason: "the journal is closed" })
    }).pipe(Effect.scoped))

  it.live("waits for another process's write lock, and past busyTimeout fails with JournalBusy, committing nothing", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "journal.db")
      const journal = Context.get(yield* Layer.build(sqliteJournal(file, { busyTimeout: 300 })), Journal.Journal)
      yield* journal.append([created(1)], 0)
      // Another process's connection takes the write lock and keeps it.
      const other = new Database(file)
      yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
      other.exec("BEGIN IMMEDIATE")
      const busy = yield* Effect.flip(journal.append([updated(1, 2, { content: "x" })], 1))
      assert.strictEqual(busy._tag, "JournalBusy")
      assert.include(busy.message, "stayed locked by another process for")
      assert.include(busy.message, "nothing was committed")
      assert.isAtLeast((busy as Errors.JournalBusy).waitedMillis, 300)
      other.exec("ROLLBACK")
      assert.strictEqual(yield* journal.head, 1)
      // A lock held for less than the bound is waited for: the append commits once it is let go.
      other.exec("BEGIN IMMEDIATE")
      const waiting = yield* Effect.fork(journal.append([updated(1, 2, { content: "y" })], 1))
      yield* Effect.sleep("100 millis")
      other.exec("COMMIT")
      const [entry] = yield* Fiber.join(waiting)
      assert.deepInclude(entry, { position: 2 })
    }).pipe(Effect.scoped))
})
