import type { DocumentEvent, Outbox } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"

/** One effect as the in-memory outbox holds it. */
interface Row {
  readonly id: string
  readonly type: string
  readonly documentId: string
  readonly version: number
  readonly payload: unknown
  readonly recordedAt: number
  status: Outbox.Status
  attempts: number
  availableAt: number
  claimedBy: string | undefined
  claimedUntil: number
  performedAt: number | undefined
  lastError: string | undefined
}

/**
 * The effects of an in-memory journal, shared by all its connections: recorded by `record` in the
 * same synchronous step as the events they go with, so both or neither are there.
 */
export interface EffectLog {
  /** Every effect, in the order recorded. */
  readonly rows: Array<Row>
  readonly byId: Map<string, Row>
  /** The pending ones, in the order recorded (a Map keeps insertion order). */
  readonly pending: Map<string, Row>
  /** Woken when an effect is recorded. */
  readonly waiters: Set<() => void>
}

/** A fresh effect log. */
export const makeLog = (): EffectLog => ({ rows: [], byId: new Map(), pending: new Map(), waiters: new Set() })

/** Records a command's effects; its events are committed in the same step. */
export const record = (
  log: EffectLog,
  events: ReadonlyArray<DocumentEvent.DocumentEvent>,
  effects: ReadonlyArray<Outbox.Recorded>
): void => {
  const last = events[events.length - 1]!
  const recordedAt = DateTime.toEpochMillis(last.occurredAt)
  for (const effect of effects) {
    const row: Row = {
      id: effect.id,
      type: effect.type,
      documentId: last.documentId,
      version: last.version,
      payload: effect.payload,
      recordedAt,
      status: "pending",
      attempts: 0,
      availableAt: recordedAt,
      claimedBy: undefined,
      claimedUntil: 0,
      performedAt: undefined,
      lastError: undefined
    }
    log.rows.push(row)
    log.byId.set(row.id, row)
    log.pending.set(row.id, row)
  }
  if (log.waiters.size > 0) {
    const waiters = [...log.waiters]
    log.waiters.clear()
    for (const wake of waiters) wake()
  }
}

const toRecord = (row: Row): Outbox.EffectRecord => ({
  id: row.id,
  type: row.type,
  documentId: row.documentId,
  version: row.version,
  payload: row.payload,
  status: row.status,
  attempts: row.attempts,
  recordedAt: row.recordedAt,
  availableAt: row.availableAt,
  performedAt: row.performedAt,
  lastError: row.lastError
})

/** The outbox over an effect log. */
export const makeOutbox = (log: EffectLog): Outbox.OutboxService => ({
  claim: (request) =>
    Effect.sync(() => {
      const claimed: Array<Outbox.EffectRecord> = []
      const types = new Set(request.types)
      for (const row of log.pending.values()) {
        if (claimed.length >= request.limit) break
        if (!types.has(row.type) || row.availableAt > request.now || row.claimedUntil > request.now) continue
        row.claimedBy = request.owner
        row.claimedUntil = request.until
        row.attempts++
        claimed.push(toRecord(row))
      }
      return claimed
    }),
  performed: (ids, now) =>
    Effect.sync(() => {
      for (const id of ids) {
        const row = log.byId.get(id)
        if (row === undefined || row.status === "performed") continue
        row.status = "performed"
        row.performedAt = now
        row.claimedUntil = 0
        log.pending.delete(id)
      }
    }),
  failed: (id, owner, failure) =>
    Effect.sync(() => {
      const row = log.byId.get(id)
      if (row === undefined || row.status !== "pending" || row.claimedBy !== owner) return
      row.lastError = failure.error
      row.claimedUntil = 0
      if (failure.retryAt === undefined) {
        row.status = "dead"
        log.pending.delete(id)
      } else {
        row.availableAt = failure.retryAt
      }
    }),
  list: (query) =>
    Effect.sync(() =>
      log.rows
        .filter((row) => row.status === query.status && (query.type === undefined || row.type === query.type))
        .slice(0, query.limit ?? 100)
        .map(toRecord)
    ),
  redrive: (ids, now) =>
    Effect.sync(() => {
      let count = 0
      const wanted = ids === "all" ? undefined : new Set(ids)
      for (const row of log.rows) {
        if (row.status !== "dead" || (wanted !== undefined && !wanted.has(row.id))) continue
        row.status = "pending"
        row.attempts = 0
        row.availableAt = now
        row.claimedBy = undefined
        log.pending.set(row.id, row)
        count++
      }
      // Keep the pending ones in the order they were recorded.
      if (count > 0) {
        const rows = [...log.pending.values()].sort((a, b) => log.rows.indexOf(a) - log.rows.indexOf(b))
        log.pending.clear()
        for (const row of rows) log.pending.set(row.id, row)
      }
      return count
    }),
  counts: (options) =>
    Effect.sync(() => {
      const counts = new Map<string, { pending: number; performed: number; dead: number; oldestPendingAt?: number }>()
      for (const row of options?.pendingOnly === true ? log.pending.values() : log.rows) {
        let entry = counts.get(row.type)
        if (entry === undefined) counts.set(row.type, entry = { pending: 0, performed: 0, dead: 0 })
        entry[row.status]++
        if (
          row.status === "pending" && (entry.oldestPendingAt === undefined || row.recordedAt < entry.oldestPendingAt)
        ) {
          entry.oldestPendingAt = row.recordedAt
        }
      }
      return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([type, entry]) => ({ type, ...entry }))
    }),
  recorded: Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    log.waiters.add(wake)
    return Effect.sync(() => log.waiters.delete(wake))
  })
})
