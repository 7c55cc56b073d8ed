/**
 * The outbox's promises across OS processes on one SQLite file (`fixtures/outbox.ts`): what a
 * command committed is performed after any crash, and nothing it did not commit; two processes
 * never perform one effect at the same time.
 */
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, Journal, Outbox } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Nerv, Performers, Rbac } from "../src/index.js"

const fixture = join(import.meta.dirname, "fixtures", "outbox.ts")

const folder = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-outbox-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Runs a program in this test process on the database, with no worker: it performs nothing. */
const inProcess = <A, E>(file: string, program: Effect.Effect<A, E, Nerv.SqliteServices>) =>
  program.pipe(
    Effect.provide(Nerv.layerSqlite({ filename: file, performers: { worker: false }, policy: Rbac.layerAllowAll })),
    Logger.withMinimumLogLevel(LogLevel.Error),
    Effect.scoped
  )

interface Run {
  readonly child: ChildProcess
  readonly lines: Array<string>
  /** Completes with the exit code (null when killed) once the process has exited. */
  readonly exited: Effect.Effect<number | null>
  stderr: string
}

const start = (file: string, log: string, ...args: Array<string>): Run => {
  const child = spawn(process.execPath, ["--import", "tsx", fixture, file, log, ...args], {
    cwd: join(import.meta.dirname, ".."),
    stdio: ["ignore", "pipe", "pipe"]
  })
  const run: Run = {
    child,
    lines: [],
    stderr: "",
    exited: Effect.async<number | null>((resume) => {
      if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
      child.on("exit", (code) => resume(Effect.succeed(code)))
    })
  }
  let buffered = ""
  child.stdout!.setEncoding("utf8").on("data", (data: string) => {
    buffered += data
    const lines = buffered.split("\n")
    buffered = lines.pop()!
    run.lines.push(...lines)
  })
  child.stderr!.setEncoding("utf8").on("data", (data: string) => (run.stderr += data))
  return run
}

const until = (run: Run, line: string) =>
  Effect.sync(() => run.lines.includes(line)).pipe(
    Effect.repeat({ until: (seen) => seen, schedule: Schedule.spaced("20 millis") }),
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`no ${line}: ${run.stderr}`) })
  )

const logLines = (log: string) => existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((l) => l !== "") : []

const committedUpdates = (file: string) =>
  inProcess(
    file,
    Effect.flatMap(Journal.Journal, (journal) => Stream.runCollect(journal.read()))
  ).pipe(Effect.map((entries) => Chunk.toReadonlyArray(entries).filter((e) => e.event._tag === "DocumentUpdated")))

describe("the outbox across processes", () => {
  it.live(
    "kill -9 at random points during 1,000 commands: every committed notification performed, none for what did not commit",
    () =>
      Effect.gen(function*() {
        const dir = yield* folder
        const [file, log] = [join(dir, "nerv.db"), join(dir, "performed.log")]
        const ids = yield* inProcess(
          file,
          Effect.forEach(["a", "b", "c", "d", "e", "f", "g", "h"], (title) =>
            Documents.create({ title, content: "v1" }).pipe(Access.as("ann")))
        )
        const total = 1_000
        const acknowledged: Array<string> = []
        let killed = 0
        let midway = 0
        while (acknowledged.length < total) {
          const asked = total - acknowledged.length
          const run = start(file, log, "write", String(asked), ...ids)
          yield* until(run, "READY")
          if (killed < 3) {
            // Somewhere in the middle of the commands, their commits and their notifications: after a
            // random number of acknowledgements (the time they take varies too much to pick a time).
            const after = 1 + Math.floor(Math.random() * Math.floor(asked / 3))
            yield* Effect.sync(() =>
              run.lines.filter((line) => line.startsWith("ACK ")).length
            ).pipe(
              Effect.repeat({ until: (acks) => acks >= after, schedule: Schedule.spaced("1 millis") }),
              Effect.timeoutFail({
                duration: "60 seconds",
                onTimeout: () => new Error(`no ${after} ACKs: ${run.stderr}`)
              })
            )
            run.child.kill("SIGKILL")
            killed++
          }
          const code = yield* run.exited
          if (code !== null) {
            assert.strictEqual(code, 0, run.stderr)
          }
          const acks = run.lines.filter((line) => line.startsWith("ACK "))
          if (code === null && acks.length > 0 && acks.length < asked) midway++
          acknowledged.push(...acks)
        }
        assert.strictEqual(killed, 3)
        // The kills came while commands were being committed, not before nor after them all.
        assert.isAtLeast(midway, 1)
        // A process with no commands to run performs what the killed ones left (their claims expire).
        const last = start(file, log, "perform", "0")
        yield* until(last, "DONE")
        assert.strictEqual(yield* last.exited, 0, last.stderr)

        const updates = yield* committedUpdates(file)
        const expected = new Map(updates.map((entry) => [`${entry.event.eventId}:0`, entry.event]))
        // Every acknowledged command committed (and more may have, unacknowledged, at each kill).
        const committed = new Set(updates.map((e) => `${e.event.documentId} ${e.event.version}`))
        for (const ack of acknowledged) assert.isTrue(committed.has(ack.slice(4)), ack)
        assert.isAtLeast(updates.length, total)

        const performed = logLines(log).filter((line) => line.startsWith("PERFORMED "))
        const keys = new Set(performed.map((line) => line.split(" ")[1]!))
        // Exactly once as a performer that drops repeats by key sees it: every committed command's
        // notification, and no other (a key is derived from an event the journal holds).
        assert.strictEqual(keys.size, expected.size)
        for (const key of keys) assert.isTrue(expected.has(key), `performed ${key}, which no command committed`)
        for (const line of performed) {
          const [, key, , to, ...message] = line.split(" ")
          const event = expected.get(key!)!
          assert.strictEqual(to, "ann")
          assert.match(message.join(" "), new RegExp(`\\(now version ${event.version}\\)$`))
        }
        const counts = yield* inProcess(file, Effect.flatMap(Outbox.Outbox, (outbox) => outbox.counts()))
        assert.deepStrictEqual(counts.map((c) => [c.type, c.pending, c.performed, c.dead]), [[
          "notify",
          0,
          expected.size,
          0
        ]])
      }).pipe(Effect.scoped),
    { timeout: 300_000 }
  )

  it.live(
    "two processes performing one outbox never perform one effect at the same time",
    () =>
      Effect.gen(function*() {
        const dir = yield* folder
        const [file, log] = [join(dir, "nerv.db"), join(dir, "performed.log")]
        yield* inProcess(
          file,
          Effect.gen(function*() {
            const id = yield* Documents.create({ title: "shared", content: "v1" }).pipe(Access.as("ann"))
            for (let i = 0; i < 200; i++) yield* Documents.update(id, { content: `v${i + 2}` }).pipe(Access.as("bob"))
          })
        )
        const runs = [start(file, log, "perform", "20"), start(file, log, "perform", "20")]
        for (const run of runs) {
          yield* until(run, "DONE")
          assert.strictEqual(yield* run.exited, 0, run.stderr)
        }
        const open = new Map<string, string>()
        const performedBy = new Map<string, number>()
        for (const line of logLines(log)) {
          const [what, key, pid] = line.split(" ")
          if (what === "BEGIN") {
            assert.isFalse(open.has(key!), `${key} begun by ${pid} while ${open.get(key!)} performs it`)
            open.set(key!, pid!)
          } else {
            assert.strictEqual(open.get(key!), pid)
            open.delete(key!)
            performedBy.set(pid!, (performedBy.get(pid!) ?? 0) + 1)
          }
        }
        assert.strictEqual(open.size, 0)
        // Both took part, and every effect was performed once (no claim expired: none crashed).
        assert.strictEqual(performedBy.size, 2)
        assert.strictEqual([...performedBy.values()].reduce((a, b) => a + b, 0), 200)
      }).pipe(Effect.scoped),
    { timeout: 120_000 }
  )

  it.live("a notifier failing 30% of its calls loses nothing", () =>
    Effect.gen(function*() {
      const dir = yield* folder
      const file = join(dir, "nerv.db")
      const performed = new Set<string>()
      let failures = 0
      const flaky = Performers.performer(Outbox.Notify, (_, { key }) =>
        Effect.suspend(() => {
          if (Math.random() < 0.3) {
            failures++
            return Effect.fail("the notifier failed")
          }
          performed.add(key)
          return Effect.void
        }))
      const counts = yield* Effect.gen(function*() {
        const id = yield* Documents.create({ title: "flaky", content: "v1" }).pipe(Access.as("ann"))
        for (let i = 0; i < 300; i++) yield* Documents.update(id, { content: `v${i + 2}` }).pipe(Access.as("bob"))
        const outbox = yield* Outbox.Outbox
        while (true) {
          const counts = yield* outbox.counts()
          if (counts.every((c) => c.pending === 0)) return counts
          yield* Effect.sleep("50 millis")
        }
      }).pipe(
        Effect.provide(Nerv.layerSqlite({
          filename: file,
          policy: Rbac.layerAllowAll,
          performers: {
            performers: [flaky],
            poll: "20 millis",
            schedule: Schedule.spaced("1 millis").pipe(Schedule.intersect(Schedule.recurs(40)))
          }
        })),
        Logger.withMinimumLogLevel(LogLevel.Error),
        Effect.scoped
      )
      assert.deepStrictEqual(counts.map((c) => [c.type, c.pending, c.performed, c.dead]), [["notify", 0, 300, 0]])
      assert.isAbove(failures, 0)
      const updates = yield* committedUpdates(file)
      assert.deepStrictEqual([...performed].sort(), updates.map((e) => `${e.event.eventId}:0`).sort())
    }).pipe(Effect.scoped), { timeout: 120_000 })
})
