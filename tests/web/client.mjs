// What the web tests without a browser share: custos-web's address and demo
// logins, one HTTPS request over real TLS, and their JUnit results file.
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync, writeFileSync } from 'node:fs';

export const web = new URL(process.env.WEB_URL);
export const logins = Object.fromEntries(readFileSync(`${process.env.CUSTOS_DATA}/web/demo_logins`, 'utf8')
  .split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(' ')));
export const FORM = 'application/x-www-form-urlencoded';

// One request; never follows redirects. `headers` are sent as given; a new
// connection each time unless an `agent` is given.
export function request(method, path, { headers = {}, body, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: web.hostname, port: web.port, method, path, headers, rejectUnauthorized: false, agent,
    }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    // Given to end(), the body goes with a Content-Length, as a browser sends
    // it (write() would send it chunked).
    req.end(body);
  });
}

function drainedOrClosed(socket) {
  return new Promise((resolve) => {
    const go = () => {
      socket.off('drain', go);
      socket.off('close', go);
      resolve();
    };
    socket.on('drain', go);
    socket.on('close', go);
  });
}

export const SESSION_COOKIE = '__Host-custos-session';

// The Cookie header a browser sends back after `res`: each cookie it set.
export const cookiesSet = (res) => [].concat(res.headers['set-cookie'] || []).map((c) => c.split(';')[0]).join('; ');
// The CSRF token of a page's first form.
export const csrfOf = (html) => html.match(/name="csrf" value="([^"]+)"/)[1];

// A visitor who has not signed in, after a GET of `path`: the Cookie header
// their browser then sends and the CSRF token of the page's form.
export async function anonymous(path = '/login') {
  const res = await request('GET', path);
  return { cookie: cookiesSet(res), csrf: csrfOf(res.body) };
}

// `visitor`'s sign-in form, posted for `login` with `password`.
export function postSignIn(visitor, login, password = logins[login]) {
  return request('POST', '/login', {
    headers: { Cookie: visitor.cookie, 'Content-Type': FORM },
    body: new URLSearchParams({ csrf: visitor.csrf, login, password }).toString(),
  });
}

// Raw bytes over TLS, for what an HTTP client refuses to send: `head`, then
// each string `body` yields while the connection is open. Resolves once the
// connection has closed (or been quiet for `timeout` ms) to the status of the
// first answer (0 when there was none) and all that came back.
export function raw(head, { body = [], timeout = 5000 } = {}) {
  return new Promise((resolve) => {
    let data = '';
    const socket = tls.connect({ host: web.hostname, port: Number(web.port), rejectUnauthorized: false }, async () => {
      socket.write(head);
      for (const piece of body) {
        if (socket.destroyed || socket.writableEnded) break;
        if (!socket.write(piece)) await drainedOrClosed(socket);
      }
    });
    socket.setEncoding('latin1');
    socket.on('data', (c) => { data += c; });
    socket.on('error', () => {});
    socket.setTimeout(timeout, () => socket.destroy());
    socket.on('close', () => {
      const m = data.match(/^HTTP\/1\.[01] (\d{3})/);
      resolve({ status: m ? Number(m[1]) : 0, body: data });
    });
  });
}

// Runs one test case: `check` resolves to what went wrong ('' for nothing)
// or throws. Its result goes to `results` and the console (with `detail`).
export async function runCase(results, name, check, detail = '') {
  const started = Date.now();
  let message;
  try {
    message = await check();
  } catch (err) {
    message = String(err.stack || err);
  }
  results.push({ name, ok: !message, message, seconds: (Date.now() - started) / 1000 });
  console.log(`${message ? 'FAIL' : 'PASS'} ${name}${detail}${message ? `\n${message}` : ''}`);
}

// Writes results ({name, ok, message, seconds}) as a JUnit suite to
// $XML_OUTPUT_FILE, where Bazel looks for them.
export function writeResults(suite, results) {
  if (!process.env.XML_OUTPUT_FILE) return;
  const failed = results.filter((r) => !r.ok).length;
  const esc = (s) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' }[c]));
  writeFileSync(process.env.XML_OUTPUT_FILE, `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="${suite}" tests="${results.length}" failures="${failed}">\n${
    results.map((r) => `<testcase name="${esc(r.name)}" time="${r.seconds}">${r.ok ? '' : `<failure message="${esc(r.message)}"/>`}</testcase>`).join('\n')
  }\n</testsuite></testsuites>\n`);
}
