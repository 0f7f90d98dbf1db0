import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { enrollWithCli, LiveService } from '../scripts/soak-service.ts';

/** Every data file (and its .bak) must be whole JSON; temp files from a cut-off write are allowed. */
function checkDataFiles(dataDir: string): string[] {
  const names = readdirSync(dataDir);
  const files = names.filter((n) => n.endsWith('.json') || n.endsWith('.json.bak'));
  for (const name of files) {
    const text = readFileSync(join(dataDir, name), 'utf8');
    try {
      const parsed = JSON.parse(text);
      expect(parsed, name).to.have.property('version');
    } catch (err) {
      throw new Error(`${name} does not parse after kill -9 (${(err as Error).message}): ${JSON.stringify(text.slice(0, 200))}`);
    }
  }
  return files;
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/**
 * kill -9 (power cut, OOM killer, watchdog SIGABRT) of the real service at random moments while it
 * is writing: login attempts from several client addresses make it rewrite auth-state.json and
 * audit.json continuously (two fsync'd writes per attempt). Afterwards every file must parse
 * as it is, before any .bak repair, and the service must start again with its users.
 */
describe('faults: kill -9 of the real service mid-write', function () {
  this.timeout(90_000);
  let dir: string;
  let svc: LiveService | null = null;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-fault-'));
  });
  after(async () => {
    await svc?.stop('SIGKILL').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('every data file parses after each kill and the service starts again with users intact', async () => {
    const model = (await writeTestClassifier(join(dir, 'model'))).onnxPath;
    const dataDir = join(dir, 'data');
    const secret = enrollWithCli(dataDir, 'admin1', 'admin');
    const start = () => LiveService.start({
      dataDir, model, camera: 'synthetic',
      env: { VEGKIOSK_CAMERA_WIDTH: '320', VEGKIOSK_CAMERA_HEIGHT: '240', VEGKIOSK_CAMERA_FPS: '10' },
    });
    let auditBefore = 0;
    const delays: number[] = [];

    for (let round = 0; round < 4; round++) {
      svc = await start();
      // First write after the restart: no lock or temp file left by the kill may block it.
      const probe = await svc.request('POST', '/api/auth/login', { body: { username: `probe${round}`, code: '000000' }, from: '127.0.0.1' });
      expect(probe.status, JSON.stringify(probe.body)).to.equal(401);

      let stop = false;
      const statuses: number[] = [];
      // Ten attempts per address per minute are allowed (per-IP limit); eight more loopback addresses keep writes going.
      const loops = Array.from({ length: 8 }, (_, i) => (async () => {
        for (let n = 0; !stop && n < 10; n++) {
          try {
            const r = await svc!.request('POST', '/api/auth/login', {
              body: { username: `u${round}-${i}-${n}`, code: '123456' }, from: `127.0.0.${i + 2}`,
            });
            statuses.push(r.status);
          } catch {
            return; // the kill cut this request off
          }
        }
      })());
      // Once writes are flowing, a random moment within the next 400 ms.
      const deadline = Date.now() + 20_000;
      while (statuses.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const delay = Math.floor(Math.random() * 400);
      delays.push(delay);
      await new Promise((r) => setTimeout(r, delay));
      svc.child.kill('SIGKILL');
      expect((await svc.exited).signal).to.equal('SIGKILL');
      stop = true;
      await Promise.all(loops);
      svc = null;

      expect(statuses.length, `login attempts answered before the kill (delays ${delays})`).to.be.greaterThan(0);
      expect(statuses.filter((s) => s !== 401), 'only refusals, never a 500').to.deep.equal([]);
      // Leftover locks and temp files show the kill landed inside a write (it usually does: the
      // service spends most of this load in fsync); they must never stop the next start.
      const files = checkDataFiles(dataDir);
      expect(files).to.include.members(['users.json', 'audit.json', 'auth-state.json']);
      const users = readJson(join(dataDir, 'users.json')).data.users.map((u: { username: string }) => u.username);
      expect(users).to.deep.equal(['admin1']);
      const audit = readJson(join(dataDir, 'audit.json')).data.entries.length;
      // Committed entries stay committed: at most the write in flight is lost.
      expect(audit, `audit entries after round ${round}`).to.be.greaterThan(auditBefore);
      auditBefore = audit;
    }

    // After all that, the enrolled admin logs in with a real TOTP code and sees itself and the audit trail.
    svc = await start();
    const token = await svc.login('admin1', secret);
    const list = await svc.request('GET', '/api/users', { token });
    expect(list.status).to.equal(200);
    expect(JSON.stringify(list.body)).to.include('admin1');
    const audit = await svc.request('GET', '/api/audit?limit=2000', { token });
    expect(audit.body.entries.length).to.be.at.least(auditBefore);
    expect(svc.logs.filter((l) => /damaged/.test(String(l.msg))), 'no .bak restore was needed').to.deep.equal([]);
    expect((await svc.stop('SIGTERM', 5_000)).code).to.equal(0);
    svc = null;
  });
});
