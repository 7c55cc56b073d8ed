/**
 * Read models (CQRS). A projection is a Schema-typed fold over the journal's entries, run by a
 * scoped fiber from its checkpoint. The checkpoint (the last position folded) is stored with the
 * state in one write, so after a crash the projection resumes exactly where its last write left
 * it: entries are delivered at least once, and each is folded into the stored state exactly once.
 *
 * @since 0.1.0
 */
import { Errors, Journal } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { Checkpoints } from "./Checkpoints.js"
import { Forgetting } from "./Forgetting.js"
import * as JournalSubscription from "./JournalSubscription.js"

/**
 * A read model: its name (the key of its checkpoint), the Schema of its state (how the state is
 * stored), where it starts, and how one entry changes it. `apply` must be pure and deterministic,
 * so that a rebuild from zero gives the same state.
 *
 * @since 0.1.0
 */
export interface Projection<S, I> {
  readonly name: string
  readonly schema: Schema.Schema<S, I>
  readonly initial: S
  readonly apply: (state: S, entry: Journal.JournalEntry) => S
  /**
   * Drops what the state copied of a forgotten (crypto-shredded) document. A projection that copies
   * content (titles, text) must have it: it is called instead of `apply` for the entries of a
   * forgotten document (they carry no content, see `isForgotten`), and by `Running.forget` /
   * `forget` when a document is forgotten after the state folded it. Without it, such entries go
   * to `apply` as they are.
   */
  readonly forget?: ((state: S, documentId: string) => S) | undefined
}

/**
 * Was this event read without its content because its document was forgotten (its data key
 * destroyed)? Its metadata (version, time, actor) is real; its title, content or reason is blank.
 *
 * @since 0.1.0
 */
export const isForgotten = (entry: Journal.JournalEntry): boolean => entry.forgotten === true

/**
 * Defines a projection.
 *
 * @since 0.1.0
 */
export const make = <S, I>(projection: Projection<S, I>): Projection<S, I> => projection

/**
 * A projection's state and checkpoint, as the fiber running it last stored them.
 *
 * @since 0.1.0
 */
export interface Progress<S> {
  readonly position: number
  readonly state: S
}

/**
 * A running projection.
 *
 * @since 0.1.0
 */
export interface Running<S> {
  /** The state and position last stored. */
  readonly get: Effect.Effect<Progress<S>>
  /** Every change of `get`, starting with the current one. */
  readonly changes: Stream.Stream<Progress<S>>
  /** Waits until the projection has folded the journal up to `position`. */
  readonly awaitPosition: (position: number) => Effect.Effect<Progress<S>>
  /**
   * Drops a forgotten document from the state (the projection's `forget`) and stores the result
   * at once, so that neither memory nor the checkpoint keeps its content. A no-op without `forget`.
   */
  readonly forget: (documentId: string) => Effect.Effect<void, Errors.JournalError>
}

/**
 * @since 0.1.0
 */
export interface RunOptions {
  /** Entries folded (and one checkpoint written) per page; default 1000. */
  readonly pageSize?: number | undefined
  /** How long to wait, when caught up, before looking for new entries; default 50 ms. */
  readonly pollInterval?: number | undefined
  /** Start from zero, ignoring the stored checkpoint (which the first page then overwrites). */
  readonly rebuild?: boolean | undefined
}

const decodeFailed = (name: string) => (cause: unknown) =>
  new Errors.JournalError({ reason: `the stored state of projection ${name} does not match its schema`, cause })

/**
 * Folds a page of entries and stores the result with its position in one write.
 *
 * @since 0.1.0
 */
export const step = <S, I>(
  projection: Projection<S, I>,
  progress: Progress<S>,
  entries: Iterable<Journal.JournalEntry>
): Effect.Effect<Progress<S>, Errors.JournalError, Checkpoints> =>
  Effect.gen(function*() {
    let { position, state } = progress
    const forget = projection.forget
    for (const entry of entries) {
      state = forget !== undefined && entry.forgotten === true
        ? forget(state, entry.event.documentId)
        : projection.apply(state, entry)
      position = entry.position
    }
    if (position === progress.position) return progress
    const encoded = yield* Effect.mapError(Schema.encode(projection.schema)(state), decodeFailed(projection.name))
    yield* Effect.flatMap(Checkpoints, (checkpoints) => checkpoints.save(projection.name, { position, state: encoded }))
    return { position, state }
  })

/**
 * Drops a forgotten document from a state with the projection's `forget` and, if anything changed,
 * stores it at the same position.
 */
const scrub = <S, I>(
  projection: Projection<S, I>,
  progress: Progress<S>,
  documentId: string
): Effect.Effect<Progress<S>, Errors.JournalError, Checkpoints> =>
  Effect.gen(function*() {
    if (projection.forget === undefined || progress.position === 0) return progress
    const state = projection.forget(progress.state, documentId)
    if (state === progress.state) return progress
    const encoded = yield* Effect.mapError(Schema.encode(projection.schema)(state), decodeFailed(projection.name))
    yield* Effect.flatMap(Checkpoints, (checkpoints) =>
      checkpoints.save(projection.name, { position: progress.position, state: encoded }))
    return { position: progress.position, state }
  })

/**
 * Drops a forgotten document from a projection's stored checkpoint (for a projection that is not
 * running; a running one drops it with `Running.forget`, or by itself under `Forgetting`).
 *
 * @since 0.1.0
 */
export const forget = <S, I>(
  projection: Projection<S, I>,
  documentId: string
): Effect.Effect<void, Errors.JournalError, Checkpoints> =>
  Effect.flatMap(load(projection), (progress) => Effect.asVoid(scrub(projection, progress, documentId)))

/**
 * The stored progress of a projection (its initial state at position 0 when it never ran).
 *
 * @since 0.1.0
 */
export const load = <S, I>(
  projection: Projection<S, I>
): Effect.Effect<Progress<S>, Errors.JournalError, Checkpoints> =>
  Effect.flatMap(Checkpoints, (checkpoints) => checkpoints.load(projection.name)).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.succeed({ position: 0, state: projection.initial }),
      onSome: (checkpoint) =>
        Effect.map(
          Effect.mapError(Schema.decodeUnknown(projection.schema)(checkpoint.state), decodeFailed(projection.name)),
          (state) => ({ position: checkpoint.position, state })
        )
    }))
  )

/**
 * Runs a projection in a fiber of the current scope: resumes from its checkpoint (or from zero
 * with `rebuild`), follows the journal, and stores state and checkpoint after every page. A
 * failure is retried after a pause; the projection never skips an entry.
 *
 * @since 0.1.0
 */
export const run = <S, I>(
  projection: Projection<S, I>,
  options?: RunOptions
): Effect.Effect<Running<S>, Errors.JournalError, Journal.Journal | Checkpoints | Scope.Scope> =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const checkpoints = yield* Checkpoints
    const start = options?.rebuild === true ? { position: 0, state: projection.initial } : yield* load(projection)
    const ref = yield* SubscriptionRef.make<Progress<S>>(start)
    // Folding a page and dropping a forgotten document both read, change and store the state: one
    // at a time, so that neither overwrites the other.
    const lock = yield* Effect.makeSemaphore(1)
    const follow = Effect.suspend(() =>
      Effect.flatMap(
        SubscriptionRef.get(ref),
        (from) =>
          JournalSubscription.fromPosition(journal, from.position, options).pipe(
            Stream.runForEachChunk((chunk) =>
              Effect.flatMap(
                SubscriptionRef.get(ref),
                (progress) =>
                  Effect.flatMap(step(projection, progress, chunk), (next) => SubscriptionRef.set(ref, next))
              ).pipe(lock.withPermits(1))
            )
          )
      )
    )
    const forgetting = yield* Effect.serviceOption(Forgetting)
    yield* follow.pipe(
      Effect.provideService(Checkpoints, checkpoints),
      Effect.tapError((error) => Effect.logWarning(`projection ${projection.name} paused: ${error.message}`)),
      Effect.retry({ while: () => true, schedule: JournalSubscription.retrySchedule }),
      Effect.forkScoped
    )
    const forgetOne = (documentId: string) =>
      Effect.flatMap(SubscriptionRef.get(ref), (progress) =>
        Effect.flatMap(
          scrub(projection, progress, documentId).pipe(Effect.provideService(Checkpoints, checkpoints)),
          (next) => SubscriptionRef.set(ref, next)
        )).pipe(lock.withPermits(1))
    if (Option.isSome(forgetting) && projection.forget !== undefined) {
      yield* forgetting.value.register((documentId) =>
        forgetOne(documentId).pipe(
          Effect.catchAll((error) =>
            Effect.logError(`projection ${projection.name} could not drop forgotten ${documentId}: ${error.message}`)
          )
        )
      )
    }
    return {
      forget: forgetOne,
      get: SubscriptionRef.get(ref),
      changes: ref.changes,
      awaitPosition: (position) =>
        ref.changes.pipe(
          Stream.filter((progress) => progress.position >= position),
          Stream.runHead,
          Effect.map(Option.getOrThrow)
        )
    }
  })
