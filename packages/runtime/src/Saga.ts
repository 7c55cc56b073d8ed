/**
 * Sagas (process managers): long-running work as a sequence of steps, driven by the journal, with
 * deadlines and compensations.
 *
 * A saga reads the journal by position. An entry may start an instance (`start`) or move one
 * (`react`): a transition gives the instance's new Schema-typed state, the steps to run, and what
 * comes next — wait for another event (with a deadline on Effect's `Clock`), complete, or
 * compensate. A step runs as a reaction to the event that triggered it: its commands carry that
 * event's correlation id and name the event as their cause. A step that still fails after its
 * retries (a `Schedule`), a transition that says so, or a deadline that passes, runs the
 * compensations of the steps done so far, in reverse order.
 *
 * What survives a crash (see docs/sagas.md):
 * - The checkpoint and the instances' states are stored together in one transaction (`SagaStore`),
 *   so the saga resumes after the last entry whose consequence was stored, never skipping one.
 * - Before a step runs, the instance records that it began and the journal's head at that moment;
 *   a step that began but did not finish runs again after a restart, and is told (`committed`) what
 *   the journal already holds of it: the entries its cause caused since it began. A step makes at
 *   most one journal command and skips it when `committed` holds it, so no command runs twice.
 *   Other side effects (notifications) are at least once.
 * - One runner per saga at a time (a second one would race the first).
 *
 * @since 0.1.0
 */
import { type Errors, Journal } from "@nerv/core"
import { Documents } from "@nerv/core"
import { SagaStore } from "@nerv/store"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { describeFailure } from "./internal/failure.js"

/**
 * Where a step's commands come from: the correlation they join and the event that caused them.
 *
 * @since 0.1.0
 */
export interface Origin {
  readonly correlationId: string
  readonly causationId: string
}

/**
 * What a step is told when it runs.
 *
 * @since 0.1.0
 */
export interface StepContext {
  /** The saga and instance the step runs for. */
  readonly saga: string
  readonly key: string
  /** Its cause: its commands carry this correlation id and causation id. */
  readonly origin: Origin
  /**
   * What the journal already holds of this step: the entries its cause caused since the step began.
   * Empty on a first attempt; after a crash or a failed attempt, the command it had committed, which
   * it must not run again.
   */
  readonly committed: ReadonlyArray<Journal.JournalEntry>
  /** Why the instance is being compensated (for a compensation), else `undefined`. */
  readonly reason: string | undefined
}

/**
 * One step: `run` does it, `compensate` (optional) undoes it. Each returns the instance's new state.
 * A step makes at most one journal command, and skips it when `context.committed` shows it done.
 *
 * @since 0.1.0
 */
export interface Step<S, R> {
  readonly run: (state: S, context: StepContext) => Effect.Effect<S, unknown, R>
  readonly compensate?: ((state: S, context: StepContext) => Effect.Effect<S, unknown, R>) | undefined
}

/**
 * What an instance does once its steps have run: wait for another event (until a deadline, after
 * which `onTimeout` decides), complete, or compensate what was done.
 *
 * @since 0.1.0
 */
export type Then =
  | { readonly _tag: "Wait"; readonly deadline?: Duration.DurationInput | undefined }
  | { readonly _tag: "Complete" }
  | { readonly _tag: "Compensate"; readonly reason: string }

/**
 * Wait for another event, at most `deadline` (from now, on Effect's `Clock`).
 *
 * @since 0.1.0
 */
export const wait = (deadline?: Duration.DurationInput): Then => ({ _tag: "Wait", deadline })

/**
 * The instance is done.
 *
 * @since 0.1.0
 */
export const complete: Then = { _tag: "Complete" }

/**
 * Undo the steps done so far, in reverse order, for this reason.
 *
 * @since 0.1.0
 */
export const compensate = (reason: string): Then => ({ _tag: "Compensate", reason })

/**
 * A move of an instance: its new state, the steps to run (in order), then what comes next.
 *
 * @since 0.1.0
 */
export interface Transition<S> {
  readonly state: S
  readonly run?: ReadonlyArray<string> | undefined
  readonly then: Then
}

/**
 * A saga. `start`, `route`, `react` and `onTimeout` must be pure: they decide; the steps act.
 *
 * @since 0.1.0
 */
export interface Definition<S, I, R> {
  /** Its name: the key of its checkpoint and instances. */
  readonly name: string
  /** The Schema of an instance's state: how it is stored. */
  readonly state: Schema.Schema<S, I>
  /** Whether an entry starts an instance: its key (unique per instance) and first transition. */
  readonly start: (entry: Journal.JournalEntry) => (Transition<S> & { readonly key: string }) | undefined
  /** The key of the instance an entry may concern (then `react` decides whether it does). */
  readonly route: (entry: Journal.JournalEntry) => string | undefined
  /** How a waiting instance reacts to an entry routed to it; `undefined`: it does not. */
  readonly react: (state: S, entry: Journal.JournalEntry) => Transition<S> | undefined
  /** What a waiting instance does when its deadline passes. Default: compensate. */
  readonly onTimeout?: ((state: S) => Transition<S>) | undefined
  readonly steps: Readonly<Record<string, Step<S, R>>>
  /** How a failing step (or compensation) is retried before it counts as failed. Default: 3 retries, 100 ms doubling. */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * Defines a saga.
 *
 * @since 0.1.0
 */
export const make = <S, I, R>(definition: Definition<S, I, R>): Definition<S, I, R> => definition

/**
 * Where an instance is: running or waiting (`active`), `completed`, `compensated`, or `failed` (a
 * compensation failed after its retries: a person must look, `reason` says why).
 *
 * @since 0.1.0
 */
export type Status = "active" | "completed" | "compensated" | "failed"

const OriginSchema = Schema.Struct({ correlationId: Schema.String, causationId: Schema.String })
const Work = Schema.Struct({ kind: Schema.Literal("run", "compensate"), step: Schema.String })
const Next = Schema.Union(
  Schema.Struct({ _tag: Schema.Literal("Wait"), deadlineMillis: Schema.optional(Schema.Number) }),
  Schema.Struct({ _tag: Schema.Literal("Complete") }),
  Schema.Struct({ _tag: Schema.Literal("Compensate"), reason: Schema.String }),
  Schema.Struct({ _tag: Schema.Literal("Compensated") })
)

/** An instance as stored (its state encoded by the saga's Schema). */
const Stored = Schema.Struct({
  status: Schema.Literal("active", "completed", "compensated", "failed"),
  state: Schema.Unknown,
  origin: OriginSchema,
  done: Schema.Array(Schema.String),
  work: Schema.Array(Work),
  next: Next,
  pending: Schema.optional(
    Schema.Struct({ kind: Schema.Literal("run", "compensate"), step: Schema.String, from: Schema.Number })
  ),
  waiting: Schema.optional(Schema.Struct({ origin: OriginSchema, deadline: Schema.optional(Schema.Number) })),
  reason: Schema.optional(Schema.String),
  log: Schema.Array(Schema.String)
})
type Stored = typeof Stored.Type
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * An instance as a program sees it.
 *
 * @since 0.1.0
 */
export interface Instance<S> {
  readonly key: string
  readonly status: Status
  readonly state: S
  /** The steps done (and not compensated), in order. */
  readonly done: ReadonlyArray<string>
  /** Why it was compensated or failed. */
  readonly reason: string | undefined
  /** When the instance's wait ends (epoch millis), if it waits with a deadline. */
  readonly deadline: number | undefined
  /** What happened to it, one line per step, compensation or decision, oldest first. */
  readonly log: ReadonlyArray<string>
}

const decodeStored = Schema.decodeUnknown(Stored)
const encodeStored = Schema.encodeSync(Stored)

const damaged = (saga: string, key: string) => (cause: unknown) =>
  new Error(`the stored state of saga ${saga} instance ${key} does not match its schema: ${cause}`)

const toInstance = <S, I, R>(definition: Definition<S, I, R>, stored: SagaStore.StoredInstance) =>
  Effect.gen(function*() {
    const data = yield* decodeStored(stored.data)
    const state = yield* Schema.decodeUnknown(definition.state)(data.state)
    return {
      key: stored.key,
      status: data.status,
      state,
      done: data.done,
      reason: data.reason,
      deadline: data.waiting?.deadline,
      log: data.log
    } satisfies Instance<S>
  }).pipe(Effect.orDieWith(damaged(definition.name, stored.key)))

/**
 * Every instance of a saga, as stored, in key order.
 *
 * @since 0.1.0
 */
export const instances = <S, I, R>(
  definition: Definition<S, I, R>
): Effect.Effect<ReadonlyArray<Instance<S>>, Errors.JournalError, SagaStore.SagaStore> =>
  Effect.flatMap(SagaStore.SagaStore, (store) => store.instances(definition.name)).pipe(
    Effect.flatMap(Effect.forEach((stored) => toInstance(definition, stored)))
  )

/**
 * One instance of a saga, as stored.
 *
 * @since 0.1.0
 */
export const instance = <S, I, R>(
  definition: Definition<S, I, R>,
  key: string
): Effect.Effect<Option.Option<Instance<S>>, Errors.JournalError, SagaStore.SagaStore> =>
  Effect.flatMap(SagaStore.SagaStore, (store) => store.instance(definition.name, key)).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.succeedNone,
      onSome: (stored) => Effect.asSome(toInstance(definition, stored))
    }))
  )

/**
 * A saga's runner: `poll` consumes every journal entry after the checkpoint and fires the
 * deadlines that have passed, running the steps they lead to, and returns when it has caught up.
 *
 * @since 0.1.0
 */
export interface Runner<R> {
  readonly poll: Effect.Effect<void, Errors.JournalError, R>
}

const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential(Duration.millis(100)).pipe(
  Schedule.intersect(Schedule.recurs(3))
)

/**
 * A runner for a saga, resuming from its stored checkpoint and instances.
 *
 * @since 0.1.0
 */
export const runner = <S, I, R>(
  definition: Definition<S, I, R>
): Effect.Effect<Runner<R>, Errors.JournalError, Journal.Journal | SagaStore.SagaStore> =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const store = yield* SagaStore.SagaStore
    const name = definition.name
    const encodeState = Schema.encode(definition.state)
    const decodeState = Schema.decodeUnknown(definition.state)
    const retry = definition.retry ?? defaultRetry
    const progress = yield* store.load(name)
    let position = progress.position
    // The instances not done, by key, as stored (their states decoded on use).
    const active = new Map<string, Mutable<Stored>>()
    for (const stored of progress.active) {
      active.set(stored.key, { ...(yield* Effect.orDieWith(decodeStored(stored.data), damaged(name, stored.key))) })
    }

    const save = (key: string, instance: Stored) =>
      store.save(name, position, [{ key, done: instance.status !== "active", data: encodeStored(instance) }])

    const stateOf = (key: string, instance: Stored) => Effect.orDieWith(decodeState(instance.state), damaged(name, key))
    const withState = (key: string, instance: Mutable<Stored>, state: S) =>
      Effect.map(Effect.orDieWith(encodeState(state), damaged(name, key)), (encoded) => {
        instance.state = encoded
      })

    /** Sets an instance on its way: its new state, its work, and what comes after. */
    const apply = (key: string, instance: Mutable<Stored>, transition: Transition<S>, origin: Origin, why: string) =>
      Effect.gen(function*() {
        yield* withState(key, instance, transition.state)
        instance.origin = origin
        instance.waiting = undefined
        instance.work = [...instance.work, ...(transition.run ?? []).map((step) => ({ kind: "run" as const, step }))]
        instance.log = [...instance.log, why]
        const then = transition.then
        if (then._tag === "Wait") {
          const deadline = then.deadline === undefined ?
            undefined :
            (yield* Clock.currentTimeMillis) + Duration.toMillis(Duration.decode(then.deadline))
          instance.next = { _tag: "Wait", deadlineMillis: deadline }
        } else {
          instance.next = then
        }
      })

    /** Turns to compensation: the steps done, undone in reverse order; then the instance is compensated. */
    const startCompensation = (instance: Mutable<Stored>, reason: string) => {
      instance.reason = reason
      instance.log = [...instance.log, `compensating: ${reason}`]
      instance.work = [...instance.done].reverse()
        .filter((step) => definition.steps[step]?.compensate !== undefined)
        .map((step) => ({ kind: "compensate" as const, step }))
      instance.next = { _tag: "Compensated" }
    }

    const committedSince = (origin: Origin, from: number) =>
      journal.read({ after: from }).pipe(
        Stream.filter((entry) =>
          entry.event.causationId === origin.causationId && entry.event.correlationId === origin.correlationId
        ),
        Stream.runCollect,
        Effect.map((chunk) => Array.from(chunk))
      )

    /** Runs one step (or compensation) with its retries, under its cause, its log annotations and a span. */
    const attempt = (
      key: string,
      instance: Mutable<Stored>,
      kind: "run" | "compensate",
      stepName: string,
      from: number
    ) =>
      Effect.gen(function*() {
        const step = definition.steps[stepName]
        const action = step === undefined ? undefined : kind === "run" ? step.run : step.compensate
        if (action === undefined) {
          return yield* Effect.die(new Error(`saga ${name} has no ${kind} for step ${stepName}`))
        }
        const state = yield* stateOf(key, instance)
        const origin = instance.origin
        const once = Effect.suspend(() =>
          Effect.flatMap(
            committedSince(origin, from),
            (committed) => action(state, { saga: name, key, origin, committed, reason: instance.reason })
          )
        )
        return yield* once.pipe(
          Effect.retry(retry),
          Effect.locally(Documents.currentCause, Option.some(origin)),
          Effect.withSpan(`Saga.${kind === "run" ? "step" : "compensate"}`, {
            attributes: {
              "nerv.saga": name,
              "nerv.saga.instance": key,
              "nerv.saga.step": stepName,
              "nerv.correlation_id": origin.correlationId,
              "nerv.causation_id": origin.causationId
            }
          })
        )
      })

    /** Runs an instance's work until it waits or is done, storing every move. */
    const drive = (key: string, instance: Mutable<Stored>): Effect.Effect<void, Errors.JournalError, R> =>
      Effect.gen(function*() {
        while (instance.work.length > 0) {
          const { kind, step } = instance.work[0]!
          if (instance.pending?.step !== step || instance.pending.kind !== kind) {
            instance.pending = { kind, step, from: yield* journal.head }
            yield* save(key, instance)
          } else {
            // Stored as begun, not as finished: a crash interrupted it.
            instance.log = [...instance.log, `resumed ${kind === "run" ? step : `compensation of ${step}`}`]
          }
          const outcome = yield* Effect.exit(attempt(key, instance, kind, step, instance.pending.from))
          instance.pending = undefined
          instance.work = instance.work.slice(1)
          if (outcome._tag === "Success") {
            yield* withState(key, instance, outcome.value)
            instance.done = kind === "run" ? [...instance.done, step] : instance.done.filter((s) => s !== step)
            instance.log = [...instance.log, kind === "run" ? `ran ${step}` : `compensated ${step}`]
          } else {
            const { error, message } = describeFailure(outcome.cause)
            if (Cause.isInterruptedOnly(outcome.cause)) return yield* Effect.interrupt
            if (kind === "run") {
              yield* Effect.logWarning(
                `saga ${name} ${key}: step ${step} failed after its retries: ${error}: ${message}`
              )
              instance.log = [...instance.log, `step ${step} failed: ${message}`]
              startCompensation(instance, `step ${step} failed: ${message}`)
            } else {
              yield* Effect.logError(
                `saga ${name} ${key}: compensation of ${step} failed after its retries: ${error}: ${message}`
              )
              instance.status = "failed"
              instance.reason = `${instance.reason ?? ""}; compensation of ${step} failed: ${message}`
              instance.log = [...instance.log, `compensation of ${step} failed: ${message}`]
              instance.work = []
              active.delete(key)
              return yield* save(key, instance)
            }
          }
          yield* save(key, instance)
        }
        const next = instance.next
        switch (next._tag) {
          case "Wait": {
            instance.waiting = { origin: instance.origin, deadline: next.deadlineMillis }
            break
          }
          case "Compensate": {
            startCompensation(instance, next.reason)
            yield* save(key, instance)
            return yield* drive(key, instance)
          }
          case "Complete":
          case "Compensated": {
            instance.status = next._tag === "Complete" ? "completed" : "compensated"
            instance.log = [...instance.log, instance.status]
            active.delete(key)
            break
          }
        }
        yield* save(key, instance)
      }).pipe(Effect.annotateLogs({
        saga: name,
        instance: key,
        correlationId: instance.origin.correlationId,
        causationId: instance.origin.causationId
      }))

    /** Fires the deadlines that have passed by `now`, oldest first. */
    const fireDeadlines = (now: number) =>
      Effect.gen(function*() {
        const due = [...active.entries()]
          .filter(([, instance]) =>
            instance.work.length === 0 && instance.waiting?.deadline !== undefined && instance.waiting.deadline <= now
          )
          .sort(([, a], [, b]) => a.waiting!.deadline! - b.waiting!.deadline!)
        for (const [key, instance] of due) {
          const state = yield* stateOf(key, instance)
          const transition = definition.onTimeout?.(state) ??
            { state, then: compensate("no answer before the deadline") }
          yield* apply(key, instance, transition, instance.waiting!.origin, "deadline passed")
          yield* save(key, instance)
          yield* drive(key, instance)
        }
      })

    const consume = (entry: Journal.JournalEntry) =>
      Effect.gen(function*() {
        // A deadline that passed before this entry happened fires first.
        yield* fireDeadlines(entry.event.occurredAt.epochMillis)
        const origin = { correlationId: entry.event.correlationId, causationId: entry.event.eventId }
        const started = definition.start(entry)
        if (started !== undefined && !active.has(started.key)) {
          const instance: Mutable<Stored> = {
            status: "active",
            state: null,
            origin,
            done: [],
            work: [],
            next: { _tag: "Complete" },
            log: []
          }
          active.set(started.key, instance)
          position = entry.position
          yield* apply(started.key, instance, started, origin, `started by #${entry.position} ${entry.event._tag}`)
          yield* save(started.key, instance)
          return yield* drive(started.key, instance)
        }
        const key = definition.route(entry)
        const instance = key === undefined ? undefined : active.get(key)
        if (key !== undefined && instance !== undefined && instance.work.length === 0) {
          const transition = definition.react(yield* stateOf(key, instance), entry)
          if (transition !== undefined) {
            position = entry.position
            yield* apply(key, instance, transition, origin, `#${entry.position} ${entry.event._tag}`)
            yield* save(key, instance)
            return yield* drive(key, instance)
          }
        }
        position = entry.position
      })

    const poll = Effect.gen(function*() {
      // Work a crash interrupted comes first, as it would have.
      for (const [key, instance] of [...active.entries()]) {
        if (instance.work.length > 0 || instance.waiting === undefined) yield* drive(key, instance)
      }
      const before = position
      let saved = position
      yield* journal.read({ after: position }).pipe(
        Stream.runForEach((entry) =>
          Effect.zipRight(
            consume(entry),
            // Entries that concern no instance move the checkpoint once per thousand.
            position - saved >= 1_000
              ? Effect.tap(store.save(name, position, []), () => (saved = position))
              : Effect.void
          )
        )
      )
      if (position !== before) yield* store.save(name, position, [])
      yield* fireDeadlines(yield* Clock.currentTimeMillis)
    })
    return { poll }
  })

/**
 * Runs a saga in a fiber of the current scope: polls the journal every `pollInterval` (default
 * 50 ms), or sooner when a deadline is due. A failure (the journal unreachable) is logged and
 * retried; the saga never skips an entry.
 *
 * @since 0.1.0
 */
export const run = <S, I, R>(
  definition: Definition<S, I, R>,
  options?: { readonly pollInterval?: Duration.DurationInput | undefined }
): Effect.Effect<void, Errors.JournalError, Journal.Journal | SagaStore.SagaStore | Scope.Scope | R> =>
  Effect.gen(function*() {
    const saga = yield* runner(definition)
    const interval = options?.pollInterval ?? Duration.millis(50)
    yield* saga.poll.pipe(
      Effect.tapError((error) => Effect.logWarning(`saga ${definition.name} paused: ${error.message}`)),
      Effect.retry(Schedule.spaced(Duration.seconds(1))),
      Effect.zipRight(Effect.sleep(interval)),
      Effect.forever,
      Effect.forkScoped
    )
  })
