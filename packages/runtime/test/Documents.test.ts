import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, DocumentStore, Errors, EventBus, Journal, Outbox } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { Ids, Nerv, Performers, Recorder } from "../src/index.js"

const ann = { title: "Launch plan", content: "Draft" }

/** The test layer, with ann as the principal (`Access.as` names another for one call). */
const asAnn = Layer.merge(Nerv.layerTest, Access.layerPrincipal("ann"))

/** Everything a user could observe of the system: journal, store, bus and recorded effects. */
const observe = Effect.gen(function*() {
  const journal = yield* Journal.Journal
  const store = yield* DocumentStore.DocumentStore
  const recorder = yield* Recorder.Recorder
  const effects = yield* recorder.entries
  return {
    journal: yield* Stream.runCollect(journal.read()).pipe(Effect.map((c) => [...c])),
    documents: (yield* store.list({ limit: 10_000 })).documents,
    effects: effects.filter((e) => e._tag !== "Logged")
  }
})

/** Runs a program that must fail, and checks that it changed nothing anyone could observe. */
const failsWithoutChange = <A, E extends { readonly _tag: string; readonly message: string }, R>(
  program: Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const before = yield* observe
    const error = yield* Effect.flip(program)
    assert.deepStrictEqual(yield* observe, before)
    return error
  })

describe("Documents", () => {
  describe("create", () => {
    it.effect("creates version 1 and records the append, the event and the log line, in that order", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2026, 10, 22, 9, 0))
        const id = yield* Documents.create(ann)
        // The first id is the command's correlation id, taken by the guard to record the call.
        assert.strictEqual(id, Ids.sequential(2))
        const document = yield* Documents.get(id)
        assert.strictEqual(document.version, 1)
        assert.strictEqual(document.title, "Launch plan")
        assert.strictEqual(document.author, "ann")
        assert.strictEqual(document.lastEditor, "ann")
        assert.strictEqual(DateTime.formatIso(document.createdAt), "2026-11-22T09:00:00.000Z")
        assert.isFalse(document.isDeleted)

        const effects = yield* Effect.flatMap(Recorder.Recorder, (r) => r.entries)
        assert.deepStrictEqual(effects.map((e) => e._tag), ["Appended", "Published", "Logged"])
        const [appended, published, logged] = effects
        assert.strictEqual(appended?._tag === "Appended" && appended.events[0]?._tag, "DocumentCreated")
        assert.strictEqual(published?._tag === "Published" && published.event._tag, "DocumentCreated")
        assert.include(logged?._tag === "Logged" ? logged.message : "", `document created: ${id} "Launch plan" by ann`)
      }).pipe(Effect.provide(asAnn)))

    it.effect("stamps events with who, when, and a fresh correlation per command", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        const [{ event }] = yield* Documents.history(id)
        assert.strictEqual(event.actor, "ann")
        assert.strictEqual(event.version, 1)
        assert.strictEqual(event.documentId, id)
        assert.strictEqual(event.correlationId, event.causationId)
        assert.notStrictEqual(event.correlationId, event.eventId)
      }).pipe(Effect.provide(asAnn)))

    const bad: ReadonlyArray<[string, unknown, string]> = [
      ["an empty title", { ...ann, title: "" }, "a title cannot be empty"],
      ["a blank title", { ...ann, title: "   " }, "Trimmed"],
      ["a huge title", { ...ann, title: "x".repeat(201) }, "a title is at most 200 characters"],
      ["huge content", { ...ann, content: "x".repeat(1_000_001) }, "content is at most 1,000,000 characters"],
      ["an author (the principal is the author)", { ...ann, author: "eve" }, "is unexpected"],
      ["an extra field", { ...ann, admin: true }, "is unexpected"],
      ["a wrong type", { ...ann, title: 42 }, "Expected string, actual 42"],
      ["a missing field", { title: "t" }, "[\"content\"]"],
      ["not an object", "create me", "Expected { readonly title"]
    ]
    for (const [name, input, explanation] of bad) {
      it.effect(`refuses ${name} with InvalidInput and changes nothing`, () =>
        Effect.gen(function*() {
          const error = yield* failsWithoutChange(Documents.create(input as typeof Documents.CreateInput.Encoded))
          assert.strictEqual(error._tag, "InvalidInput")
          assert.include(error.message, "invalid input to Documents.create")
          assert.include(error.message, explanation)
        }).pipe(Effect.provide(asAnn)))
    }
  })

  describe("update", () => {
    it.effect("makes a new version, keeps the old one, and notifies the author", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        yield* TestClock.adjust("1 minute")
        const updated = yield* Documents.update(id, { content: "Ship on Friday" }).pipe(Access.as("bob"))
        assert.strictEqual(updated.version, 2)
        assert.strictEqual(updated.content, "Ship on Friday")
        assert.strictEqual(updated.title, "Launch plan")
        assert.strictEqual(updated.lastEditor, "bob")
        assert.strictEqual(
          DateTime.toEpochMillis(updated.modifiedAt) - DateTime.toEpochMillis(updated.createdAt),
          60_000
        )
        assert.strictEqual((yield* Documents.at(id, 1)).content, "Draft")

        // Recorded with the commit; performed when the performers run, not before.
        const recorded = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("EffectRecorded"))
        assert.deepStrictEqual(recorded.map((e) => [e.type, e.payload]), [[
          "notify",
          { to: "ann", message: "bob updated \"Launch plan\" (now version 2)" }
        ]])
        assert.deepStrictEqual(yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Notified")), [])
        assert.strictEqual(yield* Performers.drain, 1)
        const performed = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("EffectPerformed"))
        assert.deepStrictEqual(performed.map((e) => e.id), recorded.map((e) => e.id))
        const notified = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Notified"))
        assert.deepStrictEqual(notified, [{
          _tag: "Notified",
          to: "ann",
          message: "bob updated \"Launch plan\" (now version 2)"
        }])
      }).pipe(Effect.provide(asAnn)))

    it.effect("an update that changes nothing makes no version and no notification", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        const before = yield* observe
        const same = yield* Documents.update(id, { title: "Launch plan", content: "Draft" }).pipe(Access.as("bob"))
        assert.strictEqual(same.version, 1)
        assert.deepStrictEqual(yield* observe, before)
      }).pipe(Effect.provide(asAnn)))

    it.effect("refuses a stale expected version and changes nothing", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        yield* Documents.update(id, { content: "c" }).pipe(Access.as("bob"))
        const error = yield* failsWithoutChange(
          Documents.update(id, { content: "d" }, { expectedVersion: 1 }).pipe(Access.as("eve"))
        )
        assert.strictEqual(error._tag, "VersionConflict")
        assert.strictEqual(error.message, `document ${id} is at version 2, expected 1; read it again and retry`)
        assert.strictEqual((yield* Documents.get(id)).content, "c")
      }).pipe(Effect.provide(asAnn)))

    it.effect("refuses an unknown document with DocumentNotFound", () =>
      Effect.gen(function*() {
        const missing = Ids.sequential(999)
        const error = yield* failsWithoutChange(Documents.update(missing, { content: "d" }).pipe(Access.as("eve")))
        assert.strictEqual(error._tag, "DocumentNotFound")
        assert.strictEqual(error.message, `document ${missing} does not exist`)
      }).pipe(Effect.provide(asAnn)))

    it.effect("refuses a deleted document with DocumentAlreadyDeleted", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        yield* Documents.remove(id, { reason: "obsolete" }).pipe(Access.as("ann"))
        const error = yield* failsWithoutChange(Documents.update(id, { content: "d" }).pipe(Access.as("eve")))
        assert.strictEqual(error._tag, "DocumentAlreadyDeleted")
        assert.include(error.message, "(obsolete); it can be read but not changed")
      }).pipe(Effect.provide(asAnn)))

    const bad: ReadonlyArray<[string, string, unknown, unknown, string]> = [
      ["a wrong id", "not-a-uuid", { content: "x" }, {}, "[\"id\"]"],
      ["no change at all", "", {}, {}, "an update must change the title, the content, or both"],
      ["an empty title", "", { title: "" }, {}, "a title cannot be empty"],
      ["huge content", "", { content: "x".repeat(1_000_001) }, {}, "at most 1,000,000"],
      ["an editor (the principal is the editor)", "", { content: "x" }, { editor: "bob" }, "is unexpected"],
      ["a version 0", "", { content: "x" }, { expectedVersion: 0 }, "[\"expectedVersion\"]"],
      ["an extra option", "", { content: "x" }, { force: true }, "is unexpected"]
    ]
    for (const [name, badId, changes, options, explanation] of bad) {
      it.effect(`refuses ${name} with InvalidInput and changes nothing`, () =>
        Effect.gen(function*() {
          const id = yield* Documents.create(ann)
          const error = yield* failsWithoutChange(
            Documents.update(
              badId === "" ? id : badId,
              changes as typeof Documents.UpdateInput.Encoded,
              options as typeof Documents.UpdateOptions.Encoded
            )
          )
          assert.strictEqual(error._tag, "InvalidInput")
          assert.include(error.message, "invalid input to Documents.update")
          assert.include(error.message, explanation)
        }).pipe(Effect.provide(asAnn)))
    }
  })

  describe("remove", () => {
    it.effect("deletes, keeps the history readable, hides it from list and notifies the author", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        const other = yield* Documents.create({ ...ann, title: "Other" })
        const deleted = yield* Documents.remove(id, { reason: "superseded" }).pipe(Access.as("bob"))
        assert.isTrue(deleted.isDeleted)
        assert.strictEqual(deleted.version, 2)
        assert.strictEqual(deleted.deletionReason, "superseded")
        assert.deepStrictEqual((yield* Documents.list()).map((d) => d.id), [other])
        assert.isTrue((yield* Documents.get(id)).isDeleted)
        assert.deepStrictEqual((yield* Documents.history(id)).map((v) => v.event._tag), [
          "DocumentCreated",
          "DocumentDeleted"
        ])
        yield* Performers.drain
        const notified = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Notified"))
        assert.deepStrictEqual(notified.map((n) => [n.to, n.message]), [[
          "ann",
          "bob deleted \"Launch plan\": superseded"
        ]])
      }).pipe(Effect.provide(asAnn)))

    it.effect("refuses to delete twice, a stale version, and an unknown id; each changes nothing", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        yield* Documents.update(id, { title: "New" }).pipe(Access.as("bob"))
        const stale = yield* failsWithoutChange(
          Documents.remove(id, { reason: "x", expectedVersion: 1 }).pipe(Access.as("eve"))
        )
        assert.strictEqual(stale._tag, "VersionConflict")
        const unknown = yield* failsWithoutChange(
          Documents.remove(Ids.sequential(77), { reason: "x" }).pipe(Access.as("eve"))
        )
        assert.strictEqual(unknown._tag, "DocumentNotFound")
        yield* Documents.remove(id, { reason: "done", expectedVersion: 2 }).pipe(Access.as("ann"))
        const twice = yield* failsWithoutChange(Documents.remove(id, { reason: "again" }).pipe(Access.as("ann")))
        assert.strictEqual(twice._tag, "DocumentAlreadyDeleted")
      }).pipe(Effect.provide(asAnn)))

    it.effect("refuses an empty reason, a huge reason and an extra option with InvalidInput", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        for (
          const [options, explanation] of [
            [{ reason: "" }, "a deletion reason cannot be empty"],
            [{ reason: "x".repeat(501) }, "a deletion reason is at most 500 characters"],
            [{ reason: "x", hard: true }, "is unexpected"]
          ] as const
        ) {
          const error = yield* failsWithoutChange(
            Documents.remove(id, options as typeof Documents.RemoveOptions.Encoded)
          )
          assert.strictEqual(error._tag, "InvalidInput")
          assert.include(error.message, explanation)
        }
      }).pipe(Effect.provide(asAnn)))
  })

  describe("reads", () => {
    it.effect("get, history and at refuse a wrong id, an unknown id and an unknown version", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        assert.strictEqual((yield* Effect.flip(Documents.get("nope")))._tag, "InvalidInput")
        assert.strictEqual((yield* Effect.flip(Documents.history("nope")))._tag, "InvalidInput")
        assert.strictEqual((yield* Effect.flip(Documents.get(Ids.sequential(50))))._tag, "DocumentNotFound")
        assert.strictEqual((yield* Effect.flip(Documents.history(Ids.sequential(50))))._tag, "DocumentNotFound")
        const missing = yield* Effect.flip(Documents.at(id, 5))
        assert.strictEqual(missing._tag, "VersionNotFound")
        assert.strictEqual(missing.message, `document ${id} has no version 5; its versions are 1 to 1`)
        assert.strictEqual((yield* Effect.flip(Documents.at(id, 0)))._tag, "InvalidInput")
        assert.strictEqual((yield* Effect.flip(Documents.at(id, 1.5)))._tag, "InvalidInput")
      }).pipe(Effect.provide(asAnn)))

    it.effect("history lists every version with the event that made it, who and when", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        yield* TestClock.adjust("1 hour")
        yield* Documents.update(id, { title: "Plan B" }).pipe(Access.as("bob"))
        yield* Documents.update(id, { content: "Final" }).pipe(Access.as("cid"))
        const history = yield* Documents.history(id)
        assert.deepStrictEqual(history.map((v) => [v.version, v.event.actor, v.document.title, v.document.content]), [
          [1, "ann", "Launch plan", "Draft"],
          [2, "bob", "Plan B", "Draft"],
          [3, "cid", "Plan B", "Final"]
        ])
        assert.strictEqual(DateTime.formatIso(history[1]!.event.occurredAt), "1970-01-01T01:00:00.000Z")
      }).pipe(Effect.provide(asAnn)))
  })

  describe("correlation", () => {
    it.effect("withCorrelation and causedBy flow into the events' metadata", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann).pipe(Documents.withCorrelation("request-42"))
        const [created] = yield* Documents.history(id)
        assert.strictEqual(created!.event.correlationId, "request-42")
        yield* Documents.update(id, { content: "reaction" }).pipe(Access.as("bot")).pipe(
          Documents.causedBy(created!.event)
        )
        const [, reaction] = yield* Documents.history(id)
        assert.strictEqual(reaction!.event.correlationId, "request-42")
        assert.strictEqual(reaction!.event.causationId, created!.event.eventId)
      }).pipe(Effect.provide(asAnn)))
  })

  describe("swapping services", () => {
    it.effect("a host registers its own notification performer; the rest stays the test layer", () =>
      Effect.gen(function*() {
        const sent: Array<string> = []
        yield* Performers.add(
          Outbox.Notify,
          ({ message, to }, { key }) => Effect.sync(() => sent.push(`${to}: ${message} [${key}]`))
        )
        const id = yield* Documents.create(ann)
        const updated = yield* Documents.update(id, { content: "x" }).pipe(Access.as("bob"))
        yield* Performers.drain
        const key = `${(yield* Documents.history(id))[1]!.event.eventId}:0`
        assert.strictEqual(updated.version, 2)
        assert.deepStrictEqual(sent, [`ann: bob updated "Launch plan" (now version 2) [${key}]`])
        assert.deepStrictEqual(yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Notified")), [])
      }).pipe(Effect.provide(asAnn)))

    it.effect("an event a host's middleware drops is not recorded as published", () =>
      Effect.gen(function*() {
        const bus = yield* EventBus.EventBus
        yield* bus.use((event) => Effect.succeed(event._tag === "DocumentUpdated" ? Option.none() : Option.some(event)))
        const id = yield* Documents.create(ann)
        yield* Documents.update(id, { content: "quiet" }).pipe(Access.as("bob"))
        const published = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Published"))
        assert.deepStrictEqual(published.map((p) => p.event._tag), ["DocumentCreated"])
        const appended = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Appended"))
        assert.deepStrictEqual(appended.map((a) => a.events[0]!._tag), ["DocumentCreated", "DocumentUpdated"])
      }).pipe(Effect.provide(asAnn)))

    it.effect("a failing notifier does not undo the update: the notification is retried, then dead-lettered", () =>
      Effect.gen(function*() {
        let calls = 0
        yield* Performers.add(Outbox.Notify, ({ to }) =>
          Effect.suspend(() => {
            calls++
            return Effect.fail(new Errors.NotificationFailed({ to, reason: "mail server down" }))
          }))
        const id = yield* Documents.create(ann)
        const updated = yield* Documents.update(id, { content: "x" }).pipe(Access.as("bob"))
        assert.strictEqual(updated.version, 2)
        assert.strictEqual((yield* Documents.get(id)).version, 2)
        const outbox = yield* Outbox.Outbox
        // The default schedule: 10 attempts, 0.5 s doubling between them.
        for (let i = 0; i < 12; i++) {
          yield* Performers.drain
          yield* TestClock.adjust("10 minutes")
        }
        assert.strictEqual(calls, 10)
        const [dead] = yield* outbox.list({ status: "dead" })
        assert.strictEqual(dead!.lastError, "could not notify ann: mail server down")
        assert.strictEqual(dead!.attempts, 10)
        const logged = yield* Effect.flatMap(Recorder.Recorder, (r) => r.ofKind("Logged"))
        assert.isTrue(logged.some((l) => l.level === "WARN" && l.message.includes("gave up after 10 attempts")))
        // Re-driven once the server is back: performed.
        yield* Performers.add(Outbox.Notify, () => Effect.void)
        assert.strictEqual(yield* outbox.redrive("all", 0), 1)
        assert.strictEqual(yield* Performers.drain, 1)
        assert.deepStrictEqual(
          (yield* outbox.counts()).map((c) => [c.type, c.pending, c.performed, c.dead]),
          [["notify", 0, 1, 0]]
        )
      }).pipe(Effect.provide(asAnn)))

    it.effect("a journal that fails commits nothing: no store change, no event, no notification", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        const journal = yield* Journal.Journal
        const broken = Layer.succeed(Journal.Journal, {
          ...journal,
          append: () => Effect.fail(new Errors.JournalError({ reason: "disk full" }))
        })
        const error = yield* failsWithoutChange(
          Documents.update(id, { content: "lost?" }).pipe(Access.as("bob")).pipe(Effect.provide(broken))
        )
        assert.strictEqual(error._tag, "JournalError")
        assert.strictEqual(error.message, "the journal failed: disk full")
        assert.strictEqual((yield* Documents.get(id)).content, "Draft")
      }).pipe(Effect.provide(asAnn)))
  })

  describe("concurrency", () => {
    /** The in-memory journal never yields; a real one does I/O. This one yields like one. */
    const withSlowJournal = <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.flatMap(Journal.Journal, (journal) =>
        Effect.provide(
          self,
          Layer.succeed(Journal.Journal, {
            ...journal,
            append: (events, expected, effects) =>
              Effect.yieldNow().pipe(
                Effect.zipRight(journal.append(events, expected, effects)),
                Effect.zipLeft(Effect.yieldNow())
              )
          })
        ))

    it.effect("10 fibers × 1,000 updates to one document make exactly 10,001 gap-free versions", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        yield* Effect.forEach(
          Array.from({ length: 10 }, (_, fiber) => fiber),
          (fiber) =>
            Effect.forEach(
              Array.from({ length: 1_000 }, (_, i) => i),
              (i) => Documents.update(id, { content: `fiber ${fiber} update ${i}` }).pipe(Access.as(`fiber-${fiber}`)),
              { discard: true }
            ),
          { concurrency: "unbounded", discard: true }
        ).pipe(withSlowJournal)
        const history = yield* Documents.history(id)
        assert.strictEqual(history.length, 10_001)
        history.forEach((v, i) => assert.strictEqual(v.version, i + 1))
        const journal = yield* Journal.Journal
        assert.strictEqual(yield* journal.head, 10_001)
        const entries = yield* Stream.runCollect(journal.readDocument(DocumentIdOf(id)))
        assert.deepStrictEqual([...entries].map((e) => e.event.version), history.map((v) => v.version))
        // Every fiber's updates arrived in its own order.
        for (let fiber = 0; fiber < 10; fiber++) {
          const mine = history.filter((v) => v.event.actor === `fiber-${fiber}`).map((v) => v.document.content)
          assert.deepStrictEqual(mine, Array.from({ length: 1_000 }, (_, i) => `fiber ${fiber} update ${i}`))
        }
      }).pipe(Effect.provide(asAnn)))

    it.effect("with expected versions, concurrent writers get typed conflicts and never lose a write", () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, fiber) => fiber),
          (fiber) =>
            Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (i) =>
              Effect.gen(function*() {
                const seen = yield* Documents.get(id)
                yield* Effect.yieldNow()
                return yield* Documents.update(id, { content: `${fiber}/${i}` }, { expectedVersion: seen.version })
                  .pipe(Access.as(`fiber-${fiber}`)).pipe(
                    Effect.as("ok" as const),
                    Effect.catchTag("VersionConflict", () => Effect.succeed("conflict" as const))
                  )
              })),
          { concurrency: "unbounded" }
        ).pipe(withSlowJournal, Effect.map((all) => all.flat()))
        const ok = outcomes.filter((o) => o === "ok").length
        assert.isAbove(ok, 0)
        assert.isAbove(outcomes.length - ok, 0)
        const history = yield* Documents.history(id)
        assert.strictEqual(history.length, 1 + ok)
        history.forEach((v, i) => assert.strictEqual(v.version, i + 1))
      }).pipe(Effect.provide(asAnn)))
  })
})

const DocumentIdOf = (id: string) => id as Parameters<Journal.JournalService["readDocument"]>[0]

describe("Documents on hostile input", () => {
  let deep: unknown = "x"
  for (let i = 0; i < 3_000; i++) deep = { a: deep }
  const throwingGetter = {
    get title(): string {
      throw new Error("boom")
    }
  }
  const proxy = new Proxy({}, {
    ownKeys: () => {
      throw new Error("trap")
    },
    get: () => {
      throw new Error("trap")
    }
  })
  const hostileToString = {
    toString: () => {
      throw new Error("boom")
    }
  }
  const values: ReadonlyArray<readonly [string, unknown]> = [
    ["a body nested 3,000 levels", deep],
    ["an object with a throwing getter", throwingGetter],
    ["a Proxy whose traps throw", proxy],
    ["an object whose toString throws", hostileToString]
  ]

  for (const [name, value] of values) {
    it.effect(`every entry point refuses ${name} with InvalidInput and changes nothing`, () =>
      Effect.gen(function*() {
        const id = yield* Documents.create(ann)
        const hostile = value as never
        const calls: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string; readonly message: string }, any>> = [
          Documents.create(hostile),
          Documents.create({ ...ann, title: hostile }),
          Documents.update(id, hostile).pipe(Access.as("bob")),
          Documents.update(id, { content: hostile }).pipe(Access.as("bob")),
          Documents.update(id, { content: "c" }, hostile),
          Documents.update(hostile, { content: "c" }).pipe(Access.as("bob")),
          Documents.remove(id, hostile),
          Documents.remove(hostile, { reason: "r" }).pipe(Access.as("ann")),
          Documents.get(hostile),
          Documents.history(hostile),
          Documents.at(hostile, 1),
          Documents.at(id, hostile),
          Documents.asOf(hostile, 0),
          Documents.asOf(id, hostile),
          Documents.diff(hostile, 1, 1),
          Documents.diff(id, hostile, 1)
        ]
        for (const call of calls) {
          const error = yield* failsWithoutChange(call)
          assert.strictEqual(error._tag, "InvalidInput")
          assert.isBelow(error.message.length, 20_000)
        }
      }).pipe(Effect.provide(asAnn)))
  }
})
