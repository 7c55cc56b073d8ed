/**
 * The dispatcher's implementation; its public face, types and documentation are `Dispatcher.ts`.
 */
import { Errors, type EventBus as Port } from "@nerv/core"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type {
  DeadLetter,
  Options,
  Outcome,
  PublishOptions,
  Service,
  Snapshot,
  StopMode,
  StopReport
} from "../Dispatcher.js"
import { HandlerMetrics } from "./dispatcherMetrics.js"
import { TimerHeap } from "./timerHeap.js"
import { type Envelope, HandlerTimeout as Timeout, Worker } from "./worker.js"

type BusEvent = Port.BusEvent
const InvalidInput = Errors.InvalidInput
type InvalidInput = Errors.InvalidInput

/**
 * The defaults the public module documents.
 *
 * @since 0.1.0
 */
export const defaults = {
  priority: 0,
  capacity: 16_384,
  timeout: Duration.seconds(30),
  retry: Schedule.exponential("100 millis").pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(3))
  ) as Schedule.Schedule<unknown, Cause.Cause<unknown>>,
  deadLetterCapacity: 10_000
}
const defaultPriority = defaults.priority
const defaultCapacity = defaults.capacity
const defaultTimeout = defaults.timeout
const defaultRetry = defaults.retry
const defaultDeadLetterCapacity = defaults.deadLetterCapacity

let instances = 0

/**
 * The event ids seen within a window, in two generations: an id is remembered for at least the
 * window and at most twice it, at O(1) per event.
 */
class RecentIds {
  private current = new Set<string>()
  private previous = new Set<string>()
  private rotatedAt = Number.NEGATIVE_INFINITY
  constructor(private readonly windowMs: number) {}
  /** Records the id; whether it was new. */
  add(id: string, now: number): boolean {
    if (now - this.rotatedAt >= this.windowMs) {
      this.previous = now - this.rotatedAt >= 2 * this.windowMs ? new Set() : this.current
      this.current = new Set()
      this.rotatedAt = now
    }
    if (this.current.has(id) || this.previous.has(id)) return false
    this.current.add(id)
    return true
  }
}

/**
 * When an event published with these options is due (epoch milliseconds), if it is delayed or
 * scheduled; `InvalidInput` for options that make no sense.
 *
 * @since 0.1.0
 */
export const toDueAt = (options: PublishOptions | undefined, now: number): number | InvalidInput | undefined => {
  if (options?.delay !== undefined && options.at !== undefined) {
    return new InvalidInput({ operation: "Dispatcher.publish", details: "give either `delay` or `at`, not both" })
  }
  if (options?.delay !== undefined) {
    const delay = Duration.decodeUnknown(options.delay)
    if (delay._tag === "None" || !Duration.isFinite(delay.value)) {
      return new InvalidInput({ operation: "Dispatcher.publish", details: "`delay` must be a finite duration" })
    }
    return now + Duration.toMillis(delay.value)
  }
  if (options?.at !== undefined) {
    const at = options.at
    const millis = typeof at === "number" ? at : at instanceof Date ? at.getTime() : DateTime.toEpochMillis(at)
    if (!Number.isFinite(millis)) {
      return new InvalidInput({ operation: "Dispatcher.publish", details: "`at` must be a valid time" })
    }
    return millis
  }
  return undefined
}

/**
 * What is wrong with the shape of something offered as an event, if anything.
 *
 * @since 0.1.0
 */
export const shapeError = (event: unknown): string | undefined => {
  if (typeof event !== "object" || event === null) return `expected an event object, got ${typeof event}`
  const { _tag, eventId } = event as { readonly _tag?: unknown; readonly eventId?: unknown }
  if (typeof _tag !== "string") return "the event has no string `_tag`"
  if (typeof eventId !== "string") return "the event has no string `eventId`"
  return undefined
}

/**
 * See `Dispatcher.make`.
 *
 * @since 0.1.0
 */
export const make = <A extends BusEvent>(options?: Options<A>): Effect.Effect<Service<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const name = options?.name ?? `dispatcher-${++instances}`
    const validate = options?.schema === undefined ? undefined : Schema.validateEither(options.schema)
    const decode = options?.schema === undefined ? undefined : Schema.decodeUnknownEither(options.schema)
    const deadLetterCapacity = options?.deadLetterCapacity ?? defaultDeadLetterCapacity

    let state: "running" | "stopping" | "stopped" = "running"
    let seq = 0
    let accepted = 0
    let unhandled = 0
    let pending = 0
    let idleWaiters: Array<() => void> = []
    let registered = 0
    const workers = new Map<string, { readonly worker: Worker<A>; readonly fiber: Fiber.RuntimeFiber<void> }>()
    let routes = new Map<string, ReadonlyArray<Worker<A>>>()
    const timers = new TimerHeap<A>()
    let deadLetters: Array<DeadLetter<A>> = []
    let deadLetterIds = 0
    let stopReport: StopReport | undefined = undefined
    const dedupe = options?.duplicateWindow === undefined
      ? undefined
      : new RecentIds(Duration.toMillis(options.duplicateWindow))

    const settled = (count: number) => {
      pending -= count
      if (pending === 0 && idleWaiters.length > 0) {
        const waiters = idleWaiters
        idleWaiters = []
        for (const wake of waiters) wake()
      }
    }

    const hooks = {
      clock,
      settled,
      deadLetter: (handler: string, envelope: Envelope<A>, cause: Cause.Cause<unknown>, attempts: number) => {
        deadLetters.push({
          id: ++deadLetterIds,
          event: envelope.event,
          handler,
          priority: envelope.priority,
          cause,
          attempts,
          failedAt: DateTime.unsafeMake(clock.unsafeCurrentTimeMillis())
        })
        if (deadLetters.length > deadLetterCapacity) deadLetters.shift()
      }
    }

    const rebuildRoutes = () => {
      const next = new Map<string, Array<Worker<A>>>()
      for (const { worker } of workers.values()) {
        for (const tag of worker.config.tags) {
          const list = next.get(tag)
          if (list === undefined) next.set(tag, [worker])
          else list.push(worker)
        }
      }
      routes = next
    }

    const check = (event: A, operation: string): InvalidInput | undefined => {
      const shape = shapeError(event)
      if (shape !== undefined) return new InvalidInput({ operation, details: shape })
      if (validate === undefined) return undefined
      const result = validate(event)
      return Either.isLeft(result) ? InvalidInput.fromParseError(operation, result.left) : undefined
    }

    // Hands events to their handlers' queues. Everything between the room check and the last push
    // is synchronous, so every queue receives events in `seq` order and the (priority, seq) order
    // holds per handler, whatever the interleaving of publishers.
    const enqueue = (events: ReadonlyArray<A>, priority: number, only?: Worker<A>): Effect.Effect<void> => {
      let i = 0
      const step = (): Effect.Effect<void> => {
        const now = Number(clock.unsafeCurrentTimeNanos())
        while (i < events.length) {
          if (state !== "running") return Effect.interrupt
          const event = events[i]!
          // A re-drive's handler may have been removed while the re-drive waited for room.
          const targets = only === undefined ? routes.get(event._tag) : only.mailbox.closed ? undefined : [only]
          if (targets === undefined || targets.length === 0) {
            accepted++
            unhandled++
            i++
            continue
          }
          for (let t = 0; t < targets.length; t++) {
            const mailbox = targets[t]!.mailbox
            if (mailbox.mustWait) return Effect.flatMap(mailbox.awaitRoom, step)
          }
          const envelope: Envelope<A> = { event, priority, seq: seq++, acceptedAt: now }
          accepted++
          pending += targets.length
          for (let t = 0; t < targets.length; t++) targets[t]!.offer(envelope)
          i++
        }
        return Effect.void
      }
      return Effect.suspend(step)
    }

    // The scheduler: sleeps (on the Clock) until the earliest timer, then dispatches what is due
    // with its own priority. `timerVersion` lets a new earlier timer wake it even if it was added
    // while the scheduler was between checking and sleeping.
    let timerVersion = 0
    let wakeScheduler: (() => void) | undefined = undefined
    const schedulerLoop: Effect.Effect<void> = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      const due = timers.takeDue(now)
      if (due.length > 0) {
        return Effect.zipRight(
          Effect.forEach(due, (timer) => enqueue([timer.event], timer.priority), { discard: true }),
          schedulerLoop
        )
      }
      const version = timerVersion
      const wake = Effect.async<void>((resume) => {
        if (timerVersion !== version) return resume(Effect.void)
        wakeScheduler = () => resume(Effect.void)
        return Effect.sync(() => {
          wakeScheduler = undefined
        })
      })
      const next = timers.peek()
      return Effect.zipRight(
        next === undefined ? wake : Effect.raceFirst(wake, Effect.sleep(Duration.millis(next.dueAt - now))),
        schedulerLoop
      )
    })
    const scheduler = yield* Effect.forkDaemon(schedulerLoop)

    const publishAll = (events: Iterable<A>, publishOptions?: PublishOptions, operation = "Dispatcher.publish") =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<string>, InvalidInput> => {
        if (state !== "running") return Effect.interrupt
        const batch: ReadonlyArray<A> = Array.isArray(events) ? events : Array.from(events)
        const priority = publishOptions?.priority ?? defaultPriority
        if (!Number.isFinite(priority)) {
          return Effect.fail(
            new InvalidInput({ operation, details: `priority must be a finite number, got ${priority}` })
          )
        }
        for (let i = 0; i < batch.length; i++) {
          const error = check(batch[i]!, operation)
          if (error !== undefined) return Effect.fail(error)
        }
        const ids = batch.map((event) => event.eventId)
        const now = clock.unsafeCurrentTimeMillis()
        const dueAt = toDueAt(publishOptions, now)
        if (dueAt instanceof InvalidInput) return Effect.fail(dueAt)
        const fresh = dedupe === undefined ? batch : batch.filter((event) => dedupe.add(event.eventId, now))
        if (dueAt !== undefined && dueAt > now) {
          for (const event of fresh) {
            timers.add({ event, eventId: event.eventId, priority, dueAt, seq: seq++, cancelled: false })
          }
          timerVersion++
          wakeScheduler?.()
          return Effect.succeed(ids)
        }
        return Effect.as(enqueue(fresh, priority), ids)
      })

    const register: Service<A>["register"] = (tags, handler, handlerOptions) =>
      Effect.suspend(() => {
        if (state !== "running") return Effect.dieMessage(`dispatcher ${name} is stopped; it takes no new handlers`)
        const tagList: ReadonlyArray<string> = typeof tags === "string" ? [tags] : [...(tags as ReadonlyArray<string>)]
        const handlerName = handlerOptions?.name ?? `${tagList.join("|")}#${++registered}`
        if (workers.has(handlerName)) {
          return Effect.dieMessage(`dispatcher ${name} already has a handler named ${handlerName}`)
        }
        const capacity = handlerOptions?.capacity ?? options?.capacity ?? defaultCapacity
        if (!Number.isInteger(capacity) || capacity < 1) {
          return Effect.dieMessage(`handler ${handlerName}: capacity must be a positive integer, got ${capacity}`)
        }
        const timeout = handlerOptions?.timeout ?? options?.timeout
        const worker = new Worker<A>(
          {
            name: handlerName,
            tags: tagList,
            handle: handler as (event: A) => Effect.Effect<unknown, unknown>,
            capacity,
            strategy: handlerOptions?.strategy ?? options?.strategy ?? "backpressure",
            timeout: timeout === undefined ? defaultTimeout : Duration.decode(timeout),
            retry: handlerOptions?.retry ?? options?.retry ?? defaultRetry
          },
          new HandlerMetrics(name, handlerName),
          hooks
        )
        // Daemon fibers: the dispatcher, not the caller of `register`, decides when they end.
        return Effect.map(
          Effect.forkDaemon(
            worker.supervise.pipe(Effect.tapErrorCause((cause) => Effect.logError(`handler ${handlerName}`, cause)))
          ),
          (fiber) => {
            workers.set(handlerName, { worker, fiber })
            rebuildRoutes()
            return remove(handlerName, worker)
          }
        )
      })

    const remove = (handlerName: string, worker: Worker<A>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const entry = workers.get(handlerName)
        if (entry === undefined || entry.worker !== worker) return Effect.void
        workers.delete(handlerName)
        rebuildRoutes()
        worker.mailbox.close()
        return Fiber.await(entry.fiber)
      })

    const runDirect = (worker: Worker<A>, event: A): Effect.Effect<Outcome> =>
      Effect.suspend(() => {
        const { metrics: m, config } = worker
        let attempts = 0
        const once = Effect.suspend(() => {
          if (attempts++ > 0) m.retried()
          return config.handle(event)
        }).pipe(
          config.timeout === undefined || !Duration.isFinite(config.timeout) ? identity : Effect.timeoutFailCause({
            duration: config.timeout,
            onTimeout: () => Cause.fail(new Timeout({ handler: config.name, timeout: config.timeout! }))
          }),
          Effect.sandbox,
          Effect.tapError(() => Effect.sync(() => m.failed()))
        )
        return Effect.retry(once, config.retry).pipe(
          Effect.match({
            onSuccess: (): Outcome => {
              m.delivered()
              return { handler: config.name, status: "delivered", attempts }
            },
            onFailure: (cause): Outcome => {
              m.deadLettered()
              const envelope = { event, priority: defaultPriority, seq: -1, acceptedAt: 0 }
              hooks.deadLetter(config.name, envelope, cause, attempts)
              return { handler: config.name, status: "dead-lettered", attempts }
            }
          })
        )
      })

    const stop = (mode: StopMode = "graceful"): Effect.Effect<StopReport> =>
      Effect.suspend(() => {
        if (stopReport !== undefined) return Effect.succeed(stopReport)
        if (state !== "running") return Effect.zipRight(awaitStopped, Effect.sync(() => stopReport!))
        state = "stopping"
        const discardedScheduled = timers.clear().length
        const all = [...workers.values()]
        for (const { worker } of all) worker.mailbox.close()
        const handlers = all.map(({ fiber }) => fiber)
        return Effect.gen(function*() {
          yield* Fiber.interrupt(scheduler)
          if (discardedScheduled > 0) {
            yield* Effect.logWarning(
              `dispatcher ${name} stopped with ${discardedScheduled} scheduled events not yet due`
            )
          }
          let undelivered = 0
          if (mode === "graceful") {
            yield* Fiber.awaitAll(handlers)
          } else {
            yield* Fiber.interruptAll(handlers)
            for (const { worker } of all) undelivered += worker.abandon()
            settled(undelivered)
          }
          workers.clear()
          routes = new Map()
          state = "stopped"
          stopReport = { mode, undelivered, discardedScheduled }
          for (const wake of stoppedWaiters.splice(0)) wake()
          return stopReport
        })
      })
    const stoppedWaiters: Array<() => void> = []
    const awaitStopped = Effect.async<void>((resume) => {
      if (state === "stopped") return resume(Effect.void)
      stoppedWaiters.push(() => resume(Effect.void))
    })

    yield* Effect.addFinalizer(() => stop(options?.onClose ?? "graceful"))

    const service: Service<A> = {
      publish: (event, publishOptions) => Effect.as(publishAll([event], publishOptions), event.eventId),
      publishAll: (events, publishOptions) => publishAll(events, publishOptions),
      publishUnknown: (input, publishOptions) =>
        Effect.suspend(() => {
          const operation = "Dispatcher.publishUnknown"
          if (decode === undefined) {
            const shape = shapeError(input)
            if (shape !== undefined) return Effect.fail(new InvalidInput({ operation, details: shape }))
            return Effect.as(publishAll([input as A], publishOptions, operation), (input as A).eventId)
          }
          const decoded = decode(input)
          if (Either.isLeft(decoded)) return Effect.fail(InvalidInput.fromParseError(operation, decoded.left))
          return Effect.as(publishAll([decoded.right], publishOptions, operation), decoded.right.eventId)
        }),
      register,
      dispatch: (event) =>
        Effect.suspend(() => {
          const error = check(event, "Dispatcher.dispatch")
          if (error !== undefined) return Effect.fail(error)
          const targets = routes.get(event._tag) ?? []
          return Effect.forEach(targets, (worker) => runDirect(worker, event), { concurrency: "unbounded" })
        }),
      scheduled: Effect.sync(() =>
        timers.toArray().map((timer) => ({
          event: timer.event,
          priority: timer.priority,
          dueAt: DateTime.unsafeMake(timer.dueAt)
        }))
      ),
      cancel: (eventId) => Effect.sync(() => timers.cancel(eventId) > 0),
      deadLetters: Effect.sync(() => deadLetters.slice()),
      redrive: (filter) =>
        Effect.suspend(() => {
          if (state !== "running") return Effect.succeed(0)
          const ids = filter?.ids === undefined ? undefined : new Set(filter.ids)
          const chosen: Array<{ readonly letter: DeadLetter<A>; readonly worker: Worker<A> }> = []
          const kept: Array<DeadLetter<A>> = []
          for (const letter of deadLetters) {
            const worker = workers.get(letter.handler)?.worker
            const wanted = (filter?.handler === undefined || filter.handler === letter.handler) &&
              (ids === undefined || ids.has(letter.id))
            if (wanted && worker !== undefined) chosen.push({ letter, worker })
            else kept.push(letter)
          }
          deadLetters = kept
          return Effect.as(
            Effect.forEach(chosen, ({ letter, worker }) => enqueue([letter.event], letter.priority, worker), {
              discard: true
            }),
            chosen.length
          )
        }),
      awaitIdle: Effect.async<void>((resume) => {
        if (pending === 0) return resume(Effect.void)
        const wake = () => resume(Effect.void)
        idleWaiters.push(wake)
        return Effect.sync(() => {
          idleWaiters = idleWaiters.filter((w) => w !== wake)
        })
      }),
      snapshot: Effect.sync((): Snapshot => ({
        dispatcher: name,
        state,
        accepted,
        unhandled,
        pending,
        scheduled: timers.size,
        deadLetters: deadLetters.length,
        handlers: [...workers.values()].map(({ worker }) => {
          worker.metrics.depth(worker.mailbox.size)
          return worker.metrics.read(worker.config.tags)
        })
      })),
      stop
    }
    return service
  })
