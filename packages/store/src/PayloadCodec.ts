/**
 * How a journal turns an event's payload into the bytes of a row and back. The encoding is recorded
 * per row, so rows written under an older encoding (plain, compressed, sealed under an old key)
 * still read after the configuration changes. Compression lives here; sealing (AES-256-GCM) wraps
 * a codec from `@nerv/runtime`'s security modules.
 *
 * @since 0.1.0
 */
import { Errors } from "@nerv/core"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Zlib from "node:zlib"

/**
 * A stored payload could not be decoded (corrupt bytes, an unknown encoding). Names the row.
 *
 * @since 0.1.0
 */
export class PayloadCorrupt extends Data.TaggedError("PayloadCorrupt")<{
  readonly documentId: string
  readonly version: number
  readonly reason: string
}> {
  override get message(): string {
    return `the payload of document ${this.documentId} version ${this.version} is unreadable: ${this.reason}`
  }
}

/**
 * A sealed payload failed to open: a flipped byte, a wrong or missing key, or a payload moved to
 * another row. Names the row; never yields garbage.
 *
 * @since 0.1.0
 */
export class DecryptionFailed extends Data.TaggedError("DecryptionFailed")<{
  readonly documentId: string
  readonly version: number
  readonly reason: string
}> {
  override get message(): string {
    return `document ${this.documentId} version ${this.version} could not be decrypted: ${this.reason}`
  }
}

/**
 * Why a stored payload could not be read back.
 *
 * @since 0.1.0
 */
export type PayloadError = PayloadCorrupt | DecryptionFailed | Errors.DocumentForgotten

/**
 * The row a payload belongs to. A sealing codec binds its ciphertext to it (associated data), so a
 * payload copied to another row does not open.
 *
 * @since 0.1.0
 */
export interface RowRef {
  readonly documentId: string
  readonly version: number
}

/**
 * A payload as stored: the bytes and the name of the encoding that produced them
 * (`"json"`, `"json+gzip"`, `"json+aes256gcm"`, …).
 *
 * @since 0.1.0
 */
export interface EncodedPayload {
  readonly encoding: string
  readonly data: Uint8Array
}

/**
 * A stored payload together with the row it belongs to (it is both an `EncodedPayload` and a
 * `RowRef`): one item of a batch decode.
 *
 * @since 0.1.0
 */
export interface StoredPayload extends EncodedPayload, RowRef {}

/**
 * @since 0.1.0
 */
export interface PayloadCodecService {
  /** Encodes the JSON bytes of one event's payload for its row. */
  readonly encode: (json: Uint8Array, row: RowRef) => Effect.Effect<EncodedPayload, PayloadError>
  /** Decodes a stored payload, whatever encoding its row recorded, back to the JSON bytes. */
  readonly decode: (stored: EncodedPayload, row: RowRef) => Effect.Effect<Uint8Array, PayloadError>
  /**
   * Decodes a page of stored payloads in one effect: for each, in order, its JSON bytes or why it
   * does not decode (exactly what `decode` would give it). A journal reads pages of a thousand rows,
   * and one effect per row costs more than decoding a plain payload; a codec whose decoding is
   * synchronous (or mostly: a key already held) implements this. Optional: `decodeAll` falls back
   * to `decode`, row by row.
   */
  readonly decodeMany?: (
    payloads: ReadonlyArray<StoredPayload>
  ) => Effect.Effect<Array<Either.Either<Uint8Array, PayloadError>>>
}

/**
 * Decodes a page of stored payloads through a codec: its `decodeMany` if it has one, else `decode`
 * row by row.
 *
 * @since 0.1.0
 */
export const decodeAll = (
  codec: PayloadCodecService,
  payloads: ReadonlyArray<StoredPayload>
): Effect.Effect<Array<Either.Either<Uint8Array, PayloadError>>> =>
  codec.decodeMany !== undefined
    ? codec.decodeMany(payloads)
    : Effect.forEach(payloads, (payload) => Effect.either(codec.decode(payload, payload)))

/**
 * The codec a durable journal uses for payloads.
 *
 * @since 0.1.0
 */
export class PayloadCodec extends Context.Tag("@nerv/store/PayloadCodec")<PayloadCodec, PayloadCodecService>() {}

const corrupt = (row: RowRef, reason: string) =>
  new PayloadCorrupt({ documentId: row.documentId, version: row.version, reason })

/**
 * Decodes the encodings this module writes (`"json"`, `"json+gzip"`), synchronously (inflating is).
 *
 * @since 0.1.0
 */
export const decodeStandardSync = (
  stored: EncodedPayload,
  row: RowRef
): Either.Either<Uint8Array, PayloadCorrupt> => {
  switch (stored.encoding) {
    case "json":
      return Either.right(stored.data)
    case "json+gzip":
      try {
        return Either.right(new Uint8Array(Zlib.gunzipSync(stored.data)))
      } catch (cause) {
        return Either.left(corrupt(row, `gzip data does not inflate (${String(cause)})`))
      }
    default:
      return Either.left(corrupt(row, `unknown encoding "${stored.encoding}"`))
  }
}

/**
 * Decodes the encodings this module writes (`"json"`, `"json+gzip"`). A codec that adds its own
 * encodings (sealing) handles those and hands the rest to this.
 *
 * @since 0.1.0
 */
export const decodeStandard = (
  stored: EncodedPayload,
  row: RowRef
): Effect.Effect<Uint8Array, PayloadCorrupt> => Effect.suspend(() => decodeStandardSync(stored, row))

/** `decodeStandard` over a page, in one effect. */
const decodeStandardMany = (
  payloads: ReadonlyArray<StoredPayload>
): Effect.Effect<Array<Either.Either<Uint8Array, PayloadError>>> =>
  Effect.sync(() => payloads.map((payload) => decodeStandardSync(payload, payload)))

/**
 * Stores the JSON bytes as they are (encoding `"json"`). Reads compressed rows too, so turning
 * compression off never strands old rows.
 *
 * @since 0.1.0
 */
export const json: PayloadCodecService = {
  encode: (data) => Effect.succeed({ encoding: "json", data }),
  decode: decodeStandard,
  decodeMany: decodeStandardMany
}

/**
 * Compresses payloads of at least `minBytes` with gzip (encoding `"json+gzip"`) and stores smaller
 * ones as plain JSON, where compression would cost more than it saves.
 *
 * @since 0.1.0
 */
export const compressed = (options?: { readonly minBytes?: number | undefined }): PayloadCodecService => {
  const minBytes = options?.minBytes ?? 512
  return {
    encode: (data) =>
      Effect.sync(() =>
        data.byteLength < minBytes
          ? { encoding: "json", data }
          : { encoding: "json+gzip", data: new Uint8Array(Zlib.gzipSync(data)) }
      ),
    decode: decodeStandard,
    decodeMany: decodeStandardMany
  }
}

/**
 * Plain JSON payloads.
 *
 * @since 0.1.0
 */
export const layerJson: Layer.Layer<PayloadCodec> = Layer.succeed(PayloadCodec, json)

/**
 * Gzip-compressed payloads from `minBytes` (default 512) on.
 *
 * @since 0.1.0
 */
export const layerCompressed = (options?: { readonly minBytes?: number | undefined }): Layer.Layer<PayloadCodec> =>
  Layer.succeed(PayloadCodec, compressed(options))
