/**
 * `npm test`: resolves the database the way Herald does (DATABASE_URL, else an embedded
 * PostgreSQL in .herald/test-postgres), then runs every test file with node's test runner: the
 * unit specs beside the pure modules in src/, then test/unit and test/integration.
 * Extra arguments are test files to run instead of all.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/database/index.js';

// Unit specs of pure modules sit beside them in src/ (`*.unit.spec.ts`); the rest is under test/.
const specs = readdirSync('src', { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.unit.spec.ts'))
  .sort()
  .map((f) => join('src', f));
const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : [
        ...specs,
        ...['test/unit', 'test/integration'].flatMap((dir) =>
          readdirSync(dir)
            .filter((f) => f.endsWith('.test.ts'))
            .sort()
            .map((f) => join(dir, f)),
        ),
      ];

let server: EmbeddedServer | undefined;
if (!process.env.DATABASE_URL) {
  console.log('DATABASE_URL is not set: starting an embedded PostgreSQL in .herald/test-postgres');
  server = await startEmbeddedPostgres('.herald/test-postgres');
}
const env = { ...process.env, DATABASE_URL: process.env.DATABASE_URL ?? server!.url };
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files], {
  env,
  stdio: 'inherit',
});
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await server?.stop();
process.exit(code);
