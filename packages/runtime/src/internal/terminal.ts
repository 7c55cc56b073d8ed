/**
 * Text for a terminal: what a title, a name or a path may hold that a terminal would act on
 * (a line break forging a line, ESC clearing the screen, a bidi override reordering what follows)
 * shown as an escape instead, and colour only where it will be seen as colour.
 */

/**
 * The characters a terminal acts on instead of showing: C0 controls (line breaks, tab, ESC…),
 * DEL, C1 controls (8-bit CSI…), the Unicode line and paragraph separators, and the bidirectional
 * formatting characters.
 */
const controls = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" }

const escapeOne = (char: string): string => {
  const known = named[char]
  if (known !== undefined) return known
  const code = char.charCodeAt(0)
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
}

/** One line of text with every control character shown as an escape (`\n`, `\x1b`, `\u202e`). */
export const escapeControl = (text: string): string => text.replace(controls, escapeOne)

/** Text of several lines, each escaped on its own: its line breaks stay line breaks. */
export const escapeLines = (text: string): string => text.split("\n").map(escapeControl).join("\n")

/** The characters JSON leaves as they are but a terminal acts on (JSON escapes the C0 controls itself). */
const jsonControls = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * A value as indented JSON that is also safe to print: the same JSON value, with the characters a
 * terminal acts on written as `\u` escapes.
 */
export const safeJson = (value: unknown): string =>
  JSON.stringify(value, null, 2).replace(
    jsonControls,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/** ANSI escape sequences (SGR colours and the like), as @effect/cli's help and errors hold them. */
const ansi = /\u001b\[[0-?]*[ -/]*[@-~]/g

/** Text without its ANSI escape sequences. */
export const stripAnsi = (text: string): string => text.replace(ansi, "")

/** SGR sequences: colours and styles, all a coloured output needs (not cursor moves or clearing). */
const sgr = /\u001b\[[0-9;]*m/g

/** Text of several lines with its colours (SGR sequences) kept and every other control character escaped. */
export const escapeAroundAnsi = (text: string): string => {
  let escaped = ""
  let last = 0
  for (const match of text.matchAll(sgr)) {
    escaped += escapeLines(text.slice(last, match.index)) + match[0]
    last = match.index + match[0].length
  }
  return escaped + escapeLines(text.slice(last))
}

/**
 * Whether to colour what goes to a stream: only a terminal, and only without `NO_COLOR` (set to
 * anything but the empty string, https://no-color.org).
 */
export const colorsFor = (
  stream: { readonly isTTY?: boolean | undefined },
  env: Readonly<Record<string, string | undefined>>
): boolean => stream.isTTY === true && (env["NO_COLOR"] === undefined || env["NO_COLOR"] === "")
