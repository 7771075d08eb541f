'use strict';
// Subscription options (No Local, Retain As Published, Retain Handling)
// and Subscription Identifiers.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Broker } = require('../lib/broker');
const u = require('../lib/util');

const broker = new Broker();
before(() => broker.start());
after(() => broker.stop());

test('No Local: a client does not get its own messages', async (t) => {
  const track = u.tracker(t);
  const topic = u.name('js/nolocal');
  const me = await u.connect(broker.url);
  const peer = await u.connect(broker.url);
  track(me.client);
  track(peer.client);
  await u.subscribe(me.client, topic, { qos: 1, nl: true });
  await u.subscribe(peer.client, topic, { qos: 1 });
  await u.publish(me.client, topic, 'mine', { qos: 1 });
  assert.equal((await peer.inbox.next()).payload, 'mine');
  await u.publish(peer.client, topic, 'theirs', { qos: 1 });
  assert.equal((await me.inbox.next()).payload, 'theirs');
  assert.equal((await peer.inbox.next()).payload, 'theirs'); // No Local 0: own message back
  assert.deepEqual(await me.inbox.quiet(), [], 'own message delivered despite No Local');
});

test('Retain As Published keeps the RETAIN flag on live delivery', async (t) => {
  const track = u.tracker(t);
  const topic = u.name('js/rap');
  const keep = await u.connect(broker.url);
  const clear = await u.connect(broker.url);
  track(keep.client);
  track(clear.client);
  await u.subscribe(keep.client, topic, { qos: 1, rap: true });
  await u.subscribe(clear.client, topic, { qos: 1, rap: false });
  const pub = track((await u.connect(broker.url)).client);
  await u.publish(pub, topic, 'retained', { qos: 1, retain: true });
  await u.publish(pub, topic, 'not retained', { qos: 1 });
  const k1 = await keep.inbox.next();
  const k2 = await keep.inbox.next();
  const c1 = await clear.inbox.next();
  const c2 = await clear.inbox.next();
  assert.deepEqual([k1.payload, k1.packet.retain, k2.payload, k2.packet.retain],
    ['retained', true, 'not retained', false]);
  assert.deepEqual([c1.payload, c1.packet.retain, c2.payload, c2.packet.retain],
    ['retained', false, 'not retained', false]);
  await u.publish(pub, topic, '', { qos: 1, retain: true }); // clear
});

test('Retain Handling 0, 1 and 2', async (t) => {
  const track = u.tracker(t);
  const topic = u.name('js/rh');
  const pub = track((await u.connect(broker.url)).client);
  await u.publish(pub, topic, 'stored', { qos: 1, retain: true });
  const c = await u.connect(broker.url);
  track(c.client);
  // 2: never send retained messages on subscribing.
  await u.subscribe(c.client, topic, { qos: 1, rh: 2 });
  assert.deepEqual(await c.inbox.quiet(), [], 'Retain Handling 2 sent the retained message');
  // The subscription works for live messages.
  await u.publish(pub, topic, 'live', { qos: 1 });
  assert.equal((await c.inbox.next()).payload, 'live');
  // 1: only when the subscription is new. It exists (from rh 2), so none...
  await u.subscribe(c.client, topic, { qos: 1, rh: 1 });
  assert.deepEqual(await c.inbox.quiet(), [], 'Retain Handling 1 sent it for an existing subscription');
  // ...but a new one gets it.
  const d = await u.connect(broker.url);
  track(d.client);
  await u.subscribe(d.client, topic, { qos: 1, rh: 1 });
  const m = await d.inbox.next();
  assert.deepEqual([m.payload, m.packet.retain], ['stored', true]);
  // 0: on every subscribe, also a repeated one.
  await u.subscribe(c.client, topic, { qos: 1, rh: 0 });
  const r = await c.inbox.next();
  assert.deepEqual([r.payload, r.packet.retain], ['stored', true]);
  await u.publish(pub, topic, '', { qos: 1, retain: true }); // clear
});

test('Subscription Identifiers are delivered with the message', async (t) => {
  const track = u.tracker(t);
  const base = u.name('js/subid');
  const sub = await u.connect(broker.url);
  track(sub.client);
  assert.notEqual(sub.connack.properties.subscriptionIdentifiersAvailable, false);
  await u.subscribe(sub.client, `${base}/x/+`, { qos: 1, properties: { subscriptionIdentifier: 5 } });
  await u.subscribe(sub.client, `${base}/y/#`, { qos: 1, properties: { subscriptionIdentifier: 268435455 } });
  await u.subscribe(sub.client, `${base}/z`, { qos: 1 }); // no identifier
  const pub = track((await u.connect(broker.url)).client);
  await u.publish(pub, `${base}/x/1`, 'x', { qos: 1 });
  await u.publish(pub, `${base}/y/2/3`, 'y', { qos: 1 });
  await u.publish(pub, `${base}/z`, 'z', { qos: 1 });
  const ids = (m) => {
    const id = m.packet.properties && m.packet.properties.subscriptionIdentifier;
    return id === undefined ? [] : [].concat(id);
  };
  const x = await sub.inbox.next();
  assert.deepEqual([x.payload, ids(x)], ['x', [5]]);
  const y = await sub.inbox.next();
  assert.deepEqual([y.payload, ids(y)], ['y', [268435455]]);
  const z = await sub.inbox.next();
  assert.deepEqual([z.payload, ids(z)], ['z', []]);
});

test('Subscription Identifiers of overlapping subscriptions', async (t) => {
  const track = u.tracker(t);
  const base = u.name('js/subid/overlap');
  const sub = await u.connect(broker.url);
  track(sub.client);
  await u.subscribe(sub.client, `${base}/#`, { qos: 1, properties: { subscriptionIdentifier: 7 } });
  await u.subscribe(sub.client, `${base}/+`, { qos: 1, properties: { subscriptionIdentifier: 9 } });
  const pub = track((await u.connect(broker.url)).client);
  await u.publish(pub, `${base}/leaf`, 'both', { qos: 1 });
  assert.ok(await sub.inbox.count(1) >= 1, 'not delivered');
  const copies = await sub.inbox.quiet();
  // One copy with both identifiers, or one copy per subscription with its
  // own (3.3.4): either way both identifiers arrive.
  const all = copies.flatMap((m) => [].concat(m.packet.properties.subscriptionIdentifier)).sort();
  assert.ok(copies.length === 1 || copies.length === 2, `${copies.length} copies`);
  assert.deepEqual(all, [7, 9]);
});

test('broker exits 0 on SIGTERM', async () => {
  assert.equal(await broker.stop(), 0);
});
