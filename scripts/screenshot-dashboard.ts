/**
 * Screenshot of the dashboard's live view for the README: the real `vegkiosk serve` with the shipped
 * default models, replaying the shipped demo photos (what `npm start` shows without a camera), signed in
 * as an admin in Debian's Chromium.
 *
 *   npx tsx scripts/screenshot-dashboard.ts [out.png] [--phone]
 */
import { resolve } from 'node:path';
import { PACKAGE_ROOT } from '../device/config/load-config.ts';
import { DESKTOP, launchBrowser, openPage, PHONE, signInWithSecret, startKiosk } from '../test/support/browser.ts';

const args = process.argv.slice(2);
const phone = args.includes('--phone');
const out = resolve(args.find((a) => !a.startsWith('--')) ?? resolve(PACKAGE_ROOT, 'dashboard/screenshot-live.png'));

const kiosk = await startKiosk(async () => 'demo', {
  VEGKIOSK_CAMERA_FPS: '10',
  VEGKIOSK_MODEL: resolve(PACKAGE_ROOT, 'models', 'vegetables-v2.onnx'),
  VEGKIOSK_DETECTION: 'on',
});
const browser = await launchBrowser();
try {
  const secret = kiosk.enroll('sam', 'admin');
  const { page, problems } = await openPage(browser, phone ? PHONE : DESKTOP);
  await page.goto(kiosk.url);
  await signInWithSecret(page, 'sam', secret);
  await page.waitForFunction(() => (document.getElementById('frame-img') as HTMLImageElement).src.startsWith('blob:'));
  // Let fps, latency and the history strip fill in.
  await page.waitForTimeout(4000);
  await page.screenshot({ path: out });
  if (problems.length) throw new Error(`page problems: ${problems.join('; ')}`);
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await kiosk.stop();
}
