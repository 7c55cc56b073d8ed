import { assert, describe, it } from "@effect/vitest"
import { Access, Documents } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { AuditTrail, IntentAnalyzer, Nerv, Rbac, SecureIntents } from "../../src/index.js"
import { dataKeysMemory, masterKeys } from "./fixtures.js"

const policy = {
  principals: { ann: ["asker"], rob: ["reader"], sam: ["asker"], eve: ["editor"], test: ["reader"] },
  roles: {
    asker: ["intent:analyze", "documents:read"],
    reader: ["documents:read"],
    editor: ["intent:analyze", "documents:read", "documents:write", "documents:delete"]
  }
}

const services = Layer.mergeAll(
  Nerv.layerTestWithPolicy(Rbac.layerPolicy(policy, { permissions: SecureIntents.permissions })),
  dataKeysMemory(masterKeys.k1),
  IntentAnalyzer.layerMemory()
)

/** Ann's document, written through an open door (the tests are about what comes after). */
const setup = Effect.gen(function*() {
  const id = yield* Documents.create({ title: "Launch plan", content: "Draft" })
  yield* Documents.update(id, { content: "Final" })
  return id
}).pipe(
  Access.as("ann"),
  Effect.provideService(Access.Guard, { run: (_principal, _operation, program) => program })
)

const records = Effect.flatMap(AuditTrail.AuditTrail, (trail) => trail.read())

describe("SecureIntents", () => {
  it.effect("analysis needs intent:analyze: denied, it changes nothing and is audited with the request", () =>
    Effect.gen(function*() {
      const id = yield* setup
      const denied = yield* SecureIntents.analyze("delete the launch plan because it is obsolete").pipe(
        Access.as("rob"),
        Effect.flip
      )
      assert.strictEqual(denied._tag, "PermissionDenied")
      assert.include(denied.message, "intent:analyze")
      const trail = yield* records
      assert.deepStrictEqual(trail.map((r) => [r.action, r.principal, r.outcome, r.target]), [
        ["Intent.analyze", "rob", "denied", "delete the launch plan because it is obsolete"]
      ])
      assert.isFalse((yield* Documents.get(id)).isDeleted)
    }).pipe(Effect.provide(services)))

  it.effect("an analysis is audited: the request, then its interpretation in the outcome record", () =>
    Effect.gen(function*() {
      const id = yield* setup
      const interpretation = yield* SecureIntents.analyze("show me the launch plan at version 1").pipe(
        Access.as("ann")
      )
      assert.strictEqual(interpretation._tag, "Understood")
      const trail = yield* records
      assert.deepStrictEqual(trail.map((r) => [r.action, r.outcome]), [
        ["Intent.analyze", "allowed"],
        ["Documents.list", "allowed"],
        ["Documents.list", "succeeded"],
        ["Intent.analyze", "succeeded"]
      ])
      assert.strictEqual(trail[0]!.target, "show me the launch plan at version 1")
      const detail = JSON.parse(trail[3]!.detail!)
      assert.deepStrictEqual(detail.command, { _tag: "at", document: { id, title: "Launch plan" }, version: 1 })
      // One correlation id per request, shared by the reads it made.
      assert.strictEqual(new Set(trail.map((r) => r.correlationId)).size, 1)
    }).pipe(Effect.provide(services)))

  it.effect("a read runs through the guarded door at once and is audited as Documents.at", () =>
    Effect.gen(function*() {
      yield* setup
      const interpretation = yield* SecureIntents.analyze("how did the lanch plan look in its first version").pipe(
        Access.as("ann")
      )
      assert.strictEqual(interpretation._tag, "Understood")
      if (interpretation._tag !== "Understood") return
      const outcome = yield* SecureIntents.run(interpretation.command).pipe(Access.as("ann"))
      assert.strictEqual(outcome._tag, "Document")
      if (outcome._tag === "Document") assert.strictEqual(outcome.document.content, "Draft")
      const trail = yield* records
      assert.deepStrictEqual(trail.slice(-2).map((r) => [r.action, r.outcome]), [
        ["Documents.at", "allowed"],
        ["Documents.at", "succeeded"]
      ])
    }).pipe(Effect.provide(services)))

  it.effect("a change the principal may not make is denied by the guarded door, changes nothing, and is audited", () =>
    Effect.gen(function*() {
      const id = yield* setup
      const interpretation = yield* SecureIntents.analyze("delete the launch plan because it is obsolete").pipe(
        Access.as("sam")
      )
      assert.strictEqual(interpretation._tag, "Understood")
      if (interpretation._tag !== "Understood") return
      const denied = yield* SecureIntents.run(interpretation.command).pipe(Access.as("sam"), Effect.flip)
      assert.strictEqual(denied._tag, "PermissionDenied")
      assert.deepStrictEqual((yield* records).slice(-1).map((r) => [r.action, r.principal, r.outcome, r.target]), [
        ["Documents.remove", "sam", "denied", id]
      ])
      assert.isFalse((yield* Documents.get(id)).isDeleted)
      // An editor may: the same command runs as typed, recorded with the principal as the actor.
      const deleted = yield* SecureIntents.run(interpretation.command).pipe(Access.as("eve"))
      assert.strictEqual(deleted._tag, "Changed")
      const document = yield* Documents.get(id)
      assert.strictEqual(document.deletionReason, "it is obsolete")
    }).pipe(Effect.provide(services)))

  it.effect("guard puts a host's own language operation behind intent:analyze and the audit trail", () =>
    Effect.gen(function*() {
      const summarise = (text: string) =>
        SecureIntents.guard("Host.summarise", Effect.succeed(text.split(" ").slice(0, 2).join(" ")), {
          target: text,
          describe: (summary) => `summary: ${summary}`
        })
      assert.strictEqual(yield* summarise("ship the launch plan on monday").pipe(Access.as("ann")), "ship the")
      const denied = yield* summarise("anything").pipe(Access.as("rob"), Effect.flip)
      assert.strictEqual(denied._tag, "PermissionDenied")
      assert.deepStrictEqual((yield* records).map((r) => [r.action, r.principal, r.outcome, r.detail]), [
        ["Host.summarise", "ann", "allowed", null],
        ["Host.summarise", "ann", "succeeded", "summary: ship the"],
        ["Host.summarise", "rob", "denied", denied.message]
      ])
    }).pipe(Effect.provide(services)))

  it.effect("every intent runs: create, update, asOf, diff, history, list, as the principal", () =>
    Effect.gen(function*() {
      const id = yield* setup
      yield* TestClock.adjust("2 hours")
      const ask = (text: string) =>
        Effect.gen(function*() {
          const interpretation = yield* SecureIntents.analyze(text)
          assert.strictEqual(interpretation._tag, "Understood", JSON.stringify(interpretation))
          if (interpretation._tag !== "Understood") return yield* Effect.die("not understood")
          return yield* SecureIntents.run(interpretation.command)
        }).pipe(Access.as("eve"))
      const created = yield* ask("create a document called Retro notes with content \"went well\"")
      assert.strictEqual(created._tag, "Created")
      if (created._tag === "Created") assert.strictEqual((yield* Documents.get(created.id)).author, "eve")
      const updated = yield* ask("rename the launch plan to Launch plan 2027")
      assert.strictEqual(updated._tag === "Changed" && updated.document.title, "Launch plan 2027")
      const diff = yield* ask("compare versions 1 and 2 of the launch plan 2027")
      assert.deepStrictEqual(diff._tag === "Diff" && diff.diff.changes.map((c) => c.field), ["content"])
      const history = yield* ask("show the history of the launch plan 2027")
      assert.strictEqual(history._tag === "History" && history.versions.length, 3)
      const asOf = yield* ask("show the launch plan 2027 as it was 1 hour ago")
      assert.strictEqual(asOf._tag, "Document")
      const listed = yield* ask("list the documents by eve")
      assert.deepStrictEqual(listed._tag === "Documents" && listed.documents.map((d) => d.title), ["Retro notes"])
      const mismatch = yield* ask("create a document called Other by ann").pipe(Effect.flip)
      assert.strictEqual(mismatch._tag, "AuthorIsNotPrincipal")
      assert.strictEqual((yield* Documents.get(id)).version, 3)
    }).pipe(Effect.provide(services)))
})
