import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBenchClassifier } from '../scripts/onnx/make-test-models.ts';
import { enrollWithCli, LiveService } from '../scripts/soak-service.ts';

/**
 * SIGTERM as systemd sends it on `systemctl stop`: the real service, a real authenticated
 * WebSocket client (user enrolled with the real CLI, logged in with a TOTP code), and the data
 * directory read back afterwards.
 */
describe('faults: SIGTERM on the real service', function () {
  this.timeout(60_000);
  let dir: string;
  let svc: LiveService | null = null;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-fault-'));
  });
  after(async () => {
    await svc?.stop('SIGKILL').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops taking frames, finishes the inference in flight, closes sockets with 1001, flushes results, exits 0 within 5 s', async () => {
    // A model slow enough (tens of ms a frame) that SIGTERM usually lands while a frame is in inference.
    const model = (await writeBenchClassifier(join(dir, 'model'), { size: 160 })).onnxPath;
    const dataDir = join(dir, 'data');
    const secret = enrollWithCli(dataDir, 'tech', 'technician');
    svc = await LiveService.start({
      dataDir, model, camera: 'synthetic',
      env: { VEGKIOSK_CAMERA_WIDTH: '640', VEGKIOSK_CAMERA_HEIGHT: '360', VEGKIOSK_CAMERA_FPS: '15' },
    });
    await svc.waitForLog((l) => l.msg === 'first frame inferred; ready', 30_000);
    const token = await svc.login('tech', secret);
    const client = await svc.connect(token, true);
    const deadline = Date.now() + 20_000;
    while (client.results < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(client.results, 'results over the WebSocket before stopping').to.be.at.least(10);
    expect(client.frames, 'subscribed JPEG frames').to.be.greaterThan(0);

    const sentAt = Date.now();
    // stop() fails the test (and SIGKILLs) if the process is still there after 5 s.
    const exit = await svc.stop('SIGTERM', 5_000);
    const { code: closeCode } = await client.closed;
    expect(exit).to.deep.equal({ code: 0, signal: null });
    expect(closeCode).to.equal(1001);
    expect(Date.now() - sentAt).to.be.below(5_000);

    const msgs = svc.logs.map((l) => l.msg);
    expect(msgs.indexOf('stopping')).to.be.greaterThan(-1);
    expect(msgs.indexOf('stopped')).to.be.greaterThan(msgs.indexOf('stopping'));
    // Nothing was cut off mid-run: no failed inference, no loop crash, nothing on stderr.
    expect(svc.logs.filter((l) => (l.level as number) >= 50), 'error lines').to.deep.equal([]);
    expect(svc.stderr).to.equal('');

    // Results reach disk only once a minute while running (SD card wear); shutdown must flush them,
    // up to the very last result the client saw before 1001.
    const saved = JSON.parse(readFileSync(join(dataDir, 'results.json'), 'utf8'));
    expect(saved.format).to.equal('vegkiosk.results');
    const seqs = (saved.data.results as { seq: number }[]).map((r) => r.seq);
    expect(seqs.length).to.be.at.least(10);
    expect(Math.max(...seqs)).to.equal(client.lastResult!.seq);
    // The login went to the audit trail and survived the stop too.
    const audit = JSON.parse(readFileSync(join(dataDir, 'audit.json'), 'utf8'));
    expect(audit.data.entries.map((e: { event: string }) => e.event)).to.include.members(['user_added', 'login']);
    svc = null;
  });
});
