/**
 * The default run, in this process: the four contexts and the saga start, the traffic generator
 * places the orders, and the run ends by itself once every order is finished.
 */
import type pg from 'pg';
import { type DemoPanel, startPanel, stayOpen } from './admin.js';
import { type BrokerKind, resetBroker } from './broker.js';
import { type Ledger, ledgerLine } from './ledger.js';
import type { DemoOptions } from './options.js';
import { compensationLines, compensationReasons, parkedItems, parkedLines, progressTicker, type Say, statusLines, waitUntilSettled } from './report.js';
import { brokerGroups, runContexts } from './routing.js';
import { CONTEXTS } from './shared.js';
import { DECLINED_EVERY, MALFORMED_LABEL_EVERY, planOrders, runTraffic, UNANSWERED_EVERY } from './traffic.js';
import { createWorld, resetWorld } from './world.js';

export interface RunResult {
  readonly ledger: Ledger;
  /** Placements that failed (none expected). */
  readonly failedPlacements: number;
  /** Ctrl-C came before the run ended (not while `--stay` kept the panel open afterwards). */
  readonly interrupted: boolean;
}

/** What the traffic line says about the failures the traffic carries by design. */
export function trafficLine(options: Pick<DemoOptions, 'orders' | 'rate' | 'seed' | 'paymentDeadlineMs'>): string {
  return (
    `traffic:   ${options.orders} orders at ${options.rate}/s (seed ${options.seed}); every ${DECLINED_EVERY}th card is declined, ` +
    `every ${UNANSWERED_EVERY}th payment never answered (deadline ${options.paymentDeadlineMs / 1000} s), every ${MALFORMED_LABEL_EVERY}th address has no postcode`
  );
}

/** Runs the demo with every context in this process; `broker` is a reachable broker, or undefined for PostgreSQL. */
export async function runDemo(pool: pg.Pool, options: DemoOptions, broker: BrokerKind | undefined, say: Say, signal?: AbortSignal): Promise<RunResult> {
  const world = createWorld(pool, { prefix: options.prefix });
  await resetWorld(world);
  if (broker) await resetBroker(broker, brokerGroups(world.names));
  const running = await runContexts(world, CONTEXTS, { broker, paymentDeadlineMs: options.paymentDeadlineMs });
  let panel: DemoPanel | null = null;
  try {
    // The admin panel over the four contexts while they run (and, with --stay, after the traffic).
    panel = await startPanel(world, options, say);
    say(trafficLine(options));
    const started = Date.now();
    const stopTicker = progressTicker(world, say, started, 1000);
    let traffic: Awaited<ReturnType<typeof runTraffic>>;
    let ledger: Ledger;
    try {
      traffic = await runTraffic(planOrders(options.orders, options.seed), (order) => world.orders.place(order), { rate: options.rate, seed: options.seed, signal });
      ledger = await waitUntilSettled(world, traffic.placed, { timeoutMs: 30_000 + options.paymentDeadlineMs, signal });
    } finally {
      stopTicker();
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    for (const failure of traffic.failed) say(`error:     placing ${failure.orderId} failed: ${(failure.error as Error)?.message ?? failure.error}`);
    const compensations = await compensationLines(world);
    if (compensations.length > 0) say('compensated:');
    for (const line of compensations) say(line);
    const parked = await parkedItems(world);
    for (const line of await parkedLines(world, parked)) say(line);
    say('more:      npm start -- --chaos (workers in processes, killed with kill -9 meanwhile), --broker nats, --help');
    say('status:');
    for (const line of await statusLines(world)) say(line);
    for (const problem of ledger.problems) say(`problem:   ${problem}`);
    const reasons = await compensationReasons(world);
    say(
      `summary:   ${ledger.orders} orders in ${seconds} s: ${ledger.completed} completed, ${ledger.compensated} compensated${reasons ? ` (${reasons})` : ''}, ` +
        `${parked.length} parked`,
    );
    say(ledgerLine(ledger));
    const interrupted = signal?.aborted === true;
    await stayOpen(panel, options, say, signal);
    return { ledger, failedPlacements: traffic.failed.length, interrupted };
  } finally {
    await panel?.close();
    await running.stop();
  }
}
