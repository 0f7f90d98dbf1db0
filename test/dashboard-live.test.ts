import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  colourPng, DESKTOP, launchBrowser, LoginPages, PHONE, sessionCookie, signIn,
  signInWithSecret, startKiosk, type Kiosk,
} from './support/browser.ts';
import { enrollUser, request, totpCode } from './support/https-fixtures.ts';
import { requirePrograms } from './support/requires.ts';
import { Teardown } from './support/teardown.ts';

// The test classifier answers by mean colour: red → Carrots, green → Tomato, blue → Potato.
const COLOURS = { red: [220, 40, 30], green: [40, 200, 60], blue: [40, 60, 220] } as const;
const LABELS = ['Carrots', 'Tomato', 'Potato'];

/** Samples the live label every 100 ms until `want` distinct known labels were shown, or `ms` passed. */
async function labelsSeen(page: Page, want: number, ms: number): Promise<string[]> {
  const seen = new Set<string>();
  for (const end = Date.now() + ms; Date.now() < end && seen.size < want;) {
    const label = (await page.textContent('#result-label'))?.trim() ?? '';
    if (LABELS.includes(label)) seen.add(label);
    await page.waitForTimeout(100);
  }
  return [...seen];
}

describe('dashboard in Chromium against the real `vegkiosk serve` (replayed colour images)', function () {
  this.timeout(90_000);
  let kiosk: Kiosk;
  let browser: Browser;
  const pages = new LoginPages(() => browser, () => kiosk.url);

  const teardown = new Teardown();

  before(function () {
    requirePrograms(this, 'chromium');
  });
  before(async () => {
    [kiosk, browser] = await Promise.all([
      teardown.track(startKiosk(async (dir) => {
        const images = join(dir, 'replay');
        mkdirSync(images);
        for (const [i, [name, rgb]] of Object.entries(COLOURS).entries()) {
          writeFileSync(join(images, `${i}-${name}.png`), await colourPng(rgb[0], rgb[1], rgb[2]));
        }
        return `replay:${images}`;
      }, { VEGKIOSK_CAMERA_FPS: '3', VEGKIOSK_CAMERA_WIDTH: '320', VEGKIOSK_CAMERA_HEIGHT: '240' }), (k) => k.stop()),
      teardown.track(launchBrowser(), (b) => b.close()),
    ]);
  });
  after(() => teardown.run());
  afterEach(async function () {
    await pages.closeAll(this);
  });

  const page = (viewport = DESKTOP) => pages.open(viewport);

  const expectCleanConsole = () => pages.expectCleanConsole();

  for (const [name, viewport] of [['desktop 1280x800', DESKTOP], ['phone 390x844', PHONE]] as const) {
    it(`${name}: signs in with a TOTP code (user from the real enroll CLI) and shows live frames and changing results`, async () => {
      const user = `tech-${viewport.width}`;
      const secret = kiosk.enroll(user, 'technician');
      const { page: p, problems } = await page(viewport);
      expect(await p.evaluate(() => document.activeElement?.id)).to.equal('login-user');
      await signInWithSecret(p, user, secret);
      expect(await p.textContent('#who-name')).to.equal(`${user} (technician)`);

      // Frames arrive as blob: object URLs, and each new one replaces (and revokes) the last.
      await p.waitForFunction(() => (document.getElementById('frame-img') as HTMLImageElement).src.startsWith('blob:'));
      const first = await p.getAttribute('#frame-img', 'src');
      await p.waitForFunction((src) => (document.getElementById('frame-img') as HTMLImageElement).src !== src, first);
      // The replaced frame's object URL was revoked (it no longer loads, while the current one does),
      // so blobs do not pile up. Loaded as images: the CSP's img-src allows blob:, connect-src does not.
      const loads = (u: string) => p.evaluate((url) => new Promise<string>((res) => {
        const probe = new Image();
        probe.onload = () => res('alive');
        probe.onerror = () => res('revoked');
        probe.src = url;
      }), u);
      expect(await loads(first!)).to.equal('revoked');
      const fresh = await p.evaluate(async () => URL.createObjectURL(await (await fetch('/favicon.svg')).blob()));
      expect(await loads(fresh)).to.equal('alive');
      problems.splice(0, problems.length, ...problems.filter((m) => !/ERR_FILE_NOT_FOUND/.test(m)));
      // Three images at 3 fps: the label must change, through at least two of the three classes.
      expect(await labelsSeen(p, 2, 10_000)).to.have.length(2);
      expect(await p.getAttribute('#result-label', 'aria-live')).to.equal('polite');
      expect(await p.textContent('#result-score')).to.match(/^\d+\.\d %$/);
      expect(await p.textContent('#stat-ep')).to.equal('cpu');
      await p.waitForFunction(() => /^\d+\.\d$/.test(document.getElementById('stat-fps')!.textContent ?? ''));
      expect(await p.textContent('#stat-latency')).to.match(/^\d+ ms$/);
      expect(await p.locator('#history li').count()).to.be.at.least(2);
      expect(await p.textContent('#conn')).to.equal('Live');
      // A configured replay is not the demo: no demo badge over its frames (camera-demo: the badge).
      expect(await p.isHidden('#frame-demo')).to.equal(true);

      // Everything above ran under the service's CSP (a violation would be a console error).
      const csp = String((await request(kiosk.url, '/')).headers['content-security-policy']);
      expect(csp).to.match(/script-src 'self'/).and.to.match(/style-src 'self'/).and.not.to.match(/unsafe-inline/);

      // Readable from a step away, and nothing wider than the screen.
      const fontPx = await p.$eval('#result-label', (e) => parseFloat(getComputedStyle(e).fontSize));
      expect(fontPx).to.be.at.least(40);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(viewport.width);
      // The token from the login answer is not kept anywhere the page can read back.
      const stored = await p.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
      expect(stored).not.to.match(/eyJ/);
      expectCleanConsole();
    });
  }

  it('uploads a photo by file picker and by drag-and-drop and shows its label', async () => {
    const secret = enrollUser(kiosk.dataDir, 'uploader', 'technician');
    const { page: p } = await page();
    await signInWithSecret(p, 'uploader', secret);
    await p.click('#nav a[data-view="upload"]');
    await p.waitForSelector('#view-upload:not([hidden])');

    await p.setInputFiles('#upload-file', { name: 'red.png', mimeType: 'image/png', buffer: await colourPng(...COLOURS.red) });
    await p.waitForFunction(() => document.getElementById('upload-label')!.textContent === 'Carrots');
    expect(await p.textContent('#upload-score')).to.match(/^\d+\.\d % · [\d.]+ ms$/);
    expect(await p.locator('#upload-top li').count()).to.equal(4);

    const blue = (await colourPng(...COLOURS.blue)).toString('base64');
    await p.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], 'blue.png', { type: 'image/png' }));
      document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    }, blue);
    await p.waitForFunction(() => document.getElementById('upload-label')!.textContent === 'Potato');
    expect(await p.textContent('#upload-message')).to.equal('Result for blue.png.');
    expectCleanConsole();
  });

  it('refuses a wrong code, and an unknown user, with the same message', async () => {
    const secret = enrollUser(kiosk.dataDir, 'wrongcode', 'viewer');
    const { page: p } = await page();
    const good = await totpCode(secret);
    const wrong = String((Number(good) + 500_000) % 1_000_000).padStart(6, '0');
    await signIn(p, 'wrongcode', wrong);
    await p.waitForFunction(() => /do not match/.test(document.getElementById('login-message')!.textContent ?? ''));
    const forWrongCode = await p.textContent('#login-message');
    await signIn(p, 'nobody-here', wrong);
    await p.waitForFunction(() => document.getElementById('login-submit')!.hasAttribute('disabled') === false
      && /do not match/.test(document.getElementById('login-message')!.textContent ?? ''));
    expect(await p.textContent('#login-message')).to.equal(forWrongCode);
    expect(forWrongCode).not.to.match(/unknown|no such|user(name)? (is|was)|code (is|was)/i);
    expect(await p.isVisible('#view-live')).to.equal(false);
    // A malformed code is caught before it is sent.
    await signIn(p, 'wrongcode', '12ab');
    expect(await p.textContent('#login-message')).to.match(/6-digit code/);
  });

  it('logs out: back at the login page, and the old cookie no longer works', async () => {
    const secret = enrollUser(kiosk.dataDir, 'leaver', 'viewer');
    const { page: p, context } = await page();
    await signInWithSecret(p, 'leaver', secret);
    const cookie = await sessionCookie(context);
    expect(cookie).to.be.a('string');
    const before = await request(kiosk.url, '/api/status', { headers: { cookie: `vegkiosk_session=${cookie}` } });
    expect(before.status).to.equal(200);

    await p.click('#logout');
    await p.waitForSelector('#view-login:not([hidden])');
    expect(await p.textContent('#login-message')).to.equal('You are signed out.');
    expect(await p.isHidden('#nav')).to.equal(true);
    expect(await sessionCookie(context)).to.equal(undefined);
    const after = await request(kiosk.url, '/api/status', { headers: { cookie: `vegkiosk_session=${cookie}` } });
    expect(after.status).to.equal(401);
    // A reload does not sneak back in.
    await p.reload();
    await p.waitForSelector('#view-login:not([hidden])');
    expectCleanConsole();
  });
});
