/**
 * A review-and-publish workflow as a saga (`Saga` in `@nerv/runtime`): an author submits a draft
 * for review; the reviewer approves or rejects it within a deadline; an approval publishes a copy
 * and tells both; a rejection, a timeout or a publication that fails compensates, in reverse order:
 * the copy is withdrawn, the draft reverts to the last approved version, and the author is told.
 *
 * Everything the workflow does is in the journal, so the whole story is one causal tree
 * (`nerv trace <correlation id>`): the request is a document, created by the author; the decision is
 * an update of it, made by the reviewer as a reaction to the request; the saga's commands are
 * reactions to the events that triggered them.
 *
 * Run it with `pnpm tsx examples/review-and-publish.ts`: in memory, it walks an approval and a
 * rejection and prints what happened and the trace of each.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Access, Documents, type Errors, Notifier } from "@nerv/core"
import { CausalTrace, Nerv, Saga } from "@nerv/runtime"
import { SagaStore } from "@nerv/store"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { pathToFileURL } from "node:url"

/**
 * The title of a review request document; its content is a `ReviewRequest` as JSON.
 */
export const requestTitle = "Review request"

/** What a review request asks: which draft at which version, of whom, and the version last approved. */
export const ReviewRequest = Schema.Struct({
  draft: Schema.String,
  version: Schema.Int,
  reviewer: Schema.String,
  approved: Schema.optional(Schema.Int)
})

/** A reviewer's answer: the new content of the request document, as JSON. */
export const Decision = Schema.Struct({
  decision: Schema.Literal("approved", "rejected"),
  note: Schema.optional(Schema.String)
})

/** Who the saga's commands are made by. */
export const publisher = "publisher"

/** The state of one workflow. */
export const ReviewState = Schema.Struct({
  draft: Schema.String,
  version: Schema.Int,
  author: Schema.String,
  reviewer: Schema.String,
  approved: Schema.optional(Schema.Int),
  copy: Schema.optional(Schema.String)
})
type ReviewState = typeof ReviewState.Type

const decodeRequest = Schema.decodeUnknownOption(Schema.parseJson(ReviewRequest))
const decodeDecision = Schema.decodeUnknownOption(Schema.parseJson(Decision))

type ErrorOf<F extends (...args: Array<any>) => Effect.Effect<any, any, any>> = Effect.Effect.Error<ReturnType<F>>

const tell = (to: string, message: string) => Effect.flatMap(Notifier.Notifier, (n) => n.notify(to, message))

/**
 * The workflow. Its steps, in order: `requestReview` (tell the reviewer; undone by reverting the
 * draft to the last approved version and telling the author), `publish` (a published copy of the
 * draft at the submitted version; undone by deleting it), `announce` (tell author and reviewer). A
 * reviewer has `deadline` to answer.
 */
export const reviewAndPublishWithin = (
  deadline: Duration.Duration
): Saga.Definition<ReviewState, typeof ReviewState.Encoded, Nerv.Services> =>
  Saga.make<
    ReviewState,
    typeof ReviewState.Encoded,
    Nerv.Services
  >({
    name: "review-and-publish",
    state: ReviewState,
    start: (entry) => {
      const event = entry.event
      if (event._tag !== "DocumentCreated" || event.title !== requestTitle) return undefined
      const request = decodeRequest(event.content)
      if (request._tag === "None") return undefined
      return {
        key: event.documentId,
        state: { ...request.value, author: event.actor },
        run: ["requestReview"],
        then: Saga.wait(deadline)
      }
    },
    route: (entry) => entry.event.documentId,
    react: (state, entry) => {
      const event = entry.event
      if (event._tag !== "DocumentUpdated" || event.content === undefined) return undefined
      const answer = decodeDecision(event.content)
      if (answer._tag === "None") return undefined
      return answer.value.decision === "approved"
        ? { state, run: ["publish", "announce"], then: Saga.complete }
        : {
          state,
          then: Saga.compensate(`rejected by ${event.actor}${answer.value.note ? `: ${answer.value.note}` : ""}`)
        }
    },
    onTimeout: (state) => ({ state, then: Saga.compensate(`no review within ${Duration.format(deadline)}`) }),
    steps: {
      requestReview: {
        run: (state) =>
          Effect.as(
            tell(state.reviewer, `${state.author} asks you to review version ${state.version} of ${state.draft}`),
            state
          ),
        compensate: (state, { committed, reason }) =>
          Effect.gen(function*() {
            if (state.approved === undefined) {
              yield* tell(state.author, `version ${state.version} of ${state.draft} was not published (${reason})`)
              return state
            }
            // One command: the revert, unless the journal shows it already made.
            if (!committed.some((entry) => entry.event.documentId === state.draft)) {
              const approved = yield* Documents.at(state.draft, state.approved)
              yield* Documents.update(state.draft, { title: approved.title, content: approved.content })
            }
            yield* tell(
              state.author,
              `version ${state.version} of ${state.draft} was not published (${reason}); ` +
                `it is back to version ${state.approved}'s text`
            )
            return state
          }).pipe(Access.as(publisher))
      },
      publish: {
        run: (state, { committed }) =>
          Effect.gen(function*() {
            const made = committed.find((entry) => entry.event._tag === "DocumentCreated")
            if (made !== undefined) return { ...state, copy: made.event.documentId }
            const draft = yield* Documents.at(state.draft, state.version)
            const copy = yield* Documents.create({ title: `${draft.title} (published)`, content: draft.content })
            return { ...state, copy }
          }).pipe(Access.as(publisher)),
        compensate: (state, { committed, reason }) =>
          Effect.gen(function*() {
            if (state.copy !== undefined && !committed.some((entry) => entry.event.documentId === state.copy)) {
              yield* Documents.remove(state.copy, { reason: `withdrawn: ${reason}` })
            }
            return { ...state, copy: undefined }
          }).pipe(Access.as(publisher))
      },
      announce: {
        run: (state) =>
          Effect.gen(function*() {
            yield* tell(state.author, `version ${state.version} of ${state.draft} is published as ${state.copy}`)
            yield* tell(state.reviewer, `thank you: version ${state.version} of ${state.draft} is published`)
            return state
          })
      }
    }
  })

/** The workflow, with 48 hours to review. */
export const reviewAndPublish = reviewAndPublishWithin(Duration.hours(48))

/**
 * Submits a draft (at its current version) for review, as the principal in context (its author),
 * and returns the request's id. The version last approved is the highest one of the draft's
 * completed workflows, as the saga stored them.
 */
export const submit = (draft: string, reviewer: string): Effect.Effect<
  string,
  ErrorOf<typeof Documents.get> | ErrorOf<typeof Documents.create> | Errors.JournalError,
  Nerv.Services | Access.Principal | SagaStore.SagaStore
> =>
  Effect.gen(function*() {
    const document = yield* Documents.get(draft)
    const approved = (yield* Saga.instances(reviewAndPublish))
      .filter((instance: Saga.Instance<ReviewState>) =>
        instance.status === "completed" && instance.state.draft === draft
      )
      .reduce<number | undefined>((max, instance) => Math.max(max ?? 0, instance.state.version), undefined)
    return yield* Documents.create({
      title: requestTitle,
      content: JSON.stringify({ draft, version: document.version, reviewer, approved })
    })
  })

/** The reviewer answers a request: an update of it, as a reaction to its creation (same correlation). */
export const decide = (request: string, reviewer: string, decision: typeof Decision.Type): Effect.Effect<
  void,
  ErrorOf<typeof Documents.history> | ErrorOf<typeof Documents.update>,
  Nerv.Services
> =>
  Effect.gen(function*() {
    const [created] = yield* Documents.history(request)
    yield* Documents.update(request, { content: JSON.stringify(decision) }).pipe(Documents.causedBy(created!.event))
  }).pipe(Access.as(reviewer))

const demo = Effect.gen(function*() {
  const saga = yield* Saga.runner(reviewAndPublish)
  const draft = yield* Documents.create({ title: "Launch plan", content: "We launch in May." }).pipe(Access.as("ann"))

  const approval = yield* submit(draft, "bob").pipe(Access.as("ann"))
  yield* saga.poll
  yield* decide(approval, "bob", { decision: "approved" })
  yield* saga.poll

  yield* Documents.update(draft, { content: "We launch in March!" }).pipe(Access.as("ann"))
  const rejection = yield* submit(draft, "bob").pipe(Access.as("ann"))
  yield* saga.poll
  yield* decide(rejection, "bob", { decision: "rejected", note: "March is too early" })
  yield* saga.poll

  for (const request of [approval, rejection]) {
    const instance = yield* Saga.instance(reviewAndPublish, request)
    if (instance._tag === "None") continue
    yield* Console.log(`workflow ${request}: ${instance.value.status}`)
    for (const line of instance.value.log) yield* Console.log(`  ${line}`)
    const [created] = yield* Documents.history(request)
    const tree = yield* CausalTrace.trace(created!.event.correlationId)
    for (const line of CausalTrace.render(tree)) yield* Console.log(`  ${line}`)
  }
  yield* Console.log(`draft now reads: ${(yield* Documents.get(draft)).content}`)
})

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  demo.pipe(
    Effect.provide(Layer.mergeAll(Nerv.layerMemory(), SagaStore.layerMemory)),
    NodeRuntime.runMain({ disablePrettyLogger: true })
  )
}
