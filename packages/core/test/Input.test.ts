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
