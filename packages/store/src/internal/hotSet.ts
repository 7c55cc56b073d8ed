/**
 * Which documents a store holds, least recently used first, with about how many bytes each takes
 * (see `StoreState.bytesOf`): the order in which they leave memory when the budget is exceeded.
 */
export const makeHotSet = (budget: { readonly maxDocuments: number; readonly maxBytes: number }) => {
  const recency = new Map<string, number>()
  let bytes = 0
  // The document used last stays, even alone over the byte budget: it is the one being worked on,
  // and letting it go would make every command on a large document read it back whole.
  let mostRecent: string | undefined
  const overBudget = () => recency.size > budget.maxDocuments || bytes > budget.maxBytes
  return {
    /** A document was used, and grew by `grew` bytes: it becomes the most recently used. */
    touch: (id: string, grew: number) => {
      const size = (recency.get(id) ?? 0) + grew
      recency.delete(id)
      recency.set(id, size)
      bytes += grew
      mostRecent = id
    },
    /** A document held now takes `size` bytes (after a compaction). */
    resized: (id: string, size: number) => {
      const before = recency.get(id)
      if (before === undefined) return
      recency.set(id, size)
      bytes += size - before
    },
    /** A document left memory. */
    remove: (id: string) => {
      const size = recency.get(id)
      if (size === undefined) return
      recency.delete(id)
      bytes -= size
    },
    overBudget,
    /**
     * Takes out the least recently used documents until the set is within its budget, passing
     * over those `stays` keeps and the one used last, and returns them.
     */
    leaving: (stays: (id: string) => boolean): Array<string> => {
      if (!overBudget()) return []
      const leaving: Array<string> = []
      for (const [id, size] of recency) {
        if (recency.size - leaving.length <= budget.maxDocuments && bytes <= budget.maxBytes) break
        if (id === mostRecent || stays(id)) continue
        leaving.push(id)
        bytes -= size
      }
      for (const id of leaving) recency.delete(id)
      return leaving
    },
    size: () => ({ documents: recency.size, bytes })
  }
}
