/**
 * AES-256-GCM on `node:crypto`: the one primitive every other security module seals with.
 *
 * A sealed message is an envelope that carries the id of the key that sealed it, so rotated keys
 * still open old messages:
 *
 * ```
 * [1: format = 1][1: key id length n][n: key id (ASCII)][12: IV][…: ciphertext][16: GCM tag]
 * ```
 *
 * Every message gets its own IV from the CSPRNG; the envelope header and the caller's associated
 * data are authenticated with the ciphertext, so a changed key id, a flipped byte or a message
 * moved to another context (another row, another channel) never opens.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomFillSync } from "node:crypto"
import { Keyring } from "./Keyring.js"

/**
 * AES-256 keys are 32 bytes.
 *
 * @since 0.1.0
 */
export const keyLength = 32

/**
 * GCM's recommended 96-bit IV.
 *
 * @since 0.1.0
 */
export const ivLength = 12

/**
 * The full 128-bit GCM tag; shorter tags weaken forgery resistance.
 *
 * @since 0.1.0
 */
export const tagLength = 16

const formatVersion = 1
const keyIdPattern = /^[A-Za-z0-9._-]{1,64}$/

/**
 * A secret key and the id recorded beside everything it seals.
 *
 * @since 0.1.0
 */
export interface SecretKey {
  readonly id: string
  readonly key: KeyObject
}

/**
 * Makes a `SecretKey` from 32 raw bytes. Throws on a wrong length or an id that does not fit the
 * envelope (1 to 64 of `A-Z a-z 0-9 . _ -`): callers validate before, this guards programming
 * errors.
 *
 * @since 0.1.0
 */
export const secretKey = (id: string, bytes: Uint8Array): SecretKey => {
  if (!keyIdPattern.test(id)) throw new Error(`invalid key id: must be 1 to 64 of A-Z a-z 0-9 . _ -`)
  if (bytes.length !== keyLength) throw new Error(`an AES-256 key is ${keyLength} bytes, got ${bytes.length}`)
  return { id, key: createSecretKey(bytes) }
}

/**
 * Is this a valid key id?
 *
 * @since 0.1.0
 */
export const isKeyId = (id: string): boolean => keyIdPattern.test(id)

/**
 * A message failed to open. The reason is safe to show: it never contains key material.
 *
 * @since 0.1.0
 */
export class OpenFailed extends Data.TaggedError("OpenFailed")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

// IVs are cut from a buffer refilled from the CSPRNG: one system call per 1,024 messages instead
// of one per message, and every IV is still fresh random bytes used exactly once.
const ivPoolSize = ivLength * 1024
let ivPool = Buffer.allocUnsafe(0)
let ivOffset = 0

/**
 * A fresh random IV. Never reused: each comes from bytes of the CSPRNG that no other IV used.
 *
 * @since 0.1.0
 */
export const freshIv = (): Buffer => {
  if (ivOffset + ivLength > ivPool.length) {
    // A new buffer, not a refill in place: IVs handed out earlier may still be referenced.
    ivPool = randomFillSync(Buffer.allocUnsafe(ivPoolSize))
    ivOffset = 0
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + ivLength)
  ivOffset += ivLength
  return iv
}

const makeHeader = (keyId: string): Buffer => {
  const header = Buffer.allocUnsafe(2 + keyId.length)
  header[0] = formatVersion
  header[1] = keyId.length
  header.write(keyId, 2, "latin1")
  return header
}

// The header of a key never changes: built once per key, not once per message.
const headers = new WeakMap<SecretKey, Buffer>()
const headerOf = (key: SecretKey): Buffer => {
  let header = headers.get(key)
  if (header === undefined) {
    header = makeHeader(key.id)
    headers.set(key, header)
  }
  return header
}

/**
 * Was this message sealed under a key with this key's id? A cheap byte comparison of the header,
 * for hot paths that hold a likely key; opening still authenticates.
 *
 * @since 0.1.0
 */
export const isSealedUnder = (key: SecretKey, sealed: Uint8Array): boolean => {
  const header = headerOf(key)
  if (sealed.length < header.length + ivLength + tagLength) return false
  for (let i = 0; i < header.length; i++) {
    if (sealed[i] !== header[i]) return false
  }
  return true
}

const emptyAad = new Uint8Array(0)

/**
 * Seals `plaintext` under `key`, binding it to `aad` (which must be given again to open it).
 *
 * @since 0.1.0
 */
export const seal = (key: SecretKey, plaintext: Uint8Array, aad: Uint8Array = emptyAad): Uint8Array => {
  const header = headerOf(key)
  const iv = freshIv()
  const cipher = createCipheriv("aes-256-gcm", key.key, iv, { authTagLength: tagLength })
  // Two AAD updates authenticate their concatenation, without copying the two into one buffer.
  cipher.setAAD(header)
  if (aad.length > 0) cipher.setAAD(aad)
  const body = cipher.update(plaintext)
  const final = cipher.final()
  const tag = cipher.getAuthTag()
  const out = Buffer.allocUnsafe(header.length + ivLength + body.length + final.length + tagLength)
  let offset = header.copy(out, 0)
  offset += iv.copy(out, offset)
  offset += body.copy(out, offset)
  offset += final.copy(out, offset)
  tag.copy(out, offset)
  return out
}

/**
 * The id of the key that sealed a message, read from its (not yet authenticated) header. Opening
 * authenticates it: a changed id opens under no key.
 *
 * @since 0.1.0
 */
export const keyIdOf = (sealed: Uint8Array): Either.Either<string, OpenFailed> => {
  if (sealed.length < 2) return Either.left(new OpenFailed({ reason: "too short to be a sealed message" }))
  if (sealed[0] !== formatVersion) {
    return Either.left(new OpenFailed({ reason: `unknown envelope format ${sealed[0]}` }))
  }
  const length = sealed[1]!
  if (sealed.length < 2 + length + ivLength + tagLength) {
    return Either.left(new OpenFailed({ reason: "too short to be a sealed message" }))
  }
  const id = Buffer.from(sealed.buffer, sealed.byteOffset + 2, length).toString("latin1")
  return keyIdPattern.test(id) ? Either.right(id) : Either.left(new OpenFailed({ reason: "malformed key id" }))
}

/**
 * Opens a message sealed by `seal` with the same key and associated data. Fails, never throws and
 * never returns unauthenticated bytes, when anything differs.
 *
 * @since 0.1.0
 */
export const open = (
  key: SecretKey,
  sealed: Uint8Array,
  aad: Uint8Array = emptyAad
): Either.Either<Uint8Array, OpenFailed> => {
  if (!isSealedUnder(key, sealed)) {
    const id = keyIdOf(sealed)
    return Either.left(
      Either.isLeft(id) ? id.left : new OpenFailed({ reason: `sealed under key ${id.right}, not ${key.id}` })
    )
  }
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.length)
  const headerLength = 2 + key.id.length
  const iv = bytes.subarray(headerLength, headerLength + ivLength)
  const tag = bytes.subarray(bytes.length - tagLength)
  const body = bytes.subarray(headerLength + ivLength, bytes.length - tagLength)
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.key, iv, { authTagLength: tagLength })
    const header = bytes.subarray(0, headerLength)
    decipher.setAAD(header)
    if (aad.length > 0) decipher.setAAD(aad)
    decipher.setAuthTag(tag)
    const head = decipher.update(body)
    const final = decipher.final()
    return Either.right(final.length === 0 ? head : Buffer.concat([head, final]))
  } catch {
    // GCM reports every mismatch (key, IV, AAD, ciphertext, tag) as one authentication failure:
    // telling them apart would help a forger.
    return Either.left(
      new OpenFailed({ reason: "authentication failed (tampered, moved, or sealed under another key)" })
    )
  }
}

/**
 * @since 0.1.0
 */
export interface CipherService {
  /** Seals under the keyring's active master key. */
  readonly seal: (plaintext: Uint8Array, aad?: Uint8Array) => Effect.Effect<Uint8Array>
  /** Opens with whichever master key the message names, if the keyring still holds it. */
  readonly open: (sealed: Uint8Array, aad?: Uint8Array) => Effect.Effect<Uint8Array, OpenFailed>
}

/**
 * Sealing with the master keys, for messages that are not document payloads (the bus codec).
 * Document payloads use per-document data keys (`DataKeys`) so that they can be shredded.
 *
 * @since 0.1.0
 */
export class Cipher extends Context.Tag("@nerv/runtime/Cipher")<Cipher, CipherService>() {}

/**
 * The cipher over the master keys of the `Keyring`.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Cipher, never, Keyring> = Layer.effect(
  Cipher,
  Effect.map(Keyring, (keyring): CipherService => ({
    seal: (plaintext, aad) => Effect.sync(() => seal(keyring.active, plaintext, aad)),
    open: (sealed, aad) =>
      Effect.suspend(() => {
        const id = keyIdOf(sealed)
        if (Either.isLeft(id)) return id.left
        const key = keyring.get(id.right)
        return key === undefined
          ? Effect.fail(
            new OpenFailed({ reason: `sealed under master key ${id.right}, which the keyring does not hold` })
          )
          : open(key, sealed, aad)
      })
  }))
)
