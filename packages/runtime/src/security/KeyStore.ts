/**
 * Where the per-document data keys live, wrapped (sealed) by a master key. Destroying a row's
 * wrapped key is crypto-shredding: every payload sealed under it becomes unreadable everywhere.
 * A forgotten document keeps a tombstone (no key, the time it was forgotten) so that reads say
 * `DocumentForgotten` rather than "no key", and no new key is ever made for it.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { PostgresJournal, SqliteJournal } from "@nerv/store"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"

/**
 * A data key as stored: sealed under the master key `masterKeyId`.
 *
 * @since 0.1.0
 */
export interface WrappedKey {
  readonly documentId: string
  /** The data key's own id, recorded in every payload it seals. */
  readonly keyId: string
  readonly masterKeyId: string
  readonly wrapped: Uint8Array
}

/**
 * What the store holds for a document.
 *
 * @since 0.1.0
 */
export type Entry =
  | { readonly _tag: "Active"; readonly key: WrappedKey }
  | { readonly _tag: "Forgotten"; readonly documentId: string; readonly forgottenAt: string }

/**
 * The key store could not be read or written.
 *
 * @since 0.1.0
 */
export class KeyStoreError extends Data.TaggedError("KeyStoreError")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `the data key store failed: ${this.reason}`
  }
}

/**
 * @since 0.1.0
 */
export interface KeyStoreService {
  readonly lookup: (documentId: string) => Effect.Effect<Option.Option<Entry>, KeyStoreError>
  /** Stores the key unless the document already has an entry; returns the entry that is stored. */
  readonly insertIfAbsent: (key: WrappedKey) => Effect.Effect<Entry, KeyStoreError>
  /** Destroys the document's key (if any) and leaves a tombstone. Idempotent. */
  readonly forget: (documentId: string, forgottenAt: string) => Effect.Effect<void, KeyStoreError>
  /** Which of these documents were forgotten. */
  readonly forgottenAmong: (documentIds: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, KeyStoreError>
  /** Active keys in document id order, after `after`, at most `limit`: for re-wrapping. */
  readonly activePage: (after: string, limit: number) => Effect.Effect<ReadonlyArray<WrappedKey>, KeyStoreError>
  /**
   * Replaces a key's wrapping if it is still wrapped under `expectedMasterKeyId` and not
   * forgotten; returns whether it did (a concurrent forget or re-wrap wins).
   */
  readonly rewrap: (key: WrappedKey, expectedMasterKeyId: string) => Effect.Effect<boolean, KeyStoreError>
}

/**
 * The data key store.
 *
 * @since 0.1.0
 */
export class KeyStore extends Context.Tag("@nerv/runtime/KeyStore")<KeyStore, KeyStoreService>() {}

/**
 * Keys in memory, gone with the process: tests, and throwaway runs whose journal is in memory too.
 *
 * @since 0.1.0
 */
export const makeMemory: Effect.Effect<KeyStoreService> = Effect.map(
  Ref.make(new Map<string, Entry>()),
  (ref): KeyStoreService => ({
    lookup: (documentId) => Effect.map(Ref.get(ref), (entries) => Option.fromNullable(entries.get(documentId))),
    insertIfAbsent: (key) =>
      Ref.modify(ref, (entries) => {
        const existing = entries.get(key.documentId)
        if (existing !== undefined) return [existing, entries]
        const entry: Entry = { _tag: "Active", key }
        return [entry, new Map(entries).set(key.documentId, entry)]
      }),
    forget: (documentId, forgottenAt) =>
      Ref.update(ref, (entries) =>
        entries.get(documentId)?._tag === "Forgotten"
          ? entries
          : new Map(entries).set(documentId, { _tag: "Forgotten", documentId, forgottenAt })),
    forgottenAmong: (documentIds) =>
      Effect.map(
        Ref.get(ref),
        (entries) => new Set(documentIds.filter((id) => entries.get(id)?._tag === "Forgotten"))
      ),
    activePage: (after, limit) =>
      Effect.map(Ref.get(ref), (entries) =>
        [...entries.values()]
          .flatMap((entry) => entry._tag === "Active" && entry.key.documentId > after ? [entry.key] : [])
          .sort((a, b) => a.documentId < b.documentId ? -1 : 1)
          .slice(0, limit)),
    rewrap: (key, expectedMasterKeyId) =>
      Ref.modify(ref, (entries) => {
        const existing = entries.get(key.documentId)
        if (existing?._tag !== "Active" || existing.key.masterKeyId !== expectedMasterKeyId) return [false, entries]
        return [true, new Map(entries).set(key.documentId, { _tag: "Active", key })]
      })
  })
)

/**
 * An empty in-memory key store.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<KeyStore> = Layer.effect(KeyStore, makeMemory)

/**
 * The table that holds the keys in the journal's database.
 *
 * @since 0.1.0
 */
export const table = "nerv_data_keys"

interface Row {
  readonly document_id: string
  readonly key_id: string | null
  readonly master_key_id: string | null
  readonly wrapped: string | null
  readonly forgotten_at: string | null
}

const toEntry = (row: Row): Entry =>
  row.forgotten_at !== null || row.wrapped === null || row.key_id === null || row.master_key_id === null
    ? { _tag: "Forgotten", documentId: row.document_id, forgottenAt: row.forgotten_at ?? "" }
    : {
      _tag: "Active",
      key: {
        documentId: row.document_id,
        keyId: row.key_id,
        masterKeyId: row.master_key_id,
        wrapped: new Uint8Array(Buffer.from(row.wrapped, "base64"))
      }
    }

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const failed = (reason: string) => (cause: unknown) => new KeyStoreError({ reason, cause })

/**
 * Keys in a table of an `@effect/sql` database (SQLite or PostgreSQL), created if missing. Wrapped
 * keys are stored as base64 text so that the same statements run on every dialect.
 *
 * On SQLite, the layer turns on `secure_delete` for its connection, so that a forgotten key is
 * overwritten with zeros in the database file rather than left in a free page.
 *
 * @since 0.1.0
 */
export const makeSql: Effect.Effect<KeyStoreService, KeyStoreError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    sqlite: () =>
      sql`PRAGMA secure_delete = ON`.pipe(Effect.asVoid, Effect.mapError(failed("could not set secure_delete"))),
    orElse: () => Effect.void
  })
  // In a NERV database (a SQLite file, a PostgreSQL journal) the table comes from its migrations;
  // elsewhere it is created here.
  yield* sql.onDialectOrElse({
    sqlite: () => SqliteJournal.migrate,
    pg: () => PostgresJournal.migrate,
    orElse: () =>
      Effect.asVoid(sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
    document_id TEXT PRIMARY KEY,
    key_id TEXT,
    master_key_id TEXT,
    wrapped TEXT,
    created_at TEXT NOT NULL,
    forgotten_at TEXT
  )`)
  }).pipe(Effect.mapError(failed(`could not create the table ${table}`)))

  const lookup = (documentId: string) =>
    sql<Row>`SELECT document_id, key_id, master_key_id, wrapped, forgotten_at FROM ${sql(table)}
      WHERE document_id = ${documentId}`.pipe(
      Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toEntry)),
      Effect.mapError(failed(`could not read the data key of ${documentId}`))
    )

  return {
    lookup,
    insertIfAbsent: (key) =>
      Effect.flatMap(
        DateTime.now,
        (now) =>
          sql`INSERT INTO ${sql(table)} (document_id, key_id, master_key_id, wrapped, created_at)
          VALUES (${key.documentId}, ${key.keyId}, ${key.masterKeyId}, ${Buffer.from(key.wrapped).toString("base64")},
            ${DateTime.formatIso(now)})
          ON CONFLICT (document_id) DO NOTHING`
      ).pipe(
        Effect.mapError(failed(`could not store the data key of ${key.documentId}`)),
        Effect.zipRight(lookup(key.documentId)),
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new KeyStoreError({ reason: `the data key of ${key.documentId} vanished` })),
          onSome: Effect.succeed
        }))
      ),
    forget: (documentId, forgottenAt) =>
      sql.withTransaction(Effect.zipRight(
        sql`UPDATE ${sql(table)} SET key_id = NULL, master_key_id = NULL, wrapped = NULL,
          forgotten_at = COALESCE(forgotten_at, ${forgottenAt}) WHERE document_id = ${documentId}`,
        sql`INSERT INTO ${sql(table)} (document_id, created_at, forgotten_at)
          VALUES (${documentId}, ${forgottenAt}, ${forgottenAt}) ON CONFLICT (document_id) DO NOTHING`
      )).pipe(Effect.asVoid, Effect.mapError(failed(`could not destroy the data key of ${documentId}`))),
    forgottenAmong: (documentIds) =>
      Effect.forEach(
        chunks(documentIds, 500),
        (chunk) =>
          sql<{ readonly document_id: string }>`SELECT document_id FROM ${sql(table)}
            WHERE forgotten_at IS NOT NULL AND ${sql.in("document_id", chunk)}`
      ).pipe(
        Effect.map((pages) => new Set(pages.flat().map((row) => row.document_id))),
        Effect.mapError(failed("could not read which documents were forgotten"))
      ),
    activePage: (after, limit) =>
      sql<Row>`SELECT document_id, key_id, master_key_id, wrapped, forgotten_at FROM ${sql(table)}
        WHERE document_id > ${after} AND wrapped IS NOT NULL ORDER BY document_id LIMIT ${limit}`.pipe(
        Effect.map((rows) =>
          rows.flatMap((row) => {
            const entry = toEntry(row)
            return entry._tag === "Active" ? [entry.key] : []
          })
        ),
        Effect.mapError(failed("could not list the data keys"))
      ),
    rewrap: (key, expectedMasterKeyId) =>
      sql<{ readonly document_id: string }>`UPDATE ${sql(table)}
        SET master_key_id = ${key.masterKeyId}, wrapped = ${Buffer.from(key.wrapped).toString("base64")}
        WHERE document_id = ${key.documentId} AND master_key_id = ${expectedMasterKeyId}
          AND key_id = ${key.keyId} AND wrapped IS NOT NULL
        RETURNING document_id`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(failed(`could not re-wrap the data key of ${key.documentId}`))
      )
  }
})

/**
 * The key store in the journal's database.
 *
 * @since 0.1.0
 */
export const layerSql: Layer.Layer<KeyStore, KeyStoreError, SqlClient.SqlClient> = Layer.effect(KeyStore, makeSql)
