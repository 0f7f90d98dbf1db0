// The sign-in form. Failure messages never say whether the username or the code was wrong (the
// server answers both alike); a lockout shows the wait the server asked for and counts it down.
import { api } from './api.js';
import { $, setMessage } from './dom.js';

export function createLogin(onSignedIn) {
  const form = $('login-form');
  const user = $('login-user');
  const code = $('login-code');
  const submit = $('login-submit');
  const message = $('login-message');
  let countdown = null;

  function lockFor(seconds) {
    clearInterval(countdown);
    let left = Math.ceil(seconds);
    const tick = () => {
      if (left <= 0) {
        clearInterval(countdown);
        countdown = null;
        submit.disabled = false;
        setMessage(message, 'You can try again now.', 'ok');
        return;
      }
      submit.disabled = true;
      setMessage(message, `Too many attempts. Try again in ${left} s.`);
      left--;
    };
    tick();
    countdown = setInterval(tick, 1000);
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = user.value.trim();
    const digits = code.value.replace(/\s+/g, '');
    if (!username) {
      setMessage(message, 'Enter your username.');
      user.focus();
      return;
    }
    if (!/^\d{6}$/.test(digits)) {
      setMessage(message, 'Enter the 6-digit code from your authenticator app.');
      code.focus();
      return;
    }
    submit.disabled = true;
    setMessage(message, 'Signing in…', 'ok');
    try {
      const res = await api('/api/auth/login', { method: 'POST', json: { username, code: digits }, quiet401: true });
      // res.token is deliberately not kept: the httpOnly cookie is the browser's only credential.
      code.value = '';
      setMessage(message, '');
      submit.disabled = false;
      onSignedIn({ user: res.user, role: res.role, expiresAt: res.expiresAt });
    } catch (err) {
      submit.disabled = false;
      code.value = '';
      if (err.status === 429) {
        lockFor(err.retryAfterS ?? 30);
      } else if (err.status === 401) {
        setMessage(message, 'Sign-in failed: that username and code do not match. Codes change every 30 seconds; wait for a new one and try again.');
      } else {
        setMessage(message, err.message || 'Sign-in failed.');
      }
      code.focus();
    }
  });

  return {
    /** Shows the form, with a reason when the user did not sign out themselves. */
    show(reason) {
      if (!countdown) {
        submit.disabled = false;
        setMessage(message, reason === 'expired' ? 'Your session has ended. Sign in again.'
          : reason === 'signed-out' ? 'You are signed out.' : '', reason === 'signed-out' ? 'ok' : 'error');
      }
      (user.value ? code : user).focus();
    },
  };
}
