/**
 * A progress bar on stderr for a full rebuild (`nerv rebuild`): shown only once the rebuild has
 * taken longer than a moment, so a quick one prints nothing.
 *
 * @since 0.1.0
 */
import type { Rebuild } from "@nerv/store"
import * as Effect from "effect/Effect"

/**
 * Makes a progress reporter for `Rebuild.RebuildProgress`.
 *
 * @since 0.1.0
 */
export const make = (options?: {
  /** How long the rebuild may take before the bar shows (default 500 ms). */
  readonly after?: number | undefined
  readonly write?: ((text: string) => void) | undefined
}) => {
  const write = options?.write ?? ((text: string) => void process.stderr.write(text))
  const after = options?.after ?? 500
  const started = Date.now()
  let shown = false
  return (progress: Rebuild.Progress): Effect.Effect<void> =>
    Effect.sync(() => {
      if (!shown && Date.now() - started < after) return
      shown = true
      const ratio = progress.total === 0 ? 1 : Math.min(1, progress.done / progress.total)
      const bar = "█".repeat(Math.round(ratio * 30)).padEnd(30, "░")
      write(`\rRebuilding ${bar} ${progress.done}/${progress.total} ${progress.unit}`)
      if (progress.done >= progress.total) write("\n")
    })
}
