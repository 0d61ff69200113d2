/**
 * The second and third passes over a config whose shape is right: module references become the
 * functions they name, then every entry goes through the validator its API uses (so a config file
 * and code accept exactly the same options), each problem reported at its entry's path.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { consumerSettings } from '../consumers/definition.js';
import type { ConsumerDefinition } from '../consumers/definition.js';
import { outboxSettings } from '../outbox/options.js';
import { relaySettings } from '../relay/options.js';
import { validateSqlName } from '../sql/identifiers.js';
import { checkSubscription, type SubscriptionDefinition } from '../subscriptions/definition.js';
import type { Transport } from '../transports/transport.js';
import { enableTypeScript } from './typescript.js';
import type { PathPart } from './shape.js';
import type { ConsumerConfig, ContextConfig, HeraldConfig, RelayConfig, SubscriptionConfig, TransportConfig } from './types.js';

type Issue = { path: PathPart[]; message: string };

/** Stands in for a declared broker while its options are checked: no broker client is loaded to check a file. */
const PLACEHOLDER: Transport = {
  kind: 'config',
  publish: async () => {},
  consume: async () => ({ close: async () => {} }) as never,
  health: () => ({ connected: false, lastError: null }) as never,
  close: async () => {},
};

/** Replaces every module reference (`'./file.js#export'`) by what it names. */
export async function resolveRefs(config: HeraldConfig, dir: string): Promise<{ config: HeraldConfig; issues: Issue[] }> {
  const issues: Issue[] = [];
  const load = async <T>(value: T | string | undefined, path: PathPart[], kind: 'function' | 'object' | 'list'): Promise<T | undefined> => {
    if (typeof value !== 'string') return value;
    const found = await importRef(value, dir).catch((error: Error) => {
      issues.push({ path, message: error.message });
      return undefined;
    });
    if (found === undefined) return undefined;
    const ok = kind === 'function' ? typeof found === 'function' : kind === 'list' ? Array.isArray(found) : typeof found === 'object' && found !== null;
    if (!ok) issues.push({ path, message: `"${value}" is not ${kind === 'function' ? 'a function' : kind === 'list' ? 'a list' : 'an object'}` });
    return ok ? (found as T) : undefined;
  };
  const contexts: ContextConfig[] = [];
  for (const [i, context] of config.contexts.entries()) {
    const at = ['contexts', i];
    const subscriptions: SubscriptionConfig[] = [];
    for (const [j, s] of (context.subscriptions ?? []).entries()) {
      const p = [...at, 'subscriptions', j];
      subscriptions.push({
        ...s,
        handle: (await load(s.handle, [...p, 'handle'], 'function'))!,
        onError: await load(s.onError, [...p, 'onError'], 'function'),
        init: await load(s.init, [...p, 'init'], 'function'),
      });
    }
    const consumers: ConsumerConfig[] = [];
    for (const [j, c] of (context.consumers ?? []).entries()) {
      const p = [...at, 'consumers', j];
      consumers.push({
        ...c,
        handlers: (await load(c.handlers, [...p, 'handlers'], 'object'))!,
        onError: await load(c.onError, [...p, 'onError'], 'function'),
        events: await load(c.events, [...p, 'events'], 'list'),
      });
    }
    contexts.push({ ...context, events: await load(context.events, [...at, 'events'], 'list'), subscriptions, consumers, relays: context.relays ?? [], outboxes: context.outboxes ?? [] });
  }
  return { config: { ...config, contexts }, issues };
}

/** `'./dir/file.js#name'` relative to the config file's folder (`#default` when no `#`). */
async function importRef(ref: string, dir: string): Promise<unknown> {
  const hash = ref.lastIndexOf('#');
  const specifier = hash >= 0 ? ref.slice(0, hash) : ref;
  const name = hash >= 0 ? ref.slice(hash + 1) : 'default';
  if (!specifier || !name) throw new Error(`"${ref}" is not a module reference: write "./file.js#exportName"`);
  const local = specifier.startsWith('.') || isAbsolute(specifier);
  const path = local ? resolve(dir, specifier) : specifier;
  if (local && /\.[mc]?ts$/.test(path)) await enableTypeScript(path);
  let module: Record<string, unknown>;
  try {
    module = await import(local ? pathToFileURL(path).href : path);
  } catch (error) {
    throw new Error(`cannot load "${specifier}": ${(error as Error).message.split('\n')[0]}`);
  }
  if (!(name in module)) throw new Error(`"${specifier}" has no export "${name}" (it exports ${Object.keys(module).join(', ') || 'nothing'})`);
  return module[name];
}

/** Runs each entry through its API's validator; returns the problems with their paths. */
export function checkMeanings(config: HeraldConfig): Issue[] {
  const issues: Issue[] = [];
  const check = (path: PathPart[], fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      issues.push({ path, message: (error as Error).message });
    }
  };
  config.contexts.forEach((context, i) => {
    const at = ['contexts', i];
    check([...at, 'name'], () => validateSqlName('context', context.name));
    const names = new Map<string, string>();
    const unique = (path: PathPart[], name: string) => {
      if (names.has(name)) issues.push({ path, message: `"${name}" is already used by ${names.get(name)} of this context` });
      else names.set(name, path.slice(2).join('.'));
    };
    (context.subscriptions ?? []).forEach((s, j) =>
      check([...at, 'subscriptions', j], () => unique([...at, 'subscriptions', j], checkSubscription(s as SubscriptionDefinition))),
    );
    (context.relays ?? []).forEach((r: RelayConfig, j) =>
      check([...at, 'relays', j], () => unique([...at, 'relays', j], relaySettings({ ...r, transport: declared(r.transport) }).name)),
    );
    (context.consumers ?? []).forEach((c, j) =>
      check([...at, 'consumers', j], () => unique([...at, 'consumers', j], consumerSettings({ ...c, transport: declared(c.transport) } as ConsumerDefinition).name)),
    );
    (context.outboxes ?? []).forEach((o, j) =>
      check([...at, 'outboxes', j], () => unique([...at, 'outboxes', j], outboxSettings({ ...o, transport: declared(o.transport) }, context.name).relay.name)),
    );
  });
  return issues;
}

function declared(transport: TransportConfig): Transport {
  return 'broker' in transport ? { ...PLACEHOLDER, kind: transport.broker } : transport;
}
