/**
 * Layers for the `IdGenerator` port.
 *
 * @since 0.1.0
 */
import { IdGenerator } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"

/**
 * Random v4 UUIDs from `node:crypto`.
 *
 * @since 0.1.0
 */
export const layerRandom: Layer.Layer<IdGenerator.IdGenerator> = Layer.succeed(IdGenerator.IdGenerator, {
  next: Effect.sync(() => randomUUID())
})

/**
 * The n-th sequential UUID: `00000000-0000-4000-8000-000000000001` for n = 1. Valid v4 UUIDs, so
 * they pass every decoder, and predictable, so tests can name them.
 *
 * @since 0.1.0
 */
export const sequential = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`

/**
 * Sequential UUIDs (`sequential(1)`, `sequential(2)`, …), fresh for every build of the layer.
 *
 * @since 0.1.0
 */
export const layerSequential: Layer.Layer<IdGenerator.IdGenerator> = Layer.sync(IdGenerator.IdGenerator, () => {
  let n = 0
  return { next: Effect.sync(() => sequential(++n)) }
})
