/**
 * Renders one run's records for people: a console table with ratios, a Markdown table and an SVG
 * bar chart of the throughput ratios. Ratios compare each system with the first NERV system of the
 * same workload and metric (`nerv-*`), so "3.2×" reads as "this peer did 3.2 times NERV's figure".
 */
import type { BenchRecord } from "./harness.js"

/** A figure's spread, (max − min) / median, above which it is flagged as noisy. */
export const noisySpread = 0.25

const groupBy = <A>(items: ReadonlyArray<A>, key: (a: A) => string): Map<string, Array<A>> => {
  const groups = new Map<string, Array<A>>()
  for (const item of items) {
    const k = key(item)
    const group = groups.get(k)
    if (group === undefined) groups.set(k, [item])
    else group.push(item)
  }
  return groups
}

const isThroughput = (metric: string) => metric.endsWith("/s")

const format = (value: number, metric: string): string => {
  if (isThroughput(metric)) {
    if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`
    if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`
    return value.toFixed(0)
  }
  return value >= 100 ? value.toFixed(0) : value.toFixed(value >= 10 ? 1 : 2)
}

/** Whether a record's runs spread more than `noisySpread` around its median. */
export const isNoisy = (record: BenchRecord): boolean =>
  record.median > 0 && (record.max - record.min) / record.median > noisySpread

interface Row {
  readonly system: string
  readonly median: string
  readonly range: string
  readonly ratio: string
  readonly noisy: boolean
}

/** The rows of one (workload, metric) group, with ratios to the group's NERV reference. */
const rows = (group: ReadonlyArray<BenchRecord>): Array<Row> => {
  const reference = group.find((r) => r.system.startsWith("nerv-")) ?? group[0]!
  return group.map((r) => ({
    system: r.system,
    median: format(r.median, r.metric),
    range: `${format(r.min, r.metric)}–${format(r.max, r.metric)}`,
    ratio: reference.median > 0 ? `${(r.median / reference.median).toFixed(2)}×` : "–",
    noisy: isNoisy(r)
  }))
}

const groups = (records: ReadonlyArray<BenchRecord>) => groupBy(records, (r) => `${r.workload} · ${r.metric}`)

/** The console table. */
export const consoleTable = (records: ReadonlyArray<BenchRecord>): string => {
  const lines: Array<string> = []
  for (const [title, group] of groups(records)) {
    const reference = group.find((r) => r.system.startsWith("nerv-")) ?? group[0]!
    lines.push("", `${title}  (ratio to ${reference.system}; runs: ${reference.runs})`)
    const table = rows(group)
    const width = Math.max(...table.map((r) => r.system.length))
    const medianWidth = Math.max(...table.map((r) => r.median.length))
    const rangeWidth = Math.max(...table.map((r) => r.range.length))
    for (const row of table) {
      lines.push(
        `  ${row.system.padEnd(width)}  ${row.median.padStart(medianWidth)}  [${row.range.padStart(rangeWidth)}]  ${
          row.ratio.padStart(7)
        }${row.noisy ? "  noisy" : ""}`
      )
    }
  }
  return lines.join("\n")
}

/** The Markdown report: one table per (workload, metric), then the notes. */
export const markdown = (
  records: ReadonlyArray<BenchRecord>,
  header: ReadonlyArray<string>,
  notes: ReadonlyArray<string>
): string => {
  const out: Array<string> = [...header, ""]
  for (const [title, group] of groups(records)) {
    const reference = group.find((r) => r.system.startsWith("nerv-")) ?? group[0]!
    out.push(`### ${title}`, "", `| system | median | min–max | × ${reference.system} |`, "|---|---:|---:|---:|")
    for (const row of rows(group)) {
      out.push(`| ${row.system} | ${row.median}${row.noisy ? " ⚠" : ""} | ${row.range} | ${row.ratio} |`)
    }
    out.push("")
  }
  if (notes.length > 0) out.push("### Notes", "", ...notes.map((n) => `- ${n}`), "")
  return out.join("\n")
}

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/**
 * A horizontal bar chart of every throughput workload: one group per workload, one bar per system,
 * drawn from the 1× line to the system's events/s as a ratio to the workload's NERV reference, on a
 * log scale (so 0.1× and 10× are equally far from 1×), labelled with the ratio and the figure.
 */
export const svgChart = (records: ReadonlyArray<BenchRecord>, title: string): string => {
  const throughputGroups = [...groupBy(records.filter((r) => isThroughput(r.metric)), (r) => r.workload)]
  const barHeight = 16
  const gap = 4
  const groupGap = 28
  const left = 330
  const plotWidth = 520
  const right = 200
  const top = 56
  const ratios = throughputGroups.flatMap(([, group]) => {
    const reference = group.find((r) => r.system.startsWith("nerv-")) ?? group[0]!
    return group.map((r) => r.median / reference.median)
  })
  const minExp = Math.floor(Math.log10(Math.min(...ratios, 0.5)))
  const maxExp = Math.ceil(Math.log10(Math.max(...ratios, 2)))
  const x = (ratio: number) => left + ((Math.log10(ratio) - minExp) / (maxExp - minExp)) * plotWidth
  const colours: Record<string, string> = {
    "nerv-bus": "#d9480f",
    "nerv-dispatcher": "#f08c00",
    "effect-pubsub": "#5f3dc4"
  }
  const parts: Array<string> = []
  let y = top
  for (const [workload, group] of throughputGroups) {
    const reference = group.find((r) => r.system.startsWith("nerv-")) ?? group[0]!
    parts.push(
      `<text x="10" y="${y - 8}" font-weight="bold">${escape(workload)} (events/s, × ${
        escape(reference.system)
      })</text>`
    )
    for (const r of group) {
      const ratio = r.median / reference.median
      // Bars grow from the 1× line: right for faster than the reference, left for slower.
      const one = x(1)
      const end = x(ratio)
      const label = `${ratio.toFixed(2)}× · ${format(r.median, r.metric)}${isNoisy(r) ? " (noisy)" : ""}`
      parts.push(
        `<text x="16" y="${y + barHeight - 4}">${escape(r.system)}</text>`,
        `<rect x="${Math.min(one, end)}" y="${y}" width="${
          Math.max(2, Math.abs(end - one))
        }" height="${barHeight}" fill="${colours[r.system] ?? "#868e96"}"><title>${
          escape(`${r.system}: ${Math.round(r.median)} events/s`)
        }</title></rect>`,
        ratio >= 1
          ? `<text x="${Math.max(end, one) + 6}" y="${y + barHeight - 4}">${escape(label)}</text>`
          : `<text x="${end - 6}" y="${y + barHeight - 4}" text-anchor="end">${escape(label)}</text>`
      )
      y += barHeight + gap
    }
    y += groupGap
  }
  const axis: Array<string> = []
  for (let e = minExp; e <= maxExp; e++) {
    const ratio = Math.pow(10, e)
    axis.push(
      `<line x1="${x(ratio)}" y1="${top - 20}" x2="${x(ratio)}" y2="${y - groupGap}" stroke="${
        e === 0 ? "#212529" : "#dee2e6"
      }" stroke-width="${e === 0 ? 1.5 : 1}"/>`,
      `<text x="${x(ratio)}" y="${y - groupGap + 16}" text-anchor="middle" fill="#495057">${ratio}×</text>`
    )
  }
  const width = left + plotWidth + right
  const height = y - groupGap + 30
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${escape(title)}</text>`,
    ...axis,
    ...parts,
    `</svg>`,
    ""
  ].join("\n")
}
