/**
 * @since 0.1.0
 */
export * as Access from "./Access.js"
/**
 * @since 0.1.0
 */
export * as Decider from "./Decider.js"
/**
 * @since 0.1.0
 */
export * as Document from "./Document.js"
/**
 * @since 0.1.0
 */
export * as DocumentEvent from "./DocumentEvent.js"
/**
 * @since 0.1.0
 */
export * as Documents from "./Documents.js"
/**
 * @since 0.1.0
 */
export * as DocumentStore from "./DocumentStore.js"
/**
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"
/**
 * @since 0.1.0
 */
export * as EventBus from "./EventBus.js"
/**
 * @since 0.1.0
 */
export * as IdGenerator from "./IdGenerator.js"
/**
 * @since 0.1.0
 */
export * as Input from "./Input.js"
/**
 * @since 0.1.0
 */
export * as Journal from "./Journal.js"
/**
 * @since 0.1.0
 */
export * as NervEvent from "./NervEvent.js"
/**
 * @since 0.1.0
 */
export * as Notifier from "./Notifier.js"
/**
 * @since 0.1.0
 */
export * as Outbox from "./Outbox.js"
