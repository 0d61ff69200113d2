export { Inbox, type InboxOptions, type InboxResult } from './inbox.js';
