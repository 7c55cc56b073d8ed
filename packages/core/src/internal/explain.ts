import * as ParseResult from "effect/ParseResult"

/** At most this many lines of explanation, each at most `maxLineLength` characters. */
const maxLines = 40
const maxLineLength = 300

/**
 * Bounds a Schema explanation for a message: an input with a million unexpected fields, or a
 * field holding a megabyte where a title belongs, is explained in a few lines, not a million.
 */
const boundExplanation = (text: string): string => {
  const lines = text.split("\n")
  const kept = lines.slice(0, maxLines).map((line) =>
    line.length > maxLineLength
      ? `${line.slice(0, maxLineLength)}… (${line.length - maxLineLength} more characters)`
      : line
  )
  if (lines.length > maxLines) kept.push(`… and ${lines.length - maxLines} more lines`)
  return kept.join("\n")
}

/**
 * The Schema's tree-formatted explanation of a failure, bounded in length. The explanation quotes
 * the value that failed, and quoting a value nested thousands of levels deep (or one whose getters
 * throw) fails; such a value gets a short statement instead. Never throws.
 */
export const explain = (error: ParseResult.ParseError): string => {
  try {
    return boundExplanation(ParseResult.TreeFormatter.formatErrorSync(error))
  } catch {
    return "the value does not match its schema, and is too deeply nested (or too hostile) to quote"
  }
}
