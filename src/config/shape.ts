/**
 * Structural checks of a config file, pure: every problem is collected with its path
 * (`contexts[0].relays[1].transport.broker`), so a bad file is reported whole, nothing started.
 * What each option means is checked afterwards by the same validators the API uses.
 */
import { BROKERS } from './types.js';

/** One problem in a config file. */
export interface ConfigIssue {
  /** Where: `contexts[0].subscriptions[2].batchSize` (`''` for the file itself). */
  readonly path: string;
  readonly message: string;
  /** 1-based position in a YAML/JSON file, when known. */
  readonly line?: number;
  readonly column?: number;
}

export type PathPart = string | number;

export function formatPath(path: readonly PathPart[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '');
}

/** Collects issues while walking a config value. */
export class IssueList {
  readonly issues: { path: PathPart[]; message: string }[] = [];
  add(path: readonly PathPart[], message: string): void {
    this.issues.push({ path: [...path], message });
  }
}

const SUBSCRIPTION_KEYS = [
  'name', 'handle', 'startFrom', 'consistency', 'batchSize', 'onError', 'retry', 'parking', 'handlerTimeoutMs',
  'checkpointAfterMs', 'restart', 'init',
];
const RELAY_KEYS = [
  'name', 'transport', 'window', 'pages', 'confirmTimeoutMs', 'startFrom', 'expectedConsumers', 'collectAcknowledgements',
  'onRefused', 'parking',
];
const CONSUMER_KEYS = [
  'name', 'source', 'transport', 'handlers', 'events', 'ignore', 'unknownTypes', 'onError', 'retry', 'ordering', 'startFrom',
  'reorderWaitMs', 'prefetch', 'concurrency', 'batchSize', 'handlerTimeoutMs', 'acknowledgeEveryMs', 'sweepEveryMs',
];
const OUTBOX_KEYS = ['table', 'schema', 'columns', 'name', 'source', 'pollMs', 'transport', 'window', 'pages', 'confirmTimeoutMs', 'onRefused', 'parking'];
const OUTBOX_COLUMN_KEYS = ['id', 'aggregateId', 'type', 'payload', 'occurredAt', 'dispatchedAt', 'eventId', 'metadata'];
const CONTEXT_KEYS = ['name', 'database', 'events', 'leaseTtlMs', 'pollMs', 'sequencer', 'inbox', 'subscriptions', 'relays', 'consumers', 'outboxes'];
const TOP_KEYS = ['databases', 'contexts', 'admin', 'metrics'];
const DATABASE_KEYS = ['url', 'poolSize', 'dataDir'];
const ADMIN_KEYS = ['host', 'port', 'users', 'allowUnauthenticatedLocalhost'];
const USER_KEYS = ['name', 'passwordHash', 'role'];
const METRICS_KEYS = ['host', 'port'];

/** Checks the shape of a whole config; returns the issues found (none: the shape is right). */
export function checkShape(value: unknown): IssueList {
  const issues = new IssueList();
  if (!isPlainObject(value)) {
    issues.add([], `a config must be an object with \`contexts\`, got ${describeValue(value)}`);
    return issues;
  }
  knownKeys(issues, [], value, TOP_KEYS);
  const databases = value.databases;
  if (databases !== undefined) {
    if (!isPlainObject(databases)) issues.add(['databases'], `must be an object of named databases, got ${describeValue(databases)}`);
    else for (const [name, db] of Object.entries(databases)) checkDatabase(issues, ['databases', name], db);
  }
  const contexts = value.contexts;
  if (!Array.isArray(contexts) || contexts.length === 0) {
    issues.add(['contexts'], `must be a non-empty list of contexts, got ${describeValue(contexts)}`);
  } else {
    const names = new Map<string, number>();
    contexts.forEach((context, i) => {
      checkContext(issues, ['contexts', i], context, databases);
      const name = isPlainObject(context) ? context.name : undefined;
      if (typeof name === 'string') {
        if (names.has(name)) issues.add(['contexts', i, 'name'], `context "${name}" is already defined at contexts[${names.get(name)}]`);
        names.set(name, i);
      }
    });
  }
  if (value.admin !== undefined) checkAdmin(issues, ['admin'], value.admin);
  if (value.metrics !== undefined) {
    if (object(issues, ['metrics'], value.metrics, METRICS_KEYS)) checkListen(issues, ['metrics'], value.metrics);
  }
  return issues;
}

function checkDatabase(issues: IssueList, path: PathPart[], db: unknown): void {
  if (!object(issues, path, db, DATABASE_KEYS)) return;
  optionalString(issues, [...path, 'url'], db.url);
  optionalString(issues, [...path, 'dataDir'], db.dataDir);
  optionalPositiveInteger(issues, [...path, 'poolSize'], db.poolSize);
}

function checkContext(issues: IssueList, path: PathPart[], context: unknown, databases: unknown): void {
  if (!object(issues, path, context, CONTEXT_KEYS)) return;
  requiredString(issues, [...path, 'name'], context.name);
  if (context.database !== undefined) {
    if (typeof context.database !== 'string') issues.add([...path, 'database'], `must be the name of a database, got ${describeValue(context.database)}`);
    else if (context.database !== 'default' && !(isPlainObject(databases) && context.database in databases)) {
      issues.add([...path, 'database'], `unknown database "${context.database}"${isPlainObject(databases) ? ` (defined: ${Object.keys(databases).join(', ') || 'none'})` : ' (no `databases` are defined)'}`);
    }
  }
  optionalRef(issues, [...path, 'events'], context.events, 'a list of event definitions');
  list(issues, path, context, 'subscriptions', (p, entry) => {
    if (!object(issues, p, entry, SUBSCRIPTION_KEYS)) return;
    requiredString(issues, [...p, 'name'], entry.name);
    requiredRef(issues, [...p, 'handle'], entry.handle, 'a handler function');
    optionalRef(issues, [...p, 'onError'], entry.onError, 'an error policy function');
    optionalRef(issues, [...p, 'init'], entry.init, 'an init function');
  });
  list(issues, path, context, 'relays', (p, entry) => {
    if (!object(issues, p, entry, RELAY_KEYS)) return;
    optionalString(issues, [...p, 'name'], entry.name);
    checkTransport(issues, [...p, 'transport'], entry.transport);
  });
  list(issues, path, context, 'consumers', (p, entry) => {
    if (!object(issues, p, entry, CONSUMER_KEYS)) return;
    requiredString(issues, [...p, 'name'], entry.name);
    requiredString(issues, [...p, 'source'], entry.source);
    checkTransport(issues, [...p, 'transport'], entry.transport);
    if (!(typeof entry.handlers === 'string' || isPlainObject(entry.handlers))) {
      issues.add([...p, 'handlers'], `must map event types to handler functions (or be a module reference "./file.js#export"), got ${describeValue(entry.handlers)}`);
    }
    optionalRef(issues, [...p, 'onError'], entry.onError, 'an error policy function');
    optionalRef(issues, [...p, 'events'], entry.events, 'a list of event definitions');
  });
  list(issues, path, context, 'outboxes', (p, entry) => {
    if (!object(issues, p, entry, OUTBOX_KEYS)) return;
    requiredString(issues, [...p, 'table'], entry.table);
    optionalString(issues, [...p, 'schema'], entry.schema);
    optionalString(issues, [...p, 'name'], entry.name);
    if (entry.columns !== undefined && object(issues, [...p, 'columns'], entry.columns, OUTBOX_COLUMN_KEYS)) {
      for (const [field, column] of Object.entries(entry.columns)) optionalString(issues, [...p, 'columns', field], column);
    }
    checkTransport(issues, [...p, 'transport'], entry.transport);
  });
}

function checkTransport(issues: IssueList, path: PathPart[], transport: unknown): void {
  if (!isPlainObject(transport) && !(typeof transport === 'object' && transport !== null)) {
    issues.add(path, `must be a transport or { broker: ${BROKERS.map((b) => `"${b}"`).join(' | ')}, … }, got ${describeValue(transport)}`);
    return;
  }
  const t = transport as Record<string, unknown>;
  if (typeof t.publish === 'function' && typeof t.consume === 'function') return; // a Transport built in code
  if (t.broker === undefined) {
    issues.add([...path, 'broker'], `is missing: name the broker (${BROKERS.join(', ')})`);
    return;
  }
  if (!(BROKERS as readonly unknown[]).includes(t.broker)) {
    const hint = closest(String(t.broker), BROKERS);
    issues.add([...path, 'broker'], `unknown broker ${JSON.stringify(t.broker)}${hint ? ` (did you mean "${hint}"?)` : ''}; known: ${BROKERS.join(', ')}`);
  }
}

function checkAdmin(issues: IssueList, path: PathPart[], admin: unknown): void {
  if (!object(issues, path, admin, ADMIN_KEYS)) return;
  checkListen(issues, path, admin);
  if (admin.allowUnauthenticatedLocalhost !== undefined && typeof admin.allowUnauthenticatedLocalhost !== 'boolean') {
    issues.add([...path, 'allowUnauthenticatedLocalhost'], `must be true or false, got ${describeValue(admin.allowUnauthenticatedLocalhost)}`);
  }
  list(issues, path, admin, 'users', (p, user) => {
    if (!object(issues, p, user, USER_KEYS)) return;
    requiredString(issues, [...p, 'name'], user.name);
    requiredString(issues, [...p, 'passwordHash'], user.passwordHash);
    if (user.role !== 'viewer' && user.role !== 'operator') issues.add([...p, 'role'], `must be "viewer" or "operator", got ${describeValue(user.role)}`);
  });
}

function checkListen(issues: IssueList, path: PathPart[], value: Record<string, unknown>): void {
  optionalString(issues, [...path, 'host'], value.host);
  if (value.port !== undefined && !(Number.isInteger(value.port) && (value.port as number) >= 0 && (value.port as number) <= 65535)) {
    issues.add([...path, 'port'], `must be a port number 0–65535, got ${describeValue(value.port)}`);
  }
}

// ------------------------------------------------------------------ helpers

function list(issues: IssueList, path: PathPart[], parent: Record<string, unknown>, key: string, each: (path: PathPart[], entry: unknown) => void): void {
  const value = parent[key];
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    issues.add([...path, key], `must be a list, got ${describeValue(value)}`);
    return;
  }
  value.forEach((entry, i) => each([...path, key, i], entry));
}

function object(issues: IssueList, path: PathPart[], value: unknown, keys: readonly string[]): value is Record<string, unknown> {
  if (!isPlainObject(value)) {
    issues.add(path, `must be an object, got ${describeValue(value)}`);
    return false;
  }
  knownKeys(issues, path, value, keys);
  return true;
}

function knownKeys(issues: IssueList, path: PathPart[], value: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (keys.includes(key)) continue;
    const hint = closest(key, keys);
    issues.add([...path, key], `unknown option${hint ? ` (did you mean "${hint}"?)` : ''}; expected one of ${keys.join(', ')}`);
  }
}

function requiredString(issues: IssueList, path: PathPart[], value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) issues.add(path, `is required: a non-empty string, got ${describeValue(value)}`);
}

function optionalString(issues: IssueList, path: PathPart[], value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value.length === 0)) issues.add(path, `must be a non-empty string, got ${describeValue(value)}`);
}

function optionalPositiveInteger(issues: IssueList, path: PathPart[], value: unknown): void {
  if (value !== undefined && !(Number.isInteger(value) && (value as number) > 0)) issues.add(path, `must be a whole number > 0, got ${describeValue(value)}`);
}

function requiredRef(issues: IssueList, path: PathPart[], value: unknown, what: string): void {
  if (value === undefined) issues.add(path, `is required: ${what} or a module reference "./file.js#export"`);
  else optionalRef(issues, path, value, what);
}

function optionalRef(issues: IssueList, path: PathPart[], value: unknown, what: string): void {
  if (value === undefined || typeof value === 'function' || (typeof value === 'string' && value.length > 0)) return;
  if (what.startsWith('a list') && Array.isArray(value)) return;
  issues.add(path, `must be ${what} or a module reference "./file.js#export", got ${describeValue(value)}`);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** The known name closest to `input` (edit distance ≤ 2), for "did you mean". */
export function closest(input: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(input.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
