import { assert, describe, it } from "@effect/vitest"
import { PayloadCodec } from "@nerv/store"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Cipher from "../../src/security/Cipher.js"
import * as DataKeys from "../../src/security/DataKeys.js"
import * as Keyring from "../../src/security/Keyring.js"
import * as KeyStore from "../../src/security/KeyStore.js"
import * as SealedPayloads from "../../src/security/SealedPayloads.js"
import { jsonCodecLayer, masterKeys, sqliteLayer, text, untext } from "./fixtures.js"

const doc = "3f1c2d4e-0000-4000-8000-000000000001"
const other = "3f1c2d4e-0000-4000-8000-000000000002"
const payload = text(JSON.stringify({ title: "Salaries 2026", content: "the secret numbers" }))

/** The sealing codec and its data keys, on a key store that outlives the layer (to restart with other keys). */
const sealed = (keys: string, store: KeyStore.KeyStoreService, options?: DataKeys.Options & SealedPayloads.Options) =>
  SealedPayloads.layer(options).pipe(
    Layer.provideMerge(DataKeys.layer(options)),
    Layer.provide(Layer.mergeAll(Keyring.layer(keys), Layer.succeed(KeyStore.KeyStore, store), jsonCodecLayer))
  )

const codec = PayloadCodec.PayloadCodec

describe("SealedPayloads", () => {
  it.effect("seals a payload for its row and opens it back", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.makeMemory
      yield* Effect.gen(function*() {
        const c = yield* codec
        const stored = yield* c.encode(payload, { documentId: doc, version: 1 })
        assert.strictEqual(stored.encoding, "json+aes256gcm")
        assert.isFalse(Buffer.from(stored.data).includes(Buffer.from("secret")))
        const keyId = Cipher.keyIdOf(stored.data)
        assert.strictEqual(keyId._tag, "Right")
        assert.match(keyId._tag === "Right" ? keyId.right : "", /^dk-[0-9a-f]{16}$/)
        assert.strictEqual(untext(yield* c.decode(stored, { documentId: doc, version: 1 })), untext(payload))
      }).pipe(Effect.provide(sealed(masterKeys.k1, store)))
      const entry = yield* store.lookup(doc)
      assert.strictEqual(entry._tag === "Some" && entry.value._tag, "Active")
      assert.strictEqual(entry._tag === "Some" && entry.value._tag === "Active" && entry.value.key.masterKeyId, "k1")
    }))

  it.effect("refuses a payload moved to another row, or relabelled, with DecryptionFailed naming the row", () =>
    Effect.gen(function*() {
      const c = yield* codec
      const stored = yield* c.encode(payload, { documentId: doc, version: 1 })
      yield* c.encode(payload, { documentId: other, version: 1 })
      for (const row of [{ documentId: doc, version: 2 }, { documentId: other, version: 1 }]) {
        const error = yield* Effect.flip(c.decode(stored, row))
        assert.strictEqual(error._tag, "DecryptionFailed")
        assert.include(error.message, `document ${row.documentId} version ${row.version}`)
      }
      const relabelled = yield* Effect.flip(
        c.decode({ encoding: "json+gzip+aes256gcm", data: stored.data }, { documentId: doc, version: 1 })
      )
      assert.strictEqual(relabelled._tag, "DecryptionFailed")
    }).pipe(
      Effect.provide(Effect.map(KeyStore.makeMemory, (store) => sealed(masterKeys.k1, store)).pipe(Layer.unwrapEffect))
    ))

  it.effect("detects a flipped byte at every position of a stored payload", () =>
    Effect.gen(function*() {
      const c = yield* codec
      const row = { documentId: doc, version: 1 }
      const stored = yield* c.encode(payload, row)
      for (let position = 0; position < stored.data.length; position++) {
        const data = new Uint8Array(stored.data)
        data[position] = data[position]! ^ 0x20
        const error = yield* Effect.flip(c.decode({ encoding: stored.encoding, data }, row))
        assert.strictEqual(error._tag, "DecryptionFailed", `byte ${position}`)
      }
    }).pipe(
      Effect.provide(Effect.map(KeyStore.makeMemory, (store) => sealed(masterKeys.k1, store)).pipe(Layer.unwrapEffect))
    ))

  it.effect("refuses unsealed rows unless told to read rows written with encryption off", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.makeMemory
      const plain = { encoding: "json", data: payload }
      const row = { documentId: doc, version: 1 }
      const refused = yield* Effect.flatMap(codec, (c) => Effect.flip(c.decode(plain, row))).pipe(
        Effect.provide(sealed(masterKeys.k1, store))
      )
      assert.strictEqual(refused._tag, "DecryptionFailed")
      assert.include(refused.message, "not sealed")
      const read = yield* Effect.flatMap(codec, (c) => c.decode(plain, row)).pipe(
        Effect.provide(sealed(masterKeys.k1, store, { allowUnsealed: true }))
      )
      assert.strictEqual(untext(read), untext(payload))
    }))

  it.effect("forget shreds one document: its payloads never open again, new ones are refused, others are untouched", () =>
    Effect.gen(function*() {
      const c = yield* codec
      const keys = yield* DataKeys.DataKeys
      const one = yield* c.encode(payload, { documentId: doc, version: 1 })
      const two = yield* c.encode(payload, { documentId: other, version: 1 })
      yield* keys.forget(doc)
      const opened = yield* Effect.flip(c.decode(one, { documentId: doc, version: 1 }))
      assert.strictEqual(opened._tag, "DocumentForgotten")
      assert.include(opened.message, doc)
      const sealedAgain = yield* Effect.flip(c.encode(payload, { documentId: doc, version: 2 }))
      assert.strictEqual(sealedAgain._tag, "DocumentForgotten")
      assert.strictEqual(untext(yield* c.decode(two, { documentId: other, version: 1 })), untext(payload))
      assert.isTrue(yield* keys.isForgotten(doc))
      assert.isFalse(yield* keys.isForgotten(other))
      yield* keys.forget(doc)
    }).pipe(
      Effect.provide(Effect.map(KeyStore.makeMemory, (store) => sealed(masterKeys.k1, store)).pipe(Layer.unwrapEffect))
    ))

  it.effect("decodes a page as it decodes each row: held keys, keys still to fetch, forgotten, tampered, unsealed", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.makeMemory
      const third = "3f1c2d4e-0000-4000-8000-000000000003"
      // Written by one process…
      const page = yield* Effect.gen(function*() {
        const c = yield* codec
        const rows: Array<PayloadCodec.StoredPayload> = []
        for (const [documentId, version] of [[doc, 1], [other, 1], [doc, 2], [third, 1]] as const) {
          rows.push({ ...(yield* c.encode(payload, { documentId, version })), documentId, version })
        }
        yield* Effect.flatMap(DataKeys.DataKeys, (keys) => keys.forget(third))
        const tampered = Uint8Array.from(rows[2]!.data)
        tampered[tampered.length - 1]! ^= 1
        return [
          ...rows,
          { ...rows[2]!, data: tampered },
          { ...rows[0]!, version: 7 },
          { encoding: "json", data: payload, documentId: other, version: 2 },
          { encoding: "json+zstd", data: payload, documentId: other, version: 3 }
        ]
      }).pipe(Effect.provide(sealed(masterKeys.k1, store)))
      // …read by another, which holds one key already and fetches the others.
      for (const options of [{}, { allowUnsealed: true }]) {
        yield* Effect.gen(function*() {
          const c = yield* codec
          yield* c.decode(page[1]!, page[1]!)
          const together = yield* PayloadCodec.decodeAll(c, page)
          const oneByOne = yield* Effect.forEach(page, (row) => Effect.either(c.decode(row, row)))
          assert.deepStrictEqual(
            together.map((result) => Either.map(result, untext)),
            oneByOne.map((result) => Either.map(result, untext))
          )
          assert.deepStrictEqual(together.map((result) => Either.isLeft(result) ? result.left._tag : "opened"), [
            "opened",
            "opened",
            "opened",
            "DocumentForgotten",
            "DecryptionFailed",
            "DecryptionFailed",
            ...(Object.keys(options).length === 0
              ? ["DecryptionFailed", "DecryptionFailed"]
              : ["opened", "PayloadCorrupt"])
          ])
        }).pipe(Effect.provide(sealed(masterKeys.k1, store, options)))
      }
    }))

  it.effect("gives concurrent first seals of a new document one data key", () =>
    Effect.gen(function*() {
      const c = yield* codec
      const rows = Array.from({ length: 20 }, (_, i) => ({ documentId: doc, version: i + 1 }))
      const stored = yield* Effect.forEach(rows, (row) => c.encode(payload, row), { concurrency: "unbounded" })
      const ids = new Set(stored.map((s) => Cipher.keyIdOf(s.data).pipe((id) => id._tag === "Right" ? id.right : "")))
      assert.strictEqual(ids.size, 1)
      yield* Effect.forEach(rows, (row, i) => c.decode(stored[i]!, row))
    }).pipe(
      Effect.provide(
        Effect.map(KeyStore.makeMemory, (store) => sealed(masterKeys.k1, store, { cacheSize: 0 })).pipe(
          Layer.unwrapEffect
        )
      )
    ))

  it.effect("rotates master keys: the new key wraps from now on, rewrap moves old keys over, then the old key can go", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore.makeMemory
      const row = { documentId: doc, version: 1 }
      const old = yield* Effect.flatMap(codec, (c) => c.encode(payload, row)).pipe(
        Effect.provide(sealed(masterKeys.k1, store))
      )
      // Without k1, the document's data key cannot be unwrapped: a clear DecryptionFailed.
      const withoutOld = yield* Effect.flatMap(codec, (c) => Effect.flip(c.decode(old, row))).pipe(
        Effect.provide(sealed(masterKeys.k2, store))
      )
      assert.strictEqual(withoutOld._tag, "DecryptionFailed")
      assert.include(withoutOld.message, "master key k1")

      const rotated = `${masterKeys.k2},${masterKeys.k1}`
      const report = yield* Effect.gen(function*() {
        const c = yield* codec
        const fresh = yield* c.encode(payload, { documentId: other, version: 1 })
        assert.strictEqual(untext(yield* c.decode(old, row)), untext(payload))
        const report = yield* Effect.flatMap(DataKeys.DataKeys, (keys) => keys.rewrap)
        // While and after re-wrapping, everything still opens.
        yield* c.decode(old, row)
        yield* c.decode(fresh, { documentId: other, version: 1 })
        return report
      }).pipe(Effect.provide(sealed(rotated, store)))
      assert.deepStrictEqual(report, { masterKeyId: "k2", rewrapped: 1, alreadyCurrent: 1, failed: [] })

      const afterRetiring = yield* Effect.flatMap(codec, (c) => c.decode(old, row)).pipe(
        Effect.provide(sealed(masterKeys.k2, store))
      )
      assert.strictEqual(untext(afterRetiring), untext(payload))
      // Only the wrapping changed: the data key that sealed the payload is the same key, now under k2.
      const entry = yield* store.lookup(doc)
      assert.isTrue(entry._tag === "Some" && entry.value._tag === "Active")
      if (entry._tag === "Some" && entry.value._tag === "Active") {
        assert.strictEqual(entry.value.key.masterKeyId, "k2")
        assert.deepStrictEqual(Cipher.keyIdOf(old.data), Either.right(entry.value.key.keyId))
      }
    }))

  it.effect("keeps wrapped keys in the journal's SQLite database, and forgetting survives a restart", () =>
    Effect.gen(function*() {
      const row = { documentId: doc, version: 1 }
      const stack = (keys: string) =>
        SealedPayloads.layer().pipe(
          Layer.provideMerge(DataKeys.layer()),
          Layer.provide(Layer.mergeAll(Keyring.layer(keys), KeyStore.layerSql, jsonCodecLayer))
        )
      const stored = yield* Effect.flatMap(codec, (c) => c.encode(payload, row)).pipe(
        Effect.provide(stack(masterKeys.k1))
      )
      const rotated = `${masterKeys.k2},${masterKeys.k1}`
      const report = yield* Effect.flatMap(DataKeys.DataKeys, (keys) => keys.rewrap).pipe(
        Effect.provide(stack(rotated))
      )
      assert.strictEqual(report.rewrapped, 1)
      const reopened = yield* Effect.flatMap(codec, (c) => c.decode(stored, row)).pipe(
        Effect.provide(stack(masterKeys.k2))
      )
      assert.strictEqual(untext(reopened), untext(payload))
      yield* Effect.flatMap(DataKeys.DataKeys, (keys) => keys.forget(doc)).pipe(Effect.provide(stack(masterKeys.k2)))
      const error = yield* Effect.flatMap(codec, (c) => Effect.flip(c.decode(stored, row))).pipe(
        Effect.provide(stack(masterKeys.k2))
      )
      assert.strictEqual(error._tag, "DocumentForgotten")
      const store = yield* KeyStore.makeSql
      const entry = yield* store.lookup(doc)
      assert.strictEqual(entry._tag === "Some" && entry.value._tag, "Forgotten")
    }).pipe(Effect.provide(sqliteLayer)))

  it.effect("encryption is on by default, needs keys, and is off only when configured, with a warning", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const logger = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message))))
      const stack = SealedPayloads.layerConfig(KeyStore.layerMemory).pipe(Layer.provide(jsonCodecLayer))
      const run = (env: Record<string, string>) =>
        Effect.flatMap(codec, (c) => c.encode(payload, { documentId: doc, version: 1 })).pipe(
          Effect.provide(stack),
          Effect.provide(logger),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      const on = yield* run({ NERV_MASTER_KEYS: masterKeys.k1 })
      assert.strictEqual(on.encoding, "json+aes256gcm")
      assert.deepStrictEqual(logs, [])
      const missing = yield* Effect.flip(run({}))
      assert.include(String(missing), "NERV_MASTER_KEYS")
      const off = yield* run({ NERV_ENCRYPTION: "off" })
      assert.strictEqual(off.encoding, "json")
      assert.deepStrictEqual(logs, [SealedPayloads.plaintextWarning])
      const typo = yield* Effect.flip(run({ NERV_ENCRYPTION: "of", NERV_MASTER_KEYS: masterKeys.k1 }))
      assert.include(String(typo), "NERV_ENCRYPTION")
      assert.include(String(typo), "use on or off")
    }))

  it.effect("NERV_ENCRYPTION takes on and off in any case, and the usual spellings of a switch", () =>
    Effect.gen(function*() {
      const read = (value: string) =>
        SealedPayloads.enabled.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["NERV_ENCRYPTION", value]])))
        )
      for (const off of ["off", "OFF", "Off", "false", "FALSE", "no", "0", " off "]) {
        assert.isFalse(yield* read(off), off)
      }
      for (const on of ["on", "ON", "true", "True", "yes", "1"]) assert.isTrue(yield* read(on), on)
      assert.isTrue(yield* SealedPayloads.enabled.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))))
    }))

  it.effect("the plaintext codec says a sealed row needs the keys, rather than calling it corrupt", () =>
    Effect.gen(function*() {
      const row = { documentId: doc, version: 1 }
      const store = yield* KeyStore.makeMemory
      const stored = yield* Effect.flatMap(codec, (c) => c.encode(payload, row)).pipe(
        Effect.provide(sealed(masterKeys.k1, store))
      )
      const error = yield* Effect.flatMap(codec, (c) => Effect.flip(c.decode(stored, row))).pipe(
        Effect.provide(SealedPayloads.layerPlaintext.pipe(Layer.provide(jsonCodecLayer))),
        Effect.provide(Logger.remove(Logger.defaultLogger))
      )
      assert.strictEqual(error._tag, "DecryptionFailed")
      assert.include(error.message, "encryption is off")
    }))
})
