import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AuditTrail, Cli, Nerv, Rbac, SecureIntents } from "../../src/index.js"
import { captureConsole } from "../fixtures/console.js"
import { dataKeysMemory, masterKeys } from "../security/fixtures.js"

const policy = JSON.stringify({
  principals: { ann: ["editor"], rob: [] },
  roles: {
    reader: ["intent:analyze", "documents:read"],
    editor: ["intent:analyze", "documents:read", "documents:write", "documents:delete"]
  }
})

const services = Layer.mergeAll(
  Nerv.layerTestWithPolicy(Rbac.layerPolicy(policy, { permissions: SecureIntents.permissions })),
  dataKeysMemory(masterKeys.k1)
)

const { err, out } = captureConsole()

describe("nerv ask", () => {
  it.scoped("reads at once, refuses a change without a terminal or --yes, and runs it with --yes", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      const nerv = (...args: Array<string>) =>
        Cli.run(["node", "nerv", ...args], { open: () => Layer.succeedContext(built) }).pipe(
          Effect.provide(NodeContext.layer)
        )
      yield* nerv("create", "--title", "Launch plan", "--content", "Draft", "--as", "ann")
      const id = out.pop()!
      yield* nerv("update", id, "--content", "Final", "--as", "ann")
      out.splice(0)

      yield* Effect.gen(function*() {
        yield* nerv("ask", "show me how the launch plan looked at version 1", "--as", "ann")
        assert.strictEqual(JSON.parse(out.splice(0).join("\n")).content, "Draft")
        assert.match(err.splice(0).join("\n"), /^understood: show "Launch plan" \(.{8}…\) at version 1/)
        assert.strictEqual(process.exitCode ?? 0, 0)

        yield* nerv("ask", "delete the launch plan because it is obsolete", "--as", "ann")
        assert.include(err.splice(0).join("\n"), "there is no terminal to confirm it on; nothing was changed")
        assert.strictEqual(process.exitCode, 1)
        process.exitCode = 0
        yield* nerv("list", "--as", "ann")
        assert.deepStrictEqual(out.splice(0), [`${id}  v2  Launch plan  (by ann)`])

        yield* nerv("ask", "delete the launch plan because it is obsolete", "--as", "ann", "--yes")
        assert.deepStrictEqual(out.splice(0), [`${id} deleted at version 3`])
        err.splice(0)

        yield* nerv("ask", "tell me a joke", "--as", "ann", "--json")
        const answer = JSON.parse(out.splice(0).join("\n"))
        assert.strictEqual(answer.interpretation._tag, "NotUnderstood")
        assert.strictEqual(answer.outcome, null)
        assert.deepStrictEqual(err.splice(0), [])
        assert.strictEqual(process.exitCode, 1)
        process.exitCode = 0

        yield* nerv("ask", "show the launch plan", "--as", "rob")
        assert.match(err.splice(0).join("\n"), /^PermissionDenied: rob \(no roles\) may not Intent.analyze/)
      })

      const trail = yield* Context.get(built, AuditTrail.AuditTrail).read()
      assert.deepStrictEqual(
        trail.filter((r) =>
          r.action.startsWith("Intent.") || r.action === "Documents.at" || r.action === "Documents.remove"
        )
          .map((r) => [r.action, r.principal, r.outcome]),
        [
          ["Intent.analyze", "ann", "allowed"],
          ["Intent.analyze", "ann", "succeeded"],
          ["Documents.at", "ann", "allowed"],
          ["Documents.at", "ann", "succeeded"],
          ["Intent.analyze", "ann", "allowed"],
          ["Intent.analyze", "ann", "succeeded"],
          ["Intent.analyze", "ann", "allowed"],
          ["Intent.analyze", "ann", "succeeded"],
          ["Documents.remove", "ann", "allowed"],
          ["Documents.remove", "ann", "succeeded"],
          ["Intent.analyze", "ann", "allowed"],
          ["Intent.analyze", "ann", "succeeded"],
          ["Intent.analyze", "rob", "denied"]
        ]
      )
    }))
})

describe("nerv ask, the binary", () => {
  it("answers a read on stdout, refuses a change with no terminal, and seals its model beside the database", () => {
    const dir = mkdtempSync(join(tmpdir(), "nerv-ask-"))
    const nerv = (...args: Array<string>) =>
      spawnSync(
        process.execPath,
        ["--import", "tsx", join(import.meta.dirname, "..", "..", "src", "bin.ts"), ...args],
        {
          encoding: "utf8",
          env: { ...process.env, NERV_DATABASE: join(dir, "nerv.db"), NERV_RBAC_POLICY: policy, NO_COLOR: "1" },
          stdio: ["ignore", "pipe", "pipe"]
        }
      )
    try {
      assert.strictEqual(nerv("init").status, 0)
      const created = nerv("create", "--title", "Launch plan", "--content", "Draft", "--as", "ann")
      assert.strictEqual(created.status, 0, created.stderr)
      const id = created.stdout.trim().split("\n").at(-1)!

      const read = nerv("ask", "show me the launch plan", "--as", "ann", "--json")
      assert.strictEqual(read.status, 0, read.stderr)
      const answer = JSON.parse(read.stdout)
      assert.strictEqual(answer.interpretation.command._tag, "show")
      assert.strictEqual(answer.outcome.document.id, id)

      const change = nerv("ask", "forget the launch plan", "--as", "ann")
      assert.strictEqual(change.status, 1)
      assert.include(change.stderr, "understood: forget \"Launch plan\"")
      assert.include(change.stderr, "Add --yes to carry it out without asking")
      assert.strictEqual(change.stdout, "")
      assert.include(nerv("list", "--as", "ann").stdout, `${id}  v1  Launch plan  (by ann)`)

      const sealed = readFileSync(join(dir, "intent-model.sealed")).toString("latin1")
      assert.notInclude(sealed, "launch")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
