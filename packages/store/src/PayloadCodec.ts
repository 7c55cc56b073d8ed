/**
 * How a journal turns an event's payload into the bytes of a row and back. The encoding is recorded
 * per row, so rows written under an older encoding (plain, compressed, sealed under an old key)
 * still read after the configuration changes. Compression lives here; sealing (AES-256-GCM) wraps
 * a codec from `@nerv/runtime`'s security modules.
 *
 * @since 0.1.0
 */
import type { Errors } from "@nerv/core"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"

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
