import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cipher, IntentAnalyzer, IntentCommand, IntentCorpus, Keyring } from "../src/index.js"
import { masterKeys } from "./security/fixtures.js"

const splitFile = new URL("./intent/test-split.json", import.meta.url)
const decode = (text: string) => {
  const corpus = IntentCorpus.decodeCorpus(JSON.parse(text))
  if (corpus._tag === "Left") throw new Error(corpus.left)
  return corpus.right
}
const testSplit = decode(readFileSync(splitFile, "utf8"))

// Trained once for the whole file: the analysis itself is pure.
const analyzer = Effect.runPromise(IntentAnalyzer.makeSync())

const documents = [
  { id: "3f6c2a8e-5b1d-4c9a-9e27-8d4f0b6a1c53", title: "Launch plan", author: "ann", version: 4 },
  { id: "7a1e9d42-0c3b-4f8e-b5a6-2e9c7d1f4b80", title: "Budget 2025", author: "bob", version: 3 },
  { id: "e8c3a6f2-1d9b-4a5e-8f7c-3b2d6a9e1f05", title: "Meeting notes", author: "bob", version: 7 }
]
const situation: IntentAnalyzer.Situation = {
  documents,
  now: DateTime.unsafeMake("2026-11-20T15:00:00.000Z"),
  me: "sam"
}
const launch = { id: documents[0]!.id, title: "Launch plan" }

/** The command understood; typed loosely so that tests compare it with plain objects. */
const understood = async (text: string): Promise<unknown> => {
  const interpretation = (await analyzer)(text, situation)
  assert.strictEqual(interpretation._tag, "Understood", JSON.stringify(interpretation))
  return (interpretation as Extract<IntentCommand.Interpretation, { _tag: "Understood" }>).command
}

describe("IntentAnalyzer, each intent and its slots", () => {
  it("create: title, content and author", async () => {
    assert.deepStrictEqual(
      await understood("please create a document called Team offsite with content \"Agenda to follow\" by sam"),
      { _tag: "create", title: "Team offsite", content: "Agenda to follow", author: "sam" }
    )
    assert.deepStrictEqual(await understood("new doc titled Ideas"), { _tag: "create", title: "Ideas", content: "" })
  })

  it("update: the document, a new title and/or a new content", async () => {
    assert.deepStrictEqual(await understood("rename the launch plan to Go-to-market plan"), {
      _tag: "update",
      document: launch,
      title: "Go-to-market plan"
    })
    assert.deepStrictEqual(await understood("set the content of the lanch plan to \"Ship in March\""), {
      _tag: "update",
      document: launch,
      content: "Ship in March"
    })
  })

  it("delete: the document and the reason", async () => {
    assert.deepStrictEqual(await understood("could you delete the budget 2025 because it is obsolete"), {
      _tag: "delete",
      document: { id: documents[1]!.id, title: "Budget 2025" },
      reason: "it is obsolete"
    })
  })

  it("show, history and forget: a document by title (typos allowed) or by id", async () => {
    assert.deepStrictEqual(await understood("shwo me the launch plan"), { _tag: "show", document: launch })
    assert.deepStrictEqual(await understood(`who changed ${documents[0]!.id}?`), { _tag: "history", document: launch })
    assert.deepStrictEqual(await understood("crypto-shred the launch plan for good"), {
      _tag: "forget",
      document: launch
    })
  })

  it("list: optionally by author, \"my\" meaning the principal", async () => {
    assert.deepStrictEqual(await understood("list all documents"), { _tag: "list" })
    assert.deepStrictEqual(await understood("which documents did bob write?"), { _tag: "list", author: "bob" })
    assert.deepStrictEqual(await understood("show me my docs"), { _tag: "list", author: "sam" })
  })

  it("at: a version by number, word or ordinal", async () => {
    assert.deepStrictEqual(await understood("show me how the launch plan looked at version 1"), {
      _tag: "at",
      document: launch,
      version: 1
    })
    assert.deepStrictEqual(await understood("the third version of the launch plan please"), {
      _tag: "at",
      document: launch,
      version: 3
    })
  })

  it("asOf: \"yesterday\" is the end of yesterday, \"3 days ago\" exactly 72 hours back (UTC)", async () => {
    const yesterday = await understood("show me the launch plan as it was yesterday")
    assert.strictEqual((yesterday as IntentCommand.Command)._tag, "asOf")
    assert.strictEqual(
      DateTime.formatIso((yesterday as Extract<IntentCommand.Command, { _tag: "asOf" }>).instant),
      "2026-11-19T23:59:59.999Z"
    )
    const ago = await understood("what did the launch plan look like 3 days ago")
    assert.strictEqual(
      DateTime.formatIso((ago as Extract<IntentCommand.Command, { _tag: "asOf" }>).instant),
      "2026-11-17T15:00:00.000Z"
    )
  })

  it("diff: two versions, \"since\" and \"the last edit\"", async () => {
    assert.deepStrictEqual(await understood("compare versions 1 and 3 of the launch plan"), {
      _tag: "diff",
      document: launch,
      from: 1,
      to: 3
    })
    assert.deepStrictEqual(await understood("what changed in the launch plan since version 2"), {
      _tag: "diff",
      document: launch,
      from: 2,
      to: 4
    })
    assert.deepStrictEqual(await understood("what did the last edit change in the meeting notes"), {
      _tag: "diff",
      document: { id: documents[2]!.id, title: "Meeting notes" },
      from: 6,
      to: 7
    })
  })
})

describe("IntentAnalyzer, what it does not understand", () => {
  it("an ambiguous title is a typed answer listing the candidates", async () => {
    const twoPlans = {
      ...situation,
      documents: [...documents, {
        id: "5e2b8c1d-7f4a-4d3e-9b6c-1a8f2e7d3c94",
        title: "Marketing plan",
        author: "dan",
        version: 1
      }]
    }
    const interpretation = (await analyzer)("delete the plan because it is done", twoPlans)
    assert.strictEqual(interpretation._tag, "Ambiguous")
    if (interpretation._tag !== "Ambiguous") return
    assert.strictEqual(interpretation.intent, "delete")
    assert.deepStrictEqual(interpretation.candidates.map((c) => c.title).sort(), ["Launch plan", "Marketing plan"])
  })

  it("two documents with the same title are ambiguous, and an id settles it", async () => {
    const twins = {
      ...situation,
      documents: [...documents, { ...documents[0]!, id: "91b4e7c3-2a6d-4e8f-a1b9-5c3d7e2f6a08" }]
    }
    assert.strictEqual((await analyzer)("show the launch plan", twins)._tag, "Ambiguous")
    assert.strictEqual((await analyzer)(`show ${documents[0]!.id}`, twins)._tag, "Understood")
  })

  it("a missing slot is Incomplete, with a hint of what to add", async () => {
    const interpretation = (await analyzer)("delete the launch plan", situation)
    assert.strictEqual(interpretation._tag, "Incomplete")
    if (interpretation._tag !== "Incomplete") return
    assert.deepStrictEqual(interpretation.missing, ["reason"])
    assert.include(interpretation.hint, "because")
    const unknown = (await analyzer)("show 00000000-0000-4000-8000-000000000999", situation)
    assert.strictEqual(unknown._tag, "Incomplete")
  })

  it("an out-of-scope request is refused with the closest intents and an example of each", async () => {
    const interpretation = (await analyzer)("what's the weather like in Paris", situation)
    assert.strictEqual(interpretation._tag, "NotUnderstood")
    if (interpretation._tag !== "NotUnderstood") return
    assert.strictEqual(interpretation.suggestions.length, 3)
    for (const suggestion of interpretation.suggestions) assert.isAbove(suggestion.example.length, 10)
  })

  it("any text gets a typed answer, the same each time: hostile input never throws", async () => {
    const analyze = await analyzer
    const words = [
      "version",
      "v2",
      "launch plan",
      "\"",
      "'",
      "because",
      "called",
      "to",
      ":",
      "(",
      "yesterday",
      "§",
      "é"
    ]
    const text = FastCheck.oneof(
      FastCheck.string({ minLength: 1, maxLength: 500 }),
      FastCheck.array(FastCheck.constantFrom(...words), { minLength: 1, maxLength: 60 }).map((w) => w.join(" "))
    )
    const isInterpretation = Schema.is(IntentCommand.Interpretation)
    FastCheck.assert(
      FastCheck.property(text, (t) => {
        const first = analyze(t, situation)
        assert.isTrue(isInterpretation(first))
        assert.deepStrictEqual(analyze(t, situation), first)
      }),
      { numRuns: 300 }
    )
  })

  it.effect("an empty or too long request is InvalidInput", () =>
    Effect.gen(function*() {
      const service = yield* IntentAnalyzer.IntentAnalyzer
      const empty = yield* Effect.flip(service.analyze("   ", situation))
      assert.strictEqual(empty._tag, "InvalidInput")
      const long = yield* Effect.flip(service.analyze("show ".repeat(200), situation))
      assert.include(long.message, "at most 500 characters")
    }).pipe(Effect.provide(IntentAnalyzer.layerMemory())))
})

describe("IntentAnalyzer, the frozen test split", () => {
  it("is the split written with the corpus: its hash is pinned here, so editing it shows", () => {
    // Changing the test split is a decision to take in review, never a way to raise a score.
    assert.strictEqual(
      createHash("sha256").update(readFileSync(splitFile)).digest("hex"),
      "54e6a4bdd7be3e7658617c988edea7ada549094d2cedd839f0c025b36fe12f15"
    )
  })

  it("shares no utterance with the training split", () => {
    const normal = (text: string) => text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim()
    const trained = new Set(IntentCorpus.trainingCorpus().utterances.map((u) => normal(u.text)))
    assert.deepStrictEqual(testSplit.utterances.filter((u) => trained.has(normal(u.text))), [])
  })

  it("is read above the quality floor: intent accuracy ≥ 0.9, slot F1 ≥ 0.85", async () => {
    const evaluation = IntentCorpus.evaluate(await analyzer, testSplit)
    assert.isAtLeast(evaluation.accuracy, 0.9, JSON.stringify(evaluation.misses, null, 2))
    assert.isAtLeast(evaluation.slotF1, 0.85)
  })
})

describe("IntentAnalyzer, the model sealed at rest", () => {
  const withFile = <A, E>(body: (file: string) => Effect.Effect<A, E>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-intent-"))),
      (dir) => body(join(dir, "intent-model.sealed")),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
  const cipher = (keys: string) => Cipher.layer.pipe(Layer.provide(Keyring.layer(keys)))
  const source = (file: string, keys = masterKeys.k1, corpus = IntentCorpus.trainingCorpus()) =>
    Effect.flatMap(IntentAnalyzer.IntentAnalyzer, (a) => a.model).pipe(
      Effect.map((info) => info.source),
      Effect.provide(IntentAnalyzer.layerSealed(file, corpus).pipe(Layer.provide(cipher(keys)))),
      Logger.withMinimumLogLevel(LogLevel.Error)
    )

  it.live("is trained once, sealed, then read back; the file holds no plaintext of the corpus", () =>
    withFile((file) =>
      Effect.gen(function*() {
        assert.strictEqual(yield* source(file), "trained")
        assert.strictEqual(yield* source(file), "sealed file")
        const bytes = readFileSync(file)
        const text = bytes.toString("latin1")
        for (const word of ["launch", "docref", "delete", "budget", "intents", "weights", "corpusHash"]) {
          assert.notInclude(text, word)
        }
        // The sealing envelope: format 1, then the master key's id.
        assert.strictEqual(bytes[0], 1)
        assert.strictEqual(bytes.subarray(2, 2 + bytes[1]!).toString("latin1"), "k1")
      })
    ))

  it.live("a tampered file is refused and the model rebuilt from the corpus", () =>
    withFile((file) =>
      Effect.gen(function*() {
        yield* source(file)
        const bytes = readFileSync(file)
        bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 0xff
        writeFileSync(file, bytes)
        assert.strictEqual(yield* source(file), "trained")
        assert.strictEqual(yield* source(file), "sealed file")
      })
    ))

  it.live("a file sealed under another key, or trained on another corpus, is rebuilt", () =>
    withFile((file) =>
      Effect.gen(function*() {
        yield* source(file)
        assert.strictEqual(yield* source(file, masterKeys.k2), "trained")
        const more = {
          ...IntentCorpus.trainingCorpus(),
          utterances: [...IntentCorpus.trainingCorpus().utterances, { text: "open the vault", intent: "none" as const }]
        }
        assert.notStrictEqual(IntentCorpus.corpusHash(more), IntentCorpus.corpusHash(IntentCorpus.trainingCorpus()))
        assert.strictEqual(yield* source(file, masterKeys.k2, more), "trained")
        assert.strictEqual(yield* source(file, masterKeys.k2, more), "sealed file")
      })
    ))
})
