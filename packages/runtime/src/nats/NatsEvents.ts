/**
 * The event bus of a node among several: committed document events reach every node's bus
 * subscribers, not only the process that committed them, in position order, with no gap.
 *
 * Every node shares one journal (PostgreSQL, or a SQLite file on one host). Each node tails it and
 * appends what was committed to a JetStream stream (`<prefix>-events`, one message per position,
 * appended with JetStream's expected last sequence, so positions are never repeated or interleaved
 * when several nodes do it), and each node follows that stream and delivers the events to its own
 * in-process `EventBus`. The committing node is no exception: its document events reach its
 * subscribers through the same path, so that every node sees one order, the journal's. A node
 * catches up from the journal whatever the stream cannot give it (before its tail, expired, or
 * sealed under a key the node does not hold), so a reconnect, a restart from a checkpoint
 * (`after`) or a missing key never leaves a gap.
 *
 * Events that are not journaled (`OperationFailed`) stay on the node that published them.
 *
 * The price of one order everywhere: a node's own document events reach its subscribers after a
 * round trip through NATS (the publish wakes the tail, so this is a matter of a millisecond or two,
 * not of the journal's poll interval).
 *
 * @since 0.1.0
 */
import { DocumentEvent, type Errors, EventBus as Port, Journal, NervEvent } from "@nerv/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as EventBus from "../EventBus.js"
import * as Relay from "../internal/natsRelay.js"
import { type MessageUnreadable, WireCodec } from "../security/BusCodec.js"
import { attempt, NatsClient, type NatsError } from "./NatsClient.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** Names the stream (`<prefix>-events`) and its subject (`<prefix>.events`); default `nerv`. */
  readonly prefix?: string | undefined
  /** The in-process bus that delivers to this node's subscribers. */
  readonly bus?: EventBus.Options | undefined
  /**
   * Deliver the committed events after this position (a checkpoint kept by the host from
   * `delivered`); default: the journal's head at start, so the bus carries what is committed from
   * now on, as an in-process bus does.
   */
  readonly after?: number | undefined
  /** How often the tail looks at the journal when nothing woke it (default 50 ms). */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Entries read and appended per round trip (default 500). */
  readonly pageSize?: number | undefined
  /** How long events stay in the stream (default 7 days); set when it is created. */
  readonly maxAge?: Duration.DurationInput | undefined
  readonly storage?: "file" | "memory" | undefined
  /**
   * Whether this node appends what the journal commits to the stream (default true). Every node
   * does it by default, so that the stream does not depend on any one of them; the stream takes
   * each position once, whoever appends it.
   */
  readonly publish?: boolean | undefined
  /** Hears of each message this node could not open (it then reads the event from the journal). */
  readonly onUnreadable?: ((error: MessageUnreadable) => Effect.Effect<void>) | undefined
}

/**
 * @since 0.1.0
 */
export interface NatsEventsService {
  /** The position of the last committed event this node's bus delivered: a checkpoint for `after`. */
  readonly delivered: Effect.Effect<number>
  /** Waits until this node's bus has delivered every committed event up to `position`. */
  readonly awaitDelivered: (position: number) => Effect.Effect<void>
}

/**
 * Where a node's bus has got to in the journal.
 *
 * @since 0.1.0
 */
export class NatsEvents extends Context.Tag("@nerv/runtime/NatsEvents")<NatsEvents, NatsEventsService>() {}

const Committed = Schema.Struct({ position: Schema.Number, event: DocumentEvent.DocumentEvent })

const documentTags: ReadonlySet<string> = new Set(DocumentEvent.tags)

const backoff = Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))

/**
 * Builds the node's bus and starts its two fibers (the tail that appends, the follower that
 * delivers); both live as long as the `Scope`, and come back by themselves after a failure.
 *
 * @since 0.1.0
 */
export const make = (
  options?: Options
): Effect.Effect<
  { readonly bus: Port.Bus<NervEvent.NervEvent>; readonly events: NatsEventsService },
  NatsError | Errors.JournalError,
  Scope.Scope | Journal.Journal | NatsClient | WireCodec
> =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const client = yield* NatsClient
    const wire = yield* WireCodec
    const prefix = options?.prefix ?? "nerv"
    const { stream, subject } = Relay.names(prefix)
    yield* Relay.ensureStream(client, stream, subject, {
      storage: options?.storage ?? "file",
      maxAgeMs: Duration.toMillis(options?.maxAge ?? Duration.days(7))
    })
    const wiring: Relay.Wiring = {
      client,
      stream,
      subject,
      journal,
      codec: wire.codec(Committed, `${prefix}.events`),
      pageSize: options?.pageSize ?? 500
    }
    const onUnreadable = options?.onUnreadable ?? ((error: MessageUnreadable) => Effect.logWarning(error.message))
    const inner = yield* EventBus.make<NervEvent.NervEvent>(options?.bus)
    const start = options?.after ?? (yield* journal.head)

    let delivered = start
    let waiters: Array<{ readonly position: number; readonly wake: () => void }> = []
    const deliver = (entry: Relay.Committed) =>
      Effect.map(inner.publish(entry.event), () => {
        delivered = entry.position
        if (waiters.length > 0) {
          const ready = waiters.filter((w) => w.position <= delivered)
          waiters = waiters.filter((w) => w.position > delivered)
          for (const waiter of ready) waiter.wake()
        }
      })

    // The tail sleeps until a local commit wakes it or the poll interval passes.
    let wakeTail: (() => void) | undefined = undefined
    let woken = false
    const nudge = () => {
      woken = true
      const wake = wakeTail
      wakeTail = undefined
      wake?.()
    }
    const pollInterval = Duration.decode(options?.pollInterval ?? "50 millis")
    const idle = Effect.raceFirst(
      Effect.async<void>((resume) => {
        if (woken) return resume(Effect.void)
        wakeTail = () => resume(Effect.void)
        return Effect.sync(() => {
          wakeTail = undefined
        })
      }),
      Effect.sleep(pollInterval)
    )
    const tail = Effect.suspend(() => {
      woken = false
      return Relay.publishStep(wiring, delivered)
    }).pipe(
      Effect.flatMap((appended) => (appended > 0 ? Effect.void : idle)),
      Effect.forever,
      Effect.tapError((error) => Effect.logWarning(`relaying committed events: ${error.message}; retrying`)),
      Effect.retry(backoff)
    )
    if (options?.publish !== false) yield* Effect.forkScoped(tail)
    // Resumes from what it delivered last, whatever interrupted it.
    const follower = Effect.suspend(() => Relay.deliverFrom(wiring, delivered, deliver, onUnreadable)).pipe(
      Effect.tapError((error) => Effect.logWarning(`following committed events: ${error.message}; retrying`)),
      Effect.retry(backoff)
    )
    yield* Effect.forkScoped(follower)

    const bus: Port.Bus<NervEvent.NervEvent> = {
      // Committed document events come back through the stream, in the journal's order.
      publish: (event) =>
        documentTags.has(event._tag)
          ? Effect.sync(() => {
            nudge()
            return event.eventId
          })
          : inner.publish(event),
      publishAll: (events) =>
        Effect.suspend(() => {
          const all = Array.from(events)
          const local = all.filter((event) => !documentTags.has(event._tag))
          if (local.length < all.length) nudge()
          const ids = all.map((event) => event.eventId)
          return local.length === 0 ? Effect.succeed(ids) : Effect.as(inner.publishAll(local), ids)
        }),
      subscribe: inner.subscribe,
      use: inner.use,
      history: inner.history
    }
    const events: NatsEventsService = {
      delivered: Effect.sync(() => delivered),
      awaitDelivered: (position) =>
        Effect.async<void>((resume) => {
          if (delivered >= position) return resume(Effect.void)
          const waiter = { position, wake: () => resume(Effect.void) }
          waiters.push(waiter)
          return Effect.sync(() => {
            waiters = waiters.filter((w) => w !== waiter)
          })
        })
    }
    return { bus, events }
  })

/**
 * The node's `EventBus` (and where it has got to, `NatsEvents`), on the `Journal`, the NATS
 * connection and the wire codecs in context. Provide it inside the layer that gives the journal,
 * so that the document programs publish to it:
 *
 * ```ts
 * program.pipe(
 *   Effect.provide(NatsEvents.layer().pipe(Layer.provide(wire), Layer.provide(NatsClient.layerConfig))),
 *   Effect.provide(Nerv.layerSqlite())
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Options
): Layer.Layer<Port.EventBus | NatsEvents, NatsError | Errors.JournalError, Journal.Journal | NatsClient | WireCodec> =>
  Layer.scopedContext(
    Effect.map(
      make(options),
      ({ bus, events }) => Context.make(Port.EventBus, bus).pipe(Context.add(NatsEvents, events))
    )
  )

/**
 * Deletes a prefix's events stream. For tests and teardown.
 *
 * @since 0.1.0
 */
export const destroy = (prefix: string): Effect.Effect<void, NatsError, NatsClient> =>
  Effect.flatMap(
    NatsClient,
    (client) =>
      attempt("delete the events stream", () =>
        client.manager.streams.delete(Relay.names(prefix).stream).catch(() => false))
  )
