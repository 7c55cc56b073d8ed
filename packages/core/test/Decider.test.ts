import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import { Command, decide, evolve, fold } from "../src/Decider.js"
import { Actor, Content, DocumentId, Reason, Title } from "../src/Document.js"
import type { DocumentEvent } from "../src/DocumentEvent.js"

const id = DocumentId.make("3f0c1a52-8d4e-4c57-9a43-1f6d2b7e9c10")
const start = DateTime.unsafeMake(Date.UTC(2026, 0, 1))

const title = Arbitrary.make(Title)
const content = Arbitrary.make(Content).map((s) => s.slice(0, 50))
const actor = Arbitrary.make(Actor)

/** Any command against the one document, including ones that must be refused. */
const command: FastCheck.Arbitrary<Command> = FastCheck.oneof(
  FastCheck.record({ title, content, author: actor }).map((c) => Command.Create({ documentId: id, ...c })),
  FastCheck.record({
    title: FastCheck.option(title, { nil: undefined }),
    content: FastCheck.option(content, { nil: undefined }),
    editor: actor,
    expectedVersion: FastCheck.option(FastCheck.integer({ min: 1, max: 12 }), { nil: undefined })
  }).map((c) => Command.Update({ documentId: id, ...c })),
  FastCheck.record({
    reason: Arbitrary.make(Reason),
    actor,
    expectedVersion: FastCheck.option(FastCheck.integer({ min: 1, max: 12 }), { nil: undefined })
  }).map((c) => Command.Delete({ documentId: id, ...c }))
)

const run = (commands: ReadonlyArray<Command>) => {
  let state = undefined as ReturnType<typeof evolve> | undefined
  const events: Array<DocumentEvent> = []
  commands.forEach((c, i) => {
    const decided = decide(state, c, {
      eventId: `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
      now: DateTime.add(start, { minutes: i }),
      correlationId: `c${i}`,
      causationId: `c${i}`
    })
    if (Either.isRight(decided)) {
      for (const event of decided.right) {
        events.push(event)
        state = evolve(state, event)
      }
    }
  })
  return { state, events }
}

describe("Decider", () => {
  it.prop("folding the decided events reproduces the state, with gap-free versions", [
    FastCheck.array(command, { maxLength: 30 })
  ], ([commands]) => {
    const { events, state } = run(commands)
    assert.deepStrictEqual(fold(events), state)
    events.forEach((event, i) => assert.strictEqual(event.version, i + 1))
    if (state !== undefined) assert.strictEqual(state.version, events.length)
  })

  it.prop("a deleted document accepts no command, and refusals decide nothing", [
    FastCheck.array(command, { maxLength: 30 })
  ], ([commands]) => {
    const { state } = run(commands)
    if (state?.isDeleted) {
      for (const c of commands) {
        const decided = decide(state, c, { eventId: "e", now: start, correlationId: "c", causationId: "c" })
        assert.isTrue(Either.isLeft(decided))
        const error = Either.getLeft(decided)
        if (error._tag === "Some") {
          assert.oneOf(error.value._tag, ["DocumentAlreadyDeleted", "VersionConflict"])
        }
      }
    }
  })

  it("creates at version 1 and refuses to create twice", () => {
    const context = { eventId: "e1", now: start, correlationId: "c", causationId: "c" }
    const created = Either.getOrThrow(
      decide(undefined, Command.Create({ documentId: id, title: "a", content: "b", author: "ann" }), context)
    )
    assert.strictEqual(created[0]!.version, 1)
    const state = fold(created)!
    assert.strictEqual(state.author, "ann")
    assert.strictEqual(state.lastEditor, "ann")
    const again = decide(state, Command.Create({ documentId: id, title: "a", content: "b", author: "bob" }), context)
    assert.deepStrictEqual(Either.getLeft(again).pipe((o) => o._tag === "Some" && o.value._tag), "VersionConflict")
  })

  it("an update that changes nothing decides no event; one that does carries only what changed", () => {
    const context = { eventId: "e1", now: start, correlationId: "c", causationId: "c" }
    const state = fold(Either.getOrThrow(
      decide(undefined, Command.Create({ documentId: id, title: "a", content: "b", author: "ann" }), context)
    ))!
    const same = Either.getOrThrow(
      decide(state, Command.Update({ documentId: id, title: "a", content: "b", editor: "bob" }), context)
    )
    assert.deepStrictEqual(same, [])
    const [changed] = Either.getOrThrow(
      decide(state, Command.Update({ documentId: id, title: "a", content: "c", editor: "bob" }), context)
    )
    assert.strictEqual(changed?._tag, "DocumentUpdated")
    if (changed?._tag === "DocumentUpdated") {
      assert.isUndefined(changed.title)
      assert.strictEqual(changed.content, "c")
    }
  })

  it("refuses a stale expected version with the versions in the message", () => {
    const context = { eventId: "e1", now: start, correlationId: "c", causationId: "c" }
    let state = fold(Either.getOrThrow(
      decide(undefined, Command.Create({ documentId: id, title: "a", content: "b", author: "ann" }), context)
    ))!
    for (const content of ["c", "d", "e"]) {
      state = fold(
        Either.getOrThrow(decide(state, Command.Update({ documentId: id, content, editor: "bob" }), context)),
        state
      )!
    }
    const refused = decide(
      state,
      Command.Update({ documentId: id, content: "x", editor: "eve", expectedVersion: 3 }),
      context
    )
    assert.isTrue(Either.isLeft(refused))
    if (Either.isLeft(refused)) {
      assert.strictEqual(refused.left._tag, "VersionConflict")
      assert.include(refused.left.message, `document ${id} is at version 4, expected 3`)
    }
  })

  it("treats an event that does not follow its state as a corrupt history (a defect)", () => {
    const context = { eventId: "e1", now: start, correlationId: "c", causationId: "c" }
    const created = Either.getOrThrow(
      decide(undefined, Command.Create({ documentId: id, title: "a", content: "b", author: "ann" }), context)
    )
    const state = fold(created)!
    assert.throws(() => evolve(state, created[0]!), /corrupt history/)
  })
})
