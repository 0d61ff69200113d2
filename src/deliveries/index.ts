export {
  DeliveryJournal,
  type DeliveryOptions,
  type ConsumerDeliveryStatus,
  type ConsumerStep,
  type EventJourney,
  type FlaggedDelivery,
} from './journal.js';
export { ACK_TYPE, toRanges, encodeAcknowledgement, decodeAcknowledgement, type Acknowledgement, type AckRange } from './acknowledgement.js';
