import { isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import type { ConfigFileIssue } from '../errors.js';
import type { PathPart } from './shape.js';

/** A parsed YAML (or JSON, a subset of it) config with positions. */
export interface YamlSource {
  readonly value: unknown;
  readonly issues: readonly ConfigFileIssue[];
  /** Line and column (1-based) of the value at `path`, or of its nearest parent present. */
  position(path: readonly PathPart[]): { line: number; column: number } | undefined;
}

/** Parses with the `yaml` library: syntax errors carry their line and column; alias bombs are refused. */
export function parseYaml(text: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  const issues: ConfigFileIssue[] = [...doc.errors, ...doc.warnings].map((e) => ({ path: '', message: e.message.split('\n')[0]!, ...at(e.pos[0]) }));
  let value: unknown;
  if (issues.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      issues.push({ path: '', message: (error as Error).message });
    }
  }
  return {
    value,
    issues,
    position(path) {
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true) as Node | undefined;
        const offset = node && (isScalar(node) || 'range' in node) ? node.range?.[0] : undefined;
        if (offset !== undefined) return at(offset);
      }
      return undefined;
    },
  };
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string with the environment's values, so
 * secrets and URLs stay out of the file. An unset variable without a default is a problem.
 */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv): { value: unknown; issues: { path: PathPart[]; message: string }[] } {
  const issues: { path: PathPart[]; message: string }[] = [];
  const walk = (v: unknown, path: PathPart[]): unknown => {
    if (typeof v === 'string') {
      // A value that is only a reference takes the type the text has: `poolSize: ${POOL}` is a number.
      const whole = new RegExp(`^${ENV_REFERENCE.source}$`).test(v);
      const text = v.replace(ENV_REFERENCE, (_, name: string, fallback: string | undefined) => {
        const found = env[name];
        if (found !== undefined && found !== '') return found;
        if (fallback !== undefined) return fallback;
        issues.push({ path, message: `environment variable ${name} is not set (write \${${name}:-default} for a default)` });
        return '';
      });
      if (whole && /^-?\d+(\.\d+)?$/.test(text)) return Number(text);
      if (whole && (text === 'true' || text === 'false')) return text === 'true';
      return text;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, [...path, k])]));
    return v;
  };
  return { value: walk(value, []), issues };
}
