import { assert, describe, it } from "@effect/vitest"
import { type Document, DocumentStore, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import { join } from "node:path"
import { Projection, Rebuild, VersionedStore } from "../src/index.js"
import { type Backend, backends, storeOn } from "./fixtures/backends.js"
import { counter, expectedCounter } from "./fixtures/counter.js"
import { listAll } from "./fixtures/events.js"

interface Ack {
  readonly documentId: string
  readonly version: number
  readonly content: string
}

/**
 * Starts the writer, lets it run for a random while after it is ready, and `kill -9`s it in the
 * middle of its stream of commands. Returns the commands it acknowledged before it died.
 */
const runAndKill = (backend: Backend, address: string, round: number) =>
  Effect.async<ReadonlyArray<Ack>, Error>((resume) => {
    const child = spawn(process.execPath, [
      "--import",
      "tsx",
      join(import.meta.dirname, "fixtures", "writer.ts"),
      backend.name,
      address,
      `${round}`
    ], {
      cwd: join(import.meta.dirname, ".."),
      stdio: ["ignore", "pipe", "pipe"]
    })
    const acks: Array<Ack> = []
    let buffered = ""
    let stderr = ""
    let killed = false
    child.stdout.setEncoding("utf8").on("data", (data: string) => {
      buffered += data
      const lines = buffered.split("\n")
      buffered = lines.pop()!
      for (const line of lines) {
        if (line === "READY" && !killed) {
          killed = true
          setTimeout(() => child.kill("SIGKILL"), 300 + Math.floor(Math.random() * 900))
          continue
        }
        const [, documentId, version, ...content] = line.split(" ")
        acks.push({ documentId: documentId!, version: Number(version), content: content.join(" ") })
      }
    })
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data))
    child.on("exit", (_code, signal) =>
      resume(
        signal === "SIGKILL"
          ? Effect.succeed(acks)
          : Effect.fail(new Error(`the writer stopped by itself (${signal ?? _code}): ${stderr}`))
      ))
  })

const check = (acks: ReadonlyArray<Ack>) =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const store = yield* DocumentStore.DocumentStore
    const entries = Chunk.toReadonlyArray(yield* Stream.runCollect(journal.read()))
    const head = yield* journal.head

    // Positions are global and gap-free.
    assert.strictEqual(entries.length, head)
    entries.forEach((entry, i) => assert.strictEqual(entry.position, i + 1))

    // Every document's versions are consecutive, and no three-event command is half there.
    const versions = new Map<string, number>()
    for (const { event } of entries) {
      assert.strictEqual(event.version, (versions.get(event.documentId) ?? 0) + 1)
      versions.set(event.documentId, event.version)
    }
    for (const { event } of entries) {
      if (event.actor === "batch") assert.strictEqual(versions.get(event.documentId)! % 3, 0)
    }

    // Every acknowledged command is in the journal, as it was acknowledged.
    for (const ack of acks) {
      const document: Document.Document = yield* store.getAt(ack.documentId as Document.DocumentId, ack.version)
      assert.strictEqual(document.content, ack.content)
    }

    // The store rebuilt from snapshots equals a plain fold of the journal.
    const folded = yield* VersionedStore.make
    yield* Rebuild.replay(folded, journal)
    assert.deepStrictEqual(yield* listAll(store), yield* listAll(folded))
    for (const id of versions.keys()) {
      assert.deepStrictEqual(yield* store.get(id as Document.DocumentId), yield* folded.get(id as Document.DocumentId))
    }

    // The projection's checkpoint holds exactly the entries up to its position, and it resumes there.
    const stored = yield* Projection.load(counter)
    assert.isAtMost(stored.position, head)
    assert.deepStrictEqual(stored.state, expectedCounter(stored.position))
    const running = yield* Projection.run(counter, { pollInterval: 5 })
    assert.deepStrictEqual((yield* running.awaitPosition(head)).state, expectedCounter(head))
    return { head, acknowledged: acks.length }
  })

describe("crash safety", () => {
  for (const backend of backends) {
    it.live(
      `${backend.name}: kill -9 during a stream of acknowledged commands loses nothing and shows nothing partial`,
      () =>
        Effect.gen(function*() {
          const address = yield* backend.database
          const layer = storeOn(backend, address, 25)
          let heads = 0
          for (let round = 0; round < 4; round++) {
            const acks = yield* runAndKill(backend, address, round)
            assert.isAbove(acks.length, 0, `round ${round} acknowledged nothing before it was killed`)
            const { head } = yield* Effect.scoped(Effect.provide(check(acks), layer))
            assert.isAbove(head, heads)
            heads = head
          }
        }).pipe(Effect.scoped),
      { timeout: 120_000 }
    )
  }
})
