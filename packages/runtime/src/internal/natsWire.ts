/**
 * What the NATS dispatcher puts on the wire, as Schemas: the work envelope (the event, its
 * priority, when it was published and when it is due) and the dead-letter record (the envelope's
 * event with its handler, attempts and cause). Both are sealed by the wire codec; only routing
 * metadata (subjects, event ids, due times) travels in clear, in subjects and headers.
 */
import * as Schema from "effect/Schema"

/**
 * A failure that came over the wire: the original's `_tag` and `message`, as an `Error` so that
 * `Cause.pretty` and `Cause.squash` show it.
 *
 * @since 0.1.0
 */
export class RemoteFailure extends Error {
  constructor(readonly _tag: string, message: string) {
    super(message)
    this.name = _tag
  }
}

const messageOf = (value: object): string =>
  "message" in value && typeof value.message === "string" ? value.message : String(value)

/** Typed failures keep their tag and message; errors their name and message; primitives stay. */
const WireFailure = Schema.transform(Schema.Unknown, Schema.Unknown, {
  strict: true,
  decode: (encoded) => {
    if (typeof encoded !== "object" || encoded === null) return encoded
    if ("_tag" in encoded && typeof encoded._tag === "string") {
      return new RemoteFailure(encoded._tag, messageOf(encoded))
    }
    const error = new Error(messageOf(encoded))
    if ("name" in encoded && typeof encoded.name === "string") error.name = encoded.name
    return error
  },
  encode: (failure) => {
    if (failure === null || ["string", "number", "boolean"].includes(typeof failure)) return failure
    if (typeof failure === "object") {
      if ("_tag" in failure && typeof failure._tag === "string") {
        return { _tag: failure._tag, message: messageOf(failure) }
      }
      if (failure instanceof Error) return { name: failure.name, message: failure.message }
    }
    return String(failure)
  }
})

/**
 * A handler's `Cause`, as it crosses the wire.
 *
 * @since 0.1.0
 */
export const WireCause = Schema.Cause({ error: WireFailure, defect: WireFailure })

/**
 * The body of a work message.
 *
 * @since 0.1.0
 */
export const WorkEnvelope = <A, I>(event: Schema.Schema<A, I>) =>
  Schema.Struct({
    event,
    priority: Schema.Number,
    /** Epoch milliseconds when it was published. */
    publishedAt: Schema.Number,
    /** Epoch milliseconds when it is due, for delayed and scheduled events. */
    dueAt: Schema.optional(Schema.Number)
  })

/**
 * @since 0.1.0
 */
export interface WorkEnvelope<A> {
  readonly event: A
  readonly priority: number
  readonly publishedAt: number
  readonly dueAt?: number | undefined
}

/**
 * The body of a dead letter.
 *
 * @since 0.1.0
 */
export const DeadLetterRecord = <A, I>(event: Schema.Schema<A, I>) =>
  Schema.Struct({
    event,
    handler: Schema.String,
    priority: Schema.Number,
    attempts: Schema.Number,
    failedAt: Schema.Number,
    cause: WireCause
  })

/**
 * The channels the codecs bind messages to: a message sealed for one does not open as the other.
 *
 * @since 0.1.0
 */
export const channels = {
  work: (prefix: string) => `${prefix}.work`,
  deadLetters: (prefix: string) => `${prefix}.dlq`
}
