import type * as SqlClient from "@effect/sql/SqlClient"
import { Errors, type Outbox } from "@nerv/core"
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { PayloadCodecService } from "../PayloadCodec.js"
import { columns, countsOf, decodeRow, recordOf, type Row } from "./outboxRows.js"

/**
 * The PostgreSQL outbox, on the `SqlClient`'s pool: a claim locks the rows it takes (`FOR UPDATE
 * SKIP LOCKED`) and marks them claimed in one statement, so two nodes never claim one effect.
 */
export const makePgOutbox = (
  sql: SqlClient.SqlClient,
  codec: PayloadCodecService,
  waiters: Set<() => void>
): Outbox.OutboxService => {
  const rows = (what: string, statement: string, params: ReadonlyArray<unknown>) =>
    Effect.mapError(
      Effect.map(sql.unsafe(statement, params).values, (values) => values as unknown as Array<Row>),
      (cause) => new Errors.JournalError({ reason: `could not ${what}`, cause })
    )
  const run = (what: string, statement: string, params: ReadonlyArray<unknown>) =>
    Effect.mapError(
      Effect.map(
        sql.unsafe(statement, params).raw,
        (result) => (result as { readonly rowCount?: number }).rowCount ?? 0
      ),
      (cause) => new Errors.JournalError({ reason: `could not ${what}`, cause })
    )
  const decode = decodeRow(codec)

  const service: Outbox.OutboxService = {
    claim: (request) =>
      Effect.flatMap(
        rows(
          "claim effects",
          `UPDATE nerv_effects SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1
           WHERE seq IN (SELECT seq FROM nerv_effects WHERE status = 'pending' AND available_at <= $3
             AND claimed_until <= $3 AND effect_type = ANY($4::text[]) ORDER BY seq LIMIT $5 FOR UPDATE SKIP LOCKED)
           RETURNING ${columns}`,
          [request.owner, request.until, request.now, request.types, request.limit]
        ),
        (claimed) =>
          Effect.map(
            Effect.forEach(claimed.sort((a, b) => Number(a[0]) - Number(b[0])), (row) =>
              decode(row).pipe(
                Effect.asSome,
                Effect.catchAll((error) =>
                  Effect.as(
                    service.failed(row[1], request.owner, { error: error.message, retryAt: undefined }),
                    Option.none()
                  )
                )
              )),
            Arr.getSomes
          )
      ),
    performed: (ids, now) =>
      ids.length === 0 ? Effect.void : Effect.asVoid(run(
        "record performed effects",
        `UPDATE nerv_effects SET status = 'performed', performed_at = $1, claimed_until = 0
         WHERE effect_id = ANY($2::text[]) AND status = 'pending'`,
        [now, ids]
      )),
    failed: (id, owner, failure) =>
      Effect.asVoid(run(
        "record a failed effect",
        `UPDATE nerv_effects SET status = $1, available_at = coalesce($2, available_at), last_error = $3,
           claimed_until = 0 WHERE effect_id = $4 AND claimed_by = $5 AND status = 'pending'`,
        [failure.retryAt === undefined ? "dead" : "pending", failure.retryAt ?? null, failure.error, id, owner]
      )),
    list: (query) =>
      Effect.flatMap(
        query.type === undefined
          ? rows("list effects", `SELECT ${columns} FROM nerv_effects WHERE status = $1 ORDER BY seq LIMIT $2`, [
            query.status,
            query.limit ?? 100
          ])
          : rows(
            "list effects",
            `SELECT ${columns} FROM nerv_effects WHERE status = $1 AND effect_type = $2 ORDER BY seq LIMIT $3`,
            [query.status, query.type, query.limit ?? 100]
          ),
        (found) => Effect.forEach(found, (row) => Effect.orElseSucceed(decode(row), () => recordOf(row, undefined)))
      ),
    redrive: (ids, now) =>
      ids === "all"
        ? run(
          "re-drive dead effects",
          `UPDATE nerv_effects SET status = 'pending', attempts = 0, available_at = $1, claimed_by = NULL,
             claimed_until = 0 WHERE status = 'dead'`,
          [now]
        )
        : run(
          "re-drive dead effects",
          `UPDATE nerv_effects SET status = 'pending', attempts = 0, available_at = $1, claimed_by = NULL,
             claimed_until = 0 WHERE status = 'dead' AND effect_id = ANY($2::text[])`,
          [now, ids]
        ),
    counts: (options) =>
      Effect.map(
        Effect.mapError(
          sql.unsafe(
            options?.pendingOnly === true
              ? `SELECT effect_type, status, count(*), min(recorded_at) FROM nerv_effects WHERE status = 'pending'
                 GROUP BY effect_type, status`
              : "SELECT effect_type, status, count(*), min(recorded_at) FROM nerv_effects GROUP BY effect_type, status"
          ).values,
          (cause) => new Errors.JournalError({ reason: "could not count effects", cause })
        ),
        (found) => countsOf(found as unknown as Array<[string, Outbox.Status, number, number]>)
      ),
    recorded: Effect.async<void>((resume) => {
      const wake = () => resume(Effect.void)
      waiters.add(wake)
      return Effect.sync(() => waiters.delete(wake))
    })
  }
  return service
}
