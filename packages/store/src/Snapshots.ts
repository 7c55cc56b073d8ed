/**
 * Snapshots: a document's state at one version, kept so that a restart rebuilds each document from
 * its latest snapshot and the few events after it, and so that restart time depends on the number
 * of documents, not on the length of their histories. A snapshot is an optimisation, never the
 * truth: losing one costs only time, and the journal can always rebuild it.
 *
 * @since 0.1.0
 */
import { Document, type Errors, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/**
 * A document's state at one version.
 *
 * @since 0.1.0
 */
export interface Snapshot {
  readonly documentId: string
  readonly version: number
  readonly document: Document.Document
}

/**
 * What a rebuild reads, document by document in creation order: a document's latest snapshot (if
 * it has one), then its entries after it.
 *
 * @since 0.1.0
 */
export type RebuildItem =
  | { readonly _tag: "Snapshot"; readonly snapshot: Snapshot }
  | { readonly _tag: "Entry"; readonly entry: Journal.JournalEntry }

/**
 * @since 0.1.0
 */
export interface SnapshotStoreService {
  /** Keeps these snapshots (one per document and version; saving one twice keeps the first). */
  readonly save: (snapshots: ReadonlyArray<Snapshot>) => Effect.Effect<void, Errors.JournalError>
  /** The latest snapshot of a document. */
  readonly latest: (documentId: string) => Effect.Effect<Option.Option<Snapshot>, Errors.JournalError>
  /** The latest snapshot of a document at or before `version`: where a fold up to `version` can start. */
  readonly at: (documentId: string, version: number) => Effect.Effect<Option.Option<Snapshot>, Errors.JournalError>
  /** Everything a rebuild needs, streamed in pages (see `RebuildItem`). */
  readonly rebuild: (options?: { readonly pageSize?: number | undefined }) => Stream.Stream<
    RebuildItem,
    Errors.JournalError
  >
  /** How many documents a rebuild goes through (for progress reports). */
  readonly documentCount: Effect.Effect<number, Errors.JournalError>
  /** Whether `rebuild` gives each document's items together (so a rebuild can let it go after). */
  readonly groupedByDocument: boolean
  /**
   * Removes the snapshots of every document whose first version the journal still holds (a pruned
   * history keeps the snapshot it starts from): a rebuild from scratch folds their events again.
   * Returns how many it removed.
   */
  readonly clear: Effect.Effect<number, Errors.JournalError>
}

/**
 * Where snapshots are kept. `SqliteJournal.layer` keeps them in the journal database;
 * `layerMemory` keeps them beside an in-memory journal.
 *
 * @since 0.1.0
 */
export class SnapshotStore extends Context.Tag("@nerv/store/SnapshotStore")<SnapshotStore, SnapshotStoreService>() {}

/**
 * When to take snapshots: once a document is `every` versions past its last snapshot.
 *
 * @since 0.1.0
 */
export class SnapshotPolicy extends Context.Reference<SnapshotPolicy>()("@nerv/store/SnapshotPolicy", {
  defaultValue: (): { readonly every: number } => ({ every: 1_000 })
}) {}

/**
 * Takes a snapshot every `every` versions of a document.
 *
 * @since 0.1.0
 */
export const layerPolicy = (every: number): Layer.Layer<SnapshotPolicy> => {
  if (!Number.isInteger(every) || every < 1) throw new Error(`snapshot interval must be a positive integer: ${every}`)
  return Layer.succeed(SnapshotPolicy, { every })
}

/**
 * A document state as JSON, the form a snapshot is stored in.
 *
 * @since 0.1.0
 */
export const DocumentJson = Schema.parseJson(Document.Document)

/**
 * Snapshots kept in memory beside a journal. A rebuild still reads the whole journal (it skips the
 * events a snapshot covers), so this store exists to test the snapshot logic, not to save time.
 *
 * @since 0.1.0
 */
export const makeMemory = (journal: Journal.JournalService): Effect.Effect<SnapshotStoreService> =>
  Effect.sync(() => {
    const kept = new Map<string, Array<Snapshot>>()
    const at = (documentId: string, version: number): Option.Option<Snapshot> => {
      const list = kept.get(documentId) ?? []
      for (let i = list.length - 1; i >= 0; i--) if (list[i]!.version <= version) return Option.some(list[i]!)
      return Option.none()
    }
    return {
      save: (batch) =>
        Effect.sync(() => {
          for (const snapshot of batch) {
            const list = kept.get(snapshot.documentId) ?? []
            if (list.some((s) => s.version === snapshot.version)) continue
            list.push(snapshot)
            list.sort((a, b) => a.version - b.version)
            kept.set(snapshot.documentId, list)
          }
        }),
      latest: (documentId) => Effect.sync(() => at(documentId, Number.MAX_SAFE_INTEGER)),
      at: (documentId, version) => Effect.sync(() => at(documentId, version)),
      rebuild: (options) =>
        journal.read(options).pipe(
          Stream.mapChunks((chunk) =>
            Chunk.flatMap(chunk, (entry): Chunk.Chunk<RebuildItem> => {
              const snapshot = Option.getOrUndefined(at(entry.event.documentId, Number.MAX_SAFE_INTEGER))
              if (snapshot === undefined || entry.event.version > snapshot.version) {
                return Chunk.of({ _tag: "Entry", entry })
              }
              return entry.event.version === 1 ? Chunk.of({ _tag: "Snapshot", snapshot }) : Chunk.empty()
            })
          )
        ),
      documentCount: Stream.runCount(Stream.filter(journal.read(), (entry) => entry.event.version === 1)),
      groupedByDocument: false,
      clear: Effect.flatMap(
        Stream.runCollect(Stream.filter(journal.read(), (entry) => entry.event.version === 1)),
        (firsts) =>
          Effect.sync(() => {
            let removed = 0
            for (const entry of firsts) {
              removed += kept.get(entry.event.documentId)?.length ?? 0
              kept.delete(entry.event.documentId)
            }
            return removed
          })
      )
    }
  })

/**
 * In-memory snapshots beside the `Journal` in context.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<SnapshotStore, never, Journal.Journal> = Layer.effect(
  SnapshotStore,
  Effect.flatMap(Journal.Journal, makeMemory)
)
