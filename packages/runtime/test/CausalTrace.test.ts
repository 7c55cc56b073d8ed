import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { AuditTrail, CausalTrace, Cli, Nerv } from "../src/index.js"
import { captureConsole } from "./fixtures/console.js"
import { dataKeysMemory, masterKeys } from "./security/fixtures.js"

const allEntries = Effect.flatMap(Journal.Journal, (journal) => Stream.runCollect(journal.read())).pipe(
  Effect.map(Chunk.toReadonlyArray)
)

/**
 * A request (create), a reaction to its event (an update of it, and a copy), a reaction to the
 * copy's creation (a deletion), and an unrelated request in between.
 */
const scenario = Effect.gen(function*() {
  const draft = yield* Documents.create({ title: "Launch plan", content: "v1" }).pipe(Access.as("ann")).pipe(
    Documents.withCorrelation("request-1")
  )
  yield* Documents.create({ title: "Other", content: "x" }).pipe(Access.as("eve")).pipe(
    Documents.withCorrelation("request-2")
  )
  const [created] = (yield* Documents.history(draft)).map((v) => v.event)
  yield* Documents.update(draft, { content: "v2" }).pipe(Access.as("bob")).pipe(Documents.causedBy(created))
  const copy = yield* Documents.create({ title: "Launch plan (copy)", content: "v1" }).pipe(Access.as("bob")).pipe(
    Documents.causedBy(created)
  )
  const [copied] = (yield* Documents.history(copy)).map((v) => v.event)
  yield* Documents.remove(copy, { reason: "not needed" }).pipe(Access.as("carl")).pipe(Documents.causedBy(copied))
  return { draft, copy, created, copied }
})

describe("CausalTrace.build", () => {
  it.effect("draws command → events → reactions → their events, each entry once, nothing of another correlation", () =>
    Effect.gen(function*() {
      const { copy, created, draft } = yield* scenario
      const entries = yield* allEntries
      const tree = CausalTrace.build(entries, "request-1")
      const mine = entries.filter((entry) => entry.event.correlationId === "request-1")
      assert.strictEqual(tree.entries, 4)
      // Every entry of the correlation appears exactly once, with the journal's own fields.
      assert.deepStrictEqual(
        CausalTrace.events(tree).map((e) => e.position).sort((a, b) => a - b),
        mine.map((entry) => entry.position)
      )
      for (const event of CausalTrace.events(tree)) {
        const entry = mine.find((e) => e.position === event.position)!
        assert.strictEqual(event.eventId, entry.event.eventId)
        assert.strictEqual(event.actor, entry.event.actor)
        assert.strictEqual(event.documentId, entry.event.documentId)
        assert.strictEqual(event.version, entry.event.version)
        assert.isTrue(DateTime.Equivalence(event.occurredAt, entry.event.occurredAt))
      }
      assert.strictEqual(tree.roots.length, 1)
      const [root] = tree.roots
      assert.deepStrictEqual([root.causationId, root.documentId, root.actor], ["request-1", draft, "ann"])
      assert.deepStrictEqual(root.events.map((e) => e.type), ["DocumentCreated"])
      const reactions = root.events[0].reactions
      assert.deepStrictEqual(
        reactions.map((r) => [r.causationId, r.documentId, r.actor, r.events.map((e) => e.type)]),
        [[created.eventId, draft, "bob", ["DocumentUpdated"]], [created.eventId, copy, "bob", ["DocumentCreated"]]]
      )
      assert.deepStrictEqual(
        reactions[1].events[0].reactions.map((r) => [r.actor, r.events.map((e) => e.summary)]),
        [["carl", ["deleted: not needed"]]]
      )
      assert.strictEqual(CausalTrace.build(entries, "nobody").entries, 0)
      // The order of the entries given does not matter.
      assert.deepStrictEqual(CausalTrace.build([...entries].reverse(), "request-1"), tree)
    }).pipe(Effect.provide(Nerv.layerTest)))

  it.effect("renders one line per command and event, indented by cause", () =>
    Effect.gen(function*() {
      yield* scenario
      const lines = CausalTrace.render(yield* CausalTrace.trace("request-1"))
      assert.strictEqual(lines.length, 8)
      assert.match(lines[0], /^command request-…  by ann  at \S+  on \S+$/)
      assert.match(lines[1], /^└─ #1 DocumentCreated \S+… v1  by ann  at \S+  created "Launch plan"$/)
      assert.match(lines[2], /^   ├─ reaction \S+…  by bob/)
      assert.match(lines[3], /^   │  └─ #3 DocumentUpdated \S+ v2  by bob .* content changed \(2 characters\)$/)
      assert.match(lines[4], /^   └─ reaction \S+…  by bob/)
      assert.match(lines[5], /^      └─ #4 DocumentCreated \S+ v1  by bob .* created "Launch plan \(copy\)"$/)
      assert.match(lines[6], /^         └─ reaction \S+…  by carl/)
      assert.match(lines[7], /^            └─ #5 DocumentDeleted \S+ v2  by carl .* deleted: not needed$/)
    }).pipe(Effect.provide(Nerv.layerTest)))
})

describe("nerv trace", () => {
  const { err, out } = captureConsole()

  const services = Layer.mergeAll(
    Nerv.layerTest,
    AuditTrail.layerMemory,
    dataKeysMemory(masterKeys.k1)
  )

  it.scoped("prints the tree the journal holds (text and JSON), and refuses an unknown correlation", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      const nerv = (...args: Array<string>) =>
        Cli.run(["node", "nerv", ...args], { open: () => Layer.succeedContext(built) }).pipe(
          Effect.provide(NodeContext.layer)
        )
      const made = yield* scenario.pipe(Effect.provide(Layer.succeedContext(built)))
      const tree = yield* CausalTrace.trace("request-1").pipe(Effect.provide(Layer.succeedContext(built)))

      yield* nerv("trace", "request-1")
      assert.deepStrictEqual(out.splice(0), CausalTrace.render(tree))
      assert.strictEqual(process.exitCode ?? 0, 0)

      yield* nerv("trace", "request-1", "--json")
      const json = JSON.parse(out.splice(0).join("\n"))
      const positions: Array<number> = []
      const walk = (command: any): void =>
        command.events.forEach((e: any) => {
          positions.push(e.position)
          e.reactions.forEach(walk)
        })
      json.roots.forEach(walk)
      assert.deepStrictEqual(positions, [1, 3, 4, 5])
      assert.strictEqual(json.roots[0].events[0].reactions[1].events[0].reactions[0].actor, "carl")

      // From a document's version instead: the request that made it.
      const { copy, draft } = made
      yield* nerv("trace", "--document", copy)
      assert.deepStrictEqual(out.splice(0), CausalTrace.render(tree))
      assert.deepStrictEqual(err.splice(0), [`correlation request-1 (made version 2 of ${copy})`])
      yield* nerv("trace", "--document", draft, "--version", "2")
      assert.deepStrictEqual(out.splice(0), CausalTrace.render(tree))
      assert.deepStrictEqual(err.splice(0), [`correlation request-1 (made version 2 of ${draft})`])
      yield* nerv("trace", "--document", draft, "--version", "7")
      assert.deepStrictEqual(out.splice(0), [])
      assert.match(err.splice(0).join("\n"), /^VersionNotFound: /)
      assert.strictEqual(process.exitCode, 1)
      process.exitCode = 0
      for (const args of [["request-1", "--document", draft], []]) {
        yield* nerv("trace", ...args)
        assert.deepStrictEqual(out.splice(0), [])
        assert.match(err.splice(0).join("\n"), /^nerv: give a correlation id, or --document <id>/)
        assert.strictEqual(process.exitCode, 2)
        process.exitCode = 0
      }

      yield* nerv("trace", "no-such-request")
      assert.deepStrictEqual(out.splice(0), [])
      assert.match(err.splice(0).join("\n"), /^CorrelationNotFound: no event in this journal carries the correlation/)
      assert.strictEqual(process.exitCode, 1)
    }))
})
