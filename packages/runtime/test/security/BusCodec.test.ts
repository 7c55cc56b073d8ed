import { assert, describe, it } from "@effect/vitest"
import { Document, DocumentEvent } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as BusCodec from "../../src/security/BusCodec.js"
import * as Cipher from "../../src/security/Cipher.js"
import * as Keyring from "../../src/security/Keyring.js"
import { masterKeys } from "./fixtures.js"

const event = new DocumentEvent.DocumentCreated({
  eventId: "00000000-0000-4000-8000-000000000010",
  documentId: Document.DocumentId.make("00000000-0000-4000-8000-000000000001"),
  version: 1,
  occurredAt: DateTime.unsafeMake("2026-11-22T06:00:00Z"),
  actor: "ann",
  correlationId: "c-1",
  causationId: "c-1",
  title: "Plan",
  content: "the confidential plan"
})

const sealedCodec = (keys: string, channel?: string) =>
  Effect.flatMap(BusCodec.BusCodec, Effect.succeed).pipe(
    Effect.provide(BusCodec.layer({ channel }).pipe(Layer.provide(Cipher.layer), Layer.provide(Keyring.layer(keys))))
  )

describe("BusCodec", () => {
  it.effect("round-trips an event through sealed bytes that do not show its content", () =>
    Effect.gen(function*() {
      const codec = yield* sealedCodec(masterKeys.k1)
      const bytes = yield* codec.encode(event)
      assert.isFalse(Buffer.from(bytes).includes(Buffer.from("confidential")))
      const decoded = yield* codec.decode(bytes)
      assert.deepStrictEqual(decoded, event)
      assert.isTrue(DocumentEvent.is(decoded))
    }))

  it.effect("a receiver holding the old key as well opens messages sealed before and after a rotation", () =>
    Effect.gen(function*() {
      const before = yield* Effect.flatMap(sealedCodec(masterKeys.k1), (c) => c.encode(event))
      const receiver = yield* sealedCodec(`${masterKeys.k2},${masterKeys.k1}`)
      const after = yield* receiver.encode(event)
      assert.deepStrictEqual(yield* receiver.decode(before), event)
      assert.deepStrictEqual(yield* receiver.decode(after), event)
    }))

  it.effect("refuses tampered bytes, another channel, an unknown key and clear-text messages", () =>
    Effect.gen(function*() {
      const codec = yield* sealedCodec(masterKeys.k1)
      const bytes = yield* codec.encode(event)
      for (let position = 0; position < bytes.length; position += 7) {
        const tampered = new Uint8Array(bytes)
        tampered[position] = tampered[position]! ^ 1
        assert.strictEqual((yield* Effect.flip(codec.decode(tampered)))._tag, "MessageUnreadable")
      }
      const elsewhere = yield* sealedCodec(masterKeys.k1, "other.channel")
      const moved = yield* Effect.flip(elsewhere.decode(bytes))
      assert.include(moved.message, "other.channel")
      const stranger = yield* sealedCodec(masterKeys.k2)
      assert.include((yield* Effect.flip(stranger.decode(bytes))).reason, "does not hold")
      const clear = yield* BusCodec.makePlaintext().encode(event)
      assert.strictEqual((yield* Effect.flip(codec.decode(clear)))._tag, "MessageUnreadable")
    }))

  it.effect("the plaintext codec warns at start, round-trips, and refuses sealed messages", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const codec = yield* Effect.flatMap(BusCodec.BusCodec, Effect.succeed).pipe(
        Effect.provide(BusCodec.layerPlaintext()),
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message)))))
      )
      assert.strictEqual(logs.length, 1)
      assert.include(logs[0]!, "OFF")
      assert.deepStrictEqual(yield* codec.decode(yield* codec.encode(event)), event)
      const sealed = yield* Effect.flatMap(sealedCodec(masterKeys.k1), (c) => c.encode(event))
      assert.include((yield* Effect.flip(codec.decode(sealed))).reason, "sealed")
    }))

  it.effect("answers garbage with MessageUnreadable, never a defect", () =>
    Effect.gen(function*() {
      const sealed = yield* sealedCodec(masterKeys.k1)
      const plain = BusCodec.makePlaintext()
      const garbage = FastCheck.oneof(
        FastCheck.uint8Array({ maxLength: 400 }),
        FastCheck.json().map((json) => new TextEncoder().encode(json)),
        FastCheck.constantFrom(
          "{\"__proto__\":{\"polluted\":true},\"_tag\":\"DocumentCreated\"}",
          "{\"_tag\":\"DocumentCreated\",\"constructor\":{\"prototype\":{\"x\":1}}}",
          JSON.stringify({ ...JSON.parse(DocumentEvent.encodeJson(event)), extra: 1 }),
          JSON.stringify({ ...JSON.parse(DocumentEvent.encodeJson(event)), version: "1" })
        ).map((json) => new TextEncoder().encode(json))
      )
      for (const bytes of FastCheck.sample(garbage, 1_000)) {
        for (const codec of [sealed, plain]) {
          const exit = yield* Effect.exit(codec.decode(bytes))
          assert.isTrue(exit._tag === "Failure" && exit.cause._tag === "Fail", "a typed failure")
        }
      }
      assert.isUndefined(({} as Record<string, unknown>)["polluted"])
    }))
})
