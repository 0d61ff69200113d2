import { ConfigFileError } from '../errors.js';

let typeScriptEnabled = false;

/** TypeScript config files and handler modules load through `tsx` (an optional peer) when Node cannot load them itself. */
export async function enableTypeScript(forFile: string): Promise<void> {
  if (typeScriptEnabled || process.execArgv.some((arg) => arg.includes('tsx'))) return;
  try {
    const api = (await import('tsx/esm/api' as string)) as { register(): unknown };
    api.register();
    typeScriptEnabled = true;
  } catch {
    throw new ConfigFileError(forFile, [{ path: '', message: 'loading TypeScript needs the `tsx` package (npm i -D tsx); or write herald.config.js or .yaml' }]);
  }
}

