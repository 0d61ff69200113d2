import type { IncomingMessage } from 'node:http';
import { AdminRequestError } from '../../errors.js';

/** Fields of a query string or form: one string each. */
export type Fields = Readonly<Record<string, string>>;

/** Longest query string or single field accepted. */
const MAX_QUERY = 4096;
const MAX_FIELD = 2000;

/**
 * The fields of a query string, checked: only `allowed` names, each at most once, none longer than
 * 2000 characters. Anything else is a 400 naming the field.
 */
export function queryFields(search: string, allowed: readonly string[]): Fields {
  if (search.length > MAX_QUERY) throw new AdminRequestError(400, 'query string too long');
  return checkFields(new URLSearchParams(search), allowed);
}

/** `allowed: null` takes any name (a form's names are checked per route, with {@link bodyFields}). */
function checkFields(params: URLSearchParams, allowed: readonly string[] | null): Fields {
  const fields: Record<string, string> = {};
  for (const [key, value] of params) {
    if (allowed && !allowed.includes(key)) throw new AdminRequestError(400, `unknown field '${key.slice(0, 50)}'`, key.slice(0, 50));
    if (Object.hasOwn(fields, key)) throw new AdminRequestError(400, `field '${key}' given more than once`, key);
    if (value.length > MAX_FIELD) throw new AdminRequestError(400, `field '${key}' is longer than ${MAX_FIELD} characters`, key);
    if (value !== '') fields[key] = value;
  }
  return fields;
}

/**
 * Reads a request body up to `limit` bytes. A larger one is refused with 413 as soon as it is
 * known (from Content-Length, or while reading), without buffering the rest.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (Number.isFinite(declared) && declared > limit) throw new AdminRequestError(413, `request body larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new AdminRequestError(413, `request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** What a state-changing request sent: its fields (as strings for a form, as parsed for JSON). */
export interface Body {
  readonly kind: 'form' | 'json';
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Parses a body by its content type: a form or a JSON object; anything else is 415, malformed is 400. */
export function parseBody(contentType: string | undefined, body: Buffer): Body {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const text = body.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') return { kind: 'form', fields: checkFields(new URLSearchParams(text), null) };
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = text.length === 0 ? {} : JSON.parse(text);
    } catch {
      throw new AdminRequestError(400, 'body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new AdminRequestError(400, 'body must be a JSON object');
    return { kind: 'json', fields: parsed as Record<string, unknown> };
  }
  if (body.length === 0) return { kind: 'form', fields: {} };
  throw new AdminRequestError(415, 'send application/x-www-form-urlencoded or application/json');
}

/** Checks that a body has only `allowed` fields; returns them. */
export function bodyFields(body: Body, allowed: readonly string[]): Readonly<Record<string, unknown>> {
  for (const key of Object.keys(body.fields)) {
    if (!allowed.includes(key)) throw new AdminRequestError(400, `unknown field '${key.slice(0, 50)}'`, key.slice(0, 50));
  }
  return body.fields;
}

/** The client's address, for rate limiting (the socket's: a proxy's forwarding headers are not trusted). */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/** The named cookie of a request, if any. */
export function cookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
