// Browser tests of custos-web: headless Chromium (Debian's, no download)
// driven by playwright-core, against a real custosd and custos-web that
// web_e2e_test.sh started. Writes one JUnit test case per scenario to
// $XML_OUTPUT_FILE and screenshots of the main pages to
// $TEST_UNDECLARED_OUTPUTS_DIR (or $CUSTOS_SCREENSHOTS).
import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const web = process.env.WEB_URL;
const custos = process.env.CUSTOS_CLI;
const dataDir = process.env.CUSTOS_DATA;
const shots = process.env.TEST_UNDECLARED_OUTPUTS_DIR || process.env.CUSTOS_SCREENSHOTS || '/tmp/custos-web-screenshots';
mkdirSync(shots, { recursive: true });

const logins = Object.fromEntries(readFileSync(`${dataDir}/web/demo_logins`, 'utf8')
  .split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(' ')));

function cli(...args) {
  return execFileSync(custos, args, { encoding: 'utf8' });
}

// A fresh single-use link for anna.support on acme, pointed at this custos-web.
function startSession(extra = [], { category = 'support', ref = 'SUP-1042' } = {}) {
  const out = cli('--as', 'anna.support', 'identity', 'start', '--customer', 'acme',
                  '--user', 'acme.owner', '--category', category, '--ref', ref, ...extra);
  const link = new URL(out.match(/(https:\/\/\S+)/)[1]);
  const session = out.match(/^(s_[0-9a-f]+)/m)[1];
  return { url: `${web}${link.pathname}${link.hash}`, session };
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

async function signIn(context, login) {
  const page = await context.newPage();
  await page.goto(`${web}/login`);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', logins[login]);
  await Promise.all([page.waitForNavigation(), page.click('#login button[type=submit]')]);
  return page;
}

// custosd, which the outage scenarios stop and start again on its port,
// with custosdArgs (the policy scenario's --policy) and its output in
// custosdLog.
let custosdPid = Number(process.env.CUSTOSD_PID);
let restarted = null;
let custosdArgs = [];
let custosdLog = null;

// Dead or a zombie (web_e2e_test.sh, its parent, reaps it only at the end).
function gone(pid) {
  const stat = `/proc/${pid}/stat`;
  return !existsSync(stat) || readFileSync(stat, 'utf8').split(') ')[1].startsWith('Z');
}

// Until every thread of `pid` is stopped (state T in /proc/<pid>/task/*/stat).
async function untilStopped(pid) {
  const stopped = () => {
    try {
      return readdirSync(`/proc/${pid}/task`).every(
          (task) => readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8').split(') ')[1].startsWith('T'));
    } catch {
      return false;  // A thread ended while being read: look again.
    }
  };
  for (let i = 0; i < 100 && !stopped(); i++) await sleep(50);
  expect(stopped(), `custosd (${pid}) did not stop on SIGSTOP`);
}

async function stopCustosd() {
  process.kill(custosdPid, 'SIGTERM');
  for (let i = 0; i < 100 && !gone(custosdPid); i++) await sleep(100);
  expect(gone(custosdPid), 'custosd did not stop');
}

async function startCustosd() {
  const log = `${process.env.TEST_TMPDIR}/custosd-${Date.now()}.out`;
  custosdLog = log;
  const out = openSync(log, 'w');
  restarted = spawn(process.env.CUSTOSD, ['--data_dir', dataDir, '--listen', `127.0.0.1:${process.env.CUSTOS_SERVER.split(':')[1]}`,
                                          '--metrics_listen', '', ...custosdArgs], { stdio: ['ignore', out, out] });
  custosdPid = restarted.pid;
  for (let i = 0; i < 100 && !readFileSync(log, 'utf8').includes('serving on port'); i++) await sleep(100);
  expect(readFileSync(log, 'utf8').includes('serving on port'), `custosd did not start again: ${readFileSync(log, 'utf8')}`);
}

// Runs `body` with custosd stopped, then starts it again.
async function withCustosdStopped(body) {
  await stopCustosd();
  try {
    await body();
  } finally {
    await startCustosd();
  }
}

// custosd's policy, from the file it was started with (custosdArgs), with
// loopback placed in `country`: "DE" makes every call from this host abroad.
const policyFile = `${process.env.TEST_TMPDIR}/policy.textproto`;
async function placeLoopbackIn(country) {
  const policy = readFileSync(`${process.env.TEST_SRCDIR}/custos/policy/default_policy.textproto`, 'utf8');
  const placed = policy.replace('cidr: "127.0.0.0/8" country: "NL"', `cidr: "127.0.0.0/8" country: "${country}"`);
  expect(placed !== policy || country === 'NL', 'no loopback network in the default policy');
  writeFileSync(policyFile, placed);
  const reloads = () => (readFileSync(custosdLog, 'utf8').match(/policy reloaded/g) || []).length;
  const before = reloads();
  process.kill(custosdPid, 'SIGHUP');
  for (let i = 0; i < 100 && reloads() === before; i++) await sleep(50);
  expect(reloads() > before, `policy not reloaded: ${readFileSync(custosdLog, 'utf8').slice(-600)}`);
}

// Each of anna.support's take-identity sessions by id, with its state
// (SESSION_LIVE, SESSION_ENDED...), as custosd has it.
function sessionStates() {
  const out = JSON.parse(cli('--as', 'anna.support', '--output', 'json', 'identity', 'list', '--page_size', '500'));
  return Object.fromEntries((out.sessions || []).map((x) => [x.session_id, x.state]));
}

// `load` again while custos-web has not reconnected (gRPC waits between
// attempts to reach a server that was gone).
async function untilServed(load) {
  let response = await load();
  for (let i = 0; i < 60 && response.status() === 503; i++) {
    await sleep(500);
    response = await load();
  }
  return response;
}

// What custos-web shows for an error custosd gives no reason for: a fixed
// sentence, never gRPC's text (which names custosd's address).
async function expectFixedError(page, response, status, sentence) {
  expect(response.status() === status,
         `answered ${response.status()}, want ${status}: ${response.url()} ${(await page.content()).slice(0, 600)}`);
  const title = await text(page, 'h1');
  expect(title !== 'Refused', `titled ${title}`);
  const shown = await text(page, '#error');
  expect(shown === sentence, `error shown: ${shown}`);
  const html = await page.content();
  for (const leak of ['127.0.0.1', 'localhost', 'ipv4', 'failed to connect', 'Deadline']) {
    expect(!html.includes(leak), `page shows "${leak}": ${shown}`);
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const newContext = () => browser.newContext({ ignoreHTTPSErrors: true });

// A session opened in a browser of its own, on its dashboard.
async function openSession(extra = []) {
  const { url, session } = startSession(extra);
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForURL(/page=dashboard$/);
  return { context, page, session };
}

const results = [];
async function scenario(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push({ name, ok: true, seconds: (Date.now() - started) / 1000 });
    console.log(`PASS ${name}`);
  } catch (err) {
    results.push({ name, ok: false, seconds: (Date.now() - started) / 1000, message: String(err.stack || err) });
    console.log(`FAIL ${name}\n${err.stack || err}`);
  }
}

let firstSession;
let firstLink;

await scenario('engineer session shows the banner and the customer data, then ends', async () => {
  const { url, session } = startSession();
  firstSession = session;
  firstLink = url;
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForURL(/\/identity\/view\?page=dashboard$/);
  expect(!page.url().includes('#') && !page.url().includes('lt_'), `secret left in URL ${page.url()}`);
  const banner = await text(page, '#identity-banner');
  for (const part of ['Anna de Vries', 'acme', 'Sanne Koster', 'support SUP-1042', 'End session']) {
    expect(banner.includes(part), `banner lacks "${part}": ${banner}`);
  }
  await page.screenshot({ path: `${shots}/identity-dashboard.png`, fullPage: true });
  await page.click('nav.app a:text("subscribers")');
  await page.waitForURL(/page=subscribers$/);
  expect((await page.locator('#identity-banner').count()) === 1, 'banner gone on the subscribers page');
  const rows = await page.locator('table tbody tr').count();
  expect(rows > 0, 'no subscribers shown');
  expect((await page.content()).includes('@'), 'no subscriber e-mail addresses shown');
  await page.screenshot({ path: `${shots}/identity-subscribers.png`, fullPage: true });
  await Promise.all([page.waitForNavigation(), page.click('#identity-banner button')]);
  expect((await text(page, '#ended')).includes(`Session ${session} ended`), 'end not confirmed');
  await page.goto(`${web}/identity/view?page=dashboard`);
  expect((await page.content()).includes('no take-identity session'), 'page shown after the end');
  await context.close();
});

await scenario('a reused single-use link is refused', async () => {
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(firstLink);
  await page.waitForSelector('#error');
  expect((await text(page, 'h1')) === 'This link cannot be opened', 'second use not refused');
  expect((await text(page, '#error')).includes('already used'), await text(page, '#error'));
  await page.screenshot({ path: `${shots}/identity-link-reused.png`, fullPage: true });
  await context.close();
});

await scenario('the customer finds the session in their log, verifies it in the browser and withdraws a partner consent', async () => {
  const context = await newContext();
  const page = await signIn(context, 'acme');
  expect(page.url().endsWith('/portal'), `signed in to ${page.url()}`);
  const sessions = await text(page, '#sessions');
  expect(sessions.includes(firstSession), `session ${firstSession} not in ${sessions}`);
  expect(/ENDED/.test(sessions), 'session not shown as ended');
  const log = await text(page, '#access-log');
  expect(log.includes('TakeIdentity.ViewPage'), 'page views not in the log');
  expect(/support staff-[0-9a-f]{12} via custos-web/.test(log), 'staff not shown by role and pseudonym');
  expect(!log.includes('anna.support'), 'staff id shown to the customer');
  await page.screenshot({ path: `${shots}/portal-log.png`, fullPage: true });

  // Filters and export.
  await page.goto(`${web}/portal?category=support&outcome=ALLOWED`);
  expect((await page.locator('#access-log tbody tr').count()) > 0, 'filter left nothing');
  const csv = await page.evaluate(async () => (await fetch('/portal/export?format=csv&category=support')).text());
  expect(csv.startsWith('index,when,staff'), `csv: ${csv.slice(0, 80)}`);
  const json = await page.evaluate(async () => (await fetch('/portal/export?format=json')).json());
  expect(Array.isArray(json) && json.length > 0, 'json export empty');

  // Verify the shown entries, twice: the second visit checks consistency
  // with the checkpoint the first one kept.
  await page.goto(`${web}/portal`);
  await Promise.all([page.waitForNavigation(), page.click('a:text("Verify these entries")')]);
  await page.waitForSelector('#verify-summary:not([data-verified=pending])');
  const first = await page.locator('#verify-summary').getAttribute('data-verified');
  const items = await text(page, '#verify-results');
  expect(first === 'true', `not verified: ${items}`);
  expect(/entry #\d+ is in the log/.test(items), `no inclusion checked: ${items}`);
  await page.screenshot({ path: `${shots}/portal-verify.png`, fullPage: true });
  cli('--as', 'anna.support', 'access', 'request', '--customer', 'acme', '--category', 'support', '--ref', 'SUP-1042');
  await page.reload();
  await page.waitForSelector('#verify-summary:not([data-verified=pending])');
  const again = await text(page, '#verify-results');
  expect((await page.locator('#verify-summary').getAttribute('data-verified')) === 'true', `second visit: ${again}`);
  expect(/extends the one of \d+ this browser saw before/.test(again), `no consistency check: ${again}`);
  // Every entry the page shows is proven, the newest (newer, likely, than
  // the latest checkpoint signed on the gateway's clock) included.
  const shown = ((await page.locator('#verify').getAttribute('data-indices')) || '').split(',').filter(Boolean);
  expect(shown.length > 0, 'no entries to verify');
  for (const i of shown) expect(again.includes(`entry #${i} is in the log`), `entry #${i} not proven: ${again}`);

  await page.goto(`${web}/portal/requests`);
  const before = await text(page, '#consents');
  expect(/mailfix\s+given/.test(before), `mailfix consent not given: ${before}`);
  // The only partner has consent already: nothing is offered to give it to.
  expect((await page.locator('#new-consent').count()) === 0, 'a consented partner offered again');
  await Promise.all([page.waitForNavigation(), page.click('#consents button:text("Withdraw")')]);
  // Only consents in force are listed; the partner is offered again.
  expect(!/mailfix\s+given/.test(await text(page, '#consents')), 'consent not withdrawn');
  expect((await page.locator('#new-consent select[name=partner] option').allTextContents()).join(',') === 'mailfix',
    'mailfix not offered after withdrawal');
  let refused = '';
  try {
    cli('--as', 'pia.partner', 'access', 'request', '--customer', 'acme', '--category', 'support', '--ref', 'SUP-1042');
  } catch (err) {
    refused = String(err.stdout) + String(err.stderr);
  }
  expect(refused.includes('PARTNER_WITHOUT_CONSENT'), `partner after withdrawal: ${refused}`);
  await page.screenshot({ path: `${shots}/portal-requests.png`, fullPage: true });
  await context.close();
});

await scenario('a customer approves a pending request', async () => {
  const out = cli('--as', 'anna.support', 'access', 'request', '--customer', 'bakkerij-jansen',
                  '--category', 'support', '--ref', 'SUP-2001');
  const request = out.match(/(p_[0-9a-f]+)/)[1];
  const context = await newContext();
  const page = await signIn(context, 'bakkerij-jansen');
  await page.goto(`${web}/portal/requests`);
  expect((await text(page, '#pending')).includes(request), `pending ${request} not listed`);
  await Promise.all([page.waitForNavigation(),
    page.locator(`#pending tr:has-text("${request}") button:text("Approve")`).click()]);
  expect(!(await page.content()).includes(request), 'request still waiting after approval');
  const grants = cli('--as', 'anna.support', 'access', 'list', '--active_only');
  expect(grants.includes('bakkerij-jansen'), `no grant after approval: ${grants}`);
  await context.close();
});

await scenario('a session the DPO revokes stops at the next click', async () => {
  const { context: engineer, page, session } = await openSession();
  const dpoContext = await newContext();
  const dpo = await signIn(dpoContext, 'dirk.dpo');
  expect((await text(dpo, '#live-sessions')).includes(session), 'live session not on the DPO page');
  await dpo.screenshot({ path: `${shots}/dpo.png`, fullPage: true });
  await Promise.all([dpo.waitForNavigation(), dpo.click('a:text("Audit report")')]);
  expect((await text(dpo, '#report-command')).startsWith('custos report --from'), 'no report command');
  await dpo.goto(`${web}/dpo`);
  await Promise.all([dpo.waitForNavigation(),
    dpo.locator(`#live-sessions tr:has-text("${session}") button:text("Revoke")`).click()]);
  expect(!(await text(dpo, 'main')).includes(session), 'session still live after revocation');
  await page.click('nav.app a:text("campaigns")');
  await page.waitForSelector('#ended');
  const ended = await text(page, '#ended');
  expect(/REVOKED/.test(ended) && ended.includes('dpo:dirk.dpo'), `next click: ${ended}`);
  expect((await page.locator('table').count()) === 0, 'data shown after revocation');
  await page.screenshot({ path: `${shots}/identity-revoked.png`, fullPage: true });
  await engineer.close();
  await dpoContext.close();
});

await scenario('an expired session stops at the next click', async () => {
  const { context, page } = await openSession(['--duration', '3s']);
  await page.waitForTimeout(3500);
  await page.click('nav.app a:text("subscribers")');
  await page.waitForSelector('#ended');
  expect(/EXPIRED/.test(await text(page, '#ended')), await text(page, '#ended'));
  expect((await page.locator('table').count()) === 0, 'data shown after expiry');
  await context.close();
});

await scenario('a browser holds a 20-hour session for its 20 hours, not a sign-in\'s 8', async () => {
  // Abuse work may last 24 hours. A browser session forgotten at 8 left the
  // session live at custosd with no one able to view or end it.
  const { url, session } = startSession(['--duration', '20h'], { category: 'abuse', ref: 'ABUSE-3' });
  const context = await newContext();
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForURL(/page=dashboard$/);
  const listed = JSON.parse(cli('--as', 'anna.support', '--output', 'json', 'identity', 'list', '--page_size', '500'))
    .sessions.find((x) => x.session_id === session);
  expect(listed && listed.state === 'SESSION_LIVE', `session ${session}: ${JSON.stringify(listed)}`);
  const expiresAt = Date.parse(listed.expires_at) / 1000;
  expect(Math.abs(expiresAt - (Date.now() / 1000 + 20 * 3600)) < 120, `expires at ${listed.expires_at}`);
  // Kept until custosd's expiry and an hour past it, for the next click to
  // say it expired.
  const cookie = (await context.cookies()).find((c) => c.name === '__Host-custos-session');
  expect(cookie && Math.abs(cookie.expires - (expiresAt + 3600)) < 120,
         `session cookie expires ${cookie && new Date(cookie.expires * 1000).toISOString()}, the session at ${listed.expires_at}`);
  await Promise.all([page.waitForNavigation(), page.click('#identity-banner button')]);
  expect((await text(page, '#ended')).includes(`Session ${session} ended`), 'end not confirmed');
  await context.close();
});

await scenario('a forged CSRF token is refused', async () => {
  const context = await newContext();
  const page = await signIn(context, 'fietsen-devries');
  await page.goto(`${web}/portal/requests`);
  // Partners are chosen from the ones custosd names, not typed.
  expect((await page.locator('#new-consent select[name=partner] option').allTextContents()).join(',') === 'mailfix',
    'partners offered: ' + (await page.locator('#new-consent select[name=partner] option').allTextContents()).join(','));
  await page.selectOption('#new-consent select[name=partner]', 'mailfix');
  await page.evaluate(() => { document.querySelector('#new-consent input[name=csrf]').value = 'f'.repeat(64); });
  const [response] = await Promise.all([page.waitForNavigation(), page.click('#new-consent button')]);
  expect(response.status() === 403, `forged token answered ${response.status()}`);
  expect((await text(page, '#error')).startsWith('csrf:'), await text(page, '#error'));
  await page.goto(`${web}/portal/requests`);
  expect(!/mailfix\s+given/.test(await text(page, '#consents')), 'consent given with a forged token');
  await context.close();
});

await scenario('the banner says read-only only of a session the customer asked no action of', async () => {
  const plain = await openSession();
  const readOnly = await text(plain.page, '#identity-banner');
  expect(readOnly.includes(' · read-only · '), `plain session: ${readOnly}`);
  await plain.context.close();
  const asked = await openSession(['--action', 'send_test_mail', '--action_ref', 'SUP-1042']);
  const banner = await text(asked.page, '#identity-banner');
  expect(!banner.includes('read-only'), `a session that may act shown as read-only: ${banner}`);
  expect(banner.includes('may perform what the customer asked: send_test_mail (customer request SUP-1042)'),
         `asked action not shown: ${banner}`);
  await asked.page.screenshot({ path: `${shots}/identity-asked-action.png`, fullPage: true });
  await asked.context.close();
});

await scenario('an export holds every entry the filters select, not one page', async () => {
  const context = await newContext();
  const page = await signIn(context, 'acme');
  // Each listing the customer makes is an entry about their account.
  await page.evaluate(async () => {
    for (let i = 0; i < 210; i++) await fetch('/portal?page_size=1');
  });
  // More than one of the export's reads (200 entries each), whatever page
  // size the link names: it is not the size of the reads.
  const all = await page.evaluate(async () => (await fetch('/portal/export?format=json&page_size=1')).json());
  const indices = all.map((e) => e.index);
  expect(indices.length > 210, `export of ${indices.length} entries`);
  expect(indices.every((x, i) => i === 0 || x < indices[i - 1]), 'export not newest first, or an entry twice');
  const csv = await page.evaluate(async () => (await fetch('/portal/export?format=csv')).text());
  expect(csv.trim().split('\n').length - 1 >= all.length, `csv of ${csv.trim().split('\n').length - 1} rows`);
  await context.close();
});

await scenario('a page of the access log is never larger than Verify proves', async () => {
  const context = await newContext();
  const page = await signIn(context, 'acme');
  const over = await page.goto(`${web}/portal?page_size=201`);
  expect(over.status() === 400, `page_size=201 answered ${over.status()}`);
  expect((await text(page, '#error')) === 'page_size: expected 1 to 200, the most entries Verify proves at once',
         await text(page, '#error'));
  await page.goto(`${web}/portal?page_size=200`);
  const rows = await page.locator('#access-log tbody tr').count();
  await Promise.all([page.waitForNavigation(), page.click('a:text("Verify these entries")')]);
  await page.waitForSelector('#verify-summary:not([data-verified=pending])');
  const items = await text(page, '#verify-results');
  expect((await page.locator('#verify-summary').getAttribute('data-verified')) === 'true', `not verified: ${items}`);
  expect((items.match(/entry #\d+ is in the log/g) || []).length === rows, `${rows} rows shown, proven: ${items}`);
  await context.close();
});

await scenario('with custosd stopped or stalled, pages say so and the details go to the log', async () => {
  const context = await newContext();
  const page = await signIn(context, 'acme');
  // Stalled: the call waits out its deadline.
  process.kill(custosdPid, 'SIGSTOP');
  let response;
  try {
    // kill() only queues the stop; on a loaded machine custosd's threads can
    // still answer a call for a moment, so the page waits until all of them
    // are stopped.
    await untilStopped(custosdPid);
    response = await page.goto(`${web}/portal`);
  } finally {
    process.kill(custosdPid, 'SIGCONT');
  }
  await expectFixedError(page, response, 504, 'custosd did not answer in time; try again in a moment.');
  await withCustosdStopped(async () => {
    await expectFixedError(page, await page.goto(`${web}/portal`), 503,
                           'custosd is unavailable; try again in a moment.');
    await expectFixedError(page, await page.goto(`${web}/portal/requests`), 503,
                           'custosd is unavailable; try again in a moment.');
    await page.screenshot({ path: `${shots}/portal-custosd-unavailable.png`, fullPage: true });
  });
  const log = readFileSync(process.env.WEB_LOG, 'utf8');
  expect(/custosd answered DEADLINE_EXCEEDED: \S/.test(log), `deadline not in custos-web's log: ${log}`);
  expect(/custosd answered UNAVAILABLE: \S/.test(log), `unavailable not in custos-web's log: ${log}`);
  expect((await untilServed(() => page.goto(`${web}/portal`))).status() === 200, 'portal not served again');
  await context.close();
});

await scenario('an End session that fails with custosd stopped keeps the session, ended once custosd is back', async () => {
  const { context, page, session } = await openSession();
  await withCustosdStopped(async () => {
    const [response] = await Promise.all([page.waitForNavigation(), page.click('#identity-banner button')]);
    await expectFixedError(page, response, 503, 'custosd is unavailable; try again in a moment.');
    expect((await page.locator('#identity-banner button:text("End session")').count()) === 1, 'no End session to try again');
  });
  const view = await untilServed(() => page.goto(`${web}/identity/view?page=dashboard`));
  expect(view.status() === 200, `session dropped by the failed end: ${view.status()} ${await page.content()}`);
  await Promise.all([page.waitForNavigation(), page.click('#identity-banner button')]);
  expect((await text(page, '#ended')).includes(`Session ${session} ended`), 'end not confirmed');
  await context.close();
});

await scenario('a link opened from another site while the browser holds a session opens, and the session it replaces ends', async () => {
  const { context, page, session: first } = await openSession();
  // A ticket on another site (an opaque origin): its link comes without the
  // SameSite=Strict session cookie, while the page's own POST carries it.
  const { url, session: second } = startSession();
  const ticket = await context.newPage();
  await ticket.setContent(`<a id="ticket-link" href="${url}">the link in the ticket</a>`);
  await Promise.all([ticket.waitForURL(/\/identity\/(view|exchange)/), ticket.click('#ticket-link')]);
  await ticket.waitForLoadState();
  expect(/\/identity\/view\?page=dashboard$/.test(ticket.url()),
         `link from another site: ${ticket.url()} ${(await ticket.content()).slice(0, 600)}`);
  expect((await text(ticket, '#identity-banner')).includes('Anna de Vries'), 'no banner');
  const states = sessionStates();
  expect(states[second] === 'SESSION_LIVE', `opened session ${second} is ${states[second]}`);
  expect(states[first] === 'SESSION_ENDED', `replaced session ${first} is ${states[first]}`);
  await page.close();
  await Promise.all([ticket.waitForNavigation(), ticket.click('#identity-banner button')]);
  expect((await text(ticket, '#ended')).includes(`Session ${second} ended`), 'end not confirmed');
  await context.close();
});

await scenario('a second link in the same browser ends the session it replaces at custosd', async () => {
  const { context, page, session: first } = await openSession();
  const { url, session: second } = startSession();
  await page.goto(url);
  await page.waitForURL(/\/identity\/view\?page=dashboard$/);
  const states = sessionStates();
  expect(states[second] === 'SESSION_LIVE', `opened session ${second} is ${states[second]}`);
  expect(states[first] === 'SESSION_ENDED', `replaced session ${first} is ${states[first]}, still live with no one holding its token`);
  await Promise.all([page.waitForNavigation(), page.click('#identity-banner button')]);
  expect((await text(page, '#ended')).includes(`Session ${second} ended`), 'end not confirmed');
  await context.close();
});

await scenario('the portal lists as waiting for the customer only the requests that wait for them', async () => {
  // custosd again, from a policy file, so that loopback can be placed abroad.
  copyFileSync(`${process.env.TEST_SRCDIR}/custos/policy/default_policy.textproto`, policyFile);
  custosdArgs = ['--policy', policyFile];
  await withCustosdStopped(async () => {});
  let abroad;
  await placeLoopbackIn('DE');
  try {
    const out = cli('--as', 'anna.support', 'access', 'request', '--customer', 'acme', '--category', 'support', '--ref', 'SUP-1042');
    expect(/waiting for approval by dpo and customer/.test(out), `abroad request: ${out}`);
    abroad = out.match(/(p_[0-9a-f]+)/)[1];
  } finally {
    await placeLoopbackIn('NL');
  }
  const context = await newContext();
  const page = await signIn(context, 'acme');
  expect((await untilServed(() => page.goto(`${web}/portal/requests`))).status() === 200, 'requests page not served');
  expect((await text(page, '#pending')).includes(abroad), `${abroad}, waiting for the customer, not listed`);
  await Promise.all([page.waitForNavigation(),
    page.locator(`#pending tr:has-text("${abroad}") button:text("Approve")`).click()]);
  expect(page.url().endsWith('/portal/requests'), `approval: ${page.url()} ${(await page.content()).slice(0, 600)}`);
  // Still pending, for the DPO alone: nothing the customer can decide.
  const pending = JSON.parse(cli('--as', 'dirk.dpo', '--output', 'json', 'approval', 'list', '--active_only'))
    .requests.find((r) => r.request_id === abroad);
  expect(pending && pending.approved_by.join() === 'APPROVER_CUSTOMER', `after the customer's approval: ${JSON.stringify(pending)}`);
  expect(!(await text(page, '#pending')).includes(abroad), `${abroad}, waiting for the DPO alone, listed for the customer`);
  await context.close();
});

// Last to sign in: its failures lock out this address for 15 minutes.
await scenario('sign-in is refused after repeated wrong passwords, and cookies are locked down', async () => {
  const signedIn = await newContext();
  await signIn(signedIn, 'acme');
  const session = (await signedIn.cookies()).find((c) => c.name === '__Host-custos-session');
  expect(session && session.httpOnly && session.secure && session.sameSite === 'Strict', JSON.stringify(session));
  await signedIn.close();
  const context = await newContext();
  const page = await context.newPage();
  for (let i = 0; i < 6; i++) {
    await page.goto(`${web}/login`);
    await page.fill('input[name=login]', 'nordwind');
    await page.fill('input[name=password]', `wrong-${i}`);
    await Promise.all([page.waitForNavigation(), page.click('#login button[type=submit]')]);
  }
  expect((await text(page, '#error')).includes('too many failed sign-ins'), await text(page, '#error'));
  // A visitor who has not signed in holds only the form cookie.
  const cookies = await context.cookies();
  const form = cookies.find((c) => c.name === '__Host-custos-form');
  expect(form && form.httpOnly && form.secure && form.sameSite === 'Lax', JSON.stringify(cookies));
  expect(!cookies.some((c) => c.name === '__Host-custos-session'), JSON.stringify(cookies));
  const response = await page.goto(`${web}/login`);
  const csp = response.headers()['content-security-policy'];
  expect(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), csp);
  await page.screenshot({ path: `${shots}/login.png`, fullPage: true });
  await context.close();
});

await browser.close();
if (restarted) {
  restarted.kill('SIGTERM');
  for (let i = 0; i < 100 && !gone(restarted.pid); i++) await sleep(100);
}

const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const failures = results.filter((r) => !r.ok).length;
const xml = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="${results.length}" failures="${failures}">
<testsuite name="web_e2e" tests="${results.length}" failures="${failures}">
${results.map((r) => `<testcase name="${esc(r.name)}" classname="web_e2e" time="${r.seconds}">${
  r.ok ? '' : `<failure message="${esc(r.message.split('\n')[0])}">${esc(r.message)}</failure>`}</testcase>`).join('\n')}
</testsuite>
</testsuites>
`;
if (process.env.XML_OUTPUT_FILE) writeFileSync(process.env.XML_OUTPUT_FILE, xml);
console.log(`${results.length - failures} passed, ${failures} failed; screenshots in ${shots}`);
process.exit(failures ? 1 : 0);
