/**
 * `npm start -- --chaos`: every context's work runs in worker processes (two per context by
 * default), and while the traffic flows the supervisor kills them with kill -9 at seeded random
 * moments and starts them again. Leases hand a dead worker's subscriptions, relays and saga to
 * the survivors; transactions it had open roll back. At the end the ledger, computed from the
 * databases, must say lost 0 and duplicates 0.
 */
import type pg from 'pg';
import { quoteIdent } from '../../src/sql/index.js';
import { type DemoPanel, startPanel, stayOpen } from './admin.js';
import { type BrokerKind, resetBroker } from './broker.js';
import { Fleet, type Slot } from './fleet.js';
import { ledgerLine } from './ledger.js';
import type { DemoOptions } from './options.js';
import { compensationReasons, elapsed, parkedItems, progressTicker, type Say, waitUntilSettled } from './report.js';
import { brokerGroups } from './routing.js';
import { type RunResult, trafficLine } from './run.js';
import { CONTEXTS } from './shared.js';
import { planOrders, runTraffic, schedule, seededRandom, sleep } from './traffic.js';
import { createWorld, resetWorld, type World } from './world.js';

/** Takeover bound of the workers' leases: a killed holder's work moves within about 1.3 times this. */
const LEASE_TTL_MS = 2500;

/** The moments (ms after the traffic starts) of `kills` kills, spread over the middle of the traffic (`trafficMs` long). */
export function killTimes(kills: number, trafficMs: number, random: () => number): number[] {
  return Array.from({ length: kills }, () => trafficMs * (0.1 + 0.8 * random())).sort((a, b) => a - b);
}

interface Kill {
  readonly label: string;
  readonly pid: number;
  readonly signal: string | null;
}

export async function runChaos(databaseUrl: string, pool: pg.Pool, options: DemoOptions, broker: BrokerKind | undefined, say: Say, signal?: AbortSignal): Promise<RunResult> {
  // This process only places orders: the workers sequence the logs and do all the work.
  const world = createWorld(pool, { prefix: options.prefix, sequencer: false });
  await resetWorld(world);
  if (broker) await resetBroker(broker, brokerGroups(world.names));
  const fleet = new Fleet(databaseUrl, { prefix: options.prefix, broker, paymentDeadlineMs: options.paymentDeadlineMs, leaseTtlMs: LEASE_TTL_MS }, CONTEXTS, options.workers, signal);
  say(trafficLine(options));
  say(`chaos:     ${fleet.slots.length} worker processes (${options.workers} per context), ${options.kills} kill -9 while the traffic flows`);
  const started = Date.now();
  const at = () => elapsed(started);
  let stopTicker = () => {};
  let panel: DemoPanel | null = null;
  try {
    // This process's Heralds only read: the panel shows what the workers do, and its controls reach them through the database.
    panel = await startPanel(world, options, say);
    await fleet.startAll(120_000);
    say(`${at()}:   ${fleet.slots.length} workers ready (pids ${fleet.slots.map((s) => s.current!.pid).join(', ')})`);
    const traffic = runTraffic(planOrders(options.orders, options.seed), (order) => world.orders.place(order), { rate: options.rate, seed: options.seed, signal });
    stopTicker = progressTicker(world, say, started, 2000);
    const kills = await killWhileTrafficFlows(world, fleet, options, (line) => say(`${at()}:   ${line}`), signal);
    const { placed, failed } = await traffic;
    if (!signal?.aborted) await fleet.allReady(120_000);
    const ledger = await waitUntilSettled(world, placed, { timeoutMs: 60_000 + options.paymentDeadlineMs, signal });
    stopTicker();
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    await fleet.stopAll(20_000);
    say(`${at()}:   ${fleet.slots.length} workers stopped (SIGTERM)`);
    for (const f of failed) say(`error:     placing ${f.orderId} failed: ${(f.error as Error)?.message ?? f.error}`);
    for (const u of fleet.unexpected) say(`error:     worker ${u.label} (pid ${u.pid}) exited by itself: ${u.exit.signal ?? `code ${u.exit.code}`}`);
    for (const problem of ledger.problems) say(`problem:   ${problem}`);
    const byKill = kills.filter((k) => k.signal === 'SIGKILL').length;
    say(`kills:     ${kills.length} workers killed (${byKill} ended by SIGKILL), ${kills.length} restarted: ${kills.map((k) => `${k.label} pid ${k.pid}`).join(', ') || 'none'}`);
    const parked = await parkedItems(world);
    const reasons = await compensationReasons(world);
    say(
      `summary:   ${ledger.orders} orders in ${seconds} s: ${ledger.completed} completed, ${ledger.compensated} compensated${reasons ? ` (${reasons})` : ''}, ` +
        `${parked.length} parked`,
    );
    say(ledgerLine(ledger));
    const interrupted = signal?.aborted === true;
    // The workers have stopped: the panel shows where they left everything.
    await stayOpen(panel, options, say, signal);
    return { ledger, failedPlacements: failed.length + fleet.unexpected.length, interrupted };
  } finally {
    stopTicker();
    await panel?.close();
    await fleet.stopAll(20_000);
  }
}

/**
 * The kills: at seeded moments between the first and the last order's due time, kill -9 a worker
 * (one holding leases when there is one) and start it again after 0.3 to 1 s. Resolves once the
 * killed workers were started again.
 */
async function killWhileTrafficFlows(world: World, fleet: Fleet, options: DemoOptions, say: Say, signal?: AbortSignal): Promise<Kill[]> {
  const random = seededRandom(options.seed ^ 0xc4a05);
  const started = Date.now();
  const kills: Kill[] = [];
  const restarts: Promise<void>[] = [];
  for (const due of killTimes(options.kills, schedule(options.orders, options.rate, options.seed).at(-1)!, random)) {
    await sleep(started + due - Date.now(), signal);
    if (signal?.aborted) break;
    const holding = await leasesHeld(world);
    const live = fleet.slots.filter((s) => !s.restarting && s.current?.alive);
    const holders = live.filter((s) => holding.has(`${s.label}:${s.current!.pid}`));
    const targets = holders.length > 0 ? holders : live;
    const slot = targets[Math.floor(random() * targets.length)];
    if (!slot) continue;
    const held = holding.get(`${slot.label}:${slot.current!.pid}`) ?? [];
    const { pid, exit } = await fleet.kill(slot);
    kills.push({ label: slot.label, pid, signal: exit.signal });
    say(`kill -9 ${slot.label} (pid ${pid}${held.length ? `, holding ${held.join(', ')}` : ''}): ended by ${exit.signal ?? `exit code ${exit.code}`}`);
    restarts.push(restart(fleet, slot, 300 + Math.floor(random() * 700), say));
  }
  await Promise.all(restarts);
  return kills;
}

/** The subscriptions and relays whose lease each process holds now, by its lease name (`payments#2:<pid>`). */
async function leasesHeld(world: World): Promise<Map<string, string[]>> {
  const held = new Map<string, string[]>();
  for (const key of CONTEXTS) {
    const { rows } = await world.pool.query<{ name: string; owner: string }>(
      `SELECT name, lease_owner AS owner FROM ${quoteIdent(world.names[key])}.subscriptions WHERE lease_owner IS NOT NULL AND lease_expires_at > now() ORDER BY name`,
    );
    for (const row of rows) held.set(row.owner, [...(held.get(row.owner) ?? []), row.name]);
  }
  return held;
}

/** Starts a killed slot again after `delayMs`. */
async function restart(fleet: Fleet, slot: Slot, delayMs: number, say: Say): Promise<void> {
  slot.restarting = true;
  try {
    await sleep(delayMs);
    const worker = fleet.start(slot);
    say(`restarted ${slot.label} (pid ${worker.pid})`);
  } finally {
    slot.restarting = false;
  }
}
