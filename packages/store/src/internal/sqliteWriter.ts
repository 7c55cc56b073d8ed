import { type DocumentEvent, Errors, type Journal } from "@nerv/core"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { EventRow } from "./eventRow.js"
import { columns } from "./eventRow.js"

/**
 * The SQLite journal's own connection: the one its group commits write through, and the one its
 * follower asks whether anyone else committed.
 *
 * It is a plain better-sqlite3 connection beside the `SqlClient`'s, for three reasons, each measured
 * or required:
 * - a group commit must take the write lock up front (`BEGIN IMMEDIATE`): a transaction that reads
 *   first and writes later fails at once with `SQLITE_BUSY` when another process wrote in between,
 *   whatever the busy timeout, and `@effect/sql`'s transactions begin deferred;
 * - `PRAGMA data_version` changes when *another* connection commits: on the connection the journal
 *   writes through, its own commits leave it unchanged, so a follower reads the journal only when
 *   another process (or this process's `SqlClient`: snapshots, checkpoints, keys) wrote;
 * - a statement through `SqlClient` costs ~25 µs (a span, a semaphore, a cache lookup), one here
 *   ~2 µs, and the follower asks before every read.
 *
 * Every call here is synchronous and runs on the event loop, so no other fiber can interleave its
 * statements with a group's transaction.
 */
export interface Writer {
  /**
   * Commits a group of commands in one `BEGIN IMMEDIATE` transaction, each checked against the
   * versions before it; `"Busy"` when another connection holds the write lock.
   */
  readonly commitGroup: (group: ReadonlyArray<PendingAppend>) => ReadonlyArray<Outcome> | "Busy"
  /** `PRAGMA data_version`: changes when another connection has committed. */
  readonly dataVersion: () => number
  /** The headers of up to `limit` entries after `after`. */
  readonly headers: (after: number, limit: number) => Array<Journal.EntryHeader>
  /** The records of forgotten documents after `after`. */
  readonly forgotten: (after: number) => Array<Journal.ForgottenRecord>
  /** The index of documents (see `Journal.DocumentQuery`). */
  readonly documents: (query: Journal.DocumentQuery | undefined) => Array<Journal.DocumentSummary>
  /** The connection itself, for the outbox's statements (see `sqliteOutbox.ts`). */
  readonly connection: Database.Database
}

/** One outbox effect as a row, its payload encoded (and sealed) like an event's. */
export interface EffectRow {
  readonly effect_id: string
  readonly effect_type: string
  readonly encoding: string
  readonly payload: Uint8Array
}

/** One command waiting in a group commit. */
export interface PendingAppend {
  readonly documentId: string
  readonly expectedVersion: number
  readonly events: ReadonlyArray<DocumentEvent.DocumentEvent>
  readonly rows: ReadonlyArray<Omit<EventRow, "position">>
  /** The command's outbox effects, inserted in the same transaction as its events. */
  readonly effects?: ReadonlyArray<EffectRow> | undefined
}

/** What a group commit did with one command. */
export type Outcome =
  | { readonly _tag: "Committed"; readonly entries: ReadonlyArray<Journal.JournalEntry> }
  | { readonly _tag: "Conflict"; readonly actual: number }

/** Rows per insert statement: well under SQLite's limit on bound parameters. */
const rowsPerInsert = 64

const isBusy = (error: unknown) =>
  typeof error === "object" && error !== null && "code" in error &&
  (error.code === "SQLITE_BUSY" || error.code === "SQLITE_LOCKED")

/**
 * Opens the journal's connection on `filename` (migrated already), closed with the scope.
 */
export const openWriter = (
  filename: string,
  durability: "FULL" | "NORMAL"
): Effect.Effect<Writer, Errors.JournalError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.try({
        try: () => {
          // No busy timeout: waiting for the lock happens in `SqliteJournal`, off the event loop.
          const db = new Database(filename, { timeout: 0 })
          db.pragma("journal_mode = WAL")
          db.pragma(`synchronous = ${durability}`)
          return db
        },
        catch: (cause) => new Errors.JournalError({ reason: `could not open ${filename}`, cause })
      }),
      (db) => Effect.sync(() => db.close())
    ),
    makeWriter
  )

const makeWriter = (db: Database.Database): Writer => {
  const begin = db.prepare("BEGIN IMMEDIATE")
  const commit = db.prepare("COMMIT")
  const rollback = db.prepare("ROLLBACK")
  const head = db.prepare("SELECT coalesce(max(position), 0) FROM nerv_events").pluck()
  // One index seek per document (the max of the unique (document_id, version) index).
  const version = db.prepare("SELECT max(version) FROM nerv_events WHERE document_id = ?").pluck()
  const dataVersion = db.prepare("PRAGMA data_version").pluck()
  const headers = db.prepare(
    "SELECT position, document_id, version, event_type FROM nerv_events WHERE position > ? ORDER BY position LIMIT ?"
  ).raw()
  const values = `(${columns.map(() => "?").join(",")})`
  const inserts = new Map<number, Database.Statement>()
  const insert = (rows: number) => {
    let statement = inserts.get(rows)
    if (statement === undefined) {
      statement = db.prepare(
        `INSERT INTO nerv_events (${columns.join(",")}) VALUES ${Array(rows).fill(values).join(",")}`
      )
      inserts.set(rows, statement)
    }
    return statement
  }
  const created = db.prepare(
    "INSERT INTO nerv_documents (seq, document_id, author, version, deleted) VALUES (?, ?, ?, ?, ?)"
  )
  const changed = db.prepare(
    "UPDATE nerv_documents SET version = ?, deleted = max(deleted, ?) WHERE document_id = ?"
  )
  const documentStatements = new Map<string, Database.Statement>()
  const documents = (query: Journal.DocumentQuery | undefined) => {
    const include = query?.include ?? "live"
    const byAuthor = query?.author !== undefined
    const key = `${include}:${byAuthor}`
    let statement = documentStatements.get(key)
    if (statement === undefined) {
      statement = db.prepare(
        "SELECT d.document_id, d.seq, d.author, d.version, d.deleted FROM nerv_documents d " +
          `WHERE d.seq > ? ${byAuthor ? "AND d.author = ?" : ""} ` +
          (include === "live" ? "AND d.deleted = 0 " : include === "deleted" ? "AND d.deleted = 1 " : "") +
          "AND NOT EXISTS (SELECT 1 FROM nerv_forgotten f WHERE f.document_id = d.document_id) " +
          "ORDER BY d.seq LIMIT ?"
      ).raw()
      documentStatements.set(key, statement)
    }
    const params = byAuthor
      ? [query?.after ?? 0, query!.author, query?.limit ?? -1]
      : [query?.after ?? 0, query?.limit ?? -1]
    return (statement.all(...params) as Array<[string, number, string, number, number]>).map((
      [id, sequence, author, version, deleted]
    ) => ({
      documentId: id as Journal.DocumentSummary["documentId"],
      sequence,
      author,
      version,
      deleted: deleted === 1
    }))
  }
  const effect = db.prepare(
    "INSERT INTO nerv_effects (effect_id, effect_type, document_id, version, encoding, payload, recorded_at, " +
      "available_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
  )
  const forgotten = db.prepare(
    "SELECT sequence, document_id FROM nerv_forgotten WHERE sequence > ? ORDER BY sequence"
  ).raw()

  const write = (group: ReadonlyArray<PendingAppend>): Array<Outcome> => {
    let position = head.get() as number
    const actual = new Map<string, number>()
    const outcomes: Array<Outcome> = []
    const params: Array<unknown> = []
    let rows = 0
    const flush = (count: number) => {
      insert(count).run(params)
      params.length = 0
      rows = 0
    }
    for (const pending of group) {
      let current = actual.get(pending.documentId)
      if (current === undefined) {
        current = (version.get(pending.documentId) as number | null) ?? 0
        actual.set(pending.documentId, current)
      }
      if (current !== pending.expectedVersion) {
        outcomes.push({ _tag: "Conflict", actual: current })
        continue
      }
      const entries: Array<Journal.JournalEntry> = []
      let deleted = 0
      for (let i = 0; i < pending.events.length; i++) {
        const row = pending.rows[i]!
        if (row.event_type === "DocumentDeleted") deleted = 1
        position++
        params.push(
          position,
          row.document_id,
          row.version,
          row.event_id,
          row.event_type,
          row.schema_version,
          row.occurred_at,
          row.actor,
          row.correlation_id,
          row.causation_id,
          row.encoding,
          Buffer.from(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength)
        )
        if (++rows === rowsPerInsert) flush(rowsPerInsert)
        entries.push({ position, event: pending.events[i]! })
      }
      // The index of documents, in the same transaction: never behind a committed command.
      const last = current + entries.length
      if (current === 0) created.run(entries[0]!.position, pending.documentId, pending.rows[0]!.actor, last, deleted)
      else changed.run(last, deleted, pending.documentId)
      actual.set(pending.documentId, last)
      if (pending.effects !== undefined) {
        const row = pending.rows[pending.rows.length - 1]!
        for (const e of pending.effects) {
          const payload = Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength)
          effect.run(
            e.effect_id,
            e.effect_type,
            row.document_id,
            row.version,
            e.encoding,
            payload,
            row.occurred_at,
            row.occurred_at
          )
        }
      }
      outcomes.push({ _tag: "Committed", entries })
    }
    if (rows > 0) flush(rows)
    return outcomes
  }

  return {
    commitGroup: (group) => {
      try {
        begin.run()
      } catch (error) {
        if (isBusy(error)) return "Busy"
        throw error
      }
      try {
        const outcomes = write(group)
        commit.run()
        return outcomes
      } catch (error) {
        if (db.inTransaction) rollback.run()
        throw error
      }
    },
    dataVersion: () => dataVersion.get() as number,
    headers: (after, limit) =>
      (headers.all(after, limit) as Array<[number, string, number, string]>).map(([position, id, v, type]) => ({
        position,
        documentId: id as Journal.EntryHeader["documentId"],
        version: v,
        eventType: type as Journal.EntryHeader["eventType"]
      })),
    documents,
    connection: db,
    forgotten: (after) =>
      (forgotten.all(after) as Array<[number, string]>).map(([sequence, id]) => ({
        sequence,
        documentId: id as Journal.ForgottenRecord["documentId"]
      }))
  }
}
