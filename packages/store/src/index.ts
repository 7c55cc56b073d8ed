/**
 * @since 0.1.0
 */
export * as MemoryJournal from "./MemoryJournal.js"
/**
 * @since 0.1.0
 */
export * as PayloadCodec from "./PayloadCodec.js"
/**
 * @since 0.1.0
 */
export * as VersionedStore from "./VersionedStore.js"
