// model.test.mjs - the page's pure rules (clients/web/src/model.js), without
// a browser or a broker.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  Timeline, compareIds, decoration, dmPeer, isEnvelope, messageText, noticeText, parseTopic,
  prefixOf, sidebarRooms, topicsFor, validName,
} from '../../../clients/web/src/model.js';

const env = (id, from = 'alice', extra = {}) => ({ id, from, ts: 1763800000123, type: 'text', text: `m${id}`, ...extra });

describe('names and topics', () => {
  it('valid names', () => {
    for (const ok of ['a', 'alice', 'A.b-c_9', 'x'.repeat(64)]) assert.equal(validName(ok), true, ok);
    for (const bad of ['', 'x'.repeat(65), 'a b', 'a/b', 'é', '#', '+', null, 7]) assert.equal(validName(bad), false, String(bad));
  });

  it('topics of a user', () => {
    const t = topicsFor('chat', 'alice');
    assert.equal(t.dm, 'chat/dm/alice');
    assert.equal(t.events, 'chat/user/alice/events');
    assert.equal(t.system, 'chat/system');
    assert.equal(t.dmTo('bob'), 'chat/dm/bob');
    assert.equal(t.room('lobby'), 'chat/room/lobby');
    assert.equal(t.roomPresence('lobby'), 'chat/room/lobby/presence');
    assert.equal(t.roomSystem('lobby'), 'chat/room/lobby/system');
  });

  it('parse topics', () => {
    const cases = [
      ['chat/room/lobby', { kind: 'room', room: 'lobby' }],
      ['chat/room/lobby/system', { kind: 'room-system', room: 'lobby' }],
      ['chat/room/lobby/presence', { kind: 'room-presence', room: 'lobby' }],
      ['chat/dm/alice', { kind: 'dm', user: 'alice' }],
      ['chat/user/alice/events', { kind: 'events', user: 'alice' }],
      ['chat/system', { kind: 'system' }],
      ['chat/room/lobby/read', null],
      ['chat/room', null],
      ['chatter/room/lobby', null],
      ['other/room/lobby', null],
      ['chat/user/alice', null],
    ];
    for (const [topic, want] of cases) assert.deepEqual(parseTopic('chat', topic), want, topic);
    assert.deepEqual(parseTopic('my/pre', 'my/pre/room/x'), { kind: 'room', room: 'x' });
  });

  it('prefix from a join answer', () => {
    assert.equal(prefixOf('chat/room/lobby', 'lobby'), 'chat');
    assert.equal(prefixOf('acme/chat/room/lobby', 'lobby'), 'acme/chat');
    assert.equal(prefixOf(undefined, 'lobby'), 'chat');
    assert.equal(prefixOf('chat/room/other', 'lobby'), 'chat');
  });

  it('the sidebar\'s rooms: listed and joined, once each, in byte order', () => {
    const info = new Map([['vip', { name: 'vip', private: true }], ['lobby', { name: 'lobby', private: false }]]);
    const got = sidebarRooms(['lobby', 'Zed', '_x', 'a.b', 'bad name', 'lobby'], new Set(['vip', 'lobby', '-', '']), info);
    assert.deepEqual(got, [
      { name: '-', joined: true, private: false },
      { name: 'Zed', joined: false, private: false },
      { name: '_x', joined: false, private: false },
      { name: 'a.b', joined: false, private: false },
      { name: 'lobby', joined: true, private: false },
      { name: 'vip', joined: true, private: true },
    ]);
    assert.deepEqual(sidebarRooms([], new Set()), []);
    // Names that are also Object.prototype members are rooms like others.
    assert.deepEqual(sidebarRooms(['constructor', '__proto__'], new Set(['toString']), new Map()), [
      { name: '__proto__', joined: false, private: false },
      { name: 'constructor', joined: false, private: false },
      { name: 'toString', joined: true, private: false },
    ]);
  });
});

describe('messages', () => {
  it('ids compare as 64-bit numbers, not as strings or doubles', () => {
    assert.equal(compareIds('9', '10'), -1);
    assert.equal(compareIds('18446744073709551615', '18446744073709551614'), 1);
    assert.equal(compareIds('9007199254740993', '9007199254740992'), 1); // above 2^53
    assert.equal(compareIds('42', '42'), 0);
  });

  it('envelopes', () => {
    assert.equal(isEnvelope(env('1')), true);
    assert.equal(isEnvelope({ ...env('1'), id: 1 }), false);
    assert.equal(isEnvelope({ ...env('1'), id: '1e5' }), false);
    assert.equal(isEnvelope({ ...env('1'), from: undefined }), false);
    assert.equal(isEnvelope({ ...env('1'), ts: 'now' }), false);
    assert.equal(isEnvelope(null), false);
    assert.equal(isEnvelope('hi'), false);
  });

  it('the other side of a DM', () => {
    assert.equal(dmPeer({ from: 'alice', to: 'bob' }, 'alice'), 'bob');
    assert.equal(dmPeer({ from: 'bob', to: 'alice' }, 'alice'), 'bob');
    assert.equal(dmPeer({ from: 'alice', to: 'alice' }, 'alice'), 'alice');
  });

  it('a timeline keeps id order and each message once', () => {
    const t = new Timeline();
    assert.equal(t.first(), null);
    assert.equal(t.add(env('20')), 0);
    assert.equal(t.add(env('30')), 1);
    assert.equal(t.add(env('10')), 0);
    assert.equal(t.add(env('25')), 2);
    assert.equal(t.add(env('25')), -1, 'a second copy');
    assert.equal(t.add(env('9007199254740993')), 4);
    assert.equal(t.add(env('9007199254740992')), 4);
    assert.deepEqual(t.items.map((e) => e.id), ['10', '20', '25', '30', '9007199254740992', '9007199254740993']);
    assert.equal(t.first().id, '10');
    assert.equal(t.last().id, '9007199254740993');
    assert.equal(t.size, 6);
    const gone = t.removeIf((e) => e.id === '20' || e.id === '30');
    assert.deepEqual(gone.map((e) => e.id), ['20', '30']);
    assert.equal(t.has('20'), false);
    assert.equal(t.add(env('20')), 1, 'back after removal');
  });

  it('decorations: a colour and a short badge, nothing else', () => {
    assert.deepEqual(decoration({ color: '#ffcc00' }), { color: '#ffcc00' });
    assert.deepEqual(decoration({ color: '#fc0', badge: ' mod ' }), { color: '#fc0', badge: 'mod' });
    assert.deepEqual(decoration({ color: '#ffcc0080' }), { color: '#ffcc0080' });
    for (const bad of ['red', '#ffcc0', 'url(x)', '#ffcc00;background:red', 7]) {
      assert.deepEqual(decoration({ color: bad }), {}, String(bad));
    }
    assert.deepEqual(decoration({ badge: '' }), {});
    assert.equal(decoration({ badge: '🌟'.repeat(20) }).badge, '🌟'.repeat(16));
    assert.deepEqual(decoration(null), {});
    assert.deepEqual(decoration('x'), {});
    assert.deepEqual(decoration({ onclick: 'x', html: '<b>' }), {});
  });

  it('text by type', () => {
    assert.equal(messageText(env('1', 'a', { text: 'hi' })), 'hi');
    assert.equal(messageText({ type: 'cheer', meta: { amount: 100 }, text: 'great' }), 'cheered 100: great');
    assert.equal(messageText({ type: 'cheer' }), 'cheered 1');
    assert.equal(messageText({ type: 'heart' }), 'sent a heart');
    assert.equal(messageText({ type: 'heart', meta: { amount: 3 } }), 'sent 3 hearts');
    assert.equal(messageText({ type: 'sticker', text: 'wave' }), '[sticker] wave');
    assert.equal(messageText({ type: 'system', text: 'Stream starts' }), 'Stream starts');
    assert.equal(messageText({ type: 'text' }), '');
  });

  it('notices', () => {
    assert.equal(noticeText({ reason: 'blocked' }), 'Not sent: this user does not accept your messages.');
    assert.equal(noticeText({ reason: 'something_new' }), 'Not sent: something_new.');
  });
});
