'use strict';
// page.test.js - the web page (clients/web/dist, built by `make web`) end to
// end: mqchatd serving it, Debian's chromium (headless, driven by
// playwright-core) with two browser contexts, alice and bob, and a third
// user, carol, speaking MQTT.js over TCP from here. The steps run in order
// and build on each other; a failed step saves screenshots of both pages
// (their paths are printed), and so does the end of a successful run.
//
// Environment: MQCHAT_BROKER (lib/broker.js), CHROMIUM (default
// /usr/bin/chromium), MQCHAT_WEB_DIST (default clients/web/dist),
// MQCHAT_WEB_SHOTS (where screenshots go; default a new directory under
// $TMPDIR).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');

const mqtt = require('mqtt');
const { chromium } = require('playwright-core');

const { Broker, ROOT, sleep } = require('../lib/broker.js');

const WAIT = 10000; // ms for what must show up on a page
const RECONNECT_WAIT = 20000; // ms for a page to come back online after a restart
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DIST = path.resolve(process.env.MQCHAT_WEB_DIST || path.join(ROOT, 'clients', 'web', 'dist'));
const SHOTS = process.env.MQCHAT_WEB_SHOTS ||
  fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'mqchat-web-shots-'));

const suffix = Math.random().toString(36).slice(2, 8);
const ALICE = `alice-${suffix}`;
const BOB = `bob-${suffix}`;
const CAROL = `carol-${suffix}`;
const PASSWORD = { [ALICE]: 'alice pass 1', [BOB]: 'bob pass 2' };
const LOBBY = `lobby-${suffix}`;
const ARCHIVE = `archive-${suffix}`;
const OLD = 60; // messages in ARCHIVE before anyone opens it (more than one page of 50)

let broker;
let browser;
const pages = {}; // user -> Page
const pageErrors = []; // uncaught exceptions and CSP violations in the pages
let carol;

// ---- helpers ----

async function screenshots(label) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const saved = [];
  for (const [user, page] of Object.entries(pages)) {
    const file = path.join(SHOTS, `${label}-${user.split('-')[0]}.png`);
    try {
      await page.screenshot({ path: file, fullPage: true, timeout: 5000 });
      saved.push(file);
    } catch (e) {
      console.log(`screenshot of ${user} failed: ${e.message}`);
    }
  }
  for (const f of saved) console.log(`screenshot: ${f}`);
  return saved;
}

// A step: its failure saves screenshots first (and the broker's log).
function step(name, fn) {
  it(name, async () => {
    try {
      await fn();
    } catch (e) {
      console.log(`step "${name}" failed: ${e.message}`);
      await screenshots(`failed-${name.replace(/[^a-z0-9]+/gi, '-')}`);
      if (broker) console.log(broker.logTail(30));
      if (pageErrors.length) console.log(`page errors:\n${pageErrors.join('\n')}`);
      throw e;
    }
  });
}

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// The message with exactly this text in the conversation on screen.
function message(page, text) {
  return byTestId(page, 'messages').locator('[data-testid="message"]', {
    has: page.locator('[data-testid="message-text"]', { hasText: new RegExp(`^${escapeRe(text)}$`) }),
  });
}

async function seesMessage(page, text, from) {
  const m = message(page, text);
  await m.first().waitFor({ state: 'visible', timeout: WAIT });
  if (from) assert.equal(await m.first().getAttribute('data-from'), from);
  return m.first();
}

async function connState(page, state, timeout = WAIT) {
  await page.waitForFunction(
    (s) => document.querySelector('[data-testid="conn-status"]').dataset.state === s,
    state, { timeout, polling: 50 });
}

async function presence(page, n) {
  await page.waitForFunction(
    (want) => document.querySelector('[data-testid="presence-count"]').dataset.count === want,
    String(n), { timeout: WAIT, polling: 50 });
}

async function texts(page) {
  return byTestId(page, 'messages').locator('[data-testid="message-text"]').allTextContents();
}

async function send(page, text) {
  await byTestId(page, 'composer-input').fill(text);
  await byTestId(page, 'composer-send').click();
}

async function joinRoom(page, room) {
  await byTestId(page, 'join-room').fill(room);
  await byTestId(page, 'join-submit').click();
  await page.waitForFunction(
    (r) => document.querySelector('[data-testid="conv-title"]').dataset.name === r,
    room, { timeout: WAIT });
  await connState(page, 'online');
}

// The room's entry in the sidebar's list, once it shows with data-joined
// "true" or "false".
async function roomItem(page, room, joined) {
  const item = page.locator(`[data-testid="room-item"][data-room="${room}"][data-joined="${joined}"]`);
  await item.waitFor({ state: 'visible', timeout: WAIT });
  return item;
}

async function openRoomFromList(page, room) {
  await page.locator(`[data-testid="room-item"][data-room="${room}"]`).click();
  await page.waitForFunction(
    (r) => document.querySelector('[data-testid="conv-title"]').dataset.name === r,
    room, { timeout: WAIT });
}

// A user made through the service key, and a token for it.
async function serviceUser(name, password) {
  const body = { id: name };
  if (password) body.password = password;
  const made = await broker.api('POST', '/v1/users', body, broker.serviceKey);
  assert.equal(made.status, 201, made.text);
  const tok = await broker.api('POST', '/v1/tokens', { user: name, ttl: 3600 }, broker.serviceKey);
  assert.equal(tok.status, 200, tok.text);
  return tok.body.token;
}

function mqttClient(user, token) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(broker.mqttUrl, {
      protocolVersion: 5, username: user, password: token, clientId: `node-${user}`,
      reconnectPeriod: 0, connectTimeout: 5000,
    });
    const timer = setTimeout(() => reject(new Error(`${user}: no CONNACK`)), WAIT);
    c.once('connect', () => {
      clearTimeout(timer);
      resolve(c);
    });
    c.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function publish(c, topic, text) {
  return new Promise((resolve, reject) => {
    c.publish(topic, JSON.stringify({ text }), { qos: 1 }, (err, pkt) => {
      if (err) reject(err);
      else if (pkt && pkt.reasonCode >= 0x80) reject(new Error(`refused: ${pkt.reasonCode}`));
      else resolve();
    });
  });
}

async function newPage(user) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => pageErrors.push(`${user}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) {
      pageErrors.push(`${user}: ${m.text()}`);
    }
  });
  pages[user] = page;
  await page.goto(broker.httpUrl + '/', { waitUntil: 'domcontentloaded' });
  return page;
}

// ---- the run ----

describe('web page', { timeout: 180000 }, () => {
  before(async () => {
    assert.ok(fs.existsSync(path.join(DIST, 'index.html')),
      `${DIST}/index.html is missing: build the page first (make web)`);
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
    broker = new Broker(DIST, 'chat.presence_interval 200\nchat.presence_grace 500\n');
    await broker.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true, timeout: 30000,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
  });

  after(async () => {
    if (carol) carol.end(true);
    if (browser) await browser.close().catch(() => {});
    if (broker) {
      const status = await broker.stop();
      if (status !== 0) console.log(broker.logTail(40));
      broker.cleanup();
      assert.equal(status, 0, 'mqchatd must exit 0 on SIGTERM');
    }
  });

  step('the page is served at /', async () => {
    const r = await fetch(broker.httpUrl + '/');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(await r.text(), /<title>mqchat<\/title>/);
    const js = await fetch(broker.httpUrl + '/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
  });

  step('sign up, a wrong password, sign in', async () => {
    await serviceUser(BOB, PASSWORD[BOB]);
    const alice = await newPage(ALICE);
    const bob = await newPage(BOB);
    // alice signs up on the page (open sign-up), bob has an account.
    await byTestId(alice, 'signin-user').fill(ALICE);
    await byTestId(alice, 'signin-password').fill(PASSWORD[ALICE]);
    await byTestId(alice, 'signup-submit').click();
    await byTestId(bob, 'signin-user').fill(BOB);
    await byTestId(bob, 'signin-password').fill('not the password');
    await byTestId(bob, 'signin-submit').click();
    await bob.waitForFunction(
      () => /Wrong user id or password/.test(document.querySelector('[data-testid="signin-error"]').textContent),
      null, { timeout: WAIT });
    await byTestId(bob, 'signin-password').fill(PASSWORD[BOB]);
    await byTestId(bob, 'signin-submit').click();
    for (const [user, page] of [[ALICE, alice], [BOB, bob]]) {
      await byTestId(page, 'chat-view').waitFor({ state: 'visible' });
      assert.equal(await byTestId(page, 'whoami').textContent(), user);
    }
  });

  step('alice makes a room, bob finds it in the room list and opens it', async () => {
    const alice = pages[ALICE];
    const bob = pages[BOB];
    // alice by name (made on first use); her list shows it, joined.
    await joinRoom(alice, LOBBY);
    const mine = await roomItem(alice, LOBBY, 'true');
    assert.equal(await mine.locator('[data-testid="room-joined"]').count(), 1);
    // bob's list was read when he signed in: refreshed, it has alice's
    // room, not joined yet; a click joins and opens it.
    await byTestId(bob, 'rooms-refresh').click();
    const item = await roomItem(bob, LOBBY, 'false');
    assert.equal(await item.locator('[data-testid="room-join"]').count(), 1);
    await item.click();
    await bob.waitForFunction(
      (r) => document.querySelector('[data-testid="conv-title"]').dataset.name === r,
      LOBBY, { timeout: WAIT });
    await connState(bob, 'online');
    const joined = await roomItem(bob, LOBBY, 'true');
    assert.equal(await joined.getAttribute('aria-current'), 'true');
    await presence(alice, 2);
    await presence(bob, 2);
  });

  step('room messages both ways', async () => {
    const alice = pages[ALICE];
    const bob = pages[BOB];
    await send(alice, 'hello from alice');
    await seesMessage(bob, 'hello from alice', ALICE);
    await seesMessage(alice, 'hello from alice', ALICE);
    await send(bob, 'hi alice, bob here');
    await seesMessage(alice, 'hi alice, bob here', BOB);
    await seesMessage(bob, 'hi alice, bob here', BOB);
    assert.deepEqual(await texts(alice), ['hello from alice', 'hi alice, bob here']);
    assert.deepEqual(await texts(bob), ['hello from alice', 'hi alice, bob here']);
    // Text is text: markup arrives as characters.
    await send(bob, '<b>not bold</b><img src=x onerror=alert(1)>');
    const m = await seesMessage(alice, '<b>not bold</b><img src=x onerror=alert(1)>', BOB);
    assert.equal(await m.locator('b, img').count(), 0);
  });

  step('decorations are shown', async () => {
    const alice = pages[ALICE];
    await byTestId(alice, 'deco-color').fill('#cc3300');
    await alice.waitForFunction(
      () => /name colour is set/.test(document.querySelector('[data-testid="flash"]').textContent),
      null, { timeout: WAIT });
    await send(alice, 'now in colour');
    const m = await seesMessage(pages[BOB], 'now in colour', ALICE);
    const from = m.locator('[data-testid="message-from"]');
    assert.equal(await from.getAttribute('data-color'), '#cc3300');
    assert.equal(await from.evaluate((e) => getComputedStyle(e).color), 'rgb(204, 51, 0)');
  });

  step('a direct message from bob reaches alice', async () => {
    const alice = pages[ALICE];
    const bob = pages[BOB];
    await byTestId(bob, 'dm-user').fill(ALICE);
    await byTestId(bob, 'dm-submit').click();
    await bob.waitForFunction(
      (u) => document.querySelector('[data-testid="conv-title"]').dataset.name === u,
      ALICE, { timeout: WAIT });
    await send(bob, 'psst, only for you');
    await seesMessage(bob, 'psst, only for you', BOB);
    const item = alice.locator(`[data-testid="dm-item"][data-user="${BOB}"]`);
    await item.locator('[data-testid="dm-unread"]').waitFor({ state: 'visible' });
    // Not in the room alice is looking at.
    assert.equal(await message(alice, 'psst, only for you').count(), 0);
    await item.click();
    await seesMessage(alice, 'psst, only for you', BOB);
    assert.equal(await item.locator('[data-testid="dm-unread"]').count(), 0);
    // alice answers; bob has the conversation open.
    await send(alice, 'got it');
    await seesMessage(bob, 'got it', ALICE);
    // Back to the room for both: its history is there again.
    await openRoomFromList(alice, LOBBY);
    await openRoomFromList(bob, LOBBY);
    await seesMessage(alice, 'hello from alice', ALICE);
    await seesMessage(bob, 'now in colour', ALICE);
    await presence(alice, 2);
  });

  step('history: older messages by scrolling back', async () => {
    const token = await serviceUser(CAROL);
    carol = await mqttClient(CAROL, token);
    for (let i = 1; i <= OLD; i++) {
      await publish(carol, `chat/room/${ARCHIVE}`, `old ${String(i).padStart(2, '0')}`);
    }
    const bob = pages[BOB];
    await joinRoom(bob, ARCHIVE);
    await seesMessage(bob, `old ${OLD}`, CAROL);
    await byTestId(bob, 'load-older').waitFor({ state: 'visible' });
    const first = await texts(bob);
    assert.ok(first.length < OLD, `one page first, got ${first.length}`);
    assert.equal(await message(bob, 'old 01').count(), 0);
    // Scrolling to the top loads the page before.
    await byTestId(bob, 'scroller').evaluate((e) => {
      e.scrollTop = 0;
    });
    await seesMessage(bob, 'old 01', CAROL);
    const all = await texts(bob);
    assert.deepEqual(all, Array.from({ length: OLD }, (_, i) => `old ${String(i + 1).padStart(2, '0')}`));
    // Further back: nothing older, the start is shown (the button, or
    // scrolling to the top, asks for the empty page that says so).
    const start = byTestId(bob, 'history-start');
    const deadline = Date.now() + WAIT;
    while (!(await start.isVisible()) && Date.now() < deadline) {
      await byTestId(bob, 'scroller').evaluate((e) => {
        e.scrollTop = 0;
      });
      await byTestId(bob, 'load-older').click({ timeout: 500 }).catch(() => {});
      await sleep(100);
    }
    assert.ok(await start.isVisible(), 'the start of the history is shown');
    assert.equal(await byTestId(bob, 'load-older').isVisible(), false);
    assert.equal((await texts(bob)).length, OLD);
    // A live message still lands at the bottom.
    await publish(carol, `chat/room/${ARCHIVE}`, 'fresh one');
    await seesMessage(bob, 'fresh one', CAROL);
    assert.equal((await texts(bob)).at(-1), 'fresh one');
    await openRoomFromList(bob, LOBBY);
  });

  step('after alice blocks bob she does not see his messages', async () => {
    const alice = pages[ALICE];
    const bob = pages[BOB];
    await presence(alice, 2);
    const bobs = message(alice, 'hi alice, bob here');
    await bobs.first().waitFor({ state: 'visible' });
    await bobs.first().locator('[data-testid="block-button"]').click();
    await alice.locator(`[data-testid="blocked-item"][data-user="${BOB}"]`).waitFor({ state: 'visible' });
    await alice.waitForFunction(
      (u) => !document.querySelector(`[data-testid="messages"] [data-from="${u}"]`),
      BOB, { timeout: WAIT });
    await send(bob, 'can you hear me?');
    await seesMessage(bob, 'can you hear me?', BOB);
    // carol's message after bob's reaches alice; bob's never does.
    await publish(carol, `chat/room/${LOBBY}`, 'carol was here');
    await seesMessage(alice, 'carol was here', CAROL);
    await sleep(500);
    assert.equal(await message(alice, 'can you hear me?').count(), 0);
    assert.equal(await alice.locator(`[data-testid="messages"] [data-from="${BOB}"]`).count(), 0);
    // Unblocking brings bob's messages back (the room's history).
    await alice.locator(`[data-testid="blocked-item"][data-user="${BOB}"] [data-testid="unblock-button"]`).click();
    await seesMessage(alice, 'can you hear me?', BOB);
    assert.equal(await alice.locator('[data-testid="blocked-item"]').count(), 0);
  });

  step('offline while the broker is down, online again after a restart', async () => {
    const alice = pages[ALICE];
    const bob = pages[BOB];
    await connState(alice, 'online');
    await connState(bob, 'online');
    carol.end(true);
    carol = null;
    const status = await broker.stop();
    assert.equal(status, 0, 'mqchatd must exit 0 on SIGTERM');
    await connState(alice, 'offline');
    await connState(bob, 'offline');
    assert.equal(await byTestId(alice, 'composer-send').isDisabled(), true);
    await screenshots('offline');
    await broker.restart();
    await connState(alice, 'online', RECONNECT_WAIT);
    await connState(bob, 'online', RECONNECT_WAIT);
    // Subscribed again: a new message arrives live, presence too.
    await presence(alice, 2);
    await send(bob, 'back again');
    await seesMessage(alice, 'back again', BOB);
    await send(alice, 'welcome back');
    await seesMessage(bob, 'welcome back', ALICE);
  });

  step('no script errors in the pages', async () => {
    assert.deepEqual(pageErrors, []);
    await screenshots('passed');
  });
});
