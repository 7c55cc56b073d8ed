import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Documents, Errors, Notifier } from "@nerv/core"
import { Retention } from "@nerv/store"
import * as Chunk from "effect/Chunk"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"
import { AuditTrail, Cli, Nerv, Notifier as NervNotifier, Rbac } from "../src/index.js"
import { captureConsole } from "./fixtures/console.js"
import { tempSchema } from "./fixtures/postgres.js"
import { dataKeysMemory, masterKeys } from "./security/fixtures.js"

const dataKeys = dataKeysMemory(masterKeys.k1)

/** What the command line needs: the test layer (its audit trail in memory) and data keys. */
const services = Layer.mergeAll(Nerv.layerTest, dataKeys)

const { err, out } = captureConsole()

describe("nerv CLI", () => {
  it.scoped("runs every document command against one set of services", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      const databases: Array<string> = []
      const nerv = (...args: Array<string>) =>
        Cli.run(["node", "nerv", ...args], {
          open: (file) => {
            databases.push(file)
            return Layer.succeedContext(built)
          }
        }).pipe(Effect.provide(NodeContext.layer))

      yield* nerv("create", "--title", "Plan", "--content", "Draft", "--as", "ann")
      const id = out.pop()!
      assert.match(id, /^[0-9a-f-]{36}$/)

      yield* nerv("update", id, "--content", "Ship it", "--as", "bob", "--expected-version", "1")
      assert.deepStrictEqual(out.splice(0), [`${id} is at version 2`])

      yield* nerv("update", id, "--content", "Too late", "--as", "eve", "--expected-version", "1")
      assert.deepStrictEqual(err.splice(0), [
        `VersionConflict: document ${id} is at version 2, expected 1; read it again and retry`
      ])
      assert.strictEqual(process.exitCode, 1)
      process.exitCode = 0

      yield* nerv("at", id, "1")
      assert.strictEqual(JSON.parse(out.splice(0).join("\n")).content, "Draft")

      yield* nerv("history", id)
      const history = out.splice(0)
      assert.strictEqual(history.length, 2)
      assert.match(history[0]!, /^v1 {2}1970-01-01T00:00:00\.000Z {2}ann +created "Plan"$/)
      assert.match(history[1]!, /^v2 .* bob +content changed \(7 characters\)$/)

      yield* nerv("--database", "/tmp/elsewhere.db", "list")
      assert.deepStrictEqual(out.splice(0), [`${id}  v2  Plan  (by ann)`])
      assert.strictEqual(databases.at(-1), "/tmp/elsewhere.db")
      yield* nerv("--database", "relative/nerv.db", "list")
      assert.strictEqual(databases.at(-1), join(process.cwd(), "relative", "nerv.db"))
      out.splice(0)

      yield* nerv("delete", id, "--reason", "done", "--as", "ann")
      assert.deepStrictEqual(out.splice(0), [`${id} deleted at version 3`])
      yield* nerv("list")
      assert.deepStrictEqual(out.splice(0), ["no documents"])
      yield* nerv("get", id)
      assert.strictEqual(JSON.parse(out.splice(0).join("\n")).deletionReason, "done")
    }))

  it.scoped("bad input prints the Schema's explanation and sets the exit code", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      yield* Cli.run(["node", "nerv", "create", "--title", "", "--as", "ann"], {
        open: () => Layer.succeedContext(built)
      }).pipe(Effect.provide(NodeContext.layer))
      assert.strictEqual(process.exitCode, 1)
      assert.include(err.join("\n"), "InvalidInput: invalid input to Documents.create")
      assert.include(err.join("\n"), "a title cannot be empty")
      yield* Cli.run(["node", "nerv", "get", "not-an-id"], { open: () => Layer.succeedContext(built) }).pipe(
        Effect.provide(NodeContext.layer)
      )
      assert.include(err.join("\n"), "InvalidInput: invalid input to Documents.get")
    }))
})

describe("nerv CLI administration", () => {
  const policy = Rbac.layerPolicy({
    principals: { ann: ["author"], dana: ["dpo"], root: ["admin"] },
    roles: {
      author: ["documents:read", "documents:write:own"],
      dpo: ["documents:read", "documents:forget", "audit:read"],
      admin: ["*"]
    }
  })

  it.scoped("forget, keys rewrap and audit verify run as a principal under the policy, and are audited", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(Layer.merge(Nerv.layerTestWithPolicy(policy), dataKeys))
      const nerv = (...args: Array<string>) =>
        Cli.run(["node", "nerv", ...args], { open: () => Layer.succeedContext(built) }).pipe(
          Effect.provide(NodeContext.layer)
        )

      yield* nerv("create", "--title", "Medical record", "--content", "private", "--as", "ann")
      const id = out.pop()!

      // Nobody the policy does not name, and no role it does not grant.
      yield* nerv("forget", id, "--as", "mallory")
      assert.match(err.splice(0).join("\n"), /^UnknownPrincipal: Documents.forget was refused/)
      assert.strictEqual(process.exitCode, 1)
      process.exitCode = 0
      yield* nerv("forget", id, "--as", "ann")
      assert.match(err.splice(0).join("\n"), /^PermissionDenied: ann \(roles author\) may not Documents.forget/)
      assert.strictEqual(process.exitCode, 1)
      process.exitCode = 0

      yield* Effect.gen(function*() {
        yield* nerv("forget", id, "--as", "dana")
        assert.deepStrictEqual(out.splice(0), [
          `${id} forgotten: its content is destroyed, its history keeps its shape`
        ])
        assert.deepStrictEqual(err.splice(0), [`warning: document ${id} was forgotten: its content is destroyed`])
        yield* nerv("get", id, "--as", "ann")
        assert.match(err.splice(0).join("\n"), /^DocumentForgotten: document .* was forgotten/)
        process.exitCode = 0
        yield* nerv("history", id, "--as", "ann")
        assert.deepStrictEqual(out.splice(0).map((line) => line.replace(/\s+/g, " ")), [
          "v1 1970-01-01T00:00:00.000Z ann DocumentCreated (content forgotten)"
        ])

        yield* nerv("keys", "rewrap", "--as", "dana")
        assert.match(err.splice(0).join("\n"), /^PermissionDenied: dana/)
        process.exitCode = 0
        yield* nerv("keys", "rewrap", "--as", "root")
        assert.match(
          out.splice(0).join("\n"),
          /re-wrapped under the active master key: \d+, already current: \d+, failed: 0/
        )

        yield* nerv("audit", "verify", "--as", "dana")
        assert.match(out.splice(0).join("\n"), /^audit trail intact: \d+ records/)
        assert.strictEqual(process.exitCode ?? 0, 0)
      })
    }))
})

/** The durable layers `nerv prune` runs on, each on a fresh database (a file in `dir`, a schema). */
const durableLayers = [
  {
    name: "SQLite",
    layer: (dir: string, policy: Layer.Layer<Rbac.Policy, ConfigError.ConfigError>) =>
      Effect.succeed(Nerv.layerSqlite({ filename: join(dir, "nerv.db"), snapshotEvery: 2, policy }))
  },
  {
    name: "PostgreSQL",
    layer: (dir: string, policy: Layer.Layer<Rbac.Policy, ConfigError.ConfigError>) =>
      Effect.map(
        tempSchema,
        (url) => Nerv.layerPostgres({ url, snapshotEvery: 2, masterKeyFile: join(dir, "master.key"), policy })
      )
  }
] as const

describe.each(durableLayers)("nerv CLI retention on $name", ({ layer }) => {
  const policy = Rbac.layerPolicy({
    principals: { ann: ["admin"], bob: ["admin"], dana: ["dpo"], root: ["admin"] },
    roles: { dpo: ["documents:forget"], admin: ["*"] }
  })

  it.live("prune plans, archives and prunes old versions as a principal with journal:prune, audited", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-prune-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const archive = join(dir, "archive.db")
      const built = yield* Layer.build(yield* layer(dir, policy))
      const nerv = (...args: Array<string>) =>
        Cli.run(["node", "nerv", ...args], { open: () => Layer.succeedContext(built) }).pipe(
          Effect.provide(NodeContext.layer)
        )

      yield* nerv("create", "--title", "Plan", "--content", "v1", "--as", "ann")
      const id = out.pop()!
      for (let v = 2; v <= 6; v++) yield* nerv("update", id, "--content", `v${v}`, "--as", "bob")
      // Snapshots at versions 2, 4 and 6, taken in the background: version 6 becomes the horizon.
      const retention = Context.get(built, Retention.Retention)
      yield* retention.plan({ olderThan: 0 }).pipe(
        Effect.filterOrFail((plan) => plan.events === 5),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.compose(Schedule.recurs(20))))
      )
      // Ann's notifications of bob's five updates are performed after the commits, by the outbox's
      // worker, on stderr: they are awaited here, so that they do not land among prune's own lines.
      yield* Effect.sync(() => err.filter((line) => line.startsWith("→ ann: bob updated")).length).pipe(
        Effect.repeat({ until: (count) => count >= 5, schedule: Schedule.spaced("20 millis") }),
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("ann was not notified 5 times") })
      )
      out.splice(0)
      err.splice(0)

      yield* Effect.gen(function*() {
        // A malformed option: @effect/cli prints why, and the exit code says it failed.
        yield* nerv("prune", "--older-than", "soon", "--as", "root")
        assert.include(err.splice(0).join("\n"), "--older-than takes a duration")
        assert.deepStrictEqual(out.splice(0), [])
        assert.strictEqual(process.exitCode, Cli.ExitCode.usage)
        process.exitCode = 0
        yield* nerv("prune", "--older-than", "0 millis", "--as", "dana")
        assert.match(err.splice(0).join("\n"), /^PermissionDenied: dana/)
        process.exitCode = 0

        yield* nerv("prune", "--older-than", "0 millis", "--dry-run", "--as", "root")
        assert.deepStrictEqual(out.splice(0), ["would prune 5 events of 1 document and 2 snapshots (nothing changed)"])
        yield* nerv("history", id, "--as", "ann")
        assert.strictEqual(out.splice(0).length, 6)

        yield* nerv("prune", "--older-than", "0 millis", "--archive", archive, "--as", "root")
        assert.deepStrictEqual(out.splice(0), [
          `pruned 5 events of 1 document and 2 snapshots; 5 events newly archived in ${archive}`
        ])
        yield* nerv("history", id, "--as", "ann")
        assert.match(out.splice(0).join("\n"), /^v6 /)
        const archived = yield* Stream.runCollect(retention.readArchive(archive, { documentId: id }))
        assert.deepStrictEqual(Chunk.toReadonlyArray(archived).map((entry) => entry.event.version), [1, 2, 3, 4, 5])
      })

      const records = yield* Context.get(built, AuditTrail.AuditTrail).read()
      assert.deepStrictEqual(
        records.filter((r) => r.action.startsWith("Journal.")).map((r) => [r.action, r.principal, r.outcome]),
        [
          ["Journal.prune", "dana", "denied"],
          ["Journal.planPrune", "root", "allowed"],
          ["Journal.planPrune", "root", "succeeded"],
          ["Journal.prune", "root", "allowed"],
          ["Journal.prune", "root", "succeeded"]
        ]
      )
      assert.include(records.filter((r) => r.action === "Journal.prune").at(-1)!.target, `archived to ${archive}`)
    }).pipe(Effect.scoped))
})

describe("nerv CLI's exit status and streams", () => {
  const run = (args: ReadonlyArray<string>, open: Cli.Databases<unknown>["open"], options?: Cli.RunOptions) =>
    Effect.gen(function*() {
      out.length = 0
      err.length = 0
      process.exitCode = 0
      yield* Cli.run(["node", "nerv", ...args], { open }, options).pipe(Effect.provide(NodeContext.layer))
      return { status: process.exitCode, out: out.splice(0), err: err.splice(0) }
    })

  it.scoped("a command line that is wrong is a usage error (2), explained on stderr, with nothing on stdout", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      const opened: Array<string> = []
      const open = (file: string) => {
        opened.push(file)
        return Layer.succeedContext(built)
      }
      for (
        const args of [
          [],
          ["frobnicate"],
          ["create", "--content", "Plan"],
          ["create", "--title", "Plan", "--role", "admin"],
          ["create", "--title", "Plan", "--as", "ann", "--content", "a", "--content-file", "b.txt"],
          ["--database", "", "list"],
          ["--database", "  ", "create", "--title", "Plan", "--as", "ann"],
          ["at", "00000000-0000-4000-8000-000000000001", "one"],
          // The wizard asks on stdin: without a terminal it would wait for ever.
          ["--wizard"],
          ["list", "--wizard"]
        ]
      ) {
        const result = yield* run(args, open)
        assert.strictEqual(result.status, Cli.ExitCode.usage, args.join(" "))
        assert.deepStrictEqual(result.out, [], args.join(" "))
        assert.isAbove(result.err.join("\n").length, 0, args.join(" "))
      }
      assert.include((yield* run(["--database", "", "list"], open)).err.join("\n"), "--database is empty")
      assert.include((yield* run([], open)).err.join("\n"), "give a command")
      assert.include((yield* run(["--wizard"], open, { interactive: false })).err.join("\n"), "needs a terminal")
      // @effect/cli quotes what it was given; what reaches the terminal is escaped all the same.
      const quoted = yield* run(["list", "\u001b[2J\u0007"], open)
      assert.strictEqual(quoted.status, Cli.ExitCode.usage)
      assert.notMatch(quoted.err.join("\n"), /[\u0007\u001b]/)
      // No empty path ever reached the layer (SQLite would take it as a temporary database).
      assert.isFalse(opened.some((file) => file.trim() === ""))
      const listed = yield* Effect.flatMap(Documents.list(), Effect.succeed).pipe(Effect.provide(built))
      assert.deepStrictEqual(listed, [])
    }))

  it.scoped("text from the database is printed with its control characters escaped; JSON stays exact", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      const open = () => Layer.succeedContext(built)
      const title = "evil\nforged  v9  line\u001b[2J\u202e\u009b"
      const created = yield* run(["create", "--title", title, "--content", "x", "--as", "ann\u0007"], open)
      assert.strictEqual(created.status, 0)
      const id = created.out[0]!
      const listed = yield* run(["list"], open)
      assert.deepStrictEqual(listed.out, [`${id}  v1  evil\\nforged  v9  line\\x1b[2J\\u202e\\x9b  (by ann\\x07)`])
      const history = yield* run(["history", id], open)
      assert.strictEqual(history.out.length, 1)
      assert.include(history.out[0]!, "created \"evil\\nforged")
      const json = yield* run(["get", id], open)
      assert.strictEqual(JSON.parse(json.out.join("\n")).title, title)
      for (const line of [...listed.out, ...history.out, ...json.out.join("\n").split("\n")]) {
        assert.notMatch(line, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/)
      }
      // An error quoting what was given escapes it too.
      const missing = yield* run(["get", "\u001b[2J"], open)
      assert.strictEqual(missing.status, Cli.ExitCode.refused)
      assert.notMatch(missing.err.join("\n"), /\u001b/)
    }))

  it.effect("console notifications go to stderr, escaped", () =>
    Effect.gen(function*() {
      const notifier = yield* Notifier.Notifier
      yield* notifier.notify("ann", "bob updated \"x\u001b[2J\" (now version 2)")
      assert.deepStrictEqual(out, [])
      assert.deepStrictEqual(err, ["→ ann: bob updated \"x\\x1b[2J\" (now version 2)"])
    }).pipe(Effect.provide(NervNotifier.layerConsole)))

  it.scoped("help and errors are coloured only where asked (a terminal without NO_COLOR)", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      const open = () => Layer.succeedContext(built)
      const plain = yield* run(["--help"], open, { colors: { stdout: false, stderr: false } })
      assert.strictEqual(plain.status, 0)
      assert.include(plain.out.join("\n"), "USAGE")
      assert.notInclude(plain.out.join("\n"), "\u001b")
      const coloured = yield* run(["--help"], open, { colors: { stdout: true, stderr: true } })
      assert.include(coloured.out.join("\n"), "\u001b[")
      const usage = yield* run(["frobnicate"], open, { colors: { stdout: false, stderr: false } })
      assert.notInclude(usage.err.join("\n"), "\u001b")
    }))

  it.effect("an unusable database or configuration is refused (1), a damaged row reported (3), a bug is 70", () =>
    Effect.gen(function*() {
      const refused = yield* run(
        ["list"],
        () => Layer.fail(new Errors.JournalError({ reason: "/x/nerv.db is a folder" }))
      )
      assert.strictEqual(refused.status, Cli.ExitCode.refused)
      assert.deepStrictEqual(refused.err, ["JournalError: the journal failed: /x/nerv.db is a folder"])

      const config = yield* run(
        ["list"],
        () => Layer.fail(ConfigError.InvalidData(["NERV_MASTER_KEYS"], "invalid master keys: entry 1 is not id:base64"))
      )
      assert.strictEqual(config.status, Cli.ExitCode.refused)
      assert.deepStrictEqual(config.err, [
        "configuration error: NERV_MASTER_KEYS: invalid master keys: entry 1 is not id:base64"
      ])

      const row = new Errors.RowDamaged({ position: 7, documentId: "d", version: 2, reason: "the payload is not JSON" })
      const damaged = yield* run(
        ["list"],
        () => Layer.fail(new Errors.JournalError({ reason: row.message, cause: row }))
      )
      assert.strictEqual(damaged.status, Cli.ExitCode.damaged)
      assert.include(damaged.err.join("\n"), "the journal row at position 7 (document d, version 2) is damaged")
      assert.include(damaged.err.join("\n"), "nerv verify")

      const bug = yield* run(["list"], () => Layer.unwrapEffect(Effect.die(new Error("a bug"))))
      assert.strictEqual(bug.status, Cli.ExitCode.bug)
      assert.include(bug.err.join("\n"), "internal error, a bug in NERV")
      assert.deepStrictEqual(bug.out, [])
    }))

  it.effect("nerv verify needs a database it can read on its own", () =>
    Effect.gen(function*() {
      const result = yield* run(["verify"], () => Layer.fail(new Errors.JournalError({ reason: "unused" })))
      assert.strictEqual(result.status, Cli.ExitCode.refused)
      assert.include(result.err.join("\n"), "nerv verify reads a database of its own")
    }))
})

describe("nerv verify on PostgreSQL", () => {
  it.live("scans the journal: no damage at first; a damaged row named by position, exit 3, nothing changed", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-verify-pg-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const url = yield* tempSchema
      const masterKeyFile = join(dir, "master.key")
      const policy = Rbac.layerPolicy({ principals: { ann: ["admin"] }, roles: { admin: ["*"] } })
      const built = yield* Layer.build(Nerv.layerPostgres({ url, masterKeyFile, policy }))
      const nerv = (...args: Array<string>) =>
        Cli.run(["node", "nerv", "--database", url, ...args], {
          open: () => Layer.succeedContext(built),
          readOnly: (database) => Nerv.layerPostgresScan(database, { masterKeyFile })
        }).pipe(Effect.provide(NodeContext.layer))

      yield* nerv("create", "--title", "Plan", "--content", "v1", "--as", "ann")
      const id = out.pop()!
      yield* nerv("update", id, "--content", "v2", "--as", "ann")
      out.splice(0)
      yield* nerv("verify")
      assert.strictEqual(process.exitCode ?? 0, 0, err.join("\n"))
      assert.match(out.splice(0).join("\n"), /scanned 2 rows and \d+ snapshots? of .*: no damage found/)

      // One flipped byte in the second version's sealed payload.
      const sql = Context.get(yield* Layer.build(Nerv.layerPostgresScan(url, { masterKeyFile })), SqlClient.SqlClient)
      yield* sql.unsafe(
        "UPDATE nerv_events SET payload = set_byte(payload, 20, get_byte(payload, 20) # 1) WHERE version = 2"
      )
      const before = yield* sql.unsafe("SELECT position, payload FROM nerv_events ORDER BY position")
      yield* nerv("verify")
      assert.strictEqual(process.exitCode, Cli.ExitCode.damaged)
      const report = out.splice(0).join("\n")
      assert.include(report, `position 2 (document ${id}, version 2)`)
      assert.include(report, "1 damaged row")
      assert.deepStrictEqual(yield* sql.unsafe("SELECT position, payload FROM nerv_events ORDER BY position"), before)
      process.exitCode = 0
    }).pipe(Effect.scoped))
})

describe("nerv CLI's expected errors", () => {
  it("knows every error of @nerv/core by its tag (each class is named after its tag)", () => {
    for (const [name, ErrorClass] of Object.entries(Errors)) {
      const error = new (ErrorClass as new(args: object) => { readonly _tag: string })({})
      assert.strictEqual(error._tag, name)
    }
  })
})

describe("nerv binary", () => {
  it("keeps documents across invocations in its database file, as the user nerv init made its admin", () => {
    const dir = mkdtempSync(join(tmpdir(), "nerv-cli-"))
    const { NERV_RBAC_POLICY: _policy, NERV_RBAC_POLICY_FILE: _file, ...env } = process.env
    const nerv = (...args: Array<string>) =>
      spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "src", "bin.ts"), ...args], {
        encoding: "utf8",
        env: { ...env, NERV_DATABASE: join(dir, "nerv.db"), NO_COLOR: "1" }
      })
    const me = userInfo().username
    try {
      const init = nerv("init")
      assert.strictEqual(init.status, 0)
      assert.include(init.stdout, `policy.json: ${me} is its admin`)
      const policy = JSON.parse(readFileSync(join(dir, "policy.json"), "utf8"))
      assert.deepStrictEqual(policy.principals, { [me]: ["admin"] })
      assert.strictEqual(statSync(join(dir, "policy.json")).mode & 0o777, 0o600)
      const created = nerv("create", "--title", "Persisted", "--content", "Draft")
      assert.strictEqual(created.status, 0, created.stderr)
      const id = created.stdout.trim().split("\n").at(-1)!
      const listed = nerv("list")
      assert.strictEqual(listed.status, 0, listed.stderr)
      assert.include(listed.stdout, `${id}  v1  Persisted  (by ${me})`)
      const missing = nerv("get", "00000000-0000-4000-8000-000000000999")
      assert.strictEqual(missing.status, 1)
      assert.include(missing.stderr, "DocumentNotFound: document 00000000-0000-4000-8000-000000000999 does not exist")
      // A principal the policy does not name, or none, is refused, whatever it asks for.
      for (const as of ["ann", ""]) {
        const refused = nerv("update", id, "--content", "Hijacked", "--as", as)
        assert.strictEqual(refused.status, 1, refused.stderr)
        assert.include(refused.stderr, "UnknownPrincipal: Documents.update was refused")
      }
      assert.include(nerv("get", id).stdout, "Draft")
      const verified = nerv("audit", "verify")
      assert.strictEqual(verified.status, 0, verified.stderr)
      assert.match(verified.stdout, /^audit trail intact: \d+ records/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
