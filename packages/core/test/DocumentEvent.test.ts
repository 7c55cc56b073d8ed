import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
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
