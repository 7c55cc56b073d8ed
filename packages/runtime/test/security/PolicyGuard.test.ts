/**
 * The one door, from code: every document and administrative program runs as a principal, is
 * checked against the policy (deny by default) and audited. The same matrix runs through the
 * command line in `test/cli/Door.test.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, DocumentStore } from "@nerv/core"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Ids from "../../src/Ids.js"
import * as Nerv from "../../src/Nerv.js"
import * as Recorder from "../../src/Recorder.js"
import * as Admin from "../../src/security/Admin.js"
import * as AuditTrail from "../../src/security/AuditTrail.js"
import * as PolicyGuard from "../../src/security/PolicyGuard.js"
import * as Rbac from "../../src/security/Rbac.js"
import { dataKeysMemory, masterKeys } from "./fixtures.js"

const roles = {
  reader: ["documents:read"],
  author: ["documents:read", "documents:write:own", "documents:delete:own"],
  editor: ["documents:read", "documents:write", "documents:delete"],
  dpo: ["documents:read", "documents:forget", "audit:read"],
  admin: ["*"]
}

/** Two principals per role (one owns the document the matrix acts on), and one with no role. */
const principals: Record<string, Array<string>> = {
  "nobody.own": [],
  "nobody.other": [],
  ann: ["author"],
  bob: ["editor"],
  dora: ["dpo"],
  ...Object.fromEntries(Object.keys(roles).flatMap((role) => [[`${role}.own`, [role]], [`${role}.other`, [role]]]))
}

const layer = Layer.mergeAll(
  Nerv.layerTestWithPolicy(Rbac.layerPolicy({ principals, roles })),
  Layer.orDie(dataKeysMemory(masterKeys.k1))
)

/** A guard that lets everything through: to set a test up as any principal, whatever its roles. */
const openDoor = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.provideService(self, Access.Guard, { run: (_principal, _operation, program) => program })

/** The side effects that would mean a document changed or someone was told so. */
const changes = Effect.flatMap(
  Recorder.Recorder,
  (recorder) => Effect.map(recorder.entries, (entries) => entries.filter((entry) => entry._tag !== "Logged").length)
)

const audit = Effect.flatMap(AuditTrail.AuditTrail, (trail) => trail.read())
const lastAudit = Effect.map(audit, (entries) => entries[entries.length - 1]!)

/** A document written by `owner` (set up through an open door): version 2. */
const setup = (owner: string) =>
  Effect.gen(function*() {
    const id = yield* Documents.create({ title: "Plan", content: "draft" })
    yield* Documents.update(id, { content: "second draft" })
    return id
  }).pipe(Access.as(owner), openDoor)

type Program = (id: string) => Effect.Effect<unknown, unknown, Nerv.Services | Access.Principal | Nerv.Recorded | any>

/** Every guarded program, by name, and whether the principal owns the document it acts on. */
export const programs: ReadonlyArray<readonly [string, "own" | "other", Program]> = [
  ["create", "other", () => Documents.create({ title: "New", content: "x" })],
  ["get", "other", (id) => Documents.get(id)],
  ["list", "other", () => Documents.list()],
  ["listPage", "other", () => Documents.listPage()],
  ["history", "other", (id) => Documents.history(id)],
  ["at", "other", (id) => Documents.at(id, 1)],
  // "As of now" on the test's own clock, where the setup wrote both versions.
  ["asOf", "other", (id) => Effect.flatMap(Clock.currentTimeMillis, (now) => Documents.asOf(id, now))],
  ["diff", "other", (id) => Documents.diff(id, 1, 2)],
  ["shape", "other", (id) => Documents.shape(id)],
  ["update own", "own", (id) => Documents.update(id, { content: "mine" })],
  ["update other's", "other", (id) => Documents.update(id, { content: "theirs" })],
  ["remove own", "own", (id) => Documents.remove(id, { reason: "done" })],
  ["remove other's", "other", (id) => Documents.remove(id, { reason: "done" })],
  ["forget", "other", (id) => Admin.forget(id)],
  ["rewrapKeys", "other", () => Admin.rewrapKeys()],
  ["verifyAudit", "other", () => Admin.verifyAudit()],
  ["readAudit", "other", () => Admin.readAudit()]
]

const reads = ["get", "list", "listPage", "history", "at", "asOf", "diff", "shape"]
// Written out by hand from the policy above, not computed with the code under test.
const allowed: Record<string, ReadonlyArray<string>> = {
  nobody: [],
  reader: reads,
  author: [...reads, "create", "update own", "remove own"],
  editor: [...reads, "create", "update own", "update other's", "remove own", "remove other's"],
  dpo: [...reads, "forget", "verifyAudit", "readAudit"],
  admin: programs.map(([name]) => name)
}

describe("the one door (code)", () => {
  describe("the role × program matrix", () => {
    for (const [role, granted] of Object.entries(allowed)) {
      for (const [name, owner, program] of programs) {
        const expected = granted.includes(name)
        it.effect(`${role} ${expected ? "may" : "may not"} ${name}`, () =>
          Effect.gen(function*() {
            const id = yield* setup(`${role}.own`)
            const principal = `${role}.${owner}`
            const before = yield* changes
            const records = (yield* audit).length
            const result = yield* Effect.either(program(id).pipe(Access.as(principal)))
            const written = (yield* audit).slice(records)
            if (expected) {
              assert.isTrue(Either.isRight(result), `expected success, got ${JSON.stringify(result)}`)
              assert.deepStrictEqual(written.map((e) => e.outcome), ["allowed", "succeeded"])
            } else {
              const error = Either.getLeft(result).pipe((o) => o._tag === "Some" ? o.value : undefined) as {
                _tag: string
                principal: string
              }
              assert.strictEqual(error?._tag, "PermissionDenied")
              assert.strictEqual(error.principal, principal)
              assert.deepStrictEqual(written.map((e) => e.outcome), ["denied"])
              assert.strictEqual(yield* changes, before, "a denied call changed something")
              const document = yield* Effect.flatMap(DocumentStore.DocumentStore, (store) => store.get(id as never))
              assert.strictEqual(document.version, 2)
              assert.strictEqual(document.content, "second draft")
            }
            assert.isTrue(written.every((e) => e.principal === principal))
            assert.deepStrictEqual(written[0]!.roles, role === "nobody" ? [] : [role])
          }).pipe(Effect.provide(layer)))
      }
    }
  })

  it.effect("refuses an unknown and an empty principal, changes nothing, and audits the refusal", () =>
    Effect.gen(function*() {
      const id = yield* setup("ann")
      const before = yield* changes
      for (const principal of ["mallory", "", "   "]) {
        for (const [name, , program] of programs) {
          const error = yield* Effect.flip(program(id).pipe(Access.as(principal))) as Effect.Effect<
            { readonly _tag: string; readonly message: string }
          >
          assert.strictEqual(error._tag, "UnknownPrincipal", `${name} as ${JSON.stringify(principal)}`)
          const last = yield* lastAudit
          assert.strictEqual(last.outcome, "denied")
          assert.strictEqual(last.principal, principal)
        }
      }
      assert.strictEqual(yield* changes, before)
      assert.include(
        (yield* Effect.flip(Documents.get(id).pipe(Access.as("mallory")))).message,
        "the policy knows no principal \"mallory\""
      )
      assert.include((yield* Effect.flip(Documents.get(id).pipe(Access.as("")))).message, "no principal was named")
    }).pipe(Effect.provide(layer)))

  it.effect("audits every attempt: allowed then succeeded, allowed then failed, denied", () =>
    Effect.gen(function*() {
      const id = yield* setup("ann")
      const start = (yield* audit).length
      yield* Effect.flip(Documents.update(id, { content: "x" }, { expectedVersion: 1 }).pipe(Access.as("ann")))
      yield* Effect.flip(Documents.update(id, { content: "x" }).pipe(Access.as("reader.own")))
      yield* Documents.get(id).pipe(Access.as("reader.own"))
      const trail = yield* AuditTrail.AuditTrail
      const entries = (yield* trail.read()).slice(start)
      assert.deepStrictEqual(
        entries.map((e) => [e.principal, e.action, e.outcome]),
        [
          ["ann", "Documents.update", "allowed"],
          ["ann", "Documents.update", "failed"],
          ["reader.own", "Documents.update", "denied"],
          ["reader.own", "Documents.get", "allowed"],
          ["reader.own", "Documents.get", "succeeded"]
        ]
      )
      assert.include(entries[1]!.detail ?? "", "VersionConflict")
      assert.include(entries[2]!.detail ?? "", "documents:write")
      assert.strictEqual(entries[0]!.target, id)
      assert.strictEqual((yield* trail.verify())._tag, "Intact")
    }).pipe(Effect.provide(layer)))

  it.effect("gives the audit record and the events of one call the same correlation and causation ids", () =>
    Effect.gen(function*() {
      yield* Documents.create({ title: "A", content: "b" }).pipe(Access.as("ann"))
      const [appended] = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Appended"))
      const entries = yield* audit
      assert.strictEqual(entries[0]!.correlationId, appended!.events[0]!.correlationId)
      yield* Documents.create({ title: "C", content: "d" }).pipe(Access.as("ann"), Documents.withCorrelation("req-42"))
      assert.strictEqual((yield* lastAudit).correlationId, "req-42")
      assert.strictEqual((yield* lastAudit).causationId, "req-42")
      // A reaction's audit records name the event that caused it, as its events do.
      const [created] = (yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Appended")))[0]!.events
      yield* Documents.create({ title: "E", content: "f" }).pipe(Access.as("ann"), Documents.causedBy(created!))
      const reaction = yield* lastAudit
      const [, , third] = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Appended"))
      assert.deepStrictEqual([reaction.correlationId, reaction.causationId], [created!.correlationId, created!.eventId])
      assert.deepStrictEqual(
        [third!.events[0]!.correlationId, third!.events[0]!.causationId],
        [created!.correlationId, created!.eventId]
      )
      assert.strictEqual((yield* Effect.flatMap(AuditTrail.AuditTrail, (trail) => trail.verify()))._tag, "Intact")
    }).pipe(Effect.provide(layer)))

  it.effect("records the principal as the actor of every change; callers cannot name another", () =>
    Effect.gen(function*() {
      const id = yield* Documents.create({ title: "Plan", content: "draft" }).pipe(Access.as("ann"))
      yield* Documents.update(id, { content: "edited" }).pipe(Access.as("bob"))
      yield* Documents.remove(id, { reason: "done" }).pipe(Access.as("bob"))
      const history = yield* Documents.history(id).pipe(Access.as("ann"))
      assert.deepStrictEqual(history.map((v) => v.event.actor), ["ann", "bob", "bob"])
      const document = yield* Documents.get(id).pipe(Access.as("ann"))
      assert.strictEqual(document.author, "ann")
      assert.strictEqual(document.lastEditor, "bob")
      const before = yield* changes
      const spoofed = yield* Effect.flip(
        Documents.create({ title: "T", content: "c", author: "eve" } as never).pipe(Access.as("ann"))
      )
      assert.strictEqual(spoofed._tag, "InvalidInput")
      const spoofedEditor = yield* Effect.flip(
        Documents.update(id, { content: "c" }, { editor: "eve" } as never).pipe(Access.as("bob"))
      )
      assert.strictEqual(spoofedEditor._tag, "InvalidInput")
      assert.strictEqual(yield* changes, before)
    }).pipe(Effect.provide(layer)))

  it.effect("a host's own permission guards a host program, audited the same way", () =>
    Effect.gen(function*() {
      const summarize = (id: string) =>
        Effect.map(Documents.get(id), (document) => document.content.slice(0, 5)).pipe(
          Access.guarded({ action: "Nlp.summarize", permission: "nlp:analyze", target: id, describe: (s) => s })
        )
      const id = yield* setup("ann")
      const start = (yield* audit).length
      assert.strictEqual(yield* summarize(id).pipe(Access.as("carol")), "secon")
      const denied = yield* Effect.flip(summarize(id).pipe(Access.as("ann")))
      assert.strictEqual(denied._tag, "PermissionDenied")
      assert.include(denied.message, "nlp:analyze")
      const entries = (yield* audit).slice(start)
      assert.deepStrictEqual(entries.map((e) => [e.principal, e.action, e.outcome, e.detail]), [
        ["carol", "Nlp.summarize", "allowed", null],
        ["carol", "Documents.get", "allowed", null],
        ["carol", "Documents.get", "succeeded", null],
        ["carol", "Nlp.summarize", "succeeded", "secon"],
        ["ann", "Nlp.summarize", "denied", denied.message]
      ])
    }).pipe(
      Effect.provide(Nerv.layerTestWithPolicy(Rbac.layerPolicy({
        principals: { ann: ["author"], carol: ["analyst"] },
        roles: { author: ["documents:read", "documents:write:own"], analyst: ["documents:read", "nlp:analyze"] }
      }, { permissions: ["nlp:analyze"] })))
    ))

  it.effect("does not carry out an operation whose audit record cannot be written", () =>
    Effect.gen(function*() {
      const failing = Layer.succeed(AuditTrail.AuditTrail, {
        append: () => Effect.fail(new AuditTrail.AuditStoreError({ reason: "disk full" })),
        read: () => Effect.succeed([]),
        verify: () => Effect.succeed({ _tag: "Intact", count: 0, head: undefined })
      })
      const failingGuard = PolicyGuard.layer.pipe(
        Layer.provide(
          Layer.mergeAll(failing, Layer.orDie(Rbac.layerPolicy({ principals, roles })), Ids.layerSequential)
        )
      )
      const error = yield* Effect.flip(
        Documents.create({ title: "A", content: "b" }).pipe(Access.as("ann"), Effect.provide(failingGuard))
      )
      assert.strictEqual(error._tag, "AuditUnavailable")
      assert.include(error.message, "disk full")
      assert.strictEqual(yield* changes, 0)
      const denied = yield* Effect.flip(
        Documents.create({ title: "A", content: "b" }).pipe(Access.as("reader.own"), Effect.provide(failingGuard))
      )
      assert.strictEqual(denied._tag, "AuditUnavailable")
      const read = yield* Effect.flip(Documents.list().pipe(Access.as("ann"), Effect.provide(failingGuard)))
      assert.strictEqual(read._tag, "AuditUnavailable")
    }).pipe(Effect.provide(layer)))
})
