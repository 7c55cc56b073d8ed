/**
 * An example read model: the documents of each author, with their latest titles. Deleted documents
 * leave it, and so do forgotten ones (their titles are content). Run it with
 * `Projection.run(AuthorTitles.projection)`.
 *
 * @since 0.1.0
 */
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Projection from "./Projection.js"

/**
 * The state: for each author, their live documents' latest titles by document id; and the author of
 * every live document (an update's actor is its editor, not its author). Persistent maps, so that
 * each event costs O(log n), not a copy of the state.
 *
 * @since 0.1.0
 */
export const State = Schema.Struct({
  byAuthor: Schema.HashMap({
    key: Schema.String,
    value: Schema.HashMap({ key: Schema.String, value: Schema.String })
  }),
  authorOf: Schema.HashMap({ key: Schema.String, value: Schema.String })
})

/**
 * @since 0.1.0
 */
export type State = typeof State.Type

const withTitle = (state: State, author: string, documentId: string, title: string): State => ({
  byAuthor: HashMap.modifyAt(
    state.byAuthor,
    author,
    (titles) => Option.some(HashMap.set(Option.getOrElse(titles, HashMap.empty<string, string>), documentId, title))
  ),
  authorOf: HashMap.set(state.authorOf, documentId, author)
})

const without = (state: State, documentId: string): State => {
  const author = HashMap.get(state.authorOf, documentId)
  if (Option.isNone(author)) return state
  return {
    byAuthor: HashMap.modifyAt(
      state.byAuthor,
      author.value,
      (titles): Option.Option<HashMap.HashMap<string, string>> =>
        Option.filter(
          Option.map(titles, (map) => HashMap.remove(map, documentId)),
          (remaining) => HashMap.size(remaining) > 0
        )
    ),
    authorOf: HashMap.remove(state.authorOf, documentId)
  }
}

/**
 * The projection. Deleted and forgotten documents leave it.
 *
 * @since 0.1.0
 */
export const projection: Projection.Projection<State, typeof State.Encoded> = Projection.make({
  name: "author-titles",
  schema: State,
  initial: { byAuthor: HashMap.empty(), authorOf: HashMap.empty() },
  apply: (state, { event }) => {
    switch (event._tag) {
      case "DocumentCreated":
        return withTitle(state, event.actor, event.documentId, event.title)
      case "DocumentUpdated": {
        const author = HashMap.get(state.authorOf, event.documentId)
        return Option.isNone(author) || event.title === undefined
          ? state
          : withTitle(state, author.value, event.documentId, event.title)
      }
      case "DocumentDeleted":
        return without(state, event.documentId)
    }
  },
  // A forgotten document's titles are its content: they leave the read model.
  forget: without
})

/**
 * The latest titles of one author's live documents, by document id.
 *
 * @since 0.1.0
 */
export const titlesOf = (state: State, author: string): ReadonlyMap<string, string> =>
  new Map(Option.getOrElse(HashMap.get(state.byAuthor, author), HashMap.empty<string, string>))
