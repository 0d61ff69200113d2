import { html, type SafeHtml } from '../html.js';
import type { Exchange } from '../routing.js';
import { link } from '../routing.js';

/** The navigation, in order. */
const NAV: readonly [string, string][] = [
  ['/', 'Overview'],
  ['/failures', 'Failures'],
  ['/actions', 'Bulk actions'],
  ['/sagas', 'Sagas'],
  ['/search', 'Search'],
  ['/audit', 'Audit log'],
];

/**
 * The page shell: navigation, the signed-in user, the one-time message of the session, and the
 * panel's script and style sheet (no inline script or style: the CSP forbids them).
 */
export function layout(exchange: Exchange, title: string, body: SafeHtml, options: { live?: boolean } = {}): SafeHtml {
  const { panel, session, user } = exchange;
  const flash = session?.flash ?? null;
  if (session) session.flash = null;
  const here = exchange.url.pathname.slice(panel.settings.basePath.length) || '/';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Herald</title>
<link rel="stylesheet" href="${link(panel, '/assets/panel.css')}">
<script src="${link(panel, '/assets/panel.js')}" defer></script>
</head>
<body data-base="${panel.settings.basePath}" data-live="${options.live ? 'on' : 'off'}" data-csrf="${session?.csrf ?? ''}">
<header class="top">
  <a class="brand" href="${link(panel, '/')}">Herald</a>
  <nav>${NAV.map(([path, label]) => html`<a href="${link(panel, path)}"${path === here || (path !== '/' && here.startsWith(path)) ? html` aria-current="page"` : ''}>${label}</a>`)}</nav>
  ${
    user
      ? html`<span class="who">${user.name} <span class="role">${user.role}</span></span>
  ${panel.settings.open ? '' : html`<form method="post" action="${link(panel, '/logout')}" class="inline"><input type="hidden" name="_csrf" value="${session?.csrf ?? ''}"><button type="submit">Sign out</button></form>`}`
      : ''
  }
</header>
<main>
${flash ? html`<p class="flash ${flash.kind}" role="status">${flash.text}</p>` : ''}
<h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

/** A state-changing form: POST, with the session's CSRF token. */
export function postForm(exchange: Exchange, path: string, fields: Readonly<Record<string, string | number>>, inner: SafeHtml, className = 'inline'): SafeHtml {
  return html`<form method="post" action="${link(exchange.panel, path)}" class="${className}">
<input type="hidden" name="_csrf" value="${exchange.session?.csrf ?? ''}">
${Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
${inner}
</form>`;
}

/** A throughput sparkline (inline SVG: no script needed; the live script redraws it). */
export function sparkline(key: string, values: readonly number[]): SafeHtml {
  return html`<svg class="spark" viewBox="0 0 80 20" width="80" height="20" role="img" aria-label="throughput"><polyline data-spark="${key}" points="${sparkPoints(values)}"/></svg>`;
}

/** Polyline points for a sparkline 80×20 (also computed by the live script). */
export function sparkPoints(values: readonly number[]): string {
  if (values.length === 0) return '';
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? 80 / (values.length - 1) : 0;
  return values.map((v, i) => `${(i * step).toFixed(1)},${(19 - (v / max) * 18).toFixed(1)}`).join(' ');
}

/** A number of events per second, short. */
export function rate(value: number): string {
  return value >= 100 ? `${Math.round(value)}/s` : `${value.toFixed(1)}/s`;
}

/** Pretty JSON for a `<pre>`. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? '';
}

/** A status word as a badge; the class says its colour. */
export function badge(status: string, live?: string): SafeHtml {
  const tone = /^(handled|retried|running|finished|done|healthy|ok|completed)$/.test(status)
    ? 'good'
    : /^(parked|failed|stalled|flagged|cancelled|error)$/.test(status)
      ? 'bad'
      : 'neutral';
  return html`<span class="badge ${tone}"${live ? html` data-live-badge="${live}"` : ''}>${status}</span>`;
}
