/**
 * The priority dispatcher: handlers registered by event tag, each in its own fiber with its own
 * bounded, priority-ordered queue; delayed and scheduled events on Effect's `Clock`; timeouts and
 * retries with a `Schedule`; a dead-letter queue that can be re-driven; and Effect `Metric`s.
 *
 * How it relates to the `EventBus`: the bus *broadcasts* (every subscriber sees every event, as a
 * stream it consumes at its own pace); the dispatcher *works through* events (each handler is a
 * job runner with ordering, retries and a dead-letter queue). Events reach a dispatcher in two
 * ways: published to it directly (`publish`, with a priority, a delay or a time), or forwarded from
 * a bus with `consume` — which is what `layer` does for NERV's own events, so that handlers see
 * exactly the committed events the bus carries.
 *
 * Isolation covers what an Effect can do wrong: fail, die (a thrown exception included), or never
 * complete (waiting on I/O, a lock, a promise): the handler's timeout interrupts it. A handler that
 * blocks the JavaScript thread itself (a synchronous endless loop) cannot be interrupted by anything
 * in the process.
 *
 * Ordering: each handler takes its events by (priority, seq) — lower priority first
 * (`defaultPriority` is 0; use negative numbers for urgent work), and in acceptance order among
 * equal priorities. A slow handler with a backlog therefore runs urgent events first; a fast one
 * sees events in the order they were accepted.
 *
 * @since 0.1.0
 */
import { Errors, EventBus as Port, NervEvent } from "@nerv/core"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as internal from "./internal/dispatcher.js"
import { type HandlerSnapshot, metrics as dispatcherMetrics } from "./internal/dispatcherMetrics.js"
import type { Strategy as MailboxStrategy } from "./internal/mailbox.js"
import { HandlerTimeout as Timeout } from "./internal/worker.js"

/**
 * An attempt that ran longer than its handler's `timeout`; it is retried like any failure.
 *
 * @since 0.1.0
 */
export const HandlerTimeout = Timeout

type BusEvent = Port.BusEvent
const InvalidInput = Errors.InvalidInput
type InvalidInput = Errors.InvalidInput

/**
 * @since 0.1.0
 */
export type HandlerTimeout = Timeout

/**
 * The dispatcher's transport could not do what was asked (NATS unreachable, a request refused or
 * timed out). The in-process transport never fails with it.
 *
 * @since 0.1.0
 */
export class DispatchUnavailable extends Data.TaggedError("DispatchUnavailable")<{
  readonly operation: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `the dispatcher could not ${this.operation}: ${this.reason}`
  }
}

/**
 * What a handler's full queue does with one more event:
 *
 * - `backpressure` (default): the publisher waits until the handler has room. Nothing is lost, but
 *   a handler that is `capacity` events behind holds up publishing for everyone (for at most its
 *   `timeout` per event): choose it for handlers that must see everything.
 * - `sliding`: the handler's oldest queued event is dropped to make room. Publishers never wait;
 *   the handler keeps up with the present and loses the past (good for "latest state" handlers).
 * - `dropping`: the new event is dropped for this handler. Publishers never wait; the handler
 *   finishes what it has and misses what came while it was full.
 *
 * Every event lost this way is counted in the handler's `dropped` metric.
 *
 * @since 0.1.0
 */
export type Strategy = MailboxStrategy

/**
 * The Effect metrics of every dispatcher, tagged with `dispatcher` and `handler`.
 *
 * @since 0.1.0
 */
export const metrics = dispatcherMetrics

/**
 * @since 0.1.0
 */
export type { HandlerSnapshot }

/**
 * The priority of an event published without one. Lower runs first.
 *
 * @since 0.1.0
 */
export const defaultPriority: number = internal.defaults.priority

/**
 * The default capacity of each handler's queue.
 *
 * @since 0.1.0
 */
export const defaultCapacity: number = internal.defaults.capacity

/**
 * The default time limit of one handler attempt.
 *
 * @since 0.1.0
 */
export const defaultTimeout: Duration.Duration = internal.defaults.timeout

/**
 * The default retry policy: exponential backoff from 100 ms with jitter, at most 3 retries (4
 * attempts in all). Its input is the failure's `Cause`, so a custom policy can decide by it.
 *
 * @since 0.1.0
 */
export const defaultRetry: Schedule.Schedule<unknown, Cause.Cause<unknown>> = internal.defaults.retry

/**
 * How many dead letters a dispatcher keeps by default (the oldest go first).
 *
 * @since 0.1.0
 */
export const defaultDeadLetterCapacity: number = internal.defaults.deadLetterCapacity

/**
 * The settings every handler inherits unless it overrides them at `register`.
 *
 * @since 0.1.0
 */
export interface HandlerOptions {
  /** Names the handler in metrics and dead letters; unique per dispatcher. */
  readonly name?: string | undefined
  /** The handler's queue size (default `defaultCapacity`). */
  readonly capacity?: number | undefined
  readonly strategy?: Strategy | undefined
  /** The limit of one attempt (default `defaultTimeout`; `Duration.infinity` for none). */
  readonly timeout?: Duration.DurationInput | undefined
  readonly retry?: Schedule.Schedule<unknown, Cause.Cause<unknown>> | undefined
}

/**
 * @since 0.1.0
 */
export interface Options<A> extends Omit<HandlerOptions, "name"> {
  /**
   * Names the dispatcher in its metrics (default `dispatcher-<n>`). Effect keeps a metric per
   * (dispatcher, handler) for the life of the process, so give a dispatcher that is made again and
   * again (one per test, per tenant) a stable name.
   */
  readonly name?: string | undefined
  /** Events that fail it are refused with `InvalidInput`. Without it, only the `_tag`/`eventId` shape is checked. */
  readonly schema?: Schema.Schema<A, any> | undefined
  readonly deadLetterCapacity?: number | undefined
  /** What closing the scope does: finish what was accepted (`graceful`, default) or stop at once. */
  readonly onClose?: StopMode | undefined
  /**
   * An event published again with an `eventId` seen within this window is accepted (its id is
   * returned) but not dispatched again. In process the default is none (no bookkeeping per event);
   * on NATS it is JetStream's duplicate window (default 2 minutes). Ids are remembered for at least
   * the window and at most twice it.
   */
  readonly duplicateWindow?: Duration.DurationInput | undefined
}

/**
 * `graceful` stops accepting, lets every handler finish its queue, then stops; `immediate`
 * interrupts the handlers and discards their queues.
 *
 * @since 0.1.0
 */
export type StopMode = "graceful" | "immediate"

/**
 * @since 0.1.0
 */
export interface PublishOptions {
  /** Lower runs first (default `defaultPriority`). Any finite number. */
  readonly priority?: number | undefined
  /** Hold the event this long before it is dispatched. */
  readonly delay?: Duration.DurationInput | undefined
  /** Hold the event until this time (a `DateTime`, a `Date` or epoch milliseconds). */
  readonly at?: DateTime.DateTime | Date | number | undefined
}

/**
 * An event waiting for its time.
 *
 * @since 0.1.0
 */
export interface ScheduledEvent<A> {
  readonly event: A
  readonly priority: number
  readonly dueAt: DateTime.Utc
}

/**
 * An event a handler gave up on after its retries.
 *
 * @since 0.1.0
 */
export interface DeadLetter<A> {
  readonly id: number
  readonly event: A
  readonly handler: string
  readonly priority: number
  readonly cause: Cause.Cause<unknown>
  readonly attempts: number
  readonly failedAt: DateTime.Utc
}

/**
 * What `dispatch` did for one handler.
 *
 * @since 0.1.0
 */
export interface Outcome {
  readonly handler: string
  readonly status: "delivered" | "dead-lettered"
  readonly attempts: number
}

/**
 * What a stop left behind.
 *
 * @since 0.1.0
 */
export interface StopReport {
  readonly mode: StopMode
  /** Accepted events the handlers never finished (0 after a graceful stop). */
  readonly undelivered: number
  /** Scheduled events that were not yet due. */
  readonly discardedScheduled: number
}

/**
 * Everything a dispatcher measured, as a plain record.
 *
 * @since 0.1.0
 */
export interface Snapshot {
  readonly dispatcher: string
  readonly state: "running" | "stopping" | "stopped"
  readonly accepted: number
  /** Accepted events no handler was registered for. */
  readonly unhandled: number
  /** Handler deliveries accepted and not yet finished. */
  readonly pending: number
  readonly scheduled: number
  readonly deadLetters: number
  readonly handlers: ReadonlyArray<HandlerSnapshot>
}

/**
 * A dispatcher of events of type `A`.
 *
 * @since 0.1.0
 */
export interface Service<A extends BusEvent> {
  /**
   * Accepts an event for its handlers; returns its id. Waits while a `backpressure` handler is full.
   * Refuses an event that fails the schema (or bad options) with `InvalidInput`; interrupts once
   * the dispatcher is stopping, like `Queue.offer` on a shut-down queue.
   */
  readonly publish: (event: A, options?: PublishOptions) => Effect.Effect<string, InvalidInput | DispatchUnavailable>
  /** Accepts events in order, as one batch; all are checked before any is accepted. */
  readonly publishAll: (
    events: Iterable<A>,
    options?: PublishOptions
  ) => Effect.Effect<ReadonlyArray<string>, InvalidInput | DispatchUnavailable>
  /** Decodes input from its encoded form (e.g. JSON off a wire) with the schema, then publishes it. */
  readonly publishUnknown: (
    input: unknown,
    options?: PublishOptions
  ) => Effect.Effect<string, InvalidInput | DispatchUnavailable>
  /**
   * Registers a handler for events with these tags and starts its fiber. The returned effect
   * removes it: no new events, then it finishes its queue.
   */
  readonly register: <const Tag extends A["_tag"]>(
    tags: Tag | ReadonlyArray<Tag>,
    handler: (event: Extract<A, { readonly _tag: Tag }>) => Effect.Effect<unknown, unknown>,
    options?: HandlerOptions
  ) => Effect.Effect<Effect.Effect<void>, DispatchUnavailable>
  /**
   * Runs the handlers of one event now, in the caller's fiber (each in a fiber of its own, with its
   * timeout and retries), bypassing queues, priorities and the clock of scheduled events. For tests
   * and synchronous use; what still fails goes to the dead letters.
   */
  readonly dispatch: (event: A) => Effect.Effect<ReadonlyArray<Outcome>, InvalidInput | DispatchUnavailable>
  /** The scheduled events not yet due, earliest first. */
  readonly scheduled: Effect.Effect<ReadonlyArray<ScheduledEvent<A>>, DispatchUnavailable>
  /** Cancels the scheduled events with this id; returns whether there were any. */
  readonly cancel: (eventId: string) => Effect.Effect<boolean, DispatchUnavailable>
  /** The dead letters, oldest first. */
  readonly deadLetters: Effect.Effect<ReadonlyArray<DeadLetter<A>>, DispatchUnavailable>
  /**
   * Queues dead letters again for their handler (by name, so a fixed handler registered under the
   * same name gets them), and removes them from the list; returns how many. Letters whose handler
   * is not registered stay.
   */
  readonly redrive: (
    filter?: { readonly handler?: string | undefined; readonly ids?: ReadonlyArray<number> | undefined }
  ) => Effect.Effect<number, DispatchUnavailable>
  /** Waits until every accepted delivery is finished (scheduled events not yet due excepted). */
  readonly awaitIdle: Effect.Effect<void>
  readonly snapshot: Effect.Effect<Snapshot>
  /** Stops now (idempotent); closing the scope does the same with `onClose`. */
  readonly stop: (mode?: StopMode) => Effect.Effect<StopReport>
}

/**
 * The dispatcher of NERV's events. Its layer is `layer`.
 *
 * @since 0.1.0
 */
export class Dispatcher extends Context.Tag("@nerv/runtime/Dispatcher")<Dispatcher, NervDispatcher>() {}

/**
 * The service of `Dispatcher`: a dispatcher of `NervEvent`s.
 *
 * @since 0.1.0
 */
export interface NervDispatcher extends Service<NervEvent.NervEvent> {}

/**
 * Builds a dispatcher for events of type `A`. It lives as long as the `Scope`: closing it stops
 * the dispatcher as `onClose` says (graceful by default).
 *
 * @since 0.1.0
 */
export const make: <A extends BusEvent>(options?: Options<A>) => Effect.Effect<Service<A>, never, Scope.Scope> =
  internal.make

const unavailableRetry = Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))

/**
 * Forwards every event the bus carries to the dispatcher, for as long as the `Scope` lives. The
 * subscription is taken before this returns, so no event published afterwards is missed. Events the
 * dispatcher refuses are logged and skipped; they never stop the forwarding. While the transport is
 * unavailable, forwarding waits and tries again (the bus holds the events meanwhile).
 *
 * @since 0.1.0
 */
export const consume = <A extends BusEvent>(
  bus: Port.Bus<A>,
  dispatcher: Service<A>,
  options?: { readonly priority?: ((event: A) => number) | undefined }
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const stream = yield* bus.subscribe((_: A) => true)
    const priorityOf = options?.priority
    yield* stream.pipe(
      Stream.runForEachChunk((chunk) => {
        const events = Array.from(chunk)
        const accept = priorityOf === undefined
          ? dispatcher.publishAll(events)
          : Effect.forEach(events, (event) => dispatcher.publish(event, { priority: priorityOf(event) }))
        return accept.pipe(
          // A transport that is away comes back: the events are committed, so they wait for it
          // (publishing again is safe, the transport deduplicates by event id).
          Effect.tapErrorTag("DispatchUnavailable", (error) => Effect.logWarning(`${error.message}; retrying`)),
          Effect.retry({ while: (error) => error._tag === "DispatchUnavailable", schedule: unavailableRetry }),
          Effect.catchTag("InvalidInput", (error) => Effect.logWarning(error.message)),
          Effect.asVoid
        )
      }),
      Effect.forkScoped
    )
  })

/**
 * The dispatcher of NERV's events as the `Dispatcher` service, fed by the `EventBus`: every
 * event the bus carries reaches the handlers registered here. Events are checked against
 * `NervEvent`'s schema.
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Omit<Options<NervEvent.NervEvent>, "schema"> & {
    readonly priority?: ((event: NervEvent.NervEvent) => number) | undefined
  }
): Layer.Layer<Dispatcher, never, Port.EventBus> =>
  Layer.scoped(
    Dispatcher,
    Effect.gen(function*() {
      const bus = yield* Port.EventBus
      const dispatcher = yield* make<NervEvent.NervEvent>({ ...options, schema: NervEvent.NervEvent })
      yield* consume(bus, dispatcher, { priority: options?.priority })
      return dispatcher
    })
  )
