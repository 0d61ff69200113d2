import type { ServerResponse } from 'node:http';
import type { SafeHtml } from '../html.js';

/**
 * Responses and the headers every one of them carries. The CSP allows scripts, styles and
 * connections from the panel's own origin only: no inline script or style, no framing.
 */
export function securityHeaders(res: ServerResponse, https: boolean): void {
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  );
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  if (https) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
}

/** Pages and API answers show live operational data: never cached. */
function noStore(res: ServerResponse): void {
  res.setHeader('Cache-Control', 'no-store');
}

export function sendHtml(res: ServerResponse, status: number, page: SafeHtml): void {
  noStore(res);
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(page.text);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  noStore(res);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(value));
}

/** An error as the JSON API reports it. */
export function sendJsonError(res: ServerResponse, status: number, code: string, message: string, field?: string): void {
  sendJson(res, status, { error: { status, code, message, ...(field ? { field } : {}) } });
}

/** After a POST: see-other, so a reload does not send it again. */
export function redirect(res: ServerResponse, location: string): void {
  noStore(res);
  res.writeHead(303, { Location: location });
  res.end();
}

/** A static asset of the panel (script, style sheet): cacheable briefly. */
export function sendAsset(res: ServerResponse, type: string, body: string): void {
  res.setHeader('Cache-Control', 'private, max-age=300');
  res.writeHead(200, { 'Content-Type': `${type}; charset=utf-8` });
  res.end(body);
}
