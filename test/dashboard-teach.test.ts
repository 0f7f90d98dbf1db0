import { expect } from 'chai';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import {
  A11Y_AUDIT, DESKTOP, launchBrowser, LoginPages, PHONE, signInWithSecret, startKiosk, type Kiosk,
} from './support/browser.ts';
import { BLUE, PURPLE, writeProductPhotos } from './support/learning-fixtures.ts';
import { requirePrograms } from './support/requires.ts';
import { Teardown } from './support/teardown.ts';
import { tempDir } from './support/https-fixtures.ts';
import { writeCosineClassifier } from '../scripts/onnx/make-cosine-classifier.ts';

describe('dashboard "Teach" view in Chromium against the real `vegkiosk serve` (cosine test classifier)', function () {
  this.timeout(120_000);
  const dir = tempDir('vegkiosk-dash-teach-');
  let kiosk: Kiosk;
  let browser: Browser;
  const pages = new LoginPages(() => browser, () => kiosk.url);
  const teardown = new Teardown();

  before(function () {
    requirePrograms(this, 'chromium');
  });
  before(async () => {
    // A high threshold: the blue product is below it until it is taught.
    const model = await writeCosineClassifier(join(dir.path, 'model'), { scoreThreshold: 0.9 });
    [kiosk, browser] = await Promise.all([
      teardown.track(startKiosk(async (kioskDir) => {
        await writeProductPhotos(join(kioskDir, 'camera'), BLUE, 3, 100);
        return `replay:${join(kioskDir, 'camera')}`;
      }, { VEGKIOSK_MODEL: model.onnxPath, VEGKIOSK_CAMERA_FPS: '4', VEGKIOSK_CAMERA_WIDTH: '320', VEGKIOSK_CAMERA_HEIGHT: '240' }), (k) => k.stop()),
      teardown.track(launchBrowser(), (b) => b.close()),
    ]);
  });
  after(async () => {
    await teardown.run();
    dir.remove();
  });
  afterEach(async function () {
    await pages.closeAll(this);
  });

  for (const [name, viewport, product] of [['desktop 1280x800', DESKTOP, 'Blueberry'], ['phone 390x844', PHONE, 'Blue Plum']] as const) {
    it(`${name}: names a product, captures it five times from the camera, sees thumbnails with their recognition, the live label, and forgets it`, async () => {
      const user = `teach-${viewport.width}`;
      const secret = kiosk.enroll(user, 'technician');
      const { page: p } = await pages.open(viewport);
      await signInWithSecret(p, user, secret);

      // Before: nothing recognised, shown in a neutral colour (not success green), top-5 bars visible on any width.
      await p.waitForFunction(() => document.getElementById('result-score')?.textContent === 'below threshold');
      const colours = await p.evaluate(() => ({
        below: getComputedStyle(document.getElementById('result-score')!).color,
        accent: getComputedStyle(document.documentElement).getPropertyValue('--accent').trim(),
      }));
      expect(colours.below).not.to.equal('rgb(95, 214, 138)');
      expect(colours.accent).to.equal('#5fd68a');
      expect(await p.locator('#result-top li').count()).to.be.greaterThan(0);
      expect(await p.isVisible('#result-top')).to.equal(true);

      await p.click('#nav a[data-view="teach"]');
      await p.waitForSelector('#view-teach:not([hidden])');
      // No name yet: the button explains instead of teaching.
      await p.click('#teach-capture');
      await p.waitForFunction(() => /Name the product first/.test(document.getElementById('teach-message')!.textContent ?? ''));
      await p.fill('#teach-label', product);
      for (let i = 1; i <= 5; i++) {
        await p.click('#teach-capture');
        await p.waitForFunction((n) => new RegExp(`\\((${n}) examples?\\)`).test(document.getElementById('teach-message')!.textContent ?? ''), i);
      }
      const card = p.locator(`.teach-class[data-label="${product}"]`);
      await card.waitFor();
      // The card is drawn before its thumbnails have all arrived: wait for the fifth, then count.
      await card.locator('.thumbs img').nth(4).waitFor();
      expect(await card.locator('.thumbs img').count()).to.equal(5);
      await p.waitForFunction(() => [...document.querySelectorAll('.thumbs img')].every((i) => (i as HTMLImageElement).naturalWidth > 0));
      expect(await card.locator('figcaption').first().textContent()).to.match(new RegExp(`seen as ${product} \\d`));
      expect(await p.evaluate(A11Y_AUDIT)).to.deep.equal([]);

      await p.click('#nav a[data-view="live"]');
      await p.waitForFunction((label) => document.getElementById('result-label')?.textContent === label, product);
      expect(await p.getAttribute('#result-score', 'class')).not.to.match(/below/);
      expect(await p.locator('#result-top li .learned').first().textContent()).to.equal(product);

      await p.click('#nav a[data-view="teach"]');
      await card.locator('button', { hasText: `Forget ${product}` }).click();
      await card.waitFor({ state: 'detached' });
      await p.click('#nav a[data-view="live"]');
      await p.waitForFunction(() => document.getElementById('result-score')?.textContent === 'below threshold');
      pages.expectCleanConsole();
    });
  }

  it('teaches from dropped photos, refines a model class, and refuses a bad name', async () => {
    const secret = kiosk.enroll('teach-files', 'technician');
    const { page: p } = await pages.open(DESKTOP);
    await signInWithSecret(p, 'teach-files', secret);
    await p.click('#nav a[data-view="teach"]');
    await p.fill('#teach-label', 'Bad/Name');
    await p.click('#teach-capture');
    await p.waitForFunction(() => /Name the product first/.test(document.getElementById('teach-message')!.textContent ?? ''));
    const photos = await writeProductPhotos(join(dir.path, 'purple'), PURPLE, 3, 40);
    await p.fill('#teach-label', 'potato');
    await p.setInputFiles('#teach-file', photos);
    const card = p.locator('.teach-class[data-label="Potato"]');
    await card.waitFor();
    await p.waitForFunction(() => /\(3 examples\)/.test(document.getElementById('teach-message')!.textContent ?? ''));
    expect(await card.locator('header .muted').textContent()).to.match(/3 examples · refines the model’s class/);
    await card.locator('button', { hasText: 'Forget Potato examples' }).click();
    await card.waitFor({ state: 'detached' });
    pages.expectCleanConsole();
  });
});
