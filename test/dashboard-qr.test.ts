import { expect } from 'chai';
import { encodeQr, MAX_VERSION, type QrCode } from '../dashboard/js/qr.js';
import { referenceModules } from './support/browser.ts';

/** Reads the 15-bit format information around the top-left finder and returns [level bits, mask]. */
function formatOf(qr: QrCode): [number, number] {
  const at = (r: number, c: number) => qr.modules[r * qr.size + c];
  let bits = 0;
  for (let i = 0; i < 15; i++) {
    const r = i < 6 ? i : i < 8 ? i + 1 : 8;
    const c = i < 8 ? 8 : i === 8 ? 7 : 14 - i;
    bits |= at(r, c) << i;
  }
  const data = (bits ^ 0x5412) >> 10;
  return [data >> 3, data & 7];
}

const URI = 'otpauth://totp/vegkiosk:field-tech.01?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&period=30&digits=6&algorithm=SHA1&issuer=vegkiosk'; // secret-scan: allow (Google Authenticator's documented example secret, no real account)

describe('dashboard QR encoder (dashboard/js/qr.js)', () => {
  it('matches an independent encoder module for module: versions 1-10, levels L and M, all eight masks', () => {
    let compared = 0;
    for (const text of ['A', 'hello, kiosk', URI, 'x'.repeat(150), 'z'.repeat(200)]) {
      for (const level of ['L', 'M'] as const) {
        const smallest = encodeQr(text, { level }).version;
        for (let version = smallest; version <= MAX_VERSION; version++) {
          for (let mask = 0; mask < 8; mask++) {
            const qr = encodeQr(text, { level, version, mask });
            expect(qr.size).to.equal(version * 4 + 17);
            expect(Buffer.from(qr.modules).equals(Buffer.from(referenceModules(text, qr))), `${text.length} chars ${level} v${version} mask ${mask}`).to.equal(true);
            compared++;
          }
        }
      }
    }
    expect(compared).to.be.greaterThan(300);
  });

  it('picks the smallest version, writes readable format bits and refuses text beyond version 10', () => {
    const qr = encodeQr(URI);
    expect(qr.level).to.equal('M');
    expect(qr.version).to.be.within(6, 8);
    expect(() => encodeQr(URI, { version: qr.version - 1 })).to.throw(/does not fit/);
    expect(formatOf(qr)).to.deep.equal([0, qr.mask]);
    expect(formatOf(encodeQr(URI, { level: 'L' }))[0]).to.equal(1);
    // Finder pattern: a dark 7x7 ring with a dark 3x3 centre.
    const row0 = Array.from(qr.modules.subarray(0, 8));
    expect(row0).to.deep.equal([1, 1, 1, 1, 1, 1, 1, 0]);
    expect(encodeQr('a'.repeat(213)).version).to.equal(10);
    expect(() => encodeQr('a'.repeat(214))).to.throw(/too long/);
  });

  it('encodes UTF-8 text as bytes', () => {
    const qr = encodeQr('Möhre');
    expect(Buffer.from(qr.modules).equals(Buffer.from(referenceModules(Buffer.from('Möhre', 'utf8').toString('latin1'), qr)))).to.equal(true);
  });
});
