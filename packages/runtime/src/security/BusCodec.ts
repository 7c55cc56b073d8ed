/**
 * Encryption in transit: how an event leaves the process as bytes (for a wire such as NATS) and
 * comes back. Sealed messages are `Cipher` envelopes under the active master key, bound to the
 * channel they were sent on, so a message replayed onto another channel does not open. A sealed
 * codec refuses clear messages, since anyone on the wire could forge those.
 *
 * Not covered: replay of a captured message on its own channel. Events carry unique ids, so a
 * receiver that must not apply one twice deduplicates by `eventId`.
 *
 * @since 0.1.0
 */
import { NervEvent } from "@nerv/core"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Cipher } from "./Cipher.js"

/**
 * A message from the wire that is not a readable event: it does not open, or it is not an event.
 *
 * @since 0.1.0
 */
export class MessageUnreadable extends Data.TaggedError("MessageUnreadable")<{
  readonly channel: string
  readonly reason: string
}> {
  override get message(): string {
    return `a message on ${this.channel} was refused: ${this.reason}`
  }
}

/**
 * @since 0.1.0
 */
export interface BusCodecService {
  readonly encode: (event: NervEvent.NervEvent) => Effect.Effect<Uint8Array>
  readonly decode: (bytes: Uint8Array) => Effect.Effect<NervEvent.NervEvent, MessageUnreadable>
}

/**
 * The codec of the events that cross a process boundary.
 *
 * @since 0.1.0
 */
export class BusCodec extends Context.Tag("@nerv/runtime/BusCodec")<BusCodec, BusCodecService>() {}

/**
 * The channel a codec serves when none is named.
 *
 * @since 0.1.0
 */
export const defaultChannel = "nerv.events"

const Json = Schema.parseJson(NervEvent.NervEvent)
const encodeJson = Schema.encodeSync(Json)
const decodeJson = Schema.decodeUnknownEither(Json, { onExcessProperty: "error", errors: "all" })

const textDecoder = new TextDecoder("utf-8", { fatal: true })

const toEvent = (channel: string, bytes: Uint8Array) =>
  Effect.suspend(() => {
    let text: string
    try {
      text = textDecoder.decode(bytes)
    } catch {
      return Effect.fail(new MessageUnreadable({ channel, reason: "the message is not UTF-8 text" }))
    }
    return Effect.mapError(
      decodeJson(text),
      (error) =>
        new MessageUnreadable({
          channel,
          reason: `not an event:\n${ParseResult.TreeFormatter.formatErrorSync(error)}`
        })
    )
  })

const aadOf = (channel: string) => Buffer.from(`nerv/bus/v1\0${channel}`)

/**
 * A sealing codec for one channel, over the `Cipher` in context.
 *
 * @since 0.1.0
 */
export const make = (options?: { readonly channel?: string | undefined }) =>
  Effect.map(Cipher, (cipher): BusCodecService => {
    const channel = options?.channel ?? defaultChannel
    const aad = aadOf(channel)
    return {
      encode: (event) => Effect.suspend(() => cipher.seal(Buffer.from(encodeJson(event)), aad)),
      decode: (bytes) =>
        cipher.open(bytes, aad).pipe(
          Effect.mapError((error) => new MessageUnreadable({ channel, reason: error.reason })),
          Effect.flatMap((plaintext) => toEvent(channel, plaintext))
        )
    }
  })

/**
 * A codec that does not encrypt: JSON bytes. Only for debugging; `layerPlaintext` warns.
 *
 * @since 0.1.0
 */
export const makePlaintext = (options?: { readonly channel?: string | undefined }): BusCodecService => {
  const channel = options?.channel ?? defaultChannel
  return {
    encode: (event) => Effect.sync(() => Buffer.from(encodeJson(event))),
    decode: (bytes) =>
      bytes[0] === 1
        ? Effect.fail(
          new MessageUnreadable({ channel, reason: "the message is sealed and this codec has encryption off" })
        )
        : toEvent(channel, bytes)
  }
}

/**
 * The sealing bus codec.
 *
 * @since 0.1.0
 */
export const layer = (options?: { readonly channel?: string | undefined }): Layer.Layer<BusCodec, never, Cipher> =>
  Layer.effect(BusCodec, make(options))

/**
 * The clear-text bus codec, after a warning at start.
 *
 * @since 0.1.0
 */
export const layerPlaintext = (options?: { readonly channel?: string | undefined }): Layer.Layer<BusCodec> =>
  Layer.effect(
    BusCodec,
    Effect.as(
      Effect.logWarning("encryption in transit is OFF: events leave the process in clear text. Debugging only."),
      makePlaintext(options)
    )
  )
