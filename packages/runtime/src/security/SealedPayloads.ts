/**
 * Encryption at rest: a `PayloadCodec` that seals each event payload of a journal with its
 * document's data key (AES-256-GCM), around any inner codec (plain JSON, gzip). Only the payload
 * is sealed; the metadata a journal orders by (document id, version, position, time) stays in its
 * clear columns.
 *
 * A sealed row records the encoding `<inner>+aes256gcm` (e.g. `json+aes256gcm`), and its bytes
 * are a `Cipher` envelope naming the data key. The associated data binds the ciphertext to its row
 * (document id, version) and to the inner encoding, so a payload copied to another row, or whose
 * encoding name was edited, does not open.
 *
 * @since 0.1.0
 */
import { Errors } from "@nerv/core"
import { PayloadCodec } from "@nerv/store"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Cipher from "./Cipher.js"
import {
  DataKeys,
  type DataKeyUnavailable,
  layer as dataKeysLayer,
  layerDisabled,
  type Options as DataKeysOptions
} from "./DataKeys.js"
import * as Keyring from "./Keyring.js"
import type { KeyStore } from "./KeyStore.js"

/**
 * The suffix a sealed row's encoding carries.
 *
 * @since 0.1.0
 */
export const suffix = "+aes256gcm"

/**
 * Is this stored encoding a sealed one?
 *
 * @since 0.1.0
 */
export const isSealed = (encoding: string): boolean => encoding.endsWith(suffix)

/**
 * @since 0.1.0
 */
export interface Options {
  /**
   * Read rows that were written while encryption was off (default `false`). Leave it off unless
   * such rows exist: with it on, anyone who can write to the database can insert a row the codec
   * will accept without a key.
   */
  readonly allowUnsealed?: boolean | undefined
}

const aadOf = (row: PayloadCodec.RowRef, innerEncoding: string) =>
  Buffer.from(`nerv/payload/v1\0${row.documentId}\0${row.version}\0${innerEncoding}`)

const decryptionFailed = (row: PayloadCodec.RowRef, reason: string) =>
  new PayloadCodec.DecryptionFailed({ documentId: row.documentId, version: row.version, reason })

const fromUnavailable = (row: PayloadCodec.RowRef) => (error: Errors.DocumentForgotten | DataKeyUnavailable) =>
  error._tag === "DocumentForgotten" ? error : decryptionFailed(row, error.reason)

/**
 * The sealing codec around `inner`.
 *
 * @since 0.1.0
 */
export const make = (inner: PayloadCodec.PayloadCodecService, options?: Options) =>
  Effect.map(DataKeys, (keys): PayloadCodec.PayloadCodecService => {
    const seal = (key: Cipher.SecretKey, encoded: PayloadCodec.EncodedPayload, row: PayloadCodec.RowRef) => ({
      encoding: encoded.encoding + suffix,
      data: Cipher.seal(key, encoded.data, aadOf(row, encoded.encoding))
    })
    /** Opens the sealing of a payload: the inner codec's payload, still to decode. */
    const unseal = (
      key: Cipher.SecretKey,
      stored: PayloadCodec.EncodedPayload,
      row: PayloadCodec.RowRef
    ): Either.Either<PayloadCodec.EncodedPayload, PayloadCodec.DecryptionFailed> => {
      const innerEncoding = stored.encoding.slice(0, -suffix.length)
      return Either.match(Cipher.open(key, stored.data, aadOf(row, innerEncoding)), {
        onLeft: (error) => Either.left(decryptionFailed(row, error.reason)),
        onRight: (data) => Either.right({ encoding: innerEncoding, data })
      })
    }
    const open = (key: Cipher.SecretKey, stored: PayloadCodec.EncodedPayload, row: PayloadCodec.RowRef) =>
      Either.match(unseal(key, stored, row), {
        onLeft: Effect.fail,
        onRight: (opened) => inner.decode(opened, row)
      })
    /** The key a sealed payload opens with, when this process already holds it. */
    const heldKey = (stored: PayloadCodec.EncodedPayload, row: PayloadCodec.RowRef) => {
      const key = keys.peek(row.documentId)
      return key !== undefined && Cipher.isSealedUnder(key, stored.data) ? key : undefined
    }
    const decode: PayloadCodec.PayloadCodecService["decode"] = (stored, row) =>
      Effect.suspend(() => {
        if (!isSealed(stored.encoding)) {
          return options?.allowUnsealed === true ? inner.decode(stored, row) : Effect.fail(decryptionFailed(
            row,
            `the row is not sealed (encoding ${stored.encoding}); it was written with encryption off, or ` +
              `inserted behind NERV's back (set allowUnsealed to read rows written with encryption off)`
          ))
        }
        const key = heldKey(stored, row)
        if (key !== undefined) return open(key, stored, row)
        const keyId = Cipher.keyIdOf(stored.data)
        if (Either.isLeft(keyId)) return Effect.fail(decryptionFailed(row, keyId.left.reason))
        return keys.forOpening(row.documentId, keyId.right).pipe(
          Effect.mapError(fromUnavailable(row)),
          Effect.flatMap((key) => open(key, stored, row))
        )
      })
    /**
     * A page at once: the payloads sealed under a key this process holds (a rebuild's common case)
     * are opened here, synchronously, and handed to the inner codec as one batch; the others (a key
     * to fetch, an unsealed row, an error to explain) go through `decode`, one by one.
     */
    const decodeMany: NonNullable<PayloadCodec.PayloadCodecService["decodeMany"]> = (payloads) =>
      Effect.suspend(() => {
        const results: Array<Either.Either<Uint8Array, PayloadCodec.PayloadError>> = new Array(payloads.length)
        const opened: Array<PayloadCodec.StoredPayload> = []
        const openedAt: Array<number> = []
        const others: Array<number> = []
        for (let i = 0; i < payloads.length; i++) {
          const payload = payloads[i]!
          const key = isSealed(payload.encoding) ? heldKey(payload, payload) : undefined
          if (key === undefined) {
            others.push(i)
            continue
          }
          const unsealed = unseal(key, payload, payload)
          if (Either.isLeft(unsealed)) {
            results[i] = Either.left(unsealed.left)
            continue
          }
          opened.push({ ...unsealed.right, documentId: payload.documentId, version: payload.version })
          openedAt.push(i)
        }
        return Effect.zipWith(
          PayloadCodec.decodeAll(inner, opened),
          Effect.forEach(others, (i) => Effect.either(decode(payloads[i]!, payloads[i]!))),
          (decoded, decodedOthers) => {
            openedAt.forEach((at, i) => results[at] = decoded[i]!)
            others.forEach((at, i) => results[at] = decodedOthers[i]!)
            return results
          }
        )
      })
    // The common case, a key this process already holds, runs without a key-store effect.
    return {
      encode: (json, row) =>
        Effect.flatMap(inner.encode(json, row), (encoded) => {
          const key = keys.peek(row.documentId)
          return key !== undefined
            ? Effect.succeed(seal(key, encoded, row))
            : Effect.map(
              Effect.mapError(keys.forSealing(row.documentId), fromUnavailable(row)),
              (key) => seal(key, encoded, row)
            )
        }),
      decode,
      decodeMany
    }
  })

/**
 * Seals the payloads of the journal: provides `PayloadCodec` around the inner `PayloadCodec` it is
 * given (`SealedPayloads.layer().pipe(Layer.provide(innerCodecLayer))`), with the `DataKeys` in
 * context.
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Options
): Layer.Layer<PayloadCodec.PayloadCodec, never, PayloadCodec.PayloadCodec | DataKeys> =>
  Layer.effect(PayloadCodec.PayloadCodec, Effect.flatMap(PayloadCodec.PayloadCodec, (inner) => make(inner, options)))

/**
 * The warning logged when a durable layer starts with encryption off.
 *
 * @since 0.1.0
 */
export const plaintextWarning = "encryption at rest is OFF (NERV_ENCRYPTION=off): event payloads are written " +
  "to the journal in clear text. Use this for debugging only."

/**
 * Encryption explicitly off: the inner codec as it is, after a warning at start. A sealed row fails
 * with a `DecryptionFailed` that says why, rather than as an unknown encoding.
 *
 * @since 0.1.0
 */
export const layerPlaintext: Layer.Layer<PayloadCodec.PayloadCodec, never, PayloadCodec.PayloadCodec> = Layer.effect(
  PayloadCodec.PayloadCodec,
  Effect.zipRight(
    Effect.logWarning(plaintextWarning),
    Effect.map(PayloadCodec.PayloadCodec, (inner): PayloadCodec.PayloadCodecService => {
      const decode: PayloadCodec.PayloadCodecService["decode"] = (stored, row) =>
        isSealed(stored.encoding)
          ? Effect.fail(decryptionFailed(
            row,
            `the row is sealed (${stored.encoding}) and encryption is off; configure the master keys to read it`
          ))
          : inner.decode(stored, row)
      return {
        encode: inner.encode,
        decode,
        // A page without sealed rows (the usual case with encryption off) goes to the inner codec whole.
        decodeMany: (payloads) =>
          payloads.some((payload) => isSealed(payload.encoding))
            ? PayloadCodec.decodeAll({ encode: inner.encode, decode }, payloads)
            : PayloadCodec.decodeAll(inner, payloads)
      }
    })
  )
)

const switches: ReadonlyMap<string, boolean> = new Map([
  ["on", true],
  ["true", true],
  ["yes", true],
  ["1", true],
  ["off", false],
  ["false", false],
  ["no", false],
  ["0", false]
])

/**
 * Whether encryption at rest is on: `NERV_ENCRYPTION`, `on` (the default) or `off`, in any case,
 * and the usual spellings of a switch (`true`/`false`, `yes`/`no`, `1`/`0`). Anything else is a
 * configuration error that says what is accepted.
 *
 * @since 0.1.0
 */
export const enabled: Config.Config<boolean> = Config.string("NERV_ENCRYPTION").pipe(
  Config.mapOrFail((value) => {
    const on = switches.get(value.trim().toLowerCase())
    return on === undefined
      ? Either.left(
        ConfigError.InvalidData(
          [],
          `${JSON.stringify(value)} is not a switch: use on or off (or true/false, yes/no, 1/0, in any case)`
        )
      )
      : Either.right(on)
  }),
  Config.withDefault(true)
)

/**
 * Encryption at rest as durable layers want it, from configuration: unless `NERV_ENCRYPTION=off`,
 * the sealing codec around the inner `PayloadCodec`, with its `DataKeys` (master keys from
 * `Keyring.config`, wrapped data keys in `keyStore`), both provided so that `forget` and `rewrap`
 * reach the same keys the journal seals with. With encryption off: the plaintext codec (which
 * warns) and `DataKeys.layerDisabled`, and no master key is needed.
 *
 * @since 0.1.0
 */
export const layerConfig = <E, R>(
  keyStore: Layer.Layer<KeyStore, E, R>,
  options?: Options & DataKeysOptions
): Layer.Layer<
  PayloadCodec.PayloadCodec | DataKeys,
  E | ConfigError.ConfigError,
  R | PayloadCodec.PayloadCodec
> => layerConfigWith({ keyStore, keyring: Keyring.layerConfig }, options)

/**
 * `layerConfig` with the master keys from another layer than `Keyring.layerConfig` (e.g. one that
 * falls back to a local key file, as `Nerv.layerSqlite` does). The keyring is built only when
 * encryption is on.
 *
 * @since 0.1.0
 */
export const layerConfigWith = <E, R, E2, R2>(
  layers: {
    readonly keyStore: Layer.Layer<KeyStore, E, R>
    readonly keyring: Layer.Layer<Keyring.Keyring, E2, R2>
  },
  options?: Options & DataKeysOptions
): Layer.Layer<
  PayloadCodec.PayloadCodec | DataKeys,
  E | E2 | ConfigError.ConfigError,
  R | R2 | PayloadCodec.PayloadCodec
> =>
  Layer.unwrapEffect(
    Effect.map(enabled, (on) =>
      on
        ? layer(options).pipe(
          Layer.provideMerge(
            dataKeysLayer(options).pipe(Layer.provide(Layer.merge(layers.keyring, layers.keyStore)))
          )
        )
        : Layer.merge(layerPlaintext, layerDisabled))
  )
