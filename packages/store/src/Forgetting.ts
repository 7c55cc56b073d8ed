/**
 * Who hears, in a process, that a document was forgotten (crypto-shredded): the read models that
 * copied its content, the data-key cache, anything else that holds it. The store tells it, for the
 * documents this process forgets and for those it learns other processes forgot (it follows the
 * journal's record of them).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/**
 * @since 0.1.0
 */
export interface ForgettingService {
  /** Calls `onForget` for every document forgotten while the current scope is open. */
  readonly register: (onForget: (documentId: string) => Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  /** Tells every registered listener that a document was forgotten. */
  readonly forgotten: (documentId: string) => Effect.Effect<void>
}

/**
 * Who hears that a document was forgotten (crypto-shredded) in this process. With it in context,
 * `Projection.run` registers every projection that has a `forget`, so that forgetting a document
 * (e.g. `Admin.forget` in `@nerv/runtime`, here or in another process) drops it from their states and
 * checkpoints at once.
 *
 * @since 0.1.0
 */
export class Forgetting extends Context.Tag("@nerv/store/Forgetting")<Forgetting, ForgettingService>() {}

/**
 * An empty `Forgetting`.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Forgetting> = Layer.sync(Forgetting, () => {
  const listeners = new Set<(documentId: string) => Effect.Effect<void>>()
  return {
    register: (onForget) =>
      Effect.acquireRelease(
        Effect.sync(() => void listeners.add(onForget)),
        () => Effect.sync(() => void listeners.delete(onForget))
      ),
    forgotten: (documentId) =>
      Effect.suspend(() => Effect.forEach([...listeners], (listener) => listener(documentId), { discard: true }))
  }
})
