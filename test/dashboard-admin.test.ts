import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { openAuthStores } from '../device/auth/auth-stores.ts';
import { UserAdmin } from '../device/auth/user-admin.ts';
import { startServer } from '../device/server/start-server.ts';
import type { RunningServer } from '../device/server/server-deps.ts';
import { encodeQr } from '../dashboard/js/qr.js';
import {
  A11Y_AUDIT, DESKTOP, launchBrowser, LoginPages, PHONE, referenceModules, signIn, signInWithSecret,
} from './support/browser.ts';
import { enrollUser, request, sampleResult, tempDir, testConfig, testDeps, totpCode } from './support/https-fixtures.ts';
import { requirePrograms } from './support/requires.ts';
import { Teardown } from './support/teardown.ts';

describe('dashboard in Chromium against an in-process server (admin, roles, lockout, boxes, socket life cycle)', function () {
  this.timeout(60_000);
  const dir = tempDir('vegkiosk-dash-');
  let deps: ReturnType<typeof testDeps>;
  let server: RunningServer;
  let browser: Browser;
  const pages = new LoginPages(() => browser, () => server.url);

  const start = (port = 0) => startServer({ ...deps, config: { ...deps.config, port } }, {
    policy: { loginRateMax: 1000, maxFailures: 3, lockoutBaseS: 30 },
    ws: { statusIntervalMs: 200 },
  });

  const teardown = new Teardown();

  before(function () {
    requirePrograms(this, 'chromium');
  });
  before(async () => {
    teardown.add(() => dir.remove());
    deps = testDeps(testConfig(dir.path));
    [server, browser] = await Promise.all([
      // The restart test replaces the server: stop whichever one is current.
      teardown.track(start(), (first) => (server ?? first).close()),
      teardown.track(launchBrowser(), (b) => b.close()),
    ]);
  });
  after(() => teardown.run());
  afterEach(async function () {
    await pages.closeAll(this);
  });

  const page = (viewport = DESKTOP) => pages.open(viewport);
  const expectCleanConsole = () => pages.expectCleanConsole();

  it('admin: enrols a user with a QR code shown once (decodes to the working otpauth URI), removes one, reads the audit log', async () => {
    const secret = enrollUser(dir.path, 'boss', 'admin');
    enrollUser(dir.path, 'old-viewer', 'viewer');
    const { page: p } = await page();
    await signInWithSecret(p, 'boss', secret);
    for (const view of ['upload', 'users', 'audit']) expect(await p.isVisible(`#nav a[data-view="${view}"]`)).to.equal(true);

    await p.click('#nav a[data-view="users"]');
    await p.waitForSelector('#users-body tr');
    expect(await p.textContent('#users-body')).to.contain('boss (you)');
    await p.fill('#enrol-user', 'new-tech');
    await p.selectOption('#enrol-role', 'technician');
    await p.click('#enrol-form button[type="submit"]');
    await p.waitForSelector('#enrolled:not([hidden])');
    const uri = (await p.textContent('#enrolled-uri'))!;
    expect(uri).to.match(/^otpauth:\/\/totp\/.*new-tech.*secret=/);

    // Read the drawn QR back from the canvas, one sample per module centre (scale 6, quiet zone 4).
    const drawn = await p.$eval('#enrolled-qr', (c) => {
      const canvas = c as HTMLCanvasElement;
      const size = canvas.width / 6 - 8;
      const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      const out: number[] = [];
      for (let r = 0; r < size; r++) {
        for (let col = 0; col < size; col++) out.push(px[(((r + 4) * 6 + 3) * canvas.width + (col + 4) * 6 + 3) * 4] < 128 ? 1 : 0);
      }
      return { size, modules: out };
    });
    const expected = encodeQr(uri, { level: 'M' });
    expect(drawn.size).to.equal(expected.size);
    expect(drawn.modules).to.deep.equal(Array.from(expected.modules));
    expect(drawn.modules).to.deep.equal(Array.from(referenceModules(uri, expected)));
    // The secret in that URI really signs the new user in.
    const login = await request(server.url, '/api/auth/login', {
      method: 'POST', body: { username: 'new-tech', code: await totpCode(new URL(uri).searchParams.get('secret')!) },
    });
    expect(login.status).to.equal(200);

    await p.click('#enrolled-done');
    expect(await p.isHidden('#enrolled')).to.equal(true);
    expect(await p.textContent('#enrolled-uri')).to.equal('');
    expect(await p.textContent('#users-body')).to.contain('new-tech');

    // Removal takes a second, confirming click.
    const remove = p.locator('button[aria-label="Remove old-viewer"]');
    await remove.click();
    expect(await p.isVisible('#users-body tr >> text=old-viewer')).to.equal(true);
    await p.click('button[aria-label="Confirm removing old-viewer"]');
    await p.waitForFunction(() => !document.getElementById('users-body')!.textContent!.includes('old-viewer'));

    await p.click('#nav a[data-view="audit"]');
    await p.waitForSelector('#audit-body tr');
    const audit = (await p.textContent('#audit-body'))!;
    for (const event of ['user_added', 'user_removed', 'login']) expect(audit).to.contain(event);
    expect(audit).to.contain('new-tech');

    // Every page: labelled controls and AA contrast; keyboard focus is visible.
    for (const view of ['live', 'status', 'upload', 'users', 'audit']) {
      await p.click(`#nav a[data-view="${view}"]`);
      await p.waitForSelector(`#view-${view}:not([hidden])`);
      await p.waitForTimeout(200);
      expect(await p.evaluate(A11Y_AUDIT), view).to.deep.equal([]);
    }
    // The audit itself catches what it is meant to catch.
    // (The page's CSP refuses an injected <style>; a CSSOM property set from script is allowed.)
    await p.evaluate(`document.getElementById('view-audit').append(Object.assign(document.createElement('p'), { id: 'bad-text', textContent: 'faint' }), Object.assign(document.createElement('input'), { id: 'bad-input' }));
      document.getElementById('bad-text').style.color = '#333';`);
    const caught = await p.evaluate(A11Y_AUDIT) as string[];
    expect(caught.some((m) => m.startsWith('contrast') && m.includes('faint'))).to.equal(true);
    expect(caught.some((m) => m.startsWith('no accessible name') && m.includes('bad-input'))).to.equal(true);
    await p.evaluate(`document.getElementById('bad-text').remove(); document.getElementById('bad-input').remove();`);

    await p.keyboard.press('Tab');
    const outline = await p.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      return `${el.tagName} ${getComputedStyle(el).outlineStyle} ${getComputedStyle(el).outlineWidth}`;
    });
    expect(outline).to.match(/ solid 3px$/);
    expectCleanConsole();
  });

  it('status polls with one loop however fast its view is toggled, and sign-out leaves no admin data in the page', async () => {
    const secret = enrollUser(dir.path, 'boss2', 'admin');
    const { page: p } = await page();
    // Every status answer held back, so the quick toggles below happen while a request is out.
    await p.route('**/api/status', async (route) => {
      await new Promise((r) => setTimeout(r, 600));
      await route.continue();
    });
    await signInWithSecret(p, 'boss2', secret);
    await p.click('#nav a[data-view="audit"]');
    await p.waitForSelector('#audit-body tr');
    await p.click('#nav a[data-view="users"]');
    await p.waitForSelector('#users-body tr');
    await p.click('#nav a[data-view="status"]');
    for (let i = 0; i < 3; i++) {
      await p.click('#nav a[data-view="live"]');
      await p.click('#nav a[data-view="status"]');
    }
    await p.waitForSelector('#status-body section');
    await p.waitForTimeout(1_000);
    let polled = 0;
    p.on('request', (r) => { if (new URL(r.url()).pathname === '/api/status') polled++; });
    await p.waitForTimeout(5_500); // a little over one 5 s poll interval
    expect(polled, 'status requests in one poll interval (each stale loop adds one)').to.be.within(1, 2);

    await p.click('#logout');
    await p.waitForSelector('#view-login:not([hidden])');
    for (const body of ['#audit-body', '#users-body', '#status-body']) {
      expect(await p.$eval(body, (e) => e.children.length), `${body} after sign-out`).to.equal(0);
    }
    expectCleanConsole();
  });

  it('viewer: no photo test, users or audit pages; #users falls back to the live view; the API refuses them', async () => {
    const secret = enrollUser(dir.path, 'watcher', 'viewer');
    const { page: p } = await page(PHONE);
    await signInWithSecret(p, 'watcher', secret);
    for (const view of ['upload', 'users', 'audit']) expect(await p.isHidden(`#nav a[data-view="${view}"]`)).to.equal(true);
    expect(await p.isVisible('#nav a[data-view="status"]')).to.equal(true);
    // A reload keeps the session: the page asks the server whose the cookie is (nothing in web storage).
    await p.reload();
    await p.waitForSelector('#view-live:not([hidden])');
    expect(await p.textContent('#who-name')).to.equal('watcher (viewer)');
    await p.evaluate(() => { location.hash = '#users'; });
    await p.waitForFunction(() => location.hash === '#live');
    expect(await p.isVisible('#view-live')).to.equal(true);
    expect(await p.isHidden('#view-users')).to.equal(true);

    // The status page renders what /api/status says, without the camera URL's password.
    await p.click('#nav a[data-view="status"]');
    await p.waitForSelector('#status-body section');
    const text = (await p.textContent('#status-body'))!;
    for (const bit of ['vegetables', 'cpu', 'running', '12.5']) expect(text).to.contain(bit);
    expect(text).not.to.contain('hunter2');
    expectCleanConsole();
    // Hiding the menu is convenience; the server is what refuses.
    const status = await p.evaluate(async () => (await fetch('/api/users')).status);
    expect(status).to.equal(403);
  });

  it('lockout: repeated wrong codes show the wait from Retry-After, counted down, with the button disabled', async () => {
    const secret = enrollUser(dir.path, 'fumbler', 'viewer');
    const { page: p } = await page();
    const good = await totpCode(secret);
    const wrong = String((Number(good) + 123_456) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 4; i++) {
      await signIn(p, 'fumbler', wrong);
      await p.waitForFunction(() => /do not match|Too many/.test(document.getElementById('login-message')!.textContent ?? ''));
      if (/Too many/.test((await p.textContent('#login-message'))!)) break;
    }
    const message = (await p.textContent('#login-message'))!;
    const m = /Try again in (\d+) s/.exec(message);
    expect(m, message).to.not.equal(null);
    expect(Number(m![1])).to.be.within(25, 30);
    expect(await p.isDisabled('#login-submit')).to.equal(true);
    await p.waitForFunction((n) => {
      const left = /in (\d+) s/.exec(document.getElementById('login-message')!.textContent ?? '');
      return left !== null && Number(left[1]) < n;
    }, Number(m![1]));
  });

  it('draws detection boxes on the live frame, and asks for frames only while the view is visible', async () => {
    const secret = enrollUser(dir.path, 'boxes', 'viewer');
    const { page: p } = await page();
    const sent: string[] = [];
    p.on('websocket', (ws) => ws.on('framesent', (f) => { if (typeof f.payload === 'string') sent.push(f.payload); }));
    await signInWithSecret(p, 'boxes', secret);

    const jpeg = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 30, g: 90, b: 40 } } }).jpeg().toBuffer();
    let seq = 0;
    const feed = setInterval(() => deps.bus.publish({
      ...sampleResult(++seq, jpeg), kind: 'detector', label: 'Leek', score: 0.8,
      detections: [{ label: 'Leek', score: 0.8, box: [0.25, 0.25, 0.75, 0.75] }],
    }), 150);
    try {
      await p.waitForFunction(() => (document.getElementById('frame-img') as HTMLImageElement).src.startsWith('blob:'));
      await p.waitForFunction(() => document.getElementById('result-label')!.textContent === 'Leek');
      await p.waitForTimeout(300);
      // Alpha of the overlay on the box's left edge, at its centre and outside it (no named inner
      // functions: tsx would wrap them in a helper the page does not have).
      const [edge, centre, outside] = await p.$eval('#frame-boxes', (c) => [[0.25, 0.5], [0.5, 0.5], [0.1, 0.9]].map(([fx, fy]) => {
        const canvas = c as HTMLCanvasElement;
        return canvas.getContext('2d')!.getImageData(Math.round(fx * canvas.width), Math.round(fy * canvas.height), 1, 1).data[3];
      }));
      expect(edge).to.be.greaterThan(0);
      expect(centre).to.equal(0);
      expect(outside).to.equal(0);
      expect(sent).to.include(JSON.stringify({ type: 'subscribe', frames: true }));

      // As a string: a getter written in TypeScript would get tsx's __name wrapper, unknown in the page.
      const setVisibility = (state: 'hidden' | 'visible') => p.evaluate(
        `Object.defineProperty(document, 'visibilityState', { configurable: true, get() { return '${state}'; } });
         document.dispatchEvent(new Event('visibilitychange'));`);
      // Playwright reports sent frames asynchronously: wait for the last one to be the expected one.
      const lastSentIs = async (frames: boolean) => {
        const want = JSON.stringify({ type: 'subscribe', frames });
        for (let i = 0; i < 40 && sent.at(-1) !== want; i++) await p.waitForTimeout(50);
        expect(sent.at(-1)).to.equal(want);
      };
      await setVisibility('hidden');
      await lastSentIs(false);
      const srcWhileHidden = await p.getAttribute('#frame-img', 'src');
      await p.waitForTimeout(500);
      expect(await p.getAttribute('#frame-img', 'src')).to.equal(srcWhileHidden);
      await setVisibility('visible');
      await lastSentIs(true);
      // Leaving the live view for another page stops frames too.
      await p.click('#nav a[data-view="status"]');
      await lastSentIs(false);
    } finally {
      clearInterval(feed);
    }
    expectCleanConsole();
  });

  it('returns to the login page when the session ends (user removed on the device console: close 4401)', async () => {
    const secret = enrollUser(dir.path, 'goner', 'viewer');
    const { page: p } = await page();
    await signInWithSecret(p, 'goner', secret);
    await p.waitForFunction(() => document.getElementById('conn')!.textContent === 'Live');
    const stores = openAuthStores(dir.path);
    new UserAdmin(stores.users, stores.audit, stores.totpKey).remove('goner', 'console');
    await p.waitForSelector('#view-login:not([hidden])');
    expect(await p.textContent('#login-message')).to.equal('Your session has ended. Sign in again.');
    expect(await p.isHidden('#nav')).to.equal(true);
    expectCleanConsole();
  });

  it('reconnects with backoff when the service restarts, with the same session', async () => {
    const secret = enrollUser(dir.path, 'patient', 'viewer');
    const { page: p, problems } = await page();
    await signInWithSecret(p, 'patient', secret);
    await p.waitForFunction(() => document.getElementById('conn')!.textContent === 'Live');
    // The schedule itself: doubling from 1 s, capped at 30 s, ±20 % jitter so dashboards spread out.
    const delays = await p.evaluate(`import('/js/socket.js').then((m) => [
      [0, 1, 2, 3, 4, 5, 6].map((a) => m.backoffDelay(a, () => 0.5)), m.backoffDelay(0, () => 0), m.backoffDelay(9, () => 1)])`);
    expect(delays).to.deep.equal([[1000, 2000, 4000, 8000, 16000, 30000, 30000], 800, 36000]);
    const port = server.port;
    await server.close();
    await p.waitForFunction(() => /Connection lost — retrying in \d+ s/.test(document.getElementById('conn')!.textContent ?? ''));
    server = await start(port);
    await p.waitForFunction(() => document.getElementById('conn')!.textContent === 'Live', undefined, { timeout: 15_000 });
    expect(await p.isVisible('#view-live')).to.equal(true);
    // Failed attempts while the service was down are the only console noise allowed.
    expect(problems.filter((m) => !/WebSocket connection .* failed/.test(m))).to.deep.equal([]);
  });
});
