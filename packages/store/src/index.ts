/**
 * @since 0.1.0
 */
export * as MemoryJournal from "./MemoryJournal.js"
/**
 * @since 0.1.0
 */
export * as VersionedStore from "./VersionedStore.js"
