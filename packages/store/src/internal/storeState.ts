import { Decider, type Document, type DocumentEvent, type DocumentStore, Errors } from "@nerv/core"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import type { RebuildItem } from "../Snapshots.js"
import { forgetDocument, forgetEvent, isForgotten, markDocument } from "./forgotten.js"
import * as Vector from "./vector.js"

/**
 * How often a document's state is kept in memory: at every version that is a multiple of this (and
 * at its latest version). The store must keep every event (they are the history), but a state per
 * version would be most of what it retains, and retained objects are what the garbage collector
 * pays for on every major collection. Any other version's state is folded on demand from the
 * nearest kept state below it: at most 31 events, a few microseconds at ~0.2 µs an event, which is
 * the order of the read's own Effect overhead and far below a journal read. At 32, the kept states
 * are ~3% of the versions, so halving the interval would buy little speed for reads of old
 * versions and doubling it would save little memory. (Measured on a 1M-event rebuild of 100-version
 * documents: ~608 MB retained with a state per version, ~478 MB with this.) A whole `history` still
 * costs one `evolve` per version, folded in order.
 */
export const checkpointEvery = 32

/**
 * One document in the store. Versions up to `floor` are not held in memory (a snapshot covers
 * them, and the journal still has them); `base` is the state at `floor`. The versions above it are
 * held as their events; their states are kept only at the latest version and at checkpoints (every
 * `checkpointEvery` versions), and folded from the nearest of those otherwise (`documentAt`).
 */
export interface Versions {
  readonly floor: number
  readonly base: Document.Document | undefined
  /** The events of versions `floor + 1` to the latest, oldest first. */
  readonly events: Vector.Vector<DocumentEvent.DocumentEvent>
  /**
   * The states at the versions above `floor` that are multiples of `checkpointEvery`, oldest
   * first: the first is at `firstCheckpoint(floor)`.
   */
  readonly checkpoints: Vector.Vector<Document.Document>
  /** The state at the latest version. */
  readonly latest: Document.Document
  /** The document was forgotten: its events and states hold no content, only their shape. */
  readonly forgotten?: boolean | undefined
}

/** What the store holds: the versions of the documents it holds. */
export interface State {
  readonly documents: HashMap.HashMap<string, Versions>
}

export const emptyState: State = { documents: HashMap.empty() }

export const latestVersion = (entry: Versions): number => entry.floor + entry.events.length

export const latestDocument = (entry: Versions): Document.Document => entry.latest

/** The first checkpoint version above `floor`. */
const firstCheckpoint = (floor: number): number => (Math.floor(floor / checkpointEvery) + 1) * checkpointEvery

/** The event of a held version (`floor < version <= latest`). */
export const eventAt = (entry: Versions, version: number): DocumentEvent.DocumentEvent =>
  Vector.get(entry.events, version - entry.floor - 1)!

/**
 * Folds the held events after version `from` up to `to` into `state` (the state at `from`). A
 * forgotten document's states are marked, as the ones `applyAll` makes are.
 */
const foldHeld = (
  entry: Versions,
  state: Document.Document | undefined,
  from: number,
  to: number
): Document.Document => {
  for (let version = from + 1; version <= to; version++) state = Decider.evolve(state, eventAt(entry, version))
  return entry.forgotten === true && to > from ? markDocument(state!) : state!
}

/**
 * The state at a version held in memory or at `floor` (`floor <= version <= latest`, and
 * `floor > 0` for `version === floor`): kept, or folded from the nearest kept state below it.
 */
export const documentAt = (entry: Versions, version: number): Document.Document => {
  if (version === latestVersion(entry)) return entry.latest
  if (version === entry.floor) return entry.base!
  const checkpoint = version - (version % checkpointEvery)
  const first = firstCheckpoint(entry.floor)
  return checkpoint >= first
    ? foldHeld(entry, Vector.get(entry.checkpoints, (checkpoint - first) / checkpointEvery)!, checkpoint, version)
    : foldHeld(entry, entry.base, entry.floor, version)
}

/** The versions held in memory (`floor + 1` to the latest), oldest first, with their states. */
export const heldVersions = (entry: Versions): Array<DocumentStore.DocumentVersion> => {
  const latest = latestVersion(entry)
  const versions: Array<DocumentStore.DocumentVersion> = []
  let state = entry.base
  for (let version = entry.floor + 1; version <= latest; version++) {
    const event = eventAt(entry, version)
    // The kept states are reused as they are; only the ones in between are folded.
    state = version === latest
      ? entry.latest
      : version % checkpointEvery === 0
      ? Vector.get(entry.checkpoints, (version - firstCheckpoint(entry.floor)) / checkpointEvery)!
      : foldHeld(entry, state, version - 1, version)
    versions.push({ version, document: state, event })
  }
  return versions
}

/**
 * A document being appended to by `applyAll`: what the state held for it, and the events (and
 * checkpoint states) added since, not yet written back to the state's map.
 */
interface Run {
  readonly id: string
  readonly held: Versions | undefined
  readonly added: Array<DocumentEvent.DocumentEvent>
  readonly checkpoints: Array<Document.Document>
  readonly forgotten: boolean
  latest: Document.Document | undefined
  version: number
}

/**
 * Adds events to a state, or refuses the whole batch if one of them is not the next version of its
 * document. Restores snapshots met on the way (a rebuild's items).
 *
 * A rebuild meets a document's events one after the other (a journal page holds runs of them), so
 * consecutive events of one document are gathered and its entry is looked up and written back once
 * per run, not once per event. Every event is folded (the latest state must be known), but only the
 * states at checkpoints are kept: the others are garbage at once, which a young-generation
 * collection reclaims for nearly nothing.
 */
export const applyAll = (
  state: State,
  items: Iterable<DocumentEvent.DocumentEvent | RebuildItem>
): Either.Either<State, Errors.VersionConflict> => {
  const documents = HashMap.beginMutation(state.documents)
  let run: Run | undefined
  const flush = () => {
    if (run === undefined || run.added.length === 0) return
    const { held } = run
    HashMap.set(documents, run.id, {
      forgotten: run.forgotten,
      floor: held?.floor ?? 0,
      base: held?.base,
      // A new document's run is handed over as it is: nothing else refers to it.
      events: held === undefined ? Vector.fromArray(run.added) : Vector.appendAll(held.events, run.added),
      checkpoints: held === undefined
        ? Vector.fromArray(run.checkpoints)
        : Vector.appendAll(held.checkpoints, run.checkpoints),
      latest: run.latest!
    })
    run = undefined
  }
  for (const item of items) {
    if (item._tag === "Snapshot") {
      flush()
      const { snapshot } = item
      if (HashMap.has(documents, snapshot.documentId)) {
        throw new Error(`a rebuild restored document ${snapshot.documentId} twice`)
      }
      HashMap.set(documents, snapshot.documentId, {
        floor: snapshot.version,
        base: snapshot.document,
        events: Vector.empty<DocumentEvent.DocumentEvent>(),
        checkpoints: Vector.empty<Document.Document>(),
        latest: snapshot.document,
        forgotten: isForgotten(snapshot.document)
      })
      continue
    }
    const event = item._tag === "Entry" ? item.entry.event : item
    const eventForgotten = isForgotten(event)
    // The first event met without content (its key is gone) takes the content of what came before:
    // the run so far is written back, and the document's whole entry is forgotten.
    if (run !== undefined && (run.id !== event.documentId || (eventForgotten && !run.forgotten))) flush()
    if (run === undefined) {
      const held = Option.getOrUndefined(HashMap.get(documents, event.documentId))
      const entry = held !== undefined && held.forgotten !== true && eventForgotten ? forgetEntry(held) : held
      run = {
        id: event.documentId,
        held: entry,
        added: [],
        checkpoints: [],
        // An event committed while its document was being forgotten loses its content here.
        forgotten: entry?.forgotten === true || eventForgotten,
        latest: entry?.latest,
        version: entry === undefined ? 0 : latestVersion(entry)
      }
    }
    const actual = run.version
    if (event.version !== actual + 1 || (event._tag === "DocumentCreated") !== (actual === 0)) {
      return Either.left(
        new Errors.VersionConflict({ documentId: event.documentId, expected: event.version - 1, actual })
      )
    }
    const applied = run.forgotten ? forgetEvent(event) : event
    const evolved = Decider.evolve(run.latest, applied)
    const document = run.forgotten ? markDocument(evolved) : evolved
    run.added.push(applied)
    if (event.version % checkpointEvery === 0) run.checkpoints.push(document)
    run.latest = document
    run.version = event.version
  }
  flush()
  return Either.right({ documents: HashMap.endMutation(documents) })
}

/**
 * Adds what continues what the view holds: events whose version it holds already, and snapshots of
 * documents it holds, are skipped (another path of the view added them first), and so are the
 * events of a document it does not hold unless they start it (its first version, or a snapshot
 * just before): such a document is loaded from the journal when it is next needed. The rest must
 * follow, as in `applyAll`.
 */
export const applyNew = (
  state: State,
  items: ReadonlyArray<DocumentEvent.DocumentEvent | RebuildItem>
): Either.Either<State, Errors.VersionConflict> => {
  // What a command adds: the next versions of one document the view holds. Nothing to skip.
  const first = items[0]
  if (first !== undefined && first._tag !== "Snapshot" && first._tag !== "Entry") {
    const entry = Option.getOrUndefined(HashMap.get(state.documents, first.documentId))
    if (
      entry !== undefined && first.version === latestVersion(entry) + 1 &&
      items.every((item) => item._tag !== "Snapshot" && item._tag !== "Entry" && item.documentId === first.documentId)
    ) return applyAll(state, items)
  }
  const latest = new Map<string, number>()
  const latestOf = (id: string) => {
    let version = latest.get(id)
    if (version === undefined) {
      const entry = Option.getOrUndefined(HashMap.get(state.documents, id))
      version = entry === undefined ? -1 : latestVersion(entry)
      latest.set(id, version)
    }
    return version
  }
  const fresh: Array<DocumentEvent.DocumentEvent | RebuildItem> = []
  for (const item of items) {
    if (item._tag === "Snapshot") {
      if (latestOf(item.snapshot.documentId) >= 0) continue
      latest.set(item.snapshot.documentId, item.snapshot.version)
      fresh.push(item)
      continue
    }
    const event = item._tag === "Entry" ? item.entry.event : item
    const held = latestOf(event.documentId)
    if (event.version <= held || (held < 0 && event.version !== 1)) continue
    latest.set(event.documentId, event.version)
    fresh.push(item)
  }
  return applyAll(state, fresh)
}

/** Drops the versions up to `version` from memory, keeping the state at `version` as the base. */
export const compact = (state: State, documentId: string, version: number): State => {
  const entry = Option.getOrUndefined(HashMap.get(state.documents, documentId))
  if (entry === undefined || version <= entry.floor || version > latestVersion(entry)) return state
  // The checkpoints at or below the new floor go with the versions they were kept for.
  const dropped = (firstCheckpoint(version) - firstCheckpoint(entry.floor)) / checkpointEvery
  return {
    documents: HashMap.set(state.documents, documentId, {
      floor: version,
      base: documentAt(entry, version),
      events: Vector.fromArray(Vector.slice(entry.events, version - entry.floor)),
      checkpoints: Vector.fromArray(Vector.slice(entry.checkpoints, dropped)),
      latest: entry.latest,
      forgotten: entry.forgotten
    })
  }
}

const forgetEntry = (entry: Versions): Versions => ({
  floor: entry.floor,
  base: entry.base && forgetDocument(entry.base),
  events: Vector.fromArray(Vector.toArray(entry.events).map(forgetEvent)),
  checkpoints: Vector.fromArray(Vector.toArray(entry.checkpoints).map(forgetDocument)),
  latest: forgetDocument(entry.latest),
  forgotten: true
})

/** Replaces a document's versions with their shape: no title, content or reason is left in memory. */
export const forget = (state: State, documentId: string): State => {
  const entry = Option.getOrUndefined(HashMap.get(state.documents, documentId))
  if (entry === undefined || entry.forgotten === true) return state
  return { documents: HashMap.set(state.documents, documentId, forgetEntry(entry)) }
}

/** Drops documents from the view (the journal still has them: they load again when needed). */
export const evict = (state: State, documentIds: Iterable<string>): State => ({
  documents: HashMap.removeMany(state.documents, documentIds)
})

/**
 * A rough count of the bytes an event takes in memory: its strings (two bytes a character) and
 * what every event costs besides. It sets the store's memory budget, which needs to be right in
 * size, not exact.
 */
export const bytesOf = (event: DocumentEvent.DocumentEvent): number => {
  const text = event._tag === "DocumentCreated"
    ? event.title.length + event.content.length
    : event._tag === "DocumentUpdated"
    ? (event.title?.length ?? 0) + (event.content?.length ?? 0)
    : event.reason.length
  return 320 + 2 * text
}

/** `bytesOf` every event a document holds, and its kept states. */
export const bytesHeld = (entry: Versions): number => {
  let bytes = 2 * (entry.latest.title.length + entry.latest.content.length) + 200
  for (const event of Vector.toArray(entry.events)) bytes += bytesOf(event)
  return bytes + entry.checkpoints.length * 400
}
