// custos-web's page script, served as a file so the Content-Security-Policy
// can forbid inline script.
'use strict';

// A take-identity link: its token is in the fragment, which the server never
// sees. Post it once, and take it out of the address bar and history first.
function exchangeLink() {
  const form = document.getElementById('exchange');
  if (!form) return;
  const token = window.location.hash.slice(1);
  history.replaceState(null, '', window.location.pathname);
  const status = document.getElementById('exchange-status');
  if (!token) {
    status.textContent = 'This link has no token; open the link that custos identity start printed.';
    return;
  }
  document.getElementById('link_token').value = token;
  form.submit();
}

// The banner's countdown; the server checks expiry on every page anyway.
function countDown() {
  const left = document.getElementById('time-left');
  if (!left) return;
  const expires = Number(left.dataset.expires) * 1000;
  const tick = () => {
    const s = Math.max(0, Math.floor((expires - Date.now()) / 1000));
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    left.textContent = h > 0 ? `${h}h ${String(m).padStart(2, '0')}m`
                             : `${m}m ${String(s % 60).padStart(2, '0')}s`;
    if (s === 0) left.textContent += ' (expired; the next click says so)';
  };
  tick();
  setInterval(tick, 1000);
}

document.addEventListener('DOMContentLoaded', () => {
  exchangeLink();
  countDown();
});
