/**
 * Everything that travels on NERV's bus: the document events, and the system's own events.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { DocumentEvent } from "./DocumentEvent.js"

/**
 * An operation failed. Published by the logging aspect so that failures can be watched like any
 * other event; `duration` is how long the operation ran before it failed (milliseconds on a wire).
 *
 * @since 0.1.0
 */
export class OperationFailed extends Schema.TaggedClass<OperationFailed>()("OperationFailed", {
  eventId: Schema.UUID,
  operation: Schema.String,
  requestId: Schema.String,
  error: Schema.String,
  message: Schema.String,
  duration: Schema.DurationFromMillis,
  occurredAt: Schema.DateTimeUtc
}) {}

/**
 * Every event on the bus.
 *
 * @since 0.1.0
 */
export const NervEvent = Schema.Union(DocumentEvent, OperationFailed)

/**
 * @since 0.1.0
 */
export type NervEvent = typeof NervEvent.Type
