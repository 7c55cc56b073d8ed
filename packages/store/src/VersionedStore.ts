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
import type * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberId from "effect/FiberId"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { Forgetting, type ForgettingService } from "./Forgetting.js"
import { makeColdReads } from "./internal/coldReads.js"
import { makeFollower } from "./internal/follower.js"
import { makeHotSet } from "./internal/hotSet.js"
import { makeKeyedLock } from "./internal/keyedLock.js"
import { makeSnapshotter } from "./internal/snapshotter.js"
import * as StoreState from "./internal/storeState.js"
import { makeVersionReads } from "./internal/versionReads.js"
import { type RebuildItem, SnapshotPolicy, SnapshotStore, type SnapshotStoreService } from "./Snapshots.js"

/**
 * What the store holds.
 *
 * @since 0.1.0
 */
export type State = StoreState.State

/**
 * The store, with what a rebuild, the snapshotter and a host watching its memory need beyond the
 * port.
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
  /** Lets these documents leave memory (the journal has them: they are loaded again when needed). */
  readonly evict: (documentIds: Iterable<string>) => Effect.Effect<void>
  /** How many documents the store holds in memory, and about how many bytes (see `Budget`). */
  readonly held: Effect.Effect<{ readonly documents: number; readonly bytes: number }>
  /**
   * Looks whether the journal moved on (other processes' commits) and takes note of it; a no-op
   * without a journal. Reads do it first; a fiber of `layerFromJournal` does it on a short poll.
   */
  readonly sync: Effect.Effect<void, Errors.JournalError>
  /**
   * The view holds everything up to `position`, as of the journal's change token `token`: where
   * following starts when the store opens.
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
 * How much a store over a journal holds in memory: at most `maxDocuments` documents, and about
 * `maxBytes` of their versions (their text counted twice, for JavaScript's two-byte strings, and a
 * fixed cost per version). Past either, the least recently used documents leave memory; the journal
 * still has them, and they are loaded again (from their latest snapshot and the entries after it)
 * when they are read or written. Default: 10,000 documents and 32 MiB.
 *
 * @since 0.1.0
 */
export interface Budget {
  readonly maxDocuments: number
  readonly maxBytes: number
}

/**
 * The budget `layerFromJournal` gives its store. Default: 10,000 documents and 32 MiB.
 *
 * @since 0.1.0
 */
export class StoreBudget extends Context.Reference<StoreBudget>()("@nerv/store/StoreBudget", {
  defaultValue: (): Budget => defaultBudget
}) {}

const defaultBudget: Budget = { maxDocuments: 10_000, maxBytes: 32 * 1024 * 1024 }
const unbounded: Budget = { maxDocuments: Number.POSITIVE_INFINITY, maxBytes: Number.POSITIVE_INFINITY }

/**
 * A budget of `maxDocuments` documents (and `maxBytes`, default 32 MiB) for `layerFromJournal`.
 *
 * @since 0.1.0
 */
export const layerBudget = (budget: Partial<Budget>): Layer.Layer<StoreBudget> => {
  const merged = { ...defaultBudget, ...budget }
  if (!(merged.maxDocuments >= 1) || !(merged.maxBytes >= 1)) {
    throw new Error(`a store's budget needs at least one document and one byte: ${JSON.stringify(budget)}`)
  }
  return Layer.succeed(StoreBudget, merged)
}

/**
 * @since 0.1.0
 */
export interface Options {
  /**
   * The journal the store is a view of: it follows it, and reads from it what it does not hold
   * (documents it let go, versions a snapshot took out of memory). Without one, the store holds
   * what is applied to it, all of it.
   */
  readonly journal?: Journal.JournalService | undefined
  /** Where loads and reads of old versions start from (the nearest snapshot). */
  readonly snapshots?: SnapshotStoreService | undefined
  /**
   * Who hears that a document another process forgot was forgotten here too (this process's read
   * models and key caches).
   */
  readonly forgetting?: ForgettingService | undefined
  /** How much a store over a journal holds in memory (default: `StoreBudget`'s). */
  readonly budget?: Budget | undefined
  /** Who takes snapshots of documents that grew `every` versions past what memory holds. */
  readonly snapshotter?: { readonly every: number; readonly due: (documentId: string) => void } | undefined
}

const notFound = (id: string) => new Errors.DocumentNotFound({ documentId: id })

const inconsistent = (conflict: Errors.VersionConflict) =>
  new Error(`the journal's history is inconsistent: ${conflict.message}`)
const forgotten = (id: string) => new Errors.DocumentForgotten({ documentId: id })

/**
 * Makes an empty store: a view of `options.journal` if given (following it, holding what is hot
 * within `options.budget`, loading the rest on demand), else a store of what is applied to it.
 *
 * @since 0.1.0
 */
export const makeWith = (options?: Options): Effect.Effect<VersionedStoreService> =>
  Effect.gen(function*() {
    const ref = yield* Ref.make(StoreState.emptyState)
    const serialized = makeKeyedLock()
    const journal = options?.journal
    // Without a journal nothing could be loaded back: such a store holds everything.
    const budget = journal === undefined ? unbounded : options?.budget ?? defaultBudget
    const latestOf = (state: State) => (id: string) => {
      const entry = Option.getOrUndefined(HashMap.get(state.documents, id))
      return entry === undefined ? 0 : StoreState.latestVersion(entry)
    }
    const held = (id: string) =>
      Effect.map(Ref.get(ref), (state) => Option.getOrUndefined(HashMap.get(state.documents, id)))

    const modify = <E>(f: (state: State) => Either.Either<State, E>) =>
      Effect.flatten(
        Ref.modify(ref, (state): readonly [Effect.Effect<void, E>, State] =>
          Either.match(f(state), {
            onLeft: (error) => [Effect.fail(error), state],
            onRight: (next) => [Effect.void, next]
          }))
      )

    const hot = makeHotSet(budget)
    const touch = hot.touch
    const overBudget = hot.overBudget
    /** Lets the least recently used documents go until the view is within its budget again. */
    const evict = Effect.suspend(() => {
      // A document a command is writing stays until the command is done.
      const leaving = hot.leaving(serialized.isHeld)
      return leaving.length === 0 ? Effect.void : Ref.update(ref, (state) => StoreState.evict(state, leaving))
    })

    /** The snapshotter hears of every document that grew `every` versions past what memory holds. */
    const checkGrown = (ids: Iterable<string>) =>
      options?.snapshotter === undefined ? Effect.void : Effect.map(Ref.get(ref), (state) => {
        for (const id of ids) {
          const entry = Option.getOrUndefined(HashMap.get(state.documents, id))
          if (
            entry !== undefined && entry.forgotten !== true &&
            StoreState.latestVersion(entry) - entry.floor >= options.snapshotter!.every
          ) options.snapshotter!.due(id)
        }
      })

    /** Adds what continues the view (see `StoreState.applyNew`); a gap is a journal out of order. */
    const add = (items: ReadonlyArray<RebuildItem | DocumentEvent.DocumentEvent>) =>
      Effect.orDieWith(modify((state) => StoreState.applyNew(state, items)), inconsistent)

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
    const follower = journal === undefined
      ? undefined
      : makeFollower(journal, Effect.map(Ref.get(ref), latestOf), forgetHere)

    /** The entries of a document from `from` on, as the journal holds them. */
    const eventsFrom = (journal: Journal.JournalService, id: string, from: number) =>
      Stream.runFold(
        journal.readDocument(id as Document.DocumentId, { fromVersion: from }),
        [] as Array<DocumentEvent.DocumentEvent>,
        (events, entry) => {
          events.push(entry.event)
          return events
        }
      )

    /** Loads of documents under way: a document asked for by many at once is read once. */
    const loading = new Map<string, Deferred.Deferred<void, Errors.JournalError>>()

    /**
     * Reads a document into the view, or its versions the view is behind on: after the view's
     * latest version, or, for a document it does not hold, from its latest snapshot (or its
     * first version) on. Nothing is added for a document the journal does not have.
     */
    const loadOnce = (journal: Journal.JournalService, id: string): Effect.Effect<void, Errors.JournalError> =>
      Effect.gen(function*() {
        const entry = yield* held(id)
        const items: Array<RebuildItem | DocumentEvent.DocumentEvent> = []
        let from = entry === undefined ? 1 : StoreState.latestVersion(entry) + 1
        if (entry === undefined && options?.snapshots !== undefined) {
          const snapshot = yield* options.snapshots.latest(id)
          if (Option.isSome(snapshot)) {
            items.push({ _tag: "Snapshot", snapshot: snapshot.value })
            from = snapshot.value.version + 1
          }
        }
        const events = yield* eventsFrom(journal, id, from)
        items.push(...events)
        if (items.length === 0) return
        yield* add(items)
        const now = yield* held(id)
        if (now === undefined) return
        follower?.caughtUp(id, StoreState.latestVersion(now))
        if (entry === undefined) touch(id, StoreState.bytesHeld(now))
        else touch(id, events.reduce((n, event) => n + StoreState.bytesOf(event), 0))
        yield* checkGrown([id])
        yield* evict
      })

    const load = (journal: Journal.JournalService, id: string): Effect.Effect<void, Errors.JournalError> =>
      Effect.suspend(() => {
        const running = loading.get(id)
        if (running !== undefined) return Deferred.await(running)
        const done = Deferred.unsafeMake<void, Errors.JournalError>(FiberId.none)
        loading.set(id, done)
        return Effect.zipRight(
          Effect.intoDeferred(loadOnce(journal, id).pipe(Effect.ensuring(Effect.sync(() => loading.delete(id)))), done),
          Deferred.await(done)
        )
      })

    /**
     * A document as the view holds it, brought up to date: for a read (`fresh`), after asking the
     * journal whether others committed; for a command, without asking (its commit's version check
     * tells). A document the view does not hold is loaded from the journal.
     */
    const ensure = (
      id: string,
      fresh: boolean
    ): Effect.Effect<StoreState.Versions | undefined, Errors.JournalError> => {
      if (journal === undefined || follower === undefined) return held(id)
      const bring = Effect.flatMap(held(id), (entry) => {
        if (entry !== undefined) {
          const behind = follower.behind(id)
          if (behind === undefined || behind <= StoreState.latestVersion(entry)) {
            touch(id, 0)
            return Effect.succeed(entry)
          }
        }
        return Effect.zipRight(load(journal, id), held(id))
      })
      return fresh ? Effect.zipRight(follower.sync, bring) : bring
    }

    /** A document's versions, whether or not it was forgotten (for its shape). */
    const anyEntryOf = (id: string) =>
      Effect.flatMap(
        ensure(id, true),
        (entry) => entry === undefined ? Effect.fail(notFound(id)) : Effect.succeed(entry)
      )

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
     * look at what other processes wrote. A document the view knows is behind is brought up to
     * date first, and one it does not hold is loaded.
     */
    const current = (
      id: string
    ): Effect.Effect<Option.Option<Document.Document>, Errors.DocumentForgotten | Errors.JournalError> =>
      Effect.flatMap(ensure(id, false), (entry) => {
        if (entry === undefined) return Effect.succeedNone
        if (entry.forgotten === true) return Effect.fail(forgotten(id))
        return Effect.succeed(Option.some(StoreState.latestDocument(entry)))
      })

    /** A page of documents from the journal's index, each as the view holds it (or loads it). */
    const list = (query?: DocumentStore.ListQuery): Effect.Effect<DocumentStore.DocumentPage, Errors.JournalError> => {
      if (journal === undefined) return listHeld(query)
      const limit = query?.limit ?? 100
      return Effect.gen(function*() {
        yield* follower!.sync
        const summaries = yield* journal.documents({
          after: query?.after === undefined ? 0 : Number(query.after),
          limit,
          author: query?.author,
          include: query?.include
        })
        const documents: Array<Document.Document> = []
        for (const summary of summaries) {
          const entry = yield* ensure(summary.documentId, false)
          if (entry === undefined || entry.forgotten === true) continue
          documents.push(StoreState.latestDocument(entry))
        }
        return {
          documents,
          next: summaries.length === limit ? String(summaries[summaries.length - 1]!.sequence) : undefined
        }
      })
    }

    /** The documents of a store without a journal, in the order they were created (for `list`). */
    const createdOrder = new Set<string>()
    const noteCreated = (items: Iterable<RebuildItem | DocumentEvent.DocumentEvent>) => {
      if (journal !== undefined) return
      for (const item of items) {
        if (item._tag === "Snapshot") createdOrder.add(item.snapshot.documentId)
        else if (item._tag === "Entry") {
          if (item.entry.event.version === 1) createdOrder.add(item.entry.event.documentId)
        } else if (item.version === 1) createdOrder.add(item.documentId)
      }
    }

    /** `list` of a store without a journal: what it holds, in the order it was created. */
    const listHeld = (query?: DocumentStore.ListQuery) =>
      Effect.map(Ref.get(ref), (state): DocumentStore.DocumentPage => {
        const include = query?.include ?? "live"
        const all = Array.from(createdOrder)
          .flatMap((id) => {
            const entry = Option.getOrUndefined(HashMap.get(state.documents, id))
            return entry === undefined || entry.forgotten === true ? [] : [StoreState.latestDocument(entry)]
          })
          .filter((document) =>
            (include === "all" || document.isDeleted === (include === "deleted")) &&
            (query?.author === undefined || document.author === query.author)
          )
        const from = query?.after === undefined ? 0 : Number(query.after)
        const limit = query?.limit ?? 100
        const page = all.slice(from, from + limit)
        return { documents: page, next: from + limit < all.length ? String(from + limit) : undefined }
      })

    const { asOf, getAt, history, shape } = makeVersionReads(anyEntryOf, entryOf, makeColdReads(options))

    return {
      current,
      get: (id) => Effect.map(entryOf(id), StoreState.latestDocument),
      getAt,
      asOf,
      history,
      list,
      shape,
      forget: (id) =>
        anyEntryOf(id).pipe(
          Effect.zipRight(Effect.sync(() => forgottenHere.add(id))),
          Effect.zipRight(Ref.update(ref, (state) => StoreState.forget(state, id))),
          // Other processes' views (and their read models and key caches) drop it when they follow.
          Effect.zipRight(journal === undefined ? Effect.void : journal.recordForgotten(id as Document.DocumentId))
        ),
      apply: (events) =>
        Effect.zipRight(
          modify((state) => StoreState.applyAll(state, events)),
          Effect.suspend(() => {
            noteCreated(events)
            for (const event of events) touch(event.documentId, StoreState.bytesOf(event))
            return Effect.zipRight(checkGrown(new Set(events.map((event) => event.documentId))), evict)
          })
        ),
      // The path every command takes: one state change and its bookkeeping, in one step.
      committed: (entries) =>
        Effect.suspend(() => {
          if (entries.length === 0) return Effect.void
          const events = entries.map((entry) => entry.event)
          const id = events[0]!.documentId
          return Effect.flatMap(
            Ref.modify(ref, (state) => {
              const next = StoreState.applyNew(state, events)
              return [next, Either.isRight(next) ? next.right : state] as const
            }),
            (next) => {
              if (Either.isLeft(next)) return Effect.die(inconsistent(next.left))
              noteCreated(events)
              follower?.committed(entries[0]!.position, entries[entries.length - 1]!.position)
              let grew = 0
              for (const event of events) grew += StoreState.bytesOf(event)
              touch(id, grew)
              if (options?.snapshotter !== undefined) {
                const entry = Option.getOrUndefined(HashMap.get(next.right.documents, id))
                if (
                  entry !== undefined && entry.forgotten !== true &&
                  StoreState.latestVersion(entry) - entry.floor >= options.snapshotter.every
                ) options.snapshotter.due(id)
              }
              return overBudget() ? evict : Effect.void
            }
          )
        }),
      restore: (items) =>
        Effect.zipRight(
          modify((state) => StoreState.applyAll(state, items)),
          Effect.sync(() => noteCreated(items))
        ),
      compact: (documentId, version) =>
        Effect.flatMap(
          Ref.updateAndGet(ref, (state) => StoreState.compact(state, documentId, version)),
          (state) =>
            Effect.sync(() => {
              const entry = Option.getOrUndefined(HashMap.get(state.documents, documentId))
              if (entry !== undefined) hot.resized(documentId, StoreState.bytesHeld(entry))
            })
        ),
      windowOf: (documentId) =>
        Effect.map(Ref.get(ref), (state) =>
          Option.map(HashMap.get(state.documents, documentId), (entry) => ({
            floor: entry.floor,
            latest: StoreState.latestVersion(entry),
            forgotten: entry.forgotten === true
          }))),
      evict: (documentIds) =>
        Effect.suspend(() => {
          for (const id of documentIds) {
            createdOrder.delete(id)
            hot.remove(id)
          }
          return Ref.update(ref, (state) => StoreState.evict(state, documentIds))
        }),
      held: Effect.sync(hot.size),
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
 * An empty store.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<DocumentStore.DocumentStore> = Layer.effect(DocumentStore.DocumentStore, make)

/**
 * How often a store built by `layerFromJournal` looks, while nothing else asks, whether other
 * processes committed to its journal (default 100 ms). Reads look first anyway; the poll only
 * keeps the view from falling far behind while the process is idle. Over a journal that notifies
 * (PostgreSQL), a notification wakes the follower at once and the poll runs ten times less often.
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
 * The store over the journal in context, as a view of it: it opens without reading any document
 * (so opening costs the same at a thousand documents or ten million), loads each document from its
 * latest snapshot and the entries after it when it is first needed, holds what is hot within
 * `StoreBudget`, and follows the journal (see `FollowInterval`). With a `SnapshotStore` in context,
 * it takes a snapshot of a document every `SnapshotPolicy.every` versions, in a fiber of the
 * layer's scope. A full rebuild of what is derived from the journal is an explicit operation
 * (`Rebuild.run`).
 *
 * @since 0.1.0
 */
export const layerFromJournal: Layer.Layer<DocumentStore.DocumentStore, Errors.JournalError, Journal.Journal> = Layer
  .scoped(
    DocumentStore.DocumentStore,
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const snapshots = Option.getOrUndefined(yield* Effect.serviceOption(SnapshotStore))
      const forgetting = Option.getOrUndefined(yield* Effect.serviceOption(Forgetting))
      const snapshotter = snapshots === undefined
        ? undefined
        : yield* makeSnapshotter(snapshots, (yield* SnapshotPolicy).every, journal)
      const store = yield* makeWith({ journal, snapshots, forgetting, snapshotter, budget: yield* StoreBudget })
      if (snapshotter !== undefined) yield* snapshotter.start(store)
      // Following starts at the journal's head: whatever commits after the token changes it.
      const token = yield* journal.changeToken
      yield* store.resume(yield* journal.head, token)
      const interval = Duration.toMillis(yield* FollowInterval)
      // A journal that is told of others' commits (PostgreSQL's notifications) wakes the follower;
      // the poll, ten times slower, is the backstop for a notification lost with its connection.
      const wait = journal.awaitChange === undefined
        ? wallClockSleep(interval)
        : journal.awaitChange(interval * 10)
      yield* store.sync.pipe(
        Effect.catchAll((error) => Effect.logWarning(`the store could not follow the journal: ${error.message}`)),
        Effect.zipRight(wait),
        Effect.forever,
        Effect.forkScoped
      )
      return store
    })
  )
