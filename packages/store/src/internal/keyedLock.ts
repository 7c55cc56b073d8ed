import * as Effect from "effect/Effect"

/**
 * One mutex per key: `lock(key, effect)` runs `effect` while no other effect locked on the same key
 * runs. A key is in the map only while it is held, so memory stays proportional to the keys in use.
 *
 * It does what a `Semaphore` per key would, at a fraction of the cost on the path every command
 * takes (an uncontended lock is a map lookup and an insert). A release wakes every waiter of its
 * key to try again rather than handing the lock over, so an interrupted waiter can never keep it.
 */
export const makeKeyedLock = () => {
  const held = new Map<string, Array<() => void>>()

  const release = (key: string) =>
    Effect.sync(() => {
      const waiters = held.get(key)
      held.delete(key)
      if (waiters !== undefined) { for (const wake of waiters) wake() }
    })

  const released = (key: string) =>
    Effect.async<void>((resume) => {
      const waiters = held.get(key)
      if (waiters === undefined) return resume(Effect.void)
      const wake = () => resume(Effect.void)
      waiters.push(wake)
      return Effect.sync(() => {
        const current = held.get(key)
        const index = current === undefined ? -1 : current.indexOf(wake)
        if (index >= 0) current!.splice(index, 1)
      })
    })

  const lock = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) => {
      const attempt: Effect.Effect<A, E, R> = Effect.suspend(() => {
        if (held.has(key)) return Effect.zipRight(restore(released(key)), attempt)
        held.set(key, [])
        // Already uninterruptible here, so a plain match releases on every exit.
        return Effect.matchCauseEffect(restore(effect), {
          onFailure: (cause) => Effect.zipRight(release(key), Effect.failCause(cause)),
          onSuccess: (value) => Effect.as(release(key), value)
        })
      })
      return attempt
    })

  /** Whether an effect holds the key's lock now. */
  const isHeld = (key: string) => held.has(key)

  return Object.assign(lock, { isHeld })
}
