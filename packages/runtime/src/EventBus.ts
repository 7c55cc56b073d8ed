/**
 * The event bus on Effect's `PubSub`: typed, scoped subscriptions, middleware that transforms or
 * drops events, and a bounded history that late subscribers can replay with no gap and no
 * duplicate. It implements the `EventBus` port of `@nerv/core`, and `make` builds a bus for any
 * tagged event type.
 *
 * @since 0.1.0
 */
import { EventBus as Port, type NervEvent } from "@nerv/core"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Predicate } from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { History } from "./internal/history.js"

/**
 * How the bus holds events for subscribers that are behind:
 *
 * - `backpressure` (default): a publisher waits while the slowest subscriber is `capacity` events
 *   behind. Nothing is lost; a stuck subscriber eventually stalls publishers.
 * - `sliding`: a subscriber that is behind loses its oldest undelivered events. Publishers never wait.
 * - `dropping`: a subscriber that is behind does not get new events. Publishers never wait.
 * - capacity `"unbounded"`: nothing is lost and nobody waits; memory grows with the slowest subscriber.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly capacity?: number | "unbounded" | undefined
  readonly strategy?: "backpressure" | "sliding" | "dropping" | undefined
  /** How many recent events `history` keeps (default 1,000). */
  readonly historySize?: number | undefined
}

/**
 * `Options`, plus a hook that sees every batch the bus delivers: after middleware (so a dropped
 * event is never seen), in delivery order, before subscribers get it. The test layer records
 * published events with it.
 *
 * @since 0.1.0
 */
export interface MakeOptions<A> extends Options {
  readonly onDelivered?: ((events: ReadonlyArray<A>) => Effect.Effect<void>) | undefined
}

/**
 * The default capacity of each subscriber's buffer.
 *
 * @since 0.1.0
 */
export const defaultCapacity = 16_384

/**
 * The default number of recent events kept for `history` and replay.
 *
 * @since 0.1.0
 */
export const defaultHistorySize = 1_000

const makePubSub = <A>(options: Options | undefined) => {
  const capacity = options?.capacity ?? defaultCapacity
  if (capacity === "unbounded") return PubSub.unbounded<A>()
  switch (options?.strategy ?? "backpressure") {
    case "backpressure":
      return PubSub.bounded<A>(capacity)
    case "sliding":
      return PubSub.sliding<A>(capacity)
    case "dropping":
      return PubSub.dropping<A>(capacity)
  }
}

const toPredicate = <A extends Port.BusEvent>(filter: string | ReadonlyArray<string> | Predicate<A>): Predicate<A> => {
  if (typeof filter === "function") return filter
  if (typeof filter === "string") return (event) => event._tag === filter
  const tags = new Set(filter)
  return (event) => tags.has(event._tag)
}

/**
 * The events of a subscription's queue that match its filter. It does what
 * `Stream.filter(Stream.fromQueue(dequeue), matches)` does — chunks as they come, the stream ends
 * when the bus shuts down — in one stage instead of two, and filters a chunk with a loop over its
 * array (returning the chunk itself when everything matches) instead of `Chunk.filter`, which goes
 * through the chunk's iterator: together most of a subscriber's cost per event.
 */
const liveStream = <A>(dequeue: Queue.Dequeue<A>, matches: Predicate<A>): Stream.Stream<A> => {
  const keep = (chunk: Chunk.Chunk<A>): Chunk.Chunk<A> | undefined => {
    const items = Chunk.toReadonlyArray(chunk)
    let i = 0
    while (i < items.length && matches(items[i]!)) i++
    if (i === items.length) return chunk
    const kept = items.slice(0, i)
    for (i++; i < items.length; i++) if (matches(items[i]!)) kept.push(items[i]!)
    return kept.length === 0 ? undefined : Chunk.unsafeFromArray(kept)
  }
  const take = Effect.catchAllCause(
    Queue.takeBetween(dequeue, 1, maxChunkSize),
    (cause) =>
      Effect.flatMap(
        Queue.isShutdown(dequeue),
        (isShutdown) => isShutdown && Cause.isInterrupted(cause) ? Effect.fail(Option.none()) : Effect.failCause(cause)
      )
  )
  const pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<never>> = Effect.flatMap(take, (chunk) => {
    const kept = keep(chunk)
    return kept === undefined ? pull : Effect.succeed(kept)
  })
  return Stream.repeatEffectChunkOption(pull)
}

/**
 * A mutex: `lock.run(effect)` runs `effect` while no other locked effect runs, and
 * `lock.tryAcquire()`/`lock.release()` take and give it back synchronously for a caller that can
 * do its work in one step. Effect's `Semaphore` does the same at several times the cost, which
 * showed on every published batch. A release wakes every waiter to try again (no hand-over), so an
 * interrupted waiter can never keep the lock.
 */
const makeLock = () => {
  let locked = false
  let waiters: Array<() => void> = []
  const tryAcquire = (): boolean => {
    if (locked) return false
    locked = true
    return true
  }
  const release = (): void => {
    locked = false
    if (waiters.length > 0) {
      const woken = waiters
      waiters = []
      for (const wake of woken) wake()
    }
  }
  const releasing = Effect.sync(release)
  const wait = Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    waiters.push(wake)
    return Effect.sync(() => {
      waiters = waiters.filter((w) => w !== wake)
    })
  })
  /**
   * Runs `effect` (made interruptible again by `restore`) with the lock already taken, and gives it
   * back however `effect` ends. Call it from an uninterruptible region, the one that took the lock.
   */
  const holding = <X, E, R>(
    restore: <XX, EE, RR>(effect: Effect.Effect<XX, EE, RR>) => Effect.Effect<XX, EE, RR>,
    effect: Effect.Effect<X, E, R>
  ): Effect.Effect<X, E, R> =>
    Effect.matchCauseEffect(restore(effect), {
      onFailure: (cause) => Effect.zipRight(releasing, Effect.failCause(cause)),
      onSuccess: (value) => Effect.as(releasing, value)
    })
  const run = <X, E, R>(effect: Effect.Effect<X, E, R>): Effect.Effect<X, E, R> =>
    Effect.uninterruptibleMask((restore) => {
      const attempt: Effect.Effect<X, E, R> = Effect.suspend(() =>
        tryAcquire() ? holding(restore, effect) : Effect.zipRight(restore(wait), attempt)
      )
      return attempt
    })
  return { run, tryAcquire, release, holding }
}

/** As `Stream.fromQueue`'s default. */
const maxChunkSize = 4_096

/**
 * Builds a bus for events of type `A`. The bus lives as long as the `Scope`: closing it shuts the
 * bus down and ends every subscription.
 *
 * @since 0.1.0
 */
export const make = <A extends Port.BusEvent>(options?: MakeOptions<A>) =>
  Effect.gen(function*() {
    const pubsub = yield* Effect.acquireRelease(makePubSub<A>(options), PubSub.shutdown)
    const history = new History<A>(options?.historySize ?? defaultHistorySize)
    // Recording in history and handing to the PubSub happen as one step, and so do reading the
    // history and subscribing: a late subscriber's replay and live stream then meet exactly.
    const lock = makeLock()
    let middlewares: ReadonlyArray<{ readonly run: Port.Middleware<A> }> = []

    const runMiddleware = (events: ReadonlyArray<A>): Effect.Effect<ReadonlyArray<A>> => {
      const chain = middlewares
      if (chain.length === 0) return Effect.succeed(events)
      return Effect.map(
        Effect.forEach(events, (event) =>
          Effect.reduce(chain, Option.some(event), (current, middleware) =>
            Option.isSome(current) ? middleware.run(current.value) : Effect.succeed(current))),
        (results) =>
          results.flatMap(Option.toArray)
      )
    }

    const onDelivered = options?.onDelivered
    const deliverLocked = (events: ReadonlyArray<A>) =>
      lock.run(Effect.suspend(() => {
        history.pushAll(events)
        const published = PubSub.publishAll(pubsub, events)
        return onDelivered === undefined ? published : Effect.zipRight(onDelivered(events), published)
      }))
    /**
     * Most batches meet a free lock and a PubSub with room: they are recorded and offered in one
     * synchronous step. A batch the PubSub cannot take at once (full, or shut down) hands the rest
     * to `publishAll`, still holding the lock, which waits, slides, drops or is interrupted as the
     * strategy says.
     */
    const deliver = (events: ReadonlyArray<A>): Effect.Effect<unknown> =>
      Effect.uninterruptibleMask((restore) => {
        if (onDelivered !== undefined || !lock.tryAcquire()) {
          return restore(deliverLocked(events))
        }
        history.pushAll(events)
        let offered = 0
        while (offered < events.length && pubsub.unsafeOffer(events[offered]!)) {
          offered++
        }
        if (offered === events.length) {
          lock.release()
          return Effect.void
        }
        return lock.holding(restore, PubSub.publishAll(pubsub, events.slice(offered)))
      })

    // `batch` belongs to the bus from here on (the history keeps it), hence the copy in publishAll.
    const publishBatch = (batch: ReadonlyArray<A>): Effect.Effect<void> =>
      middlewares.length === 0 ? deliver(batch) : runMiddleware(batch).pipe(
        Effect.flatMap((accepted) =>
          accepted.length === 0 ? Effect.void : deliver(accepted)
        )
      )

    const publishAll = (events: Iterable<A>): Effect.Effect<ReadonlyArray<string>> =>
      Effect.suspend(() => {
        const batch = Array.from(events)
        const ids = new Array<string>(batch.length)
        for (let i = 0; i < batch.length; i++) ids[i] = batch[i]!.eventId
        return Effect.as(publishBatch(batch), ids)
      })

    const subscribe = (
      filter: string | ReadonlyArray<string> | Predicate<A>,
      subscribeOptions?: Port.SubscribeOptions
    ) =>
      Effect.gen(function*() {
        const matches = toPredicate<A>(filter)
        const replay = subscribeOptions?.replay ?? false
        const [replayed, dequeue] = yield* lock.run(Effect.zip(
          Effect.sync(() => {
            if (replay === false) return []
            const matching = history.toArray().filter(matches)
            return replay === true ? matching : matching.slice(Math.max(0, matching.length - replay))
          }),
          PubSub.subscribe(pubsub)
        ))
        const live = liveStream(dequeue, matches)
        return replayed.length === 0 ? live : Stream.concat(Stream.fromIterable(replayed), live)
      })

    const bus: Port.Bus<A> = {
      publish: (event) => Effect.suspend(() => Effect.as(publishBatch([event]), event.eventId)),
      publishAll,
      subscribe: subscribe as Port.Bus<A>["subscribe"],
      use: (run) =>
        Effect.sync(() => {
          const entry = { run }
          middlewares = [...middlewares, entry]
          return Effect.sync(() => {
            middlewares = middlewares.filter((m) => m !== entry)
          })
        }),
      history: (query) =>
        Effect.sync(() => {
          const tags = query?.tags === undefined ? undefined : new Set<string>(query.tags)
          const newestFirst = history.toArray().reverse()
          const matching = tags === undefined ? newestFirst : newestFirst.filter((event) => tags.has(event._tag))
          return query?.limit === undefined ? matching : matching.slice(0, query.limit)
        })
    }
    return bus
  })

/**
 * The bus of NERV's events as the `EventBus` service.
 *
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<Port.EventBus> =>
  Layer.scoped(Port.EventBus, make<NervEvent.NervEvent>(options))
