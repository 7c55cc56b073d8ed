/**
 * A persistent append-only vector: appends are amortised O(1), and every value stays an immutable
 * view (a length over a shared buffer). A view appended to twice copies its prefix, so no view ever
 * sees another's elements.
 */
export interface Vector<A> {
  readonly buffer: Array<A>
  readonly length: number
}

const none: Vector<never> = { buffer: [], length: 0 }

/** The empty vector: one shared value (appending to an empty view starts a buffer of its own). */
export const empty = <A>(): Vector<A> => none

/**
 * The buffer an append to this view may push to: its own if no other view appended past it, else a
 * copy of its prefix. An empty view never pushes to its buffer, so `empty` can be shared.
 */
const ownBuffer = <A>(self: Vector<A>): Array<A> =>
  self.length === 0 ? [] : self.buffer.length === self.length ? self.buffer : self.buffer.slice(0, self.length)

export const append = <A>(self: Vector<A>, value: A): Vector<A> => {
  const buffer = ownBuffer(self)
  buffer.push(value)
  return { buffer, length: self.length + 1 }
}

/** Appends values in order: the same as appending them one by one, without the views in between. */
export const appendAll = <A>(self: Vector<A>, values: ReadonlyArray<A>): Vector<A> => {
  if (values.length === 0) return self
  const buffer = ownBuffer(self)
  for (let i = 0; i < values.length; i++) buffer.push(values[i]!)
  return { buffer, length: self.length + values.length }
}

export const get = <A>(self: Vector<A>, index: number): A | undefined =>
  index >= 0 && index < self.length ? self.buffer[index] : undefined

export const slice = <A>(self: Vector<A>, start: number, end: number = self.length): Array<A> =>
  self.buffer.slice(Math.max(0, start), Math.min(end, self.length))

export const toArray = <A>(self: Vector<A>): Array<A> => slice(self, 0)

/** A view over `values`, which the caller hands over (an empty array gives the shared `empty`). */
export const fromArray = <A>(values: Array<A>): Vector<A> =>
  values.length === 0 ? none : { buffer: values, length: values.length }
