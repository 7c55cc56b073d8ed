import { Errors, type Outbox } from "@nerv/core"
import Database from "better-sqlite3"
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { PayloadCodecService } from "../PayloadCodec.js"
import { columns, countsOf, decodeRow, recordOf, type Row } from "./outboxRows.js"

const isBusy = (error: unknown) =>
  typeof error === "object" && error !== null && "code" in error &&
  (error.code === "SQLITE_BUSY" || error.code === "SQLITE_LOCKED")

class Busy {
  readonly _tag = "Busy"
}

/**
 * The outbox's own connection to the database file, closed with the scope. Its writes (claims,
 * performed and failed attempts) are not fsynced at commit (`synchronous = NORMAL` in WAL mode):
 * losing the last of them to a power cut only has an effect performed again, which at-least-once
 * allows, and the journal's next commit (`FULL`) syncs them anyway. An fsync per claim and per
 * batch performed would cost the commands about a third of their throughput (measured).
 */
export const openOutboxConnection = (
  filename: string
): Effect.Effect<Database.Database, Errors.JournalError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const db = new Database(filename, { timeout: 0 })
        db.pragma("synchronous = NORMAL")
        return db
      },
      catch: (cause) => new Errors.JournalError({ reason: `could not open ${filename}`, cause })
    }),
    (db) => Effect.sync(() => db.close())
  )

/**
 * The SQLite outbox, on its own connection (`openOutboxConnection`): each operation is one
 * statement, atomic on its own, so two processes never claim one effect. While another process holds
 * the write lock, a statement is tried again off the event loop for up to `busyTimeout`.
 */
export const makeSqliteOutbox = (
  db: Database.Database,
  codec: PayloadCodecService,
  waiters: Set<() => void>,
  busyTimeout: number
): Outbox.OutboxService => {
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
          () =>
            (claim.all(
              request.owner,
              request.until,
              request.now,
              request.now,
              JSON.stringify(request.types),
              request.limit
            ) as Array<Row>).sort((a, b) => a[0] - b[0])
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
        Effect.asVoid(run("record performed effects", () => performed.run(now, JSON.stringify(ids)))),
    failed: (id, owner, failure) =>
      Effect.asVoid(run("record a failed effect", () =>
        failed.run(
          failure.retryAt === undefined ? "dead" : "pending",
          failure.retryAt ?? null,
          failure.error,
          id,
          owner
        ))),
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
        run("re-drive dead effects", () => {
          // Acknowledged to a person: durable like a command (see `openOutboxConnection`).
          db.pragma("synchronous = FULL")
          try {
            return ids === "all" ? redriveAll.run(now) : redriveSome.run(now, JSON.stringify(ids))
          } finally {
            db.pragma("synchronous = NORMAL")
          }
        }),
        (result) => result.changes
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
