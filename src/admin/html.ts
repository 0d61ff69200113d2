/**
 * Server-rendered HTML: the `html` tagged template escapes every interpolated value with
 * {@link escapeHtml}, the one escaping helper, unless the value is already {@link SafeHtml} (the
 * result of another `html` template). Arrays are joined. There is no way to insert raw text.
 */

/** HTML made by {@link html}: safe to insert as it is. */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/** A value as template text: `null`/`undefined`/`false` render nothing, dates as ISO-8601. */
function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Date) return escapeHtml(Number.isNaN(value.getTime()) ? '' : value.toISOString());
  return escapeHtml(String(value));
}

/** The tagged template every page is written with. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** A query string from fields (absent ones left out), for links; every value is URL-encoded. */
export function query(fields: Readonly<Record<string, string | number | null | undefined>>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** A short, readable time: `2024-05-01 12:00:03Z`, or `—`. */
export function when(value: Date | null | undefined): string {
  if (!value) return '—';
  return value.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}
