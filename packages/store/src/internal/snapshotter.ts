import { Decider, type Document, type Errors, type Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Snapshot, SnapshotStoreService } from "../Snapshots.js"
import { isForgotten } from "./forgotten.js"

/** What taking a snapshot needs of a store. */
export interface Windowed {
  /** A document's latest version, the last one no longer held in memory, and whether it was forgotten. */
  readonly windowOf: (
    documentId: string
  ) => Effect.Effect<Option.Option<{ readonly floor: number; readonly latest: number; readonly forgotten: boolean }>>
  readonly getAt: (documentId: Document.DocumentId, version: number) => Effect.Effect<Document.Document, unknown>
  /** Lets the versions up to `version` leave memory (a snapshot now covers them). */
  readonly compact: (documentId: string, version: number) => Effect.Effect<void>
}

/**
 * Takes a snapshot, at its latest version, of every document among `ids` that the store holds
 * `every` versions past the last version it no longer holds (a forgotten one has no content to
 * snapshot); once they are saved, the versions they cover leave memory. What the background
 * snapshotter and a full rebuild both do. Returns how many it took.
 */
export const takeSnapshots = (
  store: Windowed,
  snapshots: SnapshotStoreService,
  ids: Iterable<string>,
  every: number
): Effect.Effect<number, Errors.JournalError> =>
  Effect.gen(function*() {
    const taken: Array<Snapshot> = []
    for (const id of ids) {
      const window = Option.getOrUndefined(yield* store.windowOf(id))
      if (window === undefined || window.forgotten || window.latest - window.floor < every) continue
      const document = yield* Effect.orDie(store.getAt(id as Document.DocumentId, window.latest))
      taken.push({ documentId: id, version: window.latest, document })
    }
    if (taken.length === 0) return 0
    yield* snapshots.save(taken)
    yield* Effect.forEach(taken, (snapshot) => store.compact(snapshot.documentId, snapshot.version), {
      discard: true
    })
    return taken.length
  })

/**
 * Takes a snapshot of a document the store no longer holds, if its history grew `every` versions
 * past its latest snapshot: folded from that snapshot and the journal's entries after it.
 */
const takeFromJournal = (
  journal: Journal.JournalService,
  snapshots: SnapshotStoreService,
  id: string,
  every: number
): Effect.Effect<number, Errors.JournalError> =>
  Effect.gen(function*() {
    const base = Option.getOrUndefined(yield* snapshots.latest(id))
    const entries = Chunk.toReadonlyArray(
      yield* Stream.runCollect(
        journal.readDocument(id as Document.DocumentId, { fromVersion: (base?.version ?? 0) + 1 })
      )
    )
    if (entries.length < every) return 0
    let state = base?.document
    for (const { event } of entries) {
      // A forgotten document has no content to snapshot.
      if (isForgotten(event)) return 0
      state = Decider.evolve(state, event)
    }
    yield* snapshots.save([{ documentId: id, version: state!.version, document: state! }])
    return 1
  })

/**
 * Takes snapshots in the background: the store says which documents grew `every` versions past
 * their last snapshot (`due`, which only queues the id), and a fiber of the scope takes them, from
 * the store if it still holds the document, else from the journal (a small store lets documents go
 * sooner than the fiber comes). A failed save is logged and tried again when the document grows on
 * (a snapshot only saves time: losing one loses nothing).
 */
export const makeSnapshotter = (snapshots: SnapshotStoreService, every: number, journal: Journal.JournalService) =>
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<string>(), Queue.shutdown)
    const queued = new Set<string>()
    const take = (store: Windowed, ids: Iterable<string>) =>
      Effect.gen(function*() {
        const held: Array<string> = []
        for (const id of ids) {
          queued.delete(id)
          if (Option.isSome(yield* store.windowOf(id))) held.push(id)
          else yield* takeFromJournal(journal, snapshots, id, every)
        }
        yield* takeSnapshots(store, snapshots, held, every)
      }).pipe(Effect.catchAll((error) => Effect.logWarning(`snapshots were not taken: ${error.message}`)))
    return {
      every,
      due: (id: string): void => {
        if (queued.has(id)) return
        queued.add(id)
        queue.unsafeOffer(id)
      },
      start: (store: Windowed): Effect.Effect<void, never, Scope.Scope> =>
        Effect.asVoid(
          Effect.forkScoped(
            Effect.forever(Effect.flatMap(Queue.takeBetween(queue, 1, 1_000), (ids) => take(store, ids)))
          )
        )
    }
  })
