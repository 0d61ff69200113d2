import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AdminRequestError, ConfigError, HeraldError, OperatorActionError } from '../errors.js';
import { apiActRoutes } from './api/act.js';
import { apiReadRoutes } from './api/read.js';
import { assetRoutes } from './assets.js';
import { parseBody, readBody } from './http/request.js';
import { redirect, securityHeaders, sendHtml, sendJsonError } from './http/respond.js';
import { Sampler } from './live/sampler.js';
import { LiveStreams, liveRoute } from './live/stream.js';
import { type AdminPanelOptions, isLoopback, panelSettings } from './options.js';
import { errorPage } from './pages/errors.js';
import { pageRoutes } from './pages/routes.js';
import { type Exchange, link, type Panel, type Route } from './routing.js';
import { BackgroundRuns } from './runs.js';
import { authRoutes, checkLocalOnly, sessionOf } from './security/auth.js';
import { csrfMatches } from './security/sessions.js';
import { LoginLimiter } from './security/rate-limit.js';
import { SessionStore } from './security/sessions.js';

/** The admin panel: a request handler to mount, or a server of its own. */
export interface AdminPanel {
  /**
   * Handles a request under the panel's base path and resolves `true`; for any other path it
   * calls `next` (if given) and resolves `false`, so it mounts in an existing `node:http` server.
   */
  handler(req: IncomingMessage, res: ServerResponse, next?: () => void): Promise<boolean>;
  /** Serves the panel on its own server (default 127.0.0.1, port 0: any free one). */
  listen(options?: { port?: number; host?: string }): Promise<{ port: number; host: string; url: string }>;
  /** Stops the server (if any), live streams, sampling and background runs (they stay frozen, to be run again). */
  close(): Promise<void>;
}

/** Status codes of Herald's own errors, by code. */
const STATUS: Readonly<Record<string, number>> = {
  HERALD_INVALID_ARGUMENT: 400,
  HERALD_INVALID_IDENTIFIER: 400,
  HERALD_NOT_PARKED: 409,
  HERALD_PARKED_EVENT_BUSY: 409,
  HERALD_SUBSCRIPTION_UNKNOWN: 404,
};

/**
 * Creates the admin panel for one or more contexts. No framework: `node:http`, server-rendered
 * HTML, a small script for live updates, and a JSON API under the same sign-in. Refuses to start
 * without users unless `allowUnauthenticatedLocalhost` (and then serves loopback only).
 */
export function createAdminPanel(options: AdminPanelOptions): AdminPanel {
  const settings = panelSettings(options);
  const sampler = new Sampler([...settings.contexts.values()], settings.sampleEveryMs, options.logger);
  const panel: Panel = {
    settings,
    sessions: new SessionStore({ idleMs: settings.sessionIdleMs, absoluteMs: settings.sessionMaxMs, max: 10_000 }),
    limiter: new LoginLimiter(settings.maxFailures, settings.windowMs),
    sampler,
    runs: new BackgroundRuns(options.logger, () => sampler.poke()),
    logger: options.logger,
  };
  const streams = new LiveStreams();
  // Failures and retries in this process are shown at once, not at the next sample.
  const poke = () => sampler.poke();
  const watched = ['eventParked', 'parkedRetried', 'eventSkipped', 'messageParked'] as const;
  for (const herald of settings.contexts.values()) for (const event of watched) herald.on?.(event, poke);
  const routes = new Map<string, Route>();
  for (const route of [...authRoutes, ...assetRoutes, liveRoute(streams), ...apiReadRoutes, ...apiActRoutes, ...pageRoutes]) {
    routes.set(`${route.method} ${route.path}`, route);
  }
  let server: Server | undefined;

  async function handler(req: IncomingMessage, res: ServerResponse, next?: () => void): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://panel.invalid');
    const base = settings.basePath;
    if (base !== '' && url.pathname !== base && !url.pathname.startsWith(`${base}/`)) {
      next?.();
      return false;
    }
    securityHeaders(res, settings.https);
    sampler.start();
    const path = url.pathname.slice(base.length) || '/';
    const route = routes.get(`${req.method} ${path}`);
    const api = route?.api ?? path.startsWith('/api/');
    let exchange: Exchange = { req, res, url, panel, session: undefined, user: null, body: undefined };
    try {
      if (settings.open) checkLocalOnly(req);
      if (!route) throw new AdminRequestError([...routes.keys()].some((k) => k.endsWith(` ${path}`)) ? 405 : 404, `no ${req.method} ${path} here`);
      const session = sessionOf(panel, req, res);
      exchange = { ...exchange, session, user: session?.user && session.role ? { name: session.user, role: session.role } : null };
      if (req.method === 'POST') exchange = { ...exchange, body: await checkedBody(exchange) };
      if (route.access !== 'public' && !exchange.user) {
        if (api) throw new AdminRequestError(401, 'sign in first');
        redirect(res, link(panel, '/login'));
        return true;
      }
      if (route.access === 'operator' && exchange.user?.role !== 'operator') throw new AdminRequestError(403, 'viewers cannot change anything: ask an operator');
      await route.handle(exchange);
    } catch (error) {
      fail(exchange, api, error);
    }
    return true;
  }

  /**
   * The body of a POST, and its CSRF token checked before anything else looks at it: from the
   * `X-CSRF-Token` header (API) or the `_csrf` field (forms), against the session's token.
   */
  async function checkedBody(exchange: Exchange) {
    const header = exchange.req.headers['x-csrf-token'];
    if (typeof header === 'string' && !csrfMatches(exchange.session, header)) throw new AdminRequestError(403, 'missing or wrong CSRF token');
    const body = parseBody(exchange.req.headers['content-type'], await readBody(exchange.req, settings.maxBodyBytes));
    const { _csrf: token, ...fields } = body.fields;
    if (!csrfMatches(exchange.session, typeof header === 'string' ? header : token)) throw new AdminRequestError(403, 'missing or wrong CSRF token');
    return { kind: body.kind, fields };
  }

  function fail(exchange: Exchange, api: boolean, error: unknown): void {
    const { res } = exchange;
    const status =
      error instanceof AdminRequestError
        ? error.status
        : error instanceof OperatorActionError
          ? error.reason === 'unknown' ? 404 : 409
          : ((error instanceof HeraldError ? STATUS[error.code] : undefined) ?? 500);
    if (status === 500) panel.logger?.error({ err: error, path: exchange.url.pathname }, 'herald admin: request failed');
    const message = status === 500 ? 'internal error (see the server log)' : (error as Error).message;
    const code = status === 500 || !(error instanceof HeraldError) ? 'INTERNAL' : error.code;
    if (res.headersSent) return void res.end();
    if (status === 413) res.setHeader('Connection', 'close');
    if (api) return sendJsonError(res, status, code, message, error instanceof AdminRequestError ? error.field : undefined);
    sendHtml(res, status, errorPage(exchange, status, message));
  }

  return {
    handler,
    async listen({ port = 0, host = '127.0.0.1' } = {}) {
      if (server) throw new ConfigError('admin panel: already listening');
      if (settings.open && !isLoopback(host)) throw new ConfigError(`admin panel: without users it serves 127.0.0.1 or ::1 only, not ${host}`);
      sampler.start();
      const created = createServer((req, res) => {
        void handler(req, res, () => {
          res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end('not found');
        });
      });
      server = created;
      try {
        await new Promise<void>((resolve, reject) => {
          created.once('error', reject);
          created.listen(port, host, () => resolve());
        });
      } catch (error) {
        // Not listening (the port is taken, say): the panel may listen again, elsewhere.
        server = undefined;
        throw error;
      }
      const address = created.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      const shown = host.includes(':') ? `[${host}]` : host;
      return { port: bound, host, url: `http://${shown}:${bound}${settings.basePath || ''}/` };
    },
    async close() {
      for (const herald of settings.contexts.values()) for (const event of watched) herald.off?.(event, poke);
      streams.closeAll();
      await panel.runs.close();
      await sampler.stop();
      if (server) {
        const closing = server;
        server = undefined;
        closing.closeAllConnections();
        await new Promise<void>((resolve) => closing.close(() => resolve()));
      }
    },
  };
}
