/**
 * The events a document's history is made of, and the wire/journal codec for them.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Actor, Content, DocumentId, Reason, Title, Version } from "./Document.js"
import { jsonTooDeep } from "./Input.js"

/**
 * The metadata every event carries. `correlationId` ties together everything one request caused;
 * `causationId` names the command or event that caused this one.
 *
 * @since 0.1.0
 */
export const EventMetadata = {
  eventId: Schema.UUID,
  documentId: DocumentId,
  version: Version,
  occurredAt: Schema.DateTimeUtc,
  actor: Actor,
  correlationId: Schema.String,
  causationId: Schema.String
}

/**
 * A document was created (always version 1).
 *
 * @since 0.1.0
 */
export class DocumentCreated extends Schema.TaggedClass<DocumentCreated>()("DocumentCreated", {
  ...EventMetadata,
  title: Title,
  content: Content
}) {}

/**
 * A document's title and/or content changed. Only the fields that changed are present.
 *
 * @since 0.1.0
 */
export class DocumentUpdated extends Schema.TaggedClass<DocumentUpdated>()("DocumentUpdated", {
  ...EventMetadata,
  title: Schema.optionalWith(Title, { exact: true }),
  content: Schema.optionalWith(Content, { exact: true })
}) {}

/**
 * A document was deleted. Its history stays; it takes no more changes.
 *
 * @since 0.1.0
 */
export class DocumentDeleted extends Schema.TaggedClass<DocumentDeleted>()("DocumentDeleted", {
  ...EventMetadata,
  reason: Reason
}) {}

/**
 * A constructor of instances of an event class, as its `Data.Class` base builds them
 * (`Object.assign(this, fields)`, then the tag), so that V8 gives them an in-object layout sized to
 * their fields (an `Object.create(prototype)` object keeps most fields out of line).
 */
function instanceMaker<E extends { readonly _tag: string }>(
  eventClass: { readonly prototype: E; readonly _tag: E["_tag"] }
): (fields: Omit<E, "_tag">) => E {
  const tag = eventClass._tag
  function EventInstance(this: { _tag: string }, fields: Omit<E, "_tag">) {
    Object.assign(this, fields)
    this._tag = tag
  }
  EventInstance.prototype = eventClass.prototype
  const EventConstructor = EventInstance as unknown as new(fields: Omit<E, "_tag">) => E
  return (fields) => new EventConstructor(fields)
}

/**
 * Builds events from fields already known to be valid (decided by `decide`, or read back from a
 * journal that checked them), skipping what the Schema constructor does on every call even with
 * validation off: the same instance — same prototype, same own fields, `_tag` last as the
 * constructor puts it — at a tenth of the cost. Anything from outside goes through `new` or a
 * decoder, which check.
 *
 * @since 0.1.0
 */
export const unsafeMake = {
  DocumentCreated: instanceMaker(DocumentCreated),
  DocumentUpdated: instanceMaker(DocumentUpdated),
  DocumentDeleted: instanceMaker(DocumentDeleted)
} as const

/**
 * Any document event.
 *
 * @since 0.1.0
 */
export const DocumentEvent = Schema.Union(DocumentCreated, DocumentUpdated, DocumentDeleted)

/**
 * @since 0.1.0
 */
export type DocumentEvent = typeof DocumentEvent.Type

/**
 * The tags of the document events, for typed subscriptions.
 *
 * @since 0.1.0
 */
export const tags = ["DocumentCreated", "DocumentUpdated", "DocumentDeleted"] as const

/**
 * Is this value a document event (of any tag)?
 *
 * @since 0.1.0
 */
export const is = Schema.is(DocumentEvent)

/**
 * A document event as JSON text and back: the form it takes in a journal row or on a wire.
 *
 * @since 0.1.0
 */
export const DocumentEventJson = Schema.parseJson(DocumentEvent)

/**
 * @since 0.1.0
 */
export const encodeJson = Schema.encodeSync(DocumentEventJson)

const decodeEvent = Schema.decodeUnknown(DocumentEventJson, { onExcessProperty: "error" })

/**
 * Decodes JSON text into an event; fails with a `ParseError` on anything that is not one, text
 * nested too deep to read included.
 *
 * @since 0.1.0
 */
export const decodeJson = (input: unknown): Effect.Effect<DocumentEvent, ParseResult.ParseError> =>
  Effect.suspend(() => {
    if (typeof input === "string" && jsonTooDeep(input)) {
      return Effect.fail(
        new ParseResult.ParseError({
          issue: new ParseResult.Type(DocumentEventJson.ast, "<JSON nested too deep>", "JSON nested too deep to read")
        })
      )
    }
    try {
      return decodeEvent(input)
    } catch {
      return Effect.fail(
        new ParseResult.ParseError({
          issue: new ParseResult.Type(DocumentEventJson.ast, "<unreadable>", "a value that cannot be read")
        })
      )
    }
  })
