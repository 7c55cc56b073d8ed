import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Document, Journal } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { JournalVerify, Snapshots } from "../src/index.js"
import { type Backend, backends } from "./fixtures/backends.js"
import { created, deleted, idOf, updated } from "./fixtures/events.js"
import { query } from "./fixtures/postgres.js"

/** A journal of three documents (positions 1 to 6), with a snapshot of document 2 at version 2. */
const journalOfThree = (backend: Backend, address: string) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const journal = yield* Journal.Journal
    yield* journal.append([created(1)], 0)
    yield* journal.append([created(2)], 0)
    yield* journal.append([updated(1, 2, { content: "second" })], 1)
    yield* journal.append([updated(2, 2, { title: "two" })], 1)
    yield* journal.append([created(3)], 0)
    yield* journal.append([deleted(3, 2)], 1)
    const snapshots = yield* Snapshots.SnapshotStore
    yield* snapshots.save([{
      documentId: idOf(2),
      version: 2,
      document: new Document.Document({
        id: idOf(2),
        title: "two",
        content: "content of 2",
        author: "ann",
        version: 2,
        createdAt: created(2).occurredAt,
        modifiedAt: updated(2, 2, {}).occurredAt,
        lastEditor: "bob"
      })
    }])
  })).pipe(Layer.provideMerge(backend.journal(address)))

const fileHash = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

describe.each(backends)("JournalVerify on $name", (backend: Backend) => {
  /** The `n`th parameter of a statement on the backend's journal. */
  const p = (n: number) => backend.name === "PostgreSQL" ? `$${n}` : "?"
  /** What the database holds, to check a scan wrote nothing (the file's bytes; the rows' on PostgreSQL). */
  const contentsOf = (address: string) =>
    backend.name === "SQLite"
      ? Effect.sync(() => fileHash(address))
      : Effect.map(
        query(
          address,
          "SELECT (SELECT md5(string_agg(e::text, ',' ORDER BY position)) FROM nerv_events e) || " +
            "(SELECT md5(string_agg(s::text, ',' ORDER BY document_id, version)) FROM nerv_snapshots s) AS h"
        ),
        (rows) => String(rows[0]!["h"])
      )

  it.scoped("reports nothing on a sound journal", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(journalOfThree(backend, yield* backend.database))
      const found: Array<JournalVerify.Finding> = []
      const report = yield* JournalVerify.scan({ pageSize: 2, onDamaged: (f) => Effect.sync(() => found.push(f)) })
        .pipe(Effect.provide(context))
      assert.deepStrictEqual(report, {
        rows: 6,
        snapshots: 1,
        damagedRows: 0,
        damagedSnapshots: 0,
        documentsWithGaps: 0
      })
      assert.isTrue(JournalVerify.isClean(report))
      assert.deepStrictEqual(found, [])
    }))

  it.scoped("reports every damaged row by position, document and version, reads on past them, and changes nothing", () =>
    Effect.gen(function*() {
      const file = yield* backend.database
      const context = yield* Layer.build(journalOfThree(backend, file))
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // Position 2: the payload of document 2's creation with one bit flipped ("{" becomes "z").
        const [{ payload }] = yield* sql.unsafe<{ readonly payload: Uint8Array }>(
          "SELECT payload FROM nerv_events WHERE position = 2"
        )
        const flipped = Buffer.from(payload)
        flipped[0] = flipped[0]! ^ 0x01
        yield* sql.unsafe(`UPDATE nerv_events SET payload = ${p(1)} WHERE position = 2`, [flipped])
        // Position 5: a payload of the wrong shape; position 6: a clear column that is not a UUID.
        yield* sql.unsafe(`UPDATE nerv_events SET payload = ${p(1)} WHERE position = 5`, [Buffer.from("{\"title\":7}")])
        yield* sql.unsafe("UPDATE nerv_events SET event_id = 'not-an-id' WHERE position = 6")
        // The snapshot of document 2: its state bytes cut short.
        yield* sql.unsafe("UPDATE nerv_snapshots SET state = substr(state, 1, 10)")
      }).pipe(Effect.provide(context), Effect.orDie)

      const before = yield* contentsOf(file)
      const found: Array<JournalVerify.Finding> = []
      const report = yield* JournalVerify.scan({ pageSize: 2, onDamaged: (f) => Effect.sync(() => found.push(f)) })
        .pipe(Effect.provide(context))
      assert.deepStrictEqual(report, {
        rows: 6,
        snapshots: 1,
        damagedRows: 3,
        damagedSnapshots: 1,
        documentsWithGaps: 0
      })
      assert.isFalse(JournalVerify.isClean(report))
      const rows = found.flatMap((f) => f._tag === "Row" ? [f.row] : [])
      assert.deepStrictEqual(rows.map((r) => [r._tag, r.position, r.documentId, r.version]), [
        ["RowDamaged", 2, idOf(2), 1],
        ["RowDamaged", 5, idOf(3), 1],
        ["RowDamaged", 6, idOf(3), 2]
      ])
      assert.include(rows[0]!.message, "the journal row at position 2 (document ")
      assert.include(rows[0]!.reason, "not JSON")
      assert.include(rows[1]!.reason, "does not match its schema")
      assert.include(rows[2]!.reason, "clear columns")
      assert.deepStrictEqual(found.filter((f) => f._tag === "Snapshot").map(JournalVerify.describe), [
        `the snapshot of document ${idOf(2)} at version 2 is damaged: its state is not a document`
      ])
      assert.strictEqual(yield* contentsOf(file), before)

      // Reading the damaged document names the row it stopped at.
      const journal = Effect.provide(Journal.Journal, context)
      const error = yield* Effect.flip(
        Stream.runDrain((yield* journal).readDocument(idOf(2)))
      )
      assert.strictEqual(error._tag, "JournalError")
      assert.strictEqual((error.cause as { readonly _tag?: string })._tag, "RowDamaged")
      assert.include(error.message, `the journal row at position 2 (document ${idOf(2)}, version 1) is damaged`)
      // Another document reads as it was.
      const one = yield* Stream.runCollect((yield* journal).readDocument(idOf(1)))
      assert.strictEqual([...one].length, 2)
    }))

  it.scoped("reports a document whose versions have a hole", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(journalOfThree(backend, yield* backend.database))
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe("DELETE FROM nerv_events WHERE position = 3"))
        .pipe(Effect.provide(context), Effect.orDie)
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql.unsafe(
          "INSERT INTO nerv_events SELECT 3, document_id, 3, event_id || 'x', event_type, schema_version, occurred_at, " +
            "actor, correlation_id, causation_id, encoding, payload FROM nerv_events WHERE position = 1"
        )).pipe(Effect.provide(context), Effect.orDie)
      const found: Array<string> = []
      const report = yield* JournalVerify.scan({
        onDamaged: (f) => Effect.sync(() => f._tag === "Gap" && found.push(JournalVerify.describe(f)))
      }).pipe(Effect.provide(context))
      assert.strictEqual(report.documentsWithGaps, 1)
      assert.deepStrictEqual(found, [`document ${idOf(1)} has 2 rows for its versions 1 to 3: 1 missing`])
    }))
})
