/**
 * The Ref-held versioned store: every version of every document, in memory, for reads that never
 * touch the journal. It implements the `DocumentStore` port of `@nerv/core`.
 *
 * @since 0.1.0
 */
import { Decider, type Document, type DocumentEvent, DocumentStore, Errors, Journal } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { makeKeyedLock } from "./internal/keyedLock.js"
import * as Vector from "./internal/vector.js"

/**
 * What the store holds: each document's versions, and the documents in creation order.
 *
 * @since 0.1.0
 */
export interface State {
  readonly documents: HashMap.HashMap<string, Vector.Vector<DocumentStore.DocumentVersion>>
  readonly order: Vector.Vector<string>
}

const emptyState: State = { documents: HashMap.empty(), order: Vector.empty() }

/**
 * Adds events to a state, or refuses the whole batch if one of them is not the next version of its
 * document.
 */
const applyAll = (
  state: State,
  events: ReadonlyArray<DocumentEvent.DocumentEvent>
): Either.Either<State, Errors.VersionConflict> => {
  let { documents, order } = state
  for (const event of events) {
    const versions = HashMap.get(documents, event.documentId)
    const latest = Option.match(versions, { onNone: () => undefined, onSome: Vector.last })
    const actual = latest?.version ?? 0
    if (event.version !== actual + 1 || (event._tag === "DocumentCreated") !== (actual === 0)) {
      return Either.left(
        new Errors.VersionConflict({ documentId: event.documentId, expected: event.version - 1, actual })
      )
    }
    const document = Decider.evolve(latest?.document, event)
    const version = { version: event.version, document, event }
    documents = HashMap.set(
      documents,
      event.documentId,
      Vector.append(Option.getOrElse(versions, Vector.empty<DocumentStore.DocumentVersion>), version)
    )
    if (actual === 0) order = Vector.append(order, event.documentId)
  }
  return Either.right({ documents, order })
}

/**
 * Makes an empty store.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<DocumentStore.DocumentStoreService> = Effect.gen(function*() {
  const ref = yield* Ref.make(emptyState)
  const serialized = makeKeyedLock()

  const versionsOf = (id: string) =>
    Effect.flatMap(Ref.get(ref), (state) =>
      Option.match(HashMap.get(state.documents, id), {
        onNone: () => Effect.fail(new Errors.DocumentNotFound({ documentId: id })),
        onSome: Effect.succeed
      }))

  const current = (id: string): Effect.Effect<Option.Option<Document.Document>> =>
    Effect.map(
      Ref.get(ref),
      (state) => Option.flatMap(HashMap.get(state.documents, id), (v) => Option.fromNullable(Vector.last(v)?.document))
    )

  return {
    current,
    get: (id) =>
      Effect.flatMap(
        current(id),
        Option.match({
          onNone: () => Effect.fail(new Errors.DocumentNotFound({ documentId: id })),
          onSome: Effect.succeed
        })
      ),
    getAt: (id, version) =>
      Effect.flatMap(versionsOf(id), (versions) => {
        const found = Vector.get(versions, version - 1)
        return found === undefined
          ? Effect.fail(new Errors.VersionNotFound({ documentId: id, version, latest: versions.length }))
          : Effect.succeed(found.document)
      }),
    history: (id) => Effect.map(versionsOf(id), Vector.toArray),
    list: Effect.map(Ref.get(ref), (state) => {
      const documents: Array<Document.Document> = []
      for (const id of Vector.toArray(state.order)) {
        const latest = Option.flatMap(HashMap.get(state.documents, id), (v) => Option.fromNullable(Vector.last(v)))
        if (Option.isSome(latest) && !latest.value.document.isDeleted) documents.push(latest.value.document)
      }
      return documents
    }),
    apply: (events) =>
      Effect.flatten(
        Ref.modify(ref, (state): readonly [Effect.Effect<void, Errors.VersionConflict>, State] =>
          Either.match(applyAll(state, events), {
            onLeft: (conflict) => [Effect.fail(conflict), state],
            onRight: (next) => [Effect.void, next]
          }))
      ),
    serialized
  }
})

/**
 * Applies every entry of the journal, streaming page by page, to a store.
 *
 * @since 0.1.0
 */
export const replay = (
  store: DocumentStore.DocumentStoreService,
  journal: Journal.JournalService
) =>
  journal.read().pipe(
    Stream.runForEachChunk((chunk) =>
      store.apply(Array.from(chunk, (entry) => entry.event)).pipe(
        Effect.orDieWith((conflict) => new Error(`the journal's history is inconsistent: ${conflict.message}`))
      )
    )
  )

/**
 * An empty store.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<DocumentStore.DocumentStore> = Layer.effect(DocumentStore.DocumentStore, make)

/**
 * A store rebuilt from the journal on start, so it holds exactly what the journal committed.
 *
 * @since 0.1.0
 */
export const layerFromJournal: Layer.Layer<DocumentStore.DocumentStore, Errors.JournalError, Journal.Journal> = Layer
  .effect(
    DocumentStore.DocumentStore,
    Effect.gen(function*() {
      const store = yield* make
      yield* replay(store, yield* Journal.Journal)
      return store
    })
  )
