import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { DESKTOP, launchBrowser, LoginPages, signInWithSecret, startKiosk, type Kiosk } from './support/browser.ts';
import { requirePrograms } from './support/requires.ts';
import { Teardown } from './support/teardown.ts';
import { writeTestDetector } from '../scripts/onnx/make-test-models.ts';

/**
 * The real serve with a cascade: the test detector's two fixed boxes (one on each half of a 640x320
 * picture, red on the left, blue on the right) and the test classifier, which names red Carrots and
 * blue Potato. The dashboard must draw both boxes with the classifier's names and count the items.
 */
describe('dashboard with detect-then-classify (Chromium against the real serve)', function () {
  this.timeout(90_000);
  let kiosk: Kiosk;
  let browser: Browser;
  const pages = new LoginPages(() => browser, () => kiosk.url);
  const teardown = new Teardown();

  before(function () {
    requirePrograms(this, 'chromium');
  });
  before(async () => {
    // Filled in by the camera callback, which startKiosk runs before it reads the environment.
    const env: Record<string, string> = { VEGKIOSK_CAMERA_FPS: '3', VEGKIOSK_DETECTION: 'on' };
    [kiosk, browser] = await Promise.all([
      teardown.track(startKiosk(async (dir) => {
        const picture = join(dir, 'halves.jpg');
        writeFileSync(picture, await sharp({ create: { width: 640, height: 320, channels: 3, background: { r: 220, g: 30, b: 30 } } })
          .composite([{ input: { create: { width: 320, height: 320, channels: 3, background: { r: 30, g: 30, b: 220 } } }, left: 320, top: 0 }])
          .jpeg({ quality: 95 }).toBuffer());
        const detector = await writeTestDetector(join(dir, 'detector'), {
          labels: ['apple', 'orange'], anchors: [[16, 32, 28, 28, 0.9, 0.1], [48, 32, 20, 20, 0.2, 0.8]],
        });
        env.VEGKIOSK_DETECTOR = detector.onnxPath;
        return `replay:${picture}`;
      }, env), (k) => k.stop()),
      teardown.track(launchBrowser(), (b) => b.close()),
    ]);
  });
  after(() => teardown.run());
  afterEach(async function () {
    await pages.closeAll(this);
  });

  it('draws each box with the classifier\'s name, counts the items, and /api/classify carries the boxes', async () => {
    const secret = kiosk.enroll('tech', 'technician');
    const { page } = await pages.open(DESKTOP);
    await signInWithSecret(page, 'tech', secret);
    await page.waitForFunction(() => document.getElementById('result-counts')!.textContent !== '');
    expect(await page.textContent('#result-counts')).to.equal('1 \u00d7 Carrots \u00b7 1 \u00d7 Potato');
    expect(await page.textContent('#result-label')).to.equal('Carrots');
    // The overlay has been drawn on (it is cleared and marked so when a result has no boxes).
    await page.waitForFunction(() => (document.getElementById('frame-boxes') as HTMLCanvasElement).dataset.clear === '0');

    const answer = await page.evaluate(async () => {
      const frame = await (await fetch('/api/frames/latest.jpg')).blob();
      const res = await fetch('/api/classify', { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: frame });
      return { status: res.status, body: await res.json() };
    });
    expect(answer.status).to.equal(200);
    expect(answer.body.kind).to.equal('cascade');
    expect(answer.body.detections.map((d: { label: string; detector: { label: string } }) => `${d.label}/${d.detector.label}`).sort())
      .to.deep.equal(['Carrots/apple', 'Potato/orange']);
    pages.expectCleanConsole();
  });
});
