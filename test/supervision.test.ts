import { expect } from 'chai';
import { backoffDelay, backoffWait } from '../device/supervision/backoff.ts';
import { errnoCode, errorMessage } from '../device/supervision/error-message.ts';

describe('supervision: back-off and error messages shared by camera, inference and fleet', () => {
  const policy = { initialMs: 500, maxMs: 30_000 };

  it('doubles from the first delay up to the ceiling and stays there', () => {
    const delays = Array.from({ length: 9 }, (_, failures) => backoffDelay(policy, failures));
    expect(delays).to.deep.equal([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(backoffDelay(policy, 10_000)).to.equal(30_000);
    expect(backoffDelay(policy, Number.MAX_SAFE_INTEGER)).to.equal(30_000);
    expect(backoffDelay(policy, -1)).to.equal(500);
  });

  it('waits the ceiling at once for a cause retrying alone will not fix', () => {
    expect(backoffDelay(policy, 0, true)).to.equal(30_000);
  });

  it('a wait ends after its delay, or at once when cut short', async () => {
    const started = performance.now();
    await backoffWait(30).done;
    expect(performance.now() - started).to.be.at.least(25);

    const long = backoffWait(60_000);
    const cutAt = performance.now();
    long.cut();
    await long.done;
    expect(performance.now() - cutAt).to.be.below(1000);
    long.cut(); // cutting twice is harmless
  });

  it('words whatever was thrown, not only Error objects', () => {
    expect(errorMessage(new TypeError('bad input'))).to.equal('bad input');
    expect(errorMessage('plain string')).to.equal('plain string');
    expect(errorMessage({ toString: () => 'custom' })).to.equal('custom');
    expect(errorMessage(undefined)).to.equal('undefined');
  });

  it('reads Node errno codes and nothing else', () => {
    expect(errnoCode(Object.assign(new Error('x'), { code: 'ENOENT' }))).to.equal('ENOENT');
    expect(errnoCode({ code: 42 })).to.equal(undefined);
    expect(errnoCode('ENOENT')).to.equal(undefined);
    expect(errnoCode(null)).to.equal(undefined);
  });
});
