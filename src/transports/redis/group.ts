import type { Redis } from 'ioredis';
import { describe } from '../../errors.js';
import { KIND, type Settings } from './options.js';

/** A consumer of a group on a stream: what the group's bookkeeping commands name. */
export interface Member {
  readonly key: string;
  readonly group: string;
  readonly consumer: string;
}

/** Creates the group at the start of the stream (and the stream if missing), unless it exists. */
export async function createGroup(client: Redis, key: string, group: string): Promise<void> {
  try {
    await client.xgroup('CREATE', key, group, '0', 'MKSTREAM');
  } catch (error) {
    if (!describe(error).startsWith('BUSYGROUP')) throw error;
  }
}

/**
 * Renews this consumer's own pending entries (resets their idle time) without taking over any
 * that another consumer has claimed meanwhile: XPENDING filtered by consumer, then XCLAIM JUSTID.
 * Atomic, so a concurrent XAUTOCLAIM cannot slip in between.
 */
const RENEW_SCRIPT = `
local renewed = 0
for i = 3, #ARGV do
  local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #mine > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed`;

/** Keeps this consumer's unsettled entries from looking idle, so no other consumer claims them. */
export async function renewPending(client: Redis, member: Member, unsettled: ReadonlySet<string>, settings: Settings): Promise<void> {
  if (unsettled.size === 0 || client.status !== 'ready') return;
  try {
    await client.eval(RENEW_SCRIPT, 1, member.key, member.group, member.consumer, ...unsettled);
  } catch (error) {
    settings.logger?.debug({ transport: KIND, error: describe(error) }, 'renewing pending entries failed');
  }
}

/** Removes consumers of the group with nothing pending that have been idle for long: crashed or closed processes. */
export async function removeIdleConsumers(client: Redis, member: Member, settings: Settings): Promise<void> {
  const idleMs = Math.max(2 * settings.claimIdleMs, 60_000);
  try {
    const consumers = (await client.xinfo('CONSUMERS', member.key, member.group)) as unknown[][];
    for (const info of consumers) {
      const fields = new Map<string, unknown>();
      for (let i = 0; i + 1 < info.length; i += 2) fields.set(String(info[i]), info[i + 1]);
      const name = String(fields.get('name'));
      if (name !== member.consumer && Number(fields.get('pending')) === 0 && Number(fields.get('idle')) >= idleMs) {
        await client.xgroup('DELCONSUMER', member.key, member.group, name);
      }
    }
  } catch (error) {
    settings.logger?.debug({ transport: KIND, error: describe(error) }, 'removing idle consumers failed');
  }
}

/** Removes this consumer from the group when nothing is pending on it; otherwise its entries wait for a claim. */
export async function leaveGroup(client: Redis, member: Member): Promise<void> {
  try {
    const mine = (await client.xpending(member.key, member.group, '-', '+', 1, member.consumer)) as unknown[];
    if (mine.length === 0) await client.xgroup('DELCONSUMER', member.key, member.group, member.consumer);
  } catch {
    // Best effort: an idle consumer is removed later by the others.
  }
}
