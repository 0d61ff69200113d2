export {
  Consumer,
  ConsumerMessageNotParkedError,
  type ConsumerDefinition,
  type ConsumerHandlerContext,
  type ConsumerStatus,
  type MessageHandler,
} from './consumer.js';
export type { ConsumerMessageRow, ConsumerMessageStatus } from './store.js';
