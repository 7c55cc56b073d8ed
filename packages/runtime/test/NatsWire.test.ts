import { assert, describe, it } from "@effect/vitest"
import type { Msg } from "@nats-io/transport-node"
import { Document, DocumentEvent, Journal, NervEvent } from "@nerv/core"
import { MemoryJournal } from "@nerv/store"
import * as ConfigProvider from "effect/ConfigProvider"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as NatsClient from "../src/nats/NatsClient.js"
import * as NatsDispatcher from "../src/nats/NatsDispatcher.js"
import * as NatsEvents from "../src/nats/NatsEvents.js"
import * as BusCodec from "../src/security/BusCodec.js"
import * as Cipher from "../src/security/Cipher.js"
import * as Keyring from "../src/security/Keyring.js"
import { natsUrl, scopedPrefix, sealedWire } from "./fixtures/nats.js"
import { masterKeys } from "./security/fixtures.js"

const secret = { title: "TOP-SECRET-TITLE", content: "TOP-SECRET-CONTENT", actor: "secret-actor-ann" }

const created = (n: number) =>
  new DocumentEvent.DocumentCreated({
    eventId: `30000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`,
    documentId: Document.DocumentId.make(`00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`),
    version: 1,
    occurredAt: DateTime.unsafeMake(Date.UTC(2026, 10, 1)),
    actor: secret.actor,
    correlationId: "c",
    causationId: "c",
    title: secret.title,
    content: secret.content
  })

interface Captured {
  readonly subject: string
  /** Headers and body, as they crossed the wire. */
  readonly wire: Buffer
  readonly body: Uint8Array
}

/** Every message published under the prefix, as the wire carries it. */
const capture = (prefix: string) =>
  Effect.gen(function*() {
    const client = yield* NatsClient.NatsClient
    const captured: Array<Captured> = []
    const subscription = client.connection.subscribe(`${prefix}.>`, {
      callback: (_error, msg: Msg) => {
        const head = msg.headers === undefined
          ? ""
          : [...msg.headers.keys()].map((k) => `${k}:${msg.headers!.get(k)}`).join("\n")
        captured.push({
          subject: msg.subject,
          wire: Buffer.concat([Buffer.from(head), Buffer.from(msg.data)]),
          body: new Uint8Array(msg.data)
        })
      }
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => subscription.unsubscribe()))
    yield* Effect.promise(() => client.connection.flush())
    return captured
  })

const dispatcherOf = (prefix: string, options?: Partial<NatsDispatcher.Options<NervEvent.NervEvent>>) =>
  NatsDispatcher.make<NervEvent.NervEvent>({
    schema: NervEvent.NervEvent,
    prefix,
    ackWait: "5 seconds",
    retry: Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(1))) as any,
    ...options
  })

const client = NatsClient.layer({ servers: natsUrl, name: "nerv-wire-test" })

describe("on the wire", () => {
  it.scopedLive("sealed: no captured message holds a title, content or actor, on any of the streams", () =>
    Effect.gen(function*() {
      const prefix = yield* scopedPrefix("wire")
      const captured = yield* capture(prefix)
      const dispatcher = yield* dispatcherOf(prefix)
      const handled: Array<string> = []
      yield* dispatcher.register("DocumentCreated", (e) => Effect.sync(() => handled.push(e.title)), { name: "ok" })
      yield* dispatcher.register("DocumentCreated", () => Effect.fail(secret.content), { name: "fails" })
      yield* dispatcher.publish(created(1))
      yield* dispatcher.publish(created(2), { delay: "100 millis" })
      for (let i = 0; i < 100 && handled.length < 2; i++) yield* Effect.sleep("20 millis")
      yield* dispatcher.awaitIdle
      assert.deepStrictEqual(handled, [secret.title, secret.title])
      // The dead letters' causes (here the failure is the content itself) are sealed too.
      assert.strictEqual((yield* dispatcher.deadLetters).length, 2)
      const journal = yield* MemoryJournal.make
      const { bus, events } = yield* NatsEvents.make({ prefix, storage: "memory" }).pipe(
        Effect.provideService(Journal.Journal, journal)
      )
      yield* journal.append([created(3)], 0)
      yield* bus.publish(created(3))
      yield* events.awaitDelivered(1)
      yield* Effect.flatMap(NatsClient.NatsClient, (c) => Effect.promise(() => c.connection.flush()))
      const kinds = new Set(captured.map((c) => c.subject.split(".")[1]))
      for (const kind of ["work", "delay", "dlq", "events"]) assert.isTrue(kinds.has(kind), `captured ${kind}`)
      for (const { subject, wire } of captured) {
        for (const word of Object.values(secret)) assert.isFalse(wire.includes(word), `${word} on ${subject}`)
      }
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(client, sealedWire(masterKeys.k1)))))

  it.scopedLive("a flipped byte is refused with a typed error, and the dispatcher carries on", () =>
    Effect.gen(function*() {
      const prefix = yield* scopedPrefix("wire")
      const captured = yield* capture(prefix)
      const refused: Array<BusCodec.MessageUnreadable> = []
      const dispatcher = yield* dispatcherOf(prefix, {
        onUnreadable: (error) => Effect.sync(() => refused.push(error))
      })
      const handled: Array<string> = []
      yield* dispatcher.register("DocumentCreated", (e) => Effect.sync(() => handled.push(e.eventId)), { name: "h" })
      yield* dispatcher.publish(created(1))
      yield* dispatcher.awaitIdle
      const original = captured.find((c) => c.subject.includes(".work."))!
      const nats = yield* NatsClient.NatsClient
      for (const position of [0, 5, 20, original.body.length - 1]) {
        const flipped = new Uint8Array(original.body)
        flipped[position] = flipped[position]! ^ 0x01
        yield* Effect.promise(() => nats.jetstream.publish(original.subject, flipped))
      }
      yield* dispatcher.publish(created(2))
      yield* dispatcher.awaitIdle
      assert.deepStrictEqual(handled, [created(1).eventId, created(2).eventId])
      assert.isAtLeast(refused.length, 4)
      for (const error of refused) assert.strictEqual(error._tag, "MessageUnreadable")
      // Kept as they came, after the retries; this process cannot read them, so it lists none.
      assert.strictEqual((yield* dispatcher.snapshot).deadLetters, 4)
      assert.deepStrictEqual(yield* dispatcher.deadLetters, [])
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(client, sealedWire(masterKeys.k1)))))

  it.scopedLive("a node without the key gets a typed error for the message, keeps running, and a node with it reads the letter", () =>
    Effect.gen(function*() {
      const prefix = yield* scopedPrefix("wire")
      const keyed = yield* dispatcherOf(prefix).pipe(Effect.provide(sealedWire(masterKeys.k1)))
      const refused: Array<BusCodec.MessageUnreadable> = []
      const stranger = yield* dispatcherOf(prefix, {
        onUnreadable: (error) => Effect.sync(() => refused.push(error))
      }).pipe(Effect.provide(sealedWire(masterKeys.k2)))
      const handled: Array<string> = []
      yield* stranger.register("DocumentCreated", (e) => Effect.sync(() => handled.push(e.eventId)), { name: "h" })
      yield* keyed.publish(created(1))
      yield* stranger.awaitIdle
      // Its own messages it reads: it kept running.
      yield* stranger.publish(created(2))
      yield* stranger.awaitIdle
      assert.deepStrictEqual(handled, [created(2).eventId])
      assert.isAtLeast(refused.length, 1)
      assert.strictEqual(refused[0]!._tag, "MessageUnreadable")
      assert.include(refused[0]!.reason, "does not hold")
      const [letter] = yield* keyed.deadLetters
      assert.strictEqual(letter!.event.eventId, created(1).eventId)
      assert.strictEqual(letter!.handler, "h")
      assert.strictEqual((letter!.cause as { _tag: string; error: { _tag: string } }).error._tag, "MessageUnreadable")
    }).pipe(Effect.scoped, Effect.provide(client)))

  it.scopedLive("plaintext (NERV_ENCRYPTION=off, any case): a warning on standard error, and events round-trip in clear", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      // What goes to standard error while the layer is built.
      const error = globalThis.console.error
      const wire = yield* Effect.acquireUseRelease(
        Effect.sync(() => {
          globalThis.console.error = (...args: ReadonlyArray<unknown>) => warnings.push(args.join(" "))
        }),
        () =>
          Layer.build(
            // The cipher would fail to build (no key): with encryption off it is never built.
            BusCodec.layerWireConfig(Cipher.layer.pipe(Layer.provide(Keyring.layerConfig)))
          ).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["NERV_ENCRYPTION", "OFF"]])))),
        () =>
          Effect.sync(() => {
            globalThis.console.error = error
          })
      )
      const plaintext = wire.unsafeMap.get(BusCodec.WireCodec.key) as { readonly sealed: boolean }
      assert.isFalse(plaintext.sealed)
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0]!, "OFF")
      const prefix = yield* scopedPrefix("wire")
      const captured = yield* capture(prefix)
      const dispatcher = yield* dispatcherOf(prefix).pipe(Effect.provide(wire))
      const received: Array<DocumentEvent.DocumentEvent> = []
      yield* dispatcher.register("DocumentCreated", (e) => Effect.sync(() => received.push(e)), { name: "h" })
      yield* dispatcher.publish(created(1))
      yield* dispatcher.awaitIdle
      assert.deepStrictEqual(received, [created(1)])
      const work = captured.find((c) => c.subject.includes(".work."))!
      assert.isTrue(Buffer.from(work.body).includes(secret.content))
    }).pipe(Effect.scoped, Effect.provide(client)))
})
