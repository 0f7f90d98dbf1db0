import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { PACKAGE_ROOT } from '../../device/config/load-config.ts';
import { writeTestClassifier } from '../../scripts/onnx/make-test-models.ts';
import type { QrCode } from '../../dashboard/js/qr.js';
import { freePort, LogWatcher, runCli, startCli } from './cli.ts';
import { totpCode } from './https-fixtures.ts';

/** Debian's Chromium, never a downloaded browser; flags keep it offline and quiet on a shared machine. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--headless', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic',
];

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const OUTPUT_DIR = resolve(PACKAGE_ROOT, 'test-output');

export function launchBrowser(): Promise<Browser> {
  // Within a suite's before-hook time, so a browser that never comes up fails the hook, not the run.
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}

export interface TestPage {
  context: BrowserContext;
  page: Page;
  /** Console errors, uncaught exceptions and CSP violations seen so far. */
  problems: string[];
}

/** A fresh context (own cookies and storage) and page at the given viewport. */
export async function openPage(browser: Browser, viewport = DESKTOP): Promise<TestPage> {
  const phone = viewport.width < 600;
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport, isMobile: phone, hasTouch: phone, deviceScaleFactor: phone ? 2 : 1 });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return { context, page, problems };
}

/** For afterEach: a full-page screenshot of a failed test into test-output/. */
export async function screenshotIfFailed(ctx: Mocha.Context, pages: (Page | undefined)[]): Promise<void> {
  if (ctx.currentTest?.state !== 'failed') return;
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const base = ctx.currentTest.fullTitle().replace(/[^a-z0-9]+/gi, '-').slice(0, 120);
  let i = 0;
  for (const page of pages) {
    if (!page || page.isClosed()) continue;
    const path = join(OUTPUT_DIR, `${base}${i ? `-${i}` : ''}.png`);
    i++;
    try {
      await page.screenshot({ path, fullPage: true });
      console.log(`    screenshot: ${path}`);
    } catch (err) {
      console.log(`    screenshot failed: ${(err as Error).message}`);
    }
  }
}

/** Fills the login form and submits it. */
/**
 * The pages a test opened, each on the dashboard's login screen. `closeAll` (from afterEach) saves
 * screenshots when the test failed and closes them.
 */
export class LoginPages {
  private pages: TestPage[] = [];

  constructor(private readonly browser: () => Browser, private readonly url: () => string) {}

  async open(viewport = DESKTOP): Promise<TestPage> {
    const p = await openPage(this.browser(), viewport);
    this.pages.push(p);
    await p.page.goto(this.url());
    await p.page.waitForSelector('#view-login:not([hidden])');
    return p;
  }

  async closeAll(ctx: Mocha.Context): Promise<void> {
    await screenshotIfFailed(ctx, this.pages.map((p) => p.page));
    await Promise.all(this.pages.map((p) => p.context.close()));
    this.pages = [];
  }

  /** Every page of the test ran without console errors, exceptions or CSP violations. */
  expectCleanConsole(): void {
    for (const p of this.pages) expect(p.problems, 'console errors / CSP violations').to.deep.equal([]);
  }
}

export async function signIn(page: Page, username: string, code: string): Promise<void> {
  await page.fill('#login-user', username);
  await page.fill('#login-code', code);
  await page.click('#login-submit');
}

export async function signInWithSecret(page: Page, username: string, secret: string): Promise<void> {
  await signIn(page, username, await totpCode(secret));
  await page.waitForSelector('#view-live:not([hidden])');
}

/** Plain solid-colour images: test input that is neither a photo nor anything from the data set. */
export async function colourPng(r: number, g: number, b: number, width = 160, height = 120): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

export interface Kiosk {
  url: string;
  dir: string;
  dataDir: string;
  log: LogWatcher;
  /** `vegkiosk enroll` for real; returns the TOTP secret from the printed otpauth URI. */
  enroll(username: string, role: 'viewer' | 'technician' | 'admin'): string;
  stop(): Promise<void>;
}

/**
 * The real `vegkiosk serve` on 127.0.0.1 with the generated test classifier, HTTPS with its own
 * self-signed certificate, and a camera given by `camera` (a function of the temp dir, so a replay
 * directory can be written there first). Resolves once the first frame has been inferred.
 */
export async function startKiosk(camera: (dir: string) => Promise<string>, env: Record<string, string> = {}): Promise<Kiosk> {
  const dir = mkdtempSync(join(tmpdir(), 'vegkiosk-dash-'));
  const dataDir = join(dir, 'data');
  const model = await writeTestClassifier(join(dir, 'model'));
  const port = await freePort();
  // The shipped detector stays out unless a suite asks for the cascade (VEGKIOSK_DETECTION: 'on'): the
  // suites drive small generated classifiers whose answers they check, and a real detector in front would
  // answer for whatever it finds in their test pictures.
  const base = { VEGKIOSK_DATA_DIR: dataDir, VEGKIOSK_LOG_LEVEL: 'info', VEGKIOSK_DETECTION: 'off' };
  const child: ChildProcess = startCli(['serve'], {
    ...base,
    VEGKIOSK_MODEL: model.onnxPath,
    VEGKIOSK_PORT: String(port),
    VEGKIOSK_CAMERA: await camera(dir),
    VEGKIOSK_EXECUTION_PROVIDERS: 'cpu',
    VEGKIOSK_INFERENCE_THREADS: '1',
    ...env,
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const log = new LogWatcher(child);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    // Readiness is an info-level log line: the caller's env must not raise the level above info.
    await Promise.race([
      log.waitFor((l) => l.msg === 'first frame inferred; ready'),
      exited.then((code) => { throw new Error(`vegkiosk serve exited (${code}): ${stderr}`); }),
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`vegkiosk serve not ready in 45 s: ${stderr}`)), 45_000); }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    url: `https://127.0.0.1:${port}`,
    dir,
    dataDir,
    log,
    enroll(username, role) {
      const r = runCli(['enroll', username, '--role', role], base);
      if (r.status !== 0) throw new Error(`enroll failed (${r.status}): ${r.stderr}`);
      const uri = /otpauth:\/\/\S+/.exec(r.stdout)?.[0];
      if (!uri) throw new Error(`no otpauth URI in: ${r.stdout}`);
      return new URL(uri).searchParams.get('secret') ?? '';
    },
    stop,
  };
}

/** The session cookie's value as the browser holds it (httpOnly: only the test harness can see it). */
export async function sessionCookie(context: BrowserContext): Promise<string | undefined> {
  return (await context.cookies()).find((c) => c.name === 'vegkiosk_session')?.value;
}

// qrcode-terminal (already a dependency, for `vegkiosk enroll`) carries Kazuhiko Arase's QR encoder:
// an independent implementation to check the dashboard's own encoder against, module for module.
const require = createRequire(import.meta.url);
const ReferenceQr = require('qrcode-terminal/vendor/QRCode') as new (version: number, level: number) => {
  addData(text: string): void;
  makeImpl(test: boolean, mask: number): void;
  isDark(r: number, c: number): boolean;
};
const REFERENCE_LEVEL = { L: 1, M: 0 } as const;

/** The reference encoder's modules for the same text, version, level and mask (text as 8-bit chars). */
export function referenceModules(text: string, qr: Pick<QrCode, 'version' | 'level' | 'mask' | 'size'>): Uint8Array {
  const ref = new ReferenceQr(qr.version, REFERENCE_LEVEL[qr.level]);
  ref.addData(text);
  ref.makeImpl(false, qr.mask);
  const out = new Uint8Array(qr.size * qr.size);
  for (let r = 0; r < qr.size; r++) for (let c = 0; c < qr.size; c++) out[r * qr.size + c] = ref.isDark(r, c) ? 1 : 0;
  return out;
}

/**
 * A small in-page accessibility audit (no axe-core offline): every visible form control has an
 * accessible name, and every visible text meets WCAG AA contrast against its effective background
 * (4.5:1, or 3:1 for large text). Returns the problems found. A string so tsx leaves it untouched.
 */
export const A11Y_AUDIT = `(() => {
  const problems = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  for (const el of document.querySelectorAll('input, select, textarea, button')) {
    if (!visible(el) && !(el.id && document.querySelector('label[for="' + el.id + '"]'))) continue;
    const labelled = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
      || (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.closest('label')
      || (el.tagName === 'BUTTON' && el.textContent.trim());
    if (!labelled) problems.push('no accessible name: ' + el.outerHTML.slice(0, 80));
  }
  const rgba = (s) => { const m = s.match(/[\\d.]+/g) || [0, 0, 0, 0]; return m.map(Number).concat([1]).slice(0, 4); };
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0.5) return c;
    }
    return rgba(getComputedStyle(document.documentElement).backgroundColor);
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el) || !visible(el)) continue;
    if (el.closest('.visually-hidden, option')) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    const fg = rgba(st.color);
    const [l1, l2] = [lum(fg), lum(background(el))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push('contrast ' + ratio.toFixed(2) + ': "' + el.textContent.trim().slice(0, 40) + '"');
  }
  return problems;
})()`;
