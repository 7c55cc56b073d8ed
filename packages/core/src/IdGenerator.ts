/**
 * The id source. Time comes from Effect's own `Clock` (so tests use `TestClock`); ids come from
 * here, so tests can make them deterministic too.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 */
export interface IdGeneratorService {
  /** A new UUID. */
  readonly next: Effect.Effect<string>
}

/**
 * The id source port. Layers: `Ids.layerRandom` and `Ids.layerSequential` in `@nerv/runtime`.
 *
 * @since 0.1.0
 */
export class IdGenerator extends Context.Tag("@nerv/core/IdGenerator")<IdGenerator, IdGeneratorService>() {}
