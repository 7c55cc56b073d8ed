/**
 * The ready-made layers: everything NERV's programs need, wired together.
 *
 * @since 0.1.0
 */
import { type DocumentStore, EventBus as Port, type IdGenerator, Journal, Notifier as NotifierPort } from "@nerv/core"
import type { NervEvent } from "@nerv/core"
import { MemoryJournal, VersionedStore } from "@nerv/store"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as EventBus from "./EventBus.js"
import * as Ids from "./Ids.js"
import * as Notifier from "./Notifier.js"
import * as Recorder from "./Recorder.js"

/**
 * The services every document program needs.
 *
 * @since 0.1.0
 */
export type Services =
  | Journal.Journal
  | DocumentStore.DocumentStore
  | Port.EventBus
  | NotifierPort.Notifier
  | IdGenerator.IdGenerator

/**
 * Everything in memory, with random ids, real time and console notifications: for trying NERV out
 * and for programs whose documents need not outlive the process.
 *
 * @since 0.1.0
 */
export const layerMemory = (options?: { readonly bus?: EventBus.Options }): Layer.Layer<Services> =>
  Layer.mergeAll(
    VersionedStore.layerFromJournal.pipe(Layer.provideMerge(MemoryJournal.layer), Layer.orDie),
    EventBus.layer(options?.bus),
    Notifier.layerConsole,
    Ids.layerRandom
  )

/**
 * The test layer: in-memory journal and store, a bus, sequential ids, and a `Recorder` that keeps
 * every side effect in order (journal appends, published events, notifications, log lines; logs
 * are recorded instead of printed). Time is Effect's `Clock`, so under `it.effect` it is the
 * `TestClock`. Each build is fresh and isolated.
 *
 * @since 0.1.0
 */
export const layerTest: Layer.Layer<Services | Recorder.Recorder> = Layer.mergeAll(
  VersionedStore.layerFromJournal.pipe(
    Layer.provideMerge(Layer.effect(
      Journal.Journal,
      Effect.zipWith(MemoryJournal.make, Recorder.Recorder, Recorder.recordingJournal)
    )),
    Layer.orDie
  ),
  Layer.scoped(
    Port.EventBus,
    Effect.flatMap(
      Effect.zip(EventBus.make<NervEvent.NervEvent>(), Recorder.Recorder),
      ([bus, recorder]) => Recorder.recordingBus(bus, recorder)
    )
  ),
  Layer.effect(NotifierPort.Notifier, Effect.map(Recorder.Recorder, Recorder.recordingNotifier)),
  Ids.layerSequential
).pipe(Layer.provideMerge(Recorder.layer))
