import { expect } from 'chai';
import { Writable } from 'node:stream';
import { enroll } from '../device/cli/enroll.ts';
import { UsageError } from '../device/cli/usage.ts';
import { usersList, usersRemove } from '../device/cli/users.ts';
import { startServer } from '../device/server/start-server.ts';
import { bearer, request, tempDir, testConfig, testDeps, totpCode } from './support/https-fixtures.ts';

function sink(): { out: Writable; text(): string } {
  const chunks: string[] = [];
  return { out: new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }), text: () => chunks.join('') };
}

describe('auth: device console user commands', () => {
  it('enroll prints the otpauth URI and a QR code once; a running service accepts it and honours removal at once', async () => {
    const dir = tempDir();
    const server = await startServer(testDeps(testConfig(dir.path)));
    try {
      const s = sink();
      expect(await enroll('tech1', 'technician', { dataDir: dir.path, out: s.out })).to.equal(0);
      const uri = /otpauth:\/\/totp\/\S+/.exec(s.text())?.[0] ?? '';
      expect(uri).to.include('vegkiosk:tech1');
      expect(s.text()).to.match(/[▀▄█]/); // the terminal QR code
      const secret = new URL(uri).searchParams.get('secret')!;
      const login = await request(server.url, '/api/auth/login', { method: 'POST', body: { username: 'tech1', code: await totpCode(secret) } });
      expect(login.status).to.equal(200);

      const list = sink();
      await usersList({ dataDir: dir.path, out: list.out });
      expect(list.text()).to.match(/tech1\s+technician/);
      expect(list.text()).not.to.include(secret);

      await usersRemove('tech1', { dataDir: dir.path, out: sink().out });
      expect((await request(server.url, '/api/status', { headers: bearer(login.json()) })).status).to.equal(401);
    } finally {
      await server.close();
      dir.remove();
    }
  });

  it('refuses bad roles and names as usage errors, and duplicates or unknown users as failures', async () => {
    const dir = tempDir();
    try {
      const opts = { dataDir: dir.path, out: sink().out };
      let err: unknown = null;
      await enroll('x', 'root', opts).catch((e) => { err = e; });
      expect(err).to.be.instanceOf(UsageError);
      err = null;
      await enroll('Not Valid', 'viewer', opts).catch((e) => { err = e; });
      expect(err).to.be.instanceOf(UsageError);
      await enroll('dup', 'viewer', opts);
      await enroll('dup', 'viewer', opts).then(() => { throw new Error('accepted a duplicate'); }, (e: Error) => expect(e.message).to.include('already exists'));
      await usersRemove('ghost', opts).then(() => { throw new Error('removed a ghost'); }, (e: Error) => expect(e.message).to.include('no user ghost'));
    } finally {
      dir.remove();
    }
  });
});
