/**
 * The sealing codec through the SQLite journal of `@nerv/store`, on one database file: payloads are
 * sealed at rest, the ordering metadata stays clear, and a forgotten document's rows no longer open.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Document, DocumentEvent, Journal } from "@nerv/core"
import { Projection, SqliteJournal } from "@nerv/store"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as DataKeys from "../../src/security/DataKeys.js"
import * as Keyring from "../../src/security/Keyring.js"
import * as KeyStore from "../../src/security/KeyStore.js"
import * as SealedPayloads from "../../src/security/SealedPayloads.js"
import { jsonCodecLayer, masterKeys, sqliteLayer } from "./fixtures.js"

const documentId = Document.DocumentId.make("00000000-0000-4000-8000-00000000000a")

const created = new DocumentEvent.DocumentCreated({
  eventId: "00000000-0000-4000-8000-000000000101",
  documentId,
  version: 1,
  occurredAt: DateTime.unsafeMake("2026-11-22T06:00:00Z"),
  actor: "ann",
  correlationId: "c-1",
  causationId: "c-1",
  title: "Medical record",
  content: "diagnosis: confidential"
})

const updated = new DocumentEvent.DocumentUpdated({
  eventId: "00000000-0000-4000-8000-000000000102",
  documentId,
  version: 2,
  occurredAt: DateTime.unsafeMake("2026-11-22T06:01:00Z"),
  actor: "bob",
  correlationId: "c-2",
  causationId: "c-2",
  content: "diagnosis: still confidential"
})

/** The journal and the data keys on the SqlClient in context, as a durable layer would wire them. */
const journal = SqliteJournal.layer().pipe(
  Layer.provideMerge(
    SealedPayloads.layer().pipe(
      Layer.provideMerge(DataKeys.layer()),
      Layer.provide(Layer.mergeAll(Keyring.layer(masterKeys.k1), KeyStore.layerSql, jsonCodecLayer))
    )
  )
)

const readAll = (documentId: Document.DocumentId) =>
  Effect.flatMap(Journal.Journal, (j) => Stream.runCollect(j.readDocument(documentId))).pipe(Effect.map(Chunk.toArray))

describe("SealedPayloads through SqliteJournal", () => {
  it.effect("seals payloads at rest, keeps metadata clear, and reads them back", () =>
    Effect.gen(function*() {
      yield* Effect.flatMap(Journal.Journal, (j) => j.append([created, updated], 0))
      const entries = yield* readAll(documentId)
      assert.deepStrictEqual(entries.map((e) => e.event), [created, updated])
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ readonly encoding: string; readonly payload: Uint8Array; readonly actor: string }>`
        SELECT encoding, payload, actor FROM nerv_events ORDER BY position`
      assert.deepStrictEqual(rows.map((r) => [r.encoding, r.actor]), [["json+aes256gcm", "ann"], [
        "json+aes256gcm",
        "bob"
      ]])
      for (const row of rows) assert.isFalse(Buffer.from(row.payload).includes(Buffer.from("confidential")))
    }).pipe(Effect.provide(journal), Effect.provide(sqliteLayer)))

  it.effect("a payload swapped into another row does not open; the journal names the row", () =>
    Effect.gen(function*() {
      yield* Effect.flatMap(Journal.Journal, (j) => j.append([created, updated], 0))
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE nerv_events SET payload = (SELECT payload FROM nerv_events WHERE version = 1)
        WHERE version = 2`
      const error = yield* Effect.flip(readAll(documentId))
      assert.strictEqual(error._tag, "JournalError")
      const damaged = error.cause as { readonly _tag: string; readonly position: number; readonly cause: unknown }
      assert.strictEqual(damaged._tag, "RowDamaged")
      assert.strictEqual(damaged.position, 2)
      assert.strictEqual((damaged.cause as { _tag: string })._tag, "DecryptionFailed")
      assert.include(error.message, `position 2 (document ${documentId}, version 2)`)
    }).pipe(Effect.provide(journal), Effect.provide(sqliteLayer)))

  it.effect("after forget, the document's rows read without content, marked forgotten; their metadata stays", () =>
    Effect.gen(function*() {
      yield* Effect.flatMap(Journal.Journal, (j) => j.append([created, updated], 0))
      yield* Effect.flatMap(DataKeys.DataKeys, (keys) => keys.forget(documentId))
      const entries = yield* readAll(documentId)
      assert.deepStrictEqual(entries.map(({ event }) => [event._tag, event.version, event.actor]), [
        ["DocumentCreated", 1, "ann"],
        ["DocumentUpdated", 2, "bob"]
      ])
      assert.isTrue(entries.every(Projection.isForgotten))
      const first = entries[0]!.event
      assert.deepStrictEqual(first._tag === "DocumentCreated" && [first.title, first.content], ["", ""])
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ readonly version: number; readonly actor: string }>`
        SELECT version, actor FROM nerv_events ORDER BY position`
      assert.deepStrictEqual(rows.map((r) => [r.version, r.actor]), [[1, "ann"], [2, "bob"]])
      const keys = yield* sql<{ readonly wrapped: string | null }>`SELECT wrapped FROM nerv_data_keys`
      assert.deepStrictEqual(keys, [{ wrapped: null }])
    }).pipe(Effect.provide(journal), Effect.provide(sqliteLayer)))

  it.effect("a data key copied to another document does not unwrap there", () =>
    Effect.gen(function*() {
      const other = Document.DocumentId.make("00000000-0000-4000-8000-00000000000b")
      const j = yield* Journal.Journal
      yield* j.append([created], 0)
      yield* j.append(
        [new DocumentEvent.DocumentCreated({ ...created, eventId: updated.eventId, documentId: other })],
        0
      )
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE nerv_data_keys SET
        wrapped = (SELECT wrapped FROM nerv_data_keys WHERE document_id = ${documentId}),
        key_id = (SELECT key_id FROM nerv_data_keys WHERE document_id = ${documentId})
        WHERE document_id = ${other}`
      // A fresh process: nothing cached, the key comes from the (tampered) table.
      const error = yield* Effect.flip(readAll(other)).pipe(Effect.provide(journal))
      const damaged = error.cause as { readonly _tag: string; readonly cause: unknown }
      assert.strictEqual(damaged._tag, "RowDamaged")
      assert.strictEqual((damaged.cause as { _tag: string })._tag, "DecryptionFailed")
      assert.include(error.message, "wrapping")
      const [{ secure_delete }] = yield* sql<{ readonly secure_delete: number }>`PRAGMA secure_delete`
      assert.strictEqual(secure_delete, 1)
    }).pipe(Effect.provide(journal), Effect.provide(sqliteLayer)))
})
