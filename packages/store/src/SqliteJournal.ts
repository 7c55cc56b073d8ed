/**
 * The SQLite journal, NERV's embedded default: one database file holds the events, the snapshots
 * and the projections' checkpoints. Appends are durable when acknowledged (`synchronous=FULL` in
 * WAL mode by default) and fast because of group commit: the commands that arrive while a
 * transaction commits share the next one, and its single fsync, each still getting its own result.
 *
 * One process writes a database file at a time; the global, gap-free position is assigned by that
 * writer inside the transaction, and the unique (document, version) index is the last word on
 * optimistic concurrency.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { type DocumentEvent, Errors, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { checkBatch } from "./internal/appendCheck.js"
import { columns, decodeEntries, encodeEvent, type EventRow, fromValues, selectList } from "./internal/eventRow.js"
import { migrate } from "./internal/sqliteSchema.js"
import { makeSqliteCheckpoints, makeSqliteSnapshots } from "./internal/sqliteSnapshots.js"
import { PayloadCodec } from "./PayloadCodec.js"
import { Checkpoints } from "./Projection.js"
import { SnapshotStore } from "./Snapshots.js"
import { Upcasters } from "./Upcasting.js"

/**
 * How durable an acknowledged append is, SQLite's `synchronous` setting in WAL mode:
 * - `"FULL"` (default): the WAL is fsynced at every commit; an acknowledged append survives a
 *   power loss.
 * - `"NORMAL"`: fsynced at checkpoints only; survives a crash of the process, but the last
 *   commits may be lost on power loss or an OS crash.
 *
 * @since 0.1.0
 */
export type Durability = "FULL" | "NORMAL"

/**
 * @since 0.1.0
 */
export interface Options {
  readonly durability?: Durability | undefined
  /** The most commands one group commit takes (default 1024). */
  readonly maxBatch?: number | undefined
  /** Entries per page when reading (default 1000). */
  readonly pageSize?: number | undefined
}

interface Pending {
  readonly documentId: string
  readonly expectedVersion: number
  readonly events: ReadonlyArray<DocumentEvent.DocumentEvent>
  readonly rows: ReadonlyArray<Omit<EventRow, "position">>
  /**
   * Gives the command its result, resuming the fiber that waits in `append` (a callback rather than
   * a `Deferred`, whose allocation showed on the path every durable command takes).
   */
  readonly reply: (
    result: Effect.Effect<ReadonlyArray<Journal.JournalEntry>, Errors.VersionConflict | Errors.JournalError>
  ) => void
}

type Outcome =
  | { readonly _tag: "Committed"; readonly entries: ReadonlyArray<Journal.JournalEntry> }
  | { readonly _tag: "Conflict"; readonly actual: number }

const journalError = (reason: string) => (cause: SqlError) => new Errors.JournalError({ reason, cause })

/**
 * How many transactions the journal committed: with group commit, fewer than the commands it
 * acknowledged.
 *
 * @since 0.1.0
 */
export const commits = Metric.counter("nerv_journal_commits", {
  description: "transactions committed by the SQLite journal (each one fsync at synchronous=FULL)",
  incremental: true
})

/**
 * How many commands the journal's transactions carried.
 *
 * @since 0.1.0
 */
export const committedCommands = Metric.counter("nerv_journal_commands", {
  description: "commands (appends) committed by the SQLite journal, conflicts included",
  incremental: true
})

/** Rows per insert statement: well under SQLite's limit on bound parameters. */
const rowsPerInsert = 64
const insertSql = new Map<number, string>()
const insertStatement = (rows: number) => {
  let sql = insertSql.get(rows)
  if (sql === undefined) {
    const values = `(${columns.map(() => "?").join(",")})`
    sql = `INSERT INTO nerv_events (${columns.join(",")}) VALUES ${Array(rows).fill(values).join(",")}`
    insertSql.set(rows, sql)
  }
  return sql
}

const chunksOf = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size))
  return chunks
}

const toBlob = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/**
 * Makes the journal on a migrated database. Its group-commit writer runs in the scope.
 *
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const codec = yield* PayloadCodec
  const upcasters = yield* Upcasters
  const pageSize = options?.pageSize ?? 1_000
  const maxBatch = options?.maxBatch ?? 1_024
  yield* sql.unsafe(`PRAGMA synchronous = ${options?.durability ?? "FULL"}`).pipe(
    Effect.zipRight(sql.unsafe("PRAGMA busy_timeout = 5000")),
    Effect.mapError(journalError("could not configure the database"))
  )

  /**
   * The latest version of each document. The id list is padded to a power of two (repeating an id)
   * so that a handful of statements stay prepared instead of one per group size.
   */
  const versionsOf = (documentIds: ReadonlyArray<string>) =>
    Effect.map(
      Effect.forEach(chunksOf(documentIds, 512), (ids) => {
        const padded = [...ids]
        while ((padded.length & (padded.length - 1)) !== 0) padded.push(ids[0]!)
        // One index seek per id (max over the unique (document_id, version) index); an `IN (…)
        // GROUP BY` walks every version of every document instead, 6× slower at 100 versions.
        return sql.unsafe<{ readonly document_id: string; readonly version: number | null }>(
          `WITH ids(id) AS (VALUES ${padded.map(() => "(?)").join(",")}) ` +
            "SELECT id AS document_id, (SELECT max(version) FROM nerv_events WHERE document_id = ids.id) AS version " +
            "FROM ids",
          padded
        )
      }),
      (pages) => new Map(pages.flat().map((row) => [row.document_id, row.version ?? 0] as const))
    )

  /** Commits a group in one transaction; each command's check runs against the ones before it. */
  const commitGroup = (group: ReadonlyArray<Pending>) =>
    sql.withTransaction(Effect.gen(function*() {
      const [{ head }] = yield* sql.unsafe<{ readonly head: number }>(
        "SELECT coalesce(max(position), 0) AS head FROM nerv_events"
      )
      const actual = yield* versionsOf([...new Set(group.map((pending) => pending.documentId))])
      let position = head
      const outcomes: Array<Outcome> = []
      const params: Array<ReadonlyArray<unknown>> = []
      const created: Array<unknown> = []
      for (const pending of group) {
        const current = actual.get(pending.documentId) ?? 0
        if (current !== pending.expectedVersion) {
          outcomes.push({ _tag: "Conflict", actual: current })
          continue
        }
        const entries = pending.events.map((event, i) => {
          const row = pending.rows[i]!
          position++
          params.push([
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
            toBlob(row.payload)
          ])
          if (row.version === 1) created.push(position, row.document_id)
          return { position, event }
        })
        actual.set(pending.documentId, current + entries.length)
        outcomes.push({ _tag: "Committed", entries })
      }
      for (const rows of chunksOf(params, rowsPerInsert)) yield* sql.unsafe(insertStatement(rows.length), rows.flat())
      for (const rows of chunksOf(created, 2 * 400)) {
        yield* sql.unsafe(
          `INSERT INTO nerv_documents (seq, document_id) VALUES ${Array(rows.length / 2).fill("(?,?)").join(",")}`,
          rows
        )
      }
      return outcomes
    }))

  const settle = (group: ReadonlyArray<Pending>, outcomes: ReadonlyArray<Outcome>) =>
    Effect.sync(() => {
      for (let i = 0; i < group.length; i++) {
        const [pending, outcome] = [group[i]!, outcomes[i]!]
        pending.reply(
          outcome._tag === "Committed"
            ? Effect.succeed(outcome.entries)
            : Effect.fail(
              new Errors.VersionConflict({
                documentId: pending.documentId,
                expected: pending.expectedVersion,
                actual: outcome.actual
              })
            )
        )
      }
    })
  const refuse = (pending: Pending, error: Errors.JournalError) => Effect.sync(() => pending.reply(Effect.fail(error)))

  const isUniqueViolation = (error: SqlError) => String(error.cause).includes("UNIQUE constraint failed")
  const isBusy = (error: SqlError) => /SQLITE_BUSY|database is locked/.test(String(error.cause))

  /**
   * A group that fails as a whole (which another process writing the same file can cause) is
   * retried command by command, so each command still gets its own result; a command that met a
   * busy database (the other writer held the lock past `busy_timeout`) is tried a few times more.
   */
  const commit = (group: ReadonlyArray<Pending>): Effect.Effect<void> =>
    commitGroup(group).pipe(
      Effect.retry({ times: group.length === 1 ? 3 : 0, while: isBusy }),
      Effect.matchEffect({
        onSuccess: (outcomes) =>
          Effect.zipRight(
            Effect.zipRight(Metric.increment(commits), Metric.incrementBy(committedCommands, group.length)),
            settle(group, outcomes)
          ),
        onFailure: (error) => {
          if (group.length > 1) return Effect.forEach(group, (pending) => commit([pending]), { discard: true })
          const pending = group[0]!
          if (!isUniqueViolation(error)) {
            return refuse(pending, journalError("the append was not committed")(error))
          }
          return versionsOf([pending.documentId]).pipe(
            Effect.flatMap((versions) =>
              settle(group, [{ _tag: "Conflict", actual: versions.get(pending.documentId) ?? 0 }])
            ),
            Effect.catchAll((cause) => refuse(pending, journalError("the append was not committed")(cause)))
          )
        }
      })
    )

  const queue = yield* Effect.acquireRelease(Queue.unbounded<Pending>(), Queue.shutdown)
  // On close (after the writer stopped): the commands still queued are refused, not left waiting.
  yield* Effect.addFinalizer(() =>
    Effect.flatMap(
      Queue.takeAll(queue),
      (pending) =>
        Effect.forEach(
          pending,
          (p) => refuse(p, new Errors.JournalError({ reason: "the journal closed before the append" })),
          { discard: true }
        )
    )
  )
  // A group being committed finishes (and its commands get their results) before the writer stops.
  yield* Queue.takeBetween(queue, 1, maxBatch).pipe(
    Effect.flatMap((group) => Effect.uninterruptible(commit(Chunk.toReadonlyArray(group)))),
    Effect.forever,
    Effect.forkScoped
  )

  const append: Journal.JournalService["append"] = (events, expectedVersion) =>
    Effect.suspend(() => {
      const invalid = checkBatch(events, expectedVersion)
      if (invalid !== undefined) return Effect.fail(invalid)
      return Effect.flatMap(
        Effect.forEach(events, (event) => encodeEvent(event, codec, upcasters)),
        (rows) =>
          Effect.async<ReadonlyArray<Journal.JournalEntry>, Errors.VersionConflict | Errors.JournalError>((reply) => {
            // An unbounded queue refuses only once shut down: the journal is closed.
            if (!queue.unsafeOffer({ documentId: events[0]!.documentId, expectedVersion, events, rows, reply })) {
              reply(Effect.fail(new Errors.JournalError({ reason: "the journal is closed" })))
            }
          })
      )
    })

  /** A page of entries: its rows read as arrays of values (see `fromValues`), decoded in one effect. */
  const page = (statement: string, params: ReadonlyArray<unknown>) =>
    Effect.flatMap(
      Effect.mapError(sql.unsafe(statement, params).values, journalError("could not read the journal")),
      (values) => decodeEntries(values.map(fromValues), codec, upcasters)
    )

  const read = (readOptions?: Journal.ReadOptions) => {
    const size = readOptions?.pageSize ?? pageSize
    return Stream.paginateChunkEffect(readOptions?.after ?? 0, (after) =>
      Effect.map(
        page(`SELECT ${selectList} FROM nerv_events WHERE position > ? ORDER BY position LIMIT ?`, [after, size]),
        (entries) =>
          [
            Chunk.unsafeFromArray(entries),
            entries.length === size ? Option.some(entries[entries.length - 1]!.position) : Option.none<number>()
          ] as const
      ))
  }

  const readDocument = (documentId: string, readOptions?: { readonly fromVersion?: number | undefined }) =>
    Stream.paginateChunkEffect((readOptions?.fromVersion ?? 1) - 1, (after) =>
      Effect.map(
        page(
          `SELECT ${selectList} FROM nerv_events WHERE document_id = ? AND version > ? ORDER BY version LIMIT ?`,
          [documentId, after, pageSize]
        ),
        (entries) =>
          [
            Chunk.unsafeFromArray(entries),
            entries.length === pageSize
              ? Option.some(entries[entries.length - 1]!.event.version)
              : Option.none<number>()
          ] as const
      ))

  const head = Effect.map(
    Effect.mapError(
      sql.unsafe<{ readonly head: number }>("SELECT coalesce(max(position), 0) AS head FROM nerv_events"),
      journalError("could not read the journal")
    ),
    ([row]) => row!.head
  )

  return { append, read, readDocument, head } satisfies Journal.JournalService
})

/**
 * The SQLite journal with its snapshots and projection checkpoints, on the `SqlClient` in context
 * (`SqliteClient.layer({ filename })`), migrating the database first.
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Options
): Layer.Layer<
  Journal.Journal | SnapshotStore | Checkpoints,
  Errors.JournalError,
  SqlClient.SqlClient | PayloadCodec
> =>
  Layer.scopedContext(Effect.gen(function*() {
    yield* Effect.mapError(migrate, (cause) => new Errors.JournalError({ reason: "could not migrate", cause }))
    const journal = yield* make(options)
    const snapshots = yield* makeSqliteSnapshots(options?.pageSize ?? 1_000)
    const checkpoints = yield* makeSqliteCheckpoints
    return Context.make(Journal.Journal, journal).pipe(
      Context.add(SnapshotStore, snapshots),
      Context.add(Checkpoints, checkpoints)
    )
  }))
