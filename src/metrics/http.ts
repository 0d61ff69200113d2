/**
 * Serving metrics over HTTP: a Node request handler for any router, and a small server for
 * processes that have none.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { register as defaultRegistry, type Registry } from 'prom-client';
import { ConfigError, MetricsServerError } from '../errors.js';

/** A registry, or what holds one (the result of `prometheusMetrics`). */
export type MetricsSource = Registry | { readonly registry: Registry };

/**
 * A `(req, res)` handler answering GET and HEAD with the registry in Prometheus' text format,
 * whatever the path (mount it at `/metrics`); other methods get 405. A failed collection is a 500.
 */
export function metricsHandler(source: MetricsSource = defaultRegistry): (req: IncomingMessage, res: ServerResponse) => void {
  const registry = 'registry' in source ? source.registry : source;
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`metrics collection failed: ${error instanceof Error ? error.message : String(error)}\n`);
      },
    );
  };
}

export interface ServeMetricsOptions {
  /** Port to listen on; 0 picks a free one (see {@link MetricsServer.port}). */
  readonly port: number;
  /** Interface to listen on. Default: every interface, as Node's `listen` does. */
  readonly host?: string;
  /** Path served. Default `/metrics`; anything else is a 404. */
  readonly path?: string;
  /** What to serve. Default: prom-client's global `register`. */
  readonly registry?: MetricsSource;
}

export interface MetricsServer {
  /** `http://host:port/metrics`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and closes open connections (keep-alive scrapers included). */
  close(): Promise<void>;
}

/** Serves metrics at `http://host:port/metrics`; rejects with `MetricsServerError` if it cannot listen. */
export async function serveMetrics(options: ServeMetricsOptions): Promise<MetricsServer> {
  const port = options?.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`serveMetrics: port must be a whole number from 0 to 65535, got ${JSON.stringify(port)}`);
  const path = options.path ?? '/metrics';
  if (typeof path !== 'string' || !path.startsWith('/')) throw new ConfigError(`serveMetrics: path must start with '/', got ${JSON.stringify(path)}`);
  const handler = metricsHandler(options.registry ?? defaultRegistry);
  const server = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://metrics').pathname === path) handler(req, res);
    else res.writeHead(404).end();
  });
  const where = `${options.host ?? '*'}:${port}`;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new MetricsServerError(where, error)));
    server.listen(port, options.host, () => resolve());
  });
  // Once listening, a metrics endpoint must never take the process down.
  server.on('error', () => {});
  const bound = (server.address() as AddressInfo).port;
  const host = options.host === undefined || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}${path}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
