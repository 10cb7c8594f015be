// custos-web's limits on what one client may make it hold, over real TLS
// (no browser): bodies cpp-httplib would read without a bound (chunked,
// without a length, compressed), endless request lines, bodies it would not
// read at all; each answered while custos-web's peak memory (VmHWM) grows
// by less than 16 MiB; a request hidden in an unread body is never run, and
// a connection that ends normally ends with TLS's close_notify. And slow
// clients: a connection gone quiet is closed, and trickling ones do not take
// every worker. Started by web_e2e_test.sh
// (tests/BUILD.bazel's web_limits_test); writes one JUnit test case per case
// to $XML_OUTPUT_FILE.
import { spawnSync } from 'node:child_process';
import https from 'node:https';
import tls from 'node:tls';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import {
  FORM, anonymous, cookiesSet, csrfOf, postSignIn, raw, request, runCase, web, writeResults,
} from './client.mjs';

const MiB = 1 << 20;

// custos-web's process: the one serving this test's data directory.
const webPid = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
  try {
    const args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    return args[0].endsWith('custos-web') && args.includes(process.env.CUSTOS_DATA);
  } catch {
    return false;
  }
});
if (!webPid) throw new Error('custos-web not found in /proc');
const peakKiB = () => Number(readFileSync(`/proc/${webPid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)[1]);

function* repeat(piece, times) {
  for (let i = 0; i < times; i++) yield piece;
}
const head = (lines) => `${lines.join('\r\n')}\r\n\r\n`;
const chunk = 'a'.repeat(MiB);

// The status `send` must get, with custos-web's peak memory grown by less
// than 16 MiB and a sign-in page still served after it; '' when all hold.
async function bounded(want, send) {
  let message = '';
  const before = peakKiB();
  const res = await send();
  const grown = peakKiB() - before;
  if (res.status !== want) message += `status ${res.status}, want ${want}: ${res.body.slice(0, 300)}\n`;
  if (grown >= 16 * 1024) message += `custos-web's peak memory grew by ${grown} KiB\n`;
  const page = await request('GET', '/login');
  if (page.status !== 200) message += `then GET /login answered ${page.status}\n`;
  return message;
}

// A connection that sends the start of a request's headers, then one more
// byte every `everyMs` (never, for 0). `closed` resolves, once the server
// has closed it, to the milliseconds since the last byte it sent.
function slowHeaders(everyMs = 0) {
  let last = Date.now();
  let timer;
  const socket = tls.connect({ host: web.hostname, port: Number(web.port), rejectUnauthorized: false }, () => {
    socket.write('GET /login HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    last = Date.now();
    if (everyMs) timer = setInterval(() => { socket.write('a'); last = Date.now(); }, everyMs);
  });
  socket.on('error', () => {});
  socket.on('data', () => {}); // reading, so the server's close is seen
  const closed = new Promise((resolve) => socket.on('close', () => {
    clearInterval(timer);
    resolve(Date.now() - last);
  }));
  return { socket, closed };
}

// A signed-in customer's sign-out, hidden in the body of a request refused
// before its body is read (`outer(hidden)` gives that request's head lines
// but Host and Cookie); '' when the refusal is a 400 and the customer is
// still signed in afterwards.
async function hiddenSignOut(outer) {
  const signedIn = await postSignIn(await anonymous(), 'acme');
  if (signedIn.status !== 303) return `sign-in answered ${signedIn.status}`;
  const cookie = cookiesSet(signedIn);
  const portal = await request('GET', '/portal', { headers: { Cookie: cookie } });
  const form = new URLSearchParams({ csrf: csrfOf(portal.body) }).toString();
  const hidden = head(['POST /logout HTTP/1.1', 'Host: localhost', `Cookie: ${cookie}`,
                       `Content-Type: ${FORM}`, `Content-Length: ${form.length}`]) + form;
  const [line, ...rest] = outer(hidden);
  // The body in a TLS record of its own, which waits in the socket, unread,
  // and keeps cpp-httplib reading the connection after its answer.
  const res = await raw(head([line, 'Host: localhost', `Cookie: ${cookie}`, ...rest]), { body: [hidden] });
  const after = await request('GET', '/portal', { headers: { Cookie: cookie } });
  let message = '';
  if (res.status !== 400) message += `the outer request answered ${res.status}\n`;
  if (after.status !== 200) message += `then GET /portal answered ${after.status}: the hidden sign-out ran\n`;
  return message;
}

const cases = [
  ['a chunked POST /login of 64 MiB before any sign-in is refused unread', () => bounded(411, () => raw(
    head(['POST /login HTTP/1.1', 'Host: localhost', 'Content-Type: application/x-www-form-urlencoded',
          'Transfer-Encoding: chunked']),
    { body: [...repeat(`${MiB.toString(16)}\r\n${chunk}\r\n`, 64), '0\r\n\r\n'] }))],
  ['a POST of 64 MiB without a Content-Length is refused unread', () => bounded(411, () => raw(
    head(['POST /login HTTP/1.1', 'Host: localhost', 'Content-Type: application/x-www-form-urlencoded']),
    { body: repeat(chunk, 64) }))],
  ['a gzip body that inflates to 64 MiB is refused unread', () => {
    const bomb = gzipSync(Buffer.alloc(64 * MiB, 'a'));
    return bounded(415, () => raw(
      head(['POST /login HTTP/1.1', 'Host: localhost', 'Content-Type: application/x-www-form-urlencoded',
            'Content-Encoding: gzip', `Content-Length: ${bomb.length}`]), { body: [bomb.toString('latin1')] }));
  }],
  // No answer: the connection is cut once it has sent 1 MiB.
  ['a request line of 64 MiB is cut off', () => bounded(0, () => raw('GET /', { body: repeat(chunk, 64) }))],
  ['a GET whose body is another request gets one answer', () => bounded(400, async () => {
    const hidden = head(['GET /static/style.css HTTP/1.1', 'Host: localhost']);
    const res = await raw(head(['GET /login HTTP/1.1', 'Host: localhost', `Content-Length: ${hidden.length}`]) + hidden);
    const answers = res.body.match(/HTTP\/1\.1 \d{3}/g).length;
    if (answers !== 1) res.status = `${answers} answers`;
    return res;
  })],
  // cpp-httplib took the unread body for a next request and ran its handler
  // (its answer then failed on a connection closed for writing).
  ['a request hidden in a refused GET\'s body is not run', () => hiddenSignOut((hidden) => [
    'GET /portal HTTP/1.1', `Content-Length: ${hidden.length}`])],
  ['a request hidden in the body of a POST refused for a header is not run', () => hiddenSignOut((hidden) => [
    'POST /portal HTTP/1.1', 'X-Note: a\x01b', `Content-Type: ${FORM}`, `Content-Length: ${hidden.length}`])],
  // cpp-httplib closes a connection after a response it marks
  // `Connection: close`; custos-web shut every such connection for writing
  // first, so its TLS close_notify never went out and a strict client saw
  // the answer as truncated.
  ['a connection that asked to close ends with a TLS close_notify', () => {
    const out = spawnSync('openssl', ['s_client', '-4', '-connect', `${web.hostname}:${web.port}`, '-quiet', '-ign_eof'], {
      input: head(['GET /login HTTP/1.1', 'Host: localhost', 'Connection: close']), encoding: 'latin1', timeout: 10000,
    });
    let message = '';
    if (!out.stdout.startsWith('HTTP/1.1 200')) message += `answered ${out.stdout.slice(0, 100)}\n`;
    if (out.status !== 0 || /unexpected eof/.test(out.stderr)) {
      message += `openssl s_client exited ${out.status}: ${out.stderr.split('\n').filter((l) => /error/.test(l)).join(' ')}\n`;
    }
    return message;
  }],
  ['a PUT is refused unread', () => bounded(405, () => raw(
    head(['PUT /login HTTP/1.1', 'Host: localhost', `Content-Length: ${MiB}`]), { body: ['x'] }))],
  // cpp-httplib answers 400 once a read has waited the read timeout, then
  // waits the keep-alive timeout for a next request: 3 s each here, 5 s each
  // by cpp-httplib's default.
  ['a connection gone quiet in its headers is closed after 3 s and 3 s', async () => {
    const quiet = await slowHeaders().closed;
    return quiet < 8000 ? '' : `closed ${quiet} ms after its last byte`;
  }],
  // More than cpp-httplib's default pool of max(8, cores - 1) workers.
  ['a sign-in page is served while 24 connections trickle their headers', async () => {
    const slow = Array.from({ length: 24 }, () => slowHeaders(1000));
    let open = slow.length;
    for (const s of slow) s.closed.then(() => { open--; });
    await sleep(1500);
    const page = await Promise.race([request('GET', '/login'), sleep(8000).then(() => ({ status: 'none in 8 s' }))]);
    const stillOpen = open;
    for (const s of slow) s.socket.destroy();
    if (page.status !== 200) return `GET /login answered ${page.status}`;
    return stillOpen === slow.length ? '' : `answered only once ${slow.length - stillOpen} slow connections had closed`;
  }],
  // custos-web once kept 10,000 anonymous sessions, the oldest forgotten
  // first: this many page loads pushed out a visitor's sign-in form.
  ['10,050 anonymous page loads leave a pending sign-in form good', async () => {
    const pending = await anonymous();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 16 });
    let sent = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (sent < 10050) {
        sent++;
        const page = await request('GET', '/login', { agent });
        if (page.status !== 200) throw new Error(`GET /login answered ${page.status}`);
      }
    }));
    agent.destroy();
    const res = await postSignIn(pending, 'acme');
    return res.status === 303 ? '' : `sign-in answered ${res.status}: ${res.body.slice(0, 300)}`;
  }],
  // Last: it uses up this address's sign-ins for 15 minutes.
  ['of 20 wrong passwords posted at once, at most 5 are checked', async () => {
    const visitor = await anonymous();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => postSignIn(visitor, 'acme', `wrong-${i}`)));
    const statuses = answers.map((r) => r.status);
    const checked = statuses.filter((s) => s === 401).length;
    const refused = statuses.filter((s) => s === 429).length;
    return checked === 5 && checked + refused === 20 ? '' : `answered ${statuses.join(' ')}`;
  }],
];

const results = [];
for (const [name, check] of cases) await runCase(results, name, check);

const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length} limit cases; ${results.length - failed} passed, ${failed} failed`);
writeResults('web_limits', results);
process.exit(failed ? 1 : 0);
