import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { enrollWithCli, LiveService } from '../scripts/soak-service.ts';
import { loadOrCreateKeyFile } from '../device/auth/key-files.ts';

/** Writes until the file system says ENOSPC; returns the bytes written. */
function fillDisk(file: string): number {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (let i = 0; i < 100_000; i++) written += writeSync(fd, chunk);
    throw new Error(`${file}: wrote ${written} bytes without filling the disk; is it really a small tmpfs?`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  // The last partial page: a 1-byte-at-a-time top-up so not even a tiny write fits.
  const fd2 = openSync(file, 'a');
  try {
    for (let i = 0; i < 8192; i++) written += writeSync(fd2, Buffer.from('z'));
  } catch {
    // ENOSPC: full to the byte.
  } finally {
    closeSync(fd2);
  }
  return written;
}

/**
 * A full data disk, for real: the data directory lives on its own 16 MiB tmpfs (mounted here as
 * root on a fresh temp directory), which the test fills to ENOSPC while the real service runs.
 */
describe('faults: full data disk under the real service', function () {
  this.timeout(60_000);
  let dir: string;
  let disk: string;
  let mounted = false;
  let svc: LiveService | null = null;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-fault-'));
    disk = join(dir, 'disk');
    mkdirSync(disk);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', disk], { encoding: 'utf8' });
    if (r.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      // eslint-disable-next-line no-console
      console.log(`      skipped: cannot mount a small tmpfs to fill (needs root or CAP_SYS_ADMIN): ${(r.stderr || r.error?.message || '').trim()}`);
      this.skip();
    }
    mounted = true;
  });
  after(async () => {
    await svc?.stop('SIGKILL').catch(() => undefined);
    if (mounted) {
      // Only our own mount point, never anything else; lazily if a straggler still holds a file.
      if (spawnSync('umount', [disk]).status !== 0) spawnSync('umount', ['-l', disk]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps running and says so: degraded with the reason, a log line, 503 for writes, files intact; ok again once space is freed', async () => {
    const model = (await writeTestClassifier(join(dir, 'model'))).onnxPath;
    const dataDir = join(disk, 'data');
    const secret = enrollWithCli(dataDir, 'admin1', 'admin');
    svc = await LiveService.start({
      dataDir, model, camera: 'synthetic',
      env: { VEGKIOSK_CAMERA_WIDTH: '320', VEGKIOSK_CAMERA_HEIGHT: '240', VEGKIOSK_CAMERA_FPS: '10' },
    });
    const ok = await svc.pollHealth((h) => h.status === 'ok', 30_000, 'ok at start');
    expect(ok.storage.state).to.equal('ok');
    expect(ok.storage.freeBytes).to.be.greaterThan(8 * 2 ** 20);
    const token = await svc.login('admin1', secret);
    const status = await svc.request('GET', '/api/status', { token });
    expect(status.body.disk.freeBytes).to.be.greaterThan(0);
    expect(status.body.disk.totalBytes).to.be.at.most(16 * 2 ** 20);

    const filler = join(disk, 'filler.bin');
    fillDisk(filler);
    const low = await svc.pollHealth((h) => h.storage.state === 'low', 5_000, 'low disk');
    expect(low.status).to.equal('degraded');
    expect(low.reasons.join(' ')).to.match(/data disk is nearly full/);

    // A login must record the used code and the attempt: with no space it is refused, not half-done.
    const refused = await svc.request('POST', '/api/auth/login', { body: { username: 'admin1', code: '000000' } });
    expect(refused.status).to.equal(503);
    expect(refused.body.error.code).to.equal('storage_unavailable');
    const full = (await svc.request('GET', '/healthz')).body;
    expect(full.status).to.equal('degraded');
    expect(full.storage.state).to.equal('failing');
    expect(full.storage.lastError).to.match(/the data disk is full \(ENOSPC\)/);
    expect(full.reasons.join(' ')).to.match(/cannot write .*auth-state\.json: the data disk is full/);
    const logged = await svc.waitForLog((l) => /the data disk is full/.test(String(l.msg)), 2_000);
    expect(logged.level).to.equal(50);

    // Still serving: frames are inferred, authenticated reads work.
    const during = await svc.request('GET', '/api/status', { token });
    expect(during.status).to.equal(200);
    expect(during.body.pipeline.state).to.equal('running');
    expect(svc.child.exitCode).to.equal(null);

    // Nothing on disk was damaged by the failed writes.
    for (const name of readdirSync(dataDir).filter((n) => n.endsWith('.json'))) {
      expect(() => JSON.parse(readFileSync(join(dataDir, name), 'utf8')), name).not.to.throw();
    }
    expect(readdirSync(dataDir).filter((n) => /\.lock/.test(n)), 'no lock left behind').to.deep.equal([]);

    rmSync(filler);
    const relogin = await svc.request('POST', '/api/auth/login', { body: { username: 'admin1', code: '000000' } });
    expect(relogin.status, 'a write goes through again').to.equal(401);
    await svc.waitForLog((l) => l.msg === 'data files can be written again', 2_000);
    const back = await svc.pollHealth((h) => h.status === 'ok', 10_000, 'ok after space was freed');
    expect(back.storage.state).to.equal('ok');
    const users = JSON.parse(readFileSync(join(dataDir, 'users.json'), 'utf8')).data.users;
    expect(users.map((u: { username: string }) => u.username)).to.deep.equal(['admin1']);
    expect((await svc.stop('SIGTERM', 5_000)).code).to.equal(0);
    svc = null;
  });

  it('a key file whose creation fails on a full disk is left absent, not empty, and is made once space is back', () => {
    const keyDir = join(disk, 'keys');
    mkdirSync(keyDir);
    const filler = join(disk, 'filler');
    fillDisk(filler);
    try {
      expect(() => loadOrCreateKeyFile(keyDir, 'totp-secrets.key', 32)).to.throw(/ENOSPC/);
      // before, an empty key file stayed behind and every later start exited 78 ("damaged")
      expect(readdirSync(keyDir)).to.deep.equal([]);
    } finally {
      rmSync(filler);
    }
    const key = loadOrCreateKeyFile(keyDir, 'totp-secrets.key', 32);
    expect(key.length).to.equal(32);
    expect(loadOrCreateKeyFile(keyDir, 'totp-secrets.key', 32).equals(key)).to.equal(true);
  });
});
