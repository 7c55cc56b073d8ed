import type { Document, DocumentEvent, DocumentStore } from "@nerv/core"
import { Errors } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type { makeColdReads } from "./coldReads.js"
import * as StoreState from "./storeState.js"
import * as Vector from "./vector.js"

const shapeOf = (event: DocumentEvent.DocumentEvent): DocumentStore.VersionShape => ({
  version: event.version,
  event: event._tag,
  occurredAt: event.occurredAt,
  actor: event.actor
})

/**
 * The reads of one document's versions (`getAt`, `history`, `asOf`, `shape`): from the versions
 * the store holds, and from the journal (`coldReads`) for those a snapshot took out of memory.
 */
export const makeVersionReads = (
  /** The document's versions, whether or not it was forgotten. */
  anyEntryOf: (id: string) => Effect.Effect<StoreState.Versions, Errors.DocumentNotFound | Errors.JournalError>,
  /** The document's versions, for a read of its content. */
  entryOf: (
    id: string
  ) => Effect.Effect<StoreState.Versions, Errors.DocumentNotFound | Errors.DocumentForgotten | Errors.JournalError>,
  { cold, coldEvents, earliest }: ReturnType<typeof makeColdReads>
) => {
  const shape = (id: string) =>
    Effect.flatMap(anyEntryOf(id), (entry) => {
      const held = Vector.toArray(entry.events).map(shapeOf)
      if (entry.floor === 0) return Effect.succeed(held)
      return Effect.flatMap(earliest(id), (first) =>
        Effect.map(
          first > entry.floor ? Effect.succeed([]) : coldEvents(id, first, entry.floor),
          (older) => [...older.map(shapeOf), ...held]
        ))
    })

  const getAt = (id: string, version: number) =>
    Effect.flatMap(
      entryOf(id),
      (
        entry
      ): Effect.Effect<Document.Document, Errors.VersionNotFound | Errors.VersionPruned | Errors.JournalError> => {
        const latest = StoreState.latestVersion(entry)
        if (version < 1 || version > latest) {
          return Effect.fail(new Errors.VersionNotFound({ documentId: id, version, latest }))
        }
        if (version >= entry.floor) return Effect.succeed(StoreState.documentAt(entry, version))
        return Effect.flatMap(
          earliest(id),
          (first): Effect.Effect<Document.Document, Errors.VersionPruned | Errors.JournalError> =>
            version < first
              ? Effect.fail(new Errors.VersionPruned({ documentId: id, version, earliest: first }))
              : Effect.map(cold(id, version, version), (versions) => versions[0]!.document)
        )
      }
    )

  const history = (id: string) =>
    Effect.flatMap(entryOf(id), (entry) =>
      entry.floor === 0
        ? Effect.succeed(StoreState.heldVersions(entry))
        : Effect.flatMap(earliest(id), (first) =>
          Effect.map(
            first > entry.floor ? Effect.succeed([]) : cold(id, first, entry.floor),
            (older) => [...older, ...StoreState.heldVersions(entry)]
          )))

  const asOf = (id: string, instant: DateTime.Utc) =>
    Effect.flatMap(
      entryOf(id),
      (
        entry
      ): Effect.Effect<Document.Document, Errors.NotYetCreated | Errors.VersionPruned | Errors.JournalError> => {
        const millis = DateTime.toEpochMillis(instant)
        const at = (event: DocumentEvent.DocumentEvent) => DateTime.toEpochMillis(event.occurredAt) <= millis
        for (let i = entry.events.length - 1; i >= 0; i--) {
          if (at(Vector.get(entry.events, i)!)) {
            return Effect.succeed(StoreState.documentAt(entry, entry.floor + i + 1))
          }
        }
        if (entry.base !== undefined && DateTime.toEpochMillis(entry.base.modifiedAt) <= millis) {
          return Effect.succeed(entry.base)
        }
        // Every version of a document has the same `createdAt`.
        const createdAt = (entry.base ?? StoreState.latestDocument(entry)).createdAt
        const notYet = new Errors.NotYetCreated({ documentId: id, instant, createdAt })
        if (entry.floor === 0 || DateTime.toEpochMillis(createdAt) > millis) return Effect.fail(notYet)
        return Effect.flatMap(earliest(id), (first) =>
          Effect.flatMap(first >= entry.floor ? Effect.succeed([]) : cold(id, first, entry.floor - 1), (versions) => {
            for (let i = versions.length - 1; i >= 0; i--) {
              if (at(versions[i]!.event)) {
                return Effect.succeed(versions[i]!.document)
              }
            }
            return Effect.fail(new Errors.VersionPruned({ documentId: id, version: first - 1, earliest: first }))
          }))
      }
    )

  return { getAt, history, asOf, shape }
}
