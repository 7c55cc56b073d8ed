/**
 * The SQLite journal, NERV's embedded default: one database file holds the events, the snapshots
 * and the projections' checkpoints. Appends are durable when acknowledged (`synchronous=FULL` in
 * WAL mode by default) and fast because of group commit: the commands that arrive while a
 * transaction commits share the next one, and its single fsync, each still getting its own result.
 *
 * Several processes on one host may share a database file (not over a network filesystem: SQLite's
 * locks need a local one). A group commit takes the write lock up front (`BEGIN IMMEDIATE`), so the
 * global, gap-free position is assigned inside the one transaction that holds the lock, and the
 * unique (document, version) index is the last word on optimistic concurrency. While another process
 * holds the lock the group waits, off the event loop, for up to `busyTimeout`
 * (then `JournalBusy`). `changeToken` is SQLite's `PRAGMA data_version` on the journal's own
 * connection: it changes when another process commits, not when this journal does.
 *
 * @since 0.1.0
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Errors, Journal, Outbox } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Checkpoints } from "./Checkpoints.js"
import { decodeEntries, fromValues, selectList } from "./internal/eventRow.js"
import * as GroupCommit from "./internal/groupCommit.js"
import { makeSqliteOutbox } from "./internal/sqliteOutbox.js"
import { migrate as migrateSchema } from "./internal/sqliteSchema.js"
import { openWriter } from "./internal/sqliteWriter.js"
import { makeSqlCheckpoints, makeSqlSnapshots } from "./internal/sqlSnapshots.js"
import { PayloadCodec } from "./PayloadCodec.js"
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
  /**
   * How long, in milliseconds, an append waits for the write lock while another process holds it
   * before failing with `JournalBusy` (default 5000).
   */
  readonly busyTimeout?: number | undefined
}

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

/**
 * How a group commit waits for the write lock another process holds: it tries again every
 * millisecond or so (jittered, so that processes waiting together do not retry in step) for 100 ms,
 * since another process's group holds the lock for about that long (its inserts and one fsync) and
 * a lock left free between two tries is throughput lost; then after pauses growing to 20 ms, for
 * the rare long transaction. Meanwhile the event loop runs on, and the commands that arrive join
 * the group.
 */
const lockRetry = Schedule.spaced("1 millis").pipe(
  Schedule.jittered,
  Schedule.upTo("100 millis"),
  Schedule.andThen(
    Schedule.exponential("2 millis", 1.5).pipe(Schedule.union(Schedule.spaced("20 millis")), Schedule.jittered)
  )
)

/**
 * Makes the journal on a migrated database. Its group-commit writer runs in the scope.
 *
 * @since 0.1.0
 */
export const make = (
  options?: Options
): Effect.Effect<
  Journal.JournalService,
  Errors.JournalError,
  SqlClient.SqlClient | SqliteClient.SqliteClient | PayloadCodec | Scope.Scope
> => Effect.map(makeWithOutbox(options), ({ journal }) => journal)

/**
 * Makes the journal on a migrated database, and its outbox (the effects its appends record, on the
 * same connection). Its group-commit writer runs in the scope.
 *
 * @since 0.1.0
 */
export const makeWithOutbox: (
  options?: Options
) => Effect.Effect<
  { readonly journal: Journal.JournalService; readonly outbox: Outbox.OutboxService },
  Errors.JournalError,
  SqlClient.SqlClient | SqliteClient.SqliteClient | PayloadCodec | Scope.Scope
> = Effect.fnUntraced(function*(options?: Options) {
  const sql = yield* SqlClient.SqlClient
  const client = yield* SqliteClient.SqliteClient
  const codec = yield* PayloadCodec
  const upcasters = yield* Upcasters
  const pageSize = options?.pageSize ?? 1_000
  const maxBatch = options?.maxBatch ?? 1_024
  const busyTimeout = options?.busyTimeout ?? 5_000
  yield* sql.unsafe(`PRAGMA synchronous = ${options?.durability ?? "FULL"}`).pipe(
    Effect.zipRight(sql.unsafe("PRAGMA busy_timeout = 5000")),
    Effect.mapError(journalError("could not configure the database"))
  )
  const writer = yield* openWriter(client.config.filename, options?.durability ?? "FULL")
  // The performers of this process waiting for an effect to be recorded.
  const waiters = new Set<() => void>()
  const wake = () => {
    const woken = [...waiters]
    waiters.clear()
    for (const resume of woken) resume()
  }

  /**
   * Commits a group. A group that fails as a whole is retried command by command, so that each
   * command gets its own result; while another process holds the write lock, the group waits (see
   * `lockRetry`) and takes in the commands that arrive, and after `busyTimeout` every command in it
   * fails with `JournalBusy`.
   */
  const commit = (
    group: Array<GroupCommit.Pending>,
    more: (count: number) => Effect.Effect<Chunk.Chunk<GroupCommit.Pending>>
  ): Effect.Effect<void> =>
    Effect.gen(function*() {
      const started = Date.now()
      const driver = yield* Schedule.driver(lockRetry)
      while (true) {
        let outcomes: ReturnType<typeof writer.commitGroup>
        try {
          outcomes = writer.commitGroup(group)
        } catch (error) {
          if (group.length > 1) {
            return yield* Effect.forEach(group, (pending) => commit([pending], more), { discard: true })
          }
          return GroupCommit.refuse(
            group,
            new Errors.JournalError({ reason: "the append was not committed", cause: error })
          )
        }
        if (outcomes !== "Busy") {
          yield* Metric.increment(commits)
          yield* Metric.incrementBy(committedCommands, group.length)
          if (GroupCommit.settle(group, outcomes) && waiters.size > 0) wake()
          return
        }
        if (Date.now() - started >= busyTimeout) {
          return GroupCommit.refuse(group, new Errors.JournalBusy({ waitedMillis: Date.now() - started }))
        }
        yield* Effect.orDie(driver.next(undefined))
        // The commands that arrived while the lock was held join the group.
        for (const pending of yield* more(maxBatch - group.length)) group.push(pending)
      }
    })

  const append = yield* GroupCommit.start({ maxBatch, codec, upcasters, commit })

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

  const readHeaders = (readOptions?: Journal.ReadOptions) => {
    const size = readOptions?.pageSize ?? pageSize
    return Stream.paginateChunkEffect(readOptions?.after ?? 0, (after) =>
      Effect.try({
        try: () => {
          const headers = writer.headers(after, size)
          return [
            Chunk.unsafeFromArray(headers),
            headers.length === size ? Option.some(headers[headers.length - 1]!.position) : Option.none<number>()
          ] as const
        },
        catch: (cause) => new Errors.JournalError({ reason: "could not read the journal", cause })
      }))
  }

  const changeToken = Effect.try({
    try: writer.dataVersion,
    catch: (cause) => new Errors.JournalError({ reason: "could not read the journal", cause })
  })

  const recordForgotten = (documentId: string) =>
    sql.unsafe(
      "INSERT INTO nerv_forgotten (document_id, forgotten_at) VALUES (?, ?) ON CONFLICT (document_id) DO NOTHING",
      [documentId, Date.now()]
    ).pipe(Effect.asVoid, Effect.mapError(journalError(`could not record that ${documentId} was forgotten`)))

  const readForgotten = (after: number) =>
    Effect.try({
      try: () => writer.forgotten(after),
      catch: (cause) => new Errors.JournalError({ reason: "could not read the journal", cause })
    })

  const documents = (query?: Journal.DocumentQuery) =>
    Effect.try({
      try: () => writer.documents(query),
      catch: (cause) => new Errors.JournalError({ reason: "could not read the index of documents", cause })
    })

  const journal = {
    append,
    documents,
    read,
    readHeaders,
    readDocument,
    head,
    changeToken,
    recordForgotten,
    readForgotten
  } satisfies Journal.JournalService
  return {
    journal,
    outbox: makeSqliteOutbox(writer.connection, codec, waiters, busyTimeout, options?.durability ?? "FULL")
  }
})

const isBusy = (error: SqlError) => /SQLITE_BUSY|database is locked/.test(String(error.cause))

/**
 * A `SqlClient` on a SQLite file that several processes may write: `SqliteClient.layer`'s, whose
 * transactions take the write lock when they begin (`BEGIN IMMEDIATE`) instead of at their first
 * write. A transaction that read first and wrote later would fail at once with `SQLITE_BUSY`
 * whenever another process committed in between, whatever the busy timeout; one that holds the lock
 * from the start is never refused once it has begun. Beginning waits for another process's lock
 * (SQLite's busy timeout, then retries) for up to 5 s.
 *
 * @since 0.1.0
 */
export const layerClient = (
  config: SqliteClient.SqliteClientConfig
): Layer.Layer<SqlClient.SqlClient | SqliteClient.SqliteClient, ConfigError.ConfigError> =>
  Layer.effect(
    SqlClient.SqlClient,
    Effect.map(SqliteClient.SqliteClient, (client) => {
      const withTransaction = SqlClient.makeWithTransaction({
        transactionTag: SqlClient.TransactionConnection,
        spanAttributes: [["db.system.name", "sqlite"]],
        acquireConnection: Effect.flatMap(
          Scope.make(),
          (scope) => Effect.map(Scope.extend(client.reserve, scope), (connection) => [scope, connection] as const)
        ),
        begin: (connection) =>
          connection.executeUnprepared("BEGIN IMMEDIATE", [], undefined).pipe(
            Effect.retry({ while: isBusy, schedule: Schedule.intersect(lockRetry, Schedule.recurs(50)) })
          ),
        savepoint: (connection, id) => connection.executeUnprepared(`SAVEPOINT effect_sql_${id}`, [], undefined),
        commit: (connection) => connection.executeUnprepared("COMMIT", [], undefined),
        // A transaction whose BEGIN failed has nothing to roll back.
        rollback: (connection) =>
          connection.executeUnprepared("ROLLBACK", [], undefined).pipe(Effect.catchAll(() => Effect.void)),
        rollbackSavepoint: (connection, id) =>
          connection.executeUnprepared(`ROLLBACK TO SAVEPOINT effect_sql_${id}`, [], undefined)
      })
      // The client is a function (the tagged template) with properties: keep both, replace one.
      return Object.assign((...args: Parameters<typeof client>) => client(...args), client, { withTransaction })
    })
  ).pipe(Layer.provideMerge(SqliteClient.layer(config)))

/**
 * Brings a NERV database file up to date: every table of the file (journal, snapshots, checkpoints,
 * the documents' index, data keys, audit trail) comes from one list of migrations, recorded in
 * `nerv_migrations`. Idempotent: each migration runs once. `layer` runs it; so do the key store
 * and the audit trail on SQLite, whichever is opened first.
 *
 * @since 0.1.0
 */
export const migrate = Effect.asVoid(migrateSchema)

/**
 * The SQLite journal with its outbox, snapshots and projection checkpoints, on the `SqlClient` in context
 * (`layerClient({ filename })`, which several processes may share), migrating the database first.
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Options
): Layer.Layer<
  Journal.Journal | Outbox.Outbox | SnapshotStore | Checkpoints,
  Errors.JournalError,
  SqlClient.SqlClient | SqliteClient.SqliteClient | PayloadCodec
> =>
  Layer.scopedContext(Effect.gen(function*() {
    yield* Effect.mapError(migrate, (cause) => new Errors.JournalError({ reason: "could not migrate", cause }))
    const { journal, outbox } = yield* makeWithOutbox(options)
    const snapshots = yield* makeSqlSnapshots(options?.pageSize ?? 1_000)
    const checkpoints = yield* makeSqlCheckpoints
    return Context.make(Journal.Journal, journal).pipe(
      Context.add(Outbox.Outbox, outbox),
      Context.add(SnapshotStore, snapshots),
      Context.add(Checkpoints, checkpoints)
    )
  }))
