import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import { randomBytes } from "node:crypto"
import * as Cipher from "../../src/security/Cipher.js"
import * as Keyring from "../../src/security/Keyring.js"

const key = (id: string) => Cipher.secretKey(id, randomBytes(32))
const text = (s: string) => new TextEncoder().encode(s)
const aad = text("doc-1\0v1")

const headerLength = (id: string) => 2 + id.length

describe("Cipher", () => {
  it("opens what it sealed, with the same key and associated data", () => {
    const k = key("k1")
    const sealed = Cipher.seal(k, text("hello"), aad)
    const opened = Cipher.open(k, sealed, aad)
    assert.isTrue(Either.isRight(opened))
    assert.strictEqual(new TextDecoder().decode(Either.getOrThrow(opened)), "hello")
    assert.strictEqual(Either.getOrThrow(Cipher.keyIdOf(sealed)), "k1")
  })

  it("never shows the plaintext in the sealed bytes, and seals the same message differently each time", () => {
    const k = key("k1")
    const message = text("a secret that repeats a secret that repeats")
    const one = Buffer.from(Cipher.seal(k, message, aad))
    const two = Buffer.from(Cipher.seal(k, message, aad))
    assert.isFalse(one.includes(Buffer.from("secret")))
    assert.isFalse(one.equals(two))
    assert.strictEqual(one.length, headerLength("k1") + Cipher.ivLength + message.length + Cipher.tagLength)
  })

  it("uses no IV twice in 1,000,000 seals", () => {
    const k = key("k1")
    const plaintext = new Uint8Array(1)
    const offset = headerLength("k1")
    // Each IV as a 12-character latin1 string: exact (one char per byte) and compact enough for 1M.
    const seen = new Set<string>()
    const n = 1_000_000
    for (let i = 0; i < n; i++) {
      const sealed = Cipher.seal(k, plaintext)
      seen.add(Buffer.from(sealed.buffer, sealed.byteOffset + offset, Cipher.ivLength).toString("latin1"))
    }
    assert.strictEqual(seen.size, n)
  }, 120_000)

  it("detects a flipped bit at every byte position of a sealed message", () => {
    const k = key("k-flip")
    const sealed = Cipher.seal(k, text("a 200-byte-ish payload: " + "x".repeat(60)), aad)
    for (let position = 0; position < sealed.length; position++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const tampered = new Uint8Array(sealed)
        tampered[position] = tampered[position]! ^ mask
        const opened = Cipher.open(k, tampered, aad)
        assert.isTrue(Either.isLeft(opened), `byte ${position} ^ ${mask} went unnoticed`)
        assert.strictEqual(Either.getLeft(opened).pipe((o) => o._tag === "Some" ? o.value._tag : ""), "OpenFailed")
      }
    }
  })

  it("refuses a truncated or extended message, another key with the same id, and other associated data", () => {
    const k = key("k1")
    const sealed = Cipher.seal(k, text("hello"), aad)
    for (let length = 0; length < sealed.length; length++) {
      assert.isTrue(Either.isLeft(Cipher.open(k, sealed.subarray(0, length), aad)), `truncated to ${length}`)
    }
    const extended = new Uint8Array(sealed.length + 1)
    extended.set(sealed)
    assert.isTrue(Either.isLeft(Cipher.open(k, extended, aad)))
    assert.isTrue(Either.isLeft(Cipher.open(key("k1"), sealed, aad)))
    assert.isTrue(Either.isLeft(Cipher.open(k, sealed, text("doc-1\0v2"))))
    assert.isTrue(Either.isLeft(Cipher.open(k, sealed)))
    const other = Cipher.open(key("k2"), sealed, aad)
    assert.include(Either.getLeft(other).pipe((o) => o._tag === "Some" ? o.value.reason : ""), "sealed under key k1")
  })

  it("never throws on arbitrary bytes", () => {
    const k = key("k1")
    FastCheck.assert(
      FastCheck.property(FastCheck.uint8Array({ maxLength: 300 }), (bytes) => {
        assert.isTrue(Either.isLeft(Cipher.open(k, bytes, aad)))
      }),
      { numRuns: 2_000 }
    )
  })

  it.effect("the service seals under the active master key and opens under any key of the keyring", () =>
    Effect.gen(function*() {
      const old = Keyring.generate("old")
      const sealedByOld = yield* Effect.flatMap(Cipher.Cipher, (cipher) => cipher.seal(text("before"))).pipe(
        Effect.provide(Cipher.layer.pipe(Layer.provide(Keyring.layer(old))))
      )
      const rotated = Cipher.layer.pipe(Layer.provide(Keyring.layer(`${Keyring.generate("new")},${old}`)))
      const [opened, sealedByNew] = yield* Effect.flatMap(
        Cipher.Cipher,
        (cipher) => Effect.zip(cipher.open(sealedByOld), cipher.seal(text("after")))
      ).pipe(Effect.provide(rotated))
      assert.strictEqual(new TextDecoder().decode(opened), "before")
      assert.strictEqual(Either.getOrThrow(Cipher.keyIdOf(sealedByNew)), "new")
      const missing = yield* Effect.flatMap(Cipher.Cipher, (cipher) => cipher.open(sealedByNew)).pipe(
        Effect.provide(Cipher.layer.pipe(Layer.provide(Keyring.layer(old)))),
        Effect.flip
      )
      assert.strictEqual(missing._tag, "OpenFailed")
      assert.include(missing.message, "does not hold")
    }))
})
