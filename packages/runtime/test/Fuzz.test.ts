/**
 * Fuzzing: fast-check over every CLI command's arguments, every document program's inputs and the
 * runtime's public decoders. What must hold on every case: a success or a typed error (never a
 * defect), a message that can be read, no state change on a refusal, and nothing raw printed.
 * 10,000 cases per property here; `pnpm fuzz` runs 100,000 (`NERV_FUZZ_RUNS`).
 */
import { NodeContext } from "@effect/platform-node"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Access, Documents, Input } from "@nerv/core"
import { PayloadCodec } from "@nerv/store"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  AuditTrail,
  BusCodec,
  Cipher,
  Cli,
  DataKeys,
  Ids,
  IntentAnalyzer,
  Keyring,
  KeyStore,
  Nerv,
  Rbac,
  Recorder,
  SealedPayloads
} from "../src/index.js"
import { captureConsole } from "./fixtures/console.js"
import { type Hostile, hostile, rawControl, runs, terminalString, timeoutFor } from "./fixtures/hostile.js"
import { dataKeysMemory, masterKeys } from "./security/fixtures.js"

const services = Layer.mergeAll(
  Nerv.layerTest,
  AuditTrail.layerMemory,
  dataKeysMemory(masterKeys.k1)
)

/** An exit is a success or a typed failure with a readable message: never a defect. */
const assertTyped = (exit: Exit.Exit<unknown, unknown>, what: string) => {
  if (Exit.isSuccess(exit)) return
  assert.isFalse(Cause.isDie(exit.cause), `${what}: a defect: ${Cause.pretty(exit.cause)}`)
  const failure = Cause.failureOption(exit.cause)
  assert.isTrue(failure._tag === "Some", `${what}: no failure in ${Cause.pretty(exit.cause)}`)
  if (failure._tag === "Some") {
    const error = failure.value as { readonly _tag?: unknown; readonly message?: unknown }
    assert.isString(error._tag, what)
    assert.isString(error.message, what)
  }
}

const ids = Array.from({ length: 4 }, (_, i) => Ids.sequential(i + 1))
/** A value from valid to hostile, made when the case runs. */
const near = <A>(valid: FastCheck.Arbitrary<A>): FastCheck.Arbitrary<Hostile> =>
  FastCheck.oneof(valid.map((v) => () => v), terminalString.map((s) => () => s), hostile)
const idArbitrary = near(FastCheck.oneof(FastCheck.constantFrom(...ids), FastCheck.uuid()))
const text = FastCheck.oneof(FastCheck.constantFrom("Plan", "ann", "a reason"), terminalString)
const version = near(FastCheck.oneof(FastCheck.integer({ min: -2, max: 6 }), FastCheck.double()))
const instant = near(FastCheck.oneof(FastCheck.date(), FastCheck.integer(), FastCheck.constant("2026-01-01")))

type Program = Effect.Effect<unknown, unknown, Layer.Layer.Success<typeof services>>

/** A call of one of the document programs, with inputs from valid to hostile. */
const documentCall: FastCheck.Arbitrary<() => Program> = FastCheck.oneof(
  near(FastCheck.record({ title: text, content: text, author: text })).map((input) => () =>
    Documents.create(input() as never)
  ),
  FastCheck.tuple(
    idArbitrary,
    near(FastCheck.record({ title: text, content: text }, { requiredKeys: [] })),
    near(FastCheck.record({ editor: text, expectedVersion: FastCheck.integer() }, { requiredKeys: ["editor"] }))
  ).map(([id, changes, options]) => () => Documents.update(id() as never, changes() as never, options() as never)),
  FastCheck.tuple(idArbitrary, near(FastCheck.record({ actor: text, reason: text }))).map(([id, options]) => () =>
    Documents.remove(id() as never, options() as never)
  ),
  idArbitrary.map((id) => () => Documents.get(id() as never)),
  idArbitrary.map((id) => () => Documents.history(id() as never)),
  FastCheck.tuple(idArbitrary, version).map(([id, v]) => () => Documents.at(id() as never, v() as never)),
  FastCheck.tuple(idArbitrary, instant).map(([id, at]) => () => Documents.asOf(id() as never, at() as never)),
  FastCheck.tuple(idArbitrary, version, version).map(([id, a, b]) => () =>
    Documents.diff(id() as never, a() as never, b() as never)
  )
)

describe("fuzz: the document programs", () => {
  const runtime = ManagedRuntime.make(services)
  afterAll(() => runtime.dispose())

  it("give a success or a typed error on any input, and a refusal changes nothing", async () => {
    const appended = () =>
      runtime.runPromise(Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Appended"))).then((a) => a.length)
    for (const title of ["a", "b", "c", "d"]) {
      await runtime.runPromise(Documents.create({ title, content: "x" }).pipe(Access.as("ann")))
    }
    await FastCheck.assert(
      FastCheck.asyncProperty(documentCall, async (call) => {
        const before = await appended()
        const exit = await runtime.runPromiseExit(Effect.suspend(call))
        assertTyped(exit, "a document program")
        if (Exit.isFailure(exit)) assert.strictEqual(await appended(), before)
      }),
      { numRuns: runs }
    )
  }, timeoutFor(2))
})

describe("fuzz: the runtime's decoders", () => {
  const bytes = FastCheck.oneof(
    FastCheck.uint8Array({ maxLength: 200 }),
    FastCheck.string({ unit: "binary" }).map((s) => new TextEncoder().encode(s)),
    FastCheck.anything().map((value) => new TextEncoder().encode(JSON.stringify(value) ?? "null"))
  )
  const key = Cipher.secretKey("k1", new Uint8Array(32).fill(7))

  it("Rbac.decodePolicy: a policy, or an explanation", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.oneof(hostile, terminalString.map((s) => () => s)), (input) => {
        const policy = Rbac.decodePolicy(input())
        if (Either.isLeft(policy)) assert.isString(policy.left)
      }),
      { numRuns: runs }
    )
  }, timeoutFor(1))

  it("Keyring.parse: a keyring or an explanation that never quotes the text", () => {
    FastCheck.assert(
      FastCheck.property(terminalString, (text) => {
        const parsed = Keyring.parse(text)
        if (Either.isLeft(parsed)) assert.isString(parsed.left)
      }),
      { numRuns: runs }
    )
  }, timeoutFor(1))

  it("Cipher.open and keyIdOf: plaintext or OpenFailed, on any bytes", () => {
    FastCheck.assert(
      FastCheck.property(bytes, bytes, (sealed, aad) => {
        const opened = Cipher.open(key, sealed, aad)
        if (Either.isLeft(opened)) assert.strictEqual(opened.left._tag, "OpenFailed")
        const id = Cipher.keyIdOf(sealed)
        if (Either.isLeft(id)) assert.strictEqual(id.left._tag, "OpenFailed")
      }),
      { numRuns: runs }
    )
  }, timeoutFor(1))

  it.effect(
    "BusCodec decode, plain and sealed: an event or MessageUnreadable, on any bytes",
    () =>
      Effect.gen(function*() {
        const plain = BusCodec.makePlaintext()
        const sealed = yield* BusCodec.make().pipe(
          Effect.provide(Cipher.layer),
          Effect.provide(Keyring.layer(masterKeys.k1))
        )
        // An event whose every field is right but one, which holds a value nested thousands deep.
        const event = (field: string, value: string) =>
          JSON.stringify({
            _tag: "DocumentCreated",
            eventId: Ids.sequential(1),
            documentId: Ids.sequential(2),
            version: 1,
            occurredAt: "2026-01-01T00:00:00.000Z",
            actor: "ann",
            correlationId: "c",
            causationId: "c",
            title: "t",
            content: "",
            [field]: "HOLE"
          }).replace("\"HOLE\"", value)
        const withDeep = FastCheck.oneof(
          bytes,
          FastCheck.tuple(
            FastCheck.integer({ min: 100, max: 20_000 }),
            FastCheck.constantFrom("_tag", "title", "version", "extra", "occurredAt"),
            FastCheck.constantFrom(["[", "]"], ["{\"a\":", "}"])
          ).map(([depth, field, [open, close]]) =>
            new TextEncoder().encode(event(field, `${open.repeat(depth)}1${close.repeat(depth)}`))
          )
        )
        FastCheck.assert(
          FastCheck.property(withDeep, (message) => {
            for (const codec of [plain, sealed]) {
              const exit = Effect.runSyncExit(codec.decode(message))
              assertTyped(exit, "BusCodec.decode")
            }
          }),
          { numRuns: runs }
        )
      }),
    timeoutFor(1)
  )

  it.scoped(
    "SealedPayloads decode: the JSON bytes or a typed payload error, on any stored payload",
    () =>
      Effect.gen(function*() {
        const keys = yield* DataKeys.make().pipe(
          Effect.provide(Layer.merge(Keyring.layer(masterKeys.k1), KeyStore.layerMemory))
        )
        const codec = yield* SealedPayloads.make(PayloadCodec.json).pipe(Effect.provideService(DataKeys.DataKeys, keys))
        const documentId = Ids.sequential(1)
        const good = yield* codec.encode(new TextEncoder().encode("{\"title\":\"a\"}"), { documentId, version: 1 })
        const encoding = FastCheck.oneof(
          FastCheck.constantFrom("json", "json+gzip", "json+aes256gcm", "json+gzip+aes256gcm", good.encoding),
          terminalString
        )
        const data = FastCheck.oneof(
          bytes,
          FastCheck.integer({ min: 0, max: good.data.length - 1 }).map((i) => {
            const flipped = new Uint8Array(good.data)
            flipped[i] = flipped[i]! ^ 0x01
            return flipped
          })
        )
        yield* Effect.promise(() =>
          FastCheck.assert(
            FastCheck.asyncProperty(encoding, data, FastCheck.integer({ min: 1, max: 3 }), async (enc, d, v) => {
              const exit = await Effect.runPromiseExit(
                codec.decode({ encoding: enc, data: d }, { documentId, version: v })
              )
              assertTyped(exit, "SealedPayloads.decode")
            }),
            { numRuns: runs }
          )
        )
      }),
    timeoutFor(1)
  )

  it("Input.explain and Input.summarize: a bounded explanation of any Schema failure, never a throw", () => {
    const decode = Schema.decodeUnknownEither(
      Schema.Struct({ title: Schema.String, tags: Schema.Array(Schema.String) })
    )
    FastCheck.assert(
      FastCheck.property(hostile, (input) => {
        let decoded: ReturnType<typeof decode>
        try {
          decoded = decode(input())
        } catch {
          return // Schema's own decoders read getters; Input.decoder guards against that (see above).
        }
        if (Either.isLeft(decoded)) {
          assert.isBelow(Input.explain(decoded.left).length, 20_000)
          assert.isBelow(Input.summarize(decoded.left).length, 20_000)
        }
      }),
      { numRuns: runs }
    )
  }, timeoutFor(1))
})

/** What one command is given: its arguments and options, with values from valid to hostile. */
const commandArgs: Record<string, ReadonlyArray<string>> = {
  init: [],
  create: ["--title", "--content", "--content-file", "--as"],
  update: ["<id>", "--title", "--content", "--content-file", "--as", "--expected-version"],
  delete: ["<id>", "--reason", "--as", "--expected-version"],
  get: ["<id>", "--as"],
  at: ["<id>", "<version>", "--as"],
  list: ["--json", "--as"],
  history: ["<id>", "--json", "--as"],
  verify: [],
  forget: ["<id>", "--as"],
  prune: ["--older-than", "--archive", "--dry-run", "--as"],
  keys: ["rewrap", "--as"],
  audit: ["verify", "--as"],
  ask: ["<request>", "--yes", "--json", "--as"]
}
const flags = new Set(["--json", "--dry-run", "--yes", "rewrap", "verify"])
const builtIns = ["--help", "-h", "--version", "--completions", "bash", "--log-level", "debug", "--wizard"]

const value = (option: string): FastCheck.Arbitrary<string> => {
  switch (option) {
    case "<id>":
      return FastCheck.oneof(FastCheck.constantFrom(...ids), FastCheck.uuid(), terminalString)
    case "<version>":
    case "--expected-version":
      return FastCheck.oneof(FastCheck.integer({ min: -1, max: 5 }).map(String), terminalString)
    case "--older-than":
      return FastCheck.oneof(FastCheck.constantFrom("0 millis", "90 days", "soon"), terminalString)
    case "--content-file":
      // Standard input is the test runner's own: reading it would wait for ever.
      return FastCheck.oneof(FastCheck.constantFrom("missing.txt", ".", "package.json"), terminalString)
        .filter((file) => file !== "-")
    case "<request>":
      return FastCheck.oneof(
        FastCheck.constantFrom(
          "show me the launch plan",
          "list the documents",
          "delete the launch plan because it is obsolete",
          "create a document titled Notes",
          "show a at version 1"
        ),
        terminalString
      )
    case "--archive":
      return FastCheck.constant(join(scratch, "archive.db"))
    default:
      return FastCheck.oneof(FastCheck.constantFrom("Plan", "ann", "admin", "reader"), terminalString)
  }
}

/** An argument vector: a command, some of its options with values, in any order, and stray tokens. */
const argv: FastCheck.Arbitrary<ReadonlyArray<string>> = FastCheck.constantFrom(...Object.keys(commandArgs)).chain(
  (command) => {
    const options = commandArgs[command]!
    // Mostly every option (but one content source), so that most cases get past the parser.
    const chosen = FastCheck.oneof(
      { arbitrary: FastCheck.constant(options.filter((option) => option !== "--content-file")), weight: 2 },
      { arbitrary: FastCheck.subarray([...options]), weight: 1 }
    )
    const given = chosen.chain((chosen) =>
      FastCheck.tuple(
        ...chosen.map((option) =>
          flags.has(option) ? FastCheck.constant([option]) : option.startsWith("<")
            ? value(option).map((v) => [v])
            : value(option).map((v) => [option, v])
        )
      )
    )
    return FastCheck.tuple(
      FastCheck.subarray(["--database", "--create"]),
      FastCheck.oneof(terminalString, FastCheck.constant("db.sqlite")),
      // Options in any order, each with its value.
      given.chain((pairs) => FastCheck.shuffledSubarray(pairs, { minLength: pairs.length })).map((pairs) =>
        pairs.flat()
      ),
      FastCheck.oneof(
        { arbitrary: FastCheck.constant([]), weight: 3 },
        {
          arbitrary: FastCheck.array(FastCheck.oneof(terminalString, FastCheck.constantFrom(...builtIns, ...options)), {
            maxLength: 2
          }),
          weight: 1
        }
      )
    ).map(([globals, database, parts, stray]) => [
      ...globals.flatMap((g) => g === "--database" ? [g, database] : [g]),
      command,
      ...parts,
      ...stray
    ])
  }
)

let scratch = ""

describe("fuzz: every CLI command's arguments", () => {
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "nerv-fuzz-"))
  })
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))
  const { err, out } = captureConsole()

  it("exit 0, 1, 2 or 3, never a bug; nothing raw printed; a refusal changes nothing", async () => {
    // The analyzer is trained once here, not on every `ask`; the test layer lets every named principal through.
    const runtime = ManagedRuntime.make(Layer.mergeAll(services, IntentAnalyzer.layerMemory(), NodeContext.layer))
    const { context } = await runtime.runtime()
    const appended = () =>
      runtime.runPromise(Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Appended"))).then((a) => a.length)
    for (const title of ["a", "b", "c"]) {
      await runtime.runPromise(Documents.create({ title, content: "" }).pipe(Access.as("ann")))
    }
    const open = () => Layer.succeedContext(context)
    try {
      await FastCheck.assert(
        FastCheck.asyncProperty(argv, async (args) => {
          out.length = 0
          err.length = 0
          process.exitCode = 0
          const before = await appended()
          await runtime.runPromise(
            Cli.run(["node", "nerv", ...args], { open }, {
              colors: { stdout: false, stderr: false },
              interactive: false
            })
          )
          const status = process.exitCode
          const shown = JSON.stringify(args)
          assert.include([0, 1, 2, 3], status, `${shown}: ${err.join("\n")}`)
          for (const line of [...out, ...err]) {
            for (const part of line.split("\n")) {
              assert.notMatch(part, rawControl, `${shown} printed ${JSON.stringify(part)}`)
            }
          }
          if (status !== 0) assert.strictEqual(await appended(), before, shown)
        }),
        { numRuns: runs }
      )
    } finally {
      await runtime.dispose()
    }
  }, timeoutFor(5))
})
