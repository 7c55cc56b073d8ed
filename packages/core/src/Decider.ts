/**
 * The pure heart of NERV: `decide` turns a command and the current state into events (or a typed
 * refusal), `evolve` applies one event to a state. Neither does I/O, so both are tested without a
 * runtime and replaying a journal is a plain fold.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import { type Document, type DocumentId, unsafeMake as makeDocument } from "./Document.js"
import { type DocumentEvent, type DocumentUpdated, unsafeMake as makeEvent } from "./DocumentEvent.js"
import { DocumentAlreadyDeleted, DocumentNotFound, VersionConflict } from "./Errors.js"

/**
 * A decoded, valid command for one document.
 *
 * @since 0.1.0
 */
export type Command = Data.TaggedEnum<{
  Create: {
    readonly documentId: DocumentId
    readonly title: string
    readonly content: string
    readonly author: string
  }
  Update: {
    readonly documentId: DocumentId
    readonly title?: string | undefined
    readonly content?: string | undefined
    readonly editor: string
    readonly expectedVersion?: number | undefined
  }
  Delete: {
    readonly documentId: DocumentId
    readonly reason: string
    readonly actor: string
    readonly expectedVersion?: number | undefined
  }
}>

/**
 * Constructors for `Command`: `Command.Update({ documentId, content, editor })`.
 *
 * @since 0.1.0
 */
export const Command = Data.taggedEnum<Command>()

/**
 * What `decide` needs from outside to stamp the event it decides: its id, the time, and where the
 * command came from.
 *
 * @since 0.1.0
 */
export interface DecisionContext {
  readonly eventId: string
  readonly now: DateTime.Utc
  readonly correlationId: string
  readonly causationId: string
}

/**
 * The ways `decide` can refuse a command.
 *
 * @since 0.1.0
 */
export type Refusal = DocumentNotFound | DocumentAlreadyDeleted | VersionConflict

const checkWritable = (
  state: Document | undefined,
  documentId: DocumentId,
  expectedVersion: number | undefined
): Either.Either<Document, Refusal> => {
  if (state === undefined) return Either.left(new DocumentNotFound({ documentId }))
  if (state.deletedAt !== undefined) {
    return Either.left(
      new DocumentAlreadyDeleted({ documentId, deletedAt: state.deletedAt, reason: state.deletionReason ?? "" })
    )
  }
  if (expectedVersion !== undefined && expectedVersion !== state.version) {
    return Either.left(new VersionConflict({ documentId, expected: expectedVersion, actual: state.version }))
  }
  return Either.right(state)
}

/**
 * Decides what a command means for the current state. An update that changes nothing decides no
 * events (it is idempotent); creating a document whose id exists is a conflict with version 0.
 *
 * @since 0.1.0
 */
export const decide = (
  state: Document | undefined,
  command: Command,
  context: DecisionContext
): Either.Either<ReadonlyArray<DocumentEvent>, Refusal> => {
  const metadata = (actor: string, version: number) => ({
    eventId: context.eventId,
    documentId: command.documentId,
    version,
    occurredAt: context.now,
    actor,
    correlationId: context.correlationId,
    causationId: context.causationId
  })
  switch (command._tag) {
    case "Create": {
      if (state !== undefined) {
        return Either.left(new VersionConflict({ documentId: command.documentId, expected: 0, actual: state.version }))
      }
      return Either.right([
        makeEvent.DocumentCreated({ ...metadata(command.author, 1), title: command.title, content: command.content })
      ])
    }
    case "Update": {
      return Either.map(checkWritable(state, command.documentId, command.expectedVersion), (current) => {
        const title = command.title !== undefined && command.title !== current.title ? command.title : undefined
        const content = command.content !== undefined && command.content !== current.content
          ? command.content
          : undefined
        if (title === undefined && content === undefined) return []
        // Only the fields that change are present (the event's optional fields are exact).
        const event: { -readonly [K in keyof Omit<DocumentUpdated, "_tag">]: DocumentUpdated[K] } = metadata(
          command.editor,
          current.version + 1
        )
        if (title !== undefined) event.title = title
        if (content !== undefined) event.content = content
        return [makeEvent.DocumentUpdated(event)]
      })
    }
    case "Delete": {
      return Either.map(
        checkWritable(state, command.documentId, command.expectedVersion),
        (
          current
        ) => [makeEvent.DocumentDeleted({ ...metadata(command.actor, current.version + 1), reason: command.reason })]
      )
    }
  }
}

/**
 * Applies one event to a state. Events come from a journal that only ever holds decided events, so
 * an event that does not follow its state is a defect (a corrupt journal), not an expected error.
 *
 * @since 0.1.0
 */
export const evolve = (state: Document | undefined, event: DocumentEvent): Document => {
  if (event._tag === "DocumentCreated") {
    if (state !== undefined || event.version !== 1) {
      throw new Error(`corrupt history: ${event._tag} at version ${event.version} of document ${event.documentId}`)
    }
    return makeDocument({
      id: event.documentId,
      title: event.title,
      content: event.content,
      author: event.actor,
      version: 1,
      createdAt: event.occurredAt,
      modifiedAt: event.occurredAt,
      lastEditor: event.actor
    })
  }
  if (state === undefined || state.isDeleted || event.version !== state.version + 1) {
    throw new Error(
      `corrupt history: ${event._tag} at version ${event.version} of document ${event.documentId} ` +
        `follows version ${state?.version ?? "none"}`
    )
  }
  const common = { version: event.version, modifiedAt: event.occurredAt, lastEditor: event.actor }
  return event._tag === "DocumentUpdated"
    ? makeDocument({
      ...state,
      ...common,
      title: event.title ?? state.title,
      content: event.content ?? state.content
    })
    : makeDocument({ ...state, ...common, deletedAt: event.occurredAt, deletionReason: event.reason })
}

/**
 * Folds a document's events, oldest first, into its state.
 *
 * @since 0.1.0
 */
export const fold = (events: Iterable<DocumentEvent>, initial?: Document): Document | undefined => {
  let state = initial
  for (const event of events) state = evolve(state, event)
  return state
}
