/**
 * Who hears whom, and how. Inventory, payments and shipping take the order saga's commands from
 * the orders log; orders (its saga) hears their answers from their logs. Each of those six routes
 * is either a durable subscription on the sending context's log (PostgreSQL only: the sender's
 * log is read directly), or a relay of the sender's log to a broker and a consumer in the receiver
 * (exactly-once effect through the receiver's inbox). The handlers are the same either way.
 */
import type { Herald, Transport } from '../../src/index.js';
import { type RegisteredSaga, registerSaga } from '../../src/sagas/index.js';
import { quoteIdent } from '../../src/sql/index.js';
import { type BrokerKind, createTransport, type Groups } from './broker.js';
import { orderSaga, type OrderSagaState } from './saga.js';
import { type ContextKey, type ContextNames, type Handler, recorded } from './shared.js';
import type { World } from './world.js';

/**
 * The routes. A consumer keeps each sender stream's order (`'stream'`): the saga's commands to a
 * context about one order (reserve, then release) are one stream. The answers the saga hears
 * come one per order, from streams every order shares (a SKU's stock), so waiting for their
 * stream's order would only make unrelated orders wait for each other across worker processes
 * (`'none'`; the inbox still drops duplicates, and the saga's instance lock orders its own work).
 */
export const ROUTES: readonly { readonly to: ContextKey; readonly from: ContextKey; readonly ordering: 'stream' | 'none' }[] = [
  { to: 'inventory', from: 'orders', ordering: 'stream' },
  { to: 'payments', from: 'orders', ordering: 'stream' },
  { to: 'shipping', from: 'orders', ordering: 'stream' },
  { to: 'orders', from: 'inventory', ordering: 'none' },
  { to: 'orders', from: 'payments', ordering: 'none' },
  { to: 'orders', from: 'shipping', ordering: 'none' },
];

/** The subscription's or consumer's name: `inventory.from-orders`, … */
export function routeName(route: { to: ContextKey; from: ContextKey }): string {
  return `${route.to}.from-${route.from}`;
}

/** The consumer groups reading each sending context from the broker. */
export function brokerGroups(names: ContextNames): Groups {
  const groups: Record<string, string[]> = {};
  for (const route of ROUTES) (groups[names[route.from]] ??= []).push(routeName(route));
  return groups;
}

export interface RunSettings {
  /** Through a broker, or (undefined) PostgreSQL subscriptions. */
  readonly broker?: BrokerKind;
  readonly paymentDeadlineMs: number;
  /** Chaos run: redeliver a dead consumer's messages soon. */
  readonly quickRedelivery?: boolean;
}

/** Contexts running in this process: their Heralds started, their broker connections open. */
export interface Running {
  stop(): Promise<void>;
}

/**
 * Registers the work of `contexts` (their own subscriptions, the order saga, the routes into them,
 * and with a broker the relays of their logs) and starts every Herald involved.
 */
export async function runContexts(world: World, contexts: readonly ContextKey[], settings: RunSettings): Promise<Running> {
  const used = new Set<Herald>();
  const transports: Transport[] = [];
  const groups = brokerGroups(world.names);
  const transportOf = async () => {
    const transport = await createTransport(settings.broker!, groups, settings.quickRedelivery === true);
    transports.push(transport);
    return transport;
  };
  for (const key of contexts) {
    const own = world.logs[key];
    used.add(own);
    const handlers = handlersOf(world, key, settings);
    if (settings.broker) own.relay({ transport: await transportOf(), expectedConsumers: groups[world.names[key]] ?? [] });
    const transport = settings.broker ? await transportOf() : undefined;
    for (const route of ROUTES.filter((r) => r.to === key)) {
      const name = routeName(route);
      const routed = recorded(quoteIdent(world.names[key]), handlers[route.from] ?? {});
      if (transport) {
        own.consume({
          transport,
          name,
          source: world.names[route.from],
          ordering: route.ordering,
          // Everything else the sender's log records is not for this context: acknowledged, not counted.
          ignore: ['*'],
          handlers: Object.fromEntries(Object.entries(routed).map(([type, handle]) => [type, (event, _meta, { tx }) => handle(event, tx)])),
        });
      } else {
        const sender = world.logs[route.from];
        used.add(sender);
        sender.subscribe({ name, handle: (event, _meta, { tx }) => routed[event.type]?.(event, tx) });
      }
    }
  }
  const heralds = [...used];
  try {
    for (const herald of heralds) await herald.start();
  } catch (error) {
    await stopAll(heralds, transports);
    throw error;
  }
  return { stop: () => stopAll(heralds, transports) };
}

async function stopAll(heralds: readonly Herald[], transports: readonly Transport[]): Promise<void> {
  await Promise.allSettled(heralds.map((h) => h.stop()));
  await Promise.allSettled(transports.map((t) => t.close()));
}

/** A context's handlers of what it receives, by sending context and event type; registers its own subscriptions and saga. */
function handlersOf(world: World, key: ContextKey, settings: RunSettings): Partial<Record<ContextKey, Record<string, Handler>>> {
  if (key === 'inventory') return { orders: world.inventory.handlers() };
  if (key === 'payments') return { orders: world.payments.handlers() };
  if (key === 'shipping') {
    world.shipping.log.subscribe(world.shipping.labelPrinter());
    return { orders: world.shipping.handlers() };
  }
  const saga: RegisteredSaga<OrderSagaState> = registerSaga(world.logs.orders, orderSaga(world.orders, settings.paymentDeadlineMs));
  const moves = (...types: string[]): Record<string, Handler> => Object.fromEntries(types.map((type) => [type, (event, tx) => saga.saga.process(event, tx)]));
  return {
    inventory: moves('StockReserved', 'StockShortage'),
    payments: moves('PaymentTaken', 'PaymentFailed'),
    shipping: moves('Shipped'),
  };
}
