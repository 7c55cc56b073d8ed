/**
 * The dispatcher on NATS JetStream: the same `Dispatcher.Service` as the in-process one, with the
 * work spread over every process that registers a handler. The host picks the transport with a
 * layer: `Dispatcher.layer` (in process) or `NatsDispatcher.layer` (this one).
 *
 * What holds across processes (docs/delivery.md has the details):
 *
 * - **Once per handler.** A handler's name names its durable consumers; every process that
 *   registers a handler under that name shares them, so each event goes to one of those processes
 *   (at least once: a process that dies holding events has them redelivered to the others after
 *   the ack wait). Handlers that must not apply an event twice record it by `eventId`.
 * - **Priorities.** Each priority lane (`lanes`, default −1, 0, 1: a priority goes to the greatest
 *   lane not above it) has its own consumer, so an urgent event is not queued behind a backlog of
 *   less urgent ones on the server; within a process, the events it holds run by exact priority,
 *   then in arrival order. Across processes a less urgent event may run in one process while a more
 *   urgent one runs in another.
 * - **Order.** Within one lane and tag, a publisher's events are stored in its order and each
 *   process receives them in that order; with several processes, they run in parallel, and a
 *   redelivered event (a retry, a dead process) comes after the ones sent since.
 * - **Delays.** NATS 2.9 has no scheduled messages: delayed and scheduled events wait in a delay
 *   stream, read by a scheduler in every process that gives each message back to the server until
 *   it is due (`nak` with a delay), then publishes it to its lane.
 * - **Retries** follow the handler's `Schedule`: a failed attempt is given back with the schedule's
 *   delay (`nak`), and may be retried in any process; the attempt number is JetStream's delivery
 *   count. After the last attempt the event goes to the dead-letter stream with its cause, where any
 *   process can list it (`deadLetters`) and re-drive it (`redrive`).
 * - **Dedupe.** Every message's id is its event id: publishing one event id twice within the
 *   duplicate window (default 2 minutes) stores it once.
 * - **Sealing.** Bodies are sealed by the `WireCodec` (AES-256-GCM under the master key, bound to
 *   the prefix's channel); a message a process cannot open is reported to `onUnreadable`, given back
 *   for another process, and after the handler's retries kept as a dead letter as it came.
 *
 * `capacity` and `strategy` do not apply: events wait in the stream, never in a process's queue,
 * and are never dropped. `awaitIdle` waits until the consumers of the handlers registered here have
 * nothing pending or unacknowledged, in any process. `stop` leaves scheduled events in their stream
 * (they are durable), and `immediate` gives the events this process held back to the server.
 *
 * @since 0.1.0
 */
import { EventBus as Port, NervEvent } from "@nerv/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Dispatcher from "../Dispatcher.js"
import * as internal from "../internal/natsDispatcher.js"
import * as Handler from "../internal/natsHandler.js"
import * as Topology from "../internal/natsTopology.js"
import type { MessageUnreadable, WireCodec } from "../security/BusCodec.js"
import { NatsClient } from "./NatsClient.js"

/**
 * @since 0.1.0
 */
export interface Options<A> extends Omit<Dispatcher.Options<A>, "schema" | "capacity" | "strategy"> {
  /** How events are encoded on the wire and checked on the way in and out. */
  readonly schema: Schema.Schema<A, any>
  /** Names the streams (`<prefix>-work`, `-delay`, `-dlq`) and subjects (`<prefix>.…`); default `nerv`. */
  readonly prefix?: string | undefined
  /** The priority lanes, integers (default −1, 0, 1). Every process on a prefix must use the same. */
  readonly lanes?: ReadonlyArray<number> | undefined
  /** How many messages each consumer pulls ahead, and how many a handler queues here (default 128). */
  readonly prefetch?: number | undefined
  /** How long the server waits for an answer before it redelivers (default 30 s); kept alive while held. */
  readonly ackWait?: Duration.DurationInput | undefined
  /** How long events stay in the work stream (default 7 days); set when it is created. */
  readonly maxAge?: Duration.DurationInput | undefined
  /** `file` (default) or `memory` streams; set when they are created. */
  readonly storage?: "file" | "memory" | undefined
  /** Hears of each message this process could not open (default: a warning in the log). */
  readonly onUnreadable?: ((error: MessageUnreadable) => Effect.Effect<void>) | undefined
}

/**
 * The delivery a handler is running, in the handler's context on the NATS transport (the
 * in-process one has no redeliveries and provides none): read it with
 * `Effect.serviceOption(NatsDispatcher.Delivery)`, e.g. to tell a redelivery from a first delivery.
 *
 * @since 0.1.0
 */
export const Delivery = Handler.Delivery

/**
 * @since 0.1.0
 */
export type Delivery = Handler.Delivery

/**
 * The default priority lanes: urgent (below 0), normal (0 up to 1), background (1 and above).
 *
 * @since 0.1.0
 */
export const defaultLanes: ReadonlyArray<number> = internal.natsDefaults.lanes

/**
 * The default number of messages pulled ahead per consumer.
 *
 * @since 0.1.0
 */
export const defaultPrefetch: number = internal.natsDefaults.prefetch

/**
 * Builds a dispatcher on the prefix's streams (creating them if needed) and starts this process's
 * share of the scheduler. It lives as long as the `Scope`.
 *
 * @since 0.1.0
 */
export const make: <A extends Port.BusEvent>(
  options: Options<A>
) => Effect.Effect<Dispatcher.Service<A>, Dispatcher.DispatchUnavailable, Scope.Scope | NatsClient | WireCodec> =
  internal.make

/**
 * The dispatcher of NERV's events as the `Dispatcher` service, on NATS, fed by the `EventBus` as
 * `Dispatcher.layer` is. Every node forwards what its bus carries; since the message id is the
 * event id, an event forwarded by several nodes within the duplicate window is stored once.
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Omit<Options<NervEvent.NervEvent>, "schema"> & {
    readonly priority?: ((event: NervEvent.NervEvent) => number) | undefined
  }
): Layer.Layer<Dispatcher.Dispatcher, Dispatcher.DispatchUnavailable, Port.EventBus | NatsClient | WireCodec> =>
  Layer.scoped(
    Dispatcher.Dispatcher,
    Effect.gen(function*() {
      const bus = yield* Port.EventBus
      const dispatcher = yield* make<NervEvent.NervEvent>({ ...options, schema: NervEvent.NervEvent })
      yield* Dispatcher.consume(bus, dispatcher, { priority: options?.priority })
      return dispatcher
    })
  )

/**
 * Deletes a prefix's streams, with their consumers, events and dead letters. For tests and teardown.
 *
 * @since 0.1.0
 */
export const destroy = (prefix: string): Effect.Effect<void, Dispatcher.DispatchUnavailable, NatsClient> =>
  Effect.flatMap(NatsClient, (client) => Topology.destroy(client, Topology.make(prefix))).pipe(
    Effect.mapError((error) =>
      new Dispatcher.DispatchUnavailable({ operation: "delete its streams", reason: error.message, cause: error })
    )
  )

/**
 * The names of a prefix's streams.
 *
 * @since 0.1.0
 */
export const streams = (
  prefix: string
): { readonly work: string; readonly delay: string; readonly deadLetters: string } => Topology.make(prefix).streams
