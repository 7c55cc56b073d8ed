/**
 * The Ref-held versioned store: every version of every document, for reads that do not touch the
 * journal (except for versions a snapshot took out of memory, below). It implements the
 * `DocumentStore` port of `@nerv/core`.
 *
 * It holds each version as its event; a document's state is kept at its latest version and every
 * few versions (see `internal/storeState.ts`), and any other version's state is folded from the
 * nearest kept one when it is read. A state per version would be most of what a large store
 * retains, and so most of what the garbage collector goes through.
 *
 * With snapshots (a `SnapshotStore` in context), a document's versions up to its latest snapshot
 * leave memory, so memory stays bounded however long histories grow; reading one of those versions
 * (`getAt`, `asOf`, `history`) reads the journal. Every version stays readable.
 *
 * A forgotten (crypto-shredded) document keeps only its history's shape: its content reads and
 * commands fail `DocumentForgotten`, `list` leaves it out, and it is never snapshotted.
 *
 * @since 0.1.0
 */
import { type Document, type DocumentEvent, DocumentStore, Errors, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { makeColdReads } from "./internal/coldReads.js"
import { makeFollower } from "./internal/follower.js"
import { makeKeyedLock } from "./internal/keyedLock.js"
import { startSnapshotting } from "./internal/snapshotting.js"
import * as StoreState from "./internal/storeState.js"
import * as Vector from "./internal/vector.js"
import { Forgetting, type ForgettingService } from "./Projection.js"
import {
  type RebuildItem,
  type Snapshot,
  SnapshotPolicy,
  SnapshotStore,
  type SnapshotStoreService
} from "./Snapshots.js"

/**
 * What the store holds.
 *
 * @since 0.1.0
 */
export type State = StoreState.State

/**
 * The store, with what a rebuild and the snapshotter need beyond the port.
 *
 * @since 0.1.0
 */
export interface VersionedStoreService extends DocumentStore.DocumentStoreService {
  /** Applies a page of a rebuild: snapshots to restore and entries to apply, in order. */
  readonly restore: (items: Chunk.Chunk<RebuildItem>) => Effect.Effect<void, Errors.VersionConflict>
  /** Lets the versions up to `version` leave memory (a snapshot now covers them). */
  readonly compact: (documentId: string, version: number) => Effect.Effect<void>
  /** A document's latest version, and the last one no longer held in memory (0: all are held). */
  readonly windowOf: (documentId: string) => Effect.Effect<Option.Option<Window>>
  /** The windows of every document. */
  readonly windows: Effect.Effect<ReadonlyArray<Window & { readonly id: string }>>
  /**
   * Looks whether the journal moved on (other processes' commits) and takes note of it; a no-op
   * without a journal. Reads and commands do it first; a fiber of `layerFromJournal` does it on a
   * short poll.
   */
  readonly sync: Effect.Effect<void, Errors.JournalError>
  /**
   * The view holds everything up to `position`, as of the journal's change token `token`: where
   * following starts after a rebuild.
   */
  readonly resume: (position: number, token: number | undefined) => Effect.Effect<void, Errors.JournalError>
  /** The journal position the view has taken everything into account up to. */
  readonly position: Effect.Effect<number>
}

/**
 * Which of a document's versions the store holds in memory: `floor + 1` to `latest`.
 *
 * @since 0.1.0
 */
export interface Window {
  readonly floor: number
  readonly latest: number
  /** The document was forgotten: it has no content to snapshot. */
  readonly forgotten: boolean
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Where versions no longer in memory are read from. Needed once `compact` is used. */
  readonly journal?: Journal.JournalService | undefined
  /** Where reads of old versions start from (the nearest snapshot), and the base of a pruned history. */
  readonly snapshots?: SnapshotStoreService | undefined
  /**
   * Who hears that a document another process forgot was forgotten here too (this process's read
   * models and key caches).
   */
  readonly forgetting?: ForgettingService | undefined
}

const notFound = (id: string) => new Errors.DocumentNotFound({ documentId: id })

const inconsistent = (conflict: Errors.VersionConflict) =>
  new Error(`the journal's history is inconsistent: ${conflict.message}`)
const forgotten = (id: string) => new Errors.DocumentForgotten({ documentId: id })

const shapeOf = (event: DocumentEvent.DocumentEvent): DocumentStore.VersionShape => ({
  version: event.version,
  event: event._tag,
  occurredAt: event.occurredAt,
  actor: event.actor
})

/**
 * Makes an empty store.
 *
 * @since 0.1.0
 */
export const makeWith = (options?: Options): Effect.Effect<VersionedStoreService> =>
  Effect.gen(function*() {
    const ref = yield* Ref.make(StoreState.emptyState)
    const serialized = makeKeyedLock()
    const journal = options?.journal
    const latestOf = (state: State) => (id: string) => {
      const entry = Option.getOrUndefined(HashMap.get(state.documents, id))
      return entry === undefined ? 0 : StoreState.latestVersion(entry)
    }
    /** The documents this view forgot (by `forget` or following the journal): told once. */
    const forgottenHere = new Set<string>()
    const forgetHere = (id: string, quietly: boolean) =>
      Effect.suspend(() => {
        if (forgottenHere.has(id)) return Effect.void
        forgottenHere.add(id)
        return Effect.zipRight(
          Ref.update(ref, (state) => StoreState.forget(state, id)),
          quietly || options?.forgetting === undefined ? Effect.void : options.forgetting.forgotten(id)
        )
      })
    const followerOrUndefined = journal === undefined
      ? undefined
      : makeFollower(journal, Effect.map(Ref.get(ref), latestOf), forgetHere)
    const follower = followerOrUndefined

    const modify = <E>(f: (state: State) => Either.Either<State, E>) =>
      Effect.flatten(
        Ref.modify(ref, (state): readonly [Effect.Effect<void, E>, State] =>
          Either.match(f(state), {
            onLeft: (error) => [Effect.fail(error), state],
            onRight: (next) => [Effect.void, next]
          }))
      )

    /**
     * Reads the versions of a document the view is behind on (other processes committed them)
     * and adds them: after the view's latest version, or, for a document the view does not hold,
     * from its latest snapshot (or its first version) on.
     */
    const refresh = (id: string): Effect.Effect<void, Errors.JournalError> =>
      Effect.suspend(() => {
        if (follower === undefined || journal === undefined || follower.behind(id) === undefined) return Effect.void
        return refreshBehind(follower, journal, id)
      })

    const refreshBehind = (
      follower: NonNullable<typeof followerOrUndefined>,
      journal: Journal.JournalService,
      id: string
    ): Effect.Effect<void, Errors.JournalError> =>
      Effect.gen(function*() {
        const held = latestOf(yield* Ref.get(ref))(id)
        const items: Array<RebuildItem | DocumentEvent.DocumentEvent> = []
        let from = held + 1
        if (held === 0 && options?.snapshots !== undefined) {
          const snapshot = yield* options.snapshots.latest(id)
          if (Option.isSome(snapshot)) {
            items.push({ _tag: "Snapshot", snapshot: snapshot.value })
            from = snapshot.value.version + 1
          }
        }
        yield* journal.readDocument(id as Document.DocumentId, { fromVersion: from }).pipe(
          Stream.runForEach((entry) => Effect.sync(() => items.push(entry.event)))
        )
        yield* Effect.orDieWith(modify((state) => StoreState.applyNew(state, items)), inconsistent)
        follower.caughtUp(id, latestOf(yield* Ref.get(ref))(id))
      })

    /** Brings one document of the view up to date with the journal. */
    const freshen = (id: string) => follower === undefined ? Effect.void : Effect.zipRight(follower.sync, refresh(id))

    /** Brings every document of the view up to date with the journal. */
    const freshenAll = follower === undefined ? Effect.void : Effect.zipRight(
      follower.sync,
      Effect.suspend(() => Effect.forEach(follower.allBehind(), refresh, { discard: true }))
    )

    /**
     * A document's versions, up to date with the journal, or `undefined`. A document the view does
     * not know of is looked for in the journal, whatever its change token says: a read of a
     * document another process just created finds it.
     */
    const lookup = (id: string): Effect.Effect<StoreState.Versions | undefined, Errors.JournalError> => {
      const held = Effect.map(Ref.get(ref), (state) => Option.getOrUndefined(HashMap.get(state.documents, id)))
      return Effect.flatMap(Effect.zipRight(freshen(id), held), (entry) =>
        entry !== undefined || follower === undefined
          ? Effect.succeed(entry)
          : follower.catchUp.pipe(Effect.zipRight(refresh(id)), Effect.zipRight(held)))
    }

    /** A document's versions, whether or not it was forgotten (for its shape). */
    const anyEntryOf = (id: string) =>
      Effect.flatMap(lookup(id), (entry) => entry === undefined ? Effect.fail(notFound(id)) : Effect.succeed(entry))

    /** A document's versions, for a read of its content. */
    const entryOf = (id: string) =>
      Effect.flatMap(
        anyEntryOf(id),
        (entry): Effect.Effect<StoreState.Versions, Errors.DocumentNotFound | Errors.DocumentForgotten> =>
          entry.forgotten === true ? Effect.fail(forgotten(id)) : Effect.succeed(entry)
      )

    /**
     * What a command decides on. It does not ask the journal whether it moved on (a read does):
     * the journal's version check refuses a command decided on a view that was behind, and the
     * command then catches up and decides again, so asking first would only cost every command a
     * look at what other processes wrote. A document the view already knows is behind is brought
     * up to date first.
     */
    const current = (
      id: string
    ): Effect.Effect<Option.Option<Document.Document>, Errors.DocumentForgotten | Errors.JournalError> =>
      Effect.flatMap(
        Effect.zipRight(refresh(id), Ref.get(ref)),
        (state) => {
          const entry = Option.getOrUndefined(HashMap.get(state.documents, id))
          if (entry === undefined) return Effect.succeedNone
          if (entry.forgotten === true) return Effect.fail(forgotten(id))
          return Effect.succeed(Option.some(StoreState.latestDocument(entry)))
        }
      )

    const { cold, coldEvents, earliest } = makeColdReads(options)

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
                if (at(versions[i]!.event)) return Effect.succeed(versions[i]!.document)
              }
              return Effect.fail(new Errors.VersionPruned({ documentId: id, version: first - 1, earliest: first }))
            }))
        }
      )

    return {
      current,
      get: (id) =>
        Effect.flatMap(entryOf(id), (entry) => Effect.succeed(StoreState.latestDocument(entry))),
      getAt,
      asOf,
      history,
      list: Effect.map(Effect.zipRight(freshenAll, Ref.get(ref)), (state) => {
        const documents: Array<Document.Document> = []
        for (const id of Vector.toArray(state.order)) {
          const entry = Option.getOrUndefined(HashMap.get(state.documents, id))
          const latest = entry === undefined || entry.forgotten === true ? undefined : StoreState.latestDocument(entry)
          if (latest !== undefined && !latest.isDeleted) documents.push(latest)
        }
        return documents
      }),
      shape,
      forget: (id) =>
        anyEntryOf(id).pipe(
          Effect.zipRight(Effect.sync(() => forgottenHere.add(id))),
          Effect.zipRight(Ref.update(ref, (state) => StoreState.forget(state, id))),
          // Other processes' views (and their read models and key caches) drop it when they follow.
          Effect.zipRight(journal === undefined ? Effect.void : journal.recordForgotten(id as Document.DocumentId))
        ),
      apply: (events) => modify((state) => StoreState.applyAll(state, events)),
      committed: (entries) =>
        Effect.suspend(() => {
          if (entries.length === 0) return Effect.void
          return Effect.orDieWith(
            modify((state) => StoreState.applyNew(state, entries.map((entry) => entry.event))),
            inconsistent
          ).pipe(
            Effect.zipRight(
              Effect.sync(() => follower?.committed(entries[0]!.position, entries[entries.length - 1]!.position))
            )
          )
        }),
      restore: (items) => modify((state) => StoreState.applyAll(state, items)),
      compact: (documentId, version) => Ref.update(ref, (state) => StoreState.compact(state, documentId, version)),
      windowOf: (documentId) =>
        Effect.map(Ref.get(ref), (state) =>
          Option.map(HashMap.get(state.documents, documentId), (entry) => ({
            floor: entry.floor,
            latest: StoreState.latestVersion(entry),
            forgotten: entry.forgotten === true
          }))),
      windows: Effect.map(Ref.get(ref), (state) =>
        Array.from(HashMap.entries(state.documents), ([id, entry]) => ({
          id,
          floor: entry.floor,
          latest: StoreState.latestVersion(entry),
          forgotten: entry.forgotten === true
        }))),
      serialized,
      sync: follower === undefined ? Effect.void : follower.sync,
      catchUp: follower === undefined ? Effect.void : follower.catchUp,
      resume: (position, token) => follower === undefined ? Effect.void : follower.resume(position, token),
      position: Effect.sync(() => follower?.position() ?? 0)
    }
  })

/**
 * Makes an empty store that holds every version in memory.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<VersionedStoreService> = makeWith()

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
 * Applies every entry of the journal, streaming page by page, to a store.
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
          Effect.orDieWith(inconsistent),
          Effect.zipRight(Effect.suspend(() => report({ done: done += chunk.length, total, unit: "events" })))
        )
      )
    )
    // Pruned positions make fewer entries than the head: the last report says the rebuild is done.
    if (done < total) yield* report({ done: total, total, unit: "events" })
  })

/**
 * Rebuilds a store from the latest snapshot of each document and the entries after it.
 *
 * @since 0.1.0
 */
export const restoreFrom = (
  store: VersionedStoreService,
  snapshots: SnapshotStore["Type"],
  policy: { readonly every: number } = { every: 1_000 }
): Effect.Effect<void, Errors.JournalError> =>
  Effect.gen(function*() {
    const { report } = yield* RebuildProgress
    const total = yield* snapshots.documentCount
    let done = 0
    let reading = ""
    let read = 0
    /**
     * A document read `every` versions past its snapshot (or without one) gets its snapshot now, and
     * the versions it covers leave memory: a rebuild's memory stays bounded however long a history
     * is, and the next start reads less.
     */
    const snapshotGrown = (ids: Iterable<string>) =>
      Effect.gen(function*() {
        const taken: Array<Snapshot> = []
        for (const id of ids) {
          const window = Option.getOrUndefined(yield* store.windowOf(id))
          if (window === undefined || window.forgotten || window.latest - window.floor < policy.every) continue
          const document = yield* Effect.orDie(store.getAt(id as Document.DocumentId, window.latest))
          taken.push({ documentId: id, version: window.latest, document })
        }
        if (taken.length === 0) return
        yield* snapshots.save(taken)
        yield* Effect.forEach(taken, (snapshot) => store.compact(snapshot.documentId, snapshot.version), {
          discard: true
        })
      })
    yield* snapshots.rebuild().pipe(
      Stream.runForEachChunk((chunk) => {
        // A document's entries arrive together, so counting them (carried across pages) tells which
        // documents grew past the policy without looking every document up.
        const grown = new Set<string>()
        for (const item of chunk) {
          if (item._tag === "Snapshot" || item.entry.event.version === 1) done++
          if (item._tag === "Snapshot") continue
          const id = item.entry.event.documentId
          read = id === reading ? read + 1 : 1
          reading = id
          if (read >= policy.every) grown.add(id)
        }
        return store.restore(chunk).pipe(
          Effect.orDieWith(inconsistent),
          Effect.zipRight(grown.size === 0 ? Effect.void : snapshotGrown(grown)),
          Effect.zipRight(report({ done, total, unit: "documents" }))
        )
      })
    )
  })

/**
 * An empty store.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<DocumentStore.DocumentStore> = Layer.effect(DocumentStore.DocumentStore, make)

/**
 * How often a store built by `layerFromJournal` looks, while nothing else asks, whether other
 * processes committed to its journal (default 100 ms). Reads and commands look first anyway; the
 * poll only keeps the view from falling far behind while the process is idle.
 *
 * @since 0.1.0
 */
export class FollowInterval extends Context.Reference<FollowInterval>()("@nerv/store/FollowInterval", {
  defaultValue: (): Duration.Duration => Duration.millis(100)
}) {}

/**
 * Waits on the wall clock, whatever `Clock` the program runs on: the poll is about other processes,
 * which do not run on a test's clock (and a `TestClock.adjust` of an hour would run it 36,000 times).
 */
const wallClockSleep = (millis: number) =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * A store rebuilt from the journal on start, so it holds exactly what the journal committed, and
 * following it from there on: what other processes commit reaches it (see `FollowInterval`). With a
 * `SnapshotStore` in context, it rebuilds from the snapshots and takes new ones as documents grow
 * (every `SnapshotPolicy.every` versions), in a fiber of the layer's scope.
 *
 * @since 0.1.0
 */
export const layerFromJournal: Layer.Layer<DocumentStore.DocumentStore, Errors.JournalError, Journal.Journal> = Layer
  .scoped(
    DocumentStore.DocumentStore,
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const snapshots = yield* Effect.serviceOption(SnapshotStore)
      const forgetting = yield* Effect.serviceOption(Forgetting)
      const store = yield* makeWith({
        journal,
        snapshots: Option.getOrUndefined(snapshots),
        forgetting: Option.getOrUndefined(forgetting)
      })
      // What commits during the rebuild is read again after it, and recognised by its version.
      const token = yield* journal.changeToken
      const head = yield* journal.head
      let view: DocumentStore.DocumentStoreService = store
      if (Option.isNone(snapshots)) {
        yield* replay(store, journal)
      } else {
        const policy = yield* SnapshotPolicy
        yield* restoreFrom(store, snapshots.value, policy)
        view = yield* startSnapshotting(store, snapshots.value, policy)
      }
      yield* store.resume(head, token)
      const interval = Duration.toMillis(yield* FollowInterval)
      yield* store.sync.pipe(
        Effect.catchAll((error) => Effect.logWarning(`the store could not follow the journal: ${error.message}`)),
        Effect.zipRight(wallClockSleep(interval)),
        Effect.forever,
        Effect.forkScoped
      )
      return view
    })
  )
