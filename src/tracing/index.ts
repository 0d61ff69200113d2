export { instrument, MAX_LINKS, type TracedHerald, type Tracing, type TracingOptions } from './instrument.js';
export { storedSpanContext, traceMetadata } from './trace-context.js';
