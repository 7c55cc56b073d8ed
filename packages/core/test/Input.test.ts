import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { DocumentId } from "../src/Document.js"
import { UpdateInput, UpdateOptions } from "../src/Documents.js"
import { InvalidInput } from "../src/Errors.js"
import { decoder } from "../src/Input.js"

const UpdateCall = Schema.Struct({ id: DocumentId, changes: UpdateInput, options: UpdateOptions })
const decode = decoder("Documents.update", UpdateCall)
const strict = Schema.decodeUnknownEither(UpdateCall, { errors: "all", onExcessProperty: "error" })

/** Inputs near the schema: mostly the right fields, sometimes wrong, missing or extra ones. */
const field = <A>(value: FastCheck.Arbitrary<A>) => FastCheck.option(value, { nil: undefined, freq: 4 })
const nearInput = FastCheck.record({
  id: field(FastCheck.oneof(FastCheck.uuid(), FastCheck.string())),
  changes: field(FastCheck.oneof(
    FastCheck.record({
      title: field(FastCheck.string()),
      content: field(FastCheck.string()),
      contnet: field(FastCheck.string())
    }, { requiredKeys: [] }),
    FastCheck.anything()
  )),
  options: field(FastCheck.record({
    editor: field(FastCheck.string()),
    expectedVersion: field(FastCheck.oneof(FastCheck.integer(), FastCheck.double())),
    extra: field(FastCheck.anything())
  }, { requiredKeys: [] })),
  more: field(FastCheck.anything())
}, { requiredKeys: [] })

describe("Input.decoder", () => {
  it.prop("gives the strict decoder's verdict, value and message on any input", [
    FastCheck.oneof(nearInput, FastCheck.anything())
  ], ([input]) => {
    const result = Effect.runSync(Effect.either(decode(input)))
    const expected = strict(input)
    if (Either.isRight(expected)) {
      assert.isTrue(Either.isRight(result))
      assert.deepStrictEqual(Either.getOrThrow(result), expected.right)
    } else {
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.deepStrictEqual(result.left, InvalidInput.fromParseError("Documents.update", expected.left))
      }
    }
  })

  it("refuses a misspelt field instead of dropping it", () => {
    const result = Effect.runSync(Effect.either(decode({
      id: "00000000-0000-4000-8000-000000000001",
      changes: { content: "new", titel: "typo" },
      options: { editor: "ann" }
    })))
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.strictEqual(result.left._tag, "InvalidInput")
      assert.include(result.left.message, "titel")
    }
  })
})

/** Input no caller should send, and every caller may: deep, throwing, proxied, huge. */
const hostile = (() => {
  let deep: unknown = "x"
  for (let i = 0; i < 3_000; i++) deep = { a: deep }
  let deeper: unknown = []
  for (let i = 0; i < 100_000; i++) deeper = [deeper]
  const cyclic: Record<string, unknown> = {}
  cyclic["self"] = cyclic
  const throwingGetter = {
    get title(): string {
      throw new Error("boom")
    }
  }
  const throwingKeys = new Proxy({}, {
    ownKeys: () => {
      throw new Error("trap")
    }
  })
  const throwingGet = new Proxy({ title: "a" }, {
    get: () => {
      throw new Error("trap")
    }
  })
  const wide = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))
  return { deep, deeper, cyclic, throwingGetter, throwingKeys, throwingGet, wide }
})()

describe("Input.decoder on hostile input", () => {
  const id = "00000000-0000-4000-8000-000000000001"
  for (const [name, value] of Object.entries(hostile)) {
    it(`refuses ${name} with InvalidInput, at the top or in any field, with a bounded message`, () => {
      for (
        const input of [value, { id, changes: value, options: { editor: "ann" } }, {
          id,
          changes: { title: value },
          options: { editor: "ann" }
        }, { id, changes: { content: "c" }, options: value }]
      ) {
        const result = Effect.runSync(Effect.either(decode(input)))
        assert.isTrue(Either.isLeft(result), name)
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left._tag, "InvalidInput")
          assert.isBelow(result.left.message.length, 20_000)
        }
      }
    })
  }

  it("says where the input is too deep or unreadable", () => {
    const messageOf = (input: unknown) =>
      Effect.runSync(Effect.flip(decode({ id, changes: input, options: { editor: "ann" } }))).message
    assert.include(messageOf(hostile.deep), "nested more than 32 levels deep")
    assert.include(messageOf(hostile.throwingGetter), "the input.changes.title cannot be read")
    assert.include(messageOf(hostile.throwingKeys), "the fields of the input.changes cannot be listed")
  })

  it("still explains well-formed but wrong input with the Schema's tree", () => {
    const error = Effect.runSync(Effect.flip(decode({ id, changes: { title: 7 }, options: { editor: "ann" } })))
    assert.include(error.message, "[\"title\"]")
    assert.include(error.message, "Expected string, actual 7")
  })
})
