// The status page: /api/status polled every few seconds, only while the page is on screen.
import { api } from './api.js';
import { $, bytes, dateTime, duration, el, setMessage } from './dom.js';

const POLL_MS = 5000;

function card(title, rows) {
  const dl = el('dl');
  for (const [term, value] of rows) {
    if (value === undefined) continue;
    dl.append(el('dt', {}, term), el('dd', {}, value ?? '—'));
  }
  return el('section', { className: 'card', 'aria-label': title }, el('h2', {}, title), dl);
}

function pill(value) {
  const kind = { ok: 'ok', running: 'ok', connected: 'ok', degraded: 'warn', starting: 'warn', restarting: 'warn', stalled: 'warn', connecting: 'warn' }[value] ?? 'bad';
  return el('span', { className: `pill ${kind}` }, value);
}

const num = (v) => (typeof v === 'number' ? v.toFixed(1) : '—');
const pct = (l) => (l ? `${num(l.p50)} / ${num(l.p90)} / ${num(l.p99)} ms` : '—');

export function render(s) {
  const cam = s.camera ?? {};
  const model = s.model ?? {};
  const p = s.pipeline ?? {};
  const lat = s.latencyMs ?? p.latencyMs ?? {};
  const temps = Array.isArray(s.temperatures) && s.temperatures.length
    ? el('span', {}, ...s.temperatures.map((t, i) => `${i ? ', ' : ''}${t.type}: ${t.celsius.toFixed(1)} °C`))
    : 'not reported';
  const disk = s.disk
    ? `${bytes(s.disk.freeBytes)} free of ${bytes(s.disk.totalBytes)} (${Math.round((100 * s.disk.freeBytes) / Math.max(1, s.disk.totalBytes))} %)`
    : 'not reported';
  const cpu = s.cpu?.loadAvg ? `load ${s.cpu.loadAvg[0].toFixed(2)} (1 min) on ${s.cpu.cores} cores` : 'not reported';
  return [
    card('Service', [
      ['Health', pill(s.status ?? 'unknown')],
      ['Why', Array.isArray(s.reasons) && s.reasons.length ? s.reasons.join('; ') : undefined],
      ['Uptime', duration(s.uptimeS ?? 0)],
      ['Live clients', String(s.wsClients ?? '—')],
    ]),
    card('Camera', [
      ['Source', cam.source],
      ['Kind', cam.kind],
      ['State', pill(cam.state ?? 'unknown')],
      ['Frames', String(cam.framesDelivered ?? '—')],
      ['Last frame', cam.lastFrameAt ? dateTime(cam.lastFrameAt) : '—'],
      ['Restarts', String(cam.restarts ?? 0)],
      ['Chosen because', cam.reason ?? undefined],
      ['Last error', cam.lastError ?? 'none'],
    ]),
    card('Model', [
      ['Name', model.name],
      ['Version', model.version],
      ['Kind', model.kind],
      ['Labels', String(model.labels ?? '—')],
      ['SHA-256', model.sha256 ? `${model.sha256.slice(0, 16)}…` : '—'],
    ]),
    card('Pipeline', [
      ['Provider', s.ep],
      ['State', pill(p.state ?? 'unknown')],
      ['FPS', typeof s.fps === 'number' ? s.fps.toFixed(1) : '—'],
      ['Processed', String(p.framesProcessed ?? '—')],
      ['Dropped', String(p.framesDropped ?? '—')],
      ['Latency', 'p50 / p90 / p99'],
      ['Total', pct(lat.total)],
      ['Inference', pct(lat.inference)],
      ['Preprocess', pct(lat.preprocess)],
    ]),
    card('Device', [
      ['Temperatures', temps],
      ['Disk (data)', disk],
      ['Storage', s.storage ? `${s.storage.state}${s.storage.lastError ? ` — ${s.storage.lastError}` : ''}` : undefined],
      ['CPU', cpu],
    ]),
    ...(s.fleet ? [fleetCard(s.fleet)] : []),
  ];
}

/** The fleet (MQTT) publisher: shown only when VEGKIOSK_MQTT_URL is set. */
function fleetCard(f) {
  const q = f.queue ?? {};
  const dropped = q.dropped ? (q.dropped.results ?? 0) + (q.dropped.status ?? 0) + (q.dropped.events ?? 0) : 0;
  return card('Fleet (MQTT)', [
    ['Broker', f.broker],
    ['State', pill(f.state ?? 'unknown')],
    ['Since', f.since ? dateTime(Date.parse(f.since)) : '—'],
    ['Topics', `${f.topicPrefix}/${f.kioskId}/…`],
    ['Queue', `${q.depth ?? 0} waiting (${bytes(q.bytes ?? 0)})`],
    ['Dropped (queue full)', dropped ? `${dropped} (results ${q.dropped.results}, status ${q.dropped.status}, events ${q.dropped.events})` : '0'],
    ['Queue on disk', q.writeError ?? 'ok'],
    ['Delivered', String(f.delivered ?? 0)],
    ['Last error', f.lastError ? `${f.lastError}${f.lastErrorAt ? ` (${dateTime(Date.parse(f.lastErrorAt))})` : ''}` : 'none'],
  ]);
}

export function createStatus() {
  const body = $('status-body');
  const message = $('status-message');
  let timer = null;

  async function refresh() {
    try {
      const s = await api('/api/status');
      body.replaceChildren(...render(s));
      setMessage(message, '');
    } catch (err) {
      if (err.status !== 401) setMessage(message, `Could not read the status: ${err.message}`);
    }
  }

  // Each activation starts its own loop; a loop whose request was still out when the view was left
  // and entered again ends there, or every quick toggle would add one more poller for good.
  let loop = 0;
  const poll = async (mine) => {
    timer = null;
    if (document.visibilityState === 'visible') await refresh();
    if (running && mine === loop) timer = setTimeout(() => void poll(mine), POLL_MS);
  };
  let running = false;

  return {
    setActive(on) {
      if (on === running) return;
      running = on;
      loop++;
      clearTimeout(timer);
      timer = null;
      if (on) void poll(loop);
    },
    /** Signed out: nothing of the last reading stays in the page. */
    reset() {
      body.replaceChildren();
      setMessage(message, '');
    },
  };
}
