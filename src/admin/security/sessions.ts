import { randomBytes, timingSafeEqual } from 'node:crypto';

/** What a signed-in user may do: look (`viewer`), or also retry, skip and run bulk actions (`operator`). */
export type Role = 'viewer' | 'operator';

/** One browser's session. Anonymous until login; it carries the CSRF token either way. */
export interface Session {
  readonly id: string;
  /** Synchronizer token: every state-changing request must send it back. */
  readonly csrf: string;
  readonly user: string | null;
  readonly role: Role | null;
  readonly createdAt: number;
  lastSeenAt: number;
  /** A one-time message for the next page (after a redirect). */
  flash: { kind: 'ok' | 'error'; text: string } | null;
}

export interface SessionLimits {
  /** A session unused this long ends. */
  readonly idleMs: number;
  /** A session ends this long after login, used or not. */
  readonly absoluteMs: number;
  /** Most sessions kept; the least recently used go first. */
  readonly max: number;
}

const ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Sessions in memory (one panel process; a restart signs everyone out). Ids and tokens are 256
 * random bits. A login gets a new session id, so a session id planted before login is useless.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly limits: SessionLimits) {}

  /** The live session with this id, touched; `undefined` when unknown or expired (then forgotten). */
  get(id: string | undefined, now = Date.now()): Session | undefined {
    if (!id || !ID.test(id)) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (now - session.lastSeenAt > this.limits.idleMs || now - session.createdAt > this.limits.absoluteMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastSeenAt = now;
    // Map order is insertion order: re-inserting keeps the least recently used first.
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  /** Whether a session is still live, without counting this as use (a live-update stream is not activity). */
  alive(id: string, now = Date.now()): boolean {
    const session = this.sessions.get(id);
    return session !== undefined && now - session.lastSeenAt <= this.limits.idleMs && now - session.createdAt <= this.limits.absoluteMs;
  }

  /** A new session (anonymous, or signed in as `user`). */
  create(user: { name: string; role: Role } | null, now = Date.now()): Session {
    this.sweep(now);
    while (this.sessions.size >= this.limits.max) this.sessions.delete(this.sessions.keys().next().value!);
    const session: Session = {
      id: token(),
      csrf: token(),
      user: user?.name ?? null,
      role: user?.role ?? null,
      createdAt: now,
      lastSeenAt: now,
      flash: null,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Forgets expired sessions (the oldest-used come first, so it stops at the first live one). */
  sweep(now = Date.now()): void {
    for (const [id, session] of this.sessions) {
      if (now - session.lastSeenAt > this.limits.idleMs || now - session.createdAt > this.limits.absoluteMs) this.sessions.delete(id);
      else if (now - session.lastSeenAt <= this.limits.idleMs) break;
    }
  }
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

/** Whether `sent` is the session's CSRF token, compared in constant time. */
export function csrfMatches(session: Session | undefined, sent: unknown): boolean {
  if (!session || typeof sent !== 'string' || sent.length !== session.csrf.length) return false;
  return timingSafeEqual(Buffer.from(sent), Buffer.from(session.csrf));
}
