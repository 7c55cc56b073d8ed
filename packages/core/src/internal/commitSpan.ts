/**
 * What a committed command tells the span it ran in, when the host traces it (`Tracing.withTracing`
 * in `@nerv/runtime`): the document, the version it made, and the correlation and causation ids
 * of its events. Read from the context the command already holds, so an untraced command pays
 * nothing but one context look-up.
 */
import * as Context from "effect/Context"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import type { DocumentEvent } from "../DocumentEvent.js"

/** The attribute `Tracing.withTracing` puts on the span it opens: how a command's own span is found. */
export const operationAttribute = "nerv.operation"

/** The span a command runs in, if it is traced. */
export const spanIn = (context: Context.Context<never>): Tracer.Span | undefined => {
  const span = Context.getOption(context as Context.Context<Tracer.ParentSpan>, Tracer.ParentSpan)
  return Option.isSome(span) && span.value._tag === "Span" ? span.value : undefined
}

// A host's own spans (a request's, say) sit further up; how far up the command's span is looked for.
const maxDepth = 8

/**
 * Annotates the innermost span, and the nearest enclosing span of an operation (the one
 * `withTracing` opened) if that is another one, with the committed events' ids.
 */
export const annotateCommit = (span: Tracer.Span | undefined, events: ReadonlyArray<DocumentEvent>): void => {
  if (span === undefined || events.length === 0) return
  const last = events[events.length - 1]!
  const annotate = (target: Tracer.Span) => {
    target.attribute("nerv.document_id", last.documentId)
    target.attribute("nerv.version", last.version)
    target.attribute("nerv.correlation_id", last.correlationId)
    target.attribute("nerv.causation_id", last.causationId)
  }
  annotate(span)
  let current: Tracer.AnySpan = span
  for (let depth = 0; depth < maxDepth; depth++) {
    if (current._tag === "Span" && current.attributes.has(operationAttribute)) {
      if (current !== span) annotate(current)
      return
    }
    if (current._tag !== "Span" || Option.isNone(current.parent)) return
    current = current.parent.value
  }
}
