import { assert, describe, it } from "@effect/vitest"
import { Decider, type Document, type DocumentEvent, type DocumentStore, Journal } from "@nerv/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { MemoryJournal, VersionedStore } from "../src/index.js"
import { forgetDocument, forgetEvent } from "../src/internal/forgotten.js"
import * as StoreState from "../src/internal/storeState.js"
import { backends } from "./fixtures/backends.js"
import { created, deleted, idOf, updated } from "./fixtures/events.js"

/**
 * The store keeps every event but a document's state only at its latest version and every
 * `checkpointEvery` versions; these tests check that every other state it answers with is the
 * plain fold of the events, across checkpoints, compaction and forgetting.
 */

const K = StoreState.checkpointEvery

/** A document's events: created, updated (title or content) and, maybe, deleted last. */
const eventsOf = (doc: number, length: number, deletedLast: boolean): Array<DocumentEvent.DocumentEvent> =>
  Array.from({ length }, (_, i) => {
    const version = i + 1
    if (version === 1) return created(doc)
    if (deletedLast && version === length) return deleted(doc, version)
    return updated(
      doc,
      version,
      version % 3 === 0 ? { title: `t ${doc}.${version}` } : { content: `${doc}.${version}` }
    )
  })

/** The states of a document's events, by version (index 0 unused). */
const statesOf = (events: ReadonlyArray<DocumentEvent.DocumentEvent>): Array<Document.Document> => {
  const states: Array<Document.Document> = []
  events.forEach((event, i) => states[i + 1] = Decider.fold([event], states[i])!)
  return states
}

/**
 * Up to three documents with histories long enough to cross a few checkpoints, interleaved in a
 * random order and cut into random batches.
 */
const workload = FastCheck.record({
  lengths: FastCheck.array(FastCheck.integer({ min: 1, max: 3 * K + 5 }), { minLength: 1, maxLength: 3 }),
  deletedLast: FastCheck.array(FastCheck.boolean(), { minLength: 3, maxLength: 3 }),
  picks: FastCheck.array(FastCheck.nat(), { minLength: 400, maxLength: 400 }),
  cuts: FastCheck.array(FastCheck.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 40 }),
  compactAt: FastCheck.array(FastCheck.double({ min: 0, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }),
  forgotten: FastCheck.integer({ min: 0, max: 3 })
}).map(({ compactAt, cuts, deletedLast, forgotten, lengths, picks }) => {
  const histories = lengths.map((length, i) => eventsOf(i + 1, length, deletedLast[i]!))
  // Interleave: each step takes the next event of a document picked among those with events left.
  const next = histories.map(() => 0)
  const order: Array<DocumentEvent.DocumentEvent> = []
  for (let step = 0; order.length < histories.reduce((n, h) => n + h.length, 0); step++) {
    const open = histories.map((_, i) => i).filter((i) => next[i]! < histories[i]!.length)
    const doc = open[picks[step % picks.length]! % open.length]!
    order.push(histories[doc]![next[doc]!++]!)
  }
  const batches: Array<Array<DocumentEvent.DocumentEvent>> = []
  for (let at = 0, i = 0; at < order.length; i++) {
    const size = cuts[i % cuts.length]!
    batches.push(order.slice(at, at + size))
    at += size
  }
  return {
    histories,
    batches,
    // Where each document is compacted: a version from 1 to its latest.
    compactAt: histories.map((h, i) => Math.max(1, Math.ceil(compactAt[i]! * h.length))),
    forgotten: forgotten > 0 && forgotten <= histories.length ? forgotten : undefined
  }
})

/** Every read of a document's content answers with the fold of its events. */
const checkReads = (
  store: VersionedStore.VersionedStoreService,
  doc: number,
  events: ReadonlyArray<DocumentEvent.DocumentEvent>
) =>
  Effect.gen(function*() {
    const states = statesOf(events)
    const expected: Array<DocumentStore.DocumentVersion> = events.map((event, i) => ({
      version: i + 1,
      document: states[i + 1]!,
      event
    }))
    assert.deepStrictEqual(yield* store.history(idOf(doc)), expected)
    assert.deepStrictEqual(yield* store.get(idOf(doc)), states[events.length])
    for (let version = 1; version <= events.length; version++) {
      assert.deepStrictEqual(yield* store.getAt(idOf(doc), version), states[version])
      assert.deepStrictEqual(yield* store.asOf(idOf(doc), events[version - 1]!.occurredAt), states[version])
    }
    const before = DateTime.subtract(events[0]!.occurredAt, { millis: 1 })
    assert.strictEqual((yield* Effect.flip(store.asOf(idOf(doc), before)))._tag, "NotYetCreated")
    assert.deepStrictEqual(
      (yield* store.shape(idOf(doc))).map((shape) => [shape.version, shape.event, shape.occurredAt]),
      events.map((event) => [event.version, event._tag, event.occurredAt])
    )
  })

/** The journals the store is checked over: memory (many runs), and each durable one (a few). */
const journals: ReadonlyArray<{
  readonly name: string
  readonly journal: Effect.Effect<Journal.JournalService, never, Scope.Scope>
  readonly runs: number
}> = [
  { name: "memory", journal: MemoryJournal.make, runs: 60 },
  ...backends.map((backend) => ({
    name: backend.name,
    journal: Effect.flatMap(
      backend.database,
      (address) => Effect.map(Layer.build(backend.journal(address)), Context.get(Journal.Journal))
    ).pipe(Effect.orDie),
    runs: 5
  }))
]

describe("VersionedStore checkpoints", () => {
  for (const subject of journals) {
    it.effect.prop(
      `${subject.name}: every version's state, read or in a history, is the fold of the events: across checkpoints, after compact, forgotten`,
      [workload],
      ([{ batches, compactAt, forgotten, histories }]) =>
        Effect.gen(function*() {
          const journal = yield* subject.journal
          const store = yield* VersionedStore.makeWith({ journal })
          const latest = new Map<string, number>()
          for (const batch of batches) {
            for (const [id, events] of groupBy(batch)) {
              yield* journal.append(events, latest.get(id) ?? 0)
              latest.set(id, events[events.length - 1]!.version)
            }
            yield* store.apply(batch)
          }
          for (const [i, events] of histories.entries()) yield* checkReads(store, i + 1, events)

          // Compacted: the versions up to the floor are read from the journal, the others folded in memory.
          for (const [i, events] of histories.entries()) {
            yield* store.compact(idOf(i + 1), compactAt[i]!)
            const window = Option.getOrThrow(yield* store.windowOf(idOf(i + 1)))
            assert.deepStrictEqual(window, { floor: compactAt[i]!, latest: events.length, forgotten: false })
            yield* checkReads(store, i + 1, events)
          }

          // Versions added after a compaction start from the floor's state.
          const grown = histories.map((events, i) => {
            if (events[events.length - 1]!._tag === "DocumentDeleted") return events
            const more = eventsOf(i + 1, events.length + K + 1, false).slice(events.length)
            return [...events, ...more]
          })
          for (const [i, events] of grown.entries()) {
            const more = events.slice(histories[i]!.length)
            if (more.length === 0) continue
            yield* journal.append(more, histories[i]!.length)
            yield* store.apply(more)
          }
          for (const [i, events] of grown.entries()) yield* checkReads(store, i + 1, events)

          if (forgotten !== undefined) {
            yield* store.forget(idOf(forgotten))
            const id = idOf(forgotten)
            const reads: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string }>> = [
              store.get(id),
              store.getAt(id, 1),
              store.asOf(id, grown[0]![0]!.occurredAt),
              store.history(id)
            ]
            for (const read of reads) {
              assert.strictEqual((yield* Effect.flip(read))._tag, "DocumentForgotten")
            }
            const events = grown[forgotten - 1]!
            assert.deepStrictEqual(
              (yield* store.shape(idOf(forgotten))).map((shape) => shape.version),
              events.map((event) => event.version)
            )
            for (const [i, other] of grown.entries()) if (i + 1 !== forgotten) yield* checkReads(store, i + 1, other)
          }
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns: subject.runs } }
    )
  }

  it.prop(
    "an old state never sees what was applied to it later, and a forgotten entry's states are the forgotten fold",
    [FastCheck.integer({ min: 1, max: 3 * K }), FastCheck.integer({ min: 1, max: 2 * K }), FastCheck.nat(3 * K)],
    ([first, more, compactAt]) => {
      const events = eventsOf(1, first + more, false)
      const states = statesOf(events)
      const stateAt = (state: StoreState.State, version: number) =>
        StoreState.documentAt(Option.getOrThrow(HashMap.get(state.documents, idOf(1))), version)
      const s1 = Either.getOrThrow(StoreState.applyAll(StoreState.emptyState, events.slice(0, first)))
      const s2 = Either.getOrThrow(StoreState.applyAll(s1, events.slice(first)))
      // Appending to s1 again (a different next version) must neither change s1 nor s2.
      const other = updated(1, first + 1, { content: "other" })
      const s3 = Either.getOrThrow(StoreState.applyAll(s1, [other]))
      // A refused batch changes nothing either.
      assert.isTrue(Either.isLeft(StoreState.applyAll(s1, [other, updated(1, first + 3, {})])))
      for (let v = 1; v <= first; v++) {
        assert.deepStrictEqual(stateAt(s1, v), states[v])
        assert.deepStrictEqual(stateAt(s3, v), states[v])
      }
      assert.deepStrictEqual(stateAt(s3, first + 1), Decider.evolve(states[first], other))
      for (let v = 1; v <= first + more; v++) assert.deepStrictEqual(stateAt(s2, v), states[v])
      assert.strictEqual(StoreState.latestVersion(Option.getOrThrow(HashMap.get(s1.documents, idOf(1)))), first)

      const floor = Math.min(Math.max(1, compactAt), first + more)
      const compacted = StoreState.compact(s2, idOf(1), floor)
      for (let v = floor; v <= first + more; v++) assert.deepStrictEqual(stateAt(compacted, v), states[v])
      for (let v = 1; v <= first + more; v++) assert.deepStrictEqual(stateAt(s2, v), states[v])

      const forgotten = StoreState.forget(compacted, idOf(1))
      const entry = Option.getOrThrow(HashMap.get(forgotten.documents, idOf(1)))
      assert.isTrue(entry.forgotten)
      assert.deepStrictEqual(
        StoreState.heldVersions(entry),
        events.slice(floor).map((event, i) => ({
          version: floor + i + 1,
          document: forgetDocument(states[floor + i + 1]!),
          event: forgetEvent(event)
        }))
      )
      for (let v = floor; v <= first + more; v++) {
        assert.deepStrictEqual(stateAt(forgotten, v), forgetDocument(states[v]!))
        assert.deepStrictEqual(stateAt(compacted, v), states[v])
      }
    }
  )
})

/** A batch's events by document, in order (what the journal appends one document at a time). */
const groupBy = (batch: ReadonlyArray<DocumentEvent.DocumentEvent>) => {
  const groups = new Map<string, Array<DocumentEvent.DocumentEvent>>()
  for (const event of batch) {
    const group = groups.get(event.documentId) ?? []
    group.push(event)
    groups.set(event.documentId, group)
  }
  return groups
}
