/**
 * The one door, from the command line: the same role × operation matrix as the code's
 * (`test/security/PolicyGuard.test.ts`), run as `nerv` commands with `--as`. A denied command exits
 * with status 1, says why on stderr, changes nothing, and is audited with the principal it named.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, DocumentStore } from "@nerv/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { AuditTrail, Cli, Nerv, Rbac, Recorder } from "../../src/index.js"
import { captureConsole } from "../fixtures/console.js"
import { dataKeysMemory, masterKeys } from "../security/fixtures.js"

const roles = {
  reader: ["documents:read"],
  author: ["documents:read", "documents:write:own", "documents:delete:own"],
  editor: ["documents:read", "documents:write", "documents:delete"],
  dpo: ["documents:read", "documents:forget", "audit:read"],
  admin: ["*"]
}
const principals = Object.fromEntries(
  ["nobody", ...Object.keys(roles)].flatMap((role) => {
    const granted = role === "nobody" ? [] : [role]
    return [[`${role}.own`, granted], [`${role}.other`, granted]]
  })
)

const services = Layer.mergeAll(
  Nerv.layerTestWithPolicy(Rbac.layerPolicy({ principals, roles })),
  dataKeysMemory(masterKeys.k1)
)

const { err, out } = captureConsole()

/** Every command that goes through the door, by the name the code's matrix uses. */
const commands: ReadonlyArray<readonly [string, "own" | "other", (id: string) => Array<string>]> = [
  ["create", "other", () => ["create", "--title", "New", "--content", "x"]],
  ["get", "other", (id) => ["get", id]],
  ["list", "other", () => ["list"]],
  ["history", "other", (id) => ["history", id]],
  ["at", "other", (id) => ["at", id, "1"]],
  ["update own", "own", (id) => ["update", id, "--content", "mine"]],
  ["update other's", "other", (id) => ["update", id, "--content", "theirs"]],
  ["remove own", "own", (id) => ["delete", id, "--reason", "done"]],
  ["remove other's", "other", (id) => ["delete", id, "--reason", "done"]],
  ["forget", "other", (id) => ["forget", id]],
  ["rewrapKeys", "other", () => ["keys", "rewrap"]],
  ["verifyAudit", "other", () => ["audit", "verify"]],
  ["rebuild", "other", () => ["rebuild"]]
]

const reads = ["get", "list", "history", "at"]
// Written out by hand from the policy above, not computed with the code under test.
const allowed: Record<string, ReadonlyArray<string>> = {
  nobody: [],
  reader: reads,
  author: [...reads, "create", "update own", "remove own"],
  editor: [...reads, "create", "update own", "update other's", "remove own", "remove other's"],
  dpo: [...reads, "forget", "verifyAudit"],
  admin: commands.map(([name]) => name)
}

describe("the one door (command line)", () => {
  for (const [role, granted] of Object.entries(allowed)) {
    for (const [name, owner, args] of commands) {
      const expected = granted.includes(name)
      it.scoped(`nerv as ${role} ${expected ? "may" : "may not"} ${name}`, () =>
        Effect.gen(function*() {
          const built = yield* Layer.build(services)
          const provided = <A, E>(self: Effect.Effect<A, E, any>) => Effect.provide(self, built)
          // The document, written as its owner through an open door: version 2.
          const id = yield* Effect.gen(function*() {
            const id = yield* Documents.create({ title: "Plan", content: "draft" })
            yield* Documents.update(id, { content: "second draft" })
            return id
          }).pipe(
            Access.as(`${role}.own`),
            Effect.provideService(Access.Guard, { run: (_principal, _operation, program) => program }),
            provided
          )
          const recorded = Context.get(built, Recorder.Recorder)
          const trail = Context.get(built, AuditTrail.AuditTrail)
          const before = (yield* recorded.entries).filter((e) => e._tag !== "Logged").length
          const principal = `${role}.${owner}`

          yield* Cli.run(["node", "nerv", ...args(id), "--as", principal], {
            open: () => Layer.succeedContext(built)
          }).pipe(Effect.provide(NodeContext.layer))

          const records = yield* trail.read()
          const last = records.at(-1)!
          assert.strictEqual(last.principal, principal)
          if (expected) {
            assert.strictEqual(process.exitCode ?? 0, 0, err.join("\n"))
            assert.strictEqual(last.outcome, "succeeded")
          } else {
            assert.strictEqual(process.exitCode, Cli.ExitCode.refused)
            assert.match(err.join("\n"), new RegExp(`^PermissionDenied: ${principal.replace(".", "\\.")} `, "m"))
            assert.deepStrictEqual(out, [])
            assert.strictEqual(last.outcome, "denied")
            assert.strictEqual((yield* recorded.entries).filter((e) => e._tag !== "Logged").length, before)
            const document = yield* Effect.flatMap(DocumentStore.DocumentStore, (store) => store.get(id as never))
              .pipe(provided)
            assert.strictEqual(document.version, 2)
            assert.strictEqual(document.content, "second draft")
          }
          if (name === "create" && expected) {
            const created = yield* Documents.get(out.at(-1)!).pipe(Access.as("admin.own"), provided)
            assert.strictEqual(created.author, principal)
          }
          if (name.startsWith("update") && expected) {
            const updated = yield* Documents.get(id).pipe(Access.as("admin.own"), provided)
            assert.strictEqual(updated.lastEditor, principal)
          }
        }))
    }
  }

  it.scoped("refuses a principal the policy does not name, and an empty one, and audits the refusal", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      const trail = Context.get(built, AuditTrail.AuditTrail)
      for (const principal of ["mallory", ""]) {
        for (const [name, , args] of commands) {
          out.length = 0
          err.length = 0
          process.exitCode = 0
          yield* Cli.run(["node", "nerv", ...args("00000000-0000-4000-8000-000000000001"), "--as", principal], {
            open: () => Layer.succeedContext(built)
          }).pipe(Effect.provide(NodeContext.layer))
          assert.strictEqual(process.exitCode, Cli.ExitCode.refused, `${name} as ${JSON.stringify(principal)}`)
          assert.match(err.join("\n"), /^UnknownPrincipal: /)
          assert.deepStrictEqual(out, [])
          const last = (yield* trail.read()).at(-1)!
          assert.deepStrictEqual([last.principal, last.outcome], [principal, "denied"])
        }
      }
      assert.strictEqual((yield* Documents.list().pipe(Access.as("admin.own"), Effect.provide(built))).length, 0)
    }))

  it.scoped("--role is gone: a role cannot be asserted on the command line", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      yield* Cli.run(["node", "nerv", "create", "--title", "T", "--as", "nobody.own", "--role", "admin"], {
        open: () => Layer.succeedContext(built)
      }).pipe(Effect.provide(NodeContext.layer))
      assert.strictEqual(process.exitCode, Cli.ExitCode.usage)
      assert.strictEqual((yield* Documents.list().pipe(Access.as("admin.own"), Effect.provide(built))).length, 0)
    }))
})
