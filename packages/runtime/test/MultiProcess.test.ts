/**
 * Several OS processes on one SQLite file, each with the durable embedded default
 * (`Nerv.layerSqlite`), and the same cases as several nodes on one PostgreSQL database
 * (`Nerv.layerPostgres`): the journal is the truth and every process's store follows it.
 * The processes are `fixtures/process.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Keyring, Nerv, Rbac } from "../src/index.js"
import { tempSchema } from "./fixtures/postgres.js"

const fixture = join(import.meta.dirname, "fixtures", "process.ts")

/** A fresh database folder for the scope. */
const sqliteDatabase = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-processes-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => join(dir, "nerv.db")
)

/**
 * The master keys every node of a PostgreSQL run shares (configured, as several nodes must be:
 * a SQLite file's processes share the key file beside it).
 */
const sharedKeys = { NERV_MASTER_KEYS: Keyring.generate("nodes") }

/** Where the processes of a run keep their documents, and what each needs to open them. */
interface Target {
  readonly name: string
  readonly database: Effect.Effect<string, never, Scope.Scope>
  readonly env: Record<string, string>
}

const targets: ReadonlyArray<Target> = [
  { name: "several processes on one SQLite file", database: sqliteDatabase, env: {} },
  { name: "several nodes on one PostgreSQL database", database: tempSchema, env: sharedKeys }
]

const layerOf = (database: string): Layer.Layer<Nerv.Services, unknown> =>
  Nerv.isPostgresUrl(database)
    ? Nerv.layerPostgres({ url: database, policy: Rbac.layerAllowAll })
    : Nerv.layerSqlite({ filename: database, policy: Rbac.layerAllowAll })

/** Runs a program in this test process on the database, as one more process would. */
const inProcess = <A, E>(file: string, program: Effect.Effect<A, E, Nerv.Services | Access.Principal>) =>
  program.pipe(
    Access.as("test"),
    Effect.provide(layerOf(file)),
    Effect.withConfigProvider(
      Nerv.isPostgresUrl(file)
        ? ConfigProvider.fromMap(new Map(Object.entries(sharedKeys))).pipe(
          ConfigProvider.orElse(() => ConfigProvider.fromEnv())
        )
        : ConfigProvider.fromEnv()
    ),
    Logger.withMinimumLogLevel(LogLevel.Error),
    Effect.scoped
  )

interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** The lines the process printed for the test (not the notifications). */
  readonly lines: ReadonlyArray<string>
  readonly stderr: string
}

const start = (file: string, ...args: Array<string>) =>
  spawn(process.execPath, ["--import", "tsx", fixture, file, ...args], {
    cwd: join(import.meta.dirname, ".."),
    env: Nerv.isPostgresUrl(file) ? { ...process.env, ...sharedKeys } : process.env,
    stdio: ["pipe", "pipe", "pipe"]
  })

/** The lines a process prints, as they come. */
const linesOf = (child: ChildProcess, onLine: (line: string) => void) => {
  let buffered = ""
  child.stdout!.setEncoding("utf8").on("data", (data: string) => {
    buffered += data
    const lines = buffered.split("\n")
    buffered = lines.pop()!
    for (const line of lines) if (/^(OK|ACK|RETRIES|FAILED|READY|DONE|\{)/.test(line)) onLine(line)
  })
}

const finished = (child: ChildProcess) =>
  Effect.async<Finished>((resume) => {
    const lines: Array<string> = []
    let stderr = ""
    linesOf(child, (line) => lines.push(line))
    child.stderr!.setEncoding("utf8").on("data", (data: string) => (stderr += data))
    child.on("exit", (code, signal) => resume(Effect.succeed({ code, signal, lines, stderr })))
  })

/** Runs processes at once and waits for them all. */
const runAll = (file: string, runs: ReadonlyArray<ReadonlyArray<string>>) =>
  Effect.all(runs.map((args) => finished(start(file, ...args))), { concurrency: "unbounded" })

const acknowledged = (runs: ReadonlyArray<Finished>) =>
  runs.flatMap((run) => run.lines.filter((line) => line.startsWith("OK ") || line.startsWith("ACK ")))

const contentsOf = (file: string, id: string) =>
  inProcess(
    file,
    Effect.map(Documents.history(id), (versions) =>
      versions.map((v) => v.event._tag === "DocumentUpdated" ? v.event.content ?? "" : v.event._tag))
  )

const assertAllSucceeded = (runs: ReadonlyArray<Finished>) => {
  for (const run of runs) {
    assert.strictEqual(run.code, 0, `a process failed: ${run.lines.join("\n")}\n${run.stderr}`)
    assert.isFalse(run.lines.some((line) => line.startsWith("FAILED")))
  }
}

const create = (file: string, titles: ReadonlyArray<string>) =>
  inProcess(file, Effect.forEach(titles, (title) => Documents.create({ title, content: "v1" }).pipe(Access.as("ann"))))

for (const target of targets) {
  describe(target.name, () => {
    it.live("4 processes × 50 updates of 4 documents: 200 acknowledged, gap-free", () =>
      Effect.gen(function*() {
        const file = yield* target.database
        const ids = yield* create(file, ["a", "b", "c", "d"])
        const runs = yield* runAll(file, ids.map((id, p) => ["blind", id, "50", `p${p}`]))
        assertAllSucceeded(runs)
        assert.strictEqual(acknowledged(runs).length, 200)
        const entries = yield* inProcess(
          file,
          Effect.flatMap(Journal.Journal, (journal) => Stream.runCollect(journal.read()))
        ).pipe(Effect.map(Chunk.toReadonlyArray))
        // Positions are gap-free across the processes; every document's versions are consecutive.
        assert.deepStrictEqual(entries.map((e) => e.position), Array.from({ length: 204 }, (_, i) => i + 1))
        for (const [p, id] of ids.entries()) {
          const contents = yield* contentsOf(file, id)
          assert.deepStrictEqual(contents, [
            "DocumentCreated",
            ...Array.from({ length: 50 }, (_, i) => `p${p} #${i}`)
          ])
        }
      }).pipe(Effect.scoped), { timeout: 120_000 })

    it.live(
      "4 processes × 25 blind updates of one document: version 101, every update once",
      () =>
        Effect.gen(function*() {
          const file = yield* target.database
          const [id] = yield* create(file, ["shared"])
          const runs = yield* runAll(file, [0, 1, 2, 3].map((p) => ["blind", id!, "25", `p${p}`]))
          assertAllSucceeded(runs)
          assert.strictEqual(acknowledged(runs).length, 100)
          const contents = yield* contentsOf(file, id!)
          assert.strictEqual(contents.length, 101)
          assert.deepStrictEqual(
            [...contents.slice(1)].sort(),
            [0, 1, 2, 3].flatMap((p) => Array.from({ length: 25 }, (_, i) => `p${p} #${i}`)).sort()
          )
          // Each process's updates landed in its own order, each at the version it was acknowledged at.
          for (const line of acknowledged(runs)) {
            const [, version, ...content] = line.split(" ")
            assert.strictEqual(contents[Number(version) - 1], content.join(" "))
          }
        }).pipe(Effect.scoped),
      { timeout: 120_000 }
    )

    it.live(
      "4 processes naming the version they read, re-reading on a conflict: all succeed",
      () =>
        Effect.gen(function*() {
          const file = yield* target.database
          const [id] = yield* create(file, ["shared"])
          const runs = yield* runAll(file, [0, 1, 2, 3].map((p) => ["expected", id!, "25", `p${p}`]))
          assertAllSucceeded(runs)
          assert.strictEqual(acknowledged(runs).length, 100)
          assert.strictEqual((yield* contentsOf(file, id!)).length, 101)
        }).pipe(Effect.scoped),
      { timeout: 120_000 }
    )

    it.live(
      "a process that stays up reads another process's create and update, then updates it",
      () =>
        Effect.gen(function*() {
          const file = yield* target.database
          yield* create(file, ["seed"])
          const server = start(file, "serve")
          const answers: Array<string> = []
          const waiting: Array<(line: string) => void> = []
          linesOf(server, (line) => {
            const next = waiting.shift()
            if (next !== undefined) next(line)
            else answers.push(line)
          })
          const next = Effect.async<string>((resume) => {
            const line = answers.shift()
            if (line !== undefined) resume(Effect.succeed(line))
            else waiting.push((line) => resume(Effect.succeed(line)))
          })
          const ask = (request: string) =>
            Effect.zipRight(Effect.sync(() => server.stdin!.write(request + "\n")), Effect.map(next, JSON.parse))
          yield* Effect.addFinalizer(() => Effect.sync(() => server.kill("SIGKILL")))
          assert.strictEqual(yield* next, "READY")

          // Another process creates and updates a document while the server runs.
          const [id] = yield* create(file, ["Plan"])
          yield* inProcess(file, Documents.update(id!, { content: "v2" }).pipe(Access.as("bob")))
          // The server's next read sees both: reads look whether the journal moved on first.
          assert.deepInclude(yield* ask(`get ${id}`), { version: 2, content: "v2", title: "Plan" })
          // And it can update it: its view is not behind, and its write is the journal's next version.
          assert.deepInclude(yield* ask(`update ${id} from the server`), { version: 3, content: "from the server" })
          assert.deepStrictEqual((yield* contentsOf(file, id!)).slice(1), ["v2", "from the server"])
          // What the server creates, this process reads.
          const created: { readonly created: string } = yield* ask("create from-server")
          assert.strictEqual((yield* inProcess(file, Documents.get(created.created))).title, "from-server")
        }).pipe(Effect.scoped),
      { timeout: 120_000 }
    )

    it.live(
      "kill -9 of one of 3 writers: the other two finish with no failure, and nothing acknowledged is lost",
      () =>
        Effect.gen(function*() {
          const file = yield* target.database
          const [shared, own1, own2] = yield* create(file, ["shared", "own 1", "own 2"])
          const victim = start(file, "hammer", shared!, "victim")
          const victimAcks: Array<string> = []
          const killed = Effect.async<void>((resume) => {
            linesOf(victim, (line) => {
              victimAcks.push(line)
              if (victimAcks.length === 30) victim.kill("SIGKILL")
            })
            victim.on("exit", () => resume(Effect.void))
          })
          const others = runAll(file, [
            ["blind", shared!, "60", "survivor1"],
            ["blind", own1!, "60", "survivor2"]
          ])
          const [runs] = yield* Effect.all([others, killed], { concurrency: "unbounded" })
          assertAllSucceeded(runs)
          assert.strictEqual(acknowledged(runs).length, 120)
          assert.isAtLeast(victimAcks.length, 30)
          // Every update acknowledged by any of the three is in the journal, at the version acknowledged.
          const contents = yield* contentsOf(file, shared!)
          for (const line of [...victimAcks, ...acknowledged(runs.slice(0, 1))]) {
            const [, version, ...content] = line.split(" ")
            assert.strictEqual(contents[Number(version) - 1], content.join(" "))
          }
          assert.strictEqual((yield* contentsOf(file, own1!)).length, 61)
          assert.strictEqual((yield* contentsOf(file, own2!)).length, 1)
        }).pipe(Effect.scoped),
      { timeout: 120_000 }
    )
  })
}

/** A running process's lines: `next` waits for the next one, `ask` writes a request and reads a JSON answer. */
const conversation = (child: ChildProcess, onAck: (line: string) => void = () => {}) => {
  const lines: Array<string> = []
  const waiting: Array<(line: string) => void> = []
  linesOf(child, (line) => {
    if (line.startsWith("OK ")) return onAck(line)
    const next = waiting.shift()
    if (next !== undefined) next(line)
    else lines.push(line)
  })
  const next = Effect.async<string>((resume) => {
    const line = lines.shift()
    if (line !== undefined) resume(Effect.succeed(line))
    else waiting.push((line) => resume(Effect.succeed(line)))
  })
  return {
    next,
    ask: (request: string) =>
      Effect.zipRight(Effect.sync(() => child.stdin!.write(request + "\n")), Effect.map(next, JSON.parse))
  }
}

interface Ack {
  readonly id: string
  readonly version: number
  readonly content: string
}

const ackOf = (line: string): Ack => {
  const [, id, version, ...content] = line.split(" ")
  return { id: id!, version: Number(version), content: content.join(" ") }
}

/** Every event of the journal: positions 1…head without a gap, each (document, version) once and in order. */
const checkJournal = (file: string) =>
  Effect.gen(function*() {
    const entries = Chunk.toReadonlyArray(
      yield* inProcess(file, Effect.flatMap(Journal.Journal, (journal) => Stream.runCollect(journal.read())))
    )
    assert.deepStrictEqual(entries.map((e) => e.position), Array.from({ length: entries.length }, (_, i) => i + 1))
    const versions = new Map<string, number>()
    const contents = new Map<string, string>()
    for (const { event } of entries) {
      assert.strictEqual(event.version, (versions.get(event.documentId) ?? 0) + 1, "no version lost or doubled")
      versions.set(event.documentId, event.version)
      const content = event._tag === "DocumentUpdated" ? event.content : event._tag === "DocumentCreated"
        ? event.content
        : undefined
      if (content !== undefined) contents.set(`${event.documentId} ${event.version}`, content)
    }
    return { entries, contents }
  })

/** Each acknowledged command is in the journal once, at the version it was acknowledged at. */
const assertAcknowledged = (acks: ReadonlyArray<Ack>, contents: ReadonlyMap<string, string>) => {
  const seen = new Set<string>()
  for (const ack of acks) {
    assert.strictEqual(contents.get(`${ack.id} ${ack.version}`), ack.content, `acknowledged, then lost: ${ack.content}`)
    assert.isFalse(seen.has(ack.content), `acknowledged twice: ${ack.content}`)
    seen.add(ack.content)
  }
  const written = [...contents.values()].filter((content) => /^n[ab]\d? w\d #\d+$/.test(content))
  assert.strictEqual(new Set(written).size, written.length, "no command is in the journal twice")
}

describe("two nodes on one PostgreSQL database", () => {
  it.live(
    "8 writers each, on shared and separate documents: both stores converge; 0 lost, 0 duplicated, 0 gaps",
    () =>
      Effect.gen(function*() {
        const url = yield* tempSchema
        const shared = yield* create(url, ["shared 1", "shared 2"])
        const acks: Array<Ack> = []
        const nodes = ["na", "nb"].map((tag) => {
          const child = start(url, "node", shared.join(","), "20", tag)
          return { child, talk: conversation(child, (line) => acks.push(ackOf(line))) }
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => nodes.forEach(({ child }) => child.kill("SIGKILL"))))
        for (const { talk } of nodes) {
          assert.strictEqual(yield* talk.next, "DONE")
          assert.strictEqual(yield* talk.next, "READY")
        }
        // 2 nodes × (4 writers × 20 updates + 4 writers × (1 create + 19 updates)).
        assert.strictEqual(acks.length, 2 * 8 * 20)
        const { contents, entries } = yield* checkJournal(url)
        assert.strictEqual(entries.length, 2 + 2 * 8 * 20)
        assertAcknowledged(acks, contents)
        // Both nodes' stores hold the same documents at the same versions, as the journal does.
        const [a, b] = [(yield* nodes[0]!.talk.ask("state")).documents, (yield* nodes[1]!.talk.ask("state")).documents]
        assert.deepStrictEqual(a, b)
        assert.strictEqual(a.length, 2 + 2 * 4)
        assert.strictEqual(
          a.reduce((n: number, d: { readonly version: number }) => n + d.version, 0),
          entries.length
        )
      }).pipe(Effect.scoped),
    { timeout: 180_000 }
  )

  it.live(
    "kill -9 of one node mid-stream: the other goes on with no failure, and the restarted one catches up",
    () =>
      Effect.gen(function*() {
        const url = yield* tempSchema
        const shared = yield* create(url, ["shared 1", "shared 2"])
        const victimAcks: Array<Ack> = []
        const survivorAcks: Array<Ack> = []
        const victim = start(url, "node", shared.join(","), "forever", "na")
        const killed = Effect.async<void>((resume) => {
          conversation(victim, (line) => {
            victimAcks.push(ackOf(line))
            if (victimAcks.length === 100) victim.kill("SIGKILL")
          })
          victim.on("exit", () => resume(Effect.void))
        })
        const survivor = start(url, "node", shared.join(","), "40", "nb")
        const talk = conversation(survivor, (line) => survivorAcks.push(ackOf(line)))
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => [victim, survivor].forEach((child) => child.kill("SIGKILL")))
        )
        const [done] = yield* Effect.all([talk.next, killed], { concurrency: "unbounded" })
        assert.strictEqual(done, "DONE", "the survivor finished every command without a failure")
        assert.strictEqual(yield* talk.next, "READY")
        assert.strictEqual(survivorAcks.length, 8 * 40)
        assert.isAtLeast(victimAcks.length, 100)
        const { contents, entries } = yield* checkJournal(url)
        assertAcknowledged([...victimAcks, ...survivorAcks], contents)

        // The node restarts and catches up: its store holds what the survivor's does.
        const restarted = start(url, "serve")
        yield* Effect.addFinalizer(() => Effect.sync(() => restarted.kill("SIGKILL")))
        const again = conversation(restarted)
        assert.strictEqual(yield* again.next, "READY")
        const [a, b] = [(yield* again.ask("state")).documents, (yield* talk.ask("state")).documents]
        assert.deepStrictEqual(a, b)
        assert.strictEqual(a.reduce((n: number, d: { readonly version: number }) => n + d.version, 0), entries.length)
      }).pipe(Effect.scoped),
    { timeout: 180_000 }
  )
})
