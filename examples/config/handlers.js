// Handlers examples/config/herald.config.yaml refers to.

/** shop.receipts: one receipt per order, written with the checkpoint (exactly once). */
export async function writeReceipt(event, meta, { tx }) {
  if (event.type !== 'OrderPlaced') return;
  await tx.query('INSERT INTO shop.receipts (order_id, total) VALUES ($1, $2) ON CONFLICT DO NOTHING', [event.data.orderId, event.data.total]);
}

/** The billing consumer's handlers, by event type. */
export const billingHandlers = {
  async OrderPlaced(event, meta, { tx }) {
    await tx.query('INSERT INTO billing.invoices (order_id, amount) VALUES ($1, $2) ON CONFLICT DO NOTHING', [event.data.orderId, event.data.total]);
  },
};
