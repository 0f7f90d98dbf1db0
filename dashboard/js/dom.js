// Small DOM helpers. Everything is built with createElement/textContent: no innerHTML, so nothing
// the server or a user sends (labels, usernames, audit details) can become markup.

export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
}

/** el('li', { className: 'x' }, 'text', childNode) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function setMessage(node, text, kind = 'error') {
  node.textContent = text;
  node.classList.toggle('error', kind === 'error' && text !== '');
  node.classList.toggle('ok', kind === 'ok' && text !== '');
}

export function percent(score) {
  return `${(Math.max(0, Math.min(1, score)) * 100).toFixed(1)} %`;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h ${m} min`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

export function bytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function time(value) {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '—' : d.toLocaleTimeString([], { hour12: false });
}

export function dateTime(value) {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString([], { hour12: false });
}

/** The top-N scores as label / meter / percentage rows. */
export function renderTop(list, top) {
  list.replaceChildren(...(top ?? []).slice(0, 5).map((t) => el('li', {},
    el('span', { className: t.source === 'learned' ? 'learned' : '', title: t.source === 'learned' ? 'learned on this kiosk' : t.label }, t.label),
    el('meter', { min: 0, max: 1, value: t.score, title: percent(t.score) }),
    el('span', {}, `${Math.round(t.score * 100)} %`),
  )));
}

/** Makes `zone` take dropped files (highlighted while dragged over) and hands them to `onFiles`. */
export function acceptDrops(zone, onFiles) {
  zone.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('over');
    const files = [...(ev.dataTransfer?.files ?? [])];
    if (files.length) onFiles(files);
  });
}
