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
import type { Errors, Journal } from "@nerv/core"
import { SagaStore } from "@nerv/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { damaged, decodeStored, makeRunner } from "./internal/sagaRunner.js"

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

/**
 * A runner for a saga, resuming from its stored checkpoint and instances.
 *
 * @since 0.1.0
 */
export const runner = <S, I, R>(
  definition: Definition<S, I, R>
): Effect.Effect<Runner<R>, Errors.JournalError, Journal.Journal | SagaStore.SagaStore> => makeRunner(definition)

/**
 * Runs a saga in a fiber of the current scope: polls the journal (and the deadlines) every
 * `pollInterval` (default 50 ms). A failure (the journal unreachable) is logged and retried; the saga
 * never skips an entry. A defect (a stored state that no longer matches its Schema) stops it, logged
 * as an error.
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
      Effect.tapDefect((cause) => Effect.logError(`saga ${definition.name} stopped`, cause)),
      Effect.forkScoped
    )
  })
