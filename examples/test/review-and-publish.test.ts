import { assert, describe, it } from "@effect/vitest"
import { Access, Documents, Errors, Journal, Notifier } from "@nerv/core"
import { CausalTrace, Nerv, Performers, Recorder, Saga } from "@nerv/runtime"
import { SagaStore } from "@nerv/store"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { decide, reviewAndPublish, submit } from "../review-and-publish.js"

const layer = Layer.mergeAll(Nerv.layerTest, SagaStore.layerMemory)

const entries = Effect.flatMap(Journal.Journal, (journal) => Stream.runCollect(journal.read())).pipe(
  Effect.map(Chunk.toReadonlyArray)
)
/** The notifications performed, once the outbox's due ones have been. */
const notified = Effect.zipRight(
  Performers.drain,
  Effect.flatMap(Recorder.Recorder, (recorder) => recorder.ofKind("Notified"))
).pipe(
  Effect.map((all) => all.map(({ message, to }) => `${to}: ${message}`))
)
const instanceOf = (request: string) => Effect.map(Saga.instance(reviewAndPublish, request), Option.getOrThrow)

/** Polls while the clock moves on, for steps that wait between retries. */
const pollWithTime = (saga: Saga.Runner<Nerv.Services>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(saga.poll)
    yield* TestClock.adjust("1 minute")
    yield* Fiber.join(fiber)
  })

/** A draft by ann, approved once (version 1 published), then edited (version 2). */
const approvedThenEdited = (saga: Saga.Runner<Nerv.Services>) =>
  Effect.gen(function*() {
    const draft = yield* Documents.create({ title: "Launch plan", content: "We launch in May." }).pipe(Access.as("ann"))
    const first = yield* submit(draft, "bob").pipe(Access.as("ann"))
    yield* saga.poll
    yield* decide(first, "bob", { decision: "approved" })
    yield* saga.poll
    yield* Documents.update(draft, { content: "We launch in March!" }).pipe(Access.as("ann"))
    return draft
  })

describe("examples/review-and-publish", () => {
  it.effect("approval: publishes a copy of the submitted version, tells both, and the trace shows the chain", () =>
    Effect.gen(function*() {
      const saga = yield* Saga.runner(reviewAndPublish)
      const draft = yield* Documents.create({ title: "Launch plan", content: "We launch in May." }).pipe(
        Access.as("ann")
      )
      const request = yield* submit(draft, "bob").pipe(Access.as("ann"))
      yield* saga.poll
      assert.strictEqual((yield* instanceOf(request)).status, "active")
      assert.deepStrictEqual(yield* notified, [`bob: ann asks you to review version 1 of ${draft}`])

      yield* decide(request, "bob", { decision: "approved" })
      // The outbox's notification of the decision (an update of the request) is performed first.
      yield* Performers.drain
      yield* saga.poll
      const done = yield* instanceOf(request)
      assert.strictEqual(done.status, "completed")
      assert.deepStrictEqual(done.done, ["requestReview", "publish", "announce"])
      const copy = yield* Documents.get(done.state.copy!)
      assert.deepStrictEqual([copy.title, copy.content, copy.author], [
        "Launch plan (published)",
        "We launch in May.",
        "publisher"
      ])
      assert.deepStrictEqual((yield* notified).slice(1), [
        `ann: bob updated "Review request" (now version 2)`,
        `ann: version 1 of ${draft} is published as ${copy.id}`,
        `bob: thank you: version 1 of ${draft} is published`
      ])

      // The copy's creation is caused by the approval, in the request's correlation.
      const all = yield* entries
      const [requested, approved, published] = [request, request, copy.id].map((id, i) =>
        all.filter((entry) => entry.event.documentId === id)[i === 1 ? 1 : 0]!
      )
      assert.strictEqual(approved.event.causationId, requested.event.eventId)
      assert.strictEqual(published.event.causationId, approved.event.eventId)
      assert.strictEqual(published.event.correlationId, requested.event.correlationId)
      const tree = yield* CausalTrace.trace(requested.event.correlationId)
      assert.deepStrictEqual(
        CausalTrace.events(tree).map((event) => [event.position, event.actor]),
        [[requested.position, "ann"], [approved.position, "bob"], [published.position, "publisher"]]
      )
      // The saga's log lines carry the correlation and the cause.
      const logged = yield* Effect.flatMap(Recorder.Recorder, (recorder) => recorder.ofKind("Logged"))
      const creation = logged.find((line) => line.message.includes("Launch plan (published)"))!
      assert.strictEqual(creation.annotations.correlationId, requested.event.correlationId)
      assert.strictEqual(creation.annotations.causationId, approved.event.eventId)
    }).pipe(Effect.provide(layer)))

  it.effect("rejection: the draft goes back to the last approved version and the author is told why", () =>
    Effect.gen(function*() {
      const saga = yield* Saga.runner(reviewAndPublish)
      const draft = yield* approvedThenEdited(saga)
      const request = yield* submit(draft, "bob").pipe(Access.as("ann"))
      yield* saga.poll
      yield* decide(request, "bob", { decision: "rejected", note: "March is too early" })
      yield* saga.poll
      const done = yield* instanceOf(request)
      assert.strictEqual(done.status, "compensated")
      assert.strictEqual(done.reason, "rejected by bob: March is too early")
      assert.deepStrictEqual(done.done, [])
      const now = yield* Documents.get(draft)
      assert.deepStrictEqual([now.version, now.content], [3, "We launch in May."])
      assert.include(
        yield* notified,
        `ann: version 2 of ${draft} was not published (rejected by bob: March is too early); ` +
          "it is back to version 1's text"
      )
      // Only the first approval was published.
      const copies = (yield* Documents.list()).filter((d) => d.title === "Launch plan (published)")
      assert.deepStrictEqual(copies.map((d) => d.content), ["We launch in May."])
    }).pipe(Effect.provide(layer)))

  it.effect("timeout: with no answer within 48 hours (TestClock) it compensates, and a late answer changes nothing", () =>
    Effect.gen(function*() {
      const saga = yield* Saga.runner(reviewAndPublish)
      const draft = yield* approvedThenEdited(saga)
      const request = yield* submit(draft, "bob").pipe(Access.as("ann"))
      yield* saga.poll
      yield* TestClock.adjust("47 hours")
      yield* saga.poll
      assert.strictEqual((yield* instanceOf(request)).status, "active")
      yield* TestClock.adjust("2 hours")
      yield* saga.poll
      const done = yield* instanceOf(request)
      assert.strictEqual(done.status, "compensated")
      assert.strictEqual(done.reason, "no review within 2d")
      assert.strictEqual((yield* Documents.get(draft)).content, "We launch in May.")
      // The revert is caused by the request that started the wait.
      const reverted = (yield* entries).filter((entry) => entry.event.documentId === draft).at(-1)!
      const requested = (yield* entries).find((entry) => entry.event.documentId === request)!
      assert.strictEqual(reverted.event.causationId, requested.event.eventId)

      yield* decide(request, "bob", { decision: "approved" })
      yield* saga.poll
      assert.strictEqual((yield* instanceOf(request)).status, "compensated")
      assert.strictEqual((yield* Documents.list()).filter((d) => d.title === "Launch plan (published)").length, 1)
    }).pipe(Effect.provide(layer)))

  it.effect("a step that fails after its retries: the copy is withdrawn, then the draft reverted, in that order", () =>
    Effect.gen(function*() {
      const saga = yield* Saga.runner(reviewAndPublish)
      const draft = yield* approvedThenEdited(saga)
      const request = yield* submit(draft, "bob").pipe(Access.as("ann"))
      yield* saga.poll
      let attempts = 0
      // From now on, telling ann that something is published fails.
      const failing = Layer.effect(
        Notifier.Notifier,
        Effect.map(Recorder.Recorder, (recorder) => ({
          notify: (to: string, message: string) =>
            to === "ann" && message.includes("is published")
              ? Effect.suspend(() => {
                attempts++
                return Effect.fail(new Errors.NotificationFailed({ to, reason: "mailbox full" }))
              })
              : Recorder.recordingNotifier(recorder).notify(to, message)
        }))
      )
      yield* decide(request, "bob", { decision: "approved" })
      yield* pollWithTime(saga).pipe(Effect.provide(failing))
      assert.strictEqual(attempts, 4)
      const done = yield* instanceOf(request)
      assert.strictEqual(done.status, "compensated")
      assert.strictEqual(done.reason, "step announce failed: could not notify ann: mailbox full")
      assert.deepStrictEqual(done.log.slice(-5), [
        "step announce failed: could not notify ann: mailbox full",
        "compensating: step announce failed: could not notify ann: mailbox full",
        "compensated publish",
        "compensated requestReview",
        "compensated"
      ])
      // In reverse order: the copy of version 2 deleted, then the draft reverted.
      const all = yield* entries
      const approval = all.filter((entry) => entry.event.documentId === request)[1]!
      const caused = all.filter((entry) => entry.event.causationId === approval.event.eventId)
      assert.deepStrictEqual(caused.map((entry) => entry.event._tag), [
        "DocumentCreated",
        "DocumentDeleted",
        "DocumentUpdated"
      ])
      assert.strictEqual(caused[1]!.event.documentId, caused[0]!.event.documentId)
      assert.strictEqual(caused[2]!.event.documentId, draft)
      assert.strictEqual((yield* Documents.get(draft)).content, "We launch in May.")
    }).pipe(Effect.provide(layer)))

  it("runs, printing both workflows and their traces", () => {
    const stdout = execFileSync(process.execPath, ["--import", "tsx", "review-and-publish.ts"], {
      cwd: join(import.meta.dirname, ".."),
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" }
    })
    assert.match(stdout, /workflow \S+: completed/)
    assert.match(stdout, /workflow \S+: compensated/)
    assert.match(stdout, /└─ reaction \S+ {2}by publisher/)
    assert.include(stdout, "draft now reads: We launch in May.")
  })
})
