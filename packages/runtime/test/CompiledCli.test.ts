/**
 * The compiled command line, as users call it (`node packages/runtime/dist/cli/nerv.mjs`): built
 * from the sources first, then run as a whole process.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Access, Documents } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Nerv, Rbac } from "../src/index.js"

const root = join(import.meta.dirname, "..")
const cli = join(root, "dist", "cli", "nerv.mjs")

beforeAll(() => {
  execFileSync(process.execPath, ["build.mjs"], { cwd: root, stdio: "inherit" })
}, 120_000)

const withDir = <A, E, R>(use: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-cli-"))),
    use,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const policy = JSON.stringify({
  principals: { ann: ["editor"], bob: ["editor"] },
  roles: { editor: ["documents:read", "documents:write"] }
})

describe("the compiled nerv", () => {
  it.live("answers --help without opening or creating a database", () =>
    withDir((dir) =>
      Effect.sync(() => {
        const run = spawnSync(process.execPath, [cli, "--help"], { cwd: dir, encoding: "utf8" })
        assert.strictEqual(run.status, 0, run.stderr)
        assert.include(run.stdout, "get")
        assert.include(run.stdout, "rebuild")
        assert.deepStrictEqual(readdirSync(dir), [])
      })
    ))

  it.live("reads a document of a database another process wrote", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const database = join(dir, "nerv.db")
        const id = yield* Documents.create({ title: "Plan", content: "Draft" }).pipe(Access.as("ann")).pipe(
          Effect.provide(Nerv.layerSqlite({ filename: database, policy: Rbac.layerPolicy(policy) })),
          Logger.withMinimumLogLevel(LogLevel.None),
          Effect.scoped
        )
        const run = spawnSync(process.execPath, [cli, "--database", database, "get", id, "--as", "ann"], {
          encoding: "utf8",
          env: { ...process.env, NERV_RBAC_POLICY: policy }
        })
        assert.strictEqual(run.status, 0, run.stderr)
        assert.deepInclude(JSON.parse(run.stdout), { id, title: "Plan", content: "Draft", version: 1 })
        assert.isTrue(existsSync(database))
      })
    ))

  it.live("nerv inspect serves the page on 127.0.0.1, follows another process's commits live, stops on Ctrl-C", () =>
    withDir((dir) =>
      Effect.gen(function*() {
        const database = join(dir, "nerv.db")
        const id = yield* Documents.create({ title: "Plan", content: "Draft" }).pipe(Access.as("ann")).pipe(
          Effect.provide(Nerv.layerSqlite({ filename: database, policy: Rbac.layerPolicy(policy) })),
          Logger.withMinimumLogLevel(LogLevel.None),
          Effect.scoped
        )
        const child = spawn(
          process.execPath,
          [cli, "--database", database, "inspect", "--as", "viewer", "--port", "0"],
          {
            env: {
              ...process.env,
              NERV_RBAC_POLICY: JSON.stringify({
                principals: { viewer: ["reader"] },
                roles: { reader: ["documents:read"] }
              })
            }
          }
        )
        const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
        const url = yield* Effect.promise(() =>
          new Promise<string>((resolve, reject) => {
            let out = ""
            child.stdout.on("data", (chunk) => {
              out += chunk
              if (out.includes("\n")) resolve(out.trim())
            })
            child.on("exit", () => reject(new Error(`nerv inspect exited before it printed its address: ${out}`)))
          })
        )
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
        const page = yield* Effect.promise(() => fetch(url).then((r) => r.text()))
        assert.include(page, "<title>NERV inspector</title>")
        const found = yield* Effect.promise(() => fetch(`${url}api/documents`).then((r) => r.json()))
        const documents = (found as { documents: Array<{ id: string; title: string }> }).documents
        assert.deepStrictEqual(documents.map((d) => [d.id, d.title]), [
          [id, "Plan"]
        ])
        // Live: a commit of this process reaches the inspector's feed in the other one.
        const feed = yield* Effect.promise(() => fetch(`${url}api/events`, { headers: { "last-event-id": "1" } }))
        const reader = feed.body!.getReader()
        const second = yield* Documents.create({ title: "Second", content: "x" }).pipe(Access.as("bob")).pipe(
          Effect.provide(Nerv.layerSqlite({ filename: database, policy: Rbac.layerPolicy(policy) })),
          Logger.withMinimumLogLevel(LogLevel.None),
          Effect.scoped
        )
        let received = ""
        while (!received.includes("\nevent: entry\n")) {
          const { done, value } = yield* Effect.promise(() => reader.read())
          if (done) break
          received += new TextDecoder().decode(value)
        }
        yield* Effect.promise(() => reader.cancel())
        assert.include(received, "id: 2\nevent: entry\n")
        assert.include(received, `"documentId":"${second}"`)
        assert.include(received, `"summary":"created \\"Second\\""`)
        child.kill("SIGINT")
        assert.strictEqual(yield* Effect.promise(() => exited), 0)
      })
    ))
})
