import { expect } from 'chai';
import { resolve } from 'node:path';
import { PACKAGE_ROOT } from '../device/config/load-config.ts';
import { lintRepository, lintText } from '../scripts/lint-source.ts';
import { scanRepository, scanText } from '../scripts/scan-secrets.ts';

// Planted secrets are assembled at run time so this file itself never holds one.
const join = (...parts: string[]) => parts.join('');

describe('CI source checks', () => {
  it('secret scan finds keys, otpauth secrets, JWTs and literal secrets, and honours the allow marker', () => {
    const text = [
      join('-----BEGIN ', 'PRIVATE KEY-----'),
      join('otpauth://totp/vegkiosk:alice?secret=', 'MWGG3YB2OI6VWCATRJT2AII2X7J4UUF7'),
      join('const t = "eyJ', 'hbGciOiJIUzI1NiJ9', '.eyJ', 'zdWIiOiJhbGljZSJ9', '.abcdefghijklmnopqrstuvwxyz";'),
      join('jwtSecret: "', 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0', '"'),
      join('jwtSecret: "', 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0', '" // secret-scan: allow'),
      'const secret = generateSecret();',
    ].join('\n');
    expect(scanText('x.ts', text).map((f) => [f.line, f.rule])).to.deep.equal([
      [1, 'private key'],
      [2, 'otpauth URI with a secret'],
      [3, 'JSON Web Token'],
      [4, 'literal secret'],
    ]);
  });

  it('the repository holds no secrets', () => {
    expect(scanRepository(resolve(PACKAGE_ROOT))).to.deep.equal([]);
  });

  it('source lint flags eval, shell command lines, Math.random in auth, unpinned jwt.verify and web storage', () => {
    expect(lintText('device/x/a.ts', join('const v = ev', 'al(code);'))).to.have.length(1);
    expect(lintText('device/camera/a.ts', join("spawn('ffmpeg', args, { shell: ", 'true })'))).to.have.length(1);
    expect(lintText('device/auth/a.ts', join('const n = Math.ran', 'dom();'))).to.have.length(1);
    expect(lintText('device/pipeline/a.ts', join('const n = Math.ran', 'dom();'))).to.have.length(0);
    expect(lintText('device/auth/a.ts', join('jwt.ver', 'ify(token, key)'))).to.have.length(1);
    expect(lintText('device/auth/a.ts', join('jwt.ver', "ify(token, key, { algorithms: ['HS256'] })"))).to.have.length(0);
    expect(lintText('dashboard/js/a.js', join('el.inner', 'HTML = label;'))).to.have.length(1);
    expect(lintText('dashboard/js/a.js', join('local', "Storage.setItem('t', token);"))).to.have.length(1);
    expect(lintText('device/server/a.ts', join('console.', "log('token', token);"))).to.have.length(1);
  });

  it('the repository passes the source lint', () => {
    expect(lintRepository(resolve(PACKAGE_ROOT))).to.deep.equal([]);
  });
});
