import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/**
 * What differs between the SQLite and the PostgreSQL journal in retention's statements: how a
 * parameter is written, and how a `DELETE` tells how many rows it removed.
 */
export interface Dialect {
  /** The `n`th (1-based) parameter of a statement. */
  readonly param: (n: number) => string
  /** Runs `statement` (a `DELETE`) after the horizon's `WITH`; the number of rows it deleted. */
  readonly deleted: (
    sql: SqlClient.SqlClient,
    statement: string,
    params: ReadonlyArray<unknown>
  ) => Effect.Effect<number, SqlError>
}

const countOf = (sql: SqlClient.SqlClient, statement: string, params: ReadonlyArray<unknown>) =>
  Effect.map(sql.unsafe<{ readonly n: number }>(statement, params), ([row]) => Number(row!.n))

/** SQLite: `?` parameters, and `changes()` after the statement (on the same connection). */
export const sqlite: Dialect = {
  param: () => "?",
  deleted: (sql, statement, params) =>
    Effect.zipRight(sql.unsafe(`${horizon(sqlite)} ${statement}`, params), countOf(sql, "SELECT changes() AS n", []))
}

/** PostgreSQL: `$n` parameters, and the rows the statement returns, counted in the same statement. */
export const postgres: Dialect = {
  param: (n) => `$${n}`,
  deleted: (sql, statement, params) =>
    countOf(sql, `${horizon(postgres)}, gone AS (${statement} RETURNING 1) SELECT count(*) AS n FROM gone`, params)
}

/**
 * Each document's horizon: its latest snapshot of a version that happened before the cutoff (the
 * statement's first parameter).
 */
export const horizon = (dialect: Dialect) =>
  `WITH horizon AS (
  SELECT s.document_id, max(s.version) AS version FROM nerv_snapshots s
  JOIN nerv_events e ON e.document_id = s.document_id AND e.version = s.version
  WHERE e.occurred_at < ${dialect.param(1)}
  GROUP BY s.document_id
)`
/** The events before their document's horizon (`e`). */
export const prunable = "nerv_events e JOIN horizon h ON e.document_id = h.document_id AND e.version < h.version"
/** The snapshots before their document's horizon (`s`). */
export const prunableSnapshots =
  "nerv_snapshots s JOIN horizon h ON s.document_id = h.document_id AND s.version < h.version"

/** A condition on the prunable events (`e`) that restricts what is deleted, with its parameters (from `$2`). */
export interface Only {
  readonly where: string
  readonly params: ReadonlyArray<unknown>
}

/** What a pruning removed. */
export interface Removed {
  readonly events: number
  readonly snapshots: number
  readonly documents: number
}

/** Retention's statements on a journal's connection, in its dialect. */
export const statements = (sql: SqlClient.SqlClient, dialect: Dialect) => {
  const count = (statement: string, params: ReadonlyArray<unknown>) =>
    countOf(sql, `${horizon(dialect)} ${statement}`, params)

  /** What the policy would prune at `cutoff`, changing nothing. */
  const plan = (cutoff: number) =>
    Effect.gen(function*() {
      const [events] = yield* sql.unsafe<{ readonly events: number; readonly documents: number }>(
        `${horizon(dialect)} SELECT count(*) AS events, count(DISTINCT e.document_id) AS documents FROM ${prunable}`,
        [cutoff]
      )
      const snapshots = yield* count(`SELECT count(*) AS n FROM ${prunableSnapshots}`, [cutoff])
      return { events: Number(events!.events), documents: Number(events!.documents), snapshots }
    })

  /**
   * Deletes, in one transaction, the events the policy prunes at `cutoff` (only those `only` lets
   * through, if given) and the snapshots before each horizon.
   */
  const remove = (cutoff: number, only?: Only): Effect.Effect<Removed, SqlError> =>
    sql.withTransaction(Effect.gen(function*() {
      const where = only === undefined ? "" : ` WHERE ${only.where}`
      const params = [cutoff, ...(only?.params ?? [])]
      const documents = yield* count(`SELECT count(DISTINCT e.document_id) AS n FROM ${prunable}${where}`, params)
      const events = yield* dialect.deleted(
        sql,
        `DELETE FROM nerv_events WHERE position IN (SELECT e.position FROM ${prunable}${where})`,
        params
      )
      const snapshots = yield* dialect.deleted(
        sql,
        `DELETE FROM nerv_snapshots WHERE (document_id, version) IN (
          SELECT s.document_id, s.version FROM ${prunableSnapshots})`,
        [cutoff]
      )
      return { events, snapshots, documents }
    }))

  return { plan, remove, count }
}
