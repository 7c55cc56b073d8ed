/**
 * The in-memory journal: the `Journal` port for tests and throwaway runs. Append-only, with global
 * gap-free positions and the same optimistic-concurrency guard as the durable journals.
 *
 * @since 0.1.0
 */
import { type DocumentEvent, Errors, Journal, Outbox } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { checkBatch } from "./internal/appendCheck.js"
import { decodeEvent } from "./internal/eventRow.js"
import * as MemoryOutbox from "./internal/memoryOutbox.js"
import * as Vector from "./internal/vector.js"
import * as PayloadCodec from "./PayloadCodec.js"
import * as Upcasting from "./Upcasting.js"

const defaultPageSize = 1_000

/** The entries every connection to one in-memory journal shares. */
interface Log {
  entries: Vector.Vector<Journal.JournalEntry>
  readonly byDocument: Map<string, Vector.Vector<Journal.JournalEntry>>
  /** The forgotten documents, in the order they were recorded (sequence = index + 1). */
  readonly forgotten: Array<Journal.ForgottenRecord["documentId"]>
  /** The index of documents, in creation order. */
  readonly index: Array<Journal.DocumentSummary>
  readonly indexed: Map<string, number>
  /** The outbox: the effects recorded with the commands. */
  readonly effects: MemoryOutbox.EffectLog
}

/** Which log each connection reads and writes, so that `connect` can open another one to it. */
const logs = new WeakMap<Journal.JournalService, Log>()

/**
 * A connection to a log. Its state is plain variables changed in one synchronous step per append,
 * so an append is atomic without a `Ref`: `entries` and each document's vector are append-only
 * persistent views (see `internal/vector.ts`), so a read that took a view keeps seeing exactly what
 * was committed then. Its `changeToken` counts the entries other connections appended.
 */
const connectTo = (log: Log): Journal.JournalService => {
  let own = 0

  const append = (
    events: ReadonlyArray<DocumentEvent.DocumentEvent>,
    expectedVersion: number,
    effects?: ReadonlyArray<Outbox.Recorded>
  ): Effect.Effect<ReadonlyArray<Journal.JournalEntry>, Errors.VersionConflict | Errors.JournalError> =>
    Effect.suspend((): Effect.Effect<
      ReadonlyArray<Journal.JournalEntry>,
      Errors.VersionConflict | Errors.JournalError
    > => {
      const invalid = checkBatch(events, expectedVersion)
      if (invalid !== undefined) return Effect.fail(invalid)
      const documentId = events[0]!.documentId
      let stream = log.byDocument.get(documentId) ?? Vector.empty<Journal.JournalEntry>()
      if (stream.length !== expectedVersion) {
        return Effect.fail(new Errors.VersionConflict({ documentId, expected: expectedVersion, actual: stream.length }))
      }
      const committed: Array<Journal.JournalEntry> = []
      for (const event of events) {
        const entry = { position: log.entries.length + 1, event }
        log.entries = Vector.append(log.entries, entry)
        stream = Vector.append(stream, entry)
        committed.push(entry)
      }
      log.byDocument.set(documentId, stream)
      own += committed.length
      const deleted = events.some((event) => event._tag === "DocumentDeleted")
      const at = log.indexed.get(documentId)
      if (at === undefined) {
        log.indexed.set(documentId, log.index.length)
        log.index.push({
          documentId,
          sequence: committed[0]!.position,
          author: events[0]!.actor,
          version: stream.length,
          deleted
        })
      } else {
        // Changed in place: `documents` hands out copies.
        const summary = log.index[at] as { -readonly [K in keyof Journal.DocumentSummary]: Journal.DocumentSummary[K] }
        summary.version = stream.length
        if (deleted) summary.deleted = true
      }
      if (effects !== undefined && effects.length > 0) MemoryOutbox.record(log.effects, events, effects)
      return Effect.succeed(committed)
    })

  const paged = <A>(options: Journal.ReadOptions | undefined, f: (entry: Journal.JournalEntry) => A) => {
    const pageSize = options?.pageSize ?? defaultPageSize
    return Stream.paginateChunkEffect(options?.after ?? 0, (after) =>
      Effect.sync(() => {
        const page = Vector.slice(log.entries, after, after + pageSize)
        const next = after + page.length
        return [
          Chunk.unsafeFromArray(page.map(f)),
          page.length === pageSize && next < log.entries.length ? Option.some(next) : Option.none<number>()
        ] as const
      }))
  }

  const journal: Journal.JournalService = {
    append,
    read: (options) => paged(options, (entry) => entry),
    readHeaders: (options) =>
      paged(options, ({ event, position }) => ({
        position,
        documentId: event.documentId,
        version: event.version,
        eventType: event._tag
      })),
    readDocument: (documentId, options) =>
      Stream.suspend(() => {
        const stream = log.byDocument.get(documentId)
        return Stream.fromIterable(stream === undefined ? [] : Vector.slice(stream, (options?.fromVersion ?? 1) - 1))
      }),
    head: Effect.sync(() => log.entries.length),
    documents: (query) =>
      Effect.sync(() => {
        const include = query?.include ?? "live"
        const found: Array<Journal.DocumentSummary> = []
        for (const summary of log.index) {
          if (query?.limit !== undefined && found.length >= query.limit) break
          if (summary.sequence <= (query?.after ?? 0)) continue
          if (query?.author !== undefined && summary.author !== query.author) continue
          if (include === "live" ? summary.deleted : include === "deleted" ? !summary.deleted : false) continue
          if (log.forgotten.includes(summary.documentId)) continue
          found.push({ ...summary })
        }
        return found
      }),
    // Another connection's forgetting changes the token too.
    changeToken: Effect.sync(() => log.entries.length + log.forgotten.length - own),
    recordForgotten: (documentId) =>
      Effect.sync(() => {
        if (log.forgotten.includes(documentId)) return
        log.forgotten.push(documentId)
        own++
      }),
    readForgotten: (after) =>
      Effect.sync(() => log.forgotten.slice(after).map((documentId, i) => ({ sequence: after + i + 1, documentId })))
  }
  logs.set(journal, log)
  return journal
}

/**
 * Makes an empty in-memory journal.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<Journal.JournalService> = Effect.sync(() =>
  connectTo({
    entries: Vector.empty(),
    byDocument: new Map(),
    forgotten: [],
    index: [],
    indexed: new Map(),
    effects: MemoryOutbox.makeLog()
  })
)

/**
 * The outbox of an in-memory journal (made by `make`, or a connection to one): the effects its
 * appends recorded, shared by every connection.
 *
 * @since 0.1.0
 */
export const outbox = (journal: Journal.JournalService): Effect.Effect<Outbox.OutboxService> =>
  Effect.suspend(() => {
    const log = logs.get(journal)
    return log === undefined
      ? Effect.dieMessage("MemoryJournal.outbox takes a journal made by MemoryJournal")
      : Effect.succeed(MemoryOutbox.makeOutbox(log.effects))
  })

/**
 * The outbox of the in-memory journal in context (see `outbox`).
 *
 * @since 0.1.0
 */
export const layerOutbox: Layer.Layer<Outbox.Outbox, never, Journal.Journal> = Layer.effect(
  Outbox.Outbox,
  Effect.flatMap(Journal.Journal, outbox)
)

/**
 * Another connection to the same in-memory journal, as a second process would have to a durable
 * one: it reads what the first committed, and its `changeToken` changes when the first appends.
 *
 * @since 0.1.0
 */
export const connect = (journal: Journal.JournalService): Effect.Effect<Journal.JournalService> =>
  Effect.suspend(() => {
    const log = logs.get(journal)
    return log === undefined
      ? Effect.dieMessage("MemoryJournal.connect takes a journal made by MemoryJournal")
      : Effect.succeed(connectTo(log))
  })

/**
 * An in-memory journal holding stored rows (an export, a fixture of an older journal), read the way
 * a durable journal reads its rows: upcast by the `Upcasters` in context and checked against the
 * events' schemas. The rows must be in position order, one document's versions consecutive.
 *
 * @since 0.1.0
 */
export const makeFrom = (
  rows: ReadonlyArray<Upcasting.StoredEvent>
): Effect.Effect<Journal.JournalService, Errors.JournalError> =>
  Effect.gen(function*() {
    const journal = yield* make
    const upcasters = yield* Upcasting.Upcasters
    for (const row of rows) {
      const event = yield* decodeEvent(
        {
          document_id: row.documentId,
          version: row.version,
          event_id: row.eventId,
          event_type: row.eventType,
          schema_version: row.schemaVersion,
          occurred_at: row.occurredAt,
          actor: row.actor,
          correlation_id: row.correlationId,
          causation_id: row.causationId,
          encoding: "json",
          payload: new TextEncoder().encode(JSON.stringify(row.payload))
        },
        PayloadCodec.json,
        upcasters
      )
      const [entry] = yield* Effect.mapError(
        journal.append([event], event.version - 1),
        (error) => new Errors.JournalError({ reason: `row ${row.position} does not follow: ${error.message}` })
      )
      if (entry!.position !== row.position) {
        return yield* new Errors.JournalError({ reason: `row ${row.position} leaves a gap in the positions` })
      }
    }
    return journal
  })

/**
 * An in-memory journal holding stored rows (see `makeFrom`).
 *
 * @since 0.1.0
 */
export const layerFrom = (
  rows: ReadonlyArray<Upcasting.StoredEvent>
): Layer.Layer<Journal.Journal, Errors.JournalError> => Layer.effect(Journal.Journal, makeFrom(rows))

/**
 * An empty in-memory journal.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Journal.Journal> = Layer.effect(Journal.Journal, make)
