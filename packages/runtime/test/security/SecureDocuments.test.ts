import { assert, describe, it } from "@effect/vitest"
import { Documents, DocumentStore } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Nerv from "../../src/Nerv.js"
import * as Recorder from "../../src/Recorder.js"
import * as AuditTrail from "../../src/security/AuditTrail.js"
import * as Rbac from "../../src/security/Rbac.js"
import * as SecureDocuments from "../../src/security/SecureDocuments.js"
import { dataKeysMemory, masterKeys } from "./fixtures.js"

const policy = Rbac.layerPolicy({
  roles: {
    reader: ["documents:read"],
    author: ["documents:read", "documents:write:own", "documents:delete:own"],
    editor: ["documents:read", "documents:write", "documents:delete"],
    dpo: ["documents:read", "documents:forget", "audit:read"],
    admin: ["*"]
  }
})

const layer = Layer.mergeAll(
  Nerv.layerTest,
  Layer.orDie(policy),
  AuditTrail.layerMemory,
  Layer.orDie(dataKeysMemory(masterKeys.k1))
)

const ann = { id: "ann", roles: ["author"] }
const as = (id: string, ...roles: Array<string>) => Rbac.withPrincipal({ id, roles })

/** The side effects that would mean a document changed or someone was told so. */
const changes = Effect.flatMap(
  Recorder.Recorder,
  (recorder) => Effect.map(recorder.entries, (entries) => entries.filter((entry) => entry._tag !== "Logged").length)
)

const lastAudit = Effect.flatMap(
  AuditTrail.AuditTrail,
  (trail) => Effect.map(trail.read(), (entries) => entries[entries.length - 1]!)
)

/** Ann's document, with one update: version 2. */
const setup = Effect.gen(function*() {
  const id = yield* SecureDocuments.create({ title: "Plan", content: "draft" }).pipe(as("ann", "author"))
  yield* SecureDocuments.update(id, { content: "second draft" }).pipe(as("ann", "author"))
  return id
})

type Program = (id: string) => Effect.Effect<unknown, unknown, SecureDocuments.Services>

const programs: ReadonlyArray<readonly [string, "own" | "other", Program]> = [
  ["create", "other", () => SecureDocuments.create({ title: "New", content: "x" })],
  ["get", "other", (id) => SecureDocuments.get(id)],
  ["list", "other", () => SecureDocuments.list()],
  ["history", "other", (id) => SecureDocuments.history(id)],
  ["at", "other", (id) => SecureDocuments.at(id, 1)],
  ["shape", "other", (id) => SecureDocuments.shape(id)],
  ["update own", "own", (id) => SecureDocuments.update(id, { content: "mine" })],
  ["update other's", "other", (id) => SecureDocuments.update(id, { content: "theirs" })],
  ["remove own", "own", (id) => SecureDocuments.remove(id, { reason: "done" })],
  ["remove other's", "other", (id) => SecureDocuments.remove(id, { reason: "done" })],
  ["forget", "other", (id) => SecureDocuments.forget(id)],
  ["rewrapKeys", "other", () => SecureDocuments.rewrapKeys()],
  ["verifyAudit", "other", () => SecureDocuments.verifyAudit()],
  ["readAudit", "other", () => SecureDocuments.readAudit()]
]

const reads = ["get", "list", "history", "at", "shape"]
// Written out by hand from the policy above, not computed with the code under test.
const allowed: Record<string, ReadonlyArray<string>> = {
  nobody: [],
  reader: reads,
  author: [...reads, "create", "update own", "remove own"],
  editor: [...reads, "create", "update own", "update other's", "remove own", "remove other's"],
  dpo: [...reads, "forget", "verifyAudit", "readAudit"],
  admin: programs.map(([name]) => name)
}

describe("SecureDocuments", () => {
  describe("the role × program matrix", () => {
    for (const [role, granted] of Object.entries(allowed)) {
      for (const [name, owner, program] of programs) {
        const expected = granted.includes(name)
        it.effect(`${role} ${expected ? "may" : "may not"} ${name}`, () =>
          Effect.gen(function*() {
            const id = yield* setup
            const principal = owner === "own" ? "ann" : "bob"
            const before = yield* changes
            const result = yield* Effect.either(program(id).pipe(as(principal, ...(role === "nobody" ? [] : [role]))))
            const audit = yield* lastAudit
            if (expected) {
              assert.isTrue(Either.isRight(result), `expected success, got ${JSON.stringify(result)}`)
              assert.strictEqual(audit.outcome, "succeeded")
            } else {
              assert.isTrue(Either.isLeft(result))
              const error = Either.getLeft(result).pipe((o) => o._tag === "Some" ? o.value : undefined) as {
                _tag: string
                principal: string
              }
              assert.strictEqual(error._tag, "PermissionDenied")
              assert.strictEqual(error.principal, principal)
              assert.strictEqual(audit.outcome, "denied")
              assert.strictEqual(yield* changes, before, "a denied call changed something")
              const document = yield* Effect.flatMap(DocumentStore.DocumentStore, (store) => store.get(id as never))
              assert.strictEqual(document.version, 2)
              assert.strictEqual(document.content, "second draft")
            }
            assert.strictEqual(audit.principal, principal)
          }).pipe(Effect.provide(layer)))
      }
    }
  })

  it.effect("audits every attempt: allowed then succeeded, allowed then failed, denied", () =>
    Effect.gen(function*() {
      const id = yield* setup
      yield* Effect.flip(SecureDocuments.update(id, { content: "x" }, { expectedVersion: 1 }).pipe(as("ann", "author")))
      yield* Effect.flip(SecureDocuments.update(id, { content: "x" }).pipe(as("bob", "reader")))
      const trail = yield* AuditTrail.AuditTrail
      const entries = yield* trail.read()
      assert.deepStrictEqual(
        entries.map((e) => [e.principal, e.action, e.outcome]),
        [
          ["ann", "Documents.create", "allowed"],
          ["ann", "Documents.create", "succeeded"],
          ["ann", "Documents.update", "allowed"],
          ["ann", "Documents.update", "succeeded"],
          ["ann", "Documents.update", "allowed"],
          ["ann", "Documents.update", "failed"],
          ["bob", "Documents.update", "denied"]
        ]
      )
      assert.include(entries[5]!.detail ?? "", "VersionConflict")
      assert.include(entries[6]!.detail ?? "", "documents:write")
      assert.strictEqual(entries[2]!.target, id)
      assert.strictEqual((yield* trail.verify())._tag, "Intact")
    }).pipe(Effect.provide(layer)))

  it.effect("gives the audit record and the events of one call the same correlation and causation ids", () =>
    Effect.gen(function*() {
      yield* SecureDocuments.create({ title: "A", content: "b" }).pipe(as("ann", "author"))
      const [appended] = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Appended"))
      const entries = yield* Effect.flatMap(AuditTrail.AuditTrail, (trail) => trail.read())
      assert.strictEqual(entries[0]!.correlationId, appended!.events[0]!.correlationId)
      yield* SecureDocuments.create({ title: "C", content: "d" }).pipe(
        as("ann", "author"),
        Documents.withCorrelation("req-42")
      )
      const last = yield* lastAudit
      assert.strictEqual(last.correlationId, "req-42")
      assert.strictEqual(last.causationId, "req-42")
      // A reaction's audit records name the event that caused it, as its events do.
      const [created] = (yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Appended")))[0]!.events
      yield* SecureDocuments.create({ title: "E", content: "f" }).pipe(
        as("ann", "author"),
        Documents.causedBy(created!)
      )
      const reaction = yield* lastAudit
      const [, , third] = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Appended"))
      assert.deepStrictEqual(
        [reaction.correlationId, reaction.causationId],
        [created!.correlationId, created!.eventId]
      )
      assert.deepStrictEqual(
        [third!.events[0]!.correlationId, third!.events[0]!.causationId],
        [created!.correlationId, created!.eventId]
      )
      assert.strictEqual((yield* Effect.flatMap(AuditTrail.AuditTrail, (trail) => trail.verify()))._tag, "Intact")
    }).pipe(Effect.provide(layer)))

  it.effect("records the principal as the actor; callers cannot name another author", () =>
    Effect.gen(function*() {
      const id = yield* setup
      const document = yield* SecureDocuments.get(id).pipe(as("ann", "author"))
      assert.strictEqual(document.author, "ann")
      const before = yield* changes
      const spoofed = yield* Effect.flip(
        SecureDocuments.create({ title: "T", content: "c", author: "eve" } as never).pipe(as("ann", "author"))
      )
      assert.strictEqual(spoofed._tag, "InvalidInput")
      assert.strictEqual(yield* changes, before)
    }).pipe(Effect.provide(layer)))

  it.effect("does not carry out an operation whose audit record cannot be written", () =>
    Effect.gen(function*() {
      const failing = Layer.succeed(AuditTrail.AuditTrail, {
        append: () => Effect.fail(new AuditTrail.AuditStoreError({ reason: "disk full" })),
        read: () => Effect.succeed([]),
        verify: () => Effect.succeed({ _tag: "Intact", count: 0, head: undefined })
      })
      const error = yield* Effect.flip(
        SecureDocuments.create({ title: "A", content: "b" }).pipe(as("ann", "author"), Effect.provide(failing))
      )
      assert.strictEqual(error._tag, "AuditUnavailable")
      assert.include(error.message, "disk full")
      assert.strictEqual(yield* changes, 0)
      const denied = yield* Effect.flip(
        SecureDocuments.create({ title: "A", content: "b" }).pipe(as("bob", "reader"), Effect.provide(failing))
      )
      assert.strictEqual(denied._tag, "AuditUnavailable")
    }).pipe(Effect.provide(layer)))

  it.effect("after forget, reads fail DocumentForgotten, writes are refused, the shape stays", () =>
    Effect.gen(function*() {
      const id = yield* setup
      const kept = yield* SecureDocuments.create({ title: "Other", content: "kept" }).pipe(as("ann", "author"))
      yield* SecureDocuments.forget(id).pipe(as("dora", "dpo"))
      const reads: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string }, SecureDocuments.Services>> = [
        SecureDocuments.get(id),
        SecureDocuments.history(id),
        SecureDocuments.at(id, 1)
      ]
      for (const read of reads) {
        const error = yield* Effect.flip(read.pipe(as("ann", "author")))
        assert.strictEqual(error._tag, "DocumentForgotten")
      }
      const listed = yield* SecureDocuments.list().pipe(as("ann", "author"))
      assert.deepStrictEqual(listed.map((d) => d.id), [kept])
      const before = yield* changes
      const write = yield* Effect.flip(SecureDocuments.update(id, { content: "back" }).pipe(as("ann", "author")))
      assert.strictEqual(write._tag, "DocumentForgotten")
      assert.strictEqual(yield* changes, before)
      const shape = yield* SecureDocuments.shape(id).pipe(as("ann", "author"))
      assert.deepStrictEqual(shape.map((v) => [v.version, v.event, v.actor]), [
        [1, "DocumentCreated", "ann"],
        [2, "DocumentUpdated", "ann"]
      ])
      assert.notInclude(JSON.stringify(shape), "draft")
      const missing = yield* Effect.flip(
        SecureDocuments.forget("00000000-0000-4000-8000-0000000000ff").pipe(as("dora", "dpo"))
      )
      assert.strictEqual(missing._tag, "DocumentNotFound")
    }).pipe(Effect.provide(layer)))

  it.effect("an author may edit and delete their own documents, not another's", () =>
    Effect.gen(function*() {
      const id = yield* setup
      const denied = yield* Effect.flip(SecureDocuments.update(id, { content: "x" }).pipe(as("bob", "author")))
      assert.strictEqual(denied._tag, "PermissionDenied")
      const updated = yield* SecureDocuments.update(id, { title: "Plan v2" }).pipe(as(ann.id, ...ann.roles))
      assert.strictEqual(updated.lastEditor, "ann")
      const removed = yield* SecureDocuments.remove(id, { reason: "obsolete" }).pipe(as(ann.id, ...ann.roles))
      assert.isTrue(removed.isDeleted)
    }).pipe(Effect.provide(layer)))
})
