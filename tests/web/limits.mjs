// custos-web's limits on what one client may make it hold, over real TLS
// (no browser): bodies cpp-httplib would read without a bound (chunked,
// without a length, compressed), endless request lines, bodies it would not
// read at all. Each case checks the answer, that custos-web's peak memory
// (VmHWM) grew by less than 16 MiB, and that it still serves a sign-in page.
// Started by web_e2e_test.sh (tests/BUILD.bazel's web_limits_test); writes
// one JUnit test case per case to $XML_OUTPUT_FILE.
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { raw, request, runCase, writeResults } from './client.mjs';

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

const cases = [
  ['a chunked POST /login of 64 MiB before any sign-in is refused unread', 411, () => raw(
    head(['POST /login HTTP/1.1', 'Host: localhost', 'Content-Type: application/x-www-form-urlencoded',
          'Transfer-Encoding: chunked']),
    { body: [...repeat(`${MiB.toString(16)}\r\n${chunk}\r\n`, 64), '0\r\n\r\n'] })],
  ['a POST of 64 MiB without a Content-Length is refused unread', 411, () => raw(
    head(['POST /login HTTP/1.1', 'Host: localhost', 'Content-Type: application/x-www-form-urlencoded']),
    { body: repeat(chunk, 64) })],
  ['a gzip body that inflates to 64 MiB is refused unread', 415, () => {
    const bomb = gzipSync(Buffer.alloc(64 * MiB, 'a'));
    return raw(head(['POST /login HTTP/1.1', 'Host: localhost', 'Content-Type: application/x-www-form-urlencoded',
                     'Content-Encoding: gzip', `Content-Length: ${bomb.length}`]), { body: [bomb.toString('latin1')] });
  }],
  // No answer: the connection is cut once it has sent 1 MiB.
  ['a request line of 64 MiB is cut off', 0, () => raw('GET /', { body: repeat(chunk, 64) })],
  ['a GET whose body is another request gets one answer', 400, async () => {
    const hidden = head(['GET /static/style.css HTTP/1.1', 'Host: localhost']);
    const res = await raw(head(['GET /login HTTP/1.1', 'Host: localhost', `Content-Length: ${hidden.length}`]) + hidden);
    const answers = res.body.match(/HTTP\/1\.1 \d{3}/g).length;
    if (answers !== 1) res.status = `${answers} answers`;
    return res;
  }],
  ['a PUT is refused unread', 405, () => raw(
    head(['PUT /login HTTP/1.1', 'Host: localhost', `Content-Length: ${MiB}`]), { body: ['x'] })],
];

const results = [];
for (const [name, want, send] of cases) {
  await runCase(results, name, async () => {
    let message = '';
    const before = peakKiB();
    const res = await send();
    const grown = peakKiB() - before;
    if (res.status !== want) message += `status ${res.status}, want ${want}: ${res.body.slice(0, 300)}\n`;
    if (grown >= 16 * 1024) message += `custos-web's peak memory grew by ${grown} KiB\n`;
    const page = await request('GET', '/login');
    if (page.status !== 200) message += `then GET /login answered ${page.status}\n`;
    return message;
  });
}

const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length} limit cases; ${results.length - failed} passed, ${failed} failed`);
writeResults('web_limits', results);
process.exit(failed ? 1 : 0);
