// Admin pages: users (enrol with a QR code shown once, remove with a second confirming click)
// and the audit log.
import { api } from './api.js';
import { $, dateTime, el, setMessage } from './dom.js';
import { drawQr, encodeQr } from './qr.js';

export function createUsers(currentUser) {
  const form = $('enrol-form');
  const nameInput = $('enrol-user');
  const role = $('enrol-role');
  const formMessage = $('enrol-message');
  const listMessage = $('users-message');
  const tbody = $('users-body');
  const enrolled = $('enrolled');
  const qrCanvas = $('enrolled-qr');
  const uri = $('enrolled-uri');
  const who = $('enrolled-who');

  function hideSecret() {
    // Wipe the secret from the page as soon as it has been scanned.
    uri.textContent = '';
    qrCanvas.width = qrCanvas.height = 0;
    enrolled.hidden = true;
  }
  $('enrolled-done').addEventListener('click', () => {
    hideSecret();
    nameInput.focus();
  });

  async function load() {
    try {
      const { users } = await api('/api/users');
      tbody.replaceChildren(...users.map(row));
      setMessage(listMessage, '');
    } catch (err) {
      if (err.status !== 401) setMessage(listMessage, `Could not load users: ${err.message}`);
    }
  }

  function row(u) {
    const remove = el('button', { type: 'button', className: 'btn', 'aria-label': `Remove ${u.username}` }, 'Remove');
    let armed = false;
    remove.addEventListener('click', async () => {
      if (!armed) {
        armed = true;
        remove.textContent = `Confirm: remove ${u.username}`;
        remove.classList.add('btn-danger');
        remove.setAttribute('aria-label', `Confirm removing ${u.username}`);
        return;
      }
      remove.disabled = true;
      try {
        await api(`/api/users/${encodeURIComponent(u.username)}`, { method: 'DELETE' });
        setMessage(listMessage, `Removed ${u.username}; their sessions have ended.`, 'ok');
        await load();
      } catch (err) {
        remove.disabled = false;
        if (err.status !== 401) setMessage(listMessage, `Could not remove ${u.username}: ${err.message}`);
      }
    });
    remove.addEventListener('blur', () => {
      if (!armed || remove.disabled) return;
      armed = false;
      remove.textContent = 'Remove';
      remove.classList.remove('btn-danger');
      remove.setAttribute('aria-label', `Remove ${u.username}`);
    });
    const self = u.username === currentUser();
    return el('tr', {},
      el('td', {}, u.username, self ? ' (you)' : ''),
      el('td', {}, u.role),
      el('td', {}, dateTime(u.createdAt)),
      el('td', {}, self ? '' : remove));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = nameInput.value.trim();
    if (!/^[a-z0-9][a-z0-9._-]{0,31}$/.test(username)) {
      setMessage(formMessage, 'Username: 1-32 lower-case letters, digits, “.”, “_” or “-”, starting with a letter or digit.');
      nameInput.focus();
      return;
    }
    try {
      const res = await api('/api/users', { method: 'POST', json: { username, role: role.value } });
      drawQr(qrCanvas, encodeQr(res.otpauthUri, { level: 'M' }));
      uri.textContent = res.otpauthUri;
      who.textContent = `Created ${res.role} “${res.username}”. Scan this with their authenticator app now; it cannot be shown again.`;
      enrolled.hidden = false;
      enrolled.focus();
      nameInput.value = '';
      setMessage(formMessage, '');
      await load();
    } catch (err) {
      if (err.status !== 401) setMessage(formMessage, err.status === 409 ? `User ${username} already exists.` : err.message);
    }
  });

  return {
    setActive(on) {
      if (on) void load();
      else hideSecret();
    },
    /** Signed out: neither the one-time secret nor the user list stays in the page. */
    reset() {
      hideSecret();
      tbody.replaceChildren();
    },
  };
}

export function createAudit() {
  const tbody = $('audit-body');
  const message = $('audit-message');

  async function load() {
    try {
      const { entries } = await api('/api/audit?limit=200');
      // Newest first, whatever order the server keeps them in.
      const sorted = [...entries].sort((a, b) => String(b.at).localeCompare(String(a.at)));
      tbody.replaceChildren(...sorted.map((e) => el('tr', {},
        el('td', {}, dateTime(e.at)), el('td', {}, e.event), el('td', {}, e.actor ?? ''),
        el('td', {}, e.user ?? ''), el('td', {}, e.ip ?? ''), el('td', {}, e.detail ?? ''))));
      setMessage(message, entries.length ? '' : 'No entries yet.', 'ok');
    } catch (err) {
      if (err.status !== 401) setMessage(message, `Could not load the audit log: ${err.message}`);
    }
  }
  $('audit-refresh').addEventListener('click', () => void load());
  return {
    setActive(on) { if (on) void load(); },
    /** Signed out: the entries (names, addresses) do not stay in the page for the next person. */
    reset() {
      tbody.replaceChildren();
      setMessage(message, '');
    },
  };
}
