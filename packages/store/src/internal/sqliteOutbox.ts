import { Errors, type Outbox } from "@nerv/core"
import type Database from "better-sqlite3"
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { PayloadCodecService } from "../PayloadCodec.js"
import { columns, countsOf, decodeRow, recordOf, type Row } from "./outboxRows.js"

const isBusy = (error: unknown) =>
  typeof error === "object" && error !== null && "code" in error &&
  (error.code === "SQLITE_BUSY" || error.code === "SQLITE_LOCKED")

class Busy {
  readonly _tag = "Busy"
}

/**
 * The SQLite outbox, on the journal's own connection (see `sqliteWriter.ts`), between its group
 * commits (every call is synchronous, on the event loop): each operation is one statement, atomic on
 * its own, so two processes never claim one effect. While another process holds the write lock, a
 * statement is tried again off the event loop for up to `busyTimeout`.
 *
 * The worker's writes (claims, performed and failed attempts) are not fsynced at commit
 * (`synchronous = NORMAL` for the statement, in WAL mode): losing the last of them to a power cut
 * only has an effect performed again, which at-least-once allows, and the journal's next commit
 * syncs them anyway; an fsync per claim and per batch performed cost the commands a fifth of their
 * throughput (measured). A re-drive, acknowledged to a person, is as durable as a command.
 */
export const makeSqliteOutbox = (
  db: Database.Database,
  codec: PayloadCodecService,
  waiters: Set<() => void>,
  busyTimeout: number,
  durability: "FULL" | "NORMAL"
): Outbox.OutboxService => {
  const lazily = <A>(statement: () => A) => () => {
    db.pragma("synchronous = NORMAL")
    try {
      return statement()
    } finally {
      db.pragma(`synchronous = ${durability}`)
    }
  }
  const claim = db.prepare(
    `UPDATE nerv_effects SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
     WHERE seq IN (SELECT seq FROM nerv_effects WHERE status = 'pending' AND available_at <= ?
       AND claimed_until <= ? AND effect_type IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?)
     RETURNING ${columns}`
  ).raw()
  const performed = db.prepare(
    `UPDATE nerv_effects SET status = 'performed', performed_at = ?, claimed_until = 0
     WHERE effect_id IN (SELECT value FROM json_each(?)) AND status = 'pending'`
  )
  const failed = db.prepare(
    `UPDATE nerv_effects SET status = ?, available_at = coalesce(?, available_at), last_error = ?, claimed_until = 0
     WHERE effect_id = ? AND claimed_by = ? AND status = 'pending'`
  )
  const listAll = db.prepare(
    `SELECT ${columns} FROM nerv_effects WHERE status = ? ORDER BY seq LIMIT ?`
  ).raw()
  const listOfType = db.prepare(
    `SELECT ${columns} FROM nerv_effects WHERE status = ? AND effect_type = ? ORDER BY seq LIMIT ?`
  ).raw()
  const redriveAll = db.prepare(
    "UPDATE nerv_effects SET status = 'pending', attempts = 0, available_at = ?, claimed_by = NULL, claimed_until = 0 " +
      "WHERE status = 'dead'"
  )
  const redriveSome = db.prepare(
    "UPDATE nerv_effects SET status = 'pending', attempts = 0, available_at = ?, claimed_by = NULL, claimed_until = 0 " +
      "WHERE status = 'dead' AND effect_id IN (SELECT value FROM json_each(?))"
  )
  const counts = db.prepare(
    "SELECT effect_type, status, count(*), min(recorded_at) FROM nerv_effects GROUP BY effect_type, status"
  ).raw()
  const pendingCounts = db.prepare(
    "SELECT effect_type, status, count(*), min(recorded_at) FROM nerv_effects WHERE status = 'pending' " +
      "GROUP BY effect_type"
  ).raw()

  /** Runs one statement, trying again while another connection holds the write lock. */
  const run = <A>(what: string, statement: () => A): Effect.Effect<A, Errors.JournalError> =>
    Effect.try({
      try: statement,
      catch: (cause) => isBusy(cause) ? new Busy() : new Errors.JournalError({ reason: `could not ${what}`, cause })
    }).pipe(
      Effect.retry({
        while: (error) => error instanceof Busy,
        schedule: Schedule.spaced("2 millis").pipe(Schedule.jittered, Schedule.upTo(`${busyTimeout} millis`))
      }),
      Effect.catchIf(
        (error): error is Busy => error instanceof Busy,
        () => Effect.fail(new Errors.JournalError({ reason: `could not ${what}: the database stayed locked` }))
      )
    )

  const decode = decodeRow(codec)

  const service: Outbox.OutboxService = {
    claim: (request) =>
      Effect.flatMap(
        run(
          "claim effects",
          lazily(() =>
            (claim.all(
              request.owner,
              request.until,
              request.now,
              request.now,
              JSON.stringify(request.types),
              request.limit
            ) as Array<Row>).sort((a, b) => a[0] - b[0])
          )
        ),
        (rows) =>
          Effect.map(
            Effect.forEach(rows, (row) =>
              decode(row).pipe(
                Effect.asSome,
                // A payload that cannot be read (its document forgotten, its key gone) is never
                // performable: it goes to the dead letters with the reason, and is not handed out.
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
      ids.length === 0 ?
        Effect.void :
        Effect.asVoid(run("record performed effects", lazily(() => performed.run(now, JSON.stringify(ids))))),
    failed: (id, owner, failure) =>
      Effect.asVoid(run(
        "record a failed effect",
        lazily(() =>
          failed.run(
            failure.retryAt === undefined ? "dead" : "pending",
            failure.retryAt ?? null,
            failure.error,
            id,
            owner
          )
        )
      )),
    list: (query) =>
      Effect.flatMap(
        run("list effects", () =>
          (query.type === undefined
            ? listAll.all(query.status, query.limit ?? 100)
            : listOfType.all(query.status, query.type, query.limit ?? 100)) as Array<Row>),
        (rows) => Effect.forEach(rows, (row) => Effect.orElseSucceed(decode(row), () => recordOf(row, undefined)))
      ),
    redrive: (ids, now) =>
      Effect.map(
        run("re-drive dead effects", () =>
          ids === "all" ? redriveAll.run(now) : redriveSome.run(now, JSON.stringify(ids))),
        (result) =>
          result.changes
      ),
    counts: (options) =>
      Effect.map(
        run(
          "count effects",
          () =>
            (options?.pendingOnly === true ? pendingCounts : counts).all() as Array<
              [string, Outbox.Status, number, number]
            >
        ),
        countsOf
      ),
    recorded: Effect.async<void>((resume) => {
      const wake = () => resume(Effect.void)
      waiters.add(wake)
      return Effect.sync(() => waiters.delete(wake))
    })
  }
  return service
}
