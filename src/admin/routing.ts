import type { IncomingMessage, ServerResponse } from 'node:http';
import { AdminRequestError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import type { Body } from './http/request.js';
import type { Sampler } from './live/sampler.js';
import type { AdminContext, PanelSettings } from './options.js';
import type { BackgroundRuns } from './runs.js';
import type { LoginLimiter } from './security/rate-limit.js';
import type { Role, Session, SessionStore } from './security/sessions.js';

/** The panel's state every route works with. */
export interface Panel {
  readonly settings: PanelSettings;
  readonly sessions: SessionStore;
  readonly limiter: LoginLimiter;
  readonly sampler: Sampler;
  readonly runs: BackgroundRuns;
  readonly logger: Logger | undefined;
}

/** A signed-in user (or the local operator of an unauthenticated panel). */
export interface User {
  readonly name: string;
  readonly role: Role;
}

/** One request as a route sees it: checked for CSRF, authentication and role before the route runs. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly panel: Panel;
  readonly session: Session | undefined;
  readonly user: User | null;
  /** The parsed body of a POST. */
  readonly body: Body | undefined;
}

/** Who may use a route: anyone (login, assets), any signed-in user, or operators only. */
export type Access = 'public' | 'viewer' | 'operator';

export interface Route {
  readonly method: 'GET' | 'POST';
  /** The path below the base path, e.g. `/failures`. */
  readonly path: string;
  readonly access: Access;
  /** Part of the JSON API (errors as JSON, 401 instead of a redirect to the login page). */
  readonly api: boolean;
  handle(exchange: Exchange): Promise<void>;
}

/** The panel's link for a path below its base: `/admin/failures`. */
export function link(panel: Panel, path: string): string {
  return `${panel.settings.basePath}${path}`;
}

/**
 * The context a request names; with a single context the name may be left out. Throws 400 for
 * a context the panel does not operate.
 */
export function contextOf(panel: Panel, name: unknown): AdminContext {
  if (name === undefined && panel.settings.contexts.size === 1) return [...panel.settings.contexts.values()][0]!;
  const found = typeof name === 'string' ? panel.settings.contexts.get(name) : undefined;
  if (!found) throw new AdminRequestError(400, name === undefined ? 'name a context' : 'unknown context', 'context');
  return found;
}

/** The signed-in user, which a route past its access check always has. */
export function userOf(exchange: Exchange): User {
  if (!exchange.user) throw new AdminRequestError(401, 'sign in first');
  return exchange.user;
}
