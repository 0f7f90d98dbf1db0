// Detection boxes on a canvas laid over the image (boxes are normalised 0..1 to the image), drawn
// at device-pixel resolution so thin lines stay sharp on phones.

const COLOURS = ['#ffd54a', '#5fd68a', '#7cc4ff', '#ff8f85', '#e0a3ff'];

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
  detections.forEach((d, i) => {
    const [x1, y1, x2, y2] = d.box;
    const colour = COLOURS[i % COLOURS.length];
    const x = x1 * w, y = y1 * h;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, (x2 - x1) * w, (y2 - y1) * h);
    const text = `${d.label} ${Math.round(d.score * 100)}%`;
    const tw = ctx.measureText(text).width + 8;
    const ty = y >= 20 ? y - 20 : y;
    ctx.fillStyle = colour;
    ctx.fillRect(x, ty, tw, 20);
    ctx.fillStyle = '#000000';
    ctx.fillText(text, x + 4, ty + 2);
  });
}
