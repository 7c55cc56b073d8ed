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
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Zlib from "node:zlib"

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
 * @since 0.1.0
 */
export interface PayloadCodecService {
  /** Encodes the JSON bytes of one event's payload for its row. */
  readonly encode: (json: Uint8Array, row: RowRef) => Effect.Effect<EncodedPayload, Errors.PayloadError>
  /** Decodes a stored payload, whatever encoding its row recorded, back to the JSON bytes. */
  readonly decode: (stored: EncodedPayload, row: RowRef) => Effect.Effect<Uint8Array, Errors.PayloadError>
}

/**
 * The codec a durable journal uses for payloads.
 *
 * @since 0.1.0
 */
export class PayloadCodec extends Context.Tag("@nerv/store/PayloadCodec")<PayloadCodec, PayloadCodecService>() {}

const corrupt = (row: RowRef, reason: string) =>
  new Errors.PayloadCorrupt({ documentId: row.documentId, version: row.version, reason })

/**
 * Decodes the encodings this module writes (`"json"`, `"json+gzip"`). A codec that adds its own
 * encodings (sealing) handles those and hands the rest to this.
 *
 * @since 0.1.0
 */
export const decodeStandard = (
  stored: EncodedPayload,
  row: RowRef
): Effect.Effect<Uint8Array, Errors.PayloadCorrupt> => {
  switch (stored.encoding) {
    case "json":
      return Effect.succeed(stored.data)
    case "json+gzip":
      return Effect.try({
        try: () => new Uint8Array(Zlib.gunzipSync(stored.data)),
        catch: (cause) => corrupt(row, `gzip data does not inflate (${String(cause)})`)
      })
    default:
      return Effect.fail(corrupt(row, `unknown encoding "${stored.encoding}"`))
  }
}

/**
 * Stores the JSON bytes as they are (encoding `"json"`). Reads compressed rows too, so turning
 * compression off never strands old rows.
 *
 * @since 0.1.0
 */
export const json: PayloadCodecService = {
  encode: (data) => Effect.succeed({ encoding: "json", data }),
  decode: decodeStandard
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
    decode: decodeStandard
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
