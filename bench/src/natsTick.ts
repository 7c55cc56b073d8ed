/** The event of the `distributed dispatch` benchmark: a number and the publisher's clock stamp. */
import * as Schema from "effect/Schema"

export const Tick = Schema.TaggedStruct("Tick", {
  eventId: Schema.String,
  n: Schema.Number,
  /** `performance.timeOrigin + performance.now()` at publish, in milliseconds. */
  sentAt: Schema.Number
})
export type Tick = typeof Tick.Type
