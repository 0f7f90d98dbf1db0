import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { listCameraCandidates } from '../device/camera/video-device.ts';
import { DESKTOP, launchBrowser, LoginPages, signInWithSecret, startKiosk, type Kiosk } from './support/browser.ts';
import { requirePrograms } from './support/requires.ts';

describe('dashboard in Chromium: the demo photos are labelled as a demo (real `vegkiosk serve`, camera auto)', function () {
  this.timeout(90_000);
  let kiosk: Kiosk | undefined;
  let browser: Browser | undefined;
  const pages = new LoginPages(() => browser!, () => kiosk!.url);

  before(async function () {
    requirePrograms(this, 'chromium');
    const cameras = await listCameraCandidates();
    if (cameras.length > 0) {
      console.log(`      skipped: this machine has camera devices (${cameras.join(', ')}), so auto does not fall back to the demo`);
      this.skip();
    }
    // Started one after the other: a kiosk whose browser failed to launch is still stopped in after().
    kiosk = await startKiosk(async () => 'auto', { VEGKIOSK_CAMERA_FPS: '3' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await kiosk?.stop();
  });
  afterEach(async function () {
    await pages.closeAll(this);
  });

  it('shows "Demo photos — no camera found" over the live frames', async () => {
    const secret = kiosk!.enroll('demo-viewer', 'viewer');
    const { page } = await pages.open(DESKTOP);
    await signInWithSecret(page, 'demo-viewer', secret);
    await page.waitForFunction(() => (document.getElementById('frame-img') as HTMLImageElement).src.startsWith('blob:'));
    await page.waitForSelector('#frame-demo:not([hidden])');
    expect((await page.textContent('#frame-demo'))?.trim()).to.equal('Demo photos — no camera found');
    // Over the picture, not somewhere below it.
    const [badge, frame] = await Promise.all([page.locator('#frame-demo').boundingBox(), page.locator('#frame-img').boundingBox()]);
    expect(badge!.y).to.be.within(frame!.y, frame!.y + frame!.height / 2);
    pages.expectCleanConsole();
  });
});
