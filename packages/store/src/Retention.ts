/**
 * Retention: removing old versions from a SQLite or PostgreSQL journal without breaking what the
 * store promises, optionally keeping them in an archive file first.
 *
 * The policy: a document's events before its *horizon* are deleted, where the horizon is its latest
 * snapshot whose version happened more than `olderThan` ago. The snapshot at the horizon and every
 * event from it on are kept, so the document's state, its latest versions and its history from the
 * horizon on stay readable; `history` then starts at the horizon, and `at`/`asOf` of an earlier
 * version fail with `VersionPruned` (never with a wrong answer). A document without such a snapshot
 * keeps everything. Positions are never reused: reading the journal from a position skips pruned
 * entries, so a projection rebuilt from zero afterwards sees only the retained history.
 *
 * With `archive`, the events are first copied into that SQLite file (its `nerv_events` table has the
 * journal's columns, the rows exactly as stored: sealed rows stay sealed) and committed there;
 * only events found in the archive (the same position and event id) are then deleted. Archives are
 * SQLite files on both journals, in one format: `readArchive` reads either. A prune interrupted between the two steps
 * leaves copies in the archive and nothing lost; running it again finishes it.
 * `readArchive` reads the archived events back, decoded as the journal decodes them.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Errors, type Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Path from "node:path"
import { columns, decodeEntries, fromValues, selectList } from "./internal/eventRow.js"
import { copyToArchive } from "./internal/pgArchive.js"
import * as RetentionSql from "./internal/retentionSql.js"
import { PayloadCodec } from "./PayloadCodec.js"
import { Upcasters } from "./Upcasting.js"

/**
 * @since 0.1.0
 */
export interface Policy {
  /** Only versions that happened longer ago than this are pruned. */
  readonly olderThan: Duration.DurationInput
  /**
   * A SQLite file that receives the pruned events before they are deleted (created if missing;
   * an existing archive of the same journal is added to).
   */
  readonly archive?: string | undefined
}

/**
 * What a pruning removed (or, from `plan`, would remove).
 *
 * @since 0.1.0
 */
export interface Pruned {
  readonly events: number
  readonly snapshots: number
  /** The documents that lost versions. */
  readonly documents: number
  /** The events this call copied into the archive (0 without one, or when an earlier run had). */
  readonly archived: number
}

/**
 * @since 0.1.0
 */
export interface RetentionService {
  /** What `prune` would remove now, changing nothing. */
  readonly plan: (policy: Policy) => Effect.Effect<Pruned, Errors.JournalError>
  /** Prunes by the policy: archives first if asked, then deletes in one transaction. */
  readonly prune: (policy: Policy) => Effect.Effect<Pruned, Errors.JournalError>
  /** The events of an archive, in position order (of one document, if given), decoded. */
  readonly readArchive: (
    archive: string,
    options?: { readonly documentId?: string | undefined; readonly pageSize?: number | undefined }
  ) => Stream.Stream<Journal.JournalEntry, Errors.JournalError>
}

/**
 * Retention over the journal the host runs on (`Nerv.layerSqlite` and `Nerv.layerPostgres` provide it).
 *
 * @since 0.1.0
 */
export class Retention extends Context.Tag("@nerv/store/Retention")<Retention, RetentionService>() {}

/** The archive's schema name while it is attached to the journal's connection. */
const archiveSchema = "nerv_archive"
const archived = `EXISTS (SELECT 1 FROM ${archiveSchema}.nerv_events a WHERE a.position = e.position
  AND a.event_id = e.event_id)`

const failed = (reason: string) => (cause: unknown) =>
  new Errors.JournalError({ reason: `${reason}: ${cause instanceof Error ? describe(cause) : String(cause)}`, cause })
const describe = (error: Error): string =>
  "cause" in error && error.cause instanceof Error ? describe(error.cause) : error.message

const cutoffOf = (policy: Policy) =>
  Effect.map(Clock.currentTimeMillis, (now) => now - Duration.toMillis(policy.olderThan))

/** The service from a journal's `plan` and `prune`, with the archive reader both journals share. */
const service = Effect.fn(function*(
  statements: ReturnType<typeof RetentionSql.statements>,
  prune: (cutoff: number, policy: Policy) => Effect.Effect<Pruned, Errors.JournalError>
) {
  const codec = yield* PayloadCodec
  const upcasters = yield* Upcasters
  // One prune at a time (the SQLite archive is attached to the shared connection under one name).
  const lock = yield* Effect.makeSemaphore(1)
  const plan = (policy: Policy) =>
    cutoffOf(policy).pipe(
      Effect.flatMap(statements.plan),
      Effect.map((planned) => ({ ...planned, archived: 0 })),
      Effect.mapError(failed("could not read the journal"))
    )
  const readArchive: RetentionService["readArchive"] = (file, options) => {
    const size = options?.pageSize ?? 1_000
    const where = options?.documentId === undefined ? "" : "document_id = ? AND "
    return Stream.unwrapScoped(
      Effect.map(
        SqliteClient.make({ filename: file, readonly: true, disableWAL: true }).pipe(
          Effect.provide(Reactivity.layer),
          Effect.catchAllDefect(Effect.fail),
          Effect.mapError(failed(`could not open the archive ${file}`))
        ),
        (archive) =>
          Stream.paginateChunkEffect(0, (after) =>
            archive.unsafe(
              `SELECT ${selectList} FROM nerv_events WHERE ${where}position > ? ORDER BY position LIMIT ?`,
              options?.documentId === undefined ? [after, size] : [options.documentId, after, size]
            ).values.pipe(
              Effect.mapError(failed(`could not read the archive ${file}`)),
              Effect.flatMap((values) => decodeEntries(values.map(fromValues), codec, upcasters)),
              Effect.map((entries) =>
                [
                  Chunk.unsafeFromArray(entries),
                  entries.length === size ? Option.some(entries[entries.length - 1]!.position) : Option.none()
                ] as const
              )
            ))
      )
    )
  }
  return {
    plan,
    prune: (policy: Policy) =>
      Effect.flatMap(cutoffOf(policy), (cutoff) => prune(cutoff, policy)).pipe(lock.withPermits(1)),
    readArchive
  } satisfies RetentionService
})

/**
 * Makes the retention service on a SQLite journal's `SqlClient`.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<RetentionService, never, SqlClient.SqlClient | PayloadCodec> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const statements = RetentionSql.statements(sql, RetentionSql.sqlite)
    const horizon = RetentionSql.horizon(RetentionSql.sqlite)
    const { prunable } = RetentionSql
    const changes = Effect.map(sql.unsafe<{ readonly n: number }>("SELECT changes() AS n"), ([row]) => row!.n)

    /** Copies the events the policy prunes into the archive, committed there before anything is deleted. */
    const copyToArchive = (cutoff: number, file: string) =>
      Effect.gen(function*() {
        // Another journal's archive (or a copy of this one gone astray) holds other events at the
        // same positions or versions: refused before anything is written.
        const clashes = yield* statements.count(
          `SELECT count(*) AS n FROM ${prunable} JOIN ${archiveSchema}.nerv_events a
            ON (a.position = e.position OR (a.document_id = e.document_id AND a.version = e.version))
            AND a.event_id <> e.event_id`,
          [cutoff]
        ).pipe(Effect.mapError(failed(`could not read the archive ${file}`)))
        if (clashes > 0) {
          return yield* new Errors.JournalError({
            reason: `the archive ${file} holds other events at the positions or versions of ${clashes} events ` +
              "to prune: it is not this journal's archive; give another file"
          })
        }
        return yield* sql.withTransaction(
          Effect.zipRight(
            sql.unsafe(
              `${horizon} INSERT OR IGNORE INTO ${archiveSchema}.nerv_events (${selectList})
                SELECT ${columns.map((column) => `e.${column}`).join(", ")} FROM ${prunable}`,
              [cutoff]
            ),
            changes
          )
        ).pipe(Effect.mapError(failed(`could not write the archive ${file}`)))
      })

    /** The archive attached to the journal's connection, its table created if missing. */
    const attached = (file: string) =>
      Effect.gen(function*() {
        const [main] = yield* sql.unsafe<{ readonly file: string }>(
          "SELECT file FROM pragma_database_list WHERE name = 'main'"
        ).pipe(Effect.mapError(failed("could not read the journal's file name")))
        if (main !== undefined && main.file !== "" && Path.resolve(main.file) === Path.resolve(file)) {
          return yield* new Errors.JournalError({
            reason: `the archive must be another file than the journal (${file})`
          })
        }
        const [table] = yield* sql.unsafe<{ readonly sql: string }>(
          "SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = 'nerv_events'"
        ).pipe(Effect.mapError(failed("could not read the journal's schema")))
        if (table === undefined) {
          return yield* new Errors.JournalError({ reason: "the database holds no journal (no nerv_events table)" })
        }
        yield* Effect.acquireRelease(
          sql.unsafe(`ATTACH DATABASE ? AS ${archiveSchema}`, [file]).pipe(
            Effect.mapError(failed(`could not open the archive ${file}`))
          ),
          () => Effect.ignore(sql.unsafe(`DETACH DATABASE ${archiveSchema}`))
        )
        // The journal's own table definition, in the archive: the same columns and constraints.
        yield* sql.unsafe(
          table.sql.replace(
            /^CREATE TABLE\s+"?nerv_events"?/i,
            `CREATE TABLE IF NOT EXISTS ${archiveSchema}.nerv_events`
          )
        ).pipe(
          Effect.zipRight(sql.unsafe(`PRAGMA ${archiveSchema}.synchronous = FULL`)),
          Effect.mapError(failed(`could not prepare the archive ${file}`))
        )
      })

    const remove = (cutoff: number, only?: RetentionSql.Only) =>
      statements.remove(cutoff, only).pipe(Effect.mapError(failed("could not prune the journal")))
    return yield* service(statements, (cutoff, policy) => {
      if (policy.archive === undefined) return Effect.map(remove(cutoff), (removed) => ({ ...removed, archived: 0 }))
      const file = policy.archive
      return Effect.scoped(Effect.gen(function*() {
        yield* attached(file)
        const copied = yield* copyToArchive(cutoff, file)
        return { ...yield* remove(cutoff, { where: archived, params: [] }), archived: copied }
      }))
    })
  }
)

/**
 * The retention service on the SQLite journal's `SqlClient` and payload codec.
 *
 * @since 0.1.0
 */
export const layerSqlite: Layer.Layer<Retention, never, SqlClient.SqlClient | PayloadCodec> = Layer.effect(
  Retention,
  make
)

/**
 * Makes the retention service on a PostgreSQL journal's `SqlClient` (see `PostgresJournal.layerClient`).
 * Archives are SQLite files as on the SQLite journal: the events are copied from PostgreSQL into the
 * file and committed there, and only then the events it holds are deleted from PostgreSQL, in one
 * transaction.
 *
 * @since 0.1.0
 */
export const makePostgres: Effect.Effect<RetentionService, never, SqlClient.SqlClient | PayloadCodec> = Effect
  .gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const statements = RetentionSql.statements(sql, RetentionSql.postgres)
    const remove = (cutoff: number, only?: RetentionSql.Only) =>
      statements.remove(cutoff, only).pipe(Effect.mapError(failed("could not prune the journal")))
    return yield* service(statements, (cutoff, policy) => {
      if (policy.archive === undefined) return Effect.map(remove(cutoff), (removed) => ({ ...removed, archived: 0 }))
      return Effect.flatMap(copyToArchive(sql, cutoff, policy.archive, failed), (copied) =>
        Effect.map(
          remove(cutoff, {
            where: `EXISTS (SELECT 1 FROM unnest($2::bigint[], $3::text[]) AS a(position, event_id)
              WHERE a.position = e.position AND a.event_id = e.event_id)`,
            params: [copied.positions, copied.eventIds]
          }),
          (removed) => ({ ...removed, archived: copied.archived })
        ))
    })
  })

/**
 * The retention service on the PostgreSQL journal's `SqlClient` and payload codec
 * (`Nerv.layerPostgres` provides it).
 *
 * @since 0.1.0
 */
export const layerPostgres: Layer.Layer<Retention, never, SqlClient.SqlClient | PayloadCodec> = Layer.effect(
  Retention,
  makePostgres
)
