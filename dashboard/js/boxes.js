// Detection boxes on a canvas laid over the image (boxes are normalised 0..1 to the image), drawn
// at device-pixel resolution so thin lines stay sharp on phones.

const COLOURS = ['#ffd54a', '#5fd68a', '#7cc4ff', '#ff8f85', '#e0a3ff'];

/** Items per label, most first ("3 × Tomato"): what a detector or a cascade found in the frame. */
export function countItems(detections) {
  const counts = new Map();
  for (const d of detections ?? []) counts.set(d.label, (counts.get(d.label) ?? 0) + 1);
  return [...counts].map(([label, count]) => ({ label, count })).sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
}

/** The text of one count: "3 × Tomato". */
export const countText = ({ label, count }) => `${count} \u00d7 ${label}`;

export function drawBoxes(canvas, img, detections) {
  const dpr = window.devicePixelRatio || 1;
  const w = img.clientWidth;
  const h = img.clientHeight;
  const empty = !detections?.length || !w || !h;
  // Classifier frames at 15 fps on a Pi: an already-clear overlay is left alone.
  if (empty && canvas.dataset.clear === '1') return;
  const cw = Math.max(1, Math.round(w * dpr));
  const ch = Math.max(1, Math.round(h * dpr));
  // Resizing reallocates the bitmap; only do it when the layout really changed.
  if (canvas.width !== cw || canvas.height !== ch) {
    canvas.width = cw;
    canvas.height = ch;
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  canvas.dataset.clear = empty ? '1' : '0';
  if (empty) return;
  ctx.scale(dpr, dpr);
  ctx.lineWidth = 3;
  ctx.font = '600 15px system-ui, sans-serif';
  ctx.textBaseline = 'top';
  // One colour per label, so the items of a kind read as a group.
  const labels = [...new Set(detections.map((d) => d.label))];
  detections.forEach((d) => {
    const [x1, y1, x2, y2] = d.box;
    const colour = COLOURS[labels.indexOf(d.label) % COLOURS.length];
    const x = x1 * w, y = y1 * h;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, (x2 - x1) * w, (y2 - y1) * h);
    // A cascade's box: the classifier's name for the crop (starred when learned on this kiosk).
    const text = `${d.source === 'learned' ? '\u2605 ' : ''}${d.label} ${Math.round(d.score * 100)}%`;
    const tw = ctx.measureText(text).width + 8;
    const ty = y >= 20 ? y - 20 : y;
    ctx.fillStyle = colour;
    ctx.fillRect(x, ty, tw, 20);
    ctx.fillStyle = '#000000';
    ctx.fillText(text, x + 4, ty + 2);
  });
}
