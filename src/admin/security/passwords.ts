import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { ConfigError, InvalidArgumentError } from '../../errors.js';

/**
 * Password hashes for the admin panel's users: scrypt from `node:crypto`, stored as
 * `scrypt$<N>$<r>$<p>$<salt>$<hash>` (salt and hash base64), so the cost can rise later without
 * invalidating existing hashes. Comparison is constant-time.
 */

const KEY_LENGTH = 32;
const DEFAULT_COST = 2 ** 15;
const HASH = /^scrypt\$(\d{1,8})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9+/]{16,}={0,2})\$([A-Za-z0-9+/]{40,}={0,2})$/;

interface Parsed {
  readonly cost: number;
  readonly blockSize: number;
  readonly parallelization: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function derive(password: string, salt: Buffer, cost: number, blockSize: number, parallelization: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, { N: cost, r: blockSize, p: parallelization, maxmem: 256 * cost * blockSize * parallelization }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/**
 * Hashes a password for `users[].passwordHash`. `cost` is scrypt's N (a power of two, default
 * 2^15: about 50 ms here); a lower one is for tests only.
 */
export async function hashPassword(password: string, options: { cost?: number } = {}): Promise<string> {
  if (typeof password !== 'string' || password.length < 8 || password.length > 1024) {
    throw new InvalidArgumentError('password', 'use 8 to 1024 characters');
  }
  const cost = options.cost ?? DEFAULT_COST;
  if (!Number.isSafeInteger(cost) || cost < 2 ** 10 || cost > 2 ** 20 || (cost & (cost - 1)) !== 0) {
    throw new InvalidArgumentError('cost', 'use a power of two from 1024 to 1048576');
  }
  const salt = randomBytes(16);
  const hash = await derive(password, salt, cost, 8, 1);
  return `scrypt$${cost}$8$1$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Parses a stored hash; throws {@link ConfigError} for one {@link hashPassword} did not make. */
export function parsePasswordHash(stored: string, who: string): Parsed {
  const match = typeof stored === 'string' ? HASH.exec(stored) : null;
  const [cost, blockSize, parallelization] = match ? [Number(match[1]), Number(match[2]), Number(match[3])] : [0, 0, 0];
  if (!match || cost < 2 ** 10 || cost > 2 ** 20 || (cost & (cost - 1)) !== 0 || blockSize < 1 || blockSize > 32 || parallelization < 1 || parallelization > 16) {
    throw new ConfigError(`admin panel: user '${who}' has a passwordHash that hashPassword() did not make`);
  }
  const hash = Buffer.from(match[5]!, 'base64');
  if (hash.length !== KEY_LENGTH) throw new ConfigError(`admin panel: user '${who}' has a passwordHash of the wrong length`);
  return { cost, blockSize, parallelization, salt: Buffer.from(match[4]!, 'base64'), hash };
}

/** Whether `password` matches a parsed hash; constant-time in the comparison. */
export async function verifyPassword(password: string, stored: Parsed): Promise<boolean> {
  if (typeof password !== 'string' || password.length > 1024) return false;
  const key = await derive(password, stored.salt, stored.cost, stored.blockSize, stored.parallelization);
  return timingSafeEqual(key, stored.hash);
}
