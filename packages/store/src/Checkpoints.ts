/**
 * Where read models keep their progress: a projection's state and the journal position it
 * reflects, stored together in one write, so that after a crash a projection resumes exactly where
 * its last write left it. The SQLite journal keeps them in its database (`SqliteJournal.layer`);
 * `layerMemory` keeps them in memory.
 *
 * @since 0.1.0
 */
import type { Errors } from "@nerv/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * A projection's stored progress: the encoded state and the position it reflects.
 *
 * @since 0.1.0
 */
export interface Checkpoint {
  readonly position: number
  readonly state: unknown
}

/**
 * @since 0.1.0
 */
export interface CheckpointsService {
  readonly load: (name: string) => Effect.Effect<Option.Option<Checkpoint>, Errors.JournalError>
  /** Stores the state and its position together, atomically. */
  readonly save: (name: string, checkpoint: Checkpoint) => Effect.Effect<void, Errors.JournalError>
}

/**
 * Where projections keep their checkpoints. `SqliteJournal.layer` keeps them in the journal
 * database; `layerCheckpointsMemory` in memory.
 *
 * @since 0.1.0
 */
export class Checkpoints extends Context.Tag("@nerv/store/Checkpoints")<Checkpoints, CheckpointsService>() {}

/**
 * Checkpoints in memory, for tests.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Checkpoints> = Layer.sync(Checkpoints, () => {
  const saved = new Map<string, Checkpoint>()
  return {
    load: (name) => Effect.sync(() => Option.fromNullable(saved.get(name))),
    save: (name, checkpoint) => Effect.sync(() => void saved.set(name, checkpoint))
  }
})
