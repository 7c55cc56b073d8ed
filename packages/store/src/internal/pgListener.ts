import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type pg from "pg"
import { connect } from "./pgWriter.js"

/**
 * The PostgreSQL journal's listening connection: `LISTEN` on the journal's channel, reopened (after
 * a pause) whenever it drops. A notification from another journal (its payload is not this one's
 * instance) wakes whoever waits in `awaitChange`; so does a reopened connection, since notifications
 * sent while it was down are lost.
 */
export interface Listener {
  /** Waits until another journal may have committed, or for `millis` at most. */
  readonly awaitChange: (millis: number) => Effect.Effect<void>
}

/** Quotes an identifier for SQL (the channel name). */
const identifier = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`

/**
 * Listens on `channel` for as long as the scope lasts.
 */
export const listen = (
  config: pg.ClientConfig,
  channel: string,
  instance: string
): Effect.Effect<Listener, never, Scope.Scope> =>
  Effect.gen(function*() {
    let waiters = new Set<() => void>()
    const wake = () => {
      const woken = waiters
      waiters = new Set()
      for (const resume of woken) resume()
    }
    /** One listening session: returns when the connection drops (or could not be opened). */
    const session = Effect.async<void>((resume) => {
      let client: pg.Client | undefined
      let done = false
      const finish = () => {
        if (done) return
        done = true
        client?.end().catch(() => undefined)
        resume(Effect.void)
      }
      connect(config, finish).then(async (opened) => {
        client = opened
        // Interrupted while connecting: the connection is closed at once.
        if (done) return void opened.end().catch(() => undefined)
        opened.on("end", finish)
        opened.on("notification", (message) => {
          if (message.payload !== instance) wake()
        })
        await opened.query(`LISTEN ${identifier(channel)}`)
        // Whatever committed while no connection listened was not notified.
        wake()
      }).catch(finish)
      return Effect.sync(() => {
        done = true
        client?.end().catch(() => undefined)
      })
    })
    // On the wall clock: reconnecting is about the server, not about a test's clock.
    const pause = Effect.async<void>((resume) => {
      const timer = setTimeout(() => resume(Effect.void), 200)
      return Effect.sync(() => clearTimeout(timer))
    })
    yield* session.pipe(
      Effect.zipRight(pause),
      Effect.forever,
      Effect.forkScoped
    )
    return {
      awaitChange: (millis) =>
        Effect.async<void>((resume) => {
          const woken = () => {
            clearTimeout(timer)
            resume(Effect.void)
          }
          const timer = setTimeout(() => {
            waiters.delete(woken)
            resume(Effect.void)
          }, millis)
          waiters.add(woken)
          return Effect.sync(() => {
            clearTimeout(timer)
            waiters.delete(woken)
          })
        })
    }
  })
