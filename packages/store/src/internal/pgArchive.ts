import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Errors } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { columns, selectList } from "./eventRow.js"
import { horizon, postgres, prunable } from "./retentionSql.js"
import { eventsTable } from "./sqliteSchema.js"

/** The events a PostgreSQL journal's prune copied into its archive, and those the archive holds. */
export interface Copied {
  /** Rows this call wrote into the archive (the others were there already). */
  readonly archived: number
  /** The prunable events the archive holds (their positions and event ids, pairwise). */
  readonly positions: ReadonlyArray<number>
  readonly eventIds: ReadonlyArray<string>
}

const pageSize = 500

type Failed = (reason: string) => (cause: unknown) => Errors.JournalError

/**
 * Copies the events a PostgreSQL journal's policy prunes at `cutoff` into the SQLite archive `file`
 * (created if missing, with the SQLite journal's `nerv_events` table), rows exactly as stored, in
 * one transaction committed with `synchronous = FULL`. An archive holding other events at the same
 * positions or versions is refused, and nothing is written to it.
 */
export const copyToArchive = (
  sql: SqlClient.SqlClient,
  cutoff: number,
  file: string,
  failed: Failed
): Effect.Effect<Copied, Errors.JournalError> =>
  Effect.scoped(Effect.gen(function*() {
    const archive = yield* SqliteClient.make({ filename: file, disableWAL: true }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.catchAllDefect(Effect.fail),
      Effect.mapError(failed(`could not open the archive ${file}`))
    )
    yield* archive.unsafe("PRAGMA synchronous = FULL").pipe(
      Effect.zipRight(archive.unsafe(eventsTable.replace(/^CREATE TABLE/, "CREATE TABLE IF NOT EXISTS"))),
      Effect.mapError(failed(`could not prepare the archive ${file}`))
    )
    const readPage = (after: number) =>
      sql.unsafe<Record<string, unknown>>(
        `${horizon(postgres)} SELECT ${columns.map((column) => `e.${column}`).join(", ")} FROM ${prunable}
          WHERE e.position > $2 ORDER BY e.position LIMIT $3`,
        [cutoff, after, pageSize]
      ).pipe(Effect.mapError(failed("could not read the journal")))

    const copyPage = (rows: ReadonlyArray<Record<string, unknown>>) =>
      Effect.gen(function*() {
        const keys = JSON.stringify(
          rows.map((row) => [row["position"], row["document_id"], row["version"], row["event_id"]])
        )
        // Another journal's archive (or a copy of this one gone astray) holds other events at the
        // same positions or versions: refused, and the transaction writes nothing.
        const [clash] = yield* archive.unsafe<{ readonly n: number }>(
          `WITH p AS (SELECT value ->> 0 AS position, value ->> 1 AS document_id, value ->> 2 AS version,
              value ->> 3 AS event_id FROM json_each(?))
            SELECT count(*) AS n FROM p JOIN nerv_events a
              ON (a.position = p.position OR (a.document_id = p.document_id AND a.version = p.version))
              AND a.event_id <> p.event_id`,
          [keys]
        ).pipe(Effect.mapError(failed(`could not read the archive ${file}`)))
        if (clash!.n > 0) return yield* Effect.fail(clash!.n)
        yield* archive.unsafe(
          `INSERT OR IGNORE INTO nerv_events (${selectList}) VALUES ${
            rows.map(() => `(${columns.map(() => "?").join(", ")})`).join(", ")
          }`,
          rows.flatMap((row) => columns.map((column) => row[column]))
        ).pipe(Effect.mapError(failed(`could not write the archive ${file}`)))
        const [written] = yield* archive.unsafe<{ readonly n: number }>("SELECT changes() AS n")
          .pipe(Effect.mapError(failed(`could not write the archive ${file}`)))
        const held = new Set(
          (yield* archive.unsafe<{ readonly position: number; readonly event_id: string }>(
            "SELECT position, event_id FROM nerv_events WHERE position BETWEEN ? AND ?",
            [rows[0]!["position"], rows[rows.length - 1]!["position"]]
          ).pipe(Effect.mapError(failed(`could not read the archive ${file}`)))).map((row) =>
            `${row.position} ${row.event_id}`
          )
        )
        return { written: written!.n, held: rows.filter((row) => held.has(`${row["position"]} ${row["event_id"]}`)) }
      })

    // A transaction of the archive's own (not `withTransaction`, whose connection the PostgreSQL
    // reads in it would use too).
    const inTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(
        archive.unsafe("BEGIN IMMEDIATE"),
        () => Effect.zipLeft(effect, archive.unsafe("COMMIT")),
        (_, exit) => Exit.isSuccess(exit) ? Effect.void : Effect.ignore(archive.unsafe("ROLLBACK"))
      )
    const copied = yield* inTransaction(Effect.gen(function*() {
      let after = 0
      let archived = 0
      const positions: Array<number> = []
      const eventIds: Array<string> = []
      for (;;) {
        const rows = yield* readPage(after)
        if (rows.length === 0) break
        const page = yield* copyPage(rows)
        archived += page.written
        for (const row of page.held) {
          positions.push(row["position"] as number)
          eventIds.push(row["event_id"] as string)
        }
        after = rows[rows.length - 1]!["position"] as number
        if (rows.length < pageSize) break
      }
      return { archived, positions, eventIds }
    })).pipe(
      Effect.mapError((error) =>
        typeof error === "number"
          ? new Errors.JournalError({
            reason: `the archive ${file} holds other events at the positions or versions of ${error} events ` +
              "to prune: it is not this journal's archive; give another file"
          })
          : error instanceof Errors.JournalError
          ? error
          : failed(`could not write the archive ${file}`)(error)
      )
    )
    return copied
  }))
