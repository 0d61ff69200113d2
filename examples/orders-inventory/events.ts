import { z } from 'zod';
import { defineEvent } from '../../src/index.js';

/** Published by the orders context. */
export const OrderPlaced = defineEvent(
  'OrderPlaced',
  z.object({ orderId: z.string(), sku: z.string(), quantity: z.number().int().positive() }),
);

/** Published by the inventory context. */
export const StockReserved = defineEvent('StockReserved', z.object({ orderId: z.string(), sku: z.string(), quantity: z.number().int() }));
export const StockShortage = defineEvent(
  'StockShortage',
  z.object({ orderId: z.string(), sku: z.string(), requested: z.number().int(), available: z.number().int() }),
);
