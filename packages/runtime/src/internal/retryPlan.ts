/**
 * A retry `Schedule` read without sleeping: what it says after a number of failures. The NATS
 * dispatcher retries by redelivery, possibly in another process, so no process holds a schedule's
 * state between attempts; instead each failure replays the schedule from its start, with the
 * attempt number JetStream counts (its delivery count). Schedules that count (recurs, exponential,
 * spaced, jittered, their combinations) read the same as in one process; a schedule whose delays
 * depend on the time between its steps sees the steps as immediate.
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"

/**
 * Retry after `delayMs`, or give up.
 *
 * @since 0.1.0
 */
export type Plan = { readonly _tag: "Retry"; readonly delayMs: number } | { readonly _tag: "GiveUp" }

/**
 * What `schedule` says after `failures` failures (the last one with `cause`), at `now`.
 *
 * @since 0.1.0
 */
export const plan = (
  schedule: Schedule.Schedule<unknown, Cause.Cause<unknown>>,
  failures: number,
  cause: Cause.Cause<unknown>,
  now: number
): Effect.Effect<Plan> =>
  Effect.gen(function*() {
    let state = schedule.initial
    let delayMs = 0
    for (let i = 0; i < failures; i++) {
      const [next, , decision] = yield* schedule.step(now, cause, state)
      if (ScheduleDecision.isDone(decision)) return { _tag: "GiveUp" } as const
      state = next
      delayMs = Math.max(0, ScheduleIntervals.start(decision.intervals) - now)
    }
    return { _tag: "Retry", delayMs } as const
  })
