'use strict';
// Topic aliases in both directions.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Broker } = require('../lib/broker');
const u = require('../lib/util');

const broker = new Broker();
before(() => broker.start());
after(() => broker.stop());

test('client to broker: a PUBLISH with only a topic alias reaches the subscribers', async (t) => {
  const track = u.tracker(t);
  const base = u.name('js/alias/in');
  const sub = await u.connect(broker.url);
  track(sub.client);
  await u.subscribe(sub.client, `${base}/#`, { qos: 1 });
  const other = await u.connect(broker.url);
  track(other.client);
  await u.subscribe(other.client, `${base}/other`, { qos: 1 });
  const pub = await u.connect(broker.url);
  track(pub.client);
  assert.ok(pub.connack.properties.topicAliasMaximum >= 2);
  const send = (topic, alias, payload) =>
    u.publish(pub.client, topic, payload, { qos: 1, properties: { topicAlias: alias } });
  await send(`${base}/one`, 1, 'set 1');
  await send(`${base}/two`, 2, 'set 2');
  await send('', 1, 'alias 1');
  await send('', 2, 'alias 2');
  await send(`${base}/three`, 1, 'reset 1'); // alias 1 now stands for .../three
  await send('', 1, 'alias 1 again');
  const want = [
    ['one', 'set 1'], ['two', 'set 2'], ['one', 'alias 1'], ['two', 'alias 2'],
    ['three', 'reset 1'], ['three', 'alias 1 again'],
  ].map(([leaf, payload]) => [`${base}/${leaf}`, payload]);
  assert.equal(await sub.inbox.count(want.length), want.length);
  assert.deepEqual(sub.inbox.items.map((m) => [m.topic, m.payload]), want);
  for (const m of sub.inbox.items) {
    // The alias is between the publisher and the broker: not forwarded.
    assert.equal(m.packet.properties && m.packet.properties.topicAlias, undefined);
  }
  assert.deepEqual(await other.inbox.quiet(), [], 'a subscriber of another topic got a message');
});

test('broker to client: aliases resolved to the right topics', async (t) => {
  const track = u.tracker(t);
  const base = u.name('js/alias/out');
  const sub = await u.connect(broker.url, { properties: { topicAliasMaximum: 4 }, watchWire: true });
  track(sub.client);
  await u.subscribe(sub.client, `${base}/#`, { qos: 1 });
  const pub = await u.connect(broker.url);
  track(pub.client);
  const want = [];
  for (let i = 0; i < 4; i++) {
    for (const leaf of ['a', 'b', 'c/d']) {
      want.push([`${base}/${leaf}`, `${leaf} ${i}`]);
      await u.publish(pub.client, `${base}/${leaf}`, `${leaf} ${i}`, { qos: i % 2 });
    }
  }
  assert.equal(await sub.inbox.count(want.length), want.length);
  assert.deepEqual(sub.inbox.items.map((m) => [m.topic, m.payload]), want);
  const aliased = sub.inbox.items.filter((m) => m.packet.properties && m.packet.properties.topicAlias);
  for (const m of aliased) {
    const a = m.packet.properties.topicAlias;
    assert.ok(a >= 1 && a <= 4, `alias ${a} outside the client's Topic Alias Maximum 4`);
  }
  const aliasOnly = aliased.filter((m) => m.packet.topic === '');
  if (broker.mosquitto) {
    // Mosquitto 2.0.11 never sends topic aliases to clients (allowed: the
    // Server chooses whether to use them).
    assert.equal(sub.wire.aliases, 0);
  } else {
    // mqchatd assigns aliases when the client allows them: each topic's
    // first delivery sets one, later deliveries carry the alias alone.
    assert.ok(aliased.length > 0, 'no topic alias used');
    assert.ok(aliasOnly.length >= 6, `only ${aliasOnly.length} of 12 deliveries used the alias alone`);
  }
});

test('broker to client: no alias to a client that allows none', async (t) => {
  const track = u.tracker(t);
  const topic = u.name('js/alias/none');
  const sub = await u.connect(broker.url, { watchWire: true });
  track(sub.client);
  await u.subscribe(sub.client, topic, { qos: 0 });
  const pub = await u.connect(broker.url);
  track(pub.client);
  for (let i = 0; i < 5; i++) await u.publish(pub.client, topic, String(i), { qos: 1 });
  assert.equal(await sub.inbox.count(5), 5);
  assert.equal(sub.wire.aliases, 0);
  assert.ok(sub.inbox.items.every((m) => m.topic === topic));
});

test('an alias over the broker\'s Topic Alias Maximum gets DISCONNECT 0x94', async (t) => {
  const track = u.tracker(t);
  const pub = await u.connect(broker.url);
  track(pub.client);
  const max = pub.connack.properties.topicAliasMaximum;
  const disconnect = new Promise((resolve) => pub.client.once('disconnect', resolve));
  // MQTT.js refuses to send an alias over the maximum; the packet is written raw.
  pub.client.stream.write(require('mqtt-packet').generate({
    cmd: 'publish', topic: u.name('js/alias/over'), payload: 'x', qos: 0,
    properties: { topicAlias: max + 1 },
  }, { protocolVersion: 5 }));
  const packet = await u.within(disconnect, u.WAIT_MS, 'DISCONNECT');
  assert.equal(packet.reasonCode, 0x94);
  await u.closed(pub.client);
});

test('broker exits 0 on SIGTERM', async () => {
  assert.equal(await broker.stop(), 0);
});
