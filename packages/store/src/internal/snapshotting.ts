import type { Document, DocumentStore } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { SnapshotStoreService } from "../Snapshots.js"
import type { VersionedStoreService } from "../VersionedStore.js"

/**
 * Takes snapshots in the background: once a document is `every` versions past the last version
 * no longer held in memory, it gets a snapshot at its latest version, and once that is saved the
 * versions it covers leave memory. The write path only queues the document's id; a failed save is
 * logged and retried on the document's next write (a snapshot only saves time: losing one loses
 * nothing).
 */
export const startSnapshotting: (
  store: VersionedStoreService,
  snapshots: SnapshotStoreService,
  policy: { readonly every: number }
) => Effect.Effect<DocumentStore.DocumentStoreService, never, Scope.Scope> = Effect.fnUntraced(function*(
  store: VersionedStoreService,
  snapshots: SnapshotStoreService,
  policy: { readonly every: number }
) {
  const due = yield* Effect.acquireRelease(Queue.unbounded<string>(), Queue.shutdown)
  const queued = new Set<string>()
  const enqueue = (id: string) =>
    Effect.suspend(() => {
      if (queued.has(id)) return Effect.void
      queued.add(id)
      return Queue.offer(due, id)
    })

  const take = (ids: Iterable<string>) =>
    Effect.gen(function*() {
      const taken: Array<
        { readonly documentId: string; readonly version: number; readonly document: Document.Document }
      > = []
      for (const id of ids) {
        queued.delete(id)
        const window = yield* store.windowOf(id)
        // A forgotten document has no content to snapshot.
        if (
          Option.isNone(window) || window.value.forgotten || window.value.latest - window.value.floor < policy.every
        ) continue
        const document = yield* store.getAt(id as Document.DocumentId, window.value.latest)
        taken.push({ documentId: id, version: window.value.latest, document })
      }
      if (taken.length === 0) return
      yield* snapshots.save(taken)
      yield* Effect.forEach(taken, (snapshot) => store.compact(snapshot.documentId, snapshot.version), {
        discard: true
      })
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`snapshots were not taken: ${error.message}`)))

  yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.takeBetween(due, 1, 1_000), take)))
  for (const window of yield* store.windows) {
    if (!window.forgotten && window.latest - window.floor >= policy.every) yield* enqueue(window.id)
  }

  const checkDue = (id: string) =>
    Effect.flatMap(
      store.windowOf(id),
      (window) =>
        Option.isSome(window) && !window.value.forgotten && window.value.latest - window.value.floor >= policy.every
          ? enqueue(id)
          : Effect.void
    )

  const checkAllDue = (ids: ReadonlyArray<string>) =>
    ids.length === 1 ? checkDue(ids[0]!) : Effect.forEach(new Set(ids), checkDue, { discard: true })

  return {
    ...store,
    apply: (events) => Effect.zipRight(store.apply(events), checkAllDue(events.map((event) => event.documentId))),
    committed: (entries) =>
      Effect.zipRight(store.committed(entries), checkAllDue(entries.map((entry) => entry.event.documentId)))
  } satisfies DocumentStore.DocumentStoreService
})
