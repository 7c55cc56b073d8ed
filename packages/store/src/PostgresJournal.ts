/**
 * The PostgreSQL journal, for several nodes: the events, the index of documents, the snapshots, the
 * projections' checkpoints and the records of forgotten documents in one PostgreSQL database, which
 * every node shares. It keeps the SQLite journal's promises: an append per command is atomic, the
 * unique (document, version) constraint is the last word on optimistic concurrency, and commands
 * that arrive while a transaction commits share the next one (group commit).
 *
 * Positions are gap-free and commit in their order: every group commit locks the one row of
 * `nerv_head` first and allocates its positions from it, inside the transaction that holds it until
 * it commits. So a node tailing "after position p" never passes a position whose transaction commits
 * later, which a plain sequence allows (see docs/storage.md). Commits notify the journal's channel
 * (`LISTEN`/`NOTIFY`), which wakes the other nodes' followers; `changeToken` reads the head, so a
 * read on any node sees every command acknowledged anywhere before it.
 *
 * A connection lost during an append fails it with a `JournalError` that says so, and changes
 * nothing: when the commit may have reached the server, the journal reads on a new connection
 * whether it did, and reports the append committed if it was. The writer and the listener reopen
 * their connections; following resumes from the last position it took into account.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Errors, Journal, Outbox } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import type pg from "pg"
import { Checkpoints } from "./Checkpoints.js"
import { decodeEntries, fromValues, selectList } from "./internal/eventRow.js"
import * as GroupCommit from "./internal/groupCommit.js"
import { listen } from "./internal/pgListener.js"
import { makePgOutbox } from "./internal/pgOutbox.js"
import { migrate as migrateSchema } from "./internal/pgSchema.js"
import { Busy, type Claim, InDoubt, makeWriter, NotCommitted, types } from "./internal/pgWriter.js"
import type { Outcome } from "./internal/sqliteWriter.js"
import { makeSqlCheckpoints, makeSqlSnapshots } from "./internal/sqlSnapshots.js"
import { PayloadCodec } from "./PayloadCodec.js"
import { SnapshotStore } from "./Snapshots.js"
import { Upcasters } from "./Upcasting.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** The most commands one group commit takes (default 1024). */
  readonly maxBatch?: number | undefined
  /** Entries per page when reading (default 1000). */
  readonly pageSize?: number | undefined
  /**
   * How long, in milliseconds, a group commit waits for the head row while another node's
   * transaction holds it before its commands fail with `JournalBusy` (default 5000).
   */
  readonly busyTimeout?: number | undefined
}

const journalError = (reason: string) => (cause: SqlError) => new Errors.JournalError({ reason, cause })

/** The connection settings of the journal's own connections, from the `PgClient`'s. */
const clientConfig = (config: PgClient.PgClientConfig): pg.ClientConfig => ({
  ...(config.url !== undefined ? { connectionString: Redacted.value(config.url) } : {}),
  ...(config.host !== undefined ? { host: config.host } : {}),
  ...(config.port !== undefined ? { port: config.port } : {}),
  ...(config.database !== undefined ? { database: config.database } : {}),
  ...(config.username !== undefined ? { user: config.username } : {}),
  ...(config.password !== undefined ? { password: Redacted.value(config.password) } : {}),
  // A URL's own application_name (which `pg` prefers to this one) names the node in pg_stat_activity.
  application_name: config.applicationName ?? "nerv"
})

/** A short, stable name for the journal's notification channel: one per database and schema. */
const channelOf = (database: string, schema: string) => {
  let hash = 0x811c9dc5
  for (const char of `${database}.${schema}`) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0
  return `nerv_journal_${hash.toString(16)}`
}

/**
 * Makes the journal on a migrated database. Its group-commit writer and its listener run in the
 * scope.
 *
 * @since 0.1.0
 */
export const make = (
  options?: Options
): Effect.Effect<
  Journal.JournalService,
  Errors.JournalError,
  PgClient.PgClient | PayloadCodec | Scope.Scope
> => Effect.map(makeWithOutbox(options), ({ journal }) => journal)

/**
 * Makes the journal on a migrated database, and its outbox (the effects its appends record, claimed
 * by the nodes' performers). Its group-commit writer and its listener run in the scope.
 *
 * @since 0.1.0
 */
export const makeWithOutbox: (
  options?: Options
) => Effect.Effect<
  { readonly journal: Journal.JournalService; readonly outbox: Outbox.OutboxService },
  Errors.JournalError,
  PgClient.PgClient | PayloadCodec | Scope.Scope
> = Effect.fnUntraced(function*(options?: Options) {
  const sql = yield* PgClient.PgClient
  const codec = yield* PayloadCodec
  const upcasters = yield* Upcasters
  const pageSize = options?.pageSize ?? 1_000
  const maxBatch = options?.maxBatch ?? 1_024
  const config = clientConfig(sql.config)
  const [where] = yield* Effect.mapError(
    sql.unsafe<{ readonly database: string; readonly schema: string }>(
      "SELECT current_database() AS database, current_schema() AS schema"
    ),
    journalError("could not reach PostgreSQL")
  )
  const channel = channelOf(where!.database, where!.schema)
  /** This journal's commits notify with it, so that its own listener skips them. */
  const instance = randomUUID()
  /** What this journal committed (positions, and forgotten records): subtracted from the head for the token. */
  let own = 0
  /**
   * The positions of this journal's group between the moment it took them and its answer: its
   * commit may already show in the head while `own` does not count it yet.
   */
  let claim: Claim | undefined
  /** Forgotten records being written, and how many were: they commit before `own` counts them. */
  let forgetting = 0
  let forgets = 0
  const writer = yield* Effect.acquireRelease(
    Effect.sync(() =>
      makeWriter({
        config,
        channel,
        instance,
        busyTimeout: options?.busyTimeout ?? 5_000,
        claimed: (claimed) => void (claim = claimed)
      })
    ),
    (writer) => Effect.promise(writer.close)
  )
  const listener = yield* listen(config, channel, instance)
  // The performers of this process waiting for an effect to be recorded.
  const waiters = new Set<() => void>()

  const settle = (group: ReadonlyArray<GroupCommit.Pending>, outcomes: ReadonlyArray<Outcome>) => {
    // The group's positions move from the claim to `own` in one step (see `changeToken`).
    claim = undefined
    for (const outcome of outcomes) if (outcome._tag === "Committed") own += outcome.entries.length
    if (GroupCommit.settle(group, outcomes) && waiters.size > 0) {
      const woken = [...waiters]
      waiters.clear()
      for (const resume of woken) resume()
    }
  }

  /**
   * Commits a group. A group that fails as a whole for another reason than the connection is retried
   * command by command, so that each command gets its own result.
   */
  const commit = (group: Array<GroupCommit.Pending>): Effect.Effect<void> =>
    Effect.flatMap(
      Effect.either(Effect.tryPromise({ try: () => writer.commitGroup(group), catch: (error) => error })),
      (result) => {
        if (result._tag === "Right") return Effect.sync(() => settle(group, result.right))
        const cause = result.left
        if (cause instanceof Busy) {
          return Effect.sync(() =>
            GroupCommit.refuse(group, new Errors.JournalBusy({ waitedMillis: options?.busyTimeout ?? 5_000 }))
          )
        }
        if (cause instanceof NotCommitted || cause instanceof InDoubt || group.length === 1) {
          const reason = cause instanceof NotCommitted || cause instanceof InDoubt
            ? cause.message
            : "the append was not committed"
          return Effect.sync(() => GroupCommit.refuse(group, new Errors.JournalError({ reason, cause })))
        }
        return Effect.forEach(group, (pending) => commit([pending]), { discard: true })
      }
    )

  const append = yield* GroupCommit.start({ maxBatch, codec, upcasters, commit })

  const values = (statement: string, params: ReadonlyArray<unknown>, reason = "could not read the journal") =>
    Effect.mapError(sql.unsafe(statement, params).values, journalError(reason))

  const page = (statement: string, params: ReadonlyArray<unknown>) =>
    Effect.flatMap(values(statement, params), (rows) => decodeEntries(rows.map(fromValues), codec, upcasters))

  const read = (readOptions?: Journal.ReadOptions) => {
    const size = readOptions?.pageSize ?? pageSize
    return Stream.paginateChunkEffect(readOptions?.after ?? 0, (after) =>
      Effect.map(
        page(`SELECT ${selectList} FROM nerv_events WHERE position > $1 ORDER BY position LIMIT $2`, [after, size]),
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
          `SELECT ${selectList} FROM nerv_events WHERE document_id = $1 AND version > $2 ORDER BY version LIMIT $3`,
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

  const headRow = values("SELECT position, forgotten FROM nerv_head WHERE id = 1", [])

  const readHeaders = (readOptions?: Journal.ReadOptions) => {
    const size = readOptions?.pageSize ?? pageSize
    return Stream.paginateChunkEffect(readOptions?.after ?? 0, (after) =>
      Effect.map(
        values(
          "SELECT position, document_id, version, event_type FROM nerv_events WHERE position > $1 " +
            "ORDER BY position LIMIT $2",
          [after, size]
        ),
        (rows) => {
          const headers = rows.map(([position, documentId, version, eventType]): Journal.EntryHeader => ({
            position: position as number,
            documentId: documentId as Journal.EntryHeader["documentId"],
            version: version as number,
            eventType: eventType as Journal.EntryHeader["eventType"]
          }))
          return [
            Chunk.unsafeFromArray(headers),
            headers.length === size ? Option.some(headers[headers.length - 1]!.position) : Option.none<number>()
          ] as const
        }
      ))
  }

  const recordForgotten = (documentId: string) =>
    // The record's sequence comes from the head row, like positions: records commit in their order.
    Effect.suspend(() => {
      forgetting++
      return Effect.ensuring(
        Effect.map(
          values(
            `WITH h AS (UPDATE nerv_head SET forgotten = forgotten + 1 WHERE id = 1 RETURNING forgotten),
         i AS (INSERT INTO nerv_forgotten (sequence, document_id, forgotten_at) SELECT forgotten, $1, $2 FROM h
           ON CONFLICT (document_id) DO NOTHING)
         SELECT pg_notify($3, $4) FROM h`,
            [documentId, Date.now(), channel, instance],
            `could not record that ${documentId} was forgotten`
          ),
          () => void (own += 1)
        ),
        Effect.sync(() => {
          forgetting--
          forgets++
        })
      )
    })

  const readForgotten = (after: number) =>
    Effect.map(
      values("SELECT sequence, document_id FROM nerv_forgotten WHERE sequence > $1 ORDER BY sequence", [after]),
      (rows) =>
        rows.map(([sequence, id]) => ({
          sequence: sequence as number,
          documentId: id as Journal.ForgottenRecord["documentId"]
        }))
    )

  const documents = (query?: Journal.DocumentQuery) => {
    const include = query?.include ?? "live"
    const params: Array<unknown> = [query?.after ?? 0]
    const author = query?.author === undefined ? "" : `AND d.author = $${params.push(query.author)} `
    const limit = query?.limit === undefined ? "" : `LIMIT $${params.push(query.limit)}`
    return Effect.map(
      values(
        "SELECT d.document_id, d.seq, d.author, d.version, d.deleted FROM nerv_documents d " +
          `WHERE d.seq > $1 ${author}` +
          (include === "live" ? "AND NOT d.deleted " : include === "deleted" ? "AND d.deleted " : "") +
          "AND NOT EXISTS (SELECT 1 FROM nerv_forgotten f WHERE f.document_id = d.document_id) " +
          `ORDER BY d.seq ${limit}`,
        params,
        "could not read the index of documents"
      ),
      (rows) =>
        rows.map(([id, sequence, author, version, deleted]): Journal.DocumentSummary => ({
          documentId: id as Journal.DocumentSummary["documentId"],
          sequence: sequence as number,
          author: author as string,
          version: version as number,
          deleted: deleted as boolean
        }))
    )
  }

  /** Tokens that match no other: read while a forgotten record of this journal was being written. */
  let unmatched = 0
  // The head moves with every commit and every record of a forgotten document; what this journal
  // did itself is taken off, so that only others' commits change the token. A group's positions are
  // taken off as soon as the head shows them (it may before the group's answer arrives); a token read
  // while a forgotten record is written matches nothing, so the next one differs whatever happened.
  const changeToken = Effect.suspend(() => {
    const [busy, before] = [forgetting > 0, forgets]
    return Effect.map(headRow, ([row]) => {
      if (busy || forgetting > 0 || forgets !== before) return -++unmatched
      const head = row![0] as number
      const taken = claim !== undefined && claim.last <= head ? claim.count : 0
      return head + (row![1] as number) - own - taken
    })
  })

  const journal = {
    append,
    documents,
    read,
    readHeaders,
    readDocument,
    head: Effect.map(headRow, ([row]) => row![0] as number),
    changeToken,
    awaitChange: listener.awaitChange,
    recordForgotten,
    readForgotten
  } satisfies Journal.JournalService
  return { journal, outbox: makePgOutbox(sql, codec, waiters) }
})

/**
 * Brings a PostgreSQL journal database up to date: the journal's tables, and those of the data keys
 * and the audit trail (`KeyStore.layerSql` and `AuditTrail.layerSql` run it on PostgreSQL). Nodes
 * starting together migrate once.
 *
 * @since 0.1.0
 */
export const migrate: Effect.Effect<void, Errors.JournalError, SqlClient.SqlClient> = Effect.mapError(
  Effect.asVoid(migrateSchema),
  (cause) => new Errors.JournalError({ reason: "could not migrate", cause })
)

/**
 * A `PgClient` (the `SqlClient` of snapshots, checkpoints, keys and the audit trail) whose
 * `bigint` columns read as numbers, as the journal's do.
 *
 * @since 0.1.0
 */
export const layerClient = (
  config: PgClient.PgClientConfig
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, Errors.JournalError> =>
  PgClient.layer({ ...config, types }).pipe(
    Layer.mapError((cause) => new Errors.JournalError({ reason: "could not connect to PostgreSQL", cause }))
  )

/**
 * The PostgreSQL journal with its outbox, snapshots and projection checkpoints, on the `PgClient` in context
 * (`layerClient({ url })`), migrating the database first.
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Options
): Layer.Layer<
  Journal.Journal | Outbox.Outbox | SnapshotStore | Checkpoints,
  Errors.JournalError,
  PgClient.PgClient | SqlClient.SqlClient | PayloadCodec
> =>
  Layer.scopedContext(Effect.gen(function*() {
    yield* migrate
    const { journal, outbox } = yield* makeWithOutbox(options)
    const snapshots = yield* makeSqlSnapshots(options?.pageSize ?? 1_000)
    const checkpoints = yield* makeSqlCheckpoints
    return Context.make(Journal.Journal, journal).pipe(
      Context.add(Outbox.Outbox, outbox),
      Context.add(SnapshotStore, snapshots),
      Context.add(Checkpoints, checkpoints)
    )
  }))
