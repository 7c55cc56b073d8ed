/**
 * Layers for the `Notifier` port.
 *
 * @since 0.1.0
 */
import { Notifier } from "@nerv/core"
import * as Console from "effect/Console"
import * as Layer from "effect/Layer"

/**
 * Prints each notification on the console: `→ ann: bob updated "Plan" (now version 2)`.
 *
 * @since 0.1.0
 */
export const layerConsole: Layer.Layer<Notifier.Notifier> = Layer.succeed(Notifier.Notifier, {
  notify: (to, message) => Console.log(`→ ${to}: ${message}`)
})
