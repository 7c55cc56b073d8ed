/**
 * The NATS dispatcher's implementation; its public face and documentation are
 * `nats/NatsDispatcher.ts`, its pieces `natsTopology` (names, streams, consumers), `natsHandler`
 * (one handler at work), `natsScheduler` (delayed events) and `natsWire` (what is sealed).
 */
import { headers } from "@nats-io/transport-node"
import { Errors, type EventBus as Port } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import {
  DispatchUnavailable,
  type Outcome,
  type PublishOptions,
  type ScheduledEvent,
  type Service,
  type Snapshot,
  type StopMode,
  type StopReport
} from "../Dispatcher.js"
import { attempt, NatsClient, type NatsError } from "../nats/NatsClient.js"
import type { Options } from "../nats/NatsDispatcher.js"
import { WireCodec } from "../security/BusCodec.js"
import { defaults, shapeError, toDueAt } from "./dispatcher.js"
import { HandlerMetrics } from "./dispatcherMetrics.js"
import * as DeadLetters from "./natsDeadLetters.js"
import { type Context as HandlerContext, NatsHandler, runAttempt } from "./natsHandler.js"
import * as Scheduler from "./natsScheduler.js"
import * as Topology from "./natsTopology.js"
import * as Wire from "./natsWire.js"

type BusEvent = Port.BusEvent
const InvalidInput = Errors.InvalidInput
type InvalidInput = Errors.InvalidInput

/**
 * The defaults the public module documents.
 *
 * @since 0.1.0
 */
export const natsDefaults = {
  prefix: "nerv",
  lanes: [-1, 0, 1] as ReadonlyArray<number>,
  prefetch: 128,
  ackWait: Duration.seconds(30),
  duplicateWindow: Duration.minutes(2),
  maxAge: Duration.days(7)
}

let instances = 0

const unavailable = (operation: string) => (error: NatsError) =>
  new DispatchUnavailable({ operation, reason: error.message, cause: error.cause })

/**
 * The lanes a dispatcher uses, checked: distinct integers, ascending.
 *
 * @since 0.1.0
 */
export const checkLanes = (lanes: ReadonlyArray<number>): ReadonlyArray<number> => {
  const sorted = [...new Set(lanes)].sort((a, b) => a - b)
  if (sorted.length === 0 || !sorted.every(Number.isSafeInteger)) {
    throw new Error(`priority lanes must be one or more integers, got [${lanes.join(", ")}]`)
  }
  return sorted
}

/**
 * The lane of a priority: the greatest lane not above it, or the lowest lane for a priority below
 * them all.
 *
 * @since 0.1.0
 */
export const laneOf = (lanes: ReadonlyArray<number>, priority: number): number => {
  let lane = lanes[0]!
  for (const candidate of lanes) if (candidate <= priority) lane = candidate
  return lane
}

/**
 * See `NatsDispatcher.make`.
 *
 * @since 0.1.0
 */
export const make = <A extends BusEvent>(
  options: Options<A>
): Effect.Effect<Service<A>, DispatchUnavailable, Scope.Scope | NatsClient | WireCodec> =>
  Effect.gen(function*() {
    const client = yield* NatsClient
    const wire = yield* WireCodec
    const clock = yield* Effect.clock
    const prefix = options.prefix ?? natsDefaults.prefix
    if (!Topology.isPrefix(prefix)) {
      return yield* Effect.dieMessage(`a NATS dispatcher prefix is 1 to 32 of A-Z a-z 0-9 -, got "${prefix}"`)
    }
    const lanes = checkLanes(options.lanes ?? natsDefaults.lanes)
    const name = options.name ?? `nats-dispatcher-${++instances}`
    const topology = Topology.make(prefix)
    const ackWaitMs = Duration.toMillis(options.ackWait ?? natsDefaults.ackWait)
    yield* Topology.ensureStreams(client, topology, {
      storage: options.storage ?? "file",
      duplicateWindowMs: Duration.toMillis(options.duplicateWindow ?? natsDefaults.duplicateWindow),
      maxAgeMs: Duration.toMillis(options.maxAge ?? natsDefaults.maxAge),
      deadLetterCapacity: options.deadLetterCapacity ?? defaults.deadLetterCapacity
    }).pipe(Effect.mapError(unavailable("create its streams")))

    const validate = Schema.validateEither(options.schema)
    const decode = Schema.decodeUnknownEither(options.schema)
    const work = wire.codec(Wire.WorkEnvelope(options.schema), Wire.channels.work(prefix))
    const letters = wire.codec(Wire.DeadLetterRecord(options.schema), Wire.channels.deadLetters(prefix))
    const onUnreadable = options.onUnreadable ?? ((error) => Effect.logWarning(error.message))

    let state: "running" | "stopping" | "stopped" = "running"
    let accepted = 0
    let pending = 0
    const handlers = new Map<string, NatsHandler<A>>()
    const defaultNames = new Map<string, number>()
    let stopReport: StopReport | undefined = undefined

    const wiring: DeadLetters.Wiring<A> = {
      client,
      topology,
      work,
      deadLetters: letters as DeadLetters.Wiring<A>["deadLetters"],
      onUnreadable
    }
    const context: HandlerContext<A> = {
      ...wiring,
      lanes,
      clock,
      prefetch: options.prefetch ?? natsDefaults.prefetch,
      ackWaitMs,
      settled: (count) => {
        pending -= count
      },
      received: (count) => {
        pending += count
      }
    }

    const stopScheduler = yield* Scheduler.start(client, topology, clock, ackWaitMs).pipe(
      Effect.mapError(unavailable("start its scheduler"))
    )

    const check = (event: A, operation: string): InvalidInput | undefined => {
      const shape = shapeError(event)
      if (shape !== undefined) return new InvalidInput({ operation, details: shape })
      const result = validate(event)
      return Either.isLeft(result) ? InvalidInput.fromParseError(operation, result.left) : undefined
    }

    const publishAll = (events: Iterable<A>, publishOptions?: PublishOptions, operation = "Dispatcher.publish") =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<string>, InvalidInput | DispatchUnavailable> => {
        if (state !== "running") return Effect.interrupt
        const batch: ReadonlyArray<A> = Array.isArray(events) ? events : Array.from(events)
        const priority = publishOptions?.priority ?? defaults.priority
        if (!Number.isFinite(priority)) {
          return Effect.fail(
            new InvalidInput({ operation, details: `priority must be a finite number, got ${priority}` })
          )
        }
        for (let i = 0; i < batch.length; i++) {
          const error = check(batch[i]!, operation)
          if (error !== undefined) return Effect.fail(error)
        }
        const now = clock.unsafeCurrentTimeMillis()
        const dueAt = toDueAt(publishOptions, now)
        if (dueAt instanceof InvalidInput) return Effect.fail(dueAt)
        const delayed = dueAt !== undefined && dueAt > now
        const lane = laneOf(lanes, priority)
        return Effect.forEach(batch, (event) =>
          work.encode({
            event,
            priority,
            publishedAt: now,
            ...(dueAt === undefined ? {} : { dueAt })
          })).pipe(
            Effect.flatMap((bodies) =>
              attempt("publish", () =>
                // Every publish is sent before any acknowledgement is awaited: one round trip for
                // the batch, and the events are stored in the order they were given.
                Promise.all(bodies.map((body, i) => {
                  const event = batch[i]!
                  const target = topology.work(lane, event._tag)
                  if (!delayed) return client.jetstream.publish(target, body, { msgID: event.eventId })
                  const h = headers()
                  h.set(Scheduler.header.due, String(dueAt))
                  h.set(Scheduler.header.target, target)
                  h.set(Scheduler.header.eventId, event.eventId)
                  return client.jetstream.publish(topology.delay(event.eventId), body, {
                    msgID: event.eventId,
                    headers: h
                  })
                })))
            ),
            Effect.mapError(unavailable("publish")),
            Effect.map(() => {
              accepted += batch.length
              return batch.map((event) => event.eventId)
            })
          )
      })

    const register: Service<A>["register"] = (tags, handler, handlerOptions) =>
      Effect.suspend(() => {
        if (state !== "running") return Effect.dieMessage(`dispatcher ${name} is stopped; it takes no new handlers`)
        const tagList: ReadonlyArray<string> = typeof tags === "string" ? [tags] : [...(tags as ReadonlyArray<string>)]
        let handlerName = handlerOptions?.name
        if (handlerName === undefined) {
          // Stable across processes that register the same handlers in the same order, since the
          // name is what they share the handler's consumers by.
          const base = tagList.join("+")
          const n = (defaultNames.get(base) ?? 0) + 1
          defaultNames.set(base, n)
          handlerName = n === 1 ? base : `${base}#${n}`
        }
        if (handlers.has(handlerName)) {
          return Effect.dieMessage(`dispatcher ${name} already has a handler named ${handlerName}`)
        }
        const timeout = handlerOptions?.timeout ?? options.timeout
        const worker = new NatsHandler<A>(
          {
            name: handlerName,
            tags: tagList,
            handle: handler as (event: A) => Effect.Effect<unknown, unknown>,
            timeout: timeout === undefined ? defaults.timeout : Duration.decode(timeout),
            retry: handlerOptions?.retry ?? options.retry ?? defaults.retry
          },
          new HandlerMetrics(name, handlerName),
          context
        )
        const key = handlerName
        handlers.set(key, worker)
        return worker.start.pipe(
          Effect.tapError(() => Effect.sync(() => handlers.delete(key))),
          Effect.mapError(unavailable(`register ${key}`)),
          Effect.as(Effect.suspend(() => {
            if (handlers.get(key) !== worker) return Effect.void
            handlers.delete(key)
            return Effect.asVoid(worker.stop("graceful"))
          }))
        )
      })

    const runDirect = (worker: NatsHandler<A>, event: A): Effect.Effect<Outcome, DispatchUnavailable> =>
      Effect.suspend(() => {
        const { config, metrics: m } = worker
        let attempts = 0
        const once = Effect.suspend(() => {
          if (attempts++ > 0) m.retried()
          return runAttempt(config, event)
        }).pipe(Effect.sandbox, Effect.tapError(() => Effect.sync(() => m.failed())))
        return Effect.retry(once, config.retry).pipe(
          Effect.matchEffect({
            onSuccess: () => {
              m.delivered()
              return Effect.succeed<Outcome>({ handler: config.name, status: "delivered", attempts })
            },
            onFailure: (cause) => {
              m.deadLettered()
              const record: DeadLetters.DeadLetterRecord<A> = {
                event,
                handler: config.name,
                priority: defaults.priority,
                attempts,
                failedAt: clock.unsafeCurrentTimeMillis(),
                cause
              }
              return Effect.as(
                DeadLetters.publish(wiring, record, event.eventId).pipe(
                  Effect.mapError(unavailable("keep a dead letter"))
                ),
                { handler: config.name, status: "dead-lettered", attempts } as Outcome
              )
            }
          })
        )
      })

    const awaitIdle: Effect.Effect<void> = Effect.suspend(() => {
      const subscriptions = [...handlers.values()].flatMap((worker) => worker.subscriptions())
      const serverIdle = attempt("read the handlers' consumers", async () => {
        const infos = await Promise.all(
          subscriptions.map(({ name: consumer, stream }) => client.manager.consumers.info(stream, consumer))
        )
        return infos.every((info) => info.num_pending === 0 && info.num_ack_pending === 0)
      }).pipe(Effect.orElseSucceed(() => false))
      return Effect.flatMap(
        pending === 0 ? serverIdle : Effect.succeed(false),
        (idle) => (idle && pending === 0 ? Effect.void : Effect.zipRight(Effect.sleep("10 millis"), awaitIdle))
      )
    })

    const stoppedWaiters: Array<() => void> = []
    const stop = (mode: StopMode = "graceful"): Effect.Effect<StopReport> =>
      Effect.suspend(() => {
        if (stopReport !== undefined) return Effect.succeed(stopReport)
        if (state !== "running") {
          return Effect.zipRight(
            Effect.async<void>((resume) => {
              if (state === "stopped") return resume(Effect.void)
              stoppedWaiters.push(() => resume(Effect.void))
            }),
            Effect.sync(() => stopReport!)
          )
        }
        state = "stopping"
        const all = [...handlers.values()]
        handlers.clear()
        return Effect.gen(function*() {
          yield* stopScheduler
          const givenBack = yield* Effect.forEach(all, (worker) => worker.stop(mode), { concurrency: "unbounded" })
          // Acknowledgements are fire-and-forget: make sure the server has them before going.
          yield* attempt("flush", () => client.connection.flush()).pipe(Effect.ignore)
          state = "stopped"
          stopReport = { mode, undelivered: givenBack.reduce((a, b) => a + b, 0), discardedScheduled: 0 }
          for (const wake of stoppedWaiters.splice(0)) wake()
          return stopReport
        })
      })

    yield* Effect.addFinalizer(() => stop(options.onClose ?? "graceful"))

    const service: Service<A> = {
      publish: (event, publishOptions) => Effect.as(publishAll([event], publishOptions), event.eventId),
      publishAll: (events, publishOptions) => publishAll(events, publishOptions),
      publishUnknown: (input, publishOptions) =>
        Effect.suspend(() => {
          const operation = "Dispatcher.publishUnknown"
          const decoded = decode(input)
          if (Either.isLeft(decoded)) return Effect.fail(InvalidInput.fromParseError(operation, decoded.left))
          return Effect.as(publishAll([decoded.right], publishOptions, operation), decoded.right.eventId)
        }),
      register,
      dispatch: (event) =>
        Effect.suspend((): Effect.Effect<ReadonlyArray<Outcome>, InvalidInput | DispatchUnavailable> => {
          const error = check(event, "Dispatcher.dispatch")
          if (error !== undefined) return Effect.fail(error)
          const targets = [...handlers.values()].filter((worker) => worker.config.tags.includes(event._tag))
          return Effect.forEach(targets, (worker) => runDirect(worker, event), { concurrency: "unbounded" })
        }),
      scheduled: Effect.gen(function*() {
        const messages = yield* Topology.readAll(client, topology.streams.delay).pipe(
          Effect.mapError(unavailable("read the scheduled events"))
        )
        const out: Array<ScheduledEvent<A>> = []
        for (const msg of messages) {
          const opened = yield* Effect.either(work.decode(msg.data))
          if (Either.isLeft(opened)) {
            yield* onUnreadable(opened.left)
            continue
          }
          const dueAt = Number(msg.headers?.get(Scheduler.header.due) ?? opened.right.dueAt)
          out.push({ event: opened.right.event, priority: opened.right.priority, dueAt: DateTime.unsafeMake(dueAt) })
        }
        return out.sort((a, b) => DateTime.toEpochMillis(a.dueAt) - DateTime.toEpochMillis(b.dueAt))
      }),
      // Deleted one by one, not purged by subject: on NATS 2.9 a filtered purge also drops the
      // consumer's pending redeliveries, and with them every other scheduled event's timer.
      cancel: (eventId) =>
        attempt("cancel a scheduled event", async () => {
          let cancelled = 0
          for (;;) {
            const stored = await client.manager.streams.getMessage(topology.streams.delay, {
              last_by_subj: topology.delay(eventId)
            }).catch(() => null)
            if (stored === null) return cancelled > 0
            await client.manager.streams.deleteMessage(topology.streams.delay, stored.seq, false)
            cancelled++
          }
        }).pipe(Effect.mapError(unavailable("cancel a scheduled event"))),
      deadLetters: DeadLetters.read(wiring).pipe(Effect.mapError(unavailable("read the dead letters"))),
      redrive: (filter) =>
        Effect.suspend(() => {
          if (state !== "running") return Effect.succeed(0)
          const ids = filter?.ids === undefined ? undefined : new Set(filter.ids)
          return DeadLetters.read(wiring).pipe(
            Effect.map((all) =>
              all.filter((letter) =>
                (filter?.handler === undefined || filter.handler === letter.handler) &&
                (ids === undefined || ids.has(letter.id))
              )
            ),
            Effect.flatMap((letters) => DeadLetters.redrive(wiring, letters, clock.unsafeCurrentTimeMillis())),
            Effect.mapError(unavailable("re-drive"))
          )
        }),
      awaitIdle,
      snapshot: Effect.gen(function*() {
        const scheduled = yield* attempt("read the delay stream", () =>
          client.manager.streams.info(topology.streams.delay)).pipe(
            Effect.map((info) =>
              info.state.messages
            ),
            Effect.orElseSucceed(() => -1)
          )
        const deadLetters = yield* attempt("read the dead-letter stream", () =>
          client.manager.streams.info(topology.streams.deadLetters)).pipe(
            Effect.map((info) =>
              info.state.messages
            ),
            Effect.orElseSucceed(() => -1)
          )
        return {
          dispatcher: name,
          state,
          accepted,
          // Events wait in the stream for the handlers that will take them: none is "unhandled" here.
          unhandled: 0,
          pending,
          scheduled,
          deadLetters,
          handlers: [...handlers.values()].map((worker) => {
            worker.metrics.depth(worker.mailbox.size)
            return worker.metrics.read(worker.config.tags)
          })
        } satisfies Snapshot
      }),
      stop
    }
    return service
  })
