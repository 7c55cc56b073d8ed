import { Document, DocumentEvent } from "@nerv/core"
import * as DateTime from "effect/DateTime"

/**
 * Marks what was rebuilt without content because its document was forgotten (crypto-shredded): an
 * event made from its row's clear columns, or a document state made from such events. The mark is
 * a non-enumerable symbol property, so it changes neither equality nor encoding; `Symbol.for`
 * keeps it recognisable across copies of this module.
 */
const mark: unique symbol = Symbol.for("@nerv/store/Forgotten") as never

const marked = <A extends object>(value: A): A => {
  Object.defineProperty(value, mark, { value: true, enumerable: false })
  return value
}

/** Was this event or document state rebuilt without content because its document was forgotten? */
export const isForgotten = (value: object): boolean => (value as { readonly [mark]?: boolean })[mark] === true

/** The metadata of an event, without the fields its payload carries. */
export interface EventMetadata {
  readonly eventId: string
  readonly documentId: Document.DocumentId
  readonly version: number
  readonly occurredAt: DocumentEvent.DocumentEvent["occurredAt"]
  readonly actor: string
  readonly correlationId: string
  readonly causationId: string
}

/**
 * An event of a forgotten document: its metadata as it was, its content fields blank (a title,
 * content or reason is empty; an update names no field). Built without the Schema constructor: the
 * blank fields are deliberately outside the event's Schema (a title is never empty otherwise), and
 * the metadata comes from an event or a row that was checked when it was written.
 */
export const forgottenEvent = (
  type: DocumentEvent.DocumentEvent["_tag"],
  metadata: EventMetadata
): DocumentEvent.DocumentEvent => {
  const fields = {
    eventId: metadata.eventId,
    documentId: metadata.documentId,
    version: metadata.version,
    occurredAt: metadata.occurredAt,
    actor: metadata.actor,
    correlationId: metadata.correlationId,
    causationId: metadata.causationId
  }
  switch (type) {
    case "DocumentCreated":
      return marked(DocumentEvent.unsafeMake.DocumentCreated({ ...fields, title: "", content: "" }))
    case "DocumentUpdated":
      return marked(DocumentEvent.unsafeMake.DocumentUpdated(fields))
    case "DocumentDeleted":
      return marked(DocumentEvent.unsafeMake.DocumentDeleted({ ...fields, reason: "" }))
  }
}

/** The same event with its content dropped (an already forgotten event as it is). */
export const forgetEvent = (event: DocumentEvent.DocumentEvent): DocumentEvent.DocumentEvent =>
  isForgotten(event) ? event : forgottenEvent(event._tag, event)

/**
 * A document state with its content dropped: title and content blank, a deletion's reason blank
 * (outside the Schema on purpose, so built without its constructor, like the events above).
 */
export const forgetDocument = (document: Document.Document): Document.Document =>
  isForgotten(document) ? document : marked(
    Document.unsafeMake({
      id: document.id,
      title: "",
      content: "",
      author: document.author,
      version: document.version,
      createdAt: document.createdAt,
      modifiedAt: document.modifiedAt,
      lastEditor: document.lastEditor,
      ...(document.deletedAt === undefined ? {} : { deletedAt: document.deletedAt, deletionReason: "" })
    })
  )

/** Marks a document state built by folding forgotten events. */
export const markDocument = (document: Document.Document): Document.Document => marked(document)

/**
 * The state of a forgotten document at `version` when nothing but that version's event (if even
 * that) is left to rebuild it from: no content, and only the metadata that event carries.
 */
export const placeholderDocument = (
  documentId: string,
  version: number,
  event: DocumentEvent.DocumentEvent | undefined
): Document.Document =>
  marked(
    Document.unsafeMake({
      id: documentId as Document.DocumentId,
      title: "",
      content: "",
      author: "",
      version,
      createdAt: event?.occurredAt ?? DateTime.unsafeMake(0),
      modifiedAt: event?.occurredAt ?? DateTime.unsafeMake(0),
      lastEditor: event?.actor ?? ""
    })
  )
