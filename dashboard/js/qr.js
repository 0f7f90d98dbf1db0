// A small QR Code encoder (ISO/IEC 18004): byte mode, error correction L or M, versions 1-10.
// Self-written so the enrolment QR works offline and under the CSP (no CDN, no inline script);
// an otpauth URI of ~120 characters needs version 6-7 at level M.

/** Per version 1-10: [total codewords, [L: ec per block, blocks], [M: ec per block, blocks]]. */
const BLOCKS = [
  null,
  [26, [7, 1], [10, 1]],
  [44, [10, 1], [16, 1]],
  [70, [15, 1], [26, 1]],
  [100, [20, 1], [18, 2]],
  [134, [26, 1], [24, 2]],
  [172, [18, 2], [16, 4]],
  [196, [20, 2], [18, 4]],
  [242, [24, 2], [22, 4]],
  [292, [30, 2], [22, 5]],
  [346, [18, 4], [26, 5]],
];
const ALIGNMENT = [null, [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]];
/** The two format bits of each level (they are not in L, M order in the standard). */
const LEVEL_BITS = { L: 1, M: 0 };
export const MAX_VERSION = 10;

// GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1.
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
for (let i = 0, x = 1; i < 255; i++) {
  EXP[i] = x;
  LOG[x] = i;
  x <<= 1;
  if (x & 0x100) x ^= 0x11d;
}
for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];

function mul(a, b) {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]];
}

/** Coefficients of prod (x - a^i), i < n, highest degree first, leading 1 omitted. */
function generator(n) {
  let poly = [1];
  for (let i = 0; i < n; i++) {
    const next = new Array(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] ^= poly[j];
      next[j + 1] ^= mul(poly[j], EXP[i]);
    }
    poly = next;
  }
  return poly.slice(1);
}

function reedSolomon(data, n) {
  const gen = generator(n);
  const rem = new Array(n).fill(0);
  for (const byte of data) {
    const factor = byte ^ rem.shift();
    rem.push(0);
    for (let i = 0; i < n; i++) rem[i] ^= mul(gen[i], factor);
  }
  return rem;
}

function blocksOf(version, level) {
  const [total, l, m] = BLOCKS[version];
  const [ecPerBlock, blocks] = level === 'L' ? l : m;
  const dataTotal = total - ecPerBlock * blocks;
  return { ecPerBlock, blocks, dataTotal, shortLen: Math.floor(dataTotal / blocks), longBlocks: dataTotal % blocks };
}

/** Data + EC codewords, interleaved as the symbol stores them. */
function codewords(bytes, version, level) {
  const { ecPerBlock, blocks, dataTotal, shortLen, longBlocks } = blocksOf(version, level);
  const bits = [];
  const put = (value, len) => { for (let i = len - 1; i >= 0; i--) bits.push((value >>> i) & 1); };
  put(0b0100, 4);
  put(bytes.length, version < 10 ? 8 : 16);
  for (const b of bytes) put(b, 8);
  const capacity = dataTotal * 8;
  for (let i = 0; i < 4 && bits.length < capacity; i++) bits.push(0);
  while (bits.length % 8) bits.push(0);
  const data = [];
  for (let i = 0; i < bits.length; i += 8) data.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));
  for (let pad = 0xec; data.length < dataTotal; pad ^= 0xec ^ 0x11) data.push(pad);

  const dataBlocks = [];
  const ecBlocks = [];
  for (let b = 0, at = 0; b < blocks; b++) {
    const len = shortLen + (b >= blocks - longBlocks ? 1 : 0);
    const block = data.slice(at, at + len);
    at += len;
    dataBlocks.push(block);
    ecBlocks.push(reedSolomon(block, ecPerBlock));
  }
  const out = [];
  for (let i = 0; i <= shortLen; i++) for (const block of dataBlocks) if (i < block.length) out.push(block[i]);
  for (let i = 0; i < ecPerBlock; i++) for (const block of ecBlocks) out.push(block[i]);
  return out;
}

/** BCH remainder of value << (bits of poly - 1) by poly, appended to value. */
function bch(value, poly, polyBits) {
  let rem = value << (polyBits - 1);
  for (let bit = 31 - Math.clz32(rem); bit >= polyBits - 1; bit--) {
    if (rem & (1 << bit)) rem ^= poly << (bit - polyBits + 1);
  }
  return (value << (polyBits - 1)) | rem;
}

const MASKS = [
  (r, c) => (r + c) % 2 === 0,
  (r) => r % 2 === 0,
  (_r, c) => c % 3 === 0,
  (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0,
  (r, c) => ((r * c) % 2) + ((r * c) % 3) === 0,
  (r, c) => (((r * c) % 2) + ((r * c) % 3)) % 2 === 0,
  (r, c) => (((r + c) % 2) + ((r * c) % 3)) % 2 === 0,
];

/** The function patterns of a version; `reserved` marks every module that is not data. */
function template(version) {
  const size = version * 4 + 17;
  const dark = new Uint8Array(size * size);
  const reserved = new Uint8Array(size * size);
  const set = (r, c, on) => { dark[r * size + c] = on ? 1 : 0; reserved[r * size + c] = 1; };
  for (const [r0, c0] of [[0, 0], [size - 7, 0], [0, size - 7]]) {
    for (let r = -1; r <= 7; r++) {
      for (let c = -1; c <= 7; c++) {
        const rr = r0 + r, cc = c0 + c;
        if (rr < 0 || cc < 0 || rr >= size || cc >= size) continue;
        const ring = Math.max(Math.abs(r - 3), Math.abs(c - 3));
        set(rr, cc, ring !== 2 && ring !== 4);
      }
    }
  }
  const centres = ALIGNMENT[version];
  for (const r of centres) {
    for (const c of centres) {
      if (reserved[r * size + c]) continue;
      for (let dr = -2; dr <= 2; dr++) {
        for (let dc = -2; dc <= 2; dc++) set(r + dr, c + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
      }
    }
  }
  for (let i = 8; i < size - 8; i++) {
    set(6, i, i % 2 === 0);
    set(i, 6, i % 2 === 0);
  }
  // Format areas are reserved now and written per mask; the single dark module is fixed.
  for (let i = 0; i < 9; i++) {
    reserved[8 * size + i] = 1;
    reserved[i * size + 8] = 1;
  }
  for (let i = 0; i < 8; i++) {
    reserved[8 * size + size - 1 - i] = 1;
    reserved[(size - 1 - i) * size + 8] = 1;
  }
  set(size - 8, 8, true);
  if (version >= 7) {
    const bits = bch(version, 0x1f25, 13);
    for (let i = 0; i < 18; i++) {
      const on = (bits >> i) & 1;
      const a = Math.floor(i / 3), b = (i % 3) + size - 11;
      set(a, b, on);
      set(b, a, on);
    }
  }
  return { size, dark, reserved };
}

function writeFormat(dark, size, level, mask) {
  const bits = bch((LEVEL_BITS[level] << 3) | mask, 0x537, 11) ^ 0x5412;
  for (let i = 0; i < 15; i++) {
    const on = (bits >> i) & 1;
    // Around the top-left finder, skipping the timing row/column.
    const r1 = i < 6 ? i : i < 8 ? i + 1 : 8;
    const c1 = i < 8 ? 8 : i === 8 ? 7 : 14 - i;
    dark[r1 * size + c1] = on;
    // Split between the bottom-left and top-right finders.
    if (i < 8) dark[8 * size + size - 1 - i] = on;
    else dark[(size - 15 + i) * size + 8] = on;
  }
}

function placeData(dark, reserved, size, words, mask) {
  const test = MASKS[mask];
  let bit = 0;
  const total = words.length * 8;
  let upward = true;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    for (let i = 0; i < size; i++) {
      const r = upward ? size - 1 - i : i;
      for (const c of [right, right - 1]) {
        if (reserved[r * size + c]) continue;
        // Remainder bits past the last codeword are zeros, masked like the rest.
        const on = bit < total ? (words[bit >> 3] >> (7 - (bit & 7))) & 1 : 0;
        bit++;
        dark[r * size + c] = on ^ (test(r, c) ? 1 : 0);
      }
    }
    upward = !upward;
  }
}

/** ISO 18004 penalty rules N1-N4; the mask with the lowest score is used. */
function penalty(dark, size) {
  let score = 0;
  const at = (r, c) => dark[r * size + c];
  for (let line = 0; line < 2; line++) {
    for (let i = 0; i < size; i++) {
      let run = 0;
      let prev = -1;
      let window = 0;
      for (let j = 0; j < size; j++) {
        const v = line === 0 ? at(i, j) : at(j, i);
        if (v === prev) run++;
        else {
          if (run >= 5) score += run - 2;
          run = 1;
          prev = v;
        }
        window = ((window << 1) | v) & 0x7ff;
        // 1:1:3:1:1 finder-like pattern with four light modules on one side.
        if (j >= 10 && (window === 0b10111010000 || window === 0b00001011101)) score += 40;
      }
      if (run >= 5) score += run - 2;
    }
  }
  let darkCount = 0;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      darkCount += at(r, c);
      if (r < size - 1 && c < size - 1) {
        const v = at(r, c);
        if (v === at(r, c + 1) && v === at(r + 1, c) && v === at(r + 1, c + 1)) score += 3;
      }
    }
  }
  score += Math.floor(Math.abs((darkCount * 100) / (size * size) - 50) / 5) * 10;
  return score;
}

/**
 * Encodes `text` (UTF-8) into the smallest version that holds it. Options: level 'L' | 'M'
 * (default 'M'), version (force one), mask 0-7 (force one; default: lowest penalty).
 * Returns { version, size, level, mask, modules } with modules[r * size + c] = 1 for dark.
 */
export function encodeQr(text, options = {}) {
  const level = options.level ?? 'M';
  if (!(level in LEVEL_BITS)) throw new Error(`unsupported error correction level ${level}`);
  const bytes = new TextEncoder().encode(text);
  let version = options.version ?? 0;
  if (!version) {
    for (let v = 1; v <= MAX_VERSION && !version; v++) {
      const header = 4 + (v < 10 ? 8 : 16);
      if (header + bytes.length * 8 <= blocksOf(v, level).dataTotal * 8) version = v;
    }
    if (!version) throw new Error(`text too long for a version ${MAX_VERSION} QR code (${bytes.length} bytes)`);
  } else if (version < 1 || version > MAX_VERSION || 12 + bytes.length * 8 > blocksOf(version, level).dataTotal * 8) {
    throw new Error(`text does not fit version ${version}`);
  }
  const words = codewords(bytes, version, level);
  const { size, dark: base, reserved } = template(version);
  let best = null;
  for (const mask of options.mask === undefined ? [0, 1, 2, 3, 4, 5, 6, 7] : [options.mask]) {
    const dark = base.slice();
    placeData(dark, reserved, size, words, mask);
    writeFormat(dark, size, level, mask);
    const score = options.mask === undefined ? penalty(dark, size) : 0;
    if (!best || score < best.score) best = { score, mask, modules: dark };
  }
  return { version, size, level, mask: best.mask, modules: best.modules };
}

/** Draws the code on a canvas, dark on white with the 4-module quiet zone scanners need. */
export function drawQr(canvas, qr, scale = 6) {
  const quiet = 4;
  const side = (qr.size + quiet * 2) * scale;
  canvas.width = side;
  canvas.height = side;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, side, side);
  ctx.fillStyle = '#000000';
  for (let r = 0; r < qr.size; r++) {
    for (let c = 0; c < qr.size; c++) {
      if (qr.modules[r * qr.size + c]) ctx.fillRect((c + quiet) * scale, (r + quiet) * scale, scale, scale);
    }
  }
}
