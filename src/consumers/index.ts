export { Consumer, type ConsumerHooks } from './consumer.js';
export type { ConsumerDefinition, ConsumerHandlerContext, ConsumerHandlers, ConsumerStatus, MessageHandler } from './definition.js';
export { ParkedMessages, type MessageFilter, type MessageRef, type MessageRequestOutcome, type ParkedMessage } from './operator.js';
export type { ConsumerMessageStatus } from './stored.js';
export type { TypePattern } from './routing.js';
export { decideArrival, decideGap, type ArrivalDecision, type ArrivalOrigin, type StreamPosition } from './arrival.js';
