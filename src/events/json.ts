/**
 * What a payload may hold so that it comes back from the log exactly as it went in.
 *
 * Rules (mirroring JSON.stringify, but refusing the cases where it would silently change data):
 * - strings, finite numbers, booleans, null, arrays and plain objects are kept as they are;
 * - an object property whose value is `undefined` is omitted (as JSON.stringify does);
 * - a `Date` (or any object with `toJSON`) is stored as what `toJSON()` returns: an ISO-8601
 *   string for dates. It comes back as a string; revive it with your schema (e.g. `z.coerce.date()`);
 * - refused with a path: `bigint`, `NaN`/`±Infinity`, `undefined` in an array or at the root,
 *   functions, symbols, `Map`/`Set`, cycles, strings holding `\u0000` or lone surrogates
 *   (PostgreSQL's jsonb cannot store them).
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Where and why a value is not JSON-safe. */
export interface JsonProblem {
  readonly path: string;
  readonly reason: string;
}

/** Returns the JSON-ready copy of `value`, or the first problem found. Pure. */
export function toJsonValue(value: unknown): { ok: true; value: JsonValue } | { ok: false; problem: JsonProblem } {
  try {
    return { ok: true, value: convert(value, '', new Set()) };
  } catch (error) {
    if (error instanceof NotJson) return { ok: false, problem: { path: error.path, reason: error.message } };
    throw error;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

class NotJson extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(reason);
  }
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? (path === '' ? key : `${path}.${key}`) : `${path}[${JSON.stringify(key)}]`;
}

function convert(value: unknown, path: string, seen: Set<object>): JsonValue {
  switch (typeof value) {
    case 'string':
      if (value.includes('\u0000')) throw new NotJson(path, 'string contains \\u0000, which jsonb cannot store');
      if (LONE_SURROGATE.test(value)) throw new NotJson(path, 'string contains a lone UTF-16 surrogate');
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new NotJson(path, `${value} is not a finite number (JSON would store null)`);
      return value;
    case 'boolean':
      return value;
    case 'bigint':
      throw new NotJson(path, 'bigint is not JSON; store it as a string');
    case 'undefined':
      throw new NotJson(path, 'undefined is not JSON (JSON would drop it or store null)');
    case 'function':
    case 'symbol':
      throw new NotJson(path, `a ${typeof value} is not JSON`);
  }
  if (value === null) return null;
  const object = value as object;
  if (seen.has(object)) throw new NotJson(path, 'circular reference');
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    const replaced = (object as { toJSON(): unknown }).toJSON();
    if (replaced === object) throw new NotJson(path, 'toJSON() returned the object itself');
    return convert(replaced, path, seen);
  }
  if (object instanceof Map || object instanceof Set) throw new NotJson(path, `a ${object.constructor.name} is not JSON; use an array or object`);
  seen.add(object);
  try {
    if (Array.isArray(object)) return object.map((item, i) => convert(item, join(path, i), seen));
    const result: { [key: string]: JsonValue } = {};
    for (const [key, item] of Object.entries(object)) {
      if (item === undefined) continue;
      result[key] = convert(item, join(path, key), seen);
    }
    return result;
  } finally {
    seen.delete(object);
  }
}
