/**
 * @since 0.1.0
 */
export * as AuthorTitles from "./AuthorTitles.js"
/**
 * @since 0.1.0
 */
export * as Checkpoints from "./Checkpoints.js"
/**
 * @since 0.1.0
 */
export * as Forgetting from "./Forgetting.js"
/**
 * @since 0.1.0
 */
export * as JournalSubscription from "./JournalSubscription.js"
export * as JournalVerify from "./JournalVerify.js"
/**
 * @since 0.1.0
 */
export * as MemoryJournal from "./MemoryJournal.js"
/**
 * @since 0.1.0
 */
export * as PayloadCodec from "./PayloadCodec.js"
export * as PostgresJournal from "./PostgresJournal.js"
/**
 * @since 0.1.0
 */
export * as Projection from "./Projection.js"
/**
 * @since 0.1.0
 */
export * as Rebuild from "./Rebuild.js"
/**
 * @since 0.1.0
 */
export * as Retention from "./Retention.js"
/**
 * @since 0.1.0
 */
export * as SagaStore from "./SagaStore.js"
/**
 * @since 0.1.0
 */
export * as Snapshots from "./Snapshots.js"
/**
 * @since 0.1.0
 */
export * as SqliteJournal from "./SqliteJournal.js"
/**
 * @since 0.1.0
 */
export * as Upcasting from "./Upcasting.js"
/**
 * @since 0.1.0
 */
export * as VersionedStore from "./VersionedStore.js"
