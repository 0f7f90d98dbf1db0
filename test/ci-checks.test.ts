import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** The environment without npm's own npm_* variables: under `npm test` they would stand in for .npmrc. */
function envWithoutNpmConfig(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
}

function npmInCheckout(args: string[]) {
  const r = spawnSync('npm', args, { cwd: PACKAGE_ROOT, env: envWithoutNpmConfig(), encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`could not run npm ${args.join(' ')}: ${r.error.message}`);
  return r;
}

/**
 * Dependencies whose install scripts were read and found unneeded on Linux (see .npmrc). With
 * ignore-scripts set, a new dependency's install script would silently not run: it must be added here
 * after a look at what it does.
 */
const REVIEWED_INSTALL_SCRIPTS = ['esbuild', 'node-webcam', 'onnxruntime-node'];

describe('CI: clean installs (npm project configuration)', () => {
  it('npm reads the project .npmrc without a warning (every key in it is one npm knows)', () => {
    const r = npmInCheckout(['config', 'get', 'ignore-scripts']);
    expect(r.status, r.stderr).to.equal(0);
    const ours = r.stderr.split('\n').filter((line) => /project config|\.npmrc/i.test(line));
    expect(ours, 'npm warnings about the project configuration').to.deep.equal([]);
  });

  it('npm ci runs no dependency install script (onnxruntime-node\'s would fetch CUDA libraries from NuGet)', () => {
    expect(npmInCheckout(['config', 'get', 'ignore-scripts']).stdout.trim()).to.equal('true');
  });

  it('every dependency with an install script in the lockfile has been reviewed', () => {
    const lock = JSON.parse(readFileSync(resolve(PACKAGE_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { hasInstallScript?: boolean }>;
    };
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
      .sort();
    expect(withScripts, 'read the new install script, then list it in REVIEWED_INSTALL_SCRIPTS (it will not run)')
      .to.deep.equal(REVIEWED_INSTALL_SCRIPTS);
  });
});
