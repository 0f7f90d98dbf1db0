import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const UNIT = join(import.meta.dirname, '..', 'systemd', 'vegkiosk.service');
const SHIPPED_NODE = '/usr/bin/node';
const MAX_EXPOSURE = 2.5;

function hasSystemdAnalyze(): boolean {
  return spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function analyze(args: string[]) {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' } });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** verify exits 0 even for unknown keys or bad values, so its diagnostics about our file are the real verdict. */
function verifyProblems(file: string): string[] {
  const r = analyze(['verify', '--man=no', file]);
  const name = file.split('/').pop() as string;
  const problems = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes(file) || l.includes(name));
  if (r.status !== 0 && problems.length === 0) problems.push(`systemd-analyze verify exited ${r.status}: ${r.stderr.trim()}`);
  return problems;
}

function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2]]);
  }
  return settings;
}

describe('systemd unit: systemd/vegkiosk.service', function () {
  const text = readFileSync(UNIT, 'utf8');
  const settings = unitSettings(text);
  const one = (key: string) => settings.get(key)?.at(-1);
  let scratch: string;

  before(function () {
    if (!hasSystemdAnalyze()) {
      console.log('      skipped: systemd-analyze not found (Debian package "systemd"; scripts/install-test-deps.sh installs it)');
      this.skip();
    }
    scratch = mkdtempSync(join(tmpdir(), 'vegkiosk-unit-'));
  });
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('passes systemd-analyze verify with no diagnostics about the unit', function () {
    // verify checks that ExecStart's binary exists. Where node is not at /usr/bin/node (nvm, a CI
    // image), a copy whose only difference is that path is verified instead, so every other line is
    // still checked for real.
    let file = UNIT;
    if (!isExecutable(SHIPPED_NODE)) {
      file = join(scratch, 'vegkiosk.service');
      const copy = text.replace(`ExecStart=${SHIPPED_NODE} `, `ExecStart=${process.execPath} `);
      expect(copy).to.not.equal(text);
      writeFileSync(file, copy);
      console.log(`      note: ${SHIPPED_NODE} missing; verifying a copy with ExecStart=${process.execPath}`);
    }
    expect(verifyProblems(file)).to.deep.equal([]);
  });

  it('the verify check does catch a misspelt sandbox setting (control)', () => {
    const file = join(scratch, 'vegkiosk-broken.service');
    writeFileSync(file, text.replace('ProtectSystem=strict', 'ProtectSytem=strict').replace(`ExecStart=${SHIPPED_NODE} `, `ExecStart=${process.execPath} `));
    expect(verifyProblems(file).join('\n')).to.include('ProtectSytem');
  });

  it(`scores an overall exposure of ${MAX_EXPOSURE} or lower in systemd-analyze security --offline`, () => {
    const r = analyze(['security', '--offline=true', '--no-pager', UNIT]);
    const m = /Overall exposure level for vegkiosk\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
    expect(m, `no exposure figure in:\n${r.stdout}\n${r.stderr}`).to.not.equal(null);
    const exposure = Number(m![1]);
    console.log(`      systemd-analyze security: overall exposure ${exposure}`);
    expect(exposure).to.be.at.most(MAX_EXPOSURE);
  });

  it('runs node as the vegkiosk user from /opt/vegkiosk with data in the state directory', () => {
    expect(one('User')).to.equal('vegkiosk');
    expect(one('ExecStart')).to.equal('/usr/bin/node /opt/vegkiosk/bin/vegkiosk.js serve');
    expect(one('WorkingDirectory')).to.equal('/opt/vegkiosk');
    expect(one('StateDirectory')).to.equal('vegkiosk');
    expect(settings.get('Environment')).to.include('VEGKIOSK_DATA_DIR=/var/lib/vegkiosk');
    expect(one('EnvironmentFile')).to.equal('-/etc/vegkiosk/env');
    expect(one('UMask')).to.equal('0077');
  });

  it('is Type=notify with a watchdog, child notifications allowed, and bounded restarts', () => {
    expect(one('Type')).to.equal('notify');
    expect(one('NotifyAccess')).to.equal('all');
    expect(Number(one('WatchdogSec'))).to.be.within(10, 120);
    expect(one('Restart')).to.equal('always');
    for (const key of ['StartLimitIntervalSec', 'StartLimitBurst', 'RestartSec', 'TimeoutStopSec']) {
      expect(one(key), key).to.match(/^\d+$/);
    }
  });

  it('leaves MemoryDenyWriteExecute off (V8 JIT) and keeps devices to an allow-list', () => {
    expect(settings.has('MemoryDenyWriteExecute')).to.equal(false);
    expect(one('DevicePolicy')).to.equal('closed');
    const allowed = (settings.get('DeviceAllow') ?? []).join(' ');
    for (const dev of ['char-video4linux', 'char-media', 'char-drm', '/dev/nvmap', 'char-nvhost*']) expect(allowed).to.include(dev);
    expect(one('CapabilityBoundingSet')).to.equal('');
    expect(one('AmbientCapabilities')).to.equal('');
    expect(one('ProtectSystem')).to.equal('strict');
  });
});
