/**
 * Layers for the `Notifier` port.
 *
 * @since 0.1.0
 */
import { Notifier } from "@nerv/core"
import * as Console from "effect/Console"
import * as Layer from "effect/Layer"
import { escapeControl } from "./internal/terminal.js"

/**
 * Prints each notification on the console's error stream (stdout is for results, so that a
 * script capturing `nerv create`'s id gets the id alone): `→ ann: bob updated "Plan" (now
 * version 2)`. A title's control characters are shown as escapes, not acted on by the terminal.
 *
 * @since 0.1.0
 */
export const layerConsole: Layer.Layer<Notifier.Notifier> = Layer.succeed(Notifier.Notifier, {
  notify: (to, message) => Console.error(escapeControl(`→ ${to}: ${message}`))
})
