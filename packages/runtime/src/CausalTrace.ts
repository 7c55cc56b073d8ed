/**
 * The causal tree of one correlation: the command a request started with, the events it committed,
 * the reactions those events caused (a saga's step, a handler's command) and their events, and so
 * on, each with who, what and when. Built by a pure function over journal entries (`build`), so
 * that anything holding entries (the `nerv trace` command, an inspector page) draws the same tree;
 * `trace` reads them from the journal.
 *
 * A command is not stored as such: it is known by what it committed. The events of one command
 * share its causation id and its document (a command appends to one document), so a command node is
 * the events with one causation id on one document. A command whose causation id names an event of
 * the same correlation is a reaction to that event; any other is a root (the request itself names
 * its correlation id as its cause).
 *
 * @since 0.1.0
 */
import type { DocumentEvent } from "@nerv/core"
import { Journal } from "@nerv/core"
import type { Errors } from "@nerv/core"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/**
 * One committed event in a causal tree, and the commands it caused.
 *
 * @since 0.1.0
 */
export interface TraceEvent {
  readonly position: number
  readonly eventId: string
  readonly type: DocumentEvent.DocumentEvent["_tag"]
  readonly documentId: string
  readonly version: number
  readonly actor: string
  readonly occurredAt: DateTime.Utc
  /** What the event did, as a person reads it. */
  readonly summary: string
  readonly reactions: ReadonlyArray<TraceCommand>
}

/**
 * One command in a causal tree: who ran it, when, on which document, caused by what, and the
 * events it committed (oldest first).
 *
 * @since 0.1.0
 */
export interface TraceCommand {
  readonly causationId: string
  readonly documentId: string
  readonly actor: string
  readonly at: DateTime.Utc
  readonly events: ReadonlyArray<TraceEvent>
}

/**
 * The causal tree of one correlation: its root commands in commit order. `entries` counts the
 * journal entries it was built from: every one appears exactly once in the tree.
 *
 * @since 0.1.0
 */
export interface CausalTree {
  readonly correlationId: string
  readonly roots: ReadonlyArray<TraceCommand>
  readonly entries: number
}

/**
 * What an event did, in a few words.
 *
 * @since 0.1.0
 */
export const summarize = (event: DocumentEvent.DocumentEvent): string => {
  switch (event._tag) {
    case "DocumentCreated":
      return `created "${event.title}"`
    case "DocumentUpdated":
      return [
        event.title !== undefined ? `title → "${event.title}"` : undefined,
        event.content !== undefined ? `content changed (${event.content.length} characters)` : undefined
      ].filter((s) => s !== undefined).join(", ")
    case "DocumentDeleted":
      return `deleted: ${event.reason}`
  }
}

/**
 * Builds the causal tree of `correlationId` from journal entries (any order; entries of other
 * correlations are ignored). Pure: the same entries give the same tree.
 *
 * @since 0.1.0
 */
export const build = (entries: Iterable<Journal.JournalEntry>, correlationId: string): CausalTree => {
  const mine = Array.from(entries).filter((entry) => entry.event.correlationId === correlationId)
    .sort((a, b) => a.position - b.position)
  const eventIds = new Set(mine.map((entry) => entry.event.eventId))
  // Commands in commit order (of their first event), keyed by cause and document.
  const commands = new Map<string, Array<Journal.JournalEntry>>()
  for (const entry of mine) {
    const key = `${entry.event.causationId}\u0000${entry.event.documentId}`
    const events = commands.get(key)
    if (events === undefined) commands.set(key, [entry])
    else events.push(entry)
  }
  const byCause = new Map<string, Array<Array<Journal.JournalEntry>>>()
  const roots: Array<Array<Journal.JournalEntry>> = []
  for (const events of commands.values()) {
    const cause = events[0].event.causationId
    // An event never causes itself; a cause that is no event of this correlation makes a root.
    if (eventIds.has(cause) && cause !== events[0].event.eventId) {
      const siblings = byCause.get(cause)
      if (siblings === undefined) byCause.set(cause, [events])
      else siblings.push(events)
    } else {
      roots.push(events)
    }
  }
  const seen = new Set<string>()
  const toCommand = (events: Array<Journal.JournalEntry>): TraceCommand => ({
    causationId: events[0].event.causationId,
    documentId: events[0].event.documentId,
    actor: events[0].event.actor,
    at: events[0].event.occurredAt,
    events: events.map(toEvent)
  })
  const toEvent = ({ event, position }: Journal.JournalEntry): TraceEvent => {
    // A cycle of causes cannot come from the write path; a damaged or forged journal must not loop.
    const reactions = seen.has(event.eventId) ? [] : (byCause.get(event.eventId) ?? [])
    seen.add(event.eventId)
    return {
      position,
      eventId: event.eventId,
      type: event._tag,
      documentId: event.documentId,
      version: event.version,
      actor: event.actor,
      occurredAt: event.occurredAt,
      summary: summarize(event),
      reactions: reactions.map(toCommand)
    }
  }
  return { correlationId, roots: roots.map(toCommand), entries: mine.length }
}

/**
 * Every event of a tree, depth first in the order they are drawn.
 *
 * @since 0.1.0
 */
export const events = (tree: CausalTree): ReadonlyArray<TraceEvent> => {
  const out: Array<TraceEvent> = []
  const walk = (command: TraceCommand) => {
    for (const event of command.events) {
      out.push(event)
      event.reactions.forEach(walk)
    }
  }
  tree.roots.forEach(walk)
  return out
}

const short = (id: string) => id.slice(0, 8)

/**
 * The tree as text, one line per command and per event, indented by cause:
 *
 * ```
 * command 5d0c…  by ann  at 2026-11-29T10:00:00.000Z  on 7e1f…
 * └─ #12 DocumentCreated 7e1f… v1  by ann  at 2026-11-29T10:00:00.000Z  created "Review: Launch plan"
 *    └─ reaction 3b9a…  by publisher  at …  on 1c2d…
 *       └─ #14 DocumentCreated 1c2d… v1  by publisher  at …  created "Launch plan (published)"
 * ```
 *
 * @since 0.1.0
 */
export const render = (tree: CausalTree): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const commandLine = (command: TraceCommand, kind: string) =>
    `${kind} ${short(command.causationId)}…  by ${command.actor}  at ${
      DateTime.formatIso(command.at)
    }  on ${command.documentId}`
  const eventLine = (event: TraceEvent) =>
    `#${event.position} ${event.type} ${short(event.documentId)}… v${event.version}  by ${event.actor}  at ${
      DateTime.formatIso(event.occurredAt)
    }  ${event.summary}`
  const walkCommand = (command: TraceCommand, kind: string, indent: string, branch: string, rest: string) => {
    lines.push(indent + branch + commandLine(command, kind))
    command.events.forEach((event, i) => {
      const last = i === command.events.length - 1
      lines.push(indent + rest + (last ? "└─ " : "├─ ") + eventLine(event))
      const below = indent + rest + (last ? "   " : "│  ")
      event.reactions.forEach((reaction, j) => {
        const lastReaction = j === event.reactions.length - 1
        walkCommand(reaction, "reaction", below, lastReaction ? "└─ " : "├─ ", lastReaction ? "   " : "│  ")
      })
    })
  }
  for (const root of tree.roots) walkCommand(root, "command", "", "", "")
  return lines
}

/**
 * The causal tree of a correlation, read from the journal. The journal has no index by
 * correlation, so this reads every entry once (a page at a time, never all in memory), keeping
 * only the correlation's: fine for an operator's question, not for a hot path.
 *
 * @since 0.1.0
 */
export const trace = (correlationId: string): Effect.Effect<CausalTree, Errors.JournalError, Journal.Journal> =>
  Effect.flatMap(Journal.Journal, (journal) =>
    journal.read().pipe(
      Stream.filter((entry) => entry.event.correlationId === correlationId),
      Stream.runCollect,
      Effect.map((entries) => build(Chunk.toReadonlyArray(entries), correlationId))
    ))
