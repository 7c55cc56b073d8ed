import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as FastCheck from "effect/FastCheck"
import * as Hash from "effect/Hash"
import * as Schema from "effect/Schema"
import * as Document from "../src/Document.js"
import * as DocumentEvent from "../src/DocumentEvent.js"

describe("DocumentEvent", () => {
  it.prop("every event round-trips through JSON", [Arbitrary.make(DocumentEvent.DocumentEvent)], ([event]) => {
    const json = DocumentEvent.encodeJson(event)
    const decoded = Effect.runSync(Effect.either(DocumentEvent.decodeJson(json)))
    assert.isTrue(Either.isRight(decoded))
    assert.deepStrictEqual(Either.getOrThrow(decoded), event)
  })

  it.prop("anything that is not an event is refused with a ParseError, never a defect", [
    FastCheck.oneof(FastCheck.string(), FastCheck.json(), FastCheck.jsonValue().map((v) => JSON.stringify(v)))
  ], ([text]) => {
    const exit = Effect.runSyncExit(Effect.either(DocumentEvent.decodeJson(text)))
    assert.isTrue(exit._tag === "Success")
    if (exit._tag === "Success" && Either.isLeft(exit.value)) assert.strictEqual(exit.value.left._tag, "ParseError")
  })

  it("refuses an event with extra fields", () => {
    const event = {
      _tag: "DocumentDeleted",
      eventId: "00000000-0000-4000-8000-000000000001",
      documentId: "00000000-0000-4000-8000-000000000002",
      version: 2,
      occurredAt: "2026-01-01T00:00:00.000Z",
      actor: "ann",
      correlationId: "c",
      causationId: "c",
      reason: "done",
      __proto__: { polluted: true },
      extra: 1
    }
    const decoded = Effect.runSync(Effect.either(DocumentEvent.decodeJson(JSON.stringify(event))))
    assert.isTrue(Either.isLeft(decoded))
  })
})

describe("unsafeMake", () => {
  const sameInstance = (fast: object, slow: object) => {
    assert.strictEqual(Object.getPrototypeOf(fast), Object.getPrototypeOf(slow))
    assert.deepStrictEqual(Object.keys(fast), Object.keys(slow))
    assert.isTrue(Equal.equals(fast, slow))
    assert.strictEqual(Hash.hash(fast), Hash.hash(slow))
  }

  it.prop(
    "builds the event the Schema constructor builds",
    [Arbitrary.make(DocumentEvent.DocumentEvent)],
    ([event]) => {
      const { _tag, ...fields } = event
      const fast = (DocumentEvent.unsafeMake[_tag] as (fields: object) => DocumentEvent.DocumentEvent)(fields)
      sameInstance(fast, event)
      assert.isTrue(DocumentEvent.is(fast))
      assert.strictEqual(DocumentEvent.encodeJson(fast), DocumentEvent.encodeJson(event))
    }
  )

  it.prop("builds the document the Schema constructor builds", [Arbitrary.make(Document.Document)], ([document]) => {
    const fast = Document.unsafeMake({ ...document })
    sameInstance(fast, document)
    assert.instanceOf(fast, Document.Document)
    assert.strictEqual(fast.isDeleted, document.isDeleted)
    assert.isTrue(Schema.is(Document.Document)(fast))
  })
})
