import { MemoryJournal } from "../src/index.js"
import { journalConformance } from "./JournalConformance.js"

journalConformance("MemoryJournal", { empty: MemoryJournal.layer, withRows: MemoryJournal.layerFrom })
