/**
 * The performers of the outbox (see `@nerv/core`'s `Outbox`): one per effect type, registered by a
 * layer (as the seed's `EffectHandler.register_handler`), each run at least once per recorded
 * effect, with the retries of a `Schedule`, across restarts and processes. A process claims the
 * effects it performs for a while (`lease`), so no two processes perform one effect at once, and a
 * crashed process's claims expire; an effect whose performer keeps failing goes to the dead letters,
 * listed and re-driven with `nerv effects`. Each performer is given the effect's id as an idempotency
 * key, so an external system can drop a repeat.
 *
 * @since 0.1.0
 */
import { Notifier, Outbox } from "@nerv/core"
import type { Errors } from "@nerv/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { describeFailure } from "./internal/failure.js"
import * as RetryPlan from "./internal/retryPlan.js"

/**
 * What a performer is given with an effect's value.
 *
 * @since 0.1.0
 */
export interface Attempt {
  /** The idempotency key: the effect's id, the same at every attempt, in every process. */
  readonly key: string
  /** Which attempt this is, from 1. */
  readonly attempt: number
  readonly documentId: string
  /** The document's version the command made. */
  readonly version: number
}

/**
 * A registered performer: what performs one type of effect.
 *
 * @since 0.1.0
 */
export interface Performer {
  readonly type: string
  readonly perform: (effect: Outbox.EffectRecord) => Effect.Effect<void, unknown>
}

/**
 * How performing goes.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * The retries of a failing effect: after its n-th failure, what the schedule says after n steps
   * (read from its start each time, as the attempts may happen in other processes). When it is done,
   * the effect goes to the dead letters. Default: 0.5 s doubling, 10 attempts in all.
   */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * How long a claim holds (default 30 s): a performance taking longer is cut off (and counts as a
   * failure) at half of it, so no claim expires while its effect is being performed.
   */
  readonly lease?: Duration.DurationInput | undefined
  /** How many effects one pass claims (default 256). */
  readonly batch?: number | undefined
  /** How many effects are performed at once (default 16). */
  readonly concurrency?: number | undefined
  /** How often the worker looks for effects other processes recorded (default 1 s). */
  readonly poll?: Duration.DurationInput | undefined
  /** How long the worker lets effects gather before it claims them, once woken (default 10 ms). */
  readonly settle?: Duration.DurationInput | undefined
  /** Told about every effect performed (the test layer records them). */
  readonly onPerformed?: ((effect: Outbox.EffectRecord) => Effect.Effect<void>) | undefined
  /**
   * Performers registered from the start (see `performer`), before any worker looks: a host's own
   * notification performer here replaces the ready-made layers' one.
   */
  readonly performers?: ReadonlyArray<Performer> | undefined
  /**
   * Whether the ready-made layers run a worker in this process (default `true`). Without one, effects
   * are recorded here and performed by other processes on the database (or by `drain`).
   */
  readonly worker?: boolean | undefined
}

/**
 * @since 0.1.0
 */
export interface PerformersService {
  /** Adds (or replaces) the performer of a type. */
  readonly register: (performer: Performer) => Effect.Effect<void>
  /** Adds the performer of a type unless one is registered already. */
  readonly registerDefault: (performer: Performer) => Effect.Effect<void>
  /** The performers, by type. */
  readonly performers: Effect.Effect<ReadonlyMap<string, Performer>>
  /** Who this process is when it claims. */
  readonly owner: string
  readonly options: Options
}

/**
 * The registry of performers and how they run.
 *
 * @since 0.1.0
 */
export class Performers extends Context.Tag("@nerv/runtime/Performers")<Performers, PerformersService>() {}

/**
 * A registry with no performers yet.
 *
 * @since 0.1.0
 */
export const make = (options?: Options): Effect.Effect<PerformersService> =>
  Effect.sync(() => {
    const performers = new Map<string, Performer>()
    for (const performer of options?.performers ?? []) performers.set(performer.type, performer)
    return {
      register: (performer) => Effect.sync(() => void performers.set(performer.type, performer)),
      registerDefault: (performer) =>
        Effect.sync(() => {
          if (!performers.has(performer.type)) performers.set(performer.type, performer)
        }),
      performers: Effect.sync(() => performers),
      owner: crypto.randomUUID(),
      options: options ?? {}
    }
  })

/**
 * The registry (see `Options`). Add performers with `register` layers.
 *
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<Performers> => Layer.effect(Performers, make(options))

/**
 * The effect's value could not be read as its type's Schema: the performer registered for it expects
 * another shape.
 *
 * @since 0.1.0
 */
export class EffectUnreadable extends Schema.TaggedError<EffectUnreadable>()("EffectUnreadable", {
  type: Schema.String,
  details: Schema.String
}) {
  override get message(): string {
    return `the recorded ${this.type} effect does not match its type: ${this.details}`
  }
}

/**
 * Registers the performer of an effect type, as a layer: `perform` gets the decoded value and the
 * attempt (with its idempotency key). A later registration of the same type replaces the earlier.
 *
 * @since 0.1.0
 */
export const register = <A, I, E, R>(
  type: Outbox.EffectType<A, I>,
  perform: (value: A, attempt: Attempt) => Effect.Effect<void, E, R>
): Layer.Layer<never, never, Performers | R> => Layer.effectDiscard(add(type, perform))

/**
 * Registers the performer of an effect type (see `register`), from a program.
 *
 * @since 0.1.0
 */
export const add = <A, I, E, R>(
  type: Outbox.EffectType<A, I>,
  perform: (value: A, attempt: Attempt) => Effect.Effect<void, E, R>
): Effect.Effect<void, never, Performers | R> =>
  Effect.flatMap(
    Effect.zip(Performers, Effect.context<R>()),
    ([registry, context]) =>
      registry.register(performer(type, (value, attempt) => Effect.provide(perform(value, attempt), context)))
  )

/**
 * A performer of an effect type, as a value (for `Options.performers`): `perform` gets the value,
 * decoded by the type's Schema, and the attempt (with its idempotency key).
 *
 * @since 0.1.0
 */
export const performer = <A, I, E>(
  type: Outbox.EffectType<A, I>,
  perform: (value: A, attempt: Attempt) => Effect.Effect<void, E>
): Performer => {
  const decode = Schema.decodeUnknown(type.schema)
  return {
    type: type.name,
    perform: (effect) =>
      decode(effect.payload).pipe(
        Effect.mapError((error) => new EffectUnreadable({ type: type.name, details: error.message })),
        Effect.flatMap((value) =>
          perform(value, {
            key: effect.id,
            attempt: effect.attempts,
            documentId: effect.documentId,
            version: effect.version
          })
        )
      )
  }
}

/**
 * The performer of notifications: the `Notifier` in context tells the person. It does not replace
 * a notification performer registered already (`Options.performers`).
 *
 * @since 0.1.0
 */
export const layerNotify: Layer.Layer<never, never, Performers | Notifier.Notifier> = Layer.effectDiscard(
  Effect.gen(function*() {
    const notifier = yield* Notifier.Notifier
    const registry = yield* Performers
    yield* registry.registerDefault(performer(Outbox.Notify, ({ message, to }) => notifier.notify(to, message)))
  })
)

/**
 * How many effects wait to be performed (pending, retries included), as of the worker's last look.
 *
 * @since 0.1.0
 */
export const outboxDepth = Metric.gauge("nerv_outbox_depth", { description: "effects waiting to be performed" })

/**
 * How long (ms) the oldest pending effect has waited since it was recorded, as of the worker's last look.
 *
 * @since 0.1.0
 */
export const oldestPendingAge = Metric.gauge("nerv_outbox_oldest_pending_age_ms", {
  description: "milliseconds since the oldest pending effect was recorded"
})

/**
 * Effects performed, failed attempts, and effects sent to the dead letters.
 *
 * @since 0.1.0
 */
export const performedCount = Metric.counter("nerv_effects_performed", { incremental: true })

/**
 * @since 0.1.0
 */
export const failedCount = Metric.counter("nerv_effects_failed", { incremental: true })

/**
 * @since 0.1.0
 */
export const deadCount = Metric.counter("nerv_effects_dead", { incremental: true })

const defaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("500 millis").pipe(
  Schedule.intersect(Schedule.recurs(9))
)

/**
 * One pass: claims the due effects this process has performers for (at most `batch`), performs them
 * (`concurrency` at a time), and records what happened. Returns how many it claimed.
 *
 * @since 0.1.0
 */
export const performDue: Effect.Effect<number, Errors.JournalError, Outbox.Outbox | Performers> = Effect.gen(
  function*() {
    const outbox = yield* Outbox.Outbox
    const registry = yield* Performers
    const performers = yield* registry.performers
    if (performers.size === 0) return 0
    const options = registry.options
    const lease = Duration.toMillis(options.lease ?? "30 seconds")
    const now = yield* Clock.currentTimeMillis
    const claimed = yield* outbox.claim({
      owner: registry.owner,
      types: [...performers.keys()],
      limit: options.batch ?? 256,
      now,
      until: now + lease
    })
    if (claimed.length === 0) return 0
    const done: Array<string> = []
    yield* Effect.forEach(claimed, (effect) =>
      performers.get(effect.type)!.perform(effect).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(lease / 2),
          onTimeout: () => `took longer than ${lease / 2} ms (half the claim)`
        }),
        Effect.exit,
        Effect.flatMap((exit) =>
          Exit.isSuccess(exit)
            ? Effect.sync(() => done.push(effect.id))
            : failed(outbox, registry, effect, exit.cause)
        )
      ), { concurrency: options.concurrency ?? 16, discard: true })
    if (done.length > 0) {
      yield* outbox.performed(done, yield* Clock.currentTimeMillis)
      yield* Metric.incrementBy(performedCount, done.length)
      if (options.onPerformed !== undefined) {
        const performed = new Set(done)
        yield* Effect.forEach(
          claimed,
          (effect) => performed.has(effect.id) ? options.onPerformed!(effect) : Effect.void,
          {
            discard: true
          }
        )
      }
    }
    return claimed.length
  }
)

/** Records a failed attempt: tried again when the schedule says, or dead. */
const failed = (
  outbox: Outbox.OutboxService,
  registry: PerformersService,
  effect: Outbox.EffectRecord,
  cause: Cause.Cause<unknown>
) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const plan = yield* RetryPlan.plan(registry.options.schedule ?? defaultSchedule, effect.attempts, cause, now)
    const error = describeFailure(cause).message
    yield* Metric.increment(failedCount)
    if (plan._tag === "GiveUp") {
      yield* Metric.increment(deadCount)
      yield* Effect.logWarning(
        `effect ${effect.id} (${effect.type}) gave up after ${effect.attempts} attempts: ${error}`
      )
    }
    yield* outbox.failed(effect.id, registry.owner, {
      error,
      retryAt: plan._tag === "GiveUp" ? undefined : now + plan.delayMs
    })
  })

/**
 * Performs every due effect, pass after pass, until none is left due (effects waiting for a retry
 * later stay pending). Returns how many it claimed. What tests (and one-shot commands) call.
 *
 * @since 0.1.0
 */
export const drain: Effect.Effect<number, Errors.JournalError, Outbox.Outbox | Performers> = Effect.gen(function*() {
  let total = 0
  while (true) {
    const claimed = yield* performDue
    if (claimed === 0) return total
    total += claimed
  }
})

/** Reads the outbox's pending counts into the gauges. */
const measure = Effect.gen(function*() {
  const counts = yield* Effect.flatMap(Outbox.Outbox, (outbox) => outbox.counts({ pendingOnly: true }))
  const now = yield* Clock.currentTimeMillis
  let depth = 0
  let oldest = now
  for (const count of counts) {
    depth += count.pending
    if (count.oldestPendingAt !== undefined && count.oldestPendingAt < oldest) oldest = count.oldestPendingAt
  }
  yield* Metric.set(outboxDepth, depth)
  yield* Metric.set(oldestPendingAge, now - oldest)
})

/**
 * The worker: performs due effects as they are recorded (this process's at once, other processes'
 * within `poll`), and keeps the outbox gauges. On close it performs what is due once more, for up to
 * `drainOnClose` (default 2 s), so a short-lived process (a CLI command) leaves its effects performed
 * when it can; what it leaves is performed by the next worker on the database.
 *
 * @since 0.1.0
 */
export const layerWorker = (
  options?: { readonly drainOnClose?: Duration.DurationInput | undefined }
): Layer.Layer<never, never, Outbox.Outbox | Performers> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const outbox = yield* Outbox.Outbox
    const registry = yield* Performers
    if (registry.options.worker === false) return
    const poll = registry.options.poll ?? "1 second"
    const settle = registry.options.settle ?? "10 millis"
    const batch = registry.options.batch ?? 256
    const loop = Effect.gen(function*() {
      let measured = 0
      while (true) {
        // A pass finishes once begun (each performance is cut off at half the claim), so that closing
        // never leaves an effect claimed, unperformed, until its claim expires.
        const claimed = yield* Effect.uninterruptible(performDue)
        const now = yield* Clock.currentTimeMillis
        if (claimed === 0 || now - measured >= 1_000) {
          yield* measure
          measured = now
        }
        if (claimed < batch) {
          if (claimed === 0) yield* Effect.race(outbox.recorded, Effect.sleep(poll))
          // A short pause lets the commands arriving meanwhile commit (and their effects join the next
          // claim) instead of a claim between every two group commits: half the commands' throughput
          // under load (measured).
          yield* Effect.sleep(settle)
        }
      }
    }).pipe(
      // A database that cannot be read now is tried again at the next poll.
      Effect.catchAll((error) => Effect.zipRight(Effect.logWarning(`outbox: ${error.message}`), Effect.sleep(poll))),
      Effect.forever
    )
    yield* Effect.addFinalizer(() =>
      drain.pipe(
        Effect.timeout(options?.drainOnClose ?? "2 seconds"),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logWarning(`outbox: ${Cause.pretty(cause)}`)
        ),
        Effect.provideService(Outbox.Outbox, outbox),
        Effect.provideService(Performers, registry)
      )
    )
    yield* Effect.forkScoped(
      Effect.provideService(Effect.provideService(loop, Outbox.Outbox, outbox), Performers, registry)
    )
  }))
