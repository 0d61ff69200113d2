import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AdminRequestError } from '../../errors.js';
import { html } from '../html.js';
import { bodyFields, clientAddress, cookie } from '../http/request.js';
import { redirect, sendHtml } from '../http/respond.js';
import { isLoopback } from '../options.js';
import { layout } from '../pages/layout.js';
import { type Exchange, link, type Panel, type Route } from '../routing.js';
import { verifyPassword } from './passwords.js';
import type { Session } from './sessions.js';

const COOKIE = 'herald_admin';

/** The session a request carries, or, for an unauthenticated local panel, a new local operator's. */
export function sessionOf(panel: Panel, req: IncomingMessage, res: ServerResponse): Session | undefined {
  const session = panel.sessions.get(cookie(req, COOKIE));
  if (session || !panel.settings.open) return session;
  const local = panel.sessions.create({ name: 'local', role: 'operator' });
  setSessionCookie(panel, res, local);
  return local;
}

/** The session cookie: HttpOnly, SameSite=Strict, Secure behind HTTPS, scoped to the base path. */
export function setSessionCookie(panel: Panel, res: ServerResponse, session: Session): void {
  const secure = panel.settings.https ? '; Secure' : '';
  res.setHeader('Set-Cookie', `${COOKIE}=${session.id}; Path=${panel.settings.basePath || '/'}; HttpOnly; SameSite=Strict${secure}`);
}

function clearSessionCookie(panel: Panel, res: ServerResponse): void {
  const secure = panel.settings.https ? '; Secure' : '';
  res.setHeader('Set-Cookie', `${COOKIE}=; Path=${panel.settings.basePath || '/'}; HttpOnly; SameSite=Strict; Max-Age=0${secure}`);
}

/**
 * An unauthenticated panel answers loopback connections only, and only for a loopback host name
 * in `Host` (so a page on another site cannot reach it through DNS rebinding).
 */
export function checkLocalOnly(req: IncomingMessage): void {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (!isLoopback(req.socket.localAddress) || !(host === 'localhost' || isLoopback(host))) {
    throw new AdminRequestError(403, 'this panel has no users: it answers on 127.0.0.1 and ::1 only');
  }
}

function loginPage(exchange: Exchange, session: Session, message: string | null) {
  return layout(
    exchange,
    'Sign in',
    html`${message ? html`<p class="error" role="alert">${message}</p>` : ''}
<form method="post" action="${link(exchange.panel, '/login')}" class="login">
<input type="hidden" name="_csrf" value="${session.csrf}">
<label>User <input name="username" autocomplete="username" required maxlength="64"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024"></label>
<button type="submit">Sign in</button>
</form>`,
  );
}

/** A session for the login form (anonymous, with its CSRF token), reusing the request's. */
function anonymousSession(exchange: Exchange): Session {
  if (exchange.session) return exchange.session;
  const session = exchange.panel.sessions.create(null);
  setSessionCookie(exchange.panel, exchange.res, session);
  return session;
}

/** A comparison target for unknown user names, so they cost as much as a wrong password. */
function decoy(panel: Panel) {
  const first = [...panel.settings.users.values()][0]!.hash;
  return { ...first, salt: randomBytes(16), hash: randomBytes(first.hash.length) };
}

export const authRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/login',
    access: 'public',
    api: false,
    async handle(exchange) {
      if (exchange.user) return redirect(exchange.res, link(exchange.panel, '/'));
      sendHtml(exchange.res, 200, loginPage(exchange, anonymousSession(exchange), null));
    },
  },
  {
    method: 'POST',
    path: '/login',
    access: 'public',
    api: false,
    async handle(exchange) {
      const { panel, req, res } = exchange;
      if (panel.settings.open) return redirect(res, link(panel, '/'));
      const fields = bodyFields(exchange.body!, ['username', 'password']);
      const name = typeof fields.username === 'string' ? fields.username.slice(0, 64) : '';
      const password = typeof fields.password === 'string' ? fields.password : '';
      const session = exchange.session!;
      const address = clientAddress(req);
      const wait = panel.limiter.blockedFor(address, name);
      if (wait > 0) {
        res.setHeader('Retry-After', String(Math.ceil(wait / 1000)));
        return sendHtml(res, 429, loginPage(exchange, session, 'Too many failed sign-ins: try again later.'));
      }
      const user = panel.settings.users.get(name.toLowerCase());
      const ok = await verifyPassword(password, user?.hash ?? decoy(panel));
      if (!user || !ok) {
        panel.limiter.failed(address, name);
        panel.logger?.warn({ user: name, address }, 'herald admin: failed sign-in');
        return sendHtml(res, 401, loginPage(exchange, session, 'Wrong user name or password.'));
      }
      panel.limiter.succeeded(name);
      // A new session id at login: an id planted before it is worth nothing.
      panel.sessions.end(session.id);
      const signedIn = panel.sessions.create({ name: user.name, role: user.role });
      setSessionCookie(panel, res, signedIn);
      panel.logger?.info({ user: name, address }, 'herald admin: signed in');
      redirect(res, link(panel, '/'));
    },
  },
  {
    method: 'POST',
    path: '/logout',
    access: 'viewer',
    api: false,
    async handle(exchange) {
      if (exchange.session) exchange.panel.sessions.end(exchange.session.id);
      clearSessionCookie(exchange.panel, exchange.res);
      redirect(exchange.res, link(exchange.panel, '/login'));
    },
  },
];
