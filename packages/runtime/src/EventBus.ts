/**
 * The event bus on Effect's `PubSub`: typed, scoped subscriptions, middleware that transforms or
 * drops events, and a bounded history that late subscribers can replay with no gap and no
 * duplicate. It implements the `EventBus` port of `@nerv/core`, and `make` builds a bus for any
 * tagged event type.
 *
 * @since 0.1.0
 */
import { EventBus as Port, type NervEvent } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Predicate } from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import { Ring } from "./internal/ring.js"

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
 * Builds a bus for events of type `A`. The bus lives as long as the `Scope`: closing it shuts the
 * bus down and ends every subscription.
 *
 * @since 0.1.0
 */
export const make = <A extends Port.BusEvent>(options?: Options) =>
  Effect.gen(function*() {
    const pubsub = yield* Effect.acquireRelease(makePubSub<A>(options), PubSub.shutdown)
    const history = new Ring<A>(options?.historySize ?? defaultHistorySize)
    // Recording in history and handing to the PubSub happen as one step, and so do reading the
    // history and subscribing: a late subscriber's replay and live stream then meet exactly.
    const lock = yield* Effect.makeSemaphore(1)
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

    const deliver = (events: ReadonlyArray<A>) =>
      lock.withPermits(1)(Effect.suspend(() => {
        for (const event of events) {
          history.push(event)
        }
        return PubSub.publishAll(pubsub, events)
      }))

    const publishAll = (events: Iterable<A>): Effect.Effect<ReadonlyArray<string>> =>
      Effect.suspend(() => {
        const batch = Array.from(events)
        const ids = batch.map((event) =>
          event.eventId
        )
        return runMiddleware(batch).pipe(
          Effect.flatMap((accepted) => accepted.length === 0 ? Effect.void : deliver(accepted)),
          Effect.as(ids)
        )
      })

    const subscribe = (
      filter: string | ReadonlyArray<string> | Predicate<A>,
      subscribeOptions?: Port.SubscribeOptions
    ) =>
      Effect.gen(function*() {
        const matches = toPredicate<A>(filter)
        const replay = subscribeOptions?.replay ?? false
        const [replayed, dequeue] = yield* lock.withPermits(1)(Effect.zip(
          Effect.sync(() => {
            if (replay === false) return []
            const matching = history.toArray().filter(matches)
            return replay === true ? matching : matching.slice(Math.max(0, matching.length - replay))
          }),
          PubSub.subscribe(pubsub)
        ))
        return Stream.concat(Stream.fromIterable(replayed), Stream.filter(Stream.fromQueue(dequeue), matches))
      })

    const bus: Port.Bus<A> = {
      publish: (event) => Effect.as(publishAll([event]), event.eventId),
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
