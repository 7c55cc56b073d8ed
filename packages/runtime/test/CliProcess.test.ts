/**
 * The `nerv` binary as a real OS process, as scripts and terminals meet it: its exit status, what
 * it writes to stdout and to stderr, and what it leaves on disk.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cli } from "../src/index.js"
import { betterSqlite3, bundle, bundledFile, nerv, type Ran, removeBundle } from "./fixtures/nervProcess.js"

const root = mkdtempSync(join(tmpdir(), "nerv-process-"))
writeFileSync(join(root, "empty"), "")
beforeAll(bundle, 60_000)
afterAll(() => {
  removeBundle()
  rmSync(root, { recursive: true, force: true })
})

let dirs = 0
/** A fresh folder to run in. */
const freshDir = () => {
  const dir = join(root, `run-${++dirs}`)
  mkdirSync(dir)
  return dir
}

/** What an expected condition must never print: a stack trace, or the logger's pretty lines. */
const assertNoTrace = (ran: Ran) => {
  assert.notMatch(ran.stderr, /^\s+at /m, ran.stderr)
  assert.notMatch(ran.stdout, /^\s+at /m, ran.stdout)
  assert.notInclude(ran.stderr, "internal error")
}

const files = (dir: string): Array<string> => readdirSync(dir, { recursive: true }).map(String).sort()

const hash = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

/** Every file under a folder with a hash of its content (folders by name): to see that nothing changed. */
const contents = (dir: string): Array<string> =>
  files(dir).map((file) => statSync(join(dir, file)).isDirectory() ? `${file}/` : `${file} ${hash(join(dir, file))}`)

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

describe("nerv as a process: stdout carries results only", () => {
  it("create prints the id alone on stdout; the first-run key warning and notifications go to stderr", () => {
    const dir = freshDir()
    // The first start makes a key file and warns about it: on stderr, while stdout has the id alone.
    const created = nerv(dir, ["--create", "create", "--title", "Plan", "--content", "Draft", "--as", "ann"])
    assert.strictEqual(created.status, 0, created.stderr)
    assert.match(created.stdout, new RegExp(`^${uuid.source.slice(1, -1)}\n$`))
    assert.include(created.stderr, "warning: encryption at rest: no master key is configured")
    const id = created.stdout.trim()

    const updated = nerv(dir, ["update", id, "--content", "Ship it", "--as", "bob"])
    assert.strictEqual(updated.status, 0, updated.stderr)
    assert.strictEqual(updated.stdout, `${id} is at version 2\n`)
    assert.strictEqual(updated.stderr, `→ ann: bob updated "Plan" (now version 2)\n`)
  })
})

describe("nerv as a process: the database is never made by accident", () => {
  it("an empty --database is a usage error: nothing written, no key file in the working directory", () => {
    const dir = freshDir()
    const ran = nerv(dir, ["--database", "", "create", "--title", "Plan", "--as", "ann"])
    assert.strictEqual(ran.status, Cli.ExitCode.usage)
    assert.strictEqual(ran.stdout, "")
    assert.include(ran.stderr, "--database is empty")
    assert.deepStrictEqual(files(dir), [])
    const env = nerv(dir, ["list"], { env: { NERV_DATABASE: "" } })
    assert.strictEqual(env.status, Cli.ExitCode.refused)
    assert.include(env.stderr, "NERV_DATABASE is empty")
    assert.deepStrictEqual(files(dir), [])
  })

  it("a missing database is refused and nothing is created; nerv init creates it, once", () => {
    const dir = freshDir()
    const mistyped = nerv(dir, ["--database", "data/nerv.bd", "list"])
    assert.strictEqual(mistyped.status, Cli.ExitCode.refused)
    assert.strictEqual(mistyped.stdout, "")
    assert.include(mistyped.stderr, `there is no database at ${join(dir, "data", "nerv.bd")}, and nothing was created`)
    assert.include(mistyped.stderr, "nerv init")
    assertNoTrace(mistyped)
    assert.deepStrictEqual(files(dir), [])

    const init = nerv(dir, ["init"])
    assert.strictEqual(init.status, 0, init.stderr)
    assert.strictEqual(init.stdout, `created ${join(dir, ".nerv", "nerv.db")}\n`)
    assert.include(files(dir), join(".nerv", "master.key"))
    const again = nerv(dir, ["init"])
    assert.strictEqual(again.status, 0)
    assert.strictEqual(again.stdout, `${join(dir, ".nerv", "nerv.db")} is already a NERV database; nothing changed\n`)
    const listed = nerv(dir, ["list"])
    assert.strictEqual(listed.status, 0, listed.stderr)
    assert.strictEqual(listed.stdout, "no documents\n")
  })

  it("a path that is not a NERV database is refused by name, with no stack trace, and left as it was", () => {
    const dir = freshDir()
    mkdirSync(join(dir, "folder.db"))
    writeFileSync(join(dir, "notes.db"), "these are my notes\n")
    writeFileSync(join(dir, "random.db"), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)))
    writeFileSync(join(dir, "empty.db"), "")
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["folder.db", "is a folder, not a database file"],
      ["notes.db", "is not a SQLite database"],
      ["random.db", "is not a SQLite database"],
      ["empty.db", "is an empty SQLite database, not a NERV one"],
      [join("notes.db", "nerv.db"), "part of it is a file, not a folder"]
    ]
    for (const [file, expected] of cases) {
      const before = contents(dir)
      for (const command of [["list"], ["create", "--title", "x", "--as", "ann"], ["verify"]]) {
        const ran = nerv(dir, ["--database", file, ...command])
        assert.strictEqual(ran.status, Cli.ExitCode.refused, `${file} ${command[0]}: ${ran.stderr}`)
        assert.strictEqual(ran.stdout, "")
        assert.include(ran.stderr, join(dir, file))
        assert.include(ran.stderr, expected)
        assertNoTrace(ran)
      }
      assert.deepStrictEqual(contents(dir), before, file)
    }
  })

  it("another program's SQLite database is refused, even by init, and left untouched", () => {
    const dir = freshDir()
    const sql = spawnSync(process.execPath, [
      "-e",
      `const S = require(${JSON.stringify(betterSqlite3)}); const d = new S(${
        JSON.stringify(join(dir, "other.db"))
      });` +
      "d.exec(\"CREATE TABLE people (name TEXT)\"); d.close()"
    ], { encoding: "utf8" })
    assert.strictEqual(sql.status, 0, sql.stderr)
    const before = hash(join(dir, "other.db"))
    for (const command of [["list"], ["init"], ["verify"]]) {
      const ran = nerv(dir, ["--database", "other.db", ...command])
      assert.strictEqual(ran.status, Cli.ExitCode.refused, ran.stderr)
      assert.include(ran.stderr, `${join(dir, "other.db")} is the SQLite database of another program`)
      assertNoTrace(ran)
    }
    assert.strictEqual(hash(join(dir, "other.db")), before)
  })

  it.skipIf(process.getuid?.() === 0)("a database it may not read or write is refused by name", () => {
    const dir = freshDir()
    assert.strictEqual(nerv(dir, ["init"]).status, 0)
    const file = join(dir, ".nerv", "nerv.db")
    chmodSync(file, 0o444)
    const readOnly = nerv(dir, ["list"])
    assert.strictEqual(readOnly.status, Cli.ExitCode.refused)
    assert.include(readOnly.stderr, `${file} cannot be opened for reading and writing: permission denied`)
    chmodSync(file, 0o000)
    const unreadable = nerv(dir, ["verify"])
    assert.strictEqual(unreadable.status, Cli.ExitCode.refused)
    assert.include(unreadable.stderr, `${file} cannot be opened for reading`)
    chmodSync(file, 0o644)
  })
})

describe("nerv as a process: content from a file or standard input", () => {
  it("takes content beyond what a shell argument can hold from --content-file and from stdin", () => {
    const dir = freshDir()
    assert.strictEqual(nerv(dir, ["init"]).status, 0)
    const big = "line of a long document\n".repeat(20_000) // 480,000 characters: more than a shell takes
    writeFileSync(join(dir, "big.md"), big)
    const fromFile = nerv(dir, ["create", "--title", "Big", "--content-file", "big.md", "--as", "ann"])
    assert.strictEqual(fromFile.status, 0, fromFile.stderr)
    const id = fromFile.stdout.trim()
    assert.strictEqual(JSON.parse(nerv(dir, ["get", id]).stdout).content, big)

    const piped = nerv(dir, ["update", id, "--content-file", "-", "--as", "bob"], { input: `${big}and more\n` })
    assert.strictEqual(piped.status, 0, piped.stderr)
    assert.strictEqual(piped.stdout, `${id} is at version 2\n`)
    assert.strictEqual(JSON.parse(nerv(dir, ["get", id]).stdout).content, `${big}and more\n`)

    const fromStdin = nerv(dir, ["create", "--title", "Piped", "--content-file", "-", "--as", "ann"], {
      input: "héllo\nwörld"
    })
    assert.strictEqual(fromStdin.status, 0, fromStdin.stderr)
    assert.strictEqual(JSON.parse(nerv(dir, ["get", fromStdin.stdout.trim()]).stdout).content, "héllo\nwörld")
  })

  it("refuses content it cannot take, and changes nothing", () => {
    const dir = freshDir()
    assert.strictEqual(nerv(dir, ["init"]).status, 0)
    writeFileSync(join(dir, "huge.txt"), "a".repeat(3_000_001))
    writeFileSync(join(dir, "latin1.txt"), Buffer.from([0x63, 0x61, 0x66, 0xe9]))
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string | undefined, number, string]> = [
      [["--content-file", "missing.txt"], undefined, Cli.ExitCode.refused, "there is no such file"],
      [["--content-file", "."], undefined, Cli.ExitCode.refused, "it is a folder, not a file"],
      [["--content-file", "huge.txt"], undefined, Cli.ExitCode.refused, "content is at most 1,000,000 characters"],
      [["--content-file", "-"], "b".repeat(3_000_001), Cli.ExitCode.refused, "content is at most 1,000,000 characters"],
      [["--content-file", "latin1.txt"], undefined, Cli.ExitCode.refused, "it is not UTF-8 text"],
      [["--content", "x", "--content-file", "huge.txt"], undefined, Cli.ExitCode.usage, "not both"]
    ]
    for (const [options, input, status, expected] of cases) {
      const ran = nerv(
        dir,
        ["create", "--title", "T", ...options, "--as", "ann"],
        input === undefined ? {} : { input }
      )
      assert.strictEqual(ran.status, status, `${options.join(" ")}: ${ran.stderr}`)
      assert.strictEqual(ran.stdout, "")
      assert.include(ran.stderr, expected)
      assertNoTrace(ran)
    }
    assert.strictEqual(nerv(dir, ["list"]).stdout, "no documents\n")
  })
})

/** Flips one bit of the stored payload at a journal position, as a failing disk would. */
const flipBit = (file: string, position: number) => {
  const ran = spawnSync(process.execPath, [
    "-e",
    `const S = require(${JSON.stringify(betterSqlite3)}); const d = new S(${JSON.stringify(file)});` +
    `const { payload } = d.prepare("SELECT payload FROM nerv_events WHERE position = ?").get(${position});` +
    `const bytes = Buffer.from(payload); bytes[bytes.length - 3] ^= 0x01;` +
    `d.prepare("UPDATE nerv_events SET payload = ? WHERE position = ?").run(bytes, ${position}); d.close()`
  ], { encoding: "utf8" })
  assert.strictEqual(ran.status, 0, ran.stderr)
}

describe("nerv as a process: a damaged row", () => {
  const damagedDatabase = () => {
    const dir = freshDir()
    assert.strictEqual(nerv(dir, ["init"]).status, 0)
    const a = nerv(dir, ["create", "--title", "A", "--content", "one", "--as", "ann"]).stdout.trim()
    const b = nerv(dir, ["create", "--title", "B", "--content", "two", "--as", "bob"]).stdout.trim()
    flipBit(join(dir, ".nerv", "nerv.db"), 2)
    return { dir, a, b }
  }

  it("is reported by its position, document and version, with exit status 3", () => {
    const { b, dir } = damagedDatabase()
    const got = nerv(dir, ["get", b])
    assert.strictEqual(got.status, Cli.ExitCode.damaged, got.stderr)
    assert.strictEqual(got.stdout, "")
    assert.include(got.stderr, `the journal row at position 2 (document ${b}, version 1) is damaged`)
    assert.include(got.stderr, "nerv verify")
    assertNoTrace(got)
  })

  it("nerv verify lists every damaged row, exits 3, and changes nothing", () => {
    const { a, b, dir } = damagedDatabase()
    const c = nerv(dir, ["--create", "--database", "clean.db", "create", "--title", "C", "--as", "cy"])
    assert.strictEqual(c.status, 0, c.stderr)
    flipBit(join(dir, ".nerv", "nerv.db"), 1)
    const before = contents(dir)
    const verified = nerv(dir, ["verify"])
    assert.strictEqual(verified.status, Cli.ExitCode.damaged, verified.stderr)
    assert.deepStrictEqual(verified.stdout.trim().split("\n").map((line) => line.split(" is damaged")[0]), [
      `the journal row at position 1 (document ${a}, version 1)`,
      `the journal row at position 2 (document ${b}, version 1)`,
      `scanned 2 rows and 0 snapshots of ${join(dir, ".nerv", "nerv.db")}: 2 damaged rows, 0 damaged snapshots, ` +
      "0 documents with missing versions"
    ])
    // A reader of a WAL database may leave an empty write-ahead log and its index, as any reader does.
    const after = contents(dir).filter((entry) => !/-shm /.test(entry) && !before.includes(entry))
    assert.deepStrictEqual(after, [`${join(".nerv", "nerv.db-wal")} ${hash(join(root, "empty"))}`])
    const clean = nerv(dir, ["--database", "clean.db", "verify"])
    assert.strictEqual(clean.status, 0, clean.stderr)
    assert.match(clean.stdout, /^scanned 1 row and 0 snapshots of .*clean\.db: no damage found\n$/)
  })

  it("affects only its own document: the others read and change, and new ones are made", () => {
    const { a, dir } = damagedDatabase()
    const other = nerv(dir, ["get", a])
    assert.strictEqual(other.status, 0, other.stderr)
    assert.strictEqual(JSON.parse(other.stdout).title, "A")
    const updated = nerv(dir, ["update", a, "--content", "two", "--as", "ann"])
    assert.strictEqual(updated.status, 0, updated.stderr)
    assert.strictEqual(updated.stdout, `${a} is at version 2\n`)
    const created = nerv(dir, ["create", "--title", "C", "--as", "cy"])
    assert.strictEqual(created.status, 0, created.stderr)
    assert.match(created.stdout, new RegExp(`^${uuid.source.slice(1, -1)}\n$`))
  })
})

describe("nerv as a process: configuration", () => {
  it("NERV_ENCRYPTION=OFF (any case) runs without keys; forget and rewrap then refuse cleanly", () => {
    const dir = freshDir()
    for (const off of ["OFF", "false"]) {
      const env = { NERV_ENCRYPTION: off }
      const created = nerv(dir, ["--create", "create", "--title", "Clear", "--as", "ann"], { env })
      assert.strictEqual(created.status, 0, created.stderr)
      assert.include(created.stderr, "encryption at rest is OFF")
      const forget = nerv(dir, ["forget", created.stdout.trim(), "--as", "root"], { env })
      assert.strictEqual(forget.status, Cli.ExitCode.refused)
      assert.include(forget.stderr, "crypto-shredding needs encryption on")
      assertNoTrace(forget)
      const rewrap = nerv(dir, ["keys", "rewrap", "--as", "root"], { env })
      assert.strictEqual(rewrap.status, Cli.ExitCode.refused)
      assert.include(rewrap.stderr, "encryption is off, so there are no data keys to re-wrap")
      assertNoTrace(rewrap)
    }
    assert.notInclude(readdirSync(join(dir, ".nerv")), "master.key")
  })

  it("a malformed NERV_MASTER_KEYS or NERV_RBAC_POLICY is named in a few short lines", () => {
    const dir = freshDir()
    assert.strictEqual(nerv(dir, ["init"]).status, 0)
    const keys = nerv(dir, ["list"], { env: { NERV_MASTER_KEYS: "k1=abc" } })
    assert.strictEqual(keys.status, Cli.ExitCode.refused)
    assert.strictEqual(
      keys.stderr,
      "configuration error: NERV_MASTER_KEYS: invalid master keys: entry 1 is not of the form id:base64\n"
    )
    const policy = nerv(dir, ["forget", "00000000-0000-4000-8000-000000000001", "--as", "x"], {
      env: { NERV_RBAC_POLICY: `{"roles":{"editor":["documents:reed"]}}` }
    })
    assert.strictEqual(policy.status, Cli.ExitCode.refused)
    assert.isAtMost(policy.stderr.trim().split("\n").length, 3)
    assert.isBelow(policy.stderr.length, 500)
    assert.include(policy.stderr, "NERV_RBAC_POLICY")
    assert.include(policy.stderr, `roles.editor: "documents:reed" is not a permission NERV or the host declares`)
    assert.include(policy.stderr, "documents:read")
  })
})

const hasScript = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0

describe("nerv as a process: colours", () => {
  it("--help piped has no ANSI colours", () => {
    const ran = nerv(freshDir(), ["--help"])
    assert.strictEqual(ran.status, 0)
    assert.include(ran.stdout, "USAGE")
    assert.notInclude(ran.stdout, "\u001b")
    assert.strictEqual(ran.stderr, "")
  })

  // A terminal needs a pseudo-terminal, which util-linux's `script` gives.
  it.skipIf(!hasScript)("--help on a terminal is coloured, unless NO_COLOR is set", () => {
    const dir = freshDir()
    const onTerminal = (env: string) => {
      const command = `${env} ${JSON.stringify(process.execPath)} ${JSON.stringify(bundledFile())} --help`
      return spawnSync("script", ["-qec", command, "/dev/null"], {
        cwd: dir,
        encoding: "utf8",
        env: { PATH: process.env["PATH"] ?? "", TERM: "xterm" }
      }).stdout
    }
    assert.include(onTerminal(""), "\u001b[")
    assert.notInclude(onTerminal("NO_COLOR=1"), "\u001b")
  })
})
