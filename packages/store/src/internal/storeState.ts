import { Decider, type Document, type DocumentEvent, type DocumentStore, Errors } from "@nerv/core"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import type { RebuildItem } from "../Snapshots.js"
import { forgetDocument, forgetEvent, isForgotten, markDocument } from "./forgotten.js"
import * as Vector from "./vector.js"

/**
 * One document in the store. Versions up to `floor` are not held in memory (a snapshot covers
 * them, and the journal still has them); `base` is the state at `floor`.
 */
export interface Versions {
  readonly floor: number
  readonly base: Document.Document | undefined
  readonly versions: Vector.Vector<DocumentStore.DocumentVersion>
  /** The document was forgotten: its versions hold no content, only their shape. */
  readonly forgotten?: boolean | undefined
}

/** What the store holds: each document's versions, and the documents in creation order. */
export interface State {
  readonly documents: HashMap.HashMap<string, Versions>
  readonly order: Vector.Vector<string>
}

export const emptyState: State = { documents: HashMap.empty(), order: Vector.empty() }

export const latestVersion = (entry: Versions): number => entry.floor + entry.versions.length

export const latestDocument = (entry: Versions): Document.Document | undefined =>
  Vector.last(entry.versions)?.document ?? entry.base

/**
 * A document being appended to by `applyAll`: what the state held for it, and the versions added
 * since, not yet written back to the state's map.
 */
interface Run {
  readonly id: string
  readonly held: Versions | undefined
  readonly added: Array<DocumentStore.DocumentVersion>
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
 * per run, not once per event.
 */
export const applyAll = (
  state: State,
  items: Iterable<DocumentEvent.DocumentEvent | RebuildItem>
): Either.Either<State, Errors.VersionConflict> => {
  const documents = HashMap.beginMutation(state.documents)
  let order = state.order
  let run: Run | undefined
  const flush = () => {
    if (run === undefined || run.added.length === 0) return
    HashMap.set(documents, run.id, {
      forgotten: run.forgotten,
      floor: run.held?.floor ?? 0,
      base: run.held?.base,
      versions: Vector.appendAll(run.held?.versions ?? Vector.empty<DocumentStore.DocumentVersion>(), run.added)
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
        versions: Vector.empty<DocumentStore.DocumentVersion>(),
        forgotten: isForgotten(snapshot.document)
      })
      order = Vector.append(order, snapshot.documentId)
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
        // An event committed while its document was being forgotten loses its content here.
        forgotten: entry?.forgotten === true || eventForgotten,
        latest: entry && latestDocument(entry),
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
    run.added.push({ version: event.version, document, event: applied })
    run.latest = document
    run.version = event.version
    if (actual === 0) order = Vector.append(order, event.documentId)
  }
  flush()
  return Either.right({ documents: HashMap.endMutation(documents), order })
}

/** Drops the versions up to `version` from memory, keeping the state at `version` as the base. */
export const compact = (state: State, documentId: string, version: number): State => {
  const entry = Option.getOrUndefined(HashMap.get(state.documents, documentId))
  if (entry === undefined || version <= entry.floor || version > latestVersion(entry)) return state
  const kept = Vector.slice(entry.versions, version - entry.floor)
  return {
    ...state,
    documents: HashMap.set(state.documents, documentId, {
      floor: version,
      base: Vector.get(entry.versions, version - entry.floor - 1)!.document,
      versions: Vector.fromArray(kept),
      forgotten: entry.forgotten
    })
  }
}

const forgetEntry = (entry: Versions): Versions => ({
  floor: entry.floor,
  base: entry.base && forgetDocument(entry.base),
  versions: Vector.fromArray(
    Vector.toArray(entry.versions).map((version) => ({
      version: version.version,
      document: forgetDocument(version.document),
      event: forgetEvent(version.event)
    }))
  ),
  forgotten: true
})

/** Replaces a document's versions with their shape: no title, content or reason is left in memory. */
export const forget = (state: State, documentId: string): State => {
  const entry = Option.getOrUndefined(HashMap.get(state.documents, documentId))
  if (entry === undefined || entry.forgotten === true) return state
  return { ...state, documents: HashMap.set(state.documents, documentId, forgetEntry(entry)) }
}
