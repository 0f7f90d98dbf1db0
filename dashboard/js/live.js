// The live view: newest frame (object URLs, the previous one revoked at once so a kiosk left open
// for days does not leak blobs), the label large enough to read from a step away, detection boxes,
// fps / latency / provider, and a strip of recent results.
import { countItems, countText, drawBoxes } from './boxes.js';
import { $, el, percent, renderTop, time } from './dom.js';

const HISTORY_MAX = 12;

export function createLive(socket) {
  const img = $('frame-img');
  const canvas = $('frame-boxes');
  const empty = $('frame-empty');
  const demo = $('frame-demo');
  const conn = $('conn');
  const label = $('result-label');
  const score = $('result-score');
  const topList = $('result-top');
  const countsLine = $('result-counts');
  const fps = $('stat-fps');
  const latency = $('stat-latency');
  const ep = $('stat-ep');
  const historyList = $('history');

  let frameUrl = null;
  let lastResult = null;
  let frameResult = null;
  let active = false;
  let lastLabel;
  let history = [];
  let health = 'ok';
  let connState = 'connecting';

  img.addEventListener('load', () => drawBoxes(canvas, img, frameResult?.detections));
  window.addEventListener('resize', () => { if (frameUrl) drawBoxes(canvas, img, frameResult?.detections); });

  const wantFrames = () => active && document.visibilityState === 'visible';
  document.addEventListener('visibilitychange', () => socket.setFrames(wantFrames()));

  function renderConn() {
    const text = {
      open: health === 'ok' ? 'Live' : `Live — kiosk reports “${health}”`,
      connecting: 'Connecting…',
    }[connState] ?? connState;
    conn.textContent = text;
    conn.classList.toggle('bad', connState !== 'open' || health !== 'ok');
  }

  function onResult(r) {
    lastResult = r;
    const name = r.label ?? 'No match';
    // Only touch the live region when the label changes, so screen readers are not flooded at 15 fps.
    if (name !== lastLabel) {
      label.textContent = name;
      lastLabel = name;
    }
    score.textContent = r.label ? percent(r.score) : 'below threshold';
    // Below the threshold nothing was recognised: a neutral colour, never the success green.
    score.classList.toggle('below', !r.label);
    renderTop(topList, r.top);
    // "3 × Tomato · 1 × Carrots": only rewritten when it changes (15 fps, screen readers).
    const counts = countItems(r.detections).map(countText).join(' \u00b7 ');
    if (countsLine.textContent !== counts) countsLine.textContent = counts;
    if (r.latencyMs) latency.textContent = `${Math.round(r.latencyMs.total)} ms`;
    const newest = history[0];
    if (newest && newest.label === name) {
      newest.score = r.score;
      newest.at = r.capturedAt;
      newest.count++;
    } else {
      history = [{ label: name, score: r.score, at: r.capturedAt, count: 1 }, ...history].slice(0, HISTORY_MAX);
    }
    renderHistory();
  }

  function renderHistory() {
    historyList.replaceChildren(...history.map((h) => el('li', {},
      el('span', { className: 'h-label' }, h.label),
      el('span', { className: 'h-meta' }, `${percent(h.score)} · ${time(h.at)}${h.count > 1 ? ` · ×${h.count}` : ''}`),
    )));
  }

  /** The shipped demo photos stand in for a camera: say so over the picture. */
  function renderDemo(camera) {
    const on = camera?.demo === true;
    if (on) {
      // auto chose the demo because it found no camera; VEGKIOSK_CAMERA=demo asked for it.
      demo.textContent = String(camera.reason ?? '').startsWith('auto:') ? 'Demo photos — no camera found' : 'Demo photos';
    }
    demo.hidden = !on;
  }

  function onStatus(s) {
    if (s.camera) renderDemo(s.camera);
    if (s.pipeline) fps.textContent = Number(s.pipeline.fps ?? 0).toFixed(1);
    if (s.ep) ep.textContent = s.ep;
    if (s.status) health = s.status;
    renderConn();
  }

  return {
    message(msg) {
      if (msg.type === 'result') onResult(msg);
      else if (msg.type === 'status') onStatus(msg);
      else if (msg.type === 'hello' && msg.ep) ep.textContent = msg.ep;
    },
    frame(blob) {
      if (!wantFrames()) return;
      const old = frameUrl;
      frameUrl = URL.createObjectURL(blob);
      // Frames follow the result they were computed from.
      frameResult = lastResult;
      img.src = frameUrl;
      if (old) URL.revokeObjectURL(old);
      if (!empty.hidden) {
        empty.hidden = true;
        img.parentElement.classList.add('has-frame');
      }
    },
    state(name, detail) {
      connState = name === 'waiting' ? `Connection lost — retrying in ${detail} s` : name;
      renderConn();
    },
    /** Called when the live view is shown or hidden. */
    setActive(on) {
      active = on;
      socket.setFrames(wantFrames());
    },
    reset() {
      if (frameUrl) URL.revokeObjectURL(frameUrl);
      frameUrl = null;
      img.removeAttribute('src');
      empty.hidden = false;
      img.parentElement.classList.remove('has-frame');
      history = [];
      lastLabel = undefined;
      lastResult = frameResult = null;
      label.textContent = '—';
      score.textContent = '\u00a0';
      topList.replaceChildren();
      countsLine.textContent = '';
      historyList.replaceChildren();
      fps.textContent = latency.textContent = ep.textContent = '—';
      demo.hidden = true;
    },
  };
}
