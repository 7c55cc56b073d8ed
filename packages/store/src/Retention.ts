/**
 * Retention: removing old versions from a SQLite journal without breaking what the store promises.
 *
 * The policy: a document's events before its *horizon* are deleted, where the horizon is its latest
 * snapshot whose version happened more than `olderThan` ago. The snapshot at the horizon and every
 * event from it on are kept, so the document's state, its latest versions and its history from the
 * horizon on stay readable; `history` then starts at the horizon, and `at`/`asOf` of an earlier
 * version fail with `VersionPruned` (never with a wrong answer). A document without such a snapshot
 * keeps everything. Positions are never reused: reading the journal from a position skips pruned
 * entries, so a projection rebuilt from zero afterwards sees only the retained history.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Errors } from "@nerv/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 */
export interface Policy {
  /** Only versions that happened longer ago than this are pruned. */
  readonly olderThan: Duration.DurationInput
}

/**
 * What a pruning removed.
 *
 * @since 0.1.0
 */
export interface Pruned {
  readonly events: number
  readonly snapshots: number
}

const horizon = `WITH horizon AS (
  SELECT s.document_id, max(s.version) AS version FROM nerv_snapshots s
  JOIN nerv_events e ON e.document_id = s.document_id AND e.version = s.version
  WHERE e.occurred_at < ?
  GROUP BY s.document_id
)`

/**
 * Prunes a SQLite journal by the policy above, in one transaction. Run it when convenient (it is not
 * automatic); the store of a running process keeps serving the versions it holds in memory.
 *
 * @since 0.1.0
 */
export const pruneSqlite = (policy: Policy): Effect.Effect<Pruned, Errors.JournalError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const cutoff = (yield* Clock.currentTimeMillis) - Duration.toMillis(policy.olderThan)
    const changes = Effect.map(sql.unsafe<{ readonly n: number }>("SELECT changes() AS n"), ([row]) => row!.n)
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql.unsafe(
        `${horizon} DELETE FROM nerv_events WHERE position IN (
          SELECT e.position FROM nerv_events e JOIN horizon h ON e.document_id = h.document_id AND e.version < h.version
        )`,
        [cutoff]
      )
      const events = yield* changes
      yield* sql.unsafe(
        `${horizon} DELETE FROM nerv_snapshots WHERE (document_id, version) IN (
          SELECT s.document_id, s.version FROM nerv_snapshots s JOIN horizon h
          ON s.document_id = h.document_id AND s.version < h.version
        )`,
        [cutoff]
      )
      return { events, snapshots: yield* changes }
    }))
  }).pipe(Effect.mapError((cause) => new Errors.JournalError({ reason: "could not prune the journal", cause })))
