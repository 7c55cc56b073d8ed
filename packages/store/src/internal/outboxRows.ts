import { Errors, type Outbox } from "@nerv/core"
import * as Effect from "effect/Effect"
import type { PayloadCodecService, PayloadError } from "../PayloadCodec.js"
import type { EffectRow } from "./sqliteWriter.js"

/**
 * The outbox's rows, as both SQL outboxes (SQLite, PostgreSQL) store and read them.
 */

/** An effect's row, as the outbox statements return it (see `columns`). */
export type Row = [
  seq: number,
  id: string,
  type: string,
  documentId: string,
  version: number,
  encoding: string,
  payload: Uint8Array,
  recordedAt: number,
  status: Outbox.Status,
  attempts: number,
  availableAt: number,
  performedAt: number | null,
  lastError: string | null
]

/** The columns of `Row`, in order. */
export const columns =
  "seq, effect_id, effect_type, document_id, version, encoding, payload, recorded_at, status, attempts, " +
  "available_at, performed_at, last_error"

/** An effect from its row and its decoded payload. */
export const recordOf = (row: Row, payload: unknown): Outbox.EffectRecord => ({
  id: row[1],
  type: row[2],
  documentId: row[3],
  version: Number(row[4]),
  payload,
  status: row[8],
  attempts: Number(row[9]),
  recordedAt: Number(row[7]),
  availableAt: Number(row[10]),
  performedAt: row[11] === null ? undefined : Number(row[11]),
  lastError: row[12] ?? undefined
})

/** Reads an effect's row: its payload unsealed (per the codec) and parsed. */
export const decodeRow = (codec: PayloadCodecService) => (row: Row): Effect.Effect<Outbox.EffectRecord, PayloadError> =>
  Effect.map(
    codec.decode({ encoding: row[5], data: row[6] }, { documentId: row[3], version: Number(row[4]) }),
    (bytes) => recordOf(row, JSON.parse(new TextDecoder().decode(bytes)))
  )

/** Counts per type from `(type, status, count, oldest recorded_at)` rows. */
export const countsOf = (
  rows: ReadonlyArray<readonly [string, Outbox.Status, number, number]>
): Array<Outbox.TypeCounts> => {
  const byType = new Map<string, { pending: number; performed: number; dead: number; oldestPendingAt?: number }>()
  for (const [type, status, count, oldest] of rows) {
    let entry = byType.get(type)
    if (entry === undefined) byType.set(type, entry = { pending: 0, performed: 0, dead: 0 })
    entry[status] = Number(count)
    if (status === "pending") entry.oldestPendingAt = Number(oldest)
  }
  return [...byType].sort(([a], [b]) => a.localeCompare(b)).map(([type, entry]) => ({ type, ...entry }))
}

const encoder = new TextEncoder()

/** Encodes (and seals, per the codec) a command's effects as the outbox stores them. */
export const encodeEffects = (
  effects: ReadonlyArray<Outbox.Recorded>,
  row: { readonly documentId: string; readonly version: number },
  codec: PayloadCodecService
): Effect.Effect<ReadonlyArray<EffectRow>, Errors.JournalError> =>
  Effect.forEach(effects, (effect) =>
    Effect.map(
      codec.encode(encoder.encode(JSON.stringify(effect.payload)), row),
      (encoded): EffectRow => ({
        effect_id: effect.id,
        effect_type: effect.type,
        encoding: encoded.encoding,
        payload: encoded.data
      })
    )).pipe(
      Effect.mapError((cause) => new Errors.JournalError({ reason: "could not encode the command's effects", cause }))
    )
