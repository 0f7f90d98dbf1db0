// Wires the views together: session state, hash routing by role, the live socket and sign-out.
// The only credential is the httpOnly session cookie; after a reload or in a new tab the page asks
// the server whose it is (GET /api/auth/session) rather than keeping anything in web storage.
import { createAudit, createUsers } from './admin.js';
import { api, onUnauthenticated } from './api.js';
import { $ } from './dom.js';
import { createLive } from './live.js';
import { createLogin } from './login.js';
import { LiveSocket } from './socket.js';
import { createStatus } from './status.js';
import { createTeach } from './teach.js';
import { createUpload } from './upload.js';

const RANK = { viewer: 0, technician: 1, admin: 2 };
const VIEWS = { live: 'viewer', status: 'viewer', upload: 'technician', teach: 'technician', users: 'admin', audit: 'admin' };

let session = null;

const socket = new LiveSocket({
  message: (m) => live.message(m),
  frame: (b) => live.frame(b),
  state: (name, detail) => live.state(name, detail),
  sessionEnded: () => leave('expired'),
  sessionValid: async () => {
    try {
      await api('/api/status', { quiet401: true });
      return true;
    } catch (err) {
      return err.status === 401 ? false : null;
    }
  },
});
const live = createLive(socket);
const status = createStatus();
const upload = createUpload();
const teach = createTeach();
const users = createUsers(() => session?.user);
const audit = createAudit();
const login = createLogin((s) => {
  enter(s);
  if (!location.hash || location.hash === '#login') history.replaceState(null, '', '#live');
  route(true);
});
const modules = { live, status, teach, users, audit };

const allowed = (view) => session && RANK[session.role] >= RANK[VIEWS[view]];

function show(view) {
  for (const section of document.querySelectorAll('main > .view')) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  for (const [name, m] of Object.entries(modules)) m.setActive(name === view);
  document.title = view === 'login' ? 'Sign in — vegkiosk' : `${$(`view-${view}`).querySelector('h1').textContent} — vegkiosk`;
}

function route(focus = false) {
  if (!session) {
    show('login');
    return;
  }
  let view = location.hash.slice(1);
  if (!(view in VIEWS) || !allowed(view)) {
    view = 'live';
    history.replaceState(null, '', '#live');
  }
  show(view);
  if (focus) $('main').focus({ preventScroll: true });
}

function enter(s) {
  session = { user: s.user, role: s.role };
  $('who-name').textContent = `${s.user} (${s.role})`;
  for (const link of document.querySelectorAll('#nav a')) link.hidden = !allowed(link.dataset.view);
  $('nav').hidden = false;
  $('who').hidden = false;
  socket.start();
}

function leave(reason) {
  if (!session && reason === 'expired') return;
  session = null;
  socket.stop();
  live.reset();
  upload.reset();
  teach.reset();
  users.reset();
  status.reset();
  audit.reset();
  $('nav').hidden = true;
  $('who').hidden = true;
  history.replaceState(null, '', '#login');
  show('login');
  login.show(reason);
}

onUnauthenticated(() => leave('expired'));

$('logout').addEventListener('click', async () => {
  // Stopped first: the server closes the socket with 4401 on logout, which is not an expiry here.
  socket.stop();
  try {
    await api('/api/auth/logout', { method: 'POST', quiet401: true });
  } catch {
    // Signed out locally either way; an unreachable kiosk lets the session expire on its own.
  }
  leave('signed-out');
});

window.addEventListener('hashchange', () => route(true));
// A photo dropped beside the drop zone must not navigate away from the dashboard.
window.addEventListener('dragover', (ev) => ev.preventDefault());
window.addEventListener('drop', (ev) => ev.preventDefault());

async function boot() {
  try {
    const current = await api('/api/auth/session', { quiet401: true });
    if (current?.user && current.role in RANK) {
      enter(current);
      route();
      return;
    }
  } catch {
    // No valid session cookie: sign in.
  }
  show('login');
  login.show();
}

void boot();
