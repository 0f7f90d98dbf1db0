import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync,
  rmSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const REPO = join(import.meta.dirname, '..');
const INSTALL = join(REPO, 'scripts', 'install.sh');
const UNINSTALL = join(REPO, 'scripts', 'uninstall.sh');

function run(script: string, args: string[]) {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8' });
  const output = `${r.stdout}${r.stderr}`;
  return { status: r.status, output };
}

function ok(script: string, args: string[]): string {
  const r = run(script, args);
  expect(r.status, `${script} ${args.join(' ')} exited ${r.status}:\n${r.output}`).to.equal(0);
  return r.output;
}

/** Every path under dir, relative, sorted; symlinks are not followed. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      out.push(relative(dir, p));
      if (lstatSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** A minimal root filesystem as an image build would have it: accounts, and the usual directories. */
function fakeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'vegkiosk-install-'));
  for (const d of ['etc/systemd/system', 'opt', 'var/lib', 'usr/bin', 'usr/local/bin']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nvideo:x:44:\nrender:x:105:\n');
  return root;
}

function accountLine(root: string, file: 'passwd' | 'group', name: string): string[] | undefined {
  return readFileSync(join(root, 'etc', file), 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
}

const mode = (p: string) => statSync(p).mode & 0o7777;

describe('install.sh / uninstall.sh --root', function () {
  let root: string;
  let seeded: string[];
  let firstOutput: string;
  let gid: number;

  before(function () {
    const missing = ['useradd', 'usermod', 'groupadd', 'userdel'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
    if (process.getuid?.() !== 0 || missing.length > 0) {
      console.log(`      skipped: install.sh sets owners and creates accounts, so it needs root and shadow-utils${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`);
      this.skip();
    }
    root = fakeRoot();
    seeded = tree(root);
    firstOutput = ok(INSTALL, ['--root', root, '--deps', 'none']);
    gid = Number(accountLine(root, 'group', 'vegkiosk')?.[2]);
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('creates the vegkiosk system user: no login, home is the state directory, in video and render', () => {
    const user = accountLine(root, 'passwd', 'vegkiosk');
    expect(user, 'vegkiosk in etc/passwd').to.not.equal(undefined);
    expect(Number(user![2])).to.be.below(1000);
    expect(user![5]).to.equal('/var/lib/vegkiosk');
    expect(user![6]).to.match(/\/nologin$/);
    expect(Number(user![3])).to.equal(gid);
    expect(accountLine(root, 'group', 'video')![3].split(',')).to.include('vegkiosk');
    expect(accountLine(root, 'group', 'render')![3].split(',')).to.include('vegkiosk');
  });

  it('installs the runtime files under /opt/vegkiosk, root-owned and writable by root only', () => {
    const app = join(root, 'opt/vegkiosk');
    for (const f of ['bin/vegkiosk.js', 'package.json', 'package-lock.json', '.env.example', 'config', 'models', 'device/cli/main.ts']) {
      expect(existsSync(join(app, f)), f).to.equal(true);
    }
    expect(tree(join(app, 'device'))).to.deep.equal(tree(join(REPO, 'device')));
    expect(readFileSync(join(app, 'device/systemd/notify.ts'), 'utf8')).to.equal(readFileSync(join(REPO, 'device/systemd/notify.ts'), 'utf8'));
    for (const absent of ['test', '.git', 'node_modules', 'data']) expect(existsSync(join(app, absent)), absent).to.equal(false);
    expect(mode(join(app, 'bin/vegkiosk.js'))).to.equal(0o755);
    for (const rel of tree(app)) {
      const st = lstatSync(join(app, rel));
      expect([st.uid, st.gid], rel).to.deep.equal([0, 0]);
      expect(st.mode & 0o022, `${rel} is group/other-writable`).to.equal(0);
    }
  });

  it('writes /etc/vegkiosk/env 0640 root:vegkiosk with every variable documented and none pinned', () => {
    const env = join(root, 'etc/vegkiosk/env');
    expect(mode(join(root, 'etc/vegkiosk'))).to.equal(0o750);
    expect(mode(env)).to.equal(0o640);
    expect([statSync(env).uid, statSync(env).gid]).to.deep.equal([0, gid]);
    const text = readFileSync(env, 'utf8');
    const active = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(active, 'active assignments would override the unit and future defaults').to.deep.equal([]);
    const keys = readFileSync(join(REPO, '.env.example'), 'utf8').match(/^#? ?VEGKIOSK_[A-Z0-9_]+(?==)/gm) ?? [];
    expect(keys.length).to.be.above(5);
    for (const k of keys) expect(text, k).to.include(k.replace(/^# ?/, ''));
    expect(text).to.include('# VEGKIOSK_DATA_DIR=/var/lib/vegkiosk');
  });

  it('creates the data directory 0700 for the service user and a root-owned vegkiosk command', () => {
    const data = join(root, 'var/lib/vegkiosk');
    const uid = Number(accountLine(root, 'passwd', 'vegkiosk')![2]);
    expect(mode(data)).to.equal(0o700);
    expect([statSync(data).uid, statSync(data).gid]).to.deep.equal([uid, gid]);
    const cli = join(root, 'usr/local/bin/vegkiosk');
    expect(mode(cli)).to.equal(0o755);
    expect([statSync(cli).uid, statSync(cli).gid]).to.deep.equal([0, 0]);
    const text = readFileSync(cli, 'utf8');
    expect(text).to.include('runuser -u vegkiosk').and.include('--env-file=/etc/vegkiosk/env').and.include('/opt/vegkiosk/bin/vegkiosk.js');
    expect(spawnSync('sh', ['-n', cli]).status, 'sh -n').to.equal(0);
  });

  it('installs the unit unchanged and enables it; says what it skipped without a running systemd', () => {
    const unit = join(root, 'etc/systemd/system/vegkiosk.service');
    expect(readFileSync(unit, 'utf8')).to.equal(readFileSync(join(REPO, 'systemd/vegkiosk.service'), 'utf8'));
    expect(mode(unit)).to.equal(0o644);
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/vegkiosk.service')))
      .to.equal('/etc/systemd/system/vegkiosk.service');
    expect(firstOutput).to.include('skipped (--root): systemctl daemon-reload');
    expect(firstOutput).to.include('skipped (--root): systemctl restart vegkiosk.service');
  });

  it('a second run keeps an edited env file (and restores its mode) and changes nothing else', () => {
    const env = join(root, 'etc/vegkiosk/env');
    appendFileSync(env, 'VEGKIOSK_HOST=0.0.0.0\n');
    chmodSync(env, 0o644);
    const edited = readFileSync(env, 'utf8');
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const group = readFileSync(join(root, 'etc/group'), 'utf8');
    const before = tree(root);
    const output = ok(INSTALL, ['--root', root, '--deps', 'none']);
    expect(output).to.include('kept existing');
    expect(readFileSync(env, 'utf8')).to.equal(edited);
    expect(mode(env)).to.equal(0o640);
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).to.equal(passwd);
    expect(readFileSync(join(root, 'etc/group'), 'utf8')).to.equal(group);
    expect(tree(root)).to.deep.equal(before);
  });

  it('uninstall removes the app and unit but keeps configuration, data and the user; --purge removes them', () => {
    writeFileSync(join(root, 'var/lib/vegkiosk/users.json'), '{"version":1,"users":[]}');

    ok(UNINSTALL, ['--root', root]);
    for (const gone of ['opt/vegkiosk', 'usr/local/bin/vegkiosk', 'etc/systemd/system/vegkiosk.service', 'etc/systemd/system/multi-user.target.wants/vegkiosk.service']) {
      expect(existsSync(join(root, gone)), gone).to.equal(false);
    }
    expect(readFileSync(join(root, 'etc/vegkiosk/env'), 'utf8')).to.include('VEGKIOSK_HOST=0.0.0.0');
    expect(existsSync(join(root, 'var/lib/vegkiosk/users.json'))).to.equal(true);
    expect(accountLine(root, 'passwd', 'vegkiosk')).to.not.equal(undefined);

    ok(UNINSTALL, ['--root', root, '--purge']);
    ok(UNINSTALL, ['--root', root, '--purge']);
    expect(accountLine(root, 'passwd', 'vegkiosk')).to.equal(undefined);
    expect(accountLine(root, 'group', 'vegkiosk')).to.equal(undefined);
    expect(accountLine(root, 'group', 'video')![3]).to.equal('');
    // useradd/userdel leave their backups and lock file, as they do on any system.
    const toolArtefacts = ['etc/.pwd.lock', 'etc/group-', 'etc/passwd-', 'etc/gshadow-', 'etc/shadow-'];
    expect(tree(root).filter((p) => !toolArtefacts.includes(p))).to.deep.equal(seeded);
  });

  it('refuses a --root that is not a root filesystem, before changing anything', () => {
    const empty = mkdtempSync(join(tmpdir(), 'vegkiosk-install-empty-'));
    try {
      const r = run(INSTALL, ['--root', empty, '--deps', 'none']);
      expect(r.status).to.equal(1);
      expect(r.output).to.include('etc/passwd').and.include('root filesystem');
      expect(readdirSync(empty)).to.deep.equal([]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
