/**
 * How a saga's runner works (see `Saga`): what an instance stores, and the loop that consumes the
 * journal, fires deadlines and drives instances through their steps and compensations.
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
import * as Stream from "effect/Stream"
import type { Definition, Origin, Runner, Transition } from "../Saga.js"
import { describeFailure } from "./failure.js"

const OriginSchema = Schema.Struct({ correlationId: Schema.String, causationId: Schema.String })
const Work = Schema.Struct({ kind: Schema.Literal("run", "compensate"), step: Schema.String })
const Next = Schema.Union(
  Schema.Struct({ _tag: Schema.Literal("Wait"), deadlineMillis: Schema.optional(Schema.Number) }),
  Schema.Struct({ _tag: Schema.Literal("Complete") }),
  Schema.Struct({ _tag: Schema.Literal("Compensate"), reason: Schema.String }),
  Schema.Struct({ _tag: Schema.Literal("Compensated") })
)

/** An instance as stored (its state encoded by the saga's Schema). */
export const Stored = Schema.Struct({
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
export type Stored = typeof Stored.Type
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

export const decodeStored = Schema.decodeUnknown(Stored)
export const encodeStored = Schema.encodeSync(Stored)

export const damaged = (saga: string, key: string) => (cause: unknown) =>
  new Error(`the stored state of saga ${saga} instance ${key} does not match its schema: ${cause}`)

const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential(Duration.millis(100)).pipe(
  Schedule.intersect(Schedule.recurs(3))
)

/** A runner for a saga, resuming from its stored checkpoint and instances (see `Saga.runner`). */
export const makeRunner = <S, I, R>(
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
            { state, then: { _tag: "Compensate" as const, reason: "no answer before the deadline" } }
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
