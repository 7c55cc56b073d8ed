/**
 * The inspector's page: plain DOM, no framework. Everything shown comes from the inspector's JSON
 * API and the live feed, and is written as text (never as HTML), so nothing a document holds can
 * run in the page.
 */

interface DocumentJson {
  readonly id: string
  readonly title: string
  readonly content: string
  readonly author: string
  readonly version: number
  readonly createdAt: string
  readonly modifiedAt: string
  readonly lastEditor: string
  readonly deleted: boolean
  readonly deletionReason: string | null
}

interface VersionJson {
  readonly version: number
  readonly event: string
  readonly occurredAt: string
  readonly actor: string
}

type DocumentView =
  | { readonly forgotten: false; readonly document: DocumentJson; readonly versions: ReadonlyArray<VersionJson> }
  | { readonly forgotten: true; readonly id: string; readonly versions: ReadonlyArray<VersionJson> }

interface EntryJson {
  readonly position: number
  readonly type: string
  readonly documentId: string
  readonly version: number
  readonly actor: string
  readonly occurredAt: string
  readonly correlationId: string
  readonly summary: string
  readonly forgotten: boolean
}

interface FieldChange {
  readonly field: string
  readonly before?: string | undefined
  readonly after?: string | undefined
}

interface TraceCommand {
  readonly causationId: string
  readonly documentId: string
  readonly actor: string
  readonly at: string
  readonly events: ReadonlyArray<
    Omit<EntryJson, "correlationId"> & { readonly reactions: ReadonlyArray<TraceCommand> }
  >
}

interface HandlerSnapshot {
  readonly handler: string
  readonly tags: ReadonlyArray<string>
  readonly queueDepth: number
  readonly inFlight: number
  readonly delivered: number
  readonly failed: number
  readonly deadLettered: number
}

interface DispatcherView {
  readonly snapshot: {
    readonly dispatcher: string
    readonly state: string
    readonly accepted: number
    readonly pending: number
    readonly scheduled: number
    readonly deadLetters: number
    readonly handlers: ReadonlyArray<HandlerSnapshot>
  }
  readonly deadLetters: ReadonlyArray<{
    readonly id: number
    readonly handler: string
    readonly attempts: number
    readonly failedAt: string
    readonly event: { readonly type: string; readonly documentId: string | null }
    readonly error: string
    readonly message: string
  }>
}

type Child = Node | string | number | null | undefined | false

/** An element with attributes and children; text children are text nodes, never parsed as HTML. */
const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: ReadonlyArray<Child>
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value)
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    element.append(typeof child === "object" ? child : String(child))
  }
  return element
}

const byId = <E extends HTMLElement>(id: string) => document.getElementById(id) as E

class ApiError extends Error {}

const api = async <A>(path: string): Promise<A> => {
  const response = await fetch(path, { headers: { accept: "application/json" } })
  const body = await response.json() as A & { readonly message?: string }
  if (!response.ok) throw new ApiError(body.message ?? `${response.status} ${response.statusText}`)
  return body
}

const showError = (error: unknown) => {
  const banner = byId<HTMLParagraphElement>("error")
  banner.textContent = error instanceof Error ? error.message : String(error)
  banner.hidden = false
  setTimeout(() => (banner.hidden = true), 8_000)
}

const short = (id: string) => id.slice(0, 8)
const when = (iso: string) => iso.replace("T", " ").replace(/\.\d+Z$/, "Z")

const linkButton = (text: string, onClick: () => void, attributes: Record<string, string> = {}) => {
  const button = h("button", { type: "button", class: "link", ...attributes }, text)
  button.addEventListener("click", onClick)
  return button
}

// ---- documents ----

let openId: string | undefined

const searchDocuments = async () => {
  const term = byId<HTMLInputElement>("search").value.trim()
  const list = byId<HTMLUListElement>("document-list")
  // A whole id opens that document, forgotten ones included (the list never holds those).
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(term)) {
    list.replaceChildren(h("li", {}, linkButton(`open ${term}`, () => void openDocument(term), { "data-id": term })))
    return
  }
  const { complete, documents } = await api<{ readonly documents: ReadonlyArray<DocumentJson>; complete: boolean }>(
    `/api/documents?search=${encodeURIComponent(term)}`
  )
  list.replaceChildren(
    ...documents.map((d) =>
      h(
        "li",
        {},
        linkButton(d.title, () => void openDocument(d.id), { "data-id": d.id }),
        h("div", { class: "muted" }, `v${d.version} · ${d.author}${d.deleted ? " · deleted" : ""} · `, short(d.id))
      )
    ),
    ...(documents.length === 0 ? [h("li", { class: "muted" }, "no documents")] : []),
    ...(complete
      ? []
      : [h("li", { class: "muted" }, "searched the oldest 20,000 documents only: paste an id to open any")])
  )
}

const openDocument = async (id: string) => {
  const view = await api<DocumentView>(`/api/documents/${encodeURIComponent(id)}`)
  openId = id
  byId("document").hidden = false
  const travel = byId("time-travel")
  const banner = byId("forgotten-banner")
  byId<HTMLTableSectionElement>("versions").querySelector("tbody")!.replaceChildren(
    ...view.versions.map((v) =>
      h("tr", {}, h("td", {}, v.version), h("td", {}, v.event), h("td", {}, when(v.occurredAt)), h("td", {}, v.actor))
    )
  )
  if (view.forgotten) {
    scrub(view.id)
    byId("doc-title").textContent = `Forgotten document ${short(view.id)}…`
    byId("doc-meta").textContent = `${view.id} · ${view.versions.length} versions`
    banner.hidden = false
    travel.hidden = true
    return
  }
  const d = view.document
  banner.hidden = true
  travel.hidden = false
  byId("doc-title").textContent = d.title
  byId("doc-meta").textContent = `${d.id} · by ${d.author} · version ${d.version} · last edited by ${d.lastEditor} ` +
    `at ${when(d.modifiedAt)}${d.deleted ? ` · deleted: ${d.deletionReason ?? ""}` : ""}`
  const slider = byId<HTMLInputElement>("version-slider")
  const first = view.versions[0]?.version ?? 1
  slider.min = String(first)
  slider.max = String(d.version)
  slider.value = String(d.version)
  const options = (selected: number) =>
    view.versions.map((v) => {
      const option = h("option", { value: String(v.version) }, `v${v.version}`)
      option.selected = v.version === selected
      return option
    })
  byId<HTMLSelectElement>("diff-from").replaceChildren(...options(Math.max(first, d.version - 1)))
  byId<HTMLSelectElement>("diff-to").replaceChildren(...options(d.version))
  byId("diff-output").replaceChildren()
  await showVersion(d.version)
}

const showVersion = async (version: number) => {
  if (openId === undefined) return
  const d = await api<DocumentJson>(`/api/documents/${encodeURIComponent(openId)}/versions/${version}`)
  byId("version-label").textContent = `${version} of ${byId<HTMLInputElement>("version-slider").max}`
  byId("version-title").textContent = d.title
  byId("version-content").textContent = d.content
}

/** A line diff (longest common subsequence), for contents of up to a few thousand lines. */
const lineDiff = (before: string, after: string): Array<readonly ["same" | "removed" | "added", string]> => {
  const a = before.split("\n")
  const b = after.split("\n")
  if (a.length * b.length > 4_000_000) {
    return [...a.map((line) => ["removed", line] as const), ...b.map((line) => ["added", line] as const)]
  }
  const lcs: Array<Uint32Array> = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
    }
  }
  const out: Array<readonly ["same" | "removed" | "added", string]> = []
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push(["same", a[i]!])
      i++
      j++
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push(["removed", a[i++]!])
    else out.push(["added", b[j++]!])
  }
  while (i < a.length) out.push(["removed", a[i++]!])
  while (j < b.length) out.push(["added", b[j++]!])
  return out
}

const showDiff = async () => {
  if (openId === undefined) return
  const from = byId<HTMLSelectElement>("diff-from").value
  const to = byId<HTMLSelectElement>("diff-to").value
  const diff = await api<{ readonly changes: ReadonlyArray<FieldChange>; readonly editors: ReadonlyArray<string> }>(
    `/api/documents/${encodeURIComponent(openId)}/diff?from=${from}&to=${to}`
  )
  const output = byId("diff-output")
  if (diff.changes.length === 0) {
    output.replaceChildren(h("p", { class: "muted" }, `no changes between v${from} and v${to}`))
    return
  }
  output.replaceChildren(
    h("p", { class: "muted" }, `v${from} → v${to}, changed by ${diff.editors.join(", ") || "nobody"}`),
    ...diff.changes.map((change) =>
      h(
        "div",
        { class: "change", "data-field": change.field },
        h("h4", {}, change.field),
        change.field === "content"
          ? h(
            "pre",
            {},
            ...lineDiff(change.before ?? "", change.after ?? "").map(([kind, line]) =>
              h("div", { class: `diff-line ${kind === "same" ? "" : kind}` }, line)
            )
          )
          : h(
            "p",
            {},
            h("span", { class: "removed" }, change.before ?? "(none)"),
            " → ",
            h("span", { class: "added" }, change.after ?? "(none)")
          )
      )
    )
  )
}

// ---- live events ----

/** Drops what the page still shows of a document's content once it is known to be forgotten. */
const scrub = (id: string) => {
  for (const line of document.querySelectorAll<HTMLElement>(`[data-document="${CSS.escape(id)}"] .summary`)) {
    line.textContent = "content forgotten"
  }
  for (const item of document.querySelectorAll(`#document-list [data-id="${CSS.escape(id)}"]`)) {
    if (item.textContent !== `open ${id}`) item.closest("li")?.remove()
  }
}

let lastPosition = 0
let refreshList: ReturnType<typeof setTimeout> | undefined
let refreshDispatcher: ReturnType<typeof setTimeout> | undefined

const addEntry = (entry: EntryJson) => {
  if (entry.position <= lastPosition) return
  lastPosition = entry.position
  byId("position").textContent = `position ${entry.position}`
  const list = byId<HTMLUListElement>("event-list")
  list.prepend(
    h(
      "li",
      { "data-position": String(entry.position), "data-document": entry.documentId },
      h("span", { class: "mono" }, `#${entry.position} `),
      `${entry.type} v${entry.version} by ${entry.actor} `,
      h("span", { class: "summary" }, entry.summary),
      h(
        "div",
        { class: "muted" },
        linkButton(`document ${short(entry.documentId)}`, () => void openDocument(entry.documentId).catch(showError)),
        " · ",
        linkButton(`trace ${short(entry.correlationId)}`, () => void traceCorrelation(entry.correlationId)),
        ` · ${when(entry.occurredAt)}`
      )
    )
  )
  while (list.children.length > 500) list.lastElementChild?.remove()
  if (entry.documentId === openId) void openDocument(entry.documentId).catch(showError)
  clearTimeout(refreshList)
  refreshList = setTimeout(() => void searchDocuments().catch(showError), 200)
  // The dispatcher's figures move with the events; each read is audited, so at most one per 2 s.
  if (refreshDispatcher === undefined) {
    refreshDispatcher = setTimeout(() => {
      refreshDispatcher = undefined
      void showDispatcher().catch(showError)
    }, 2_000)
  }
}

const follow = () => {
  const status = byId("status")
  // EventSource sends the last id it saw when it reconnects, and the feed resumes right after it.
  const source = new EventSource("/api/events")
  source.addEventListener("open", () => {
    status.dataset.state = "live"
    status.textContent = "live"
  })
  source.addEventListener("entry", (message) => addEntry(JSON.parse((message as MessageEvent<string>).data)))
  source.addEventListener("failure", (message) => showError(JSON.parse((message as MessageEvent<string>).data).message))
  source.addEventListener("error", () => {
    status.dataset.state = source.readyState === EventSource.CLOSED ? "refused" : "reconnecting"
    status.textContent = source.readyState === EventSource.CLOSED ? "refused" : "reconnecting…"
  })
}

// ---- causal tree ----

const commandNode = (command: TraceCommand, kind: string): HTMLLIElement =>
  h(
    "li",
    {},
    `${kind} ${short(command.causationId)}… by ${command.actor} at ${when(command.at)} on `,
    linkButton(short(command.documentId), () => void openDocument(command.documentId).catch(showError)),
    h(
      "ul",
      {},
      ...command.events.map((event) =>
        h(
          "li",
          { "data-position": String(event.position), "data-document": event.documentId },
          h("span", { class: "mono" }, `#${event.position} `),
          `${event.type} v${event.version} by ${event.actor} — `,
          h("span", { class: "summary" }, event.summary),
          event.reactions.length > 0 && h("ul", {}, ...event.reactions.map((r) => commandNode(r, "reaction")))
        )
      )
    )
  )

const traceCorrelation = async (correlationId: string) => {
  byId<HTMLInputElement>("trace-id").value = correlationId
  const output = byId("trace-output")
  try {
    const tree = await api<{ readonly entries: number; readonly roots: ReadonlyArray<TraceCommand> }>(
      `/api/trace/${encodeURIComponent(correlationId)}`
    )
    output.replaceChildren(
      tree.entries === 0
        ? h("p", { class: "muted" }, "no event carries this correlation id")
        : h("ul", {}, ...tree.roots.map((root) => commandNode(root, "command")))
    )
  } catch (error) {
    showError(error)
  }
}

// ---- dispatcher ----

const cells = (values: ReadonlyArray<Child>, tag: "td" | "th" = "td") =>
  h("tr", {}, ...values.map((v) => h(tag, {}, v)))

const showDispatcher = async () => {
  const view = await api<DispatcherView | null>("/api/dispatcher")
  const output = byId("dispatcher-output")
  if (view === null) {
    output.replaceChildren(
      h("p", { class: "muted" }, "No dispatcher runs in this process: the page of a host that runs one shows it.")
    )
    return
  }
  const s = view.snapshot
  output.replaceChildren(
    h(
      "p",
      {},
      `${s.dispatcher}: ${s.state}, ${s.accepted} accepted, ${s.pending} pending, ${s.scheduled} scheduled, ` +
        `${s.deadLetters} dead letters`
    ),
    h(
      "table",
      { id: "handlers" },
      cells(["handler", "queue depth", "in flight", "delivered", "failed", "dead letters"], "th"),
      ...s.handlers.map((x) => cells([x.handler, x.queueDepth, x.inFlight, x.delivered, x.failed, x.deadLettered]))
    ),
    h("h3", {}, "Dead letters"),
    view.deadLetters.length === 0 ? h("p", { class: "muted" }, "none") : h(
      "table",
      { id: "dead-letters" },
      cells(["#", "handler", "event", "attempts", "error", "when"], "th"),
      ...view.deadLetters.map((l) =>
        cells([
          l.id,
          l.handler,
          `${l.event.type}${l.event.documentId === null ? "" : ` ${short(l.event.documentId)}`}`,
          l.attempts,
          `${l.error}: ${l.message}`,
          when(l.failedAt)
        ])
      )
    )
  )
}

// ---- start ----

const start = async () => {
  const slider = byId<HTMLInputElement>("version-slider")
  slider.addEventListener("input", () => void showVersion(Number(slider.value)).catch(showError))
  byId("diff-show").addEventListener("click", () => void showDiff().catch(showError))
  let typing: ReturnType<typeof setTimeout> | undefined
  byId("search").addEventListener("input", () => {
    clearTimeout(typing)
    typing = setTimeout(() => void searchDocuments().catch(showError), 150)
  })
  byId("trace-show").addEventListener("click", () => {
    const id = byId<HTMLInputElement>("trace-id").value.trim()
    if (id !== "") void traceCorrelation(id)
  })
  byId("dispatcher-refresh").addEventListener("click", () => void showDispatcher().catch(showError))
  const who = await api<{ readonly principal: string }>("/api/whoami")
  byId("whoami").textContent = `reading as ${who.principal}`
  follow()
  await Promise.all([searchDocuments(), showDispatcher()])
}

start().catch(showError)
