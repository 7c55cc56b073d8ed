/**
 * The time expressions `nerv ask` understands, resolved against an instant ("now"), in UTC (the
 * store's times are UTC). A day named without a time of day means the end of that day, so "as it was
 * yesterday" is the last version of yesterday; "3 days ago" is exactly 72 hours before now.
 */

/** A time expression found in a text: where it is, and the instant it names (epoch millis, UTC). */
export interface TimeSpan {
  readonly start: number
  readonly end: number
  readonly instant: number
}

const minute = 60_000
const hour = 60 * minute
const day = 24 * hour

const numberWords: Record<string, number> = {
  a: 1,
  an: 1,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12
}

const weekdays = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
const months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

const startOfDay = (t: number) => t - (((t % day) + day) % day)
const endOfDay = (t: number) => startOfDay(t) + day - 1

const amount = (word: string) => numberWords[word] ?? Number(word)

const monthsBefore = (now: number, n: number) => {
  const date = new Date(now)
  date.setUTCMonth(date.getUTCMonth() - n)
  return date.getTime()
}

/** "3pm", "15:00", "9:30 am", "noon" → milliseconds into the day. */
const clock = (text: string): number | undefined => {
  if (text === "noon" || text === "midday") return 12 * hour
  if (text === "midnight") return 0
  const match = /^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$/.exec(text)
  if (match === null) return undefined
  let h = Number(match[1])
  const m = match[2] === undefined ? 0 : Number(match[2])
  if (match[3] === undefined && match[2] === undefined) return undefined
  if (match[3] === "pm" && h < 12) h += 12
  if (match[3] === "am" && h === 12) h = 0
  return h < 24 && m < 60 ? h * hour + m * minute : undefined
}

const clockPattern = String.raw`(?:noon|midday|midnight|\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{1,2}:\d{2})`
const partOfDay = String.raw`(?:\s+(?:morning|afternoon|evening|night))?`
const atClock = String.raw`(?:\s+at\s+(${clockPattern}))?`
const unit = String.raw`(minute|min|hour|hr|day|week|month|year)s?`

const dayOffset = (word: string) => word === "today" ? 0 : word === "yesterday" ? 1 : 2

interface Rule {
  readonly pattern: RegExp
  readonly resolve: (match: RegExpExecArray, now: number) => number | undefined
}

const onDay = (dayStart: number, time: string | undefined) => {
  if (time === undefined) return endOfDay(dayStart)
  const ms = clock(time)
  return ms === undefined ? undefined : dayStart + ms
}

const rules: ReadonlyArray<Rule> = [
  {
    // 2026-11-03, 2026-11-03 09:30, 2026-11-03T09:30:00Z
    pattern: /\b(\d{4})-(\d{2})-(\d{2})(?:[ t](\d{1,2}):(\d{2})(?::(\d{2}))?z?)?\b/g,
    resolve: (m) => {
      const base = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
      if (Number.isNaN(base)) return undefined
      return m[4] === undefined
        ? endOfDay(base)
        : base + Number(m[4]) * hour + Number(m[5]) * minute + Number(m[6] ?? 0) * 1_000
    }
  },
  {
    // at 3pm yesterday, at 9am today
    pattern: new RegExp(String.raw`\bat\s+(${clockPattern})\s+(the day before yesterday|yesterday|today)\b`, "g"),
    resolve: (m, now) => onDay(startOfDay(now) - dayOffset(m[2]!) * day, m[1])
  },
  {
    // yesterday, the day before yesterday, yesterday morning at 9am, today at noon
    pattern: new RegExp(String.raw`\b(the day before yesterday|yesterday|today)${partOfDay}${atClock}\b`, "g"),
    resolve: (m, now) =>
      m[1] === "today" && m[2] === undefined ? now : onDay(startOfDay(now) - dayOffset(m[1]!) * day, m[2])
  },
  {
    // 3 days ago, an hour ago, two weeks ago
    pattern: new RegExp(
      String.raw`\b(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+${unit}\s+ago\b`,
      "g"
    ),
    resolve: (m, now) => {
      const n = amount(m[1]!)
      switch (m[2]) {
        case "minute":
        case "min":
          return now - n * minute
        case "hour":
        case "hr":
          return now - n * hour
        case "day":
          return now - n * day
        case "week":
          return now - 7 * n * day
        case "month":
          return monthsBefore(now, n)
        default:
          return monthsBefore(now, 12 * n)
      }
    }
  },
  {
    // last week, last month, last year: one of them before now
    pattern: /\blast\s+(week|month|year)\b/g,
    resolve: (m, now) => m[1] === "week" ? now - 7 * day : monthsBefore(now, m[1] === "month" ? 1 : 12)
  },
  {
    // (last|on|this past) monday: the latest such day before today
    pattern: new RegExp(String.raw`\b(?:last\s+|on\s+|this past\s+)?(${weekdays.join("|")})${atClock}\b`, "g"),
    resolve: (m, now) => {
      const today = new Date(now).getUTCDay()
      const back = ((today - weekdays.indexOf(m[1]!) + 7) % 7) || 7
      return onDay(startOfDay(now) - back * day, m[2])
    }
  },
  {
    // November 3, Nov 3rd, 3 November, the 12th of November
    pattern: new RegExp(
      String.raw`\b(?:(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(${months.join("|")})[a-z]*|(${
        months.join("|")
      })[a-z]*\s+(\d{1,2})(?:st|nd|rd|th)?)\b`,
      "g"
    ),
    resolve: (m, now) => {
      const dayOfMonth = Number(m[1] ?? m[4])
      const month = months.indexOf((m[2] ?? m[3])!)
      if (dayOfMonth < 1 || dayOfMonth > 31) return undefined
      const year = new Date(now).getUTCFullYear()
      const that = Date.UTC(year, month, dayOfMonth)
      // A date later than today in the current year means the same date of last year.
      return endOfDay(that > now ? Date.UTC(year - 1, month, dayOfMonth) : that)
    }
  }
]

/**
 * Every time expression in `text` (lower case), earliest first, none overlapping (the first rule
 * that claims a stretch of text keeps it).
 */
export const findTimes = (text: string, now: number): Array<TimeSpan> => {
  const found: Array<TimeSpan> = []
  const overlaps = (start: number, end: number) => found.some((span) => start < span.end && span.start < end)
  for (const rule of rules) {
    rule.pattern.lastIndex = 0
    for (let match = rule.pattern.exec(text); match !== null; match = rule.pattern.exec(text)) {
      const start = match.index
      const end = start + match[0].length
      if (overlaps(start, end)) continue
      const instant = rule.resolve(match, now)
      if (instant !== undefined && Number.isFinite(instant)) found.push({ start, end, instant })
    }
  }
  return found.sort((a, b) => a.start - b.start)
}
