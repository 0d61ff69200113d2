export { appendToStream, prepareEvents, validateStreamId, type AppendOptions, type AppendResult } from './append.js';
export { encodeExpectedVersion, type ExpectedVersion } from './expected-version.js';
export { readOpenAppends, type OpenAppend } from './open-appends.js';
export { readLog, readStream, readHead } from './read.js';
export { Sequencer, type SequencerOptions } from './sequencer.js';
