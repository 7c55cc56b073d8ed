/**
 * The logging aspect: `program.pipe(withLogging("Documents.update"))`.
 *
 * @since 0.1.0
 */
import { Documents, EventBus, IdGenerator, NervEvent } from "@nerv/core"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import { describeFailure } from "./internal/failure.js"

/**
 * Logs when an operation starts, how it ended and how long it took, with a request id, a
 * correlation id and a causation id on every log line the operation writes. An operation that runs
 * in no correlation yet (`Documents.withCorrelation`, `Documents.causedBy`) starts one: its request
 * id, which its commands' events then carry, so a log line leads to the events and back. A failure is also published on the bus as `OperationFailed`,
 * with how long the operation ran.
 * Interruption is logged, not published: it is not the operation's failure.
 *
 * @since 0.1.0
 */
export const withLogging = (operation: string) =>
<A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | EventBus.EventBus | IdGenerator.IdGenerator> =>
  Effect.gen(function*() {
    const ids = yield* IdGenerator.IdGenerator
    const requestId = yield* ids.next
    const clock = yield* Effect.clock
    const cause = yield* FiberRef.get(Documents.currentCause)
    const origin = Option.getOrElse(cause, () => ({ correlationId: requestId, causationId: requestId }))
    return yield* Effect.gen(function*() {
      yield* Effect.logInfo(`${operation} started`)
      const start = clock.unsafeCurrentTimeNanos()
      // onExit, not Effect.exit: it also sees the operation being interrupted from outside.
      return yield* Effect.onExit(self, (exit) =>
        Effect.gen(function*() {
          const duration = Duration.nanos(clock.unsafeCurrentTimeNanos() - start)
          const took = `${Duration.toMillis(duration).toFixed(2)} ms`
          if (Exit.isSuccess(exit)) return yield* Effect.logInfo(`${operation} succeeded in ${took}`)
          if (Cause.isInterruptedOnly(exit.cause)) {
            return yield* Effect.logWarning(`${operation} was interrupted after ${took}`)
          }
          const { error, message } = describeFailure(exit.cause)
          yield* Effect.logError(`${operation} failed after ${took}: ${error}: ${message}`)
          const bus = yield* EventBus.EventBus
          yield* bus.publish(
            new NervEvent.OperationFailed({
              eventId: yield* ids.next,
              operation,
              requestId,
              error,
              message,
              duration,
              occurredAt: yield* DateTime.now
            })
          )
        }))
    }).pipe(
      Effect.annotateLogs({
        operation,
        requestId,
        correlationId: origin.correlationId,
        causationId: origin.causationId
      }),
      (program) => Option.isSome(cause) ? program : Effect.locally(program, Documents.currentCause, Option.some(origin))
    )
  })
