/**
 * The notifier port: tells a person that something happened to their document.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { NotificationFailed } from "./Errors.js"

/**
 * @since 0.1.0
 */
export interface NotifierService {
  readonly notify: (to: string, message: string) => Effect.Effect<void, NotificationFailed>
}

/**
 * The notifier port. Layers live in `@nerv/runtime` (console, recording).
 *
 * @since 0.1.0
 */
export class Notifier extends Context.Tag("@nerv/core/Notifier")<Notifier, NotifierService>() {}
