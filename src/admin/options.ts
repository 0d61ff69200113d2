import type pg from 'pg';
import type { ParkedMessages } from '../consumers/operator.js';
import type { DeliveryJournal } from '../deliveries/journal.js';
import { ConfigError } from '../errors.js';
import type { RecordedEvent } from '../events/types.js';
import type { LogStatus } from '../herald/options.js';
import type { Operations } from '../operations/operations.js';
import type { SubscriptionControl } from '../subscriptions/control.js';
import type { ParkedEvents } from '../parking/operator.js';
import type { Logger } from '../runtime/logger.js';
import { parsePasswordHash } from './security/passwords.js';
import type { Role } from './security/sessions.js';

/** What the panel uses of a Herald (one per context): a `Herald` is one. */
export interface AdminContext {
  readonly context: string;
  status(): Promise<LogStatus>;
  readLog(afterEventNumber?: number, limit?: number): Promise<RecordedEvent[]>;
  readonly parked: ParkedEvents;
  readonly parkedMessages: ParkedMessages;
  readonly deliveries: DeliveryJournal;
  readonly operations: Operations;
  /** The log's pool: the Sagas page reads the context's saga instances through it (a Herald has one). */
  readonly pool?: pg.Pool;
  /** Pause, resume, reset and restart of its subscriptions and relays (shown to operators when present). */
  readonly subscriptions?: Pick<SubscriptionControl, 'pause' | 'resume' | 'reset' | 'restart'>;
  /** When the Herald runs in the panel's process, its failures and retries trigger a sample at once. */
  on?(event: 'eventParked' | 'parkedRetried' | 'eventSkipped' | 'messageParked', listener: () => void): unknown;
  off?(event: 'eventParked' | 'parkedRetried' | 'eventSkipped' | 'messageParked', listener: () => void): unknown;
}

/** A user of the panel. Make `passwordHash` with `hashPassword()`. */
export interface AdminUser {
  readonly name: string;
  readonly passwordHash: string;
  /** `viewer`: sees everything, changes nothing. `operator`: also retries, skips, runs bulk actions. */
  readonly role: Role;
}

/** How to build the admin panel. */
export interface AdminPanelOptions {
  /** The contexts to operate: one Herald each. */
  readonly heralds: readonly AdminContext[];
  /** Who may sign in. Required, unless `allowUnauthenticatedLocalhost`. */
  readonly users?: readonly AdminUser[];
  /** Where the panel lives in the URL space, e.g. `/admin`. Default `/`. */
  readonly basePath?: string;
  /**
   * Without users, serve everyone as an operator — only on a loopback address (127.0.0.1, ::1),
   * checked on `listen()` and on every request. For a developer's machine.
   */
  readonly allowUnauthenticatedLocalhost?: boolean;
  /** Served over HTTPS (directly or behind a proxy that terminates TLS): cookies get `Secure`, responses HSTS. */
  readonly https?: boolean;
  /** A session unused this long ends. Default 30 minutes. */
  readonly sessionIdleMs?: number;
  /** A session ends this long after login. Default 12 hours. */
  readonly sessionMaxMs?: number;
  /** Failed logins allowed per client address and per user name in `windowMs` (default 5 per 15 minutes). */
  readonly loginLimit?: { readonly maxFailures?: number; readonly windowMs?: number };
  /** How often each context's status is sampled for live updates and throughput. Default 5000 ms. */
  readonly sampleEveryMs?: number;
  /** Largest request body accepted (else 413). Default 65 536 bytes. */
  readonly maxBodyBytes?: number;
  readonly logger?: Logger;
}

/** Options checked, with defaults. */
export interface PanelSettings {
  readonly contexts: ReadonlyMap<string, AdminContext>;
  /** By lower-cased name. */
  readonly users: ReadonlyMap<string, { readonly name: string; readonly role: Role; readonly hash: ReturnType<typeof parsePasswordHash> }>;
  readonly basePath: string;
  readonly open: boolean;
  readonly https: boolean;
  readonly sessionIdleMs: number;
  readonly sessionMaxMs: number;
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly sampleEveryMs: number;
  readonly maxBodyBytes: number;
}

const USER_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const BASE_PATH = /^(\/[A-Za-z0-9._~-]+)*$/;

/** Checks the options; a bad one throws `ConfigError` naming it. */
export function panelSettings(options: AdminPanelOptions): PanelSettings {
  if (!options || !Array.isArray(options.heralds) || options.heralds.length === 0) throw new ConfigError('admin panel: `heralds` must list at least one Herald');
  const contexts = new Map<string, AdminContext>();
  for (const herald of options.heralds) {
    if (typeof herald?.status !== 'function' || !herald.operations) throw new ConfigError('admin panel: every entry of `heralds` must be a Herald');
    if (contexts.has(herald.context)) throw new ConfigError(`admin panel: context '${herald.context}' is listed twice`);
    contexts.set(herald.context, herald);
  }
  const users = new Map<string, { name: string; role: Role; hash: ReturnType<typeof parsePasswordHash> }>();
  for (const user of options.users ?? []) {
    if (typeof user?.name !== 'string' || !USER_NAME.test(user.name)) throw new ConfigError(`admin panel: user name ${JSON.stringify(user?.name)}: use 1-64 letters, digits and _ . @ -`);
    if (users.has(user.name.toLowerCase())) throw new ConfigError(`admin panel: user '${user.name}' is listed twice`);
    if (user.role !== 'viewer' && user.role !== 'operator') throw new ConfigError(`admin panel: user '${user.name}': role must be 'viewer' or 'operator'`);
    users.set(user.name.toLowerCase(), { name: user.name, role: user.role, hash: parsePasswordHash(user.passwordHash, user.name) });
  }
  const open = users.size === 0;
  if (open && options.allowUnauthenticatedLocalhost !== true) {
    throw new ConfigError('admin panel: no `users` given; add users, or set allowUnauthenticatedLocalhost: true to serve 127.0.0.1/::1 without login');
  }
  let basePath = options.basePath ?? '/';
  if (basePath.endsWith('/')) basePath = basePath.slice(0, -1);
  if (!BASE_PATH.test(basePath)) throw new ConfigError(`admin panel: basePath ${JSON.stringify(options.basePath)}: use a path like '/admin'`);
  return {
    contexts,
    users,
    basePath,
    open,
    https: options.https === true,
    sessionIdleMs: positive('sessionIdleMs', options.sessionIdleMs, 30 * 60_000),
    sessionMaxMs: positive('sessionMaxMs', options.sessionMaxMs, 12 * 3_600_000),
    maxFailures: positive('loginLimit.maxFailures', options.loginLimit?.maxFailures, 5),
    windowMs: positive('loginLimit.windowMs', options.loginLimit?.windowMs, 15 * 60_000),
    sampleEveryMs: positive('sampleEveryMs', options.sampleEveryMs, 5000),
    maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes, 65_536),
  };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ConfigError(`admin panel: ${name} must be a positive number, got ${JSON.stringify(value)}`);
  return value;
}

/** Whether an address is a loopback one (what an unauthenticated panel may be bound to and reached on). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address === '127.0.0.1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
