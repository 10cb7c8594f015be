// Hostile input to custos-web, over real TLS with a plain HTTPS client (no
// browser): forged and replayed cookies, link tokens and CSRF tokens, header
// injection, wrong content types, oversized and malformed bodies, hostile
// query parameters. Each case names the HTTP status it must get and whether
// custosd logs it (the requests custos-web forwards are logged there; what
// custos-web refuses itself never reaches custosd). A good request must
// still succeed afterwards. Started by web_e2e_test.sh (tests/BUILD.bazel's
// web_hostile_test); writes one JUnit test case per row to $XML_OUTPUT_FILE.
import { execFileSync } from 'node:child_process';
import {
  FORM, SESSION_COOKIE as COOKIE, anonymous, cookiesSet, csrfOf, logins, postSignIn, raw, request, runCase, writeResults,
} from './client.mjs';

const custos = process.env.CUSTOS_CLI;

function cli(...args) {
  return execFileSync(custos, args, { encoding: 'utf8' });
}

const cookieOf = (res) => {
  const set = [].concat(res.headers['set-cookie'] || []);
  for (const c of set) {
    const m = c.match(new RegExp(`^${COOKIE}=([0-9a-f]{64});`));
    if (m) return m[1];
  }
  return null;
};
const withCookie = (id) => ({ Cookie: `${COOKIE}=${id}` });

async function signIn(login) {
  const res = await postSignIn(await anonymous(), login);
  if (res.status !== 303) throw new Error(`sign-in of ${login}: ${res.status}`);
  const id = cookieOf(res);
  const portal = await request('GET', '/portal', { headers: withCookie(id) });
  return { id, cookie: `${COOKIE}=${id}`, csrf: csrfOf(portal.body) };
}

function newLinkToken() {
  const out = cli('--as', 'anna.support', 'identity', 'start', '--customer', 'acme',
                  '--user', 'acme.owner', '--category', 'support', '--ref', 'SUP-1042');
  return out.match(/#(lt_[0-9a-f]+)/)[1];
}

async function exchange(token) {
  const anon = await anonymous('/identity/start');
  return request('POST', '/identity/exchange', {
    headers: { Cookie: anon.cookie, 'Content-Type': FORM },
    body: `csrf=${anon.csrf}&link_token=${token}`,
  });
}

// The size of custosd's log as the DPO's listing reports it.
function logSize() {
  const out = JSON.parse(cli('--as', 'dirk.dpo', '--output', 'json', 'log', 'list', '--page_size', '1'));
  return Number(out.logSize ?? out.log_size ?? 0);
}

// --- the sessions the table uses
const usedLink = newLinkToken();
const opened = await exchange(usedLink);
if (opened.status !== 303) throw new Error(`exchange: ${opened.status} ${opened.body}`);
const identity = cookieOf(opened);
const customer = await signIn('acme');
const other = await anonymous();
const forgedId = 'f'.repeat(64);
// Browsers that hold a session and then open a page from another site,
// which comes without the SameSite=Strict session cookie and so carries the
// form token of the form cookie; its own POST carries both cookies.
const linkHolder = await signIn('fietsen-devries');
const signInHolder = await signIn('bakkerij-jansen');
const crossSiteLink = newLinkToken();
const strayLink = newLinkToken();
// The POST of a page a browser holding `holder`'s session cookie loaded
// without it: `formCookie` (or none), the form's `csrf` and `fields`.
const postHolding = (path, holder, formCookie, csrf, fields) => request('POST', path, {
  headers: { Cookie: [holder.cookie, ...(formCookie ? [formCookie] : [])].join('; '), 'Content-Type': FORM },
  body: new URLSearchParams({ csrf, ...fields }).toString(),
});
const post = (path, session, body, type = FORM, extra = {}) => request('POST', path, {
  headers: { Cookie: session.cookie, ...(type ? { 'Content-Type': type } : {}), ...extra }, body,
});

const cases = [
  // Cookies
  ['forged session cookie', 303, false, () => request('GET', '/portal', { headers: withCookie(forgedId) }),
    (r) => r.headers.location === '/login'],
  ['session cookie that is SQL', 401, false,
    () => request('GET', '/identity/view', { headers: { Cookie: `${COOKIE}=' OR '1'='1` } })],
  ['session cookie that is a path', 401, false,
    () => request('GET', '/identity/view', { headers: { Cookie: `${COOKIE}=../../${identity.slice(6)}` } })],
  ['two different session cookies', 303, false,
    () => request('GET', '/portal', { headers: { Cookie: `${COOKIE}=${customer.id}; ${COOKIE}=${forgedId}` } })],
  ['a customer cookie on the take-identity pages', 401, false,
    () => request('GET', '/identity/view?page=dashboard', { headers: withCookie(customer.id) })],
  ['a customer cookie on the DPO pages', 303, false, () => request('GET', '/dpo', { headers: withCookie(customer.id) }),
    (r) => r.headers.location === '/login'],
  // A link from another site comes without the SameSite=Strict session
  // cookie; the page must not replace the one the browser holds.
  ['a cookieless GET /login sets no session cookie', 200, false, () => request('GET', '/login'),
    (r) => !cookiesSet(r).includes(`${COOKIE}=`)],
  ['a cookieless GET /identity/start sets no session cookie', 200, false, () => request('GET', '/identity/start'),
    (r) => !cookiesSet(r).includes(`${COOKIE}=`)],
  ['oversized Cookie header', 400, false,
    () => request('GET', '/portal', { headers: { Cookie: `${COOKIE}=${'a'.repeat(20000)}` } })],
  // Header injection
  ['bare CR inside a header', 400, false,
    () => raw(`GET /login HTTP/1.1\r\nHost: localhost\r\nCookie: a=b\rSet-Cookie: evil=1\r\nConnection: close\r\n\r\n`)],
  ['NUL inside a header', 400, false,
    () => raw(`GET /login HTTP/1.1\r\nHost: localhost\r\nCookie: ${COOKIE}=${customer.id}\0x\r\nConnection: close\r\n\r\n`)],
  ['CR/LF in a query parameter', 400, false,
    () => request('GET', '/portal?outcome=ALLOWED%0d%0aSet-Cookie:%20evil=1', { headers: withCookie(customer.id) }),
    (r) => !JSON.stringify(r.headers).includes('evil')],
  ['CR/LF in a login', 401, false,
    () => post('/login', other, `csrf=${other.csrf}&login=acme%0d%0aSet-Cookie:%20evil=1&password=x`),
    (r) => !JSON.stringify(r.headers).includes('evil')],
  // CSRF
  ['POST without a session', 403, false,
    () => request('POST', '/login', { headers: { 'Content-Type': FORM }, body: 'login=acme&password=x' })],
  ['POST without a CSRF token', 403, false, () => post('/login', other, 'login=acme&password=x')],
  ['forged CSRF token', 403, false, () => post('/login', other, `csrf=${'0'.repeat(64)}&login=acme&password=x`)],
  // A form cookie is only good with custos-web's own MAC: the same forged
  // value in the cookie and the form is no token.
  ['forged form cookie with a matching CSRF field', 403, false, () => {
    const forged = `${Math.floor(Date.now() / 1000) + 600}.${'ab'.repeat(16)}.${'cd'.repeat(32)}`;
    return request('POST', '/login', {
      headers: { Cookie: `__Host-custos-form=${forged}`, 'Content-Type': FORM },
      body: `csrf=${forged}&login=acme&password=x`,
    });
  }],
  // ... which is the token of that page, bound to the cookie: another
  // visitor's good form token, or one without its cookie, opens nothing.
  ['a link from another site, with the session and form cookies and the form token', 303, true, async () => {
    const page = await anonymous('/identity/start');
    return postHolding('/identity/exchange', linkHolder, page.cookie, page.csrf, { link_token: crossSiteLink });
  }, (r) => r.headers.location === '/identity/view?page=dashboard' && cookieOf(r) !== null],
  ['the sign-in page from another site, with the session and form cookies and the form token', 303, false, async () => {
    const page = await anonymous('/login');
    return postHolding('/login', signInHolder, page.cookie, page.csrf, { login: 'acme', password: logins.acme });
  }, (r) => r.headers.location === '/portal' && cookieOf(r) !== null],
  ['the session cookie and a form cookie with another visitor\'s form token', 403, false, async () => {
    const page = await anonymous('/identity/start');
    const theirs = await anonymous('/identity/start');
    return postHolding('/identity/exchange', customer, page.cookie, theirs.csrf, { link_token: strayLink });
  }],
  ['the session cookie and a good form token without its cookie', 403, false, async () => {
    const theirs = await anonymous('/identity/start');
    return postHolding('/identity/exchange', customer, null, theirs.csrf, { link_token: strayLink });
  }],
  ['CSRF token replayed from another session', 403, false,
    () => post('/portal/consent', customer, `csrf=${other.csrf}&partner=mailfix&consent=yes`)],
  ['CSRF token given twice', 400, false,
    () => post('/portal/consent', customer, `csrf=${customer.csrf}&csrf=${customer.csrf}&partner=mailfix&consent=yes`)],
  // Content types and bodies
  ['JSON body', 415, false,
    () => post('/portal/consent', customer, JSON.stringify({ csrf: customer.csrf, partner: 'mailfix' }), 'application/json')],
  ['multipart body', 415, false,
    () => post('/portal/consent', customer,
               `--x\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n${customer.csrf}\r\n--x--\r\n`,
               'multipart/form-data; boundary=x')],
  ['text/plain body holding a form', 415, false,
    () => post('/portal/consent', customer, `csrf=${customer.csrf}&partner=mailfix&consent=yes`, 'text/plain')],
  ['no content type', 415, false,
    () => post('/portal/consent', customer, `csrf=${customer.csrf}&partner=mailfix&consent=yes`, null)],
  ['form over 16 KiB', 413, false,
    () => post('/portal/consent', customer, `csrf=${customer.csrf}&partner=mailfix&pad=${'x'.repeat(20000)}`)],
  ['body over 64 KiB', 413, false,
    () => post('/portal/consent', customer, `csrf=${customer.csrf}&pad=${'x'.repeat(70000)}`)],
  ['bad %-escape', 400, false, () => post('/portal/consent', customer, `csrf=${customer.csrf}&partner=%zz`)],
  ['more than 64 fields', 400, false,
    () => post('/portal/consent', customer,
               `csrf=${customer.csrf}&${Array.from({ length: 70 }, (_, i) => `f${i}=1`).join('&')}`)],
  // Sign-in
  ['login that is SQL', 401, false, () => post('/login', other, `csrf=${other.csrf}&login=acme'%20OR%20'1'='1&password=x`)],
  ['login in invalid UTF-8', 401, false, () => post('/login', other, `csrf=${other.csrf}&login=%ff%fe&password=x`)],
  // The single-use link
  ['forged link token', 403, true, () => exchange(`lt_${'0'.repeat(32)}`)],
  ['replayed link token', 403, true, () => exchange(usedLink)],
  ['link token that is a path', 400, false, () => exchange('lt_..%2f..%2fetc%2fpasswd')],
  ['oversized link token', 400, false, () => exchange(`lt_${'a'.repeat(5000)}`)],
  ['link token with CR/LF', 400, false, () => exchange('lt_00ac%0d%0aSet-Cookie:%20evil=1')],
  ['session token instead of a link token', 400, false, () => exchange(`st_${'0'.repeat(32)}`)],
  // Take-identity pages
  ['page path traversal', 400, true,
    () => request('GET', '/identity/view?page=..%2f..%2fetc%2fpasswd', { headers: withCookie(identity) })],
  ['page record id that is SQL', 400, true,
    () => request('GET', "/identity/view?page=subscribers%2fx'%20OR%20'1'='1", { headers: withCookie(identity) })],
  ['oversized page token', 400, true,
    () => request('GET', `/identity/view?page=subscribers&page_token=r${'z'.repeat(5000)}`, { headers: withCookie(identity) })],
  // Portal queries and actions
  ['unknown outcome filter', 400, false, () => request('GET', '/portal?outcome=DROP', { headers: withCookie(customer.id) })],
  ['negative page size', 400, false, () => request('GET', '/portal?page_size=-1', { headers: withCookie(customer.id) })],
  ['overflowing page size', 400, false,
    () => request('GET', '/portal?page_size=99999999999999999999', { headers: withCookie(customer.id) })],
  ['impossible day', 400, false, () => request('GET', '/portal?from=2026-13-45', { headers: withCookie(customer.id) })],
  ['partner that is SQL', 400, true,
    () => post('/portal/consent', customer, `csrf=${customer.csrf}&partner=mailfix'%3b%20DROP%20TABLE%20consents&consent=yes`)],
  ['request id that is a path', 400, true,
    () => post('/portal/decide', customer, `csrf=${customer.csrf}&request_id=p_..%2f..%2fx&approve=yes`)],
  ['a customer revoking a grant on the DPO page', 303, false,
    () => post('/dpo/revoke-grant', customer, `csrf=${customer.csrf}&grant_id=g_${'0'.repeat(32)}`),
    (r) => r.headers.location === '/login'],
  // Ranges: cpp-httplib 0.11.4 built a copy of the body for each range asked
  // (this one made 20 MB of the 7.5 KB script); every answer is whole.
  ['a Range of 2,700 ranges of a script', 200, false,
    () => request('GET', '/static/verify.js', { headers: { Range: `bytes=${Array(2700).fill('0-').join(',')}` } }),
    (r) => r.headers['content-type'] === 'text/javascript; charset=utf-8' && r.body.length < 64 * 1024],
  ['a Range of 2,700 ranges of a page', 200, false,
    () => request('GET', '/login', { headers: { Range: `bytes=${Array(2700).fill('0-').join(',')}` } }),
    (r) => r.headers['content-type'] === 'text/html; charset=utf-8' && r.body.length < 64 * 1024],
  ['a Range of one range', 200, false,
    () => request('GET', '/static/verify.js', { headers: { Range: 'bytes=0-9' } }),
    (r) => r.body.length > 10 && !r.headers['content-range']],
  // Paths
  ['static path traversal', 404, false, () => request('GET', '/static/..%2f..%2f..%2fetc%2fpasswd')],
  ['URI over 16 KiB', 414, false, () => request('GET', `/portal?category=${'c'.repeat(20000)}`, { headers: withCookie(customer.id) })],
];

const results = [];
for (const [name, want, logged, send, extra] of cases) {
  await runCase(results, name, async () => {
    let message = '';
    const before = logSize();
    const res = await send();
    const delta = logSize() - before;
    // The listing that reads the size is logged too: one entry, or two when
    // custosd logged the case itself.
    if (res.status !== want) message += `status ${res.status}, want ${want}: ${String(res.body).slice(0, 300)}\n`;
    if (delta !== (logged ? 2 : 1)) message += `log grew by ${delta}, want ${logged ? 2 : 1}\n`;
    if (extra && !extra(res)) message += `check failed: ${JSON.stringify(res.headers)}\n`;
    return message;
  }, ` (${want}${logged ? ', logged' : ''})`);
}

// Still serving: the customer's portal and the engineer's session work.
const after = [
  ['the customer portal still serves', () => request('GET', '/portal', { headers: withCookie(customer.id) })],
  ['the engineer session still serves', () => request('GET', '/identity/view?page=dashboard', { headers: withCookie(identity) })],
];
for (const [name, send] of after) {
  await runCase(results, name, async () => {
    const res = await send();
    return res.status === 200 ? '' : `status ${res.status}: ${res.body.slice(0, 300)}`;
  });
}

const failed = results.filter((r) => !r.ok).length;
console.log(`${cases.length} hostile cases; ${results.length - failed} passed, ${failed} failed`);
writeResults('web_hostile', results);
process.exit(failed ? 1 : 0);
