/**
 * Garbage at every decoder and guarded program: always a typed error, never a defect, never a
 * state change.
 */
import { assert, describe, it } from "@effect/vitest"
import { Access, Document, Documents } from "@nerv/core"
import { PayloadCodec } from "@nerv/store"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Nerv from "../../src/Nerv.js"
import * as Recorder from "../../src/Recorder.js"
import * as Admin from "../../src/security/Admin.js"
import * as AuditTrail from "../../src/security/AuditTrail.js"
import * as DataKeys from "../../src/security/DataKeys.js"
import * as Keyring from "../../src/security/Keyring.js"
import * as KeyStore from "../../src/security/KeyStore.js"
import * as Rbac from "../../src/security/Rbac.js"
import * as SealedPayloads from "../../src/security/SealedPayloads.js"
import { dataKeysMemory, jsonCodecLayer, masterKeys } from "./fixtures.js"

const runs = 200

const hostile = FastCheck.oneof(
  FastCheck.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true }),
  FastCheck.json().map((text) => {
    try {
      return JSON.parse(text) as unknown
    } catch {
      return text
    }
  }),
  FastCheck.string({ minLength: 1, maxLength: 50 }).map((s) => s.repeat(Math.ceil(600_000 / s.length))),
  FastCheck.constantFrom<unknown>(
    JSON.parse(`{"__proto__":{"polluted":true},"title":"t","content":"c"}`),
    JSON.parse(`{"constructor":{"prototype":{"polluted":true}}}`),
    "__proto__",
    "constructor",
    "../../etc/passwd",
    "00000000-0000-4000-8000-000000000001'; DROP TABLE nerv_audit; --",
    { title: "x".repeat(201), content: "c" },
    { title: "t", content: "c".repeat(1_000_001) },
    { title: "  ", content: "c" },
    { title: 1, content: [] },
    null,
    undefined,
    Number.NaN,
    -1,
    2 ** 53
  )
)

const typedFailure = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) && !Cause.isDie(exit.cause) && Cause.isFailType(exit.cause)

const layer = Layer.mergeAll(
  Nerv.layerTestWithPolicy(Rbac.layerPolicy({ principals: { root: ["admin"] }, roles: { admin: ["*"] } })),
  Layer.orDie(dataKeysMemory(masterKeys.k1))
)

const changes = Effect.flatMap(
  Recorder.Recorder,
  (recorder) => Effect.map(recorder.entries, (entries) => entries.filter((entry) => entry._tag !== "Logged").length)
)

const validCreate = Schema.is(Schema.Struct({ title: Document.Title, content: Document.Content }), {
  onExcessProperty: "error"
})
const validUpdate = Schema.is(Documents.UpdateInput, { onExcessProperty: "error" })

describe("garbage in", () => {
  it.effect(
    "every guarded program answers garbage with a typed error and changes nothing",
    () =>
      Effect.gen(function*() {
        const id = yield* Documents.create({ title: "Real", content: "real" })
        const before = yield* changes
        const calls: ReadonlyArray<(a: unknown, b: unknown, c: unknown) => Effect.Effect<unknown, unknown, any>> = [
          (a) => Documents.create(a as never),
          (a) => Documents.get(a as never),
          (a) => Documents.history(a as never),
          (a, b) => Documents.at(a as never, b as never),
          (a) => Documents.shape(a as never),
          (a, b, c) => Documents.update(a as never, b as never, c as never),
          (_, b, c) => Documents.update(id, b as never, c as never),
          (a, b) => Documents.remove(a as never, b as never),
          (_, b) => Documents.remove(id, b as never),
          (a) => Admin.forget(a as never)
        ]
        const samples = FastCheck.sample(FastCheck.tuple(hostile, hostile, hostile), runs)
        for (const [a, b, c] of samples) {
          for (const [index, call] of calls.entries()) {
            // A rare sample that is valid input is not garbage; skip it rather than assert on it.
            if (index === 0 && validCreate(a)) continue
            if ((index === 6 || index === 5) && validUpdate(b)) continue
            const exit = yield* Effect.exit(call(a, b, c))
            if (!typedFailure(exit)) {
              assert.fail(
                `call ${index} did not fail with a typed error: ${
                  Cause.pretty(exit._tag === "Failure" ? exit.cause : Cause.empty)
                }`
              )
            }
          }
          assert.strictEqual(yield* changes, before)
        }
        assert.strictEqual(({} as Record<string, unknown>)["polluted"], undefined)
        const document = yield* Documents.get(id)
        assert.strictEqual(document.version, 1)
        assert.strictEqual((yield* Effect.flatMap(AuditTrail.AuditTrail, (trail) => trail.verify()))._tag, "Intact")
      }).pipe(Access.as("root"), Effect.provide(layer)),
    120_000
  )

  it.effect("the sealed payload codec answers garbage bytes and encodings with PayloadError values", () =>
    Effect.gen(function*() {
      const codec = yield* PayloadCodec.PayloadCodec
      const row = { documentId: "00000000-0000-4000-8000-000000000001", version: 1 }
      yield* codec.encode(new TextEncoder().encode("{}"), row)
      const stored = FastCheck.record({
        encoding: FastCheck.oneof(
          FastCheck.string(),
          FastCheck.constantFrom("json", "json+aes256gcm", "json+gzip+aes256gcm", "+aes256gcm", "__proto__")
        ),
        data: FastCheck.uint8Array({ maxLength: 512 })
      })
      for (const sample of FastCheck.sample(stored, 2_000)) {
        const exit = yield* Effect.exit(codec.decode(sample, row))
        assert.isTrue(typedFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = Cause.failureOption(exit.cause)
          assert.include(["DecryptionFailed", "PayloadCorrupt"], error._tag === "Some" ? error.value._tag : "")
        }
      }
    }).pipe(
      Effect.provide(
        SealedPayloads.layer().pipe(
          Layer.provide(DataKeys.layer()),
          Layer.provide(Layer.mergeAll(Layer.orDie(Keyring.layer(masterKeys.k1)), KeyStore.layerMemory, jsonCodecLayer))
        )
      )
    ))

  it("the policy decoder answers garbage with an explanation, never a throw", () => {
    FastCheck.assert(
      FastCheck.property(hostile, (input) => {
        const policy = Rbac.decodePolicy(input)
        assert.isTrue(Either.isLeft(policy) || Either.isRight(policy))
        if (Either.isRight(policy)) {
          // Whatever decoded, unknown roles grant nothing and no prototype was reached.
          assert.isFalse(policy.right.grants(["__proto__", "constructor", "toString"], "documents:read"))
        }
      }),
      { numRuns: runs }
    )
  })
})
