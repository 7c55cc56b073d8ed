import { Journal } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { MemoryJournal } from "../src/index.js"
import { journalConformance, Second } from "./JournalConformance.js"

journalConformance("MemoryJournal", {
  empty: MemoryJournal.layer,
  pair: Layer.effect(Second, Effect.flatMap(Journal.Journal, MemoryJournal.connect)).pipe(
    Layer.provideMerge(MemoryJournal.layer)
  ),
  withRows: MemoryJournal.layerFrom
})
