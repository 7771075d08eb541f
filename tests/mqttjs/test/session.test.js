'use strict';
// Message expiry, session expiry, will delay, and the reason codes of the
// DISCONNECT a server sends.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Broker } = require('../lib/broker');
const u = require('../lib/util');

const broker = new Broker();
before(() => broker.start());
after(() => broker.stop());

// Connects a persistent-session client: Clean Start as given, Session
// Expiry Interval `expiry`.
function persistent(clientId, clean, expiry, extra = {}) {
  return u.connect(broker.url, {
    clientId, clean, ...extra, properties: { sessionExpiryInterval: expiry, ...(extra.properties || {}) },
  });
}

test('Message Expiry Interval is forwarded to a live subscriber', async (t) => {
  const track = u.tracker(t);
  const topic = u.name('js/expiry/live');
  const sub = await u.connect(broker.url);
  track(sub.client);
  await u.subscribe(sub.client, topic, { qos: 1 });
  const pub = track((await u.connect(broker.url)).client);
  await u.publish(pub, topic, 'e', { qos: 1, properties: { messageExpiryInterval: 60 } });
  await u.publish(pub, topic, 'n', { qos: 1 });
  const e = await sub.inbox.next();
  const left = e.packet.properties.messageExpiryInterval;
  assert.ok(left >= 59 && left <= 60, `expiry ${left} forwarded, 59..60 expected`);
  const n = await sub.inbox.next();
  assert.equal(n.packet.properties && n.packet.properties.messageExpiryInterval, undefined);
});

test('queued messages: remaining expiry forwarded, expired ones dropped', async (t) => {
  const track = u.tracker(t);
  const id = u.name('js-expiry-q');
  const topic = u.name('js/expiry/queued');
  const first = await persistent(id, true, 30);
  await u.subscribe(first.client, topic, { qos: 1 });
  await u.end(first.client);
  const pub = track((await u.connect(broker.url)).client);
  await u.publish(pub, topic, 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
  await u.publish(pub, topic, 'long', { qos: 1, properties: { messageExpiryInterval: 30 } });
  await u.publish(pub, topic, 'forever', { qos: 1 });
  await u.sleep(2200);
  const again = await persistent(id, false, 30);
  track(again.client);
  assert.equal(again.connack.sessionPresent, true);
  const m1 = await again.inbox.next();
  assert.equal(m1.payload, 'long', 'the expired message was delivered');
  const left = m1.packet.properties.messageExpiryInterval;
  assert.ok(left >= 26 && left <= 28, `expiry ${left} after 2.2 s queued, 27 or 28 expected`);
  const m2 = await again.inbox.next();
  assert.equal(m2.payload, 'forever');
  assert.equal(m2.packet.properties && m2.packet.properties.messageExpiryInterval, undefined);
  assert.deepEqual(await again.inbox.quiet(), []);
});

test('Session Expiry 30 keeps the subscription and queued QoS 1 and 2 messages', async (t) => {
  const track = u.tracker(t);
  const id = u.name('js-session');
  const topic = u.name('js/session');
  const first = await persistent(id, true, 30);
  assert.equal(first.connack.sessionPresent, false);
  await u.subscribe(first.client, topic, { qos: 2 });
  await u.end(first.client);
  const pub = track((await u.connect(broker.url)).client);
  await u.publish(pub, topic, 'q1', { qos: 1 });
  await u.publish(pub, topic, 'q2', { qos: 2 });
  const again = await persistent(id, false, 30);
  track(again.client);
  assert.equal(again.connack.sessionPresent, true);
  const a = await again.inbox.next();
  const b = await again.inbox.next();
  assert.deepEqual([[a.payload, a.packet.qos], [b.payload, b.packet.qos]], [['q1', 1], ['q2', 2]]);
  await u.publish(pub, topic, 'live', { qos: 1 }); // the subscription is still there
  assert.equal((await again.inbox.next()).payload, 'live');
});

test('Session Expiry 0 ends the session with the connection', async (t) => {
  const track = u.tracker(t);
  const id = u.name('js-nosession');
  const topic = u.name('js/nosession');
  const first = await persistent(id, true, 0);
  await u.subscribe(first.client, topic, { qos: 1 });
  await u.end(first.client);
  const pub = track((await u.connect(broker.url)).client);
  await u.publish(pub, topic, 'lost', { qos: 1 });
  const again = await persistent(id, false, 0);
  track(again.client);
  assert.equal(again.connack.sessionPresent, false);
  assert.deepEqual(await again.inbox.quiet(), []);
});

test('DISCONNECT with Session Expiry 0 ends a session that had 30', async (t) => {
  const track = u.tracker(t);
  const id = u.name('js-discexp');
  const first = await persistent(id, true, 30);
  await u.subscribe(first.client, u.name('js/discexp'), { qos: 1 });
  await u.end(first.client, false, { properties: { sessionExpiryInterval: 0 } });
  const again = await persistent(id, false, 30);
  track(again.client);
  assert.equal(again.connack.sessionPresent, false);
});

test('a session with expiry 1 is gone 2.5 s after the disconnect', async (t) => {
  const track = u.tracker(t);
  const id = u.name('js-shortexp');
  const first = await persistent(id, true, 1);
  await u.subscribe(first.client, u.name('js/shortexp'), { qos: 1 });
  await u.end(first.client);
  await u.sleep(2500);
  const again = await persistent(id, false, 1);
  track(again.client);
  assert.equal(again.connack.sessionPresent, false);
});

// Connects a will client (will delay `delay` s, session expiry 10 so the
// session outlives the delay) and an observer subscribed to the will topic.
async function willPair(t, delay) {
  const track = u.tracker(t);
  const topic = u.name('js/will');
  const id = u.name('js-will');
  const obs = await u.connect(broker.url);
  track(obs.client);
  await u.subscribe(obs.client, topic, { qos: 1 });
  const will = {
    topic, payload: Buffer.from('gone'), qos: 1, retain: false,
    properties: { willDelayInterval: delay, userProperties: { why: 'test' } },
  };
  const w = await persistent(id, true, 10, { will });
  track(w.client);
  return { topic, id, obs, w, track };
}

// Closes the connection without DISCONNECT, as a crash would.
function drop(client) {
  client.stream.destroy();
  return u.closed(client);
}

describe('will delay', { concurrency: true }, () => {
  test('the will arrives after the delay', async (t) => {
    const { topic, obs, w } = await willPair(t, 2);
    const t0 = Date.now();
    await drop(w.client);
    const m = await obs.inbox.next(6000, 'will');
    const after = (Date.now() - t0) / 1000;
    assert.equal(m.topic, topic);
    assert.equal(m.payload, 'gone');
    assert.deepEqual({ ...m.packet.properties.userProperties }, { why: 'test' });
    // Mosquitto checks will delays once a second.
    assert.ok(after >= 1.9 && after <= (broker.mosquitto ? 4.0 : 3.5), `will after ${after} s`);
  });

  test('a reconnect within the delay cancels the will', async (t) => {
    const { id, obs, w, track } = await willPair(t, 2);
    await drop(w.client);
    await u.sleep(300);
    const again = await persistent(id, false, 10);
    track(again.client);
    assert.equal(again.connack.sessionPresent, true);
    assert.deepEqual(await obs.inbox.quiet(3500), [], 'the will was sent despite the reconnect');
    // A normal DISCONNECT later sends no will either.
    await u.end(again.client);
    assert.deepEqual(await obs.inbox.quiet(300), []);
  });

  test('DISCONNECT 0x04 sends the will (no delay)', async (t) => {
    const { topic, obs, w } = await willPair(t, 0);
    await u.end(w.client, false, { reasonCode: 0x04 });
    const m = await obs.inbox.next(u.WAIT_MS, 'will');
    assert.equal(m.topic, topic);
  });
});

test('takeover: the old connection gets DISCONNECT 0x8E', async (t) => {
  const track = u.tracker(t);
  const id = u.name('js-takeover');
  const old = await u.connect(broker.url, { clientId: id });
  track(old.client);
  const got = new Promise((resolve) => old.client.once('disconnect', resolve));
  const fresh = await u.connect(broker.url, { clientId: id });
  track(fresh.client);
  if (broker.mosquitto) {
    // Mosquitto 2.0.11 closes the old connection without a DISCONNECT.
    await u.closed(old.client);
  } else {
    const packet = await u.within(got, u.WAIT_MS, 'DISCONNECT');
    assert.equal(packet.reasonCode, 0x8e);
    await u.closed(old.client);
  }
  assert.equal(fresh.client.connected, true);
});

test('shutdown: clients get DISCONNECT 0x8B and the broker exits 0', async (t) => {
  const track = u.tracker(t);
  const c = await u.connect(broker.url);
  track(c.client);
  const got = new Promise((resolve) => c.client.once('disconnect', resolve));
  const status = await broker.stop();
  if (broker.mosquitto) {
    // Mosquitto 2.0.11 closes the connections without a DISCONNECT.
    await u.closed(c.client);
  } else {
    const packet = await u.within(got, u.WAIT_MS, 'DISCONNECT');
    assert.equal(packet.reasonCode, 0x8b);
  }
  assert.equal(status, 0);
});
