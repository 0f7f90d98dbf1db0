// "Test a photo": a dropped or picked image goes to POST /api/classify as the multipart field
// `image`; the server checks the content, so the type filter here is only a convenience.
import { api } from './api.js';
import { drawBoxes } from './boxes.js';
import { $, acceptDrops, percent, renderTop, setMessage } from './dom.js';

const MAX_BYTES = 10 * 1024 * 1024;

export function createUpload() {
  const drop = $('drop');
  const input = $('upload-file');
  const message = $('upload-message');
  const result = $('upload-result');
  const img = $('upload-img');
  const canvas = $('upload-boxes');
  const label = $('upload-label');
  const score = $('upload-score');
  const topList = $('upload-top');
  let previewUrl = null;
  let detections = [];
  let busy = false;

  img.addEventListener('load', () => drawBoxes(canvas, img, detections));
  window.addEventListener('resize', () => { if (!result.hidden) drawBoxes(canvas, img, detections); });

  async function classify(file) {
    if (busy) return;
    if (!/^image\/(jpeg|png|webp)$/.test(file.type)) {
      setMessage(message, 'Choose a JPEG, PNG or WebP image.');
      return;
    }
    if (file.size > MAX_BYTES) {
      setMessage(message, 'That image is larger than 10 MB.');
      return;
    }
    busy = true;
    setMessage(message, `Classifying ${file.name}…`, 'ok');
    const form = new FormData();
    form.append('image', file, file.name);
    try {
      const r = await api('/api/classify', { method: 'POST', body: form });
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = URL.createObjectURL(file);
      detections = r.detections ?? [];
      label.textContent = r.label ?? 'No match';
      score.textContent = `${r.label ? percent(r.score) : 'below threshold'} · ${r.ms} ms`;
      score.classList.toggle('below', !r.label);
      renderTop(topList, r.top);
      result.hidden = false;
      img.src = previewUrl;
      setMessage(message, `Result for ${file.name}.`, 'ok');
    } catch (err) {
      const text = err.status === 403 ? 'Your role may not test photos (technician or admin only).'
        : err.status === 429 ? 'The kiosk is busy; try again in a moment.'
        : err.message;
      if (err.status !== 401) setMessage(message, text);
    } finally {
      busy = false;
      input.value = '';
    }
  }

  input.addEventListener('change', () => { if (input.files?.[0]) void classify(input.files[0]); });
  acceptDrops(drop, (files) => void classify(files[0]));

  return {
    reset() {
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = null;
      img.removeAttribute('src');
      result.hidden = true;
      setMessage(message, '');
    },
  };
}
