import { Document, DocumentEvent, Errors, Input, type Journal } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import {
  decodeAll,
  DecryptionFailed,
  type PayloadCodecService,
  PayloadCorrupt,
  type PayloadError,
  type StoredPayload
} from "../PayloadCodec.js"
import type * as Upcasting from "../Upcasting.js"
import { type EventMetadata, forgottenEvent, isForgotten } from "./forgotten.js"

/**
 * A journal row as a durable journal stores it: the ordering metadata in clear columns, and only the
 * event's own fields (title, content, reason) in the payload, which a codec may compress or seal.
 */
export interface EventRow {
  readonly position: number
  readonly document_id: string
  readonly version: number
  readonly event_id: string
  readonly event_type: string
  readonly schema_version: number
  readonly occurred_at: number
  readonly actor: string
  readonly correlation_id: string
  readonly causation_id: string
  readonly encoding: string
  readonly payload: Uint8Array
}

/** The columns of an `EventRow`, in the order the insert statements list them. */
export const columns = [
  "position",
  "document_id",
  "version",
  "event_id",
  "event_type",
  "schema_version",
  "occurred_at",
  "actor",
  "correlation_id",
  "causation_id",
  "encoding",
  "payload"
] as const

/** The columns of an `EventRow` as a select list, in the order `fromValues` reads them. */
export const selectList = columns.join(", ")

/**
 * A row read as an array of values (`SELECT ${selectList}`) as an `EventRow`. Reading rows as
 * arrays and building the objects here is much cheaper than having better-sqlite3 build each row
 * object property by property in native code, and a rebuild reads every row of the journal.
 */
export const fromValues = (values: ReadonlyArray<unknown>): EventRow => ({
  position: values[0] as number,
  document_id: values[1] as string,
  version: values[2] as number,
  event_id: values[3] as string,
  event_type: values[4] as string,
  schema_version: values[5] as number,
  occurred_at: values[6] as number,
  actor: values[7] as string,
  correlation_id: values[8] as string,
  causation_id: values[9] as string,
  encoding: values[10] as string,
  payload: values[11] as Uint8Array
})

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const payloadOf = (event: DocumentEvent.DocumentEvent): Record<string, unknown> => {
  switch (event._tag) {
    case "DocumentCreated":
      return { title: event.title, content: event.content }
    case "DocumentUpdated":
      return {
        ...(event.title !== undefined ? { title: event.title } : {}),
        ...(event.content !== undefined ? { content: event.content } : {})
      }
    case "DocumentDeleted":
      return { reason: event.reason }
  }
}

const payloadSchemas = {
  DocumentCreated: Schema.Struct({ title: Document.Title, content: Document.Content }),
  DocumentUpdated: Schema.Struct({
    title: Schema.optionalWith(Document.Title, { exact: true }),
    content: Schema.optionalWith(Document.Content, { exact: true })
  }),
  DocumentDeleted: Schema.Struct({ reason: Document.Reason })
}
const decodePayload = {
  DocumentCreated: Schema.decodeUnknownEither(payloadSchemas.DocumentCreated, { onExcessProperty: "error" }),
  DocumentUpdated: Schema.decodeUnknownEither(payloadSchemas.DocumentUpdated, { onExcessProperty: "error" }),
  DocumentDeleted: Schema.decodeUnknownEither(payloadSchemas.DocumentDeleted, { onExcessProperty: "error" })
}

/** Turns an event into a row (without its position, which the commit assigns). */
export const encodeEvent = (
  event: DocumentEvent.DocumentEvent,
  codec: PayloadCodecService,
  upcasters: Upcasting.Registry
): Effect.Effect<Omit<EventRow, "position">, Errors.JournalError> =>
  Effect.map(
    Effect.mapError(
      codec.encode(encoder.encode(JSON.stringify(payloadOf(event))), {
        documentId: event.documentId,
        version: event.version
      }),
      (error) => new Errors.JournalError({ reason: error.message, cause: error })
    ),
    (payload) => ({
      document_id: event.documentId,
      version: event.version,
      event_id: event.eventId,
      event_type: event._tag,
      schema_version: upcasters.currentVersion(event._tag),
      occurred_at: DateTime.toEpochMillis(event.occurredAt),
      actor: event.actor,
      correlation_id: event.correlationId,
      causation_id: event.causationId,
      encoding: payload.encoding,
      payload: payload.data
    })
  )

const unreadable = (row: Omit<EventRow, "position">, reason: string) => {
  const error = new PayloadCorrupt({ documentId: row.document_id, version: row.version, reason })
  return new Errors.JournalError({ reason: error.message, cause: error })
}

const isPayload = {
  DocumentCreated: Schema.is(payloadSchemas.DocumentCreated),
  DocumentUpdated: Schema.is(payloadSchemas.DocumentUpdated),
  DocumentDeleted: Schema.is(payloadSchemas.DocumentDeleted)
}
const payloadKeys = {
  DocumentCreated: new Set(["title", "content"]),
  DocumentUpdated: new Set(["title", "content"]),
  DocumentDeleted: new Set(["reason"])
}

type EventType = keyof typeof payloadSchemas

/** Checks a payload against its schema: a quick check first, the full decoder only to explain a failure. */
const checkPayload = (type: EventType, payload: Upcasting.Payload): Either.Either<void, string> => {
  let known = true
  for (const key in payload) {
    if (!payloadKeys[type].has(key)) known = false
  }
  if (known && isPayload[type](payload)) return Either.void
  const decoded: Either.Either<unknown, ParseResult.ParseError> = decodePayload[type](payload)
  return Either.match(decoded, {
    onLeft: (error) =>
      Either.left(
        `the ${type} payload does not match its schema:\n${Input.explain(error)}`
      ),
    onRight: () => Either.void
  })
}

/**
 * Rebuilds the event of a row from its decoded payload bytes: parses them, upcasts them to the
 * current schema version, and checks them against the event's Schema. The metadata columns were
 * checked when the event was written and are taken as they are; so, once the payload is checked,
 * the event is built without the Schema constructor (`DocumentEvent.unsafeMake`), which a rebuild
 * would otherwise pay for on every row.
 */
export const eventOf = (
  row: Omit<EventRow, "position">,
  bytes: Uint8Array,
  upcasters: Upcasting.Registry,
  times: Times = timesOf()
): Either.Either<DocumentEvent.DocumentEvent, Errors.JournalError> => {
  let json: unknown
  try {
    const text = decoder.decode(bytes)
    if (Input.jsonTooDeep(text)) return Either.left(unreadable(row, "the payload is JSON nested too deep to read"))
    json = JSON.parse(text)
  } catch (cause) {
    return Either.left(unreadable(row, `the payload is not JSON (${String(cause)})`))
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left(unreadable(row, "the payload is not a JSON object"))
  }
  const type = row.event_type
  if (type !== "DocumentCreated" && type !== "DocumentUpdated" && type !== "DocumentDeleted") {
    return Either.left(unreadable(row, `unknown event type "${type}"`))
  }
  const upcast = upcasters.upcast(type, row.schema_version, json as Upcasting.Payload)
  if (Either.isLeft(upcast)) return Either.left(unreadable(row, upcast.left))
  const payload = upcast.right
  const checked = checkPayload(type, payload)
  if (Either.isLeft(checked)) return Either.left(unreadable(row, checked.left))
  // Checked above: the payload has exactly the fields (of the types) the event's Schema says.
  switch (type) {
    case "DocumentCreated":
      return Either.right(DocumentEvent.unsafeMake.DocumentCreated({
        ...metadataOf(row, times),
        title: payload["title"] as string,
        content: payload["content"] as string
      }))
    case "DocumentUpdated":
      return Either.right(
        DocumentEvent.unsafeMake.DocumentUpdated(Object.assign(metadataOf(row, times), payload as UpdatedPayload))
      )
    case "DocumentDeleted":
      return Either.right(
        DocumentEvent.unsafeMake.DocumentDeleted({ ...metadataOf(row, times), reason: payload["reason"] as string })
      )
  }
}

type UpdatedPayload = Pick<DocumentEvent.DocumentUpdated, "title" | "content">

/** Turns the `occurred_at` of rows, read in order, into `DateTime`s (see `timesOf`). */
type Times = (millis: number) => DateTime.Utc

/**
 * The `DateTime`s of rows read in order: a row whose time is its predecessor's shares its
 * `DateTime`, which is immutable. The events of one command, and of the commands decided in the
 * same millisecond (which group commit writes next to each other), share their time; a rebuild
 * would otherwise build, and keep, one `DateTime` per event.
 */
const timesOf = (): Times => {
  let last: DateTime.Utc | undefined
  return (millis) => last !== undefined && last.epochMillis === millis ? last : (last = DateTime.unsafeMake(millis))
}

/** The event metadata a row keeps in clear columns. */
const metadataOf = (row: Omit<EventRow, "position">, times: Times): EventMetadata => ({
  eventId: row.event_id,
  documentId: row.document_id as Document.DocumentId,
  version: row.version,
  occurredAt: times(row.occurred_at),
  actor: row.actor,
  correlationId: row.correlation_id,
  causationId: row.causation_id
})

const eventTypes = new Set(["DocumentCreated", "DocumentUpdated", "DocumentDeleted"])

/**
 * The event of a row whose document was forgotten (its data key destroyed): the clear columns as
 * they are, the content fields blank, marked so that the store knows the document was forgotten.
 * History keeps its shape (versions, times, actors); the content is gone.
 */
const forgottenEventOf = (
  row: Omit<EventRow, "position">,
  times: Times
): Either.Either<DocumentEvent.DocumentEvent, Errors.JournalError> =>
  eventTypes.has(row.event_type)
    ? Either.right(forgottenEvent(row.event_type as DocumentEvent.DocumentEvent["_tag"], metadataOf(row, times)))
    : Either.left(unreadable(row, `unknown event type "${row.event_type}"`))

/** What the codec decodes of a row: its stored payload, and the row it belongs to. */
const storedPayloadOf = (row: Omit<EventRow, "position">): StoredPayload => ({
  encoding: row.encoding,
  data: row.payload,
  documentId: row.document_id,
  version: row.version
})

/**
 * The event of a row whose payload the codec decoded (see `eventOf`); a row of a forgotten
 * document becomes an event without content (see `forgottenEventOf`). Any other payload error
 * fails the read.
 */
const eventOfDecoded = (
  row: Omit<EventRow, "position">,
  decoded: Either.Either<Uint8Array, PayloadError>,
  upcasters: Upcasting.Registry,
  times: Times
): Either.Either<DocumentEvent.DocumentEvent, Errors.JournalError> => {
  if (Either.isRight(decoded)) return eventOf(row, decoded.right, upcasters, times)
  const error = decoded.left
  return error._tag === "DocumentForgotten"
    ? forgottenEventOf(row, times)
    : Either.left(new Errors.JournalError({ reason: error.message, cause: error }))
}

/**
 * `eventOfDecoded`, for a row that may hold anything: a column that makes building the event throw
 * (a time out of range, a value of the wrong type) fails the read as a damaged row, not a defect.
 */
const eventOfDecodedSafely = (
  row: Omit<EventRow, "position">,
  decoded: Either.Either<Uint8Array, PayloadError>,
  upcasters: Upcasting.Registry,
  times: Times
): Either.Either<DocumentEvent.DocumentEvent, Errors.JournalError> => {
  try {
    return eventOfDecoded(row, decoded, upcasters, times)
  } catch (cause) {
    return Either.left(
      new Errors.JournalError({
        reason: `reading it threw ${cause instanceof Error ? `${cause.name}: ${cause.message}` : "an exception"}`,
        cause
      })
    )
  }
}

/**
 * Rebuilds the event of a row (see `eventOf`), decoding its payload through the codec first. A row
 * of a forgotten document becomes an event without content (see `forgottenEventOf`).
 */
export const decodeEvent = (
  row: Omit<EventRow, "position">,
  codec: PayloadCodecService,
  upcasters: Upcasting.Registry
): Effect.Effect<DocumentEvent.DocumentEvent, Errors.JournalError> =>
  Effect.flatMap(
    Effect.either(codec.decode({ encoding: row.encoding, data: row.payload }, {
      documentId: row.document_id,
      version: row.version
    })),
    (decoded) => eventOfDecodedSafely(row, decoded, upcasters, timesOf())
  )

/**
 * Rebuilds the journal entries of rows, in their order, in one effect: the codec decodes the whole
 * page at once (`decodeAll`), and the rest is synchronous. A rebuild reads every row of the journal,
 * so an effect per row would cost more than the row's own decoding.
 */
export const decodeEntries = (
  rows: ReadonlyArray<EventRow>,
  codec: PayloadCodecService,
  upcasters: Upcasting.Registry
): Effect.Effect<Array<Journal.JournalEntry>, Errors.JournalError> =>
  Effect.flatMap(decodeAll(codec, rows.map(storedPayloadOf)), (payloads) => {
    const entries: Array<Journal.JournalEntry> = new Array(rows.length)
    const times = timesOf()
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!
      const event = eventOfDecodedSafely(row, payloads[i]!, upcasters, times)
      if (Either.isLeft(event)) return Effect.fail(damaged(row, event.left))
      entries[i] = isForgotten(event.right)
        ? { position: row.position, event: event.right, forgotten: true }
        : { position: row.position, event: event.right }
    }
    return Effect.succeed(entries)
  })

/** Why a row did not read back, from the error that said so, without repeating its document and version. */
const reasonOf = (error: Errors.JournalError): string => {
  const cause = error.cause
  if (cause instanceof PayloadCorrupt) return cause.reason
  if (cause instanceof DecryptionFailed) return `its payload could not be decrypted: ${cause.reason}`
  return error.reason
}

/**
 * The error of a row that did not read back, naming the row by its position, document and version
 * (a `RowDamaged` as the cause of the journal's `JournalError`).
 */
export const damaged = (row: EventRow, error: Errors.JournalError): Errors.JournalError => {
  const rowDamaged = new Errors.RowDamaged({
    position: row.position,
    documentId: row.document_id,
    version: row.version,
    reason: reasonOf(error),
    cause: error.cause
  })
  return new Errors.JournalError({ reason: rowDamaged.message, cause: rowDamaged })
}

/** Whether an event's fields are what its Schema says (`Schema.is` on a class only checks `instanceof`). */
const encodeChecked = Schema.encodeEither(DocumentEvent.DocumentEvent)
const isEncodable = (event: DocumentEvent.DocumentEvent) => Either.isRight(encodeChecked(event))

/** What a row's clear columns must hold for a read to take them as they are (see `eventOf`). */
const columnProblem = (row: EventRow): string | undefined => {
  if (typeof row.document_id !== "string") return "its document id is not text"
  if (!Number.isSafeInteger(row.version) || row.version < 1) {
    return `its version (${String(row.version)}) is not a version`
  }
  if (typeof row.event_type !== "string") return "its event type is not text"
  if (!Number.isSafeInteger(row.schema_version)) return "its schema version is not an integer"
  if (!Number.isSafeInteger(row.occurred_at)) return "its time is not a time"
  if (typeof row.encoding !== "string") return "its encoding is not text"
  if (!(row.payload instanceof Uint8Array)) return "its payload is not bytes"
  return undefined
}

/**
 * Checks one row on its own, as a read would take it: its clear columns, its payload (decoded by
 * the codec beforehand), the event rebuilt from both against the event's Schema. A row of a
 * forgotten document is not damaged for having no content. Nothing a row holds can make this
 * throw: a row that does is damaged too.
 */
export const checkRow = (
  row: EventRow,
  decoded: Either.Either<Uint8Array, PayloadError>,
  upcasters: Upcasting.Registry
): Errors.RowDamaged | undefined => {
  const problem = (reason: string, cause?: unknown) =>
    new Errors.RowDamaged({
      position: row.position,
      documentId: String(row.document_id),
      version: Number(row.version),
      reason,
      cause
    })
  try {
    const columns = columnProblem(row)
    if (columns !== undefined) return problem(columns)
    const event = eventOfDecoded(row, decoded, upcasters, timesOf())
    if (Either.isLeft(event)) return problem(reasonOf(event.left), event.left.cause)
    if (Either.isLeft(decoded) || isEncodable(event.right)) return undefined
    return problem("its clear columns do not make a valid event (a document id, event id or actor is malformed)")
  } catch (cause) {
    return problem(`reading it threw ${cause instanceof Error ? cause.name : "an exception"}`)
  }
}
