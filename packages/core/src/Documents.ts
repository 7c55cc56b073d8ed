/**
 * The document programs. Each is a pure Effect program written against the ports only; the host
 * decides, with layers, what the journal, store, bus and notifier really are.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Command, decide, fold } from "./Decider.js"
import { Actor, Content, type Document, DocumentId, Reason, Title, Version } from "./Document.js"
import type { DocumentEvent } from "./DocumentEvent.js"
import { DocumentStore, type DocumentVersion } from "./DocumentStore.js"
import { InvalidInput } from "./Errors.js"
import { EventBus } from "./EventBus.js"
import { IdGenerator } from "./IdGenerator.js"
import { Journal } from "./Journal.js"
import { Notifier } from "./Notifier.js"

/**
 * The input to `create`.
 *
 * @since 0.1.0
 */
export const CreateInput = Schema.Struct({ title: Title, content: Content, author: Actor })

/**
 * The changes `update` makes: a title, a content, or both.
 *
 * @since 0.1.0
 */
export const UpdateInput = Schema.Struct({
  title: Schema.optionalWith(Title, { exact: true }),
  content: Schema.optionalWith(Content, { exact: true })
}).pipe(
  Schema.filter((changes) => changes.title !== undefined || changes.content !== undefined, {
    message: () => "an update must change the title, the content, or both"
  })
)

/**
 * Who updates, and optionally the version they last read (optimistic concurrency).
 *
 * @since 0.1.0
 */
export const UpdateOptions = Schema.Struct({
  editor: Actor,
  expectedVersion: Schema.optionalWith(Version, { exact: true })
})

/**
 * Who deletes, why, and optionally the version they last read.
 *
 * @since 0.1.0
 */
export const RemoveOptions = Schema.Struct({
  actor: Actor,
  reason: Reason,
  expectedVersion: Schema.optionalWith(Version, { exact: true })
})

/**
 * Where the current command came from. Unset, each command starts its own correlation.
 *
 * @since 0.1.0
 */
export const currentCause: FiberRef.FiberRef<
  Option.Option<{ readonly correlationId: string; readonly causationId: string }>
> = FiberRef.unsafeMake(Option.none())

/**
 * Runs a program as part of a correlated request: its events carry this correlation id.
 *
 * @since 0.1.0
 */
export const withCorrelation: {
  (correlationId: string): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, correlationId: string): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, correlationId: string) =>
    Effect.locally(self, currentCause, Option.some({ correlationId, causationId: correlationId }))
)

/**
 * Runs a program as a reaction to an event: its events carry the event's correlation id and name
 * the event as their cause.
 *
 * @since 0.1.0
 */
export const causedBy: {
  (event: DocumentEvent): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, event: DocumentEvent): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, event: DocumentEvent) =>
    Effect.locally(
      self,
      currentCause,
      Option.some({ correlationId: event.correlationId, causationId: event.eventId })
    )
)

const decodeInput = <A, I>(operation: string, schema: Schema.Schema<A, I>, input: unknown) =>
  Schema.decodeUnknown(schema, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Effect.mapError((error) => InvalidInput.fromParseError(operation, error))
  )

/**
 * The write path of ARCHITECTURE.md for one command: decide on the current state, append to the
 * journal (the commit), apply to the store, publish. Nothing happens unless the append succeeds,
 * and the store and bus never see an event the journal does not hold.
 */
const execute = Effect.fnUntraced(function*(command: Command) {
  const store = yield* DocumentStore
  const journal = yield* Journal
  const bus = yield* EventBus
  const ids = yield* IdGenerator
  const cause = yield* FiberRef.get(currentCause)
  const commandId = yield* ids.next
  return yield* store.serialized(
    command.documentId,
    Effect.gen(function*() {
      const state = Option.getOrUndefined(yield* store.current(command.documentId))
      const events = yield* decide(state, command, {
        eventId: yield* ids.next,
        now: yield* DateTime.now,
        correlationId: Option.match(cause, { onNone: () => commandId, onSome: (c) => c.correlationId }),
        causationId: Option.match(cause, { onNone: () => commandId, onSome: (c) => c.causationId })
      })
      if (events.length === 0) return { state: state!, events }
      // Once the journal has committed, the store must follow: no interruption in between.
      yield* Effect.uninterruptible(
        Effect.zipRight(journal.append(events, state?.version ?? 0), store.apply(events))
      )
      yield* bus.publishAll(events)
      return { state: fold(events, state)!, events }
    })
  )
})

/** Tells the author; a failed notification is logged, it does not undo a committed change. */
const notifyAuthor = (document: Document, message: string) =>
  Effect.flatMap(Notifier, (notifier) => notifier.notify(document.author, message)).pipe(
    Effect.catchTag("NotificationFailed", (error) => Effect.logWarning(error.message))
  )

/**
 * Creates a document and returns its id.
 *
 * @since 0.1.0
 */
export const create = Effect.fn("Documents.create")(function*(input: typeof CreateInput.Encoded) {
  const { author, content, title } = yield* decodeInput("Documents.create", CreateInput, input)
  const documentId = DocumentId.make(yield* Effect.flatMap(IdGenerator, (ids) => ids.next))
  yield* execute(Command.Create({ documentId, title, content, author }))
  yield* Effect.logInfo(`document created: ${documentId} "${title}" by ${author}`)
  return documentId
})

/**
 * Changes a document's title and/or content and returns its new state. With `expectedVersion`,
 * refuses with `VersionConflict` if someone else changed it since. An update that changes nothing
 * makes no new version.
 *
 * @since 0.1.0
 */
export const update = Effect.fn("Documents.update")(function*(
  id: string,
  changes: typeof UpdateInput.Encoded,
  options: typeof UpdateOptions.Encoded
) {
  const input = yield* decodeInput(
    "Documents.update",
    Schema.Struct({ id: DocumentId, changes: UpdateInput, options: UpdateOptions }),
    { id, changes, options }
  )
  const { events, state } = yield* execute(
    Command.Update({ documentId: input.id, ...input.changes, ...input.options })
  )
  if (events.length > 0) {
    yield* notifyAuthor(state, `${input.options.editor} updated "${state.title}" (now version ${state.version})`)
  }
  return state
})

/**
 * Deletes a document and returns its final state. Its history stays readable.
 *
 * @since 0.1.0
 */
export const remove = Effect.fn("Documents.remove")(function*(id: string, options: typeof RemoveOptions.Encoded) {
  const input = yield* decodeInput(
    "Documents.remove",
    Schema.Struct({ id: DocumentId, options: RemoveOptions }),
    { id, options }
  )
  const { state } = yield* execute(Command.Delete({ documentId: input.id, ...input.options }))
  yield* notifyAuthor(state, `${input.options.actor} deleted "${state.title}": ${input.options.reason}`)
  return state
})

/**
 * The latest state of a document, deleted or not (`isDeleted` tells).
 *
 * @since 0.1.0
 */
export const get = Effect.fn("Documents.get")(function*(id: string) {
  const documentId = yield* decodeInput("Documents.get", DocumentId, id)
  return yield* Effect.flatMap(DocumentStore, (store) => store.get(documentId))
})

/**
 * Every document not deleted, in creation order.
 *
 * @since 0.1.0
 */
export const list = Effect.fn("Documents.list")(function*() {
  return yield* Effect.flatMap(DocumentStore, (store) => store.list)
})

/**
 * Every version of a document with the event that made it, oldest first.
 *
 * @since 0.1.0
 */
export const history = Effect.fn("Documents.history")(function*(id: string) {
  const documentId = yield* decodeInput("Documents.history", DocumentId, id)
  return yield* Effect.flatMap(DocumentStore, (store) => store.history(documentId))
})

/**
 * A document as it was at one version (time travel).
 *
 * @since 0.1.0
 */
export const at = Effect.fn("Documents.at")(function*(id: string, version: number) {
  const input = yield* decodeInput("Documents.at", Schema.Struct({ id: DocumentId, version: Version }), {
    id,
    version
  })
  return yield* Effect.flatMap(DocumentStore, (store) => store.getAt(input.id, input.version))
})

/**
 * @since 0.1.0
 */
export type { DocumentVersion }
