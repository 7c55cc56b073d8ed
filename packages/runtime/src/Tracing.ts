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
 * Runs a program in a span named `operation`, with the attributes:
 *
 * - `nerv.operation`: the operation's name;
 * - `nerv.outcome`: `succeeded`, `failed` or `interrupted`;
 * - `error.tag`, on a failed call: the `_tag` of the error it failed with (`"Defect"` for a defect),
 *   so traces can be filtered by outcome;
 * - for a document command that committed: `nerv.document_id`, `nerv.version`,
 *   `nerv.correlation_id` and `nerv.causation_id` (set by the commit itself);
 * - the host's own `attributes`.
 *
 * @since 0.1.0
 */
export const withTracing =
  (operation: string, attributes?: Record<string, unknown>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.onExit(self, (exit) => {
      if (Exit.isSuccess(exit)) return Effect.annotateCurrentSpan(outcomeAttribute, "succeeded")
      if (Cause.isInterruptedOnly(exit.cause)) return Effect.annotateCurrentSpan(outcomeAttribute, "interrupted")
      return Effect.annotateCurrentSpan({
        [outcomeAttribute]: "failed",
        "error.tag": describeFailure(exit.cause).error
      })
    }).pipe(Effect.withSpan(operation, { attributes: { ...attributes, [operationAttribute]: operation } }))

/**
 * The span attribute naming the operation a `withTracing` span traces.
 *
 * @since 0.1.0
 */
export const operationAttribute = "nerv.operation"

/**
 * The span attribute saying how the call ended: `succeeded`, `failed` or `interrupted`.
 *
 * @since 0.1.0
 */
export const outcomeAttribute = "nerv.outcome"
