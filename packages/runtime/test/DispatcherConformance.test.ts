import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Dispatcher from "../src/Dispatcher.js"
import * as NatsDispatcher from "../src/nats/NatsDispatcher.js"
import { conformance, Event, type Make } from "./DispatcherConformance.js"
import { clientLayer, scopedPrefix, sealedWire } from "./fixtures/nats.js"
import { masterKeys } from "./security/fixtures.js"

conformance({
  name: "in process",
  live: false,
  session: Effect.succeed<Make>((options) => Dispatcher.make<Event>(options))
})

conformance({
  name: "NATS JetStream, sealed",
  live: true,
  session: Effect.gen(function*() {
    const prefix = yield* scopedPrefix("conf")
    const context = yield* Layer.build(Layer.merge(clientLayer, sealedWire(masterKeys.k1)))
    return ((options) =>
      NatsDispatcher.make<Event>({ ...options, schema: Event, prefix, ackWait: "5 seconds" }).pipe(
        Effect.provide(context),
        Effect.orDie
      )) satisfies Make
  }).pipe(Effect.orDie)
})
