/**
 * The event bus port: publish events, subscribe to them by tag or predicate, transform or drop them
 * with middleware, and look at the recent ones.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { Predicate, Refinement } from "effect/Predicate"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { NervEvent } from "./NervEvent.js"

/**
 * What a bus can carry: tagged values with an id.
 *
 * @since 0.1.0
 */
export interface BusEvent {
  readonly _tag: string
  readonly eventId: string
}

/**
 * Runs on every published event before it is recorded or delivered: returns the event (possibly
 * transformed), or `None` to drop it.
 *
 * @since 0.1.0
 */
export type Middleware<A> = (event: A) => Effect.Effect<Option.Option<A>>

/**
 * @since 0.1.0
 */
export interface SubscribeOptions {
  /**
   * Deliver the matching events still in the bus's history first (oldest first, `true` for all of
   * them or a number for the most recent ones), then live events, with no gap and no duplicate.
   */
  readonly replay?: boolean | number | undefined
}

/**
 * @since 0.1.0
 */
export interface HistoryQuery<Tag extends string> {
  /** At most this many events. */
  readonly limit?: number | undefined
  /** Only events with these tags. */
  readonly tags?: ReadonlyArray<Tag> | undefined
}

/**
 * A bus for events of type `A`.
 *
 * @since 0.1.0
 */
export interface Bus<A extends BusEvent> {
  /** Publishes one event; returns its id. */
  readonly publish: (event: A) => Effect.Effect<string>
  /** Publishes events in order, as one batch; returns their ids. */
  readonly publishAll: (events: Iterable<A>) => Effect.Effect<ReadonlyArray<string>>
  /**
   * Subscribes now and returns the stream of matching events. The subscription lives as long as
   * the enclosing `Scope`: closing it unsubscribes.
   */
  readonly subscribe: {
    <const Tag extends A["_tag"]>(
      tags: Tag | ReadonlyArray<Tag>,
      options?: SubscribeOptions
    ): Effect.Effect<Stream.Stream<Extract<A, { readonly _tag: Tag }>>, never, Scope.Scope>
    <B extends A>(refinement: Refinement<A, B>, options?: SubscribeOptions): Effect.Effect<
      Stream.Stream<B>,
      never,
      Scope.Scope
    >
    (predicate: Predicate<A>, options?: SubscribeOptions): Effect.Effect<Stream.Stream<A>, never, Scope.Scope>
  }
  /** Adds a middleware (run after those added before it); the returned effect removes it. */
  readonly use: (middleware: Middleware<A>) => Effect.Effect<Effect.Effect<void>>
  /** The recent events, newest first, within the bus's history bound. */
  readonly history: (query?: HistoryQuery<A["_tag"]>) => Effect.Effect<ReadonlyArray<A>>
}

/**
 * The bus that NERV's programs publish to. Its layer is `EventBus.layer` in `@nerv/runtime`.
 *
 * @since 0.1.0
 */
export class EventBus extends Context.Tag("@nerv/core/EventBus")<EventBus, Bus<NervEvent>>() {}
