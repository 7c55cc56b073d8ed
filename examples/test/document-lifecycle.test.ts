import { NodeContext } from "@effect/platform-node"
import * as Command from "@effect/platform/Command"
import { assert, describe, it } from "@effect/vitest"
import { NatsClient, NatsDispatcher, NatsEvents } from "@nerv/runtime"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"

/** Runs the demo the way `pnpm demo` does, in its own process, and returns what it printed. */
const runDemo = (database: string, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const demo = yield* Command.make(process.execPath, "--import", "tsx", "document-lifecycle.ts").pipe(
      Command.workingDirectory(join(import.meta.dirname, "..")),
      Command.env({ NERV_DATABASE: database, NO_COLOR: "1", ...env }),
      Command.start
    )
    const [stdout, stderr, exitCode] = yield* Effect.all([
      Stream.mkString(Stream.decodeText(demo.stdout)),
      Stream.mkString(Stream.decodeText(demo.stderr)),
      demo.exitCode
    ], { concurrency: 3 })
    return { stdout, stderr, exitCode }
  }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))

describe("examples/document-lifecycle", () => {
  it.live("runs the whole lifecycle, prints the events, the refusal and the metrics, and keeps them for the next run", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "nerv-demo-"))
      try {
        const { exitCode, stderr, stdout } = yield* runDemo(join(dir, "nerv.db"))
        assert.strictEqual(exitCode, 0, stderr)
        assert.include(stdout, "Creating two documents, updating one, deleting the other:")
        const subscriber = stdout.split("\n").filter((line) => line.includes("[subscriber]"))
        assert.deepStrictEqual(subscriber.map((line) => line.trim().split(" ").slice(1, 3).join(" ")), [
          "DocumentCreated v1:",
          "DocumentCreated v1:",
          "DocumentUpdated v2:",
          "DocumentDeleted v2:"
        ])
        assert.match(stdout, /Refused: VersionConflict: document [0-9a-f-]{36} is at version 2, expected 1/)
        // Notifications are not the program's output: they go to stderr.
        assert.include(stderr, "→ ann: bob updated \"Launch plan\" (now version 2)")
        assert.include(stderr, "→ bob: ann deleted \"Old memo\": superseded by the launch plan")
        assert.include(stdout, "…and at version 1 it read: Draft")

        const recent = stdout.slice(stdout.indexOf("Recent events, newest first:")).split("\n").slice(1, 6)
        assert.deepStrictEqual(recent.map((line) => line.trim().split(/\s+/)[1]), [
          "OperationFailed",
          "DocumentDeleted",
          "DocumentUpdated",
          "DocumentCreated",
          "DocumentCreated"
        ])

        const metrics = stdout.slice(stdout.indexOf("Per-operation metrics:"))
        assert.match(metrics, /Documents\.create\s+2\s+0\s+0\.0%/)
        assert.match(metrics, /Documents\.update\s+2\s+1\s+50\.0%/)
        assert.match(metrics, /Documents\.remove\s+1\s+0\s+0\.0%/)

        // A second run finds the first run's documents, rebuilt from the (encrypted) journal.
        const again = yield* runDemo(join(dir, "nerv.db"))
        assert.strictEqual(again.exitCode, 0, again.stderr)
        assert.match(again.stdout, /\(4 events from earlier runs\)/)
        assert.include(again.stdout, "Documents now: \"Launch plan\" v2, \"Launch plan\" v2")
        assert.isFalse(readFileSync(join(dir, "nerv.db")).includes("Ship on Friday"), "content stored in clear")
        assert.strictEqual(statSync(join(dir, "master.key")).mode & 0o777, 0o600)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }))

  it.live("with NERV_NATS_URL set, runs on NATS JetStream: the dispatcher and the subscribers get every event, in order", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "nerv-demo-"))
      const url = process.env["NERV_NATS_URL"] ?? "nats://127.0.0.1:4222"
      const prefix = `demo-${randomBytes(4).toString("hex")}`
      try {
        const { exitCode, stderr, stdout } = yield* runDemo(join(dir, "nerv.db"), {
          NERV_NATS_URL: url,
          NERV_NATS_PREFIX: prefix
        })
        assert.strictEqual(exitCode, 0, stderr)
        assert.include(stdout, `Delivery: NATS JetStream at ${url}`)
        const lines = (tag: string) =>
          stdout.split("\n").filter((line) => line.includes(tag)).map((line) =>
            line.trim().split(" ").slice(1, 3).join(" ").replace(/:$/, "")
          )
        const expected = ["DocumentCreated v1", "DocumentCreated v1", "DocumentUpdated v2", "DocumentDeleted v2"]
        assert.deepStrictEqual(lines("[subscriber]"), expected)
        assert.deepStrictEqual(lines("[dispatcher]"), expected)
        assert.match(stdout, /Refused: VersionConflict/)
      } finally {
        rmSync(dir, { recursive: true, force: true })
        yield* Effect.all([NatsDispatcher.destroy(prefix), NatsEvents.destroy(prefix)]).pipe(
          Effect.provide(NatsClient.layer({ servers: url })),
          Effect.ignore
        )
      }
    }))
})

describe("the demo and the command line", () => {
  it("use the same database by default: .nerv/nerv.db in the working directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "nerv-default-"))
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
    const run = (file: string, ...args: Array<string>) =>
      spawnSync(process.execPath, ["--import", tsx, file, ...args], {
        cwd: dir,
        encoding: "utf8",
        env: { PATH: process.env["PATH"] ?? "", NO_COLOR: "1" }
      })
    try {
      const demo = run(join(import.meta.dirname, "..", "document-lifecycle.ts"))
      assert.strictEqual(demo.status, 0, demo.stderr)
      assert.include(demo.stdout, `Journal: ${join(dir, ".nerv", "nerv.db")} (0 events from earlier runs)`)
      const listed = run(join(import.meta.dirname, "..", "..", "packages", "runtime", "src", "bin.ts"), "list")
      assert.strictEqual(listed.status, 0, listed.stderr)
      assert.match(listed.stdout, /^[0-9a-f-]{36} {2}v2 {2}Launch plan {2}\(by ann\)\n$/)
      // Every call of the demo went through the door, recorded in the database's audit trail.
      const audited = run(
        join(import.meta.dirname, "..", "..", "packages", "runtime", "src", "bin.ts"),
        "audit",
        "verify"
      )
      assert.strictEqual(audited.status, 0, audited.stderr)
      assert.match(audited.stdout, /^audit trail intact: \d+ records/)
      // A principal the policy does not name is refused.
      const refused = run(
        join(import.meta.dirname, "..", "..", "packages", "runtime", "src", "bin.ts"),
        "list",
        "--as",
        "mallory"
      )
      assert.strictEqual(refused.status, 1)
      assert.include(refused.stderr, "UnknownPrincipal")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
