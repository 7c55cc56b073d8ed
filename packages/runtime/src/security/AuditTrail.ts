/**
 * The audit trail: an append-only record of every operation attempt (who, action, target, outcome,
 * time, correlation and causation ids), tamper-evident by a SHA-256 hash chain. Each record's hash covers its
 * content, its sequence number and the hash of the record before it, so editing a record, dropping
 * one or reordering them breaks the chain at that point, and `verify` names the first broken link.
 *
 * A chain alone cannot see its newest records cut off, or the whole trail rewritten by someone who
 * recomputes every hash. Against those, keep the head (`verify` returns it) somewhere the database's
 * writers cannot reach, and pass it back as the `anchor` of later verifications.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { PostgresJournal, SqliteJournal } from "@nerv/store"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"

/**
 * How an attempt went: `allowed` is written before an authorized operation runs, then `succeeded`
 * or `failed` after it; a refused one is `denied`.
 *
 * @since 0.1.0
 */
export type Outcome = "allowed" | "denied" | "succeeded" | "failed"

/**
 * What the caller of `append` says; the trail adds the sequence, the time and the hashes.
 *
 * @since 0.1.0
 */
export interface Draft {
  readonly principal: string
  readonly roles: ReadonlyArray<string>
  readonly action: string
  readonly target: string | null
  readonly outcome: Outcome
  readonly detail: string | null
  readonly correlationId: string
  /**
   * The command or event that caused the attempt (a reaction's cause; the correlation id itself for
   * a request). Absent from records written before the trail kept it.
   */
  readonly causationId?: string | undefined
}

/**
 * One record of the trail.
 *
 * @since 0.1.0
 */
export interface Entry extends Draft {
  readonly sequence: number
  readonly recordedAt: string
  readonly previousHash: string
  readonly hash: string
}

/**
 * The `previousHash` of the first record.
 *
 * @since 0.1.0
 */
export const genesis = "0".repeat(64)

/**
 * The hash of a record: SHA-256 over a canonical JSON array of every field but the hash itself.
 *
 * @since 0.1.0
 */
export const hashOf = (entry: Omit<Entry, "hash">): string =>
  sha256Hex(JSON.stringify([
    entry.sequence,
    entry.recordedAt,
    entry.principal,
    entry.roles,
    entry.action,
    entry.target,
    entry.outcome,
    entry.detail,
    entry.correlationId,
    entry.previousHash,
    // Only when present, so that records written before it was kept still verify.
    ...(entry.causationId === undefined ? [] : [entry.causationId])
  ]))

// Node's one-shot `crypto.hash` (20.12 and later) is several times cheaper than a Hash object for
// inputs this small, and every guarded call hashes two records.
const oneShot = (Crypto as { readonly hash?: (algorithm: string, data: string, encoding: "hex") => string }).hash
const sha256Hex = (text: string): string =>
  oneShot === undefined ? Crypto.createHash("sha256").update(text).digest("hex") : oneShot("sha256", text, "hex")

/**
 * Where a verified trail ended: the anchor to keep for the next verification.
 *
 * @since 0.1.0
 */
export interface Head {
  readonly sequence: number
  readonly hash: string
}

/**
 * What `verify` found.
 *
 * @since 0.1.0
 */
export type Verification =
  | { readonly _tag: "Intact"; readonly count: number; readonly head: Head | undefined }
  | { readonly _tag: "Broken"; readonly sequence: number; readonly reason: string }

/**
 * A verifier fed the records in sequence order, one page at a time.
 *
 * @since 0.1.0
 */
export const makeVerifier = () => {
  let previous: Head | undefined
  let count = 0
  let anchorSeen: Head | undefined
  return {
    /** Checks the next record; returns the broken link, if this is one. */
    step: (entry: Entry, anchor?: Head): Verification | undefined => {
      const expected = (previous?.sequence ?? 0) + 1
      if (entry.sequence !== expected) {
        return {
          _tag: "Broken",
          sequence: expected,
          reason: entry.sequence > expected
            ? `record ${expected} is missing (the next one is ${entry.sequence})`
            : `record ${entry.sequence} appears out of order after record ${expected - 1}`
        }
      }
      if (entry.previousHash !== (previous?.hash ?? genesis)) {
        return {
          _tag: "Broken",
          sequence: entry.sequence,
          reason: `it does not link to record ${expected - 1}: a record before it was changed, removed or moved`
        }
      }
      if (hashOf(entry) !== entry.hash) {
        return { _tag: "Broken", sequence: entry.sequence, reason: "its content was changed after it was written" }
      }
      if (anchor !== undefined && entry.sequence === anchor.sequence) {
        if (entry.hash !== anchor.hash) {
          return { _tag: "Broken", sequence: entry.sequence, reason: "it differs from the anchored head" }
        }
        anchorSeen = anchor
      }
      previous = { sequence: entry.sequence, hash: entry.hash }
      count++
      return undefined
    },
    /** The result once every record was checked. */
    finish: (anchor?: Head): Verification =>
      anchor !== undefined && anchorSeen === undefined
        ? {
          _tag: "Broken",
          sequence: (previous?.sequence ?? 0) + 1,
          reason: `the trail ends at record ${previous?.sequence ?? 0}, before the anchored head ${anchor.sequence}: ` +
            `records were cut off`
        }
        : { _tag: "Intact", count, head: previous }
  }
}

/**
 * Verifies records given in storage order.
 *
 * @since 0.1.0
 */
export const verifyEntries = (entries: Iterable<Entry>, anchor?: Head): Verification => {
  const verifier = makeVerifier()
  for (const entry of entries) {
    const broken = verifier.step(entry, anchor)
    if (broken !== undefined) return broken
  }
  return verifier.finish(anchor)
}

/**
 * The trail's storage failed.
 *
 * @since 0.1.0
 */
export class AuditStoreError extends Data.TaggedError("AuditStoreError")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `the audit trail failed: ${this.reason}`
  }
}

/**
 * @since 0.1.0
 */
export interface AuditTrailService {
  /** Appends a record and returns it as stored. */
  readonly append: (draft: Draft) => Effect.Effect<Entry, AuditStoreError>
  /** Records after a sequence number, oldest first. */
  readonly read: (
    options?: { readonly after?: number | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<Entry>, AuditStoreError>
  /** Walks the whole chain and reports the first broken link, or the head. */
  readonly verify: (anchor?: Head) => Effect.Effect<Verification, AuditStoreError>
}

/**
 * The audit trail.
 *
 * @since 0.1.0
 */
export class AuditTrail extends Context.Tag("@nerv/runtime/AuditTrail")<AuditTrail, AuditTrailService>() {}

const pageSize = 1_000

const verifyPaged = (
  read: AuditTrailService["read"],
  anchor: Head | undefined
): Effect.Effect<Verification, AuditStoreError> =>
  Effect.gen(function*() {
    const verifier = makeVerifier()
    let after = 0
    while (true) {
      const page = yield* read({ after, limit: pageSize })
      for (const entry of page) {
        const broken = verifier.step(entry, anchor)
        if (broken !== undefined) return broken
      }
      if (page.length < pageSize) return verifier.finish(anchor)
      after = page[page.length - 1]!.sequence
    }
  })

const seal = (draft: Draft, last: Head | undefined, now: DateTime.Utc): Entry => {
  // Field by field, in one shape: spreading the draft twice cost more than hashing it.
  const unsealed: Omit<Entry, "hash"> = {
    principal: draft.principal,
    roles: [...draft.roles],
    action: draft.action,
    target: draft.target,
    outcome: draft.outcome,
    detail: draft.detail,
    correlationId: draft.correlationId,
    ...(draft.causationId === undefined ? {} : { causationId: draft.causationId }),
    sequence: (last?.sequence ?? 0) + 1,
    recordedAt: DateTime.formatIso(now),
    previousHash: last?.hash ?? genesis
  }
  return { ...unsealed, hash: hashOf(unsealed) }
}

/**
 * A trail in memory.
 *
 * @since 0.1.0
 */
export const makeMemory: Effect.Effect<AuditTrailService> = Effect.sync(() => {
  // Appended in place, in one synchronous step (so the chain never forks): copying the whole trail
  // on every append made a long-running test or host quadratic.
  const entries: Array<Entry> = []
  const read: AuditTrailService["read"] = (options) =>
    Effect.sync(() =>
      entries.filter((entry) => entry.sequence > (options?.after ?? 0)).slice(0, options?.limit ?? Infinity)
    )
  return {
    append: (draft) =>
      Effect.map(DateTime.now, (now) => {
        const entry = seal(draft, entries[entries.length - 1], now)
        entries.push(entry)
        return entry
      }),
    read,
    verify: (anchor) => verifyPaged(read, anchor)
  }
})

/**
 * An empty trail in memory.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<AuditTrail> = Layer.effect(AuditTrail, makeMemory)

/**
 * The table of the trail in the journal's database.
 *
 * @since 0.1.0
 */
export const table = "nerv_audit"

interface Row {
  readonly sequence: number
  readonly recorded_at: string
  readonly principal: string
  readonly roles: string
  readonly action: string
  readonly target: string | null
  readonly outcome: string
  readonly detail: string | null
  readonly correlation_id: string
  readonly causation_id?: string | null | undefined
  readonly previous_hash: string
  readonly hash: string
}

const parseRoles = (text: string): ReadonlyArray<string> => {
  try {
    const roles: unknown = JSON.parse(text)
    return Array.isArray(roles) ? roles.map(String) : [text]
  } catch {
    // An unparsable value still takes part in the hash as something, so the edit is reported.
    return [text]
  }
}

const toEntry = (row: Row): Entry => ({
  sequence: Number(row.sequence),
  recordedAt: row.recorded_at,
  principal: row.principal,
  roles: parseRoles(row.roles),
  action: row.action,
  target: row.target,
  outcome: row.outcome as Outcome,
  detail: row.detail,
  correlationId: row.correlation_id,
  ...(row.causation_id === null || row.causation_id === undefined ? {} : { causationId: row.causation_id }),
  previousHash: row.previous_hash,
  hash: row.hash
})

/** The most records one transaction of the trail writes. */
const maxGroup = 256

interface Pending {
  readonly draft: Draft
  readonly done: Deferred.Deferred<Entry, AuditStoreError>
}

/**
 * A trail in a table of an `@effect/sql` database, created if missing. Appends are committed in
 * groups, as the journal's are: whatever was asked while a transaction ran goes into the next one,
 * chained in the order asked, and each caller gets its record once its group committed (two
 * records per guarded call would otherwise cost two transactions each, one after the other).
 * Processes take turns on a lock (PostgreSQL: an advisory lock; SQLite: the file's write lock);
 * elsewhere a group that races for the same sequence numbers loses on the primary key and retries
 * on the new head.
 *
 * @since 0.1.0
 */
export const makeSql: Effect.Effect<AuditTrailService, AuditStoreError, SqlClient.SqlClient | Scope.Scope> = Effect
  .gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const fail = (reason: string) => (cause: unknown) => new AuditStoreError({ reason, cause })
    // In a NERV database (a SQLite file, a PostgreSQL journal) the table comes from its migrations;
    // elsewhere it is created here.
    yield* sql.onDialectOrElse({
      sqlite: () => SqliteJournal.migrate,
      pg: () => PostgresJournal.migrate,
      orElse: () =>
        Effect.asVoid(sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
    sequence BIGINT PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    principal TEXT NOT NULL,
    roles TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    detail TEXT,
    correlation_id TEXT NOT NULL,
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    causation_id TEXT
  )`)
    }).pipe(Effect.mapError(fail(`could not create the table ${table}`)))

    const read: AuditTrailService["read"] = (options) =>
      sql<Row>`SELECT * FROM ${sql(table)} WHERE sequence > ${options?.after ?? 0}
      ORDER BY sequence LIMIT ${options?.limit ?? Number.MAX_SAFE_INTEGER}`.pipe(
        Effect.map((rows) => rows.map(toEntry)),
        Effect.mapError(fail("could not read the trail"))
      )

    const appendGroup = (drafts: ReadonlyArray<Draft>) =>
      sql.withTransaction(Effect.gen(function*() {
        // Processes take turns instead of losing on the key. On PostgreSQL, a transaction-scoped
        // lock; on SQLite, a write that changes nothing takes the file's write lock before the head
        // is read (waiting up to the busy timeout): a transaction that read first would be refused
        // at once when another process had written since.
        yield* sql.onDialectOrElse({
          pg: () => Effect.asVoid(sql`SELECT pg_advisory_xact_lock(hashtext(${table}))`),
          sqlite: () => Effect.asVoid(sql`UPDATE ${sql(table)} SET sequence = sequence WHERE 0`),
          orElse: () => Effect.void
        })
        const [last] = yield* sql<{ readonly sequence: number; readonly hash: string }>`
        SELECT sequence, hash FROM ${sql(table)} ORDER BY sequence DESC LIMIT 1`
        const now = yield* DateTime.now
        let head: Head | undefined = last && { sequence: Number(last.sequence), hash: last.hash }
        const entries = drafts.map((draft) => (head = seal(draft, head, now)))
        yield* sql`INSERT INTO ${sql(table)} ${
          sql.insert(entries.map((entry) => ({
            sequence: entry.sequence,
            recorded_at: entry.recordedAt,
            principal: entry.principal,
            roles: JSON.stringify(entry.roles),
            action: entry.action,
            target: entry.target,
            outcome: entry.outcome,
            detail: entry.detail,
            correlation_id: entry.correlationId,
            causation_id: entry.causationId ?? null,
            previous_hash: entry.previousHash,
            hash: entry.hash
          })))
        }`
        return entries
      }))

    const queue = yield* Effect.acquireRelease(Queue.unbounded<Pending>(), Queue.shutdown)
    // Runs after the writer stopped (finalizers run in reverse): whoever still waits is told.
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Queue.takeAll(queue), (pending) =>
        Effect.forEach(
          pending,
          ({ done }) =>
            Deferred.fail(done, new AuditStoreError({ reason: "the audit trail closed before the append" })),
          { discard: true }
        ))
    )
    yield* Queue.takeBetween(queue, 1, maxGroup).pipe(
      Effect.flatMap((chunk) => {
        const group = Chunk.toReadonlyArray(chunk)
        return appendGroup(group.map((pending) => pending.draft)).pipe(
          Effect.retry(Schedule.intersect(Schedule.recurs(5), Schedule.jittered(Schedule.exponential("5 millis")))),
          Effect.mapError(fail("could not append a record")),
          Effect.exit,
          Effect.flatMap((exit) =>
            Effect.forEach(
              group,
              ({ done }, i) => Deferred.done(done, Exit.map(exit, (entries) => entries[i]!)),
              { discard: true }
            )
          ),
          // A group once taken is always answered, even while the trail closes.
          Effect.uninterruptible
        )
      }),
      Effect.forever,
      Effect.forkScoped
    )

    return {
      append: (draft) =>
        Effect.flatMap(
          Deferred.make<Entry, AuditStoreError>(),
          (done) => Effect.zipRight(Queue.offer(queue, { draft, done }), Deferred.await(done))
        ),
      read,
      verify: (anchor) => verifyPaged(read, anchor)
    }
  })

/**
 * The trail in the journal's database.
 *
 * @since 0.1.0
 */
export const layerSql: Layer.Layer<AuditTrail, AuditStoreError, SqlClient.SqlClient> = Layer.scoped(
  AuditTrail,
  makeSql
)
