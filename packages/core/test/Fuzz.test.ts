/**
 * Fuzzing core's public decoders: the input decoders of every document program and the event JSON
 * decoder. On any input: a value or a typed error whose message can be read and is bounded, never a
 * throw. 10,000 cases per property; `pnpm fuzz` runs 100,000 (`NERV_FUZZ_RUNS`).
 */
import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { DocumentId, Version } from "../src/Document.js"
import * as DocumentEvent from "../src/DocumentEvent.js"
import { CreateInput, RemoveOptions, UpdateInput, UpdateOptions } from "../src/Documents.js"
import type { InvalidInput } from "../src/Errors.js"
import { decoder, explain, jsonTooDeep, summarize } from "../src/Input.js"

const runs = Number(process.env["NERV_FUZZ_RUNS"] ?? 10_000)
const timeout = Math.max(120_000, runs * 10)

/** An object wider than the decoders look at, made once (making one costs more than decoding it). */
const wide = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, i]))

const throwing = () => {
  throw new Error("hostile")
}

/** A value made when the case runs (fast-check looks into what it draws, which a throwing proxy does not survive). */
type Hostile = () => unknown

const nest = (depth: number, asArray: boolean): unknown => {
  let value: unknown = "x"
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { title: value }
  return value
}

const hostile: FastCheck.Arbitrary<Hostile> = FastCheck.oneof(
  FastCheck.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true })
    .map((value): Hostile => () => value),
  FastCheck.tuple(FastCheck.integer({ min: 20, max: 5_000 }), FastCheck.boolean()).map(([depth, asArray]) => () =>
    nest(depth, asArray)
  ),
  FastCheck.constantFrom<Hostile>(
    () => ({
      get title() {
        return throwing()
      },
      content: "",
      author: "a"
    }),
    () => new Proxy({}, { ownKeys: throwing, get: throwing, has: throwing, getOwnPropertyDescriptor: throwing }),
    () => ({ toString: throwing, valueOf: throwing }),
    () => wide
  )
)

/** A record whose fields are right or hostile, so that a hostile value is met deep in a decoder. */
const fields = (names: ReadonlyArray<string>, valid: FastCheck.Arbitrary<unknown>): FastCheck.Arbitrary<Hostile> =>
  FastCheck.tuple(...names.map(() => FastCheck.oneof(valid.map((v): Hostile => () => v), hostile))).map(
    (values) => () => Object.fromEntries(names.map((name, i) => [name, values[i]!()]))
  )

const decoders: ReadonlyArray<
  readonly [string, (input: unknown) => Effect.Effect<unknown, InvalidInput>, ReadonlyArray<string>]
> = [
  ["create", decoder("Documents.create", CreateInput), ["title", "content", "author"]],
  [
    "update",
    decoder("Documents.update", Schema.Struct({ id: DocumentId, changes: UpdateInput, options: UpdateOptions })),
    [
      "id",
      "changes",
      "options"
    ]
  ],
  ["remove", decoder("Documents.remove", Schema.Struct({ id: DocumentId, options: RemoveOptions })), ["id", "options"]],
  ["at", decoder("Documents.at", Schema.Struct({ id: DocumentId, version: Version })), ["id", "version"]],
  ["get", decoder("Documents.get", DocumentId), []]
]

describe("fuzz: core's decoders", () => {
  for (const [name, decode, names] of decoders) {
    it(`the ${name} decoder gives a value or InvalidInput with a bounded message, on any input`, () => {
      const input = FastCheck.oneof(hostile, fields(names, FastCheck.oneof(FastCheck.string(), FastCheck.integer())))
      FastCheck.assert(
        FastCheck.property(input, (make) => {
          const exit = Effect.runSyncExit(decode(make()))
          if (Exit.isFailure(exit)) {
            const error = Effect.runSync(Effect.flip(exit))
            assert.strictEqual(error._tag, "InvalidInput")
            assert.isBelow(error.message.length, 20_000)
          }
        }),
        { numRuns: runs }
      )
    }, timeout)
  }

  it("DocumentEvent.decodeJson gives an event or a ParseError whose message can be read, on any text", () => {
    const created = new DocumentEvent.DocumentCreated({
      eventId: "00000000-0000-4000-8000-000000000001",
      documentId: DocumentId.make("00000000-0000-4000-8000-000000000002"),
      version: 1,
      occurredAt: DateTime.unsafeMake(0),
      actor: "ann",
      correlationId: "c",
      causationId: "c",
      title: "Plan",
      content: ""
    })
    const event = JSON.stringify(Schema.encodeSync(DocumentEvent.DocumentEvent)(created))
    const text = FastCheck.oneof(
      FastCheck.string({ unit: "binary" }),
      FastCheck.json(),
      FastCheck.constant(event),
      // A sound event with one field replaced by a value nested thousands deep.
      FastCheck.tuple(
        FastCheck.constantFrom("_tag", "title", "version", "extra"),
        FastCheck.integer({ min: 50, max: 20_000 }),
        FastCheck.constantFrom(["[", "]"], ["{\"a\":", "}"])
      ).map(([field, depth, [open, close]]) =>
        event.replace(/^\{/, `{"${field}":${open.repeat(depth)}1${close.repeat(depth)},`)
      )
    )
    FastCheck.assert(
      FastCheck.property(text, (json) => {
        const exit = Effect.runSyncExit(DocumentEvent.decodeJson(json))
        if (Exit.isFailure(exit)) {
          const error = Effect.runSync(Effect.flip(exit))
          assert.strictEqual(error._tag, "ParseError")
          assert.isString(explain(error))
          assert.isString(summarize(error))
        }
      }),
      { numRuns: runs }
    )
  }, timeout)

  it("jsonTooDeep finds nesting beyond the limit, and only that, whatever the strings hold", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.json({ maxDepth: 6 }), FastCheck.integer({ min: 1, max: 200 }), (json, extra) => {
        assert.isFalse(jsonTooDeep(json))
        assert.isTrue(jsonTooDeep(`${"[".repeat(64 + extra)}${json}${"]".repeat(64 + extra)}`))
      }),
      { numRuns: Math.min(runs, 5_000) }
    )
    assert.isFalse(jsonTooDeep(JSON.stringify({ a: "[".repeat(1_000) + "\\\"{{{" })))
  })
})
