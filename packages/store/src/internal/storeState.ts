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
 * Adds events to a state, or refuses the whole batch if one of them is not the next version of its
 * document. Restores snapshots met on the way (a rebuild's items).
 */
export const applyAll = (
  state: State,
  items: Iterable<DocumentEvent.DocumentEvent | RebuildItem>
): Either.Either<State, Errors.VersionConflict> => {
  const documents = HashMap.beginMutation(state.documents)
  let order = state.order
  for (const item of items) {
    if (item._tag === "Snapshot") {
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
    const held = Option.getOrUndefined(HashMap.get(documents, event.documentId))
    // The first event met without content (its key is gone) takes the content of what came before.
    const entry = held !== undefined && held.forgotten !== true && isForgotten(event) ? forgetEntry(held) : held
    const actual = entry === undefined ? 0 : latestVersion(entry)
    if (event.version !== actual + 1 || (event._tag === "DocumentCreated") !== (actual === 0)) {
      return Either.left(
        new Errors.VersionConflict({ documentId: event.documentId, expected: event.version - 1, actual })
      )
    }
    // A journal row whose key was destroyed comes back without content: its document is forgotten.
    // An event committed while its document was being forgotten loses its content here.
    const forgotten = entry?.forgotten === true || isForgotten(event)
    const applied = forgotten ? forgetEvent(event) : event
    const evolved = Decider.evolve(entry && latestDocument(entry), applied)
    const document = forgotten ? markDocument(evolved) : evolved
    HashMap.set(documents, event.documentId, {
      forgotten,
      floor: entry?.floor ?? 0,
      base: entry?.base,
      versions: Vector.append(entry?.versions ?? Vector.empty<DocumentStore.DocumentVersion>(), {
        version: event.version,
        document,
        event: applied
      })
    })
    if (actual === 0) order = Vector.append(order, event.documentId)
  }
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
