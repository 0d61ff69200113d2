import { ConfigError } from '../errors.js';

/** How a consumer treats an event type: its handler, acknowledged on purpose, or unknown. */
export type Route = 'handle' | 'ignore' | 'unknown';

/** A type name, a pattern with `*` wildcards (`'Audit*'`, `'*.v1'`), or a regular expression. */
export type TypePattern = string | RegExp;

/**
 * Routes event types for one consumer: a type with a handler is handled; a type matching
 * `ignore` is acknowledged without a handler; any other type is unknown (the consumer ignores
 * it and counts it, or parks it, by its `unknownTypes` setting). Pure.
 */
export class TypeRouter {
  private readonly handled: ReadonlySet<string>;
  private readonly exact = new Set<string>();
  private readonly patterns: RegExp[] = [];

  constructor(handlerTypes: Iterable<string>, ignore: readonly TypePattern[] = []) {
    this.handled = new Set(handlerTypes);
    for (const pattern of ignore) {
      if (pattern instanceof RegExp) this.patterns.push(pattern);
      else if (typeof pattern === 'string' && pattern.length > 0) {
        if (pattern.includes('*')) this.patterns.push(wildcard(pattern));
        else this.exact.add(pattern);
      } else throw new ConfigError(`ignore: ${JSON.stringify(pattern)} is not a type name, a '*' pattern or a RegExp`);
    }
  }

  route(type: string): Route {
    if (this.handled.has(type)) return 'handle';
    if (this.exact.has(type) || this.patterns.some((p) => testOnce(p, type))) return 'ignore';
    return 'unknown';
  }
}

/** `'Audit*'` → `/^Audit.*$/`: only `*` is special, everything else matches itself. */
function wildcard(pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}

/** A global or sticky RegExp keeps state between tests: reset it so every type is judged alike. */
function testOnce(pattern: RegExp, type: string): boolean {
  pattern.lastIndex = 0;
  return pattern.test(type);
}
