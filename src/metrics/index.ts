export { prometheusMetrics, type HeraldMetrics, type MeasuredHerald, type PrometheusOptions } from './prometheus.js';
export { metricsHandler, serveMetrics, type MetricsServer, type MetricsSource, type ServeMetricsOptions } from './http.js';
