// custos-web behind a reverse proxy, over real TLS (no browser): started
// with --trusted_proxies=127.0.0.1, it takes the browser's address from the
// X-Forwarded-For of requests from 127.0.0.1 (this test as the proxy) for
// its sign-in limit and for the address custosd places calls at; a client
// it does not trust (this test from 127.0.0.2) cannot choose its address
// with the header. Addresses are the policy's demo networks: 198.51.100.0/24
// is a Berlin hotel (DE), loopback is NL, 203.0.113.0/24 and 2001:db8:99::/48
// are placed nowhere.
// Started by web_e2e_test.sh (tests/BUILD.bazel's web_proxy_test); writes
// one JUnit test case per case to $XML_OUTPUT_FILE.
import https from 'node:https';
import {
  FORM, SESSION_COOKIE, anonymous, cookiesSet, logins, request, runCase, writeResults,
} from './client.mjs';

// Every loopback address is this machine's: connecting from 127.0.0.2 makes
// the test a peer custos-web does not trust.
const untrusted = new https.Agent({ localAddress: '127.0.0.2' });

// A request from 127.0.0.1 (trusted), or with `from` an agent, carrying
// `forwardedFor` (a list, one X-Forwarded-For header each) when given.
function requestVia(method, path, { forwardedFor = [], from = false, headers = {}, body } = {}) {
  const all = { ...headers };
  if (forwardedFor.length) all['X-Forwarded-For'] = forwardedFor;
  return request(method, path, { headers: all, body, agent: from });
}

// A sign-in posted for `login` with `password`.
async function signIn(login, password, options) {
  const visitor = await anonymous();
  return requestVia('POST', '/login', {
    ...options,
    headers: { Cookie: visitor.cookie, 'Content-Type': FORM },
    body: new URLSearchParams({ csrf: visitor.csrf, login, password }).toString(),
  });
}

// Five wrong passwords, each for a login no one has (so that no real
// login's own limit is reached); '' when each was refused as wrong.
async function failFiveTimes(options, tag) {
  let message = '';
  for (let i = 0; i < 5; i++) {
    const res = await signIn(`nobody-${tag}-${i}`, 'wrong', options);
    if (res.status !== 401) message += `wrong password ${i + 1} answered ${res.status}\n`;
  }
  return message;
}

// The "from" column (the country custosd placed the call at) of the newest
// entry of the customer's own calls in their access log, as `options` sees
// /portal (read twice: the first read is the call the second one shows).
async function ownCallPlacedAt(cookie, options) {
  const first = await requestVia('GET', '/portal', { ...options, headers: { Cookie: cookie } });
  if (first.status !== 200) return `GET /portal answered ${first.status}`;
  const page = await requestVia('GET', '/portal', { ...options, headers: { Cookie: cookie } });
  const rows = [...page.body.matchAll(/<tr><td>(\d+)<\/td>(.*?)<\/tr>/g)]
    .map(([, index, cells]) => ({ index: Number(index), cells: [...cells.matchAll(/<td>(.*?)<\/td>/g)].map((m) => m[1]) }))
    .filter((r) => r.cells[1] === 'you via custos-web');
  if (!rows.length) return `no entry of the customer's own calls in: ${page.body.slice(0, 2000)}`;
  rows.sort((a, b) => b.index - a.index);
  return rows[0].cells[2];
}

const results = [];
const run = (name, check) => runCase(results, name, check);

await run('a trusted proxy\'s forwarded address is counted in the sign-in limit, not the proxy\'s', async () => {
  const lockedOut = ['203.0.113.5'];
  let message = await failFiveTimes({ forwardedFor: lockedOut }, 'a');
  const again = await signIn('acme', logins.acme, { forwardedFor: lockedOut });
  if (again.status !== 429) message += `a good password from the locked-out address answered ${again.status}\n`;
  // The proxy's other clients, and the proxy itself, are not locked out.
  const other = await signIn('acme', logins.acme, { forwardedFor: ['203.0.113.6'] });
  if (other.status !== 303) message += `a sign-in forwarded for another address answered ${other.status}\n`;
  const proxy = await signIn('acme', logins.acme);
  if (proxy.status !== 303) message += `a sign-in from the proxy itself answered ${proxy.status}\n`;
  return message;
});

// One IPv6 host commonly holds a whole /64: its addresses share one count.
await run('an IPv6 /64 is counted as one address in the sign-in limit', async () => {
  let message = await failFiveTimes({ forwardedFor: ['2001:db8:77:1::1'] }, 'v6');
  const sameBlock = await signIn('acme', logins.acme, { forwardedFor: ['2001:db8:77:1:ffff::9'] });
  if (sameBlock.status !== 429) message += `a sign-in from elsewhere in the /64 answered ${sameBlock.status}\n`;
  const nextBlock = await signIn('acme', logins.acme, { forwardedFor: ['2001:db8:77:2::1'] });
  if (nextBlock.status !== 303) message += `a sign-in from the next /64 answered ${nextBlock.status}\n`;
  return message;
});

await run('the right-most address a trusted proxy did not write is the one counted', async () => {
  // What the client put in the header itself is left of the address the
  // proxy appended: it neither locks out nor frees anyone.
  const real = '203.0.113.7';
  let message = await failFiveTimes({ forwardedFor: [`203.0.113.8, ${real}`] }, 'b');
  const chosen = await signIn('acme', logins.acme, { forwardedFor: [`203.0.113.9, ${real}`] });
  if (chosen.status !== 429) message += `naming another address before the real one answered ${chosen.status}\n`;
  // Two headers, the proxy's last, and a chain through the proxy itself.
  const split = await signIn('acme', logins.acme, { forwardedFor: ['203.0.113.9', `${real}, 127.0.0.1`] });
  if (split.status !== 429) message += `the real address in a second header answered ${split.status}\n`;
  const named = await signIn('acme', logins.acme, { forwardedFor: ['203.0.113.8'] });
  if (named.status !== 303) message += `the address the client named answered ${named.status}\n`;
  return message;
});

await run('a client not trusted cannot choose its address with X-Forwarded-For', async () => {
  const from = untrusted;
  let message = await failFiveTimes({ from, forwardedFor: ['203.0.113.10'] }, 'c');
  const chosen = await signIn('acme', logins.acme, { from, forwardedFor: ['203.0.113.11'] });
  if (chosen.status !== 429) message += `naming another address answered ${chosen.status}: the header was believed\n`;
  const without = await signIn('acme', logins.acme, { from });
  if (without.status !== 429) message += `without the header answered ${without.status}\n`;
  // Its failures counted against 127.0.0.2, not the addresses it named.
  const named = await signIn('acme', logins.acme, { forwardedFor: ['203.0.113.10'] });
  if (named.status !== 303) message += `the address it named, forwarded by the proxy, answered ${named.status}\n`;
  return message;
});

await run('a trusted proxy\'s X-Forwarded-For that is not addresses is refused with 400 naming it', async () => {
  let message = '';
  // (cpp-httplib drops a header with an empty value: that one is missing.)
  for (const bad of [['client.example'], ['203.0.113.12:4711'], ['203.0.113.12,'], ['203.0.113.12', 'unknown']]) {
    const res = await requestVia('GET', '/login', { forwardedFor: bad });
    if (res.status !== 400 || !res.body.includes('X-Forwarded-For: ')) {
      message += `${JSON.stringify(bad)} answered ${res.status}: ${res.body.slice(0, 300)}\n`;
    }
  }
  // A POST so refused is not signed in, and its body is not taken for a
  // request of its own.
  const visitor = await anonymous();
  const post = await requestVia('POST', '/login', {
    forwardedFor: ['client.example'],
    headers: { Cookie: visitor.cookie, 'Content-Type': FORM },
    body: new URLSearchParams({ csrf: visitor.csrf, login: 'acme', password: logins.acme }).toString(),
  });
  if (post.status !== 400 || cookiesSet(post).includes(`${SESSION_COOKIE}=`)) {
    message += `a sign-in with it answered ${post.status}, cookies ${cookiesSet(post)}\n`;
  }
  // Left of the address the proxy appended, it is the client's: not read.
  const clients = await requestVia('GET', '/login', { forwardedFor: ['client.example, 203.0.113.12'] });
  if (clients.status !== 200) message += `garbage the client wrote answered ${clients.status}\n`;
  const fromUntrusted = await requestVia('GET', '/login', { from: untrusted, forwardedFor: ['client.example'] });
  if (fromUntrusted.status !== 200) message += `from a client not trusted it answered ${fromUntrusted.status}\n`;
  return message;
});

await run('custosd places calls at the forwarded address, and a client not trusted at its own', async () => {
  const signedIn = await signIn('bakkerij-jansen', logins['bakkerij-jansen'], { forwardedFor: ['198.51.100.7'] });
  if (signedIn.status !== 303) return `sign-in answered ${signedIn.status}`;
  const cookie = cookiesSet(signedIn);
  let message = '';
  const hotel = await ownCallPlacedAt(cookie, { forwardedFor: ['198.51.100.7'] });
  if (hotel !== 'DE') message += `forwarded for a Berlin hotel, the call was placed at ${hotel}\n`;
  const unplaced = await ownCallPlacedAt(cookie, { forwardedFor: ['2001:db8:99::1'] });
  if (unplaced !== 'unplaced') message += `forwarded for an address in no network, the call was placed at ${unplaced}\n`;
  const chosen = await ownCallPlacedAt(cookie, { from: untrusted, forwardedFor: ['198.51.100.7'] });
  if (chosen !== 'NL') message += `a client not trusted naming a Berlin hotel was placed at ${chosen}, not loopback's NL\n`;
  return message;
});

writeResults('web_proxy', results);
if (results.some((r) => !r.ok)) process.exit(1);
