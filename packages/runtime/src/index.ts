/**
 * @since 0.1.0
 */
export * as Cli from "./Cli.js"
/**
 * @since 0.1.0
 */
export * as EventBus from "./EventBus.js"
/**
 * @since 0.1.0
 */
export * as Ids from "./Ids.js"
/**
 * @since 0.1.0
 */
export * as Logging from "./Logging.js"
/**
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.js"
/**
 * @since 0.1.0
 */
export * as Nerv from "./Nerv.js"
/**
 * @since 0.1.0
 */
export * as Notifier from "./Notifier.js"
/**
 * @since 0.1.0
 */
export * as Recorder from "./Recorder.js"
