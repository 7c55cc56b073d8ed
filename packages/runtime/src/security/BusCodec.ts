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
import { Input, NervEvent } from "@nerv/core"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Cipher, type CipherService } from "./Cipher.js"

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
 * How values of type `A` cross a wire: to bytes and back. `decode` never dies, whatever the bytes.
 *
 * @since 0.1.0
 */
export interface Codec<A> {
  readonly encode: (value: A) => Effect.Effect<Uint8Array>
  readonly decode: (bytes: Uint8Array) => Effect.Effect<A, MessageUnreadable>
  /** Whether the bytes are sealed (false only for the debugging plaintext codec). */
  readonly sealed: boolean
}

/**
 * @since 0.1.0
 */
export interface BusCodecService extends Codec<NervEvent.NervEvent> {}

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

const textDecoder = new TextDecoder("utf-8", { fatal: true })

const jsonCodec = <A, I>(schema: Schema.Schema<A, I>, channel: string) => {
  const json = Schema.parseJson(schema)
  const encode = Schema.encodeSync(json)
  const decode = Schema.decodeUnknownEither(json, { onExcessProperty: "error", errors: "all" })
  return {
    encode: (value: A): Uint8Array => Buffer.from(encode(value)),
    decode: (bytes: Uint8Array): Effect.Effect<A, MessageUnreadable> =>
      Effect.suspend(() => {
        let text: string
        try {
          text = textDecoder.decode(bytes)
        } catch {
          return Effect.fail(new MessageUnreadable({ channel, reason: "the message is not UTF-8 text" }))
        }
        // Decoding and explaining JSON nested thousands deep exhausts the stack: refused first.
        if (Input.jsonTooDeep(text)) {
          return Effect.fail(
            new MessageUnreadable({ channel, reason: "not a readable message: its JSON is nested too deep to read" })
          )
        }
        let decoded: ReturnType<typeof decode>
        try {
          decoded = decode(text)
        } catch {
          return Effect.fail(new MessageUnreadable({ channel, reason: "not a readable message: it cannot be read" }))
        }
        return Effect.mapError(
          decoded,
          (error) => new MessageUnreadable({ channel, reason: `not a readable message:\n${Input.explain(error)}` })
        )
      })
  }
}

const aadOf = (channel: string) => Buffer.from(`nerv/bus/v1\0${channel}`)

/**
 * A sealing codec for the values of any schema on one channel, over the `Cipher` in context: JSON
 * (the schema's encoded form), sealed with AAD naming the channel. What crosses a process boundary
 * besides NERV's events (the dispatcher's envelopes, dead letters) goes through one of these.
 *
 * @since 0.1.0
 */
export const makeFor = <A, I>(schema: Schema.Schema<A, I>, options?: { readonly channel?: string | undefined }) =>
  Effect.map(Cipher, (cipher) => sealedCodec(cipher, schema, options?.channel ?? defaultChannel))

const sealedCodec = <A, I>(cipher: CipherService, schema: Schema.Schema<A, I>, channel: string): Codec<A> => {
  const aad = aadOf(channel)
  const json = jsonCodec(schema, channel)
  return {
    sealed: true,
    encode: (value) => Effect.suspend(() => cipher.seal(json.encode(value), aad)),
    decode: (bytes) =>
      cipher.open(bytes, aad).pipe(
        Effect.mapError((error) => new MessageUnreadable({ channel, reason: error.reason })),
        Effect.flatMap(json.decode)
      )
  }
}

/**
 * The clear-text counterpart of `makeFor`: JSON bytes. Only for debugging. It refuses sealed
 * messages with a reason that says so, rather than as garbage.
 *
 * @since 0.1.0
 */
export const plaintextFor = <A, I>(
  schema: Schema.Schema<A, I>,
  options?: { readonly channel?: string | undefined }
): Codec<A> => {
  const channel = options?.channel ?? defaultChannel
  const json = jsonCodec(schema, channel)
  return {
    sealed: false,
    encode: (value) => Effect.sync(() => json.encode(value)),
    decode: (bytes) =>
      bytes[0] === 1
        ? Effect.fail(
          new MessageUnreadable({ channel, reason: "the message is sealed and this codec has encryption off" })
        )
        : json.decode(bytes)
  }
}

/**
 * A sealing codec of NERV's events for one channel, over the `Cipher` in context.
 *
 * @since 0.1.0
 */
export const make = (
  options?: { readonly channel?: string | undefined }
): Effect.Effect<BusCodecService, never, Cipher> => makeFor(NervEvent.NervEvent, options)

/**
 * A codec of NERV's events that does not encrypt: JSON bytes. Only for debugging; `layerPlaintext` warns.
 *
 * @since 0.1.0
 */
export const makePlaintext = (options?: { readonly channel?: string | undefined }): BusCodecService =>
  plaintextFor(NervEvent.NervEvent, options)

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

/**
 * The codecs of everything a transport puts on the wire (the NATS dispatcher's envelopes, dead
 * letters, the relayed document events): one per schema and channel, all sealed, or all clear.
 *
 * @since 0.1.0
 */
export class WireCodec extends Context.Tag("@nerv/runtime/WireCodec")<WireCodec, {
  readonly sealed: boolean
  readonly codec: <A, I>(schema: Schema.Schema<A, I>, channel: string) => Codec<A>
}>() {}

/**
 * The warning written to standard error when a transport starts with encryption in transit off.
 *
 * @since 0.1.0
 */
export const plaintextWireWarning = "encryption in transit is OFF (NERV_ENCRYPTION=off): messages go on the wire " +
  "in clear text, event content included. Use this for debugging only."

/**
 * Whether messages on the wire are sealed: `NERV_ENCRYPTION` (any case), `on` by default, `off`
 * for clear text.
 *
 * @since 0.1.0
 */
export const encryptionInTransit: Config.Config<boolean> = Config.string("NERV_ENCRYPTION").pipe(
  Config.withDefault("on"),
  Config.mapOrFail((value) => {
    const normalized = value.trim().toLowerCase()
    return normalized === "on" || normalized === "off"
      ? Either.right(normalized === "on")
      : Either.left(ConfigError.InvalidData([], `NERV_ENCRYPTION must be "on" or "off", got "${value}"`))
  })
)

/**
 * Sealed wire codecs over the `Cipher` in context.
 *
 * @since 0.1.0
 */
export const layerWire: Layer.Layer<WireCodec, never, Cipher> = Layer.effect(
  WireCodec,
  Effect.map(Cipher, (cipher) => ({
    sealed: true,
    codec: <A, I>(schema: Schema.Schema<A, I>, channel: string) => sealedCodec(cipher, schema, channel)
  }))
)

/**
 * Clear-text wire codecs, after the warning (`plaintextWireWarning`) on standard error.
 *
 * @since 0.1.0
 */
export const layerWirePlaintext: Layer.Layer<WireCodec> = Layer.effect(
  WireCodec,
  Effect.as(Console.error(`WARNING: ${plaintextWireWarning}`), {
    sealed: false,
    codec: <A, I>(schema: Schema.Schema<A, I>, channel: string) => plaintextFor(schema, { channel })
  })
)

/**
 * The wire codecs as configured: sealed with the cipher `cipher` builds (built only then), unless
 * `encryption: "off"` is given or, without the option, `NERV_ENCRYPTION=off` is set.
 *
 * @since 0.1.0
 */
export const layerWireConfig = <E, R>(
  cipher: Layer.Layer<Cipher, E, R>,
  options?: { readonly encryption?: "on" | "off" | undefined }
): Layer.Layer<WireCodec, E | ConfigError.ConfigError, R> =>
  Layer.unwrapEffect(
    Effect.map(
      options?.encryption === undefined ? encryptionInTransit : Effect.succeed(options.encryption === "on"),
      (on) => (on ? layerWire.pipe(Layer.provide(cipher)) : layerWirePlaintext)
    )
  )
