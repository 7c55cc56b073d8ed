import { Decider, type Document, type DocumentEvent, type DocumentStore, type Errors, type Journal } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { SnapshotStoreService } from "../Snapshots.js"

/**
 * Reads of the versions that left the store's memory: from the journal, starting at the nearest
 * snapshot, so that a read of an old version costs at most a snapshot interval of events.
 */
export const makeColdReads = (options?: {
  readonly journal?: Journal.JournalService | undefined
  readonly snapshots?: SnapshotStoreService | undefined
}): {
  /** The first version the journal still holds (1 unless the retention policy pruned some). */
  readonly earliest: (id: string) => Effect.Effect<number, Errors.JournalError>
  /** The versions `from` to `upTo`; `from` must not be below `earliest`. */
  readonly cold: (
    id: string,
    from: number,
    upTo: number
  ) => Effect.Effect<Array<DocumentStore.DocumentVersion>, Errors.JournalError>
  /**
   * The events of versions `from` to `upTo`, without folding them into states: what a history's
   * shape needs, and all a forgotten document still has.
   */
  readonly coldEvents: (
    id: string,
    from: number,
    upTo: number
  ) => Effect.Effect<Array<DocumentEvent.DocumentEvent>, Errors.JournalError>
} => {
  const journalOf = (id: string) => {
    const journal = options?.journal
    if (journal === undefined) {
      return Effect.dieMessage(`document ${id}'s old versions left memory, and the store has no journal to read them`)
    }
    return Effect.succeed(journal)
  }

  /** The first version the journal still holds (1 unless the retention policy pruned some). */
  const earliest = (id: string) =>
    Effect.flatMap(journalOf(id), (journal) =>
      journal.readDocument(id as Document.DocumentId).pipe(
        Stream.take(1),
        Stream.runHead,
        Effect.map(Option.match({ onNone: () => 1, onSome: (entry) => entry.event.version }))
      ))

  /**
   * The versions `from` to `upTo` (which left memory), read from the journal, starting at the
   * nearest snapshot at or before `from`; `from` must not be below `earliest`.
   */
  const cold = (id: string, from: number, upTo: number) =>
    Effect.gen(function*() {
      const journal = yield* journalOf(id)
      const base = options?.snapshots === undefined
        ? Option.none()
        : yield* options.snapshots.at(id, from)
      const start = Option.match(base, { onNone: () => 1, onSome: (snapshot) => snapshot.version })
      let state = Option.match(base, { onNone: () => undefined, onSome: (snapshot) => snapshot.document })
      const versions: Array<DocumentStore.DocumentVersion> = []
      yield* journal.readDocument(id as Document.DocumentId, { fromVersion: start }).pipe(
        Stream.takeWhile((entry) => entry.event.version <= upTo),
        Stream.runForEach(({ event }) =>
          Effect.sync(() => {
            state = event.version === start && state !== undefined ? state : Decider.evolve(state, event)
            if (event.version >= from) versions.push({ version: event.version, document: state, event })
          })
        )
      )
      if (versions[0]?.version !== from) {
        return yield* Effect.dieMessage(
          `the journal does not hold document ${id}'s versions ${from} to ${upTo} (pruned without a snapshot?)`
        )
      }
      return versions
    })

  const coldEvents = (id: string, from: number, upTo: number) =>
    Effect.flatMap(
      journalOf(id),
      (journal) =>
        journal.readDocument(id as Document.DocumentId, { fromVersion: from }).pipe(
          Stream.takeWhile((entry) => entry.event.version <= upTo),
          Stream.runFold([] as Array<DocumentEvent.DocumentEvent>, (events, entry) => {
            events.push(entry.event)
            return events
          })
        )
    )

  return { earliest, cold, coldEvents }
}
