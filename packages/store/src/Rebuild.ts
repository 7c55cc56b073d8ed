/**
 * The full rebuild: an explicit operation, not a step of opening a database (a store opens without
 * reading any document, see `VersionedStore.layerFromJournal`). It reads every document of the
 * journal, from its latest snapshot (or, `fromScratch`, from its first version), checks that every
 * entry decodes and follows the one before, and takes the snapshots a long history lacks, so that
 * loading any document afterwards reads at most `every` events. For after restoring a backup,
 * changing an upcaster (`fromScratch`: the snapshots are taken again from the events), or to check
 * a journal end to end. `nerv rebuild` runs it with a progress bar.
 *
 * Its memory stays bounded on a journal whose rebuild stream gives each document's items together
 * (SQLite): a document leaves memory once it has been read.
 *
 * @since 0.1.0
 */
import { type DocumentStore, Errors, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { takeSnapshots } from "./internal/snapshotter.js"
import { SnapshotPolicy, SnapshotStore } from "./Snapshots.js"
import * as VersionedStore from "./VersionedStore.js"

/**
 * How far a rebuild has come: `done` of `total` documents (with snapshots) or events (without).
 *
 * @since 0.1.0
 */
export interface Progress {
  readonly done: number
  readonly total: number
  readonly unit: "documents" | "events"
}

/**
 * Who hears about a rebuild's progress, once per page. Unset, nobody.
 *
 * @since 0.1.0
 */
export class RebuildProgress extends Context.Reference<RebuildProgress>()("@nerv/store/RebuildProgress", {
  defaultValue: (): { readonly report: (progress: Progress) => Effect.Effect<void> } => ({ report: () => Effect.void })
}) {}

/**
 * What a rebuild went through and did.
 *
 * @since 0.1.0
 */
export interface Summary {
  readonly documents: number
  readonly events: number
  /** Snapshots taken of histories that had grown `every` versions past their last one. */
  readonly snapshotsTaken: number
  /** Snapshots removed first (`fromScratch`). */
  readonly snapshotsRemoved: number
}

const inconsistent = (conflict: Errors.VersionConflict) =>
  new Errors.JournalError({ reason: `the journal's history is inconsistent: ${conflict.message}` })

/**
 * Applies every entry of the journal, streaming page by page, to a store: the plain fold of the
 * whole journal (what a store without snapshots would hold), for tests and comparisons.
 *
 * @since 0.1.0
 */
export const replay = (
  store: DocumentStore.DocumentStoreService,
  journal: Journal.JournalService
): Effect.Effect<void, Errors.JournalError> =>
  Effect.gen(function*() {
    const { report } = yield* RebuildProgress
    const total = yield* journal.head
    let done = 0
    yield* journal.read().pipe(
      Stream.runForEachChunk((chunk) =>
        store.apply(Chunk.toReadonlyArray(chunk).map((entry) => entry.event)).pipe(
          Effect.mapError(inconsistent),
          Effect.zipRight(Effect.suspend(() => report({ done: done += chunk.length, total, unit: "events" })))
        )
      )
    )
    // Pruned positions make fewer entries than the head: the last report says the rebuild is done.
    if (done < total) yield* report({ done: total, total, unit: "events" })
  })

/**
 * Rebuilds what is derived from the journal in context (see the module's documentation). Without
 * a `SnapshotStore`, it replays the journal and checks it.
 *
 * @since 0.1.0
 */
export const run = (
  options?: { readonly fromScratch?: boolean | undefined }
): Effect.Effect<Summary, Errors.JournalError, Journal.Journal> =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const found = yield* Effect.serviceOption(SnapshotStore)
    // A store of its own, holding what is applied to it: the documents being read.
    const store = yield* VersionedStore.make
    if (Option.isNone(found)) {
      yield* replay(store, journal)
      const held = yield* store.held
      return { documents: held.documents, events: yield* journal.head, snapshotsTaken: 0, snapshotsRemoved: 0 }
    }
    const snapshots = found.value
    const { every } = yield* SnapshotPolicy
    const { report } = yield* RebuildProgress
    const snapshotsRemoved = options?.fromScratch === true ? yield* snapshots.clear : 0
    const total = yield* snapshots.documentCount
    let documents = 0
    let events = 0
    let snapshotsTaken = 0
    let reading: string | undefined
    yield* snapshots.rebuild().pipe(
      Stream.runForEachChunk((chunk) =>
        Effect.gen(function*() {
          const seen = new Set<string>()
          for (const item of chunk) {
            const id = item._tag === "Snapshot" ? item.snapshot.documentId : item.entry.event.documentId
            if (item._tag === "Snapshot" || item.entry.event.version === 1) documents++
            if (item._tag === "Entry") events++
            seen.add(id)
            reading = id
          }
          yield* Effect.mapError(store.restore(chunk), inconsistent)
          snapshotsTaken += yield* takeSnapshots(store, snapshots, seen, every)
          // Every document but the one the next page may go on with is complete: it can go.
          if (snapshots.groupedByDocument) yield* store.evict([...seen].filter((id) => id !== reading))
          yield* report({ done: documents, total, unit: "documents" })
        })
      )
    )
    return { documents, events, snapshotsTaken, snapshotsRemoved }
  })
