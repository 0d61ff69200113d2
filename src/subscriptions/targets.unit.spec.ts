import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../errors.js';
import { checkTarget } from './targets.js';

describe('reset targets', () => {
  it('accepts the four shapes', () => {
    const time = new Date('2024-05-01T12:00:00Z');
    assert.equal(checkTarget('origin'), 'origin');
    assert.equal(checkTarget('current'), 'current');
    assert.deepEqual(checkTarget({ eventNumber: 0 }), { eventNumber: 0 });
    assert.deepEqual(checkTarget({ eventNumber: 42 }), { eventNumber: 42 });
    assert.deepEqual(checkTarget({ time }), { time });
  });

  it('names what is wrong with anything else', () => {
    const cases: [unknown, RegExp][] = [
      ['start', /use 'origin', 'current', \{ eventNumber: n \} or \{ time: Date \}, got "start"/],
      [undefined, /got undefined/],
      [null, /got null/],
      [7, /got 7/],
      [{}, /exactly one of eventNumber, time\), got an object with no keys/],
      [{ eventNumber: 1, time: new Date() }, /got an object with eventNumber, time/],
      [{ position: 3 }, /got an object with position/],
      [{ eventNumber: -1 }, /eventNumber must be a whole number ≥ 0, got -1/],
      [{ eventNumber: 1.5 }, /eventNumber must be a whole number ≥ 0, got 1.5/],
      [{ eventNumber: '3' }, /eventNumber must be a whole number ≥ 0, got "3"/],
      [{ time: new Date('nope') }, /time must be a valid Date, got an invalid Date/],
      [{ time: '2024-05-01' }, /time must be a valid Date, got "2024-05-01"/],
    ];
    for (const [to, message] of cases) {
      assert.throws(() => checkTarget(to), (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError, `InvalidArgumentError for ${String(to)}`);
        assert.equal(error.argument, 'to');
        assert.match(error.message, message);
        return true;
      });
    }
  });
});
