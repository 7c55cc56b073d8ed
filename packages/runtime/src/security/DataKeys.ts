/**
 * Per-document data keys (envelope encryption). Each document's payloads are sealed with its own
 * random AES-256 key; that key is stored only wrapped by a master key. This gives two things a
 * single key cannot:
 *
 * - **crypto-shredding**: `forget(documentId)` destroys one document's key, and with it every copy
 *   of its content (journal rows, snapshots, backups of either), without rewriting the append-only
 *   journal;
 * - **cheap rotation**: a new master key is adopted by re-wrapping the data keys (`rewrap`), a few
 *   bytes per document, while the service keeps running; payloads are never re-encrypted.
 *
 * Unwrapped keys are cached in process (bounded, least recently used first out) so that sealing
 * costs one AES operation, not a key-store round trip. `forget` evicts the key from this process's
 * cache; other processes sharing the key store drop it when they learn of the forgetting (their store
 * follows the journal's record of it and tells `Forgetting.Forgetting`, which this cache listens to).
 *
 * @since 0.1.0
 */
import { Errors } from "@nerv/core"
import { Forgetting } from "@nerv/store"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"
import * as Cipher from "./Cipher.js"
import { Keyring } from "./Keyring.js"
import { KeyStore, KeyStoreError, type WrappedKey } from "./KeyStore.js"

/**
 * A document's data key could not be had for a reason other than shredding: a key store failure,
 * a wrapping master key that is no longer in the keyring, a tampered wrapped key.
 *
 * @since 0.1.0
 */
export class DataKeyUnavailable extends Data.TaggedError("DataKeyUnavailable")<{
  readonly documentId: string
  readonly reason: string
}> {
  override get message(): string {
    return `the data key of document ${this.documentId} is unavailable: ${this.reason}`
  }
}

/**
 * What `rewrap` did.
 *
 * @since 0.1.0
 */
export interface RewrapReport {
  /** The master key everything is now wrapped under. */
  readonly masterKeyId: string
  readonly rewrapped: number
  readonly alreadyCurrent: number
  /** Keys that could not be re-wrapped (their old master key is gone, or they were tampered with). */
  readonly failed: ReadonlyArray<{ readonly documentId: string; readonly reason: string }>
}

/**
 * @since 0.1.0
 */
export interface DataKeysService {
  /**
   * The document's key if this process holds it unwrapped: no I/O, so that the hot path of a codec
   * needs no effect. `undefined` says only "ask `forSealing` / `forOpening`".
   */
  readonly peek: (documentId: string) => Cipher.SecretKey | undefined
  /** The key to seal a document's next payload with, made on first use. */
  readonly forSealing: (
    documentId: string
  ) => Effect.Effect<Cipher.SecretKey, Errors.DocumentForgotten | DataKeyUnavailable>
  /** The key that sealed a payload, by the data key id the payload names. */
  readonly forOpening: (
    documentId: string,
    keyId: string
  ) => Effect.Effect<Cipher.SecretKey, Errors.DocumentForgotten | DataKeyUnavailable>
  /** Destroys the document's key: its payloads never open again, anywhere. Idempotent. */
  readonly forget: (documentId: string) => Effect.Effect<void, KeyStoreError>
  readonly isForgotten: (documentId: string) => Effect.Effect<boolean, KeyStoreError>
  /** Which of these documents were forgotten. */
  readonly forgottenAmong: (documentIds: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, KeyStoreError>
  /** Re-wraps every data key under the active master key, page by page, while others keep working. */
  readonly rewrap: Effect.Effect<RewrapReport, KeyStoreError>
}

/**
 * The data keys of the documents.
 *
 * @since 0.1.0
 */
export class DataKeys extends Context.Tag("@nerv/runtime/DataKeys")<DataKeys, DataKeysService>() {}

/**
 * @since 0.1.0
 */
export interface Options {
  /** How many unwrapped keys to keep in memory (default 10,000; 0 turns the cache off). */
  readonly cacheSize?: number | undefined
}

// A wrapped key opens only as the key of the document and key id it was made for.
const wrappingAad = (documentId: string, keyId: string) => Buffer.from(`nerv/data-key/v1\0${documentId}\0${keyId}`)

/**
 * Makes the service over a keyring and a key store.
 *
 * @since 0.1.0
 */
export const make = (options?: Options) =>
  Effect.gen(function*() {
    const keyring = yield* Keyring
    const store = yield* KeyStore
    const capacity = options?.cacheSize ?? 10_000
    const cache = new Map<string, Cipher.SecretKey>()
    // A document forgotten by another process: its key leaves this process's cache too.
    const forgetting = yield* Effect.serviceOption(Forgetting.Forgetting)
    if (Option.isSome(forgetting)) {
      yield* forgetting.value.register((documentId) => Effect.sync(() => void cache.delete(documentId)))
    }

    const remember = (documentId: string, key: Cipher.SecretKey) => {
      if (capacity <= 0) return
      cache.delete(documentId)
      cache.set(documentId, key)
      if (cache.size > capacity) cache.delete(cache.keys().next().value!)
    }

    const unavailable = (documentId: string) => (error: KeyStoreError) =>
      new DataKeyUnavailable({ documentId, reason: error.message })

    const unwrap = (stored: WrappedKey): Either.Either<Cipher.SecretKey, DataKeyUnavailable> => {
      const master = keyring.get(stored.masterKeyId)
      if (master === undefined) {
        return Either.left(
          new DataKeyUnavailable({
            documentId: stored.documentId,
            reason: `it is wrapped under master key ${stored.masterKeyId}, which the keyring does not hold ` +
              `(keyring: ${keyring.ids.join(", ")})`
          })
        )
      }
      return Cipher.open(master, stored.wrapped, wrappingAad(stored.documentId, stored.keyId)).pipe(
        Either.map((bytes) => Cipher.secretKey(stored.keyId, bytes)),
        Either.mapLeft((error) =>
          new DataKeyUnavailable({ documentId: stored.documentId, reason: `its wrapping: ${error.reason}` })
        )
      )
    }

    const wrap = (documentId: string, keyId: string, bytes: Uint8Array): WrappedKey => ({
      documentId,
      keyId,
      masterKeyId: keyring.active.id,
      wrapped: Cipher.seal(keyring.active, bytes, wrappingAad(documentId, keyId))
    })

    const load = (documentId: string, create: boolean) =>
      Effect.gen(function*() {
        let entry = yield* store.lookup(documentId).pipe(Effect.mapError(unavailable(documentId)))
        if (Option.isNone(entry) && create) {
          const keyId = `dk-${randomBytes(8).toString("hex")}`
          const bytes = randomBytes(Cipher.keyLength)
          // Whoever inserts first wins; a loser adopts the winner's key.
          entry = Option.some(
            yield* store.insertIfAbsent(wrap(documentId, keyId, bytes)).pipe(Effect.mapError(unavailable(documentId)))
          )
        }
        if (Option.isNone(entry)) {
          return yield* new DataKeyUnavailable({ documentId, reason: "the document has no data key" })
        }
        if (entry.value._tag === "Forgotten") return yield* new Errors.DocumentForgotten({ documentId })
        const key = yield* unwrap(entry.value.key)
        remember(documentId, key)
        return key
      })

    const cached = (documentId: string) => {
      const key = cache.get(documentId)
      if (key !== undefined) remember(documentId, key)
      return key
    }

    const rewrapPage = (page: ReadonlyArray<WrappedKey>) =>
      Effect.reduce(page, { rewrapped: 0, alreadyCurrent: 0, failed: [] as Array<RewrapReport["failed"][number]> }, (
        report,
        stored
      ) => {
        if (stored.masterKeyId === keyring.active.id) {
          return Effect.succeed({ ...report, alreadyCurrent: report.alreadyCurrent + 1 })
        }
        return Either.match(unwrap(stored), {
          onLeft: (error) =>
            Effect.succeed({
              ...report,
              failed: [...report.failed, { documentId: stored.documentId, reason: error.reason }]
            }),
          onRight: (key) =>
            Effect.map(
              store.rewrap(wrap(stored.documentId, stored.keyId, key.key.export()), stored.masterKeyId),
              (done) => done ? { ...report, rewrapped: report.rewrapped + 1 } : report
            )
        })
      })

    const service: DataKeysService = {
      peek: cached,
      forSealing: (documentId) =>
        Effect.suspend(() => {
          const key = cached(documentId)
          return key !== undefined ? Effect.succeed(key) : load(documentId, true)
        }),
      forOpening: (documentId, keyId) =>
        Effect.suspend(() => {
          const key = cached(documentId)
          if (key !== undefined && key.id === keyId) return Effect.succeed(key)
          return Effect.flatMap(load(documentId, false), (loaded) =>
            loaded.id === keyId ? Effect.succeed(loaded) : Effect.fail(
              new DataKeyUnavailable({
                documentId,
                reason: `the payload was sealed under data key ${keyId}, but the document's key is ${loaded.id}`
              })
            ))
        }),
      forget: (documentId) =>
        Effect.flatMap(DateTime.now, (now) =>
          Effect.zipRight(
            Effect.sync(() => cache.delete(documentId)),
            store.forget(documentId, DateTime.formatIso(now))
          )).pipe(
            // A concurrent seal may have re-cached the key while the store was being written.
            Effect.ensuring(Effect.sync(() => cache.delete(documentId)))
          ),
      isForgotten: (documentId) =>
        Effect.map(store.lookup(documentId), (entry) => Option.isSome(entry) && entry.value._tag === "Forgotten"),
      forgottenAmong: (documentIds) =>
        documentIds.length === 0 ? Effect.succeed(new Set()) : store.forgottenAmong(documentIds),
      rewrap: Effect.gen(function*() {
        const pageSize = 500
        let after = ""
        const total = { rewrapped: 0, alreadyCurrent: 0, failed: [] as Array<RewrapReport["failed"][number]> }
        while (true) {
          const page = yield* store.activePage(after, pageSize)
          if (page.length === 0) break
          const report = yield* rewrapPage(page)
          total.rewrapped += report.rewrapped
          total.alreadyCurrent += report.alreadyCurrent
          total.failed.push(...report.failed)
          after = page[page.length - 1]!.documentId
          if (page.length < pageSize) break
        }
        yield* Effect.logInfo(
          `data keys re-wrapped under ${keyring.active.id}: ${total.rewrapped} re-wrapped, ` +
            `${total.alreadyCurrent} already current, ${total.failed.length} failed`
        )
        return { masterKeyId: keyring.active.id, ...total }
      })
    }
    return service
  })

/**
 * The data keys over the `Keyring` and `KeyStore` in context.
 *
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<DataKeys, never, Keyring | KeyStore> =>
  Layer.scoped(DataKeys, make(options))

/**
 * Data keys for a setup with encryption off: nothing is sealed, so nothing can be shredded.
 * `forget` fails and says why; no document is ever forgotten.
 *
 * @since 0.1.0
 */
export const layerDisabled: Layer.Layer<DataKeys> = Layer.succeed(DataKeys, {
  peek: () => undefined,
  forSealing: (documentId) =>
    Effect.fail(new DataKeyUnavailable({ documentId, reason: "encryption is off, so there are no data keys" })),
  forOpening: (documentId) =>
    Effect.fail(new DataKeyUnavailable({ documentId, reason: "encryption is off, so there are no data keys" })),
  forget: (documentId) =>
    Effect.fail(
      new KeyStoreError({
        reason: `cannot forget ${documentId}: crypto-shredding needs encryption on (NERV_ENCRYPTION=on)`
      })
    ),
  isForgotten: () => Effect.succeed(false),
  forgottenAmong: () => Effect.succeed(new Set()),
  rewrap: Effect.fail(new KeyStoreError({ reason: "encryption is off, so there are no data keys to re-wrap" }))
})
