/**
 * The compiled command line, as users call it (`node packages/runtime/dist/cli/nerv.mjs`): built
 * from the sources first, then run as a whole process.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Documents } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Nerv } from "../src/index.js"

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
        const id = yield* Documents.create({ title: "Plan", content: "Draft", author: "ann" }).pipe(
          Effect.provide(Nerv.layerSqlite({ filename: database })),
          Logger.withMinimumLogLevel(LogLevel.None),
          Effect.scoped
        )
        const run = spawnSync(process.execPath, [cli, "--database", database, "get", id], { encoding: "utf8" })
        assert.strictEqual(run.status, 0, run.stderr)
        assert.deepInclude(JSON.parse(run.stdout), { id, title: "Plan", content: "Draft", version: 1 })
        assert.isTrue(existsSync(database))
      })
    ))
})
