#!/usr/bin/env node
// Keyward's end-to-end story: the help article, walked in headless Chromium against a real
// `keyward serve`, with real peers (aiosmtpd as the mail server, zbarimg reading the QR code,
// oathtool as the authenticator app, `keyward yubikey simulate` as the YubiKey).
//
//   cargo build -p keyward && node e2e/story.mjs
//
// Environment (all optional):
//   KEYWARD_TEST_BIN               the keyward binary            (default target/debug/keyward)
//   KEYWARD_TEST_E2E_SCREENSHOTS   where page screenshots go     (default docs/screenshots)
//   KEYWARD_TEST_E2E_CHROMIUM      the browser                   (default /usr/bin/chromium)
//   KEYWARD_TEST_PYTHON       a Python with aiosmtpd        (default .venv/bin/python)
//   KEYWARD_TEST_E2E_KEEP=1        keep the scratch directory (server log, mails) even on success
//   KEYWARD_TEST_E2E_MAIL=outbox   no SMTP: read the e-mails from the server's outbox folder instead
//
// Every page the story visits is checked with axe-core (WCAG 2.1 A and AA, and best practices): a serious
// or critical violation fails the story; lesser findings are listed at the end.
//
// Exits 0 when the whole story passes; otherwise prints the step that failed, why, where the
// browser was, and the end of the server's log, and exits 1. The server and the SMTP sink are
// always stopped.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KEYWARD = process.env.KEYWARD_TEST_BIN || path.join(ROOT, 'target/debug/keyward');
const SHOTS = path.resolve(process.env.KEYWARD_TEST_E2E_SCREENSHOTS || path.join(ROOT, 'docs/screenshots'));
const CHROMIUM = process.env.KEYWARD_TEST_E2E_CHROMIUM || '/usr/bin/chromium';
const PYTHON = process.env.KEYWARD_TEST_PYTHON || path.join(ROOT, '.venv/bin/python');
const KEEP = process.env.KEYWARD_TEST_E2E_KEEP === '1';
const USE_SMTP = process.env.KEYWARD_TEST_E2E_MAIL !== 'outbox';

// Flags from TOOLS.md. Playwright adds --headless itself and gives every launch a fresh, empty
// user data directory (it refuses --user-data-dir among the args).
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const WAIT_MS = 10_000; // for any element or navigation
const MAIL_WAIT_MS = 15_000; // for an e-mail to arrive

// The people of the story.
const ACCOUNT = 'Acme Widgets';
const ADMIN = { name: 'admin', email: 'anna.admin@acme.example', password: 'anna-keeps-the-keys-42' };
const ALICE = { name: 'alice', email: 'alice@acme.example', password: 'alice-in-two-factor-land' };
const BOB = { name: 'bob', email: 'bob@acme.example', password: 'bob-builds-with-yubikeys' };
const CAROL = { name: 'carol', email: 'carol@acme.example', password: 'carol-counts-the-days-3' };
const OPERATOR = { name: 'olga', email: 'olga@support.example', password: 'olga-follows-the-policy-7' };
const POLICY =
  'Support must call Carol Jensen, office manager, on +45 70 20 30 40 (weekdays 9-16) and have her ' +
  'confirm any request to disable two-factor authentication. Never act on an e-mail alone.';

// ---------------------------------------------------------------------------------------------
// Bookkeeping: steps, logging, contract notes, cleanup.

const started = Date.now();
const WHOLE_STORY_MS = 5 * 60_000; // a hang anywhere still ends the run
setTimeout(() => {
  console.log(`\nFAILED: the story did not finish within ${WHOLE_STORY_MS / 60_000} minutes (at step ${stepNumber}: ${currentStep})`);
  stopChildren();
  process.exit(1);
}, WHOLE_STORY_MS).unref();
const children = [];
const contractNotes = [];
const consoleProblems = [];
let scratch;
let serverLog;
let currentStep = '(setup)';
let stepNumber = 0;
let activePage = null; // the page a failure report describes
let lastNavigation = '';
let shotNumber = 0;
const shotsWritten = new Set();
const AXE_SOURCE = fs.readFileSync(path.join(ROOT, 'e2e/node_modules/axe-core/axe.min.js'), 'utf8');
const axeChecked = new Set();
const axeFindings = [];

function log(message) {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[${seconds}s] ${message}`);
}

class StepFailure extends Error {}

function fail(message) {
  throw new StepFailure(message);
}

/** A deviation from the UI contract that does not stop the story; it still fails the run. */
function note(message) {
  if (contractNotes.some((n) => n.endsWith(`): ${message}`))) return; // said once is enough
  contractNotes.push(`step ${stepNumber} (${currentStep}): ${message}`);
  log(`  CONTRACT: ${message}`);
}

async function step(name, body) {
  stepNumber += 1;
  currentStep = name;
  log(`step ${stepNumber}: ${name}`);
  return body();
}

function stopChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

process.on('exit', stopChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.log(`\nstopped by ${signal}`);
    stopChildren();
    process.exit(130);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error) fail(`cannot run ${command}: ${result.error.message}`);
  return result;
}

function runOk(command, args, options = {}) {
  const result = run(command, args, options);
  if (result.status !== 0) {
    fail(`${path.basename(command)} ${args.join(' ')} exited with ${result.status}: ${result.stderr.trim()}`);
  }
  return result.stdout.trim();
}

// ---------------------------------------------------------------------------------------------
// The SMTP sink (aiosmtpd) and reading e-mails, from the sink or from the server's outbox folder.

const SINK_PROGRAM = String.raw`
import asyncio, itertools, os, sys
from aiosmtpd.smtp import SMTP

outdir = sys.argv[1]
numbers = itertools.count(1)

class StoreToFolder:
    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(outdir, "%04d.eml" % next(numbers))
        with open(path + ".part", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.replace(path + ".part", path)
        return "250 Message accepted for delivery"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(StoreToFolder(), hostname="sink.localhost"), "127.0.0.1", 0)
    print("LISTENING %d" % server.sockets[0].getsockname()[1], flush=True)
    # Stop when the story closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)

asyncio.run(main())
`;

async function startSmtpSink(dir) {
  const check = run(PYTHON, ['-c', 'import aiosmtpd']);
  if (check.status !== 0) {
    fail(`${PYTHON} cannot import aiosmtpd (scripts/test --install, or .venv/bin/pip install aiosmtpd==1.4.6)`);
  }
  const sink = spawn(PYTHON, ['-c', SINK_PROGRAM, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(sink);
  let stderr = '';
  sink.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const lines = readline.createInterface({ input: sink.stdout });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new StepFailure(`the SMTP sink did not start: ${stderr}`)), 15_000);
    lines.on('line', (line) => {
      const match = /^LISTENING (\d+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    sink.on('exit', (code) => {
      clearTimeout(timer);
      reject(new StepFailure(`the SMTP sink exited with ${code}: ${stderr}`));
    });
  });
  return port;
}

function decodeWords(text) {
  // RFC 2047 encoded words, as in Subject: =?utf-8?q?...?= or =?utf-8?b?...?=
  return text.replace(/=\?([^?]+)\?([bqBQ])\?([^?]*)\?=(\s+(?==\?))?/g, (_, charset, encoding, data) => {
    const bytes = encoding.toLowerCase() === 'b'
      ? Buffer.from(data, 'base64')
      : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (__, h) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return bytes.toString(/utf-?8/i.test(charset) ? 'utf8' : 'latin1');
  });
}

function parseHeaders(text) {
  const headers = {};
  for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = decodeWords(line.slice(colon + 1).trim());
  }
  return headers;
}

function headerParam(value, name) {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*("([^"]*)"|[^;\\s]+)`, 'i').exec(value || '');
  return match ? (match[2] ?? match[1]) : undefined;
}

/** Parses one MIME entity (given as a latin1 string of its bytes) into its text parts. */
function parseEntity(raw, parts = []) {
  const blank = /\r?\n\r?\n/.exec(raw);
  const headers = parseHeaders(blank ? raw.slice(0, blank.index) : raw);
  const body = blank ? raw.slice(blank.index + blank[0].length) : '';
  const type = (headers['content-type'] || 'text/plain').split(';')[0].trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = headerParam(headers['content-type'], 'boundary');
    if (!boundary) return { headers, parts };
    const chunks = body.split(`--${boundary}`);
    for (const chunk of chunks.slice(1)) {
      if (chunk.startsWith('--')) break;
      parseEntity(chunk.replace(/^\r?\n/, ''), parts);
    }
    return { headers, parts };
  }
  const encoding = (headers['content-transfer-encoding'] || '7bit').toLowerCase();
  let bytes;
  if (encoding === 'base64') bytes = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  else if (encoding === 'quoted-printable') {
    bytes = Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  } else bytes = Buffer.from(body, 'latin1');
  const charset = headerParam(headers['content-type'], 'charset') || 'utf-8';
  parts.push({ type, text: bytes.toString(/utf-?8/i.test(charset) ? 'utf8' : 'latin1') });
  return { headers, parts };
}

function readMail(file) {
  const { headers, parts } = parseEntity(fs.readFileSync(file, 'latin1'));
  const plain = parts.filter((p) => p.type === 'text/plain').map((p) => p.text).join('\n');
  const html = parts.filter((p) => p.type === 'text/html').map((p) => p.text).join('\n');
  const links = new Set();
  for (const match of plain.matchAll(/https?:\/\/[^\s<>"')\]]+/g)) links.add(match[0].replace(/[.,;]+$/, ''));
  for (const match of html.matchAll(/href="([^"]+)"/g)) links.add(match[1].replace(/&amp;/g, '&'));
  return { file, to: headers.to || '', subject: headers.subject || '', plain, html, links: [...links] };
}

const mailDirs = [];
const mailsTaken = new Set();

/**
 * Waits for an unread e-mail to `to` carrying a link whose path matches `pathPattern` (a RegExp), or
 * whose subject matches `{ subject: RegExp }`.
 */
async function waitForMail(to, pathPattern, what) {
  const deadline = Date.now() + MAIL_WAIT_MS;
  for (;;) {
    for (const dir of mailDirs) {
      if (!fs.existsSync(dir)) continue;
      for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.eml')).sort()) {
        const file = path.join(dir, name);
        if (mailsTaken.has(file)) continue;
        const mail = readMail(file);
        if (!mail.to.toLowerCase().includes(to.toLowerCase())) continue;
        const link = pathPattern instanceof RegExp ? mail.links.find((l) => pathPattern.test(new URL(l).pathname)) : undefined;
        if (pathPattern instanceof RegExp ? !link : !pathPattern.subject.test(mail.subject)) continue;
        mailsTaken.add(file);
        const via = dir.endsWith('outbox') ? 'the outbox folder' : 'SMTP';
        log(`  mail to ${to} via ${via}: "${mail.subject}"${link ? ` -> ${link}` : ''}`);
        if (USE_SMTP && via !== 'SMTP') note('the e-mail went to the outbox folder although KEYWARD_SMTP_URL names the SMTP sink');
        return { ...mail, link };
      }
    }
    if (Date.now() > deadline) {
      const seen = mailDirs.flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).filter((n) => n.endsWith('.eml')).map((n) => path.join(d, n)) : []));
      const summary = seen.map((f) => { const m = readMail(f); return `${m.to} "${m.subject}" ${m.links.join(' ')}`; });
      fail(`no e-mail to ${to} with ${what} (${pathPattern instanceof RegExp ? `a link matching ${pathPattern}` : `subject ${pathPattern.subject}`}) within ${MAIL_WAIT_MS / 1000} s; mails so far:\n    ${summary.join('\n    ') || '(none)'}`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// The server.

async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function keywardEnv(dataDir, extra = {}) {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('KEYWARD_')) env[name] = value; // hermetic: no stray configuration
  }
  return { ...env, KEYWARD_DATA_DIR: dataDir, KEYWARD_LOG: 'info', NO_COLOR: '1', ...extra };
}

async function startServer(dir, dataDir, smtpPort) {
  if (!fs.existsSync(KEYWARD)) fail(`${KEYWARD} does not exist: run \`cargo build -p keyward\` first`);
  const port = await freePort();
  // WebAuthn accepts `localhost` as a relying party id, never an IP address: the browser reaches
  // Keyward at localhost, which is also its public URL.
  const base = `http://localhost:${port}`;
  serverLog = path.join(dir, 'server.log');
  const out = fs.openSync(serverLog, 'a');
  const env = keywardEnv(dataDir, {
    KEYWARD_LISTEN: `127.0.0.1:${port}`,
    KEYWARD_PUBLIC_URL: base,
    // Plain text to loopback only: see crates/mail's SMTP URL table. Without it: the outbox folder.
    ...(smtpPort ? { KEYWARD_SMTP_URL: `smtp://127.0.0.1:${smtpPort}?tls=none` } : {}),
  });
  const server = spawn(KEYWARD, ['serve'], { cwd: dir, env, stdio: ['ignore', out, out] });
  children.push(server);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exitCode !== null) fail(`keyward serve exited with ${server.exitCode}:\n${tail(serverLog, 30)}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) fail(`keyward serve did not answer ${base}/healthz within 30 s`);
    await sleep(100);
  }
  return { base, env: keywardEnv(dataDir) };
}

function tail(file, lines) {
  if (!file || !fs.existsSync(file)) return '(no log)';
  return fs.readFileSync(file, 'utf8').replace(/\x1b\[[0-9;]*m/g, '').trimEnd().split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Peers: the authenticator app (oathtool), the QR reader (zbarimg), software YubiKeys.

const totpStepUsed = new Map(); // secret -> the last 30-second step whose code was typed

/**
 * The code an authenticator app shows now, never one of a step already typed (a step is accepted
 * once): if this step's code was used, wait for the next step to begin.
 */
async function freshTotp(secret) {
  const used = totpStepUsed.get(secret);
  let now = Date.now() / 1000;
  if (used !== undefined && Math.floor(now / 30) <= used) {
    const wait = (used + 1) * 30 - now + 0.2;
    log(`  the code of this 30-second step was already used: waiting ${wait.toFixed(1)} s for the next step`);
    await sleep(wait * 1000);
    now = Date.now() / 1000;
  }
  const stepIndex = Math.floor(now / 30);
  const code = runOk('oathtool', ['--totp', '-b', '-N', `@${stepIndex * 30}`, secret]);
  if (!/^\d{6}$/.test(code)) fail(`oathtool printed ${JSON.stringify(code)}, not six digits`);
  return { code, step: stepIndex, used: () => totpStepUsed.set(secret, stepIndex) };
}

function zbar(png) {
  // zbarimg prints D-Bus noise on stderr; only the exit code and stdout count.
  const result = run('zbarimg', ['-q', '--raw', png]);
  return result.status === 0 ? result.stdout.trim() : null;
}

/** Reads the QR code in `locator` as a phone would: from a picture of the screen. */
async function readQr(page, locator, dir) {
  const box = await locator.boundingBox();
  if (!box) fail('the QR code has no size on the screen');
  const png = path.join(dir, 'qr.png');
  const margin = 24; // a quiet zone from the page around it
  await page.screenshot({
    path: png,
    clip: { x: Math.max(0, box.x - margin), y: Math.max(0, box.y - margin), width: box.width + 2 * margin, height: box.height + 2 * margin },
  });
  let text = zbar(png);
  if (text === null) {
    // The screen may render it too small: decode the SVG itself, rendered larger.
    const svg = path.join(dir, 'qr.svg');
    fs.writeFileSync(svg, await locator.evaluate((el) => {
      const clone = el.cloneNode(true);
      clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
      return clone.outerHTML;
    }));
    runOk('rsvg-convert', ['-w', '600', '-b', 'white', '-o', png, svg]);
    text = zbar(png);
    if (text === null) fail(`zbarimg cannot read the QR code (screenshot and SVG rendering kept in ${dir})`);
    note(`the QR code is ${Math.round(box.width)} px wide on screen and zbarimg could read it only from the SVG rendered larger`);
  }
  return text;
}

const MODHEX = 'cbdefghijklnrtuv';
const toModhex = (bytes) => [...bytes].map((b) => MODHEX[b >> 4] + MODHEX[b & 15]).join('');

/** The secret of the otpauth URI in the page's QR code, read as a phone would. */
async function secretFromQr(page, dir) {
  const uri = await readQr(page, page.locator('svg[role=img]').first(), dir);
  const secret = new URL(uri).searchParams.get('secret');
  if (!secret) fail(`the QR code holds ${uri}, with no secret`);
  return secret.toUpperCase();
}

/** A software YubiKey with fresh random secrets, as the personalization tool would program one. */
function newYubikey(owner, serial, dir) {
  return {
    owner,
    serial,
    aes: crypto.randomBytes(16).toString('hex'),
    privateId: crypto.randomBytes(6).toString('hex'),
    publicId: 'vv' + toModhex(crypto.randomBytes(5)), // vv: a customer-programmed key
    state: path.join(dir, `yubikey-${owner.name}.json`),
  };
}

/** The key's next OTP: one touch of its button. */
function touch(key) {
  const otp = runOk(KEYWARD, ['yubikey', 'simulate', '--key', key.aes, '--private-id', key.privateId, '--public-id', key.publicId, '--state', key.state]);
  if (!otp.startsWith(key.publicId) || otp.length !== key.publicId.length + 32) fail(`keyward yubikey simulate printed ${otp}`);
  return otp;
}

// ---------------------------------------------------------------------------------------------
// The browser.

/**
 * Runs axe-core on the page as it is now. Injected through the DevTools protocol, which the page's strict
 * CSP does not govern; each distinct page (path with ids and tokens masked, and title) is checked once.
 */
async function checkAccessibility(page) {
  const url = new URL(page.url());
  const key = `${url.pathname.replace(/\/[A-Za-z0-9_-]{20,}/g, '/TOKEN').replace(/\/\d+/g, '/ID')} | ${await page.title()}`;
  if (axeChecked.has(key)) return;
  axeChecked.add(key);
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    }),
  );
  const describe = (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`;
  const blocking = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of results.violations.filter((v) => !blocking.includes(v))) axeFindings.push(`${url.pathname}: ${describe(v)}`);
  if (blocking.length) fail(`axe-core finds on ${url.pathname}:\n    ${blocking.map(describe).join('\n    ')}`);
}

/** Saves a full-page screenshot of what the browser shows now as docs/screenshots/NN-name.png. */
async function shot(page, name) {
  await checkAccessibility(page);
  shotNumber += 1;
  const file = `${String(shotNumber).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path: path.join(SHOTS, file), fullPage: true });
  shotsWritten.add(file);
}

/** Keeps the numbers of the later screenshots when a page of the story is not shown this time. */
function skipShot() {
  shotNumber += 1;
}

function watch(page, who) {
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      lastNavigation = `${who}: ${request.method()} ${new URL(request.url()).pathname} -> ${response.status()}`;
    }
  });
  page.on('response', (response) => {
    if (!response.request().isNavigationRequest() && response.status() >= 400) {
      consoleProblems.push(`${who}: ${response.request().method()} ${new URL(response.url()).pathname} -> ${response.status()} (a resource of ${new URL(page.url()).pathname})`);
    }
  });
  page.on('console', (message) => {
    // Failed loads are reported above with their URL; navigations answering 4xx are expected (refusals).
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      consoleProblems.push(`${who} on ${new URL(page.url()).pathname}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => consoleProblems.push(`${who} on ${page.url()}: ${error.message}`));
}

async function newPage(browser, who) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale: 'en-US' });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  const page = await context.newPage();
  watch(page, who);
  activePage = page;
  return page;
}

/** Waits for `locator` to be visible, or fails saying what was expected. */
async function expectVisible(locator, what) {
  activePage = locator.page(); // the page a failure report describes
  try {
    await locator.first().waitFor({ state: 'visible', timeout: WAIT_MS });
  } catch {
    fail(`expected ${what}, but it did not appear within ${WAIT_MS / 1000} s`);
  }
}

async function goto(page, url, what) {
  activePage = page;
  let response;
  try {
    response = await page.goto(url);
  } catch (error) {
    const pathname = new URL(url).pathname;
    const answered = lastNavigation.includes(` ${pathname} -> `) ? `it answered ${lastNavigation.split('-> ')[1]}` : error.message.split('\n')[0];
    fail(`opening ${what} (${pathname}) failed: ${answered}`);
  }
  if (!response || response.status() >= 400) fail(`opening ${what} (${new URL(url).pathname}) answered ${response?.status()}`);
  await checkAccessibility(page);
}

const field = (page, label) => page.getByLabel(label, { exact: true });
const button = (page, name) => page.getByRole('button', { name, exact: true });
const link = (page, name) => page.getByRole('link', { name, exact: true });
const heading = (page, name) => page.getByRole('heading', { name, exact: true });

async function fill(page, label, value) {
  const input = field(page, label);
  await expectVisible(input, `a field labelled "${label}"`);
  await input.first().fill(value);
}

async function click(locator, what) {
  await expectVisible(locator, what);
  await locator.first().click();
}

/** The visible messages on the page that look like errors or notices. */
async function messages(page) {
  const found = page.locator('[role=alert], [role=status], .error, .errors, .flash, .notice');
  const texts = await found.allInnerTexts().catch(() => []);
  return texts.map((t) => t.trim()).filter(Boolean);
}

/** The innermost element holding both `text` and `inner` (a user's row, list item or form). */
function around(page, text, inner) {
  return page.locator('*').filter({ hasText: text, has: inner }).last();
}

/** Submits a form and waits until the page changed. */
async function submit(page, buttonName) {
  const before = page.url();
  const target = button(page, buttonName);
  await expectVisible(target, `a button "${buttonName}"`);
  await Promise.all([
    page.waitForEvent('framenavigated', { timeout: WAIT_MS }).catch(() => fail(`clicking "${buttonName}" on ${new URL(before).pathname} loaded no page`)),
    target.first().click(),
  ]);
  await page.waitForLoadState('load');
  const status = lastNavigation.match(/-> (\d+)$/)?.[1];
  if (status && Number(status) >= 500) fail(`clicking "${buttonName}" answered ${status}`);
  await checkAccessibility(page);
}

/** "Account" in the header, which leads to "Users & Security". */
async function openUsersAndSecurity(page) {
  const account = link(page, 'Account');
  if (await account.count()) {
    await click(account, 'a link "Account" in the header');
  } else {
    const nav = page.getByRole('navigation', { name: 'Main' }).or(page.locator('header'));
    const users = nav.first().getByRole('link', { name: 'Users & Security', exact: true });
    if (!(await users.count())) fail('the header has neither a link "Account" nor a link "Users & Security"');
    note('the header shows "Account" as a group label, not a link; its link is "Users & Security"');
    await click(users, 'a link "Users & Security" in the header');
  }
  await expectVisible(heading(page, 'Users & Security'), 'the heading "Users & Security"');
  if (new URL(page.url()).pathname !== '/account/users') note(`"Users & Security" is at ${new URL(page.url()).pathname}, not /account/users`);
}

/** "Account" > "Users & Security" > "Configure two-factor authentication": the Settings tab. */
async function openTwoFactorSettings(page) {
  await openUsersAndSecurity(page);
  const name = 'Configure two-factor authentication';
  await click(link(page, name).or(button(page, name)), `"${name}" on Users & Security`);
  await expectVisible(link(page, 'Settings'), 'a tab "Settings"');
  if (new URL(page.url()).pathname !== '/account/two-factor') note(`the Settings tab is at ${new URL(page.url()).pathname}, not /account/two-factor`);
}

async function expectLoggedIn(page, who) {
  await expectVisible(button(page, 'Log out'), `${who.email} to be logged in (a "Log out" button in the header)`);
}

async function logOut(page, who) {
  await submit(page, 'Log out');
  if (await button(page, 'Log out').count()) fail(`after "Log out" ${who.email} still sees a "Log out" button`);
}

/** Password step of the login; leaves the browser at the second step when 2FA is active. */
async function logInWithPassword(page, base, who, shotName) {
  await goto(page, `${base}/login`, 'the login page');
  await expectVisible(link(page, 'Forgot your password?'), 'a link "Forgot your password?" on the login page');
  await fill(page, 'E-mail address', who.email);
  await fill(page, 'Password', who.password);
  if (shotName) await shot(page, shotName);
  await submit(page, 'Log in');
}

/** Presses Tab until the element with `id` has the focus (at most 20 times), and checks that the focus shows. */
async function tabTo(page, id) {
  for (let presses = 0; presses < 20; presses += 1) {
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const el = document.activeElement;
      const style = el ? getComputedStyle(el) : null;
      return { id: el?.id, outline: style ? `${style.outlineStyle} ${style.outlineWidth}` : '' };
    });
    if (focus.id === id) {
      if (focus.outline.startsWith('none') || focus.outline.endsWith(' 0px')) fail(`the focused field #${id} shows no focus outline (${focus.outline})`);
      return;
    }
  }
  fail(`20 presses of Tab never reached #${id} on ${new URL(page.url()).pathname}`);
}

async function expectSecondStep(page, who) {
  await expectVisible(field(page, 'One-time password'), `the second login step for ${who.email} (a "One-time password" field)`);
  if (new URL(page.url()).pathname !== '/login/otp') note(`the second login step is at ${new URL(page.url()).pathname}, not /login/otp`);
}

async function typeOtp(page, otp, buttonName = 'Log in') {
  await fill(page, 'One-time password', otp);
  await submit(page, buttonName);
}

/** A used one-time password is refused with an error, and the browser stays on the second step. */
async function expectOtpRefused(page, who, what) {
  if (await button(page, 'Log out').count()) fail(`${what} was accepted a second time: ${who.email} is logged in`);
  await expectVisible(field(page, 'One-time password'), `to stay on the second step after ${what}`);
  const shown = await messages(page);
  if (shown.length === 0) {
    const body = (await page.locator('main').first().innerText().catch(() => '')).slice(0, 300);
    if (!/used|invalid|wrong|incorrect|not accepted|try again/i.test(body)) fail(`after ${what} no error message is shown`);
    note(`the error after ${what} is not marked up as an alert (role=alert): "${body.replace(/\s+/g, ' ')}"`);
  } else {
    log(`  refused with: ${shown.join(' | ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The story.

async function story(browser, base, env, dir) {
  let admin;
  const keys = {};
  let aliceSecret;

  await step('the admin signs up a new account, opens the e-mailed link and is logged in', async () => {
    admin = await newPage(browser, 'admin');
    await goto(admin, `${base}/signup`, 'the sign-up page');
    await fill(admin, 'Account name', ACCOUNT);
    await fill(admin, 'E-mail address', ADMIN.email);
    await fill(admin, 'Password', ADMIN.password);
    await shot(admin, 'signup');
    await submit(admin, 'Sign up');
    await expectVisible(admin.getByRole('heading', { name: 'Check your e-mail' }), 'a page saying "Check your e-mail"');
    const mail = await waitForMail(ADMIN.email, /^\/signup\/[^/]+$/, 'a sign-up link');
    await goto(admin, mail.link, 'the sign-up link');
    await shot(admin, 'signup-confirm');
    await submit(admin, 'Create account');
    await expectLoggedIn(admin, ADMIN);
    await shot(admin, 'signed-up');
  });

  await step('Account leads to "Users & Security"', async () => {
    await openUsersAndSecurity(admin);
    await expectVisible(admin.getByRole('table'), 'a table of users');
    await expectVisible(admin.getByRole('table').getByText(ADMIN.email), 'the admin in the users table');
    await shot(admin, 'users-and-security');
  });

  for (const user of [ALICE, BOB, CAROL]) {
    await step(`the admin adds ${user.email}`, async () => {
      await fill(admin, 'E-mail address', user.email);
      await submit(admin, 'Add user');
      await expectVisible(admin.getByRole('table').getByText(user.email), `${user.email} in the users table`);
      await shot(admin, `user-added-${user.name}`);
    });
  }

  for (const user of [ALICE, BOB, CAROL]) {
    await step(`${user.email} chooses a password from the e-mailed link`, async () => {
      const mail = await waitForMail(user.email, /^\/password\/[^/]+$/, 'a password link');
      const page = await newPage(browser, user.name);
      user.page = page;
      await goto(page, mail.link, 'the password link');
      await fill(page, 'New password', user.password);
      await shot(page, `choose-password-${user.name}`);
      await submit(page, 'Save password');
      if (await field(page, 'New password').count()) {
        fail(`the password was not saved: ${(await messages(page)).join(' | ') || 'the form is shown again'}`);
      }
      await shot(page, `password-saved-${user.name}`);
    });
  }

  await step('"Configure two-factor authentication" opens the Settings tab', async () => {
    await openTwoFactorSettings(admin);
    if (await link(admin, 'Deactivate').count()) fail('a new account\'s two-factor authentication is already active');
    for (const tab of ['TOTP', 'YubiKey']) {
      if (await link(admin, tab).count()) note(`the tab "${tab}" is shown before its method was chosen`);
    }
    await shot(admin, 'two-factor-settings');
  });

  await step('the admin chooses TOTP, YubiKey and security keys, writes the policy and saves', async () => {
    await admin.getByRole('checkbox', { name: 'TOTP apps on your smartphone', exact: true }).check();
    await admin.getByRole('checkbox', { name: 'YubiKey', exact: true }).check();
    await admin.getByRole('checkbox', { name: 'Security keys and passkeys', exact: true }).check();
    await fill(admin, 'Policy for disabling two-factor authentication', POLICY);
    await submit(admin, 'Save changes');
    await expectVisible(link(admin, 'TOTP'), 'a tab "TOTP" after choosing TOTP');
    await expectVisible(link(admin, 'YubiKey'), 'a tab "YubiKey" after choosing YubiKey');
    await expectVisible(link(admin, 'Security keys'), 'a tab "Security keys" after choosing security keys');
    const policy = field(admin, 'Policy for disabling two-factor authentication');
    if ((await policy.inputValue()) !== POLICY) note('the saved policy is not shown back as it was written');
    await expectVisible(link(admin, 'Activate'), 'the link "Activate" at the top once the methods and the policy are saved');
    await shot(admin, 'two-factor-configured');
  });

  await step('"Activate" first asks the admin for her own second factor: she sets up her app right there', async () => {
    await click(link(admin, 'Activate'), 'the link "Activate"');
    await expectVisible(admin.getByText('Set up your own second factor first', { exact: false }), 'a request to set up her own factor first');
    await expectVisible(link(admin, 'YubiKey tab'), 'a link to the YubiKey tab, to register her own key instead');
    if (await button(admin, 'Confirm').count()) fail('"Confirm" is offered while the admin has no second factor of her own');
    await fill(admin, 'Password', ADMIN.password);
    await shot(admin, 'activate-own-factor-first');
    await submit(admin, 'Continue');
    ADMIN.secret = await secretFromQr(admin, dir);
    const totp = await freshTotp(ADMIN.secret);
    await typeOtp(admin, totp.code, 'Verify');
    totp.used();
    await expectVisible(heading(admin, 'Your recovery codes'), 'her recovery codes');
    await click(link(admin, 'Continue'), 'the link "Continue"');
    await expectVisible(button(admin, 'Confirm'), 'the Activate page with "Confirm", now that she has a factor');
    for (const who of [ALICE, BOB, CAROL]) {
      await expectVisible(admin.locator('main').getByText(who.email, { exact: true }), `${who.email} listed as a user without a factor`);
    }
    await shot(admin, 'activate-users-without-factor');
    await click(link(admin, 'Cancel'), 'the link "Cancel"');
    await expectVisible(link(admin, 'Activate'), 'the Settings tab again, still inactive');
  });

  await step('TOTP tab: the admin sends Alice her enrollment e-mail', async () => {
    await click(link(admin, 'TOTP'), 'the tab "TOTP"');
    if (new URL(admin.url()).pathname !== '/account/two-factor/totp') note(`the TOTP tab is at ${new URL(admin.url()).pathname}`);
    await expectVisible(button(admin, 'Send to all users not yet enrolled'), 'a button "Send to all users not yet enrolled"');
    await shot(admin, 'totp-tab');
    // The visible text is "Send enrollment e-mail"; its accessible name may add whom it is for.
    const sendButton = admin.getByRole('button', { name: /^Send enrollment e-mail\b/ });
    const send = around(admin, ALICE.email, sendButton).getByRole('button', { name: /^Send enrollment e-mail\b/ });
    await expectVisible(send, `a button "Send enrollment e-mail" beside ${ALICE.email}`);
    if ((await send.first().innerText()).trim() !== 'Send enrollment e-mail') note(`the button reads "${await send.first().innerText()}"`);
    await Promise.all([admin.waitForEvent('framenavigated'), send.first().click()]);
    await admin.waitForLoadState('load');
    log(`  the page says: ${(await messages(admin)).join(' | ') || '(no message)'}`);
    await shot(admin, 'totp-enrollment-sent');
  });

  await step('Alice opens the enrollment link, gives her password and sees the QR code', async () => {
    const mail = await waitForMail(ALICE.email, /^\/enroll\/[^/]+$/, 'an enrollment link');
    const page = ALICE.page;
    await goto(page, mail.link, 'the enrollment link');
    const password = field(page, 'Password');
    if (await password.count()) {
      await password.fill(ALICE.password);
      await shot(page, 'enroll-password');
      await submit(page, 'Continue');
    } else {
      skipShot();
      note('the enrollment page did not ask Alice for her password (she is logged in after choosing it?)');
    }
    await expectVisible(page.locator('svg[role=img]'), 'a QR code (an inline <svg role="img">)');
    await expectVisible(page.locator('#secret'), 'the secret as text (#secret)');
    await shot(page, 'enroll-qr-code');
  });

  await step('the QR code holds the otpauth URI of the secret shown as text', async () => {
    const page = ALICE.page;
    const uri = await readQr(page, page.locator('svg[role=img]').first(), dir);
    log(`  QR code: ${uri}`);
    let parsed;
    try {
      parsed = new URL(uri);
    } catch {
      fail(`the QR code holds ${JSON.stringify(uri)}, not a URI`);
    }
    if (parsed.protocol !== 'otpauth:' || parsed.host !== 'totp') fail(`the QR code holds ${uri}, not an otpauth://totp/ URI`);
    const label = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    if (!label.includes(ALICE.email)) fail(`the URI's label "${label}" does not name ${ALICE.email}`);
    if (!parsed.searchParams.get('issuer')) note(`the otpauth URI has no issuer parameter: ${uri}`);
    const secret = (parsed.searchParams.get('secret') || '').toUpperCase();
    const shown = (await page.locator('#secret').first().innerText()).trim();
    if (!/^([A-Z2-7]{4} )*[A-Z2-7]{1,4}$/.test(shown)) fail(`the secret is shown as "${shown}", not base32 grouped in fours`);
    if (shown.replace(/ /g, '') !== secret.replace(/=+$/, '')) fail(`the secret shown ("${shown}") is not the QR code's (${secret})`);
    for (const [name, expected] of [['algorithm', 'SHA1'], ['digits', '6'], ['period', '30']]) {
      const value = parsed.searchParams.get(name);
      if (value !== null && value.toUpperCase() !== expected) fail(`the URI asks for ${name}=${value}; the story's app (oathtool) uses ${expected}`);
    }
    aliceSecret = secret;
  });

  await step('Alice types the first one-time password, clicks Verify and gets recovery codes', async () => {
    const page = ALICE.page;
    const totp = await freshTotp(aliceSecret);
    await typeOtp(page, totp.code, 'Verify');
    await expectVisible(heading(page, 'Your recovery codes'), 'the heading "Your recovery codes" after Verify');
    totp.used();
    const codes = (await page.locator('main').getByRole('listitem').allInnerTexts()).map((t) => t.trim());
    log(`  ${codes.length} recovery codes, e.g. ${codes[0]}`);
    if (new Set(codes).size !== 10) note(`expected 10 different recovery codes in a list, found ${codes.length}: ${codes.join(', ')}`);
    ALICE.recoveryCodes = codes;
    await shot(page, 'enroll-recovery-codes');
  });

  await step('Bob\'s and the admin\'s YubiKeys are imported with `keyward yubikey import`', async () => {
    keys.bob = newYubikey(BOB, 5_012_345, dir);
    keys.admin = newYubikey(ADMIN, 5_012_346, dir);
    const csv = path.join(dir, 'configuration_log.csv');
    const lines = [keys.bob, keys.admin].map((k) => `${k.serial},${k.publicId},${k.privateId},${k.aes},,2026-11-01T10:00:00,`);
    fs.writeFileSync(csv, lines.join('\n') + '\n');
    const out = runOk(KEYWARD, ['yubikey', 'import', csv], { env });
    log(`  ${out}`);
    if (!/imported 2\b/.test(out)) fail(`keyward yubikey import said "${out}", not that it imported 2 keys`);
  });

  await step('YubiKey tab: the admin registers Bob\'s key and their own', async () => {
    await click(link(admin, 'YubiKey'), 'the tab "YubiKey"');
    if (new URL(admin.url()).pathname !== '/account/two-factor/yubikey') note(`the YubiKey tab is at ${new URL(admin.url()).pathname}`);
    await expectVisible(heading(admin, 'Register a new YubiKey'), 'the heading "Register a new YubiKey"');
    await shot(admin, 'yubikey-tab');
    for (const key of [keys.bob, keys.admin]) {
      const select = field(admin, 'User');
      await expectVisible(select, 'a select "User"');
      const options = await select.first().locator('option').evaluateAll((all) => all.map((o) => ({ value: o.value, text: o.textContent })));
      const option = options.find((o) => o.text.includes(key.owner.email));
      if (!option) fail(`the select "User" has no option for ${key.owner.email}: ${options.map((o) => o.text.trim()).join(', ')}`);
      await select.first().selectOption(option.value);
      await fill(admin, 'YubiKey OTP', touch(key));
      await submit(admin, 'Register');
      await expectVisible(admin.getByText(key.publicId), `the key ${key.publicId} listed after "Register"`);
      await shot(admin, `yubikey-registered-${key.owner.name}`);
    }
  });

  await step('Settings tab: "Activate", then "Confirm"', async () => {
    await click(link(admin, 'Settings'), 'the tab "Settings"');
    await click(link(admin, 'Activate'), 'the link "Activate" at the top of the Settings tab');
    await expectVisible(button(admin, 'Confirm'), 'a button "Confirm"');
    const listed = [];
    for (const who of [ADMIN, ALICE, BOB]) if (await admin.locator('main').getByText(who.email).count()) listed.push(who.email);
    if (listed.length) note(`the activation page lists ${listed.join(', ')} as users without a factor, but every user has one`);
    await expectVisible(admin.locator('main').getByText(CAROL.email, { exact: true }), `${CAROL.email}, not enrolled yet, listed`);
    // Carol gets two weeks to enroll.
    const deadline = new Date(Date.now() + 14 * 86_400_000).toISOString().slice(0, 10);
    await fill(admin, 'Users must enroll by', deadline);
    await shot(admin, 'activate-confirm');
    await submit(admin, 'Confirm');
    await expectVisible(link(admin, 'Deactivate'), 'the link "Deactivate" once two-factor authentication is active');
    await shot(admin, 'two-factor-active');
  });

  await step('Users & Security shows each user\'s two-factor state, and exports it as CSV', async () => {
    await openUsersAndSecurity(admin);
    await expectVisible(admin.getByText('3 of 4', { exact: false }), '"3 of 4" enrolled');
    for (const who of [ADMIN, ALICE, BOB, CAROL]) {
      const row = admin.getByRole('row').filter({ hasText: who.email });
      await expectVisible(row, `a row for ${who.email}`);
      log(`  ${(await row.first().innerText()).replace(/\s+/g, ' ').trim()}`);
    }
    await shot(admin, 'users-two-factor-active');
    const [download] = await Promise.all([admin.waitForEvent('download'), link(admin, 'Export as CSV').click()]);
    const csv = fs.readFileSync(await download.path(), 'utf8').trim().split(/\r?\n/);
    log(`  ${download.suggestedFilename()}: ${csv.length - 1} users; ${csv[0]}`);
    if (csv[0] !== 'email,role,enrolled,state' || csv.length !== 5) fail(`the CSV export reads:\n${csv.join('\n')}`);
    if (!csv.some((line) => line.startsWith(`${CAROL.email},user,no,`))) fail(`the CSV export does not show Carol as not enrolled:\n${csv.join('\n')}`);
  });

  await step('the admin lets browsers be remembered for 7 days', async () => {
    await openTwoFactorSettings(admin);
    await fill(admin, 'Days a browser may skip the second factor', '7');
    await submit(admin, 'Save');
    if (await button(admin, 'Continue').count()) {
      log('  step-up: a fresh second factor is asked for');
      await typeOtp(admin, touch(keys.admin), 'Continue');
      await fill(admin, 'Days a browser may skip the second factor', '7');
      await submit(admin, 'Save');
    }
    const shown = (await messages(admin)).join(' | ');
    if (!/remembered for 7 days/.test(shown)) fail(`after "Save" the page says: ${shown || '(nothing)'}`);
  });

  await step('the admin logs out', async () => {
    await logOut(admin, ADMIN);
    await shot(admin, 'logged-out');
  });

  // From here on one browser is shared, as at an office computer.
  const desk = admin;

  await step('Alice logs in with her password and a code from her app', async () => {
    await logInWithPassword(desk, base, ALICE, 'login');
    await expectSecondStep(desk, ALICE);
    await shot(desk, 'login-one-time-password');
    const totp = await freshTotp(aliceSecret);
    await typeOtp(desk, totp.code);
    await expectLoggedIn(desk, ALICE);
    totp.used();
    ALICE.lastCode = totp;
    await shot(desk, 'logged-in-alice');
    await logOut(desk, ALICE);
  });

  await step('Alice\'s code is refused when typed again; a recovery code logs her in', async () => {
    await logInWithPassword(desk, base, ALICE);
    await expectSecondStep(desk, ALICE);
    const nowStep = Math.floor(Date.now() / 1000 / 30);
    if (nowStep > ALICE.lastCode.step + 1) log('  (the code is now also out of the ±1 step window, so this checks less than a replay)');
    await typeOtp(desk, ALICE.lastCode.code);
    await expectOtpRefused(desk, ALICE, 'a TOTP code typed again');
    await shot(desk, 'login-code-refused');
    // As with a lost phone: one of the recovery codes instead of a one-time password.
    await typeOtp(desk, ALICE.recoveryCodes[0]);
    await expectLoggedIn(desk, ALICE);
    await waitForMail(ALICE.email, { subject: /recovery code/i }, 'a notice that a recovery code was used');
    await logOut(desk, ALICE);
    await logInWithPassword(desk, base, ALICE);
    await expectSecondStep(desk, ALICE);
    await typeOtp(desk, ALICE.recoveryCodes[0]);
    await expectOtpRefused(desk, ALICE, 'a recovery code typed again');
  });

  await step('Bob logs in with his password and a YubiKey touch, by keyboard alone, the focus always visible', async () => {
    await goto(desk, `${base}/login`, 'the login page');
    await tabTo(desk, 'email');
    await desk.keyboard.type(BOB.email);
    await tabTo(desk, 'password');
    await desk.keyboard.type(BOB.password);
    await Promise.all([desk.waitForEvent('framenavigated'), desk.keyboard.press('Enter')]);
    await desk.waitForLoadState('load');
    await expectSecondStep(desk, BOB);
    const focused = await desk.evaluate(() => document.activeElement?.id);
    if (focused !== 'otp') note(`the second step does not put the focus in the one-time password field (it is on "${focused}")`);
    BOB.lastOtp = touch(keys.bob);
    await desk.keyboard.type(BOB.lastOtp);
    await Promise.all([desk.waitForEvent('framenavigated'), desk.keyboard.press('Enter')]);
    await desk.waitForLoadState('load');
    await expectLoggedIn(desk, BOB);
    await shot(desk, 'logged-in-bob');
    await logOut(desk, BOB);
  });

  await step('Bob\'s YubiKey OTP is refused when typed again; a new touch logs him in', async () => {
    await logInWithPassword(desk, base, BOB);
    await expectSecondStep(desk, BOB);
    await typeOtp(desk, BOB.lastOtp);
    await expectOtpRefused(desk, BOB, 'a YubiKey OTP typed again');
    await shot(desk, 'login-yubikey-otp-refused');
    await typeOtp(desk, touch(keys.bob));
    await expectLoggedIn(desk, BOB);
    await logOut(desk, BOB);
  });

  await step('Carol has no factor yet: inside the grace period her password logs her in, and she enrolls from My security', async () => {
    await logInWithPassword(desk, base, CAROL);
    await expectLoggedIn(desk, CAROL);
    await expectVisible(desk.getByText('days left to set up two-factor authentication', { exact: false }), 'a banner with the days left');
    await shot(desk, 'grace-banner');
    await click(link(desk, 'Enroll now'), 'the link "Enroll now"');
    await expectVisible(heading(desk, 'My security'), 'My security');
    await fill(desk, 'Password', CAROL.password);
    await submit(desk, 'Continue');
    CAROL.secret = await secretFromQr(desk, dir);
    const totp = await freshTotp(CAROL.secret);
    await typeOtp(desk, totp.code, 'Verify');
    totp.used();
    await expectVisible(heading(desk, 'Your recovery codes'), 'her recovery codes');
    await click(link(desk, 'Continue'), 'the link "Continue"');
    if (await desk.getByText('days left to set up', { exact: false }).count()) fail('the banner is still shown after enrolling');
    await logOut(desk, CAROL);
  });

  await step('Carol registers a security key on My security and logs in with it', async () => {
    // Chrome's virtual authenticator stands in for a USB security key with a PIN.
    const cdp = await desk.context().newCDPSession(desk);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await logInWithPassword(desk, base, CAROL);
    await expectSecondStep(desk, CAROL);
    if (await button(desk, 'Use your security key').count()) fail('"Use your security key" is offered before Carol has one');
    const totp = await freshTotp(CAROL.secret);
    await typeOtp(desk, totp.code);
    totp.used();
    await expectLoggedIn(desk, CAROL);
    await goto(desk, `${base}/account/security`, 'My security');
    await expectVisible(heading(desk, 'Register a security key or passkey'), 'a section "Register a security key or passkey"');
    await fill(desk, 'Name of the key', 'Blue YubiKey');
    await shot(desk, 'security-key-register');
    await submit(desk, 'Register security key');
    await expectVisible(desk.getByText('The security key “Blue YubiKey” is registered.', { exact: true }), 'the notice that the key is registered');
    await expectVisible(desk.getByRole('cell', { name: 'Security key "Blue YubiKey"', exact: true }), 'the key among her factors');
    await shot(desk, 'security-key-registered');
    await logOut(desk, CAROL);

    await logInWithPassword(desk, base, CAROL);
    await expectVisible(button(desk, 'Use your security key'), 'a button "Use your security key" at the second step');
    await expectVisible(field(desk, 'One-time password'), 'the code field beside it, for her app and recovery codes');
    await shot(desk, 'security-key-login');
    await submit(desk, 'Use your security key');
    await expectLoggedIn(desk, CAROL);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    if (credentials.length !== 1 || credentials[0].signCount < 1) fail(`the virtual authenticator holds ${JSON.stringify(credentials)}`);
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
    await logOut(desk, CAROL);
  });

  let operator;
  let requestPath;
  await step('an operator is added with `keyward operator add`, sets a password and sets up an app at /support', async () => {
    const out = runOk(KEYWARD, ['operator', 'add', OPERATOR.email], { env });
    const setUp = out.match(/https?:\/\/\S+\/password\/\S+/);
    if (!setUp) fail(`keyward operator add printed "${out}", with no set-up link`);
    operator = await newPage(browser, 'operator');
    // The link names the configured public URL; the story's server listens elsewhere.
    await goto(operator, `${base}${new URL(setUp[0]).pathname}`, 'the operator\'s set-up link');
    await fill(operator, 'New password', OPERATOR.password);
    await submit(operator, 'Save password');
    await goto(operator, `${base}/support`, 'the support console');
    await expectVisible(heading(operator, 'Support console'), 'the support console\'s login');
    await fill(operator, 'E-mail address', OPERATOR.email);
    await fill(operator, 'Password', OPERATOR.password);
    await shot(operator, 'support-login');
    await submit(operator, 'Log in');
    await expectVisible(operator.locator('svg[role=img]'), 'the set-up of an app before the console opens (a QR code)');
    await shot(operator, 'support-setup');
    OPERATOR.secret = await secretFromQr(operator, dir);
    const totp = await freshTotp(OPERATOR.secret);
    await typeOtp(operator, totp.code, 'Verify');
    totp.used();
    await expectVisible(heading(operator, 'Your recovery codes'), 'the operator\'s recovery codes');
    await click(link(operator, 'Continue'), 'the link "Continue"');
    await expectVisible(heading(operator, 'Support console'), 'the support console');
  });

  await step('Alice lost her phone: after her password, "Lost your device?" sends support a request', async () => {
    await logInWithPassword(desk, base, ALICE);
    await expectSecondStep(desk, ALICE);
    await click(link(desk, 'Lost your device?'), 'the link "Lost your device?"');
    await fill(desk, 'What happened?', 'My phone was stolen on the train this morning.');
    await fill(desk, 'How can support reach you?', '+45 20 30 40 50');
    await shot(desk, 'lost-device');
    await submit(desk, 'Send request');
    await expectVisible(heading(desk, 'Support has your request'), 'the heading "Support has your request"');
    await waitForMail(ALICE.email, { subject: /received your request/i }, 'a confirmation of the request');
    await waitForMail(ADMIN.email, { subject: /asked support/i }, 'a notice to the admin');
  });

  await step('the operator reads the account\'s policy, records whom they called and what was confirmed, and approves', async () => {
    await goto(operator, `${base}/support`, 'the support console');
    const request = operator.getByRole('link', { name: /^Request \d+$/ });
    await expectVisible(request, 'the open request in the console');
    await shot(operator, 'support-console');
    await click(request.first(), 'the request');
    requestPath = new URL(operator.url()).pathname;
    await expectVisible(heading(operator, `Policy of ${ACCOUNT} for disabling two-factor authentication`), 'the account\'s policy first');
    await expectVisible(operator.getByText(POLICY.slice(0, 40)).first(), 'the policy\'s text');
    await fill(operator, 'Whom did you contact?', 'Carol Jensen, office manager');
    await fill(operator, 'Through which channel?', 'phone, on +45 70 20 30 40 from the policy');
    await fill(operator, 'What did they confirm?', 'Alice reported the stolen phone to Carol this morning and is at her desk.');
    await shot(operator, 'support-request');
    await submit(operator, 'Approve');
    const shown = (await messages(operator)).join(' | ');
    if (!/Approved/.test(shown)) fail(`after "Approve" the page says: ${shown || '(nothing)'}`);
    await shot(operator, 'support-approved');
    await waitForMail(ADMIN.email, { subject: /Support reset the two-factor authentication/i }, 'a notice to the admin');
  });

  await step('Alice enrolls her new phone from the fresh e-mail and logs in with it', async () => {
    const mail = await waitForMail(ALICE.email, /^\/enroll\/[^/]+$/, 'a fresh enrollment link');
    await goto(desk, mail.link, 'the fresh enrollment link');
    await fill(desk, 'Password', ALICE.password);
    await submit(desk, 'Continue');
    const secret = await secretFromQr(desk, dir);
    const first = await freshTotp(secret);
    await typeOtp(desk, first.code, 'Verify');
    first.used();
    await expectVisible(heading(desk, 'Your recovery codes'), 'new recovery codes');
    await logInWithPassword(desk, base, ALICE);
    await expectSecondStep(desk, ALICE);
    const code = await freshTotp(secret);
    await typeOtp(desk, code.code);
    code.used();
    await expectLoggedIn(desk, ALICE);
    await logOut(desk, ALICE);
    ALICE.secret = secret;
  });

  await step('Alice ticks "Remember this browser"; her next login skips the code, until a password reset', async () => {
    await logInWithPassword(desk, base, ALICE);
    await expectSecondStep(desk, ALICE);
    await desk.getByLabel('Remember this browser for 7 days').check();
    await shot(desk, 'login-remember-browser');
    const totp = await freshTotp(ALICE.secret);
    await typeOtp(desk, totp.code);
    totp.used();
    await expectLoggedIn(desk, ALICE);
    await logOut(desk, ALICE);
    await logInWithPassword(desk, base, ALICE);
    await expectLoggedIn(desk, ALICE);
    await click(link(desk, 'My security'), 'the link "My security"');
    await expectVisible(desk.getByText('password, remembered browser').first(), 'the remembered sign-in in "Recent sign-ins"');
    await shot(desk, 'my-security');
    await logOut(desk, ALICE);
    await click(link(desk, 'Forgot your password?'), 'the link "Forgot your password?"');
    await fill(desk, 'E-mail address', ALICE.email);
    await submit(desk, 'Send the link');
    const mail = await waitForMail(ALICE.email, /^\/password\/[^/]+$/, 'a password reset link');
    await goto(desk, mail.link, 'the reset link');
    await fill(desk, 'New password', ALICE.password);
    await submit(desk, 'Save password');
    await logInWithPassword(desk, base, ALICE);
    await expectSecondStep(desk, ALICE);
    const again = await freshTotp(ALICE.secret);
    await typeOtp(desk, again.code);
    again.used();
    await expectLoggedIn(desk, ALICE);
    await logOut(desk, ALICE);
  });

  await step('the admin\'s audit log shows who did what, when and why', async () => {
    await logInWithPassword(desk, base, ADMIN);
    await expectSecondStep(desk, ADMIN);
    await typeOtp(desk, touch(keys.admin));
    await expectLoggedIn(desk, ADMIN);
    await click(link(desk, 'Audit log'), 'the link "Audit log"');
    for (const text of ['disable_request.approved', 'disable_request.opened', 'factors.reset', OPERATOR.email]) {
      await expectVisible(desk.getByRole('table').getByText(text).first(), `"${text}" in the audit log`);
    }
    await shot(desk, 'audit-log');
    await logOut(desk, ADMIN);
  });

  await step('the admin logs in with a YubiKey touch, "Deactivate", "Confirm"', async () => {
    await logInWithPassword(desk, base, ADMIN);
    await expectSecondStep(desk, ADMIN);
    await typeOtp(desk, touch(keys.admin));
    await expectLoggedIn(desk, ADMIN);
    await openTwoFactorSettings(desk);
    await click(link(desk, 'Deactivate'), 'the link "Deactivate"');
    await expectVisible(button(desk, 'Confirm').or(button(desk, 'Continue')), 'a "Confirm" button (or a step-up page with "Continue")');
    if (await button(desk, 'Continue').count()) {
      log('  step-up: a fresh second factor is asked for');
      await shot(desk, 'deactivate-step-up');
      await typeOtp(desk, touch(keys.admin), 'Continue');
      await expectVisible(button(desk, 'Confirm'), 'a button "Confirm" after the step-up');
    } else {
      log('  no step-up asked (the login\'s second factor is less than 5 minutes old)');
      skipShot();
    }
    await shot(desk, 'deactivate-confirm');
    await submit(desk, 'Confirm');
    await expectVisible(link(desk, 'Activate'), 'the link "Activate" again after deactivating');
    await shot(desk, 'two-factor-deactivated');
    await logOut(desk, ADMIN);
  });

  await step('with two-factor authentication off, Alice logs in with her password alone', async () => {
    await logInWithPassword(desk, base, ALICE);
    await expectLoggedIn(desk, ALICE);
    await logOut(desk, ALICE);
  });
}

// ---------------------------------------------------------------------------------------------

async function main() {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'keyward-e2e-'));
  const dataDir = path.join(scratch, 'data');
  const sinkDir = path.join(scratch, 'smtp');
  fs.mkdirSync(sinkDir, { recursive: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  mailDirs.push(sinkDir, path.join(dataDir, 'outbox'));
  log(`scratch directory ${scratch}; screenshots into ${path.relative(process.cwd(), SHOTS) || '.'}`);

  let browser;
  let ok = false;
  try {
    await step('start the SMTP sink, keyward serve and Chromium', async () => {
      for (const [tool, pkg] of [['zbarimg', 'zbar-tools'], ['oathtool', 'oathtool'], ['rsvg-convert', 'librsvg2-bin']]) {
        if (run('sh', ['-c', `command -v ${tool}`]).status !== 0) fail(`${tool} is missing (Debian package ${pkg})`);
      }
      if (!fs.existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing (Debian package chromium)`);
      const smtpPort = USE_SMTP ? await startSmtpSink(sinkDir) : null;
      log(smtpPort ? `  SMTP sink on 127.0.0.1:${smtpPort}` : '  no SMTP: e-mails are read from the outbox folder');
      const server = await startServer(scratch, dataDir, smtpPort);
      log(`  keyward serve on ${server.base}`);
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      log(`  Chromium ${browser.version()}`);
      main.server = server;
    });
    await story(browser, main.server.base, main.server.env, scratch);
    ok = true;
  } catch (error) {
    console.log(`\nFAILED at step ${stepNumber}: ${currentStep}`);
    console.log(`  ${error instanceof StepFailure ? error.message : error.stack}`);
    if (activePage && !activePage.isClosed()) {
      console.log(`  browser at: ${activePage.url()}`);
      const title = await activePage.title().catch(() => '');
      const h1 = await activePage.locator('h1').first().innerText({ timeout: 500 }).catch(() => '');
      console.log(`  page title "${title}", heading "${h1}"`);
      const shown = await messages(activePage).catch(() => []);
      if (shown.length) console.log(`  messages on the page: ${shown.join(' | ')}`);
      const failure = path.join(scratch, 'failure.png');
      await activePage.screenshot({ path: failure, fullPage: true }).catch(() => {});
      console.log(`  screenshot of the failure: ${failure}`);
    }
    if (lastNavigation) console.log(`  last page load: ${lastNavigation}`);
    console.log(`  server log (${serverLog}), last lines:\n${tail(serverLog, 25).replace(/^/gm, '    | ')}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    stopChildren();
  }

  if (consoleProblems.length) {
    console.log(`\nbrowser console errors (CSP violations, scripts):\n  ${consoleProblems.join('\n  ')}`);
  }
  console.log(`\naxe-core checked ${axeChecked.size} pages; minor and moderate findings: ${axeFindings.length ? `\n  ${axeFindings.join('\n  ')}` : 'none'}`);
  if (contractNotes.length) {
    console.log(`\nthe UI differs from the contract:\n  ${contractNotes.join('\n  ')}`);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (ok) {
    // Screenshots of an earlier run whose numbering no longer matches are removed.
    for (const name of fs.readdirSync(SHOTS)) {
      if (/^\d\d-.*\.png$/.test(name) && !shotsWritten.has(name)) fs.rmSync(path.join(SHOTS, name));
    }
    if (!KEEP) fs.rmSync(scratch, { recursive: true, force: true });
  }
  if (ok && contractNotes.length === 0) {
    console.log(`\nthe story passed: ${stepNumber} steps, ${shotsWritten.size} screenshots, ${seconds} s`);
    process.exit(0);
  }
  if (ok) console.log(`\nevery step passed in ${seconds} s, but the UI differs from the contract (above)`);
  else console.log(`\nthe story FAILED after ${seconds} s; scratch directory kept: ${scratch}`);
  process.exit(1);
}

await main();
