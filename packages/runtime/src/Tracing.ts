/**
 * The tracing aspect: `program.pipe(withTracing("Documents.update"))`.
 *
 * The document programs open no span of their own: a span costs more than the rest of a command
 * (about 10 µs here), so a host pays for tracing where it wants it, with this aspect, like logging
 * and metrics. Spans go to whatever `Tracer` the host installs (OpenTelemetry through
 * `@effect/opentelemetry`, for one); with none installed they are Effect's in-memory native spans.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { describeFailure } from "./internal/failure.js"

/**
 * Runs a program in a span named `operation`. A failed call's span also carries `error.tag`, the
 * `_tag` of the error it failed with (`"Defect"` for a defect), so traces can be filtered by outcome.
 *
 * @since 0.1.0
 */
export const withTracing =
  (operation: string, attributes?: Record<string, unknown>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.onExit(self, (exit) => {
      if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return Effect.void
      return Effect.annotateCurrentSpan("error.tag", describeFailure(exit.cause).error)
    }).pipe(Effect.withSpan(operation, { attributes: attributes ?? {} }))
