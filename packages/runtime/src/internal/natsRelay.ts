/**
 * The two halves of `NatsEvents`: `publishCommitted` tails the journal and appends what it
 * committed to the events stream, in position order, with no gap; `deliverCommitted` follows the
 * stream from a position and hands each event to a callback, in position order, with no gap and no
 * duplicate, reading from the journal whatever the stream cannot give it.
 *
 * The stream holds one message per journal position, appended only with JetStream's expected last
 * sequence, so that several nodes tailing one journal never interleave or repeat positions: a node
 * whose expectation is stale learns where the stream is and carries on from there.
 */
import { DeliverPolicy, DiscardPolicy, type JsMsg, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { headers } from "@nats-io/transport-node"
import type { DocumentEvent, Errors, Journal } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import { attempt, type NatsClientService, NatsError } from "../nats/NatsClient.js"
import type { Codec, MessageUnreadable } from "../security/BusCodec.js"

/**
 * One committed event as it travels: its journal position and the event.
 *
 * @since 0.1.0
 */
export interface Committed {
  readonly position: number
  readonly event: DocumentEvent.DocumentEvent
}

/**
 * The names of a prefix's events stream.
 *
 * @since 0.1.0
 */
export const names = (prefix: string) => ({ stream: `${prefix}-events`, subject: `${prefix}.events` })

const positionHeader = "Nerv-Position"

/**
 * @since 0.1.0
 */
export interface Wiring {
  readonly client: NatsClientService
  readonly stream: string
  readonly subject: string
  readonly codec: Codec<Committed>
  readonly journal: Journal.JournalService
  readonly pageSize: number
}

/**
 * Creates the events stream unless it exists.
 *
 * @since 0.1.0
 */
export const ensureStream = (
  client: NatsClientService,
  stream: string,
  subject: string,
  settings: { readonly storage: "file" | "memory"; readonly maxAgeMs: number }
): Effect.Effect<void, NatsError> =>
  attempt(`create stream ${stream}`, async () => {
    const config = {
      name: stream,
      subjects: [subject],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      storage: settings.storage === "memory" ? StorageType.Memory : StorageType.File,
      max_age: Math.round(settings.maxAgeMs * 1e6),
      duplicate_window: 60 * 1e9
    }
    await client.manager.streams.info(stream).catch(() =>
      client.manager.streams.add(config).catch(async (error) => {
        await client.manager.streams.info(stream).catch(() => Promise.reject(error))
      })
    )
  })

/**
 * The stream's last message: its sequence and the position it carries (0 and 0 when empty).
 *
 * @since 0.1.0
 */
export const tail = (wiring: Wiring): Effect.Effect<{ readonly seq: number; readonly position: number }, NatsError> =>
  attempt("read the events stream's tail", async () => {
    const info = await wiring.client.manager.streams.info(wiring.stream)
    if (info.state.messages === 0) return { seq: info.state.last_seq, position: 0 }
    const last = await wiring.client.manager.streams.getMessage(wiring.stream, { last_by_subj: wiring.subject })
    if (last === null) return { seq: info.state.last_seq, position: 0 }
    return { seq: last.seq, position: Number(last.header.get(positionHeader)) || 0 }
  })

const wrongLastSequence = (error: NatsError) => {
  const cause = error.cause as { readonly code?: unknown; readonly message?: unknown } | undefined
  return cause?.code === 10071 || (typeof cause?.message === "string" && cause.message.includes("wrong last sequence"))
}

const readPage = (journal: Journal.JournalService, after: number, pageSize: number) =>
  Effect.map(Stream.runCollect(Stream.take(journal.read({ after, pageSize }), pageSize)), Chunk.toReadonlyArray)

/**
 * One step of the publisher: appends the journal's entries after what the stream holds (one page
 * at most). Returns how many it appended; 0 when the stream is caught up (or another node appended
 * first: the next step starts from where that one got).
 *
 * When the stream is empty (new, or everything in it expired) it starts after `startAfter` (the
 * journal's head when the node started, or the last position it knows was relayed): history is
 * for the journal, the stream carries what is committed from then on.
 *
 * @since 0.1.0
 */
export const publishStep = (
  wiring: Wiring,
  startAfter: number
): Effect.Effect<number, NatsError | Errors.JournalError> =>
  Effect.gen(function*() {
    const last = yield* tail(wiring)
    const after = last.position === 0 ? startAfter : last.position
    const page = yield* readPage(wiring.journal, after, wiring.pageSize)
    if (page.length === 0) return 0
    const bodies = yield* Effect.forEach(page, (entry) => wiring.codec.encode(entry))
    const appended = yield* attempt("append to the events stream", () =>
      // Pipelined: each message expects the one before it, so the page lands in order, whole up to
      // the first refusal, and a refusal (another node got there first) stops the rest.
      Promise.allSettled(page.map((entry, i) => {
        const h = headers()
        h.set(positionHeader, String(entry.position))
        return wiring.client.jetstream.publish(wiring.subject, bodies[i]!, {
          msgID: `position-${entry.position}`,
          headers: h,
          expect: { lastSequence: last.seq + i }
        })
      }))).pipe(Effect.map((results) => {
        let n = 0
        while (n < results.length && results[n]!.status === "fulfilled") n++
        return { n, firstError: results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined }
      }))
    if (appended.firstError !== undefined) {
      const error = new NatsError({
        operation: "append to the events stream",
        cause: appended.firstError.reason
      })
      if (!wrongLastSequence(error)) return yield* Effect.fail(error)
    }
    return appended.n
  })

/**
 * Follows the stream from after `position` and calls `deliver` with each committed event in
 * position order, each once; an event the stream lacks (expired, or sealed under a key this node
 * does not hold) is read from the journal instead. Runs until interrupted or until NATS fails.
 *
 * @since 0.1.0
 */
export const deliverFrom = (
  wiring: Wiring,
  position: number,
  deliver: (entry: Committed) => Effect.Effect<void>,
  onUnreadable: (error: MessageUnreadable) => Effect.Effect<void>
): Effect.Effect<never, NatsError | Errors.JournalError> =>
  Effect.gen(function*() {
    let next = position + 1
    const fill = (upTo: number) =>
      Effect.gen(function*() {
        while (next <= upTo) {
          const page = yield* readPage(wiring.journal, next - 1, Math.min(wiring.pageSize, upTo - next + 1))
          if (page.length === 0) return
          for (const entry of page) {
            if (entry.position !== next) continue
            yield* deliver(entry)
            next++
          }
        }
      })
    const handle = (msg: JsMsg) =>
      Effect.gen(function*() {
        const at = Number(msg.headers?.get(positionHeader))
        if (!Number.isSafeInteger(at) || at < next) return
        if (at > next) yield* fill(at - 1)
        const decoded = yield* Effect.either(wiring.codec.decode(msg.data))
        if (Either.isLeft(decoded)) {
          yield* onUnreadable(decoded.left)
          return yield* fill(at)
        }
        if (decoded.right.position !== at) return yield* fill(at)
        yield* deliver(decoded.right)
        next = at + 1
      })
    // One round: what was committed up to the stream's tail comes from the journal, then the stream
    // from there on, in batches. A batch that brings nothing while the stream holds positions this
    // node has not delivered (a consumer that lost its way across a reconnect) ends the round, and
    // the next one starts from the journal again: no reconnect can leave a gap or stall delivery.
    const round = Effect.gen(function*() {
      const last = yield* tail(wiring)
      yield* fill(last.position)
      const consumer = yield* attempt("follow the events stream", () =>
        wiring.client.jetstream.consumers.get(wiring.stream, {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: last.seq + 1
        }))
      for (;;) {
        const batch = yield* attempt("read the events stream", async () => {
          const messages = await consumer.fetch({ max_messages: wiring.pageSize, expires: 2_000 })
          return messages[Symbol.asyncIterator]()
        })
        let received = 0
        for (;;) {
          const result = yield* attempt("read the events stream", () =>
            batch.next())
          if (result.done === true) {
            break
          }
          received++
          yield* handle(result.value)
        }
        if (received === 0 && (yield* tail(wiring)).position >= next) {
          return
        }
      }
    })
    return yield* Effect.forever(round)
  })
