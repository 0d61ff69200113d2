import pg from 'pg';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { createHerald } from 'herald';
import { prometheusMetrics, serveMetrics } from 'herald/metrics';
import { instrument } from 'herald/tracing';

// Your OpenTelemetry SDK. Here spans stay in memory; in production, @opentelemetry/sdk-node with an exporter.
const spans = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const shop = createHerald({ pool, context: 'shop' });
await shop.migrate();
shop.subscribe({ name: 'shop.mailer', consistency: 'strong', async handle() { /* send the confirmation mail */ } });

const tracing = instrument(shop); // spans for appends and handlers; events carry the trace context
const registry = new Registry();
prometheusMetrics(shop, { registry }); // herald_* metrics; they leave the registry when shop stops
const server = await serveMetrics({ port: 9464, host: '127.0.0.1', registry }); // GET /metrics
await shop.start();

// A request appends in its own span; the subscription handles the event in that trace.
await trace.getTracer('shop').startActiveSpan('POST /orders', async (span) => {
  await shop.append('order-1', { type: 'OrderPlaced', data: { orderId: 'o-1' } }, { consistency: 'strong' });
  span.end();
});

const scraped = await (await fetch(server.url)).text();
for (const line of scraped.split('\n')) if (/^herald_(events_appended_total|log_head|subscription_lag)\{/.test(line)) console.log(line);
const finished = spans.getFinishedSpans();
const chain = [finished.find((s) => s.name === 'handle shop.mailer')];
for (let parent = chain[0]?.parentSpanContext; parent; parent = chain[0]?.parentSpanContext) {
  chain.unshift(finished.find((s) => s.spanContext().spanId === parent!.spanId));
}
console.log(`trace: ${chain.map((s) => s?.name).join(' > ')}`);

await server.close();
await shop.stop(); // detaches the metrics
tracing.close();
await pool.end();
