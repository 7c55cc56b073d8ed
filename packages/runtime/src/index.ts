/**
 * @since 0.1.0
 */
export * as CausalTrace from "./CausalTrace.js"
/**
 * @since 0.1.0
 */
export * as Cli from "./Cli.js"
export * as DatabaseFile from "./DatabaseFile.js"
/**
 * @since 0.1.0
 */
export * as Dispatcher from "./Dispatcher.js"
/**
 * @since 0.1.0
 */
export * as EventBus from "./EventBus.js"
/**
 * @since 0.1.0
 */
export * as Inspector from "./Inspector.js"
/**
 * @since 0.1.0
 */
export * as IntentAnalyzer from "./IntentAnalyzer.js"
/**
 * @since 0.1.0
 */
export * as IntentCommand from "./IntentCommand.js"
/**
 * @since 0.1.0
 */
export * as IntentCorpus from "./IntentCorpus.js"
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
export * as NatsClient from "./nats/NatsClient.js"
/**
 * @since 0.1.0
 */
export * as NatsDispatcher from "./nats/NatsDispatcher.js"
/**
 * @since 0.1.0
 */
export * as NatsEvents from "./nats/NatsEvents.js"
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
export * as OpenTelemetry from "./OpenTelemetry.js"
/**
 * @since 0.1.0
 */
export * as Performers from "./Performers.js"
/**
 * @since 0.1.0
 */
export * as ProgressBar from "./ProgressBar.js"
/**
 * @since 0.1.0
 */
export * as Recorder from "./Recorder.js"
/**
 * @since 0.1.0
 */
export * as Saga from "./Saga.js"
/**
 * @since 0.1.0
 */
export * as Tracing from "./Tracing.js"
/**
 * @since 0.1.0
 */
export * as Admin from "./security/Admin.js"

/**
 * @since 0.1.0
 */
export * as AuditTrail from "./security/AuditTrail.js"
/**
 * @since 0.1.0
 */
export * as BusCodec from "./security/BusCodec.js"
/**
 * @since 0.1.0
 */
export * as Cipher from "./security/Cipher.js"
/**
 * @since 0.1.0
 */
export * as DataKeys from "./security/DataKeys.js"
/**
 * @since 0.1.0
 */
export * as Keyring from "./security/Keyring.js"
/**
 * @since 0.1.0
 */
export * as KeyStore from "./security/KeyStore.js"
/**
 * @since 0.1.0
 */
export * as Rbac from "./security/Rbac.js"
/**
 * @since 0.1.0
 */
export * as SealedPayloads from "./security/SealedPayloads.js"
/**
 * @since 0.1.0
 */
export * as PolicyGuard from "./security/PolicyGuard.js"
/**
 * @since 0.1.0
 */
export * as SecureIntents from "./security/SecureIntents.js"
