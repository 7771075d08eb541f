'use strict';
// PUBLISH properties the broker forwards unchanged: Response Topic and
// Correlation Data (request/response), User Properties in order, Content
// Type and Payload Format Indicator; shared subscriptions.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Broker } = require('../lib/broker');
const u = require('../lib/util');

const broker = new Broker();
before(() => broker.start());
after(() => broker.stop());

test('request/response: Response Topic and Correlation Data pass through', async (t) => {
  const track = u.tracker(t);
  const service = u.name('js/rr/service');
  const requester = await u.connect(broker.url);
  const responder = await u.connect(broker.url);
  track(requester.client);
  track(responder.client);
  const replyTo = u.name('js/rr/reply');
  await u.subscribe(requester.client, replyTo, { qos: 1 });
  await u.subscribe(responder.client, service, { qos: 1 });
  // The responder answers every request on its Response Topic, echoing the
  // Correlation Data.
  responder.client.on('message', (topic, payload, packet) => {
    const p = packet.properties || {};
    if (!p.responseTopic) return;
    responder.client.publish(p.responseTopic, `answer to ${payload}`, {
      qos: 1, properties: { correlationData: p.correlationData },
    });
  });
  const ids = [Buffer.from([0, 1, 2, 255, 0]), Buffer.from('req-2'), Buffer.alloc(0)];
  for (const [i, id] of ids.entries()) {
    await u.publish(requester.client, service, `q${i}`, {
      qos: 1, properties: { responseTopic: replyTo, correlationData: id },
    });
  }
  assert.equal(await responder.inbox.count(ids.length), ids.length, 'requests missing');
  for (const [i, id] of ids.entries()) {
    const req = responder.inbox.items[i];
    assert.equal(req.packet.properties.responseTopic, replyTo);
    assert.deepEqual(req.packet.properties.correlationData, id);
    const res = await requester.inbox.next(u.WAIT_MS, `response ${i}`);
    assert.equal(res.topic, replyTo);
    assert.equal(res.payload, `answer to q${i}`);
    assert.deepEqual(res.packet.properties.correlationData, id);
    assert.equal(res.packet.properties.responseTopic, undefined);
  }
});

test('user properties pass through in order', async (t) => {
  const track = u.tracker(t);
  const topic = u.name('js/userprops');
  const sub = await u.connect(broker.url);
  track(sub.client);
  await u.subscribe(sub.client, topic, { qos: 2 });
  const pub = track((await u.connect(broker.url)).client);
  // MQTT.js maps User Properties to an object: names keep their first
  // order, repeated names become arrays in order.
  const props = { zeta: '1', alpha: ['a1', 'a2', 'a3'], 'mid dle': '', 'ünï': 'cödé', empty: '' };
  for (const qos of [0, 1, 2]) {
    await u.publish(pub, topic, `qos ${qos}`, { qos, properties: { userProperties: props } });
    const m = await sub.inbox.next();
    assert.equal(m.payload, `qos ${qos}`);
    assert.deepEqual({ ...m.packet.properties.userProperties }, props);
    assert.deepEqual(Object.keys(m.packet.properties.userProperties), Object.keys(props));
  }
  await u.publish(pub, topic, 'none', { qos: 1 });
  const m = await sub.inbox.next();
  assert.equal(m.packet.properties && m.packet.properties.userProperties, undefined);
});

test('content type and payload format indicator pass through', async (t) => {
  const track = u.tracker(t);
  const topic = u.name('js/ctype');
  const sub = await u.connect(broker.url);
  track(sub.client);
  await u.subscribe(sub.client, topic, { qos: 1 });
  const pub = track((await u.connect(broker.url)).client);
  await u.publish(pub, topic, '{"ok":true}', {
    qos: 1, properties: { contentType: 'application/json; charset=utf-8', payloadFormatIndicator: true },
  });
  await u.publish(pub, topic, Buffer.from([0xff, 0xfe]), {
    qos: 1, properties: { contentType: 'application/octet-stream', payloadFormatIndicator: false },
  });
  await u.publish(pub, topic, 'plain', { qos: 1 });
  const a = await sub.inbox.next();
  assert.equal(a.packet.properties.contentType, 'application/json; charset=utf-8');
  assert.equal(a.packet.properties.payloadFormatIndicator, true);
  const b = await sub.inbox.next();
  assert.equal(b.packet.properties.contentType, 'application/octet-stream');
  // Indicator 0 may be sent or left out: both mean unspecified bytes.
  assert.ok(!b.packet.properties.payloadFormatIndicator);
  assert.deepEqual(b.packet.payload, Buffer.from([0xff, 0xfe]));
  const c = await sub.inbox.next();
  const cp = c.packet.properties || {};
  assert.equal(cp.contentType, undefined);
  assert.ok(!cp.payloadFormatIndicator);
});

test('shared subscription: each message to exactly one of the group', async (t) => {
  const track = u.tracker(t);
  const topic = u.name('js/shared');
  const members = [await u.connect(broker.url), await u.connect(broker.url)];
  const plain = await u.connect(broker.url);
  for (const m of [...members, plain]) track(m.client);
  for (const m of members) {
    const granted = await u.subscribe(m.client, `$share/g/${topic}`, { qos: 1 });
    assert.equal(granted[0].qos, 1);
  }
  await u.subscribe(plain.client, topic, { qos: 1 });
  const pub = track((await u.connect(broker.url)).client);
  const n = 40;
  for (let i = 0; i < n; i++) await u.publish(pub, topic, String(i), { qos: i % 3 === 0 ? 0 : 1 });
  assert.equal(await plain.inbox.count(n), n, 'the ordinary subscriber missed messages');
  await u.until(() => members[0].inbox.items.length + members[1].inbox.items.length >= n);
  await u.sleep(u.QUIET_MS);
  const got = members.map((m) => m.inbox.items.map((x) => Number(x.payload)));
  const all = [...got[0], ...got[1]].sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: n }, (_, i) => i), 'not each message exactly once');
  assert.ok(got[0].length > 0 && got[1].length > 0, `split ${got[0].length}/${got[1].length}`);
  for (const m of members) assert.ok(m.inbox.items.every((x) => x.topic === topic));
});

test('shared subscription: the group keeps delivering when a member leaves', async (t) => {
  const track = u.tracker(t);
  const topic = u.name('js/shared/leave');
  const a = await u.connect(broker.url);
  const b = await u.connect(broker.url);
  track(a.client);
  track(b.client);
  await u.subscribe(a.client, `$share/grp/${topic}`, { qos: 1 });
  await u.subscribe(b.client, `$share/grp/${topic}`, { qos: 1 });
  await u.end(a.client);
  const pub = track((await u.connect(broker.url)).client);
  for (let i = 0; i < 6; i++) await u.publish(pub, topic, String(i), { qos: 1 });
  assert.equal(await b.inbox.count(6), 6, 'the remaining member missed messages');
});

test('broker exits 0 on SIGTERM', async () => {
  assert.equal(await broker.stop(), 0);
});
