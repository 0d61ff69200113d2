import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CODES, HeraldError, InvalidPolicyAnswerError, TransportError } from './errors.js';

/** Every `HERALD_…` code the source raises, by file. */
function codesRaised(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const dir = new URL('.', import.meta.url).pathname;
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts') || file.endsWith('.spec.ts')) continue;
    for (const match of readFileSync(join(dir, file), 'utf8').matchAll(/super\(\s*'(HERALD_[A-Z_]+)'/g)) {
      found.set(match[1]!, [...(found.get(match[1]!) ?? []), file]);
    }
  }
  return found;
}

describe('error codes', () => {
  it('are defined once each, in the registry, and every one is raised somewhere', () => {
    const raised = codesRaised();
    for (const code of raised.keys()) assert.ok(code in ERROR_CODES, `${code} is raised but not in ERROR_CODES`);
    for (const code of Object.keys(ERROR_CODES)) assert.ok(raised.has(code), `${code} is in ERROR_CODES but never raised`);
    for (const [code, meaning] of Object.entries(ERROR_CODES)) assert.ok(meaning.length > 10, `${code} says what it means`);
  });

  it('carry their code, name and cause', () => {
    const cause = new Error('socket hang up');
    const error = new TransportError('nats', 'publish failed', { cause, refused: true });
    assert.ok(error instanceof HeraldError);
    assert.equal(error.code, 'HERALD_TRANSPORT');
    assert.equal(error.name, 'TransportError');
    assert.equal(error.cause, cause);
    assert.equal(error.refused, true);
    assert.equal(new InvalidPolicyAnswerError(undefined, false).message, 'The error policy answered undefined; use retry(), skip(), park() or stop()');
  });
});
