import { assert, describe, it } from "@effect/vitest"
import { Errors } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { PayloadCodec, Upcasting } from "../src/index.js"

const row = { documentId: "00000000-0000-4000-8000-000000000001", version: 3 }
const bytes = (text: string) => new TextEncoder().encode(text)

describe("PayloadCodec", () => {
  it.effect("compresses from minBytes on, records the encoding, and reads both back", () =>
    Effect.gen(function*() {
      const codec = PayloadCodec.compressed({ minBytes: 64 })
      const small = yield* codec.encode(bytes("{\"title\":\"a\"}"), row)
      const large = yield* codec.encode(bytes(JSON.stringify({ content: "x".repeat(1_000) })), row)
      assert.strictEqual(small.encoding, "json")
      assert.strictEqual(large.encoding, "json+gzip")
      assert.isBelow(large.data.byteLength, 100)
      // Either codec reads either encoding: switching compression on or off strands no row.
      for (const reader of [codec, PayloadCodec.json]) {
        assert.strictEqual(
          new TextDecoder().decode(yield* reader.decode(large, row)),
          JSON.stringify({ content: "x".repeat(1_000) })
        )
        assert.strictEqual(new TextDecoder().decode(yield* reader.decode(small, row)), "{\"title\":\"a\"}")
      }
    }))

  it.effect("names the row of a corrupt or unknown payload", () =>
    Effect.gen(function*() {
      const corrupt = yield* Effect.flip(PayloadCodec.json.decode({ encoding: "json+gzip", data: bytes("nope") }, row))
      assert.strictEqual(corrupt._tag, "PayloadCorrupt")
      assert.include(corrupt.message, `document ${row.documentId} version 3`)
      const unknown = yield* Effect.flip(PayloadCodec.json.decode({ encoding: "json+rot13", data: bytes("{}") }, row))
      assert.include(unknown.message, "unknown encoding \"json+rot13\"")
    }))

  it.effect("decodes a page at once exactly as it decodes row by row, corrupt rows included", () =>
    Effect.gen(function*() {
      const codec = PayloadCodec.compressed({ minBytes: 64 })
      const rowOf = (version: number) => ({ documentId: row.documentId, version })
      const small = yield* codec.encode(bytes("{\"title\":\"a\"}"), rowOf(1))
      const large = yield* codec.encode(bytes(JSON.stringify({ content: "x".repeat(1_000) })), rowOf(2))
      const page: Array<PayloadCodec.StoredPayload> = [
        { ...small, ...rowOf(1) },
        { ...large, ...rowOf(2) },
        { encoding: "json+gzip", data: bytes("nope"), ...rowOf(3) },
        { encoding: "json+rot13", data: bytes("{}"), ...rowOf(4) }
      ]
      const oneByOne = yield* Effect.forEach(page, (payload) => Effect.either(codec.decode(payload, payload)))
      assert.deepStrictEqual(yield* PayloadCodec.decodeAll(codec, page), oneByOne)
      assert.deepStrictEqual(oneByOne.map((result) => result._tag), ["Right", "Right", "Left", "Left"])
      // A codec without a batch path is decoded row by row, with the same results.
      const rowByRow: PayloadCodec.PayloadCodecService = { encode: codec.encode, decode: codec.decode }
      assert.deepStrictEqual(yield* PayloadCodec.decodeAll(rowByRow, page), oneByOne)
    }))

  it.effect("decodes a page through a codec without a batch path, each row getting its own result", () =>
    Effect.gen(function*() {
      const forgetting: PayloadCodec.PayloadCodecService = {
        encode: PayloadCodec.json.encode,
        decode: (stored, at) =>
          at.version === 2
            ? Effect.fail(new Errors.DocumentForgotten({ documentId: at.documentId }))
            : PayloadCodec.json.decode(stored, at)
      }
      const page = [1, 2, 3].map((version) => ({ encoding: "json", data: bytes("{}"), ...row, version }))
      const results = yield* PayloadCodec.decodeAll(forgetting, page)
      assert.deepStrictEqual(results.map((result) => result._tag), ["Right", "Left", "Right"])
      assert.strictEqual(results[1]!._tag === "Left" && results[1]!.left._tag, "DocumentForgotten")
    }))
})

describe("Upcasting", () => {
  const step = (fromVersion: number) => ({
    eventType: "DocumentCreated",
    fromVersion,
    upcast: (p: Upcasting.Payload) => p
  })

  it("refuses a chain with a gap or a duplicate when it is built, not on the first old row", () => {
    assert.throws(() => Upcasting.make([step(1), step(3)]), "have no step from version 2 to 3")
    assert.throws(() => Upcasting.make([step(1), step(1)]), "two upcasters for DocumentCreated from version 1")
  })

  it("upcasts one step at a time up to the current version, which new rows are written under", () => {
    const registry = Upcasting.make([
      { eventType: "DocumentDeleted", fromVersion: 1, upcast: (p) => ({ why: p["note"] }) },
      { eventType: "DocumentDeleted", fromVersion: 2, upcast: (p) => ({ reason: p["why"] }) }
    ])
    assert.strictEqual(registry.currentVersion("DocumentDeleted"), 3)
    assert.strictEqual(registry.currentVersion("DocumentCreated"), 1)
    assert.deepStrictEqual(Either.getOrThrow(registry.upcast("DocumentDeleted", 1, { note: "old" })), { reason: "old" })
    assert.deepStrictEqual(Either.getOrThrow(registry.upcast("DocumentDeleted", 2, { why: "mid" })), { reason: "mid" })
    assert.isTrue(Either.isLeft(registry.upcast("DocumentDeleted", 4, {})))
  })
})
