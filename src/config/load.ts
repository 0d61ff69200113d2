/**
 * Finds, reads and checks a config file: `herald.config.ts|js|mjs|yaml|yml|json`. Every problem is
 * reported at once with its path (and line and column in YAML/JSON) in a {@link ConfigFileError};
 * nothing is started from a config that has one.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigFileError, type ConfigFileIssue } from '../errors.js';
import { checkMeanings, resolveRefs } from './meaning.js';
import { enableTypeScript } from './typescript.js';
import { checkShape, formatPath, type PathPart } from './shape.js';
import type { HeraldConfig } from './types.js';
import { parseYaml, substituteEnv, type YamlSource } from './yaml.js';

/** Looked for, in this order, in the working directory. */
export const CONFIG_FILES = ['herald.config.ts', 'herald.config.mts', 'herald.config.js', 'herald.config.mjs', 'herald.config.yaml', 'herald.config.yml', 'herald.config.json'];

/** Config files larger than this are refused before parsing. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** A checked config, its functions resolved. */
export interface LoadedConfig {
  /** Absolute path of the file read. */
  readonly file: string;
  readonly config: HeraldConfig;
}

/** Locates the config file: `file` when given (it must exist), else the first of {@link CONFIG_FILES} in `cwd`. */
export function findConfigFile(file: string | undefined, cwd = process.cwd()): string {
  if (file) {
    const path = isAbsolute(file) ? file : resolve(cwd, file);
    if (!existsSync(path)) throw new ConfigFileError(file, [{ path: '', message: 'no such file' }]);
    return path;
  }
  const found = CONFIG_FILES.map((name) => resolve(cwd, name)).find((path) => existsSync(path));
  if (!found) throw new ConfigFileError(cwd, [{ path: '', message: `no config file here (looked for ${CONFIG_FILES.join(', ')}); pass --config FILE` }]);
  return found;
}

/** Reads and checks a config file; throws {@link ConfigFileError} listing every problem. */
export async function loadConfig(file?: string, cwd = process.cwd()): Promise<LoadedConfig> {
  const path = findConfigFile(file, cwd);
  const size = statSync(path).size;
  if (size > MAX_CONFIG_BYTES) throw new ConfigFileError(path, [{ path: '', message: `is ${size} bytes; a config file must be at most ${MAX_CONFIG_BYTES}` }]);
  const ext = extname(path);
  let raw: unknown;
  let yaml: YamlSource | undefined;
  if (ext === '.yaml' || ext === '.yml' || ext === '.json') {
    yaml = parseYaml(await readFile(path, 'utf8'));
    if (yaml.issues.length > 0) throw new ConfigFileError(path, yaml.issues);
    const substituted = substituteEnv(yaml.value, process.env);
    if (substituted.issues.length > 0) throw new ConfigFileError(path, locate(substituted.issues, yaml));
    raw = substituted.value;
  } else {
    raw = await importConfig(path);
  }
  return checkConfig(raw, path, yaml);
}

/**
 * Checks a config value (already read): shape, then module references, then what each option
 * means. `yaml` locates problems in the source text.
 */
export async function checkConfig(raw: unknown, file: string, yaml?: YamlSource): Promise<LoadedConfig> {
  const shape = checkShape(raw);
  if (shape.issues.length > 0) throw new ConfigFileError(file, locate(shape.issues, yaml));
  const refs = await resolveRefs(raw as HeraldConfig, dirname(file));
  if (refs.issues.length > 0) throw new ConfigFileError(file, locate(refs.issues, yaml));
  const meaning = checkMeanings(refs.config);
  if (meaning.length > 0) throw new ConfigFileError(file, locate(meaning, yaml));
  return { file, config: refs.config };
}

async function importConfig(path: string): Promise<unknown> {
  if (path.endsWith('.ts') || path.endsWith('.mts')) await enableTypeScript(path);
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(path).href);
  } catch (error) {
    throw new ConfigFileError(path, [{ path: '', message: `could not be loaded: ${(error as Error)?.message ?? String(error)}` }]);
  }
  const config = module.default ?? module.config;
  if (config === undefined) throw new ConfigFileError(path, [{ path: '', message: 'exports no config: `export default defineConfig({ … })`' }]);
  return typeof config === 'function' ? await (config as () => unknown)() : await config;
}

function locate(issues: readonly { path: readonly PathPart[]; message: string }[], yaml?: YamlSource): ConfigFileIssue[] {
  return issues.map(({ path, message }) => ({ path: formatPath(path), message, ...yaml?.position(path) }));
}
