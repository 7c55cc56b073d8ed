import { Document, DocumentEvent, Errors, type Journal } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { PayloadCodecService } from "../PayloadCodec.js"
import type * as Upcasting from "../Upcasting.js"
import { forgottenEvent } from "./forgotten.js"

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
  const error = new Errors.PayloadCorrupt({ documentId: row.document_id, version: row.version, reason })
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
        `the ${type} payload does not match its schema:\n${ParseResult.TreeFormatter.formatErrorSync(error)}`
      ),
    onRight: () => Either.void
  })
}

/**
 * Rebuilds the event of a row from its decoded payload bytes: parses them, upcasts them to the
 * current schema version, and checks them against the event's Schema. The metadata columns were
 * checked when the event was written and are taken as they are.
 */
export const eventOf = (
  row: Omit<EventRow, "position">,
  bytes: Uint8Array,
  upcasters: Upcasting.Registry
): Either.Either<DocumentEvent.DocumentEvent, Errors.JournalError> => {
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(bytes))
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
  const checked = checkPayload(type, upcast.right)
  if (Either.isLeft(checked)) return Either.left(unreadable(row, checked.left))
  const fields = { ...metadataOf(row), ...upcast.right }
  switch (type) {
    case "DocumentCreated":
      return Either.right(
        new DocumentEvent.DocumentCreated(
          fields as ConstructorParameters<typeof DocumentEvent.DocumentCreated>[0],
          true
        )
      )
    case "DocumentUpdated":
      return Either.right(
        new DocumentEvent.DocumentUpdated(
          fields as ConstructorParameters<typeof DocumentEvent.DocumentUpdated>[0],
          true
        )
      )
    case "DocumentDeleted":
      return Either.right(
        new DocumentEvent.DocumentDeleted(
          fields as ConstructorParameters<typeof DocumentEvent.DocumentDeleted>[0],
          true
        )
      )
  }
}

/** The event metadata a row keeps in clear columns. */
const metadataOf = (row: Omit<EventRow, "position">) => ({
  eventId: row.event_id,
  documentId: row.document_id as Document.DocumentId,
  version: row.version,
  occurredAt: DateTime.unsafeMake(row.occurred_at),
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
  row: Omit<EventRow, "position">
): Either.Either<DocumentEvent.DocumentEvent, Errors.JournalError> =>
  eventTypes.has(row.event_type)
    ? Either.right(forgottenEvent(row.event_type as DocumentEvent.DocumentEvent["_tag"], metadataOf(row)))
    : Either.left(unreadable(row, `unknown event type "${row.event_type}"`))

/** The payload bytes of a row, or `undefined` when its document was forgotten. */
const openPayload = (
  row: Omit<EventRow, "position">,
  codec: PayloadCodecService
): Effect.Effect<Uint8Array | undefined, Errors.JournalError> =>
  Effect.catchAll(
    codec.decode({ encoding: row.encoding, data: row.payload }, { documentId: row.document_id, version: row.version }),
    (error) =>
      error._tag === "DocumentForgotten"
        ? Effect.succeed(undefined)
        : Effect.fail(new Errors.JournalError({ reason: error.message, cause: error }))
  )

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
    openPayload(row, codec),
    (bytes) => bytes === undefined ? forgottenEventOf(row) : eventOf(row, bytes, upcasters)
  )

/** Rebuilds the journal entries of rows, in their order. */
export const decodeEntries = (
  rows: ReadonlyArray<EventRow>,
  codec: PayloadCodecService,
  upcasters: Upcasting.Registry
): Effect.Effect<Array<Journal.JournalEntry>, Errors.JournalError> =>
  Effect.flatMap(Effect.forEach(rows, (row) => openPayload(row, codec)), (payloads) => {
    const entries: Array<Journal.JournalEntry> = new Array(rows.length)
    for (let i = 0; i < rows.length; i++) {
      const bytes = payloads[i]
      const event = bytes === undefined ? forgottenEventOf(rows[i]!) : eventOf(rows[i]!, bytes, upcasters)
      if (Either.isLeft(event)) return Effect.fail(event.left)
      entries[i] = { position: rows[i]!.position, event: event.right }
    }
    return Effect.succeed(entries)
  })
