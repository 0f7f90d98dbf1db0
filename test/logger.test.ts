import { expect } from 'chai';
import { Writable } from 'node:stream';
import { createLogger } from '../device/logger.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, stream };
}

describe('logger', () => {
  it('writes JSON lines at the configured level and blanks secrets wherever they appear', () => {
    const { lines, stream } = capture();
    const log = createLogger('info', stream);
    log.debug('not at info');
    log.info({
      user: 'alice',
      code: '123456',
      password: 'hunter2',
      token: 'eyJ.a.b',
      config: { jwtSecret: 'x'.repeat(40), tlsKey: '/etc/key.pem', port: 8443 },
      req: { headers: { authorization: 'Bearer abc', cookie: 'vegkiosk_session=abc' } },
    }, 'login');
    expect(lines).to.have.length(1);
    const line = JSON.parse(lines[0]);
    expect(line.msg).to.equal('login');
    expect(line.user).to.equal('alice');
    expect(line.config.port).to.equal(8443);
    for (const secret of ['123456', 'hunter2', 'eyJ.a.b', 'x'.repeat(40), 'Bearer abc', 'vegkiosk_session=abc']) {
      expect(lines[0]).not.to.include(secret);
    }
    expect(line.code).to.equal('[redacted]');
    expect(line.req.headers.authorization).to.equal('[redacted]');
  });
});
