/**
 * The review-and-publish saga in its own OS process (`fixtures/review-runner.ts`), killed with
 * SIGKILL at random points and started again, while this process drives 100 workflows at once on
 * the same SQLite file: a third approved, a third rejected, a third left to time out. In the end
 * every workflow is completed or compensated, none half-done, no command made twice, and the
 * causal trace of each is the journal's story of it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, Journal, Notifier } from "@nerv/core"
import { CausalTrace, Nerv, Rbac, Saga } from "@nerv/runtime"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { decide, requestTitle, reviewAndPublish } from "../review-and-publish.js"

const silent = Layer.succeed(Notifier.Notifier, { notify: () => Effect.void })
const fixture = join(import.meta.dirname, "fixtures", "review-runner.ts")
const workflows = 100
const maxKills = 10
const deadlineMillis = 2_000

/**
 * Starts the saga's process, to kill itself at its `killAt`-th save (0: never); resolves when it
 * says it runs, or when it has already killed itself.
 */
const startRunner = (file: string, killAt: number) =>
  Effect.async<ChildProcess, Error>((resume) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", fixture, file, String(deadlineMillis), String(killAt)],
      { cwd: join(import.meta.dirname, ".."), stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout!.setEncoding("utf8").on("data", (data: string) => {
      out += data
      if (out.includes("READY")) resume(Effect.succeed(child))
      if (out.includes("FAILED")) resume(Effect.fail(new Error(out)))
    })
    child.on("exit", (code, signal) =>
      resume(
        signal === "SIGKILL"
          ? Effect.succeed(child)
          : Effect.fail(new Error(`runner exited (${code ?? signal}): ${out}`))
      ))
  })

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

const kill = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })

/** One workflow: a draft at version 2 whose version 1 was approved, submitted; then answered, or not. */
const workflow = (i: number) =>
  Effect.gen(function*() {
    // Spread over a few seconds, so that the saga is at work when it is killed.
    yield* Effect.sleep(Duration.millis(Math.floor(Math.random() * 4_000)))
    const draft = yield* Documents.create({ title: `Plan ${i}`, content: `plan ${i} v1` }).pipe(Access.as("ann"))
    yield* Documents.update(draft, { content: `plan ${i} v2` }).pipe(Access.as("ann"))
    const request = yield* Documents.create({
      title: requestTitle,
      content: JSON.stringify({ draft, version: 2, reviewer: "bob", approved: 1 })
    }).pipe(Access.as("ann"))
    const answer = i % 3 === 0 ? "approved" : i % 3 === 1 ? "rejected" : "none"
    if (answer !== "none") {
      yield* Effect.sleep(Duration.millis(Math.floor(Math.random() * 300)))
      yield* decide(request, "bob", { decision: answer })
    }
    return { i, draft, request, answer }
  })

describe("review-and-publish under kill -9", () => {
  it.live(
    "every workflow ends completed or compensated, once, and its trace is the journal's",
    () =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-saga-kill-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const file = join(dir, "nerv.db")
        // This process: the authors and the reviewer, on the same file (created here first).
        const here = yield* Layer.build(
          Nerv.layerSqlite({ filename: file, durability: "NORMAL", notifier: silent, policy: Rbac.layerAllowAll })
        )
        const inHere = <A, E>(program: Effect.Effect<A, E, Nerv.SqliteServices | Access.Principal>) =>
          program.pipe(Access.as("ann"), Effect.provide(silent), Effect.provide(here))

        // The saga kills itself at a random save, up to `maxKills` times, and is started again each time.
        let kills = 0
        const nextKill = () => kills < maxKills ? 1 + Math.floor(Math.random() * 60) : 0
        let runner = yield* startRunner(file, nextKill())
        const driving = yield* Effect.fork(
          inHere(Effect.forEach(Array.from({ length: workflows }, (_, i) => i), workflow, { concurrency: 20 }))
        )
        const allDone = inHere(Effect.map(
          Saga.instances(reviewAndPublish),
          (all) => all.length === workflows && all.every((instance) => instance.status !== "active")
        ))
        // A deadline on the waiting, not a timing: a workflow left active fails the test by name.
        yield* Effect.gen(function*() {
          while (!(yield* allDone)) {
            if (exited(runner)) {
              assert.strictEqual(runner.signalCode, "SIGKILL")
              kills++
              runner = yield* startRunner(file, nextKill())
            } else {
              yield* Effect.sleep(Duration.millis(50))
            }
          }
        }).pipe(
          Effect.timeoutFail({ duration: "150 seconds", onTimeout: () => new Error("the workflows did not all end") })
        )
        yield* kill(runner)
        const driven = yield* Fiber.join(driving)

        const instances = yield* inHere(Saga.instances(reviewAndPublish))
        const entries = Chunk.toReadonlyArray(
          yield* inHere(Effect.flatMap(Journal.Journal, (journal) => Stream.runCollect(journal.read())))
        )
        // No command of the saga was made twice: one per cause, document and kind (one creation per cause).
        const made = new Map<string, number>()
        for (const { event } of entries.filter((entry) => entry.event.actor === "publisher")) {
          // A creation makes a new document each time it runs: count it by cause alone.
          const key = event._tag === "DocumentCreated"
            ? `${event.causationId} created`
            : `${event.causationId} ${event.documentId} ${event._tag}`
          made.set(key, (made.get(key) ?? 0) + 1)
        }
        assert.deepStrictEqual([...made.entries()].filter(([, n]) => n > 1), [])

        for (const { answer, draft, i, request } of driven) {
          const instance = instances.find((instance) => instance.key === request)!
          const ofRequest = entries.filter((entry) => entry.event.documentId === request)
          const requested = ofRequest[0]!
          const caused = (cause: Journal.JournalEntry) =>
            entries.filter((entry) =>
              entry.event.causationId === cause.event.eventId && entry.event.actor === "publisher"
            )
          const content = (yield* inHere(Documents.get(draft))).content
          if (answer === "approved") {
            assert.strictEqual(instance.status, "completed", `workflow ${i}`)
            const published = caused(ofRequest[1]!)
            assert.deepStrictEqual(published.map((entry) => entry.event._tag), ["DocumentCreated"], `workflow ${i}`)
            const copy = yield* inHere(Documents.get(published[0]!.event.documentId))
            assert.deepStrictEqual([copy.content, copy.isDeleted], [`plan ${i} v2`, false], `workflow ${i}`)
            assert.strictEqual(content, `plan ${i} v2`, `workflow ${i}`)
          } else {
            assert.strictEqual(instance.status, "compensated", `workflow ${i}`)
            // Rejected: the revert is caused by the rejection; timed out: by the request.
            const cause = answer === "rejected" ? ofRequest[1]! : requested
            assert.deepStrictEqual(
              caused(cause).map((entry) => [entry.event._tag, entry.event.documentId]),
              [["DocumentUpdated", draft]],
              `workflow ${i}`
            )
            assert.strictEqual(content, `plan ${i} v1`, `workflow ${i}`)
            assert.strictEqual(
              instance.reason,
              answer === "rejected" ? "rejected by bob" : `no review within ${Duration.format(deadlineMillis)}`
            )
          }
          // The causal tree holds every entry of the workflow's correlation, each where its cause is.
          const tree = CausalTrace.build(entries, requested.event.correlationId)
          const ofCorrelation = entries.filter((entry) => entry.event.correlationId === requested.event.correlationId)
          assert.deepStrictEqual(
            CausalTrace.events(tree).map((event) => event.position).sort((a, b) => a - b),
            ofCorrelation.map((entry) => entry.position)
          )
          const [root] = tree.roots
          assert.strictEqual(root!.events[0]!.position, requested.position)
          const below = root!.events[0]!.reactions.flatMap((reaction) => reaction.events)
          if (answer === "none") {
            assert.deepStrictEqual(below.map((event) => [event.type, event.actor]), [["DocumentUpdated", "publisher"]])
          } else {
            assert.deepStrictEqual(below.map((event) => [event.type, event.actor]), [["DocumentUpdated", "bob"]])
            assert.deepStrictEqual(
              below[0]!.reactions.flatMap((reaction) => reaction.events).map((event) => [event.type, event.actor]),
              [[answer === "approved" ? "DocumentCreated" : "DocumentUpdated", "publisher"]]
            )
          }
        }
        assert.strictEqual(kills, maxKills)
        if (process.env.NERV_SAGA_REPORT) {
          const resumed = instances.filter((instance) => instance.log.some((line) => line.startsWith("resumed")))
          console.error(`kills: ${kills}, workflows with a step resumed after a kill: ${resumed.length}`)
        }
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error)),
    { timeout: 200_000 }
  )
})
