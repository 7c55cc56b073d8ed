import type { DocumentEvent } from "@nerv/core"
import { Errors } from "@nerv/core"

/**
 * The shape every journal requires of one append, whatever stores it: a non-empty batch of one
 * document's events, with consecutive versions starting right after `expectedVersion`.
 */
export const checkBatch = (
  events: ReadonlyArray<DocumentEvent.DocumentEvent>,
  expectedVersion: number
): Errors.JournalError | undefined => {
  const first = events[0]
  if (first === undefined) return new Errors.JournalError({ reason: "an append needs at least one event" })
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!
    if (event.documentId !== first.documentId) {
      return new Errors.JournalError({
        reason: `an append holds the events of one document; got ${first.documentId} and ${event.documentId}`
      })
    }
    if (event.version !== expectedVersion + 1 + i) {
      return new Errors.JournalError({
        reason: `event ${i} of the append for document ${event.documentId} has version ${event.version}, ` +
          `expected ${expectedVersion + 1 + i}`
      })
    }
  }
  return undefined
}
