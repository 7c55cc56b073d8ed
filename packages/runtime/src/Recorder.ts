/**
 * The recorder of the test layers: every side effect a program had, in the order it happened, so a
 * test asserts what the program did, not only what it returned.
 *
 * @since 0.1.0
 */
import type { DocumentEvent, Journal, NervEvent, Notifier, Outbox } from "@nerv/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"

/**
 * One recorded side effect.
 *
 * @since 0.1.0
 */
export type SideEffect =
  | { readonly _tag: "Appended"; readonly events: ReadonlyArray<DocumentEvent.DocumentEvent> }
  | { readonly _tag: "Published"; readonly event: NervEvent.NervEvent }
  | { readonly _tag: "Notified"; readonly to: string; readonly message: string }
  /** An effect recorded in the outbox with a command's events: what the program intends. */
  | { readonly _tag: "EffectRecorded"; readonly id: string; readonly type: string; readonly payload: unknown }
  /** An effect a performer performed: what the world saw (see `Performers.drain`). */
  | { readonly _tag: "EffectPerformed"; readonly id: string; readonly type: string; readonly payload: unknown }
  | {
    readonly _tag: "Logged"
    readonly level: string
    readonly message: string
    readonly annotations: Readonly<Record<string, unknown>>
  }

/**
 * @since 0.1.0
 */
export interface RecorderService {
  readonly record: (effect: SideEffect) => Effect.Effect<void>
  /** Everything recorded so far, oldest first. */
  readonly entries: Effect.Effect<ReadonlyArray<SideEffect>>
  /** Only the entries of one kind. */
  readonly ofKind: <K extends SideEffect["_tag"]>(
    kind: K
  ) => Effect.Effect<ReadonlyArray<Extract<SideEffect, { readonly _tag: K }>>>
}

/**
 * @since 0.1.0
 */
export class Recorder extends Context.Tag("@nerv/runtime/Recorder")<Recorder, RecorderService>() {}

const make = (): RecorderService & { readonly unsafeRecord: (effect: SideEffect) => void } => {
  const recorded: Array<SideEffect> = []
  const unsafeRecord = (effect: SideEffect) => {
    recorded.push(effect)
  }
  return {
    unsafeRecord,
    record: (effect) => Effect.sync(() => unsafeRecord(effect)),
    entries: Effect.sync(() => recorded.slice()),
    ofKind: (kind) =>
      Effect.sync(() =>
        recorded.filter((effect): effect is Extract<SideEffect, { readonly _tag: typeof kind }> => effect._tag === kind)
      )
  }
}

/**
 * A journal that records every successful append, and the effects recorded with it.
 *
 * @since 0.1.0
 */
export const recordingJournal = (
  journal: Journal.JournalService,
  recorder: RecorderService
): Journal.JournalService => ({
  ...journal,
  append: (events, expectedVersion, effects) =>
    Effect.tap(journal.append(events, expectedVersion, effects), () =>
      Effect.zipRight(
        recorder.record({ _tag: "Appended", events }),
        Effect.forEach(
          effects ?? [],
          (effect) =>
            recorder.record({ _tag: "EffectRecorded", id: effect.id, type: effect.type, payload: effect.payload }),
          { discard: true }
        )
      ))
})

/**
 * Records an effect a performer performed (`Performers.Options.onPerformed`).
 *
 * @since 0.1.0
 */
export const recordPerformed = (recorder: RecorderService) => (effect: Outbox.EffectRecord) =>
  recorder.record({ _tag: "EffectPerformed", id: effect.id, type: effect.type, payload: effect.payload })

/**
 * Records a batch the bus delivered, as `EventBus.make({ onDelivered })` hands it over: after
 * middleware, so a dropped event is not recorded as published.
 *
 * @since 0.1.0
 */
export const recordDelivered = (recorder: RecorderService) => (events: ReadonlyArray<NervEvent.NervEvent>) =>
  Effect.forEach(events, (event) => recorder.record({ _tag: "Published", event }), { discard: true })

/**
 * A notifier that records every notification and delivers none.
 *
 * @since 0.1.0
 */
export const recordingNotifier = (recorder: RecorderService): Notifier.NotifierService => ({
  notify: (to, message) => recorder.record({ _tag: "Notified", to, message })
})

/**
 * A fresh recorder, with a logger that records every log line instead of printing it.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Recorder> = Layer.unwrapEffect(Effect.sync(() => {
  const recorder = make()
  const logger = Logger.make(({ annotations, logLevel, message }) =>
    recorder.unsafeRecord({
      _tag: "Logged",
      level: logLevel.label,
      message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
      annotations: Object.fromEntries(annotations)
    })
  )
  return Layer.merge(Layer.succeed(Recorder, recorder), Logger.replace(Logger.defaultLogger, logger))
}))
