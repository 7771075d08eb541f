// model.js - the page's pure logic: names and topics of doc/protocol.md,
// message ids, a conversation's ordered timeline, what a message shows.
// No DOM, no network: node --test runs it as it is (tests/web).

// A user id or room name: 1-64 bytes of [A-Za-z0-9_.-].
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export function validName(s) {
  return typeof s === 'string' && NAME_RE.test(s);
}

// The topics of a chat user under prefix (doc/protocol.md, "Topics").
export function topicsFor(prefix, me) {
  return {
    dm: `${prefix}/dm/${me}`,
    events: `${prefix}/user/${me}/events`,
    system: `${prefix}/system`,
    dmTo: (user) => `${prefix}/dm/${user}`,
    room: (room) => `${prefix}/room/${room}`,
    roomPresence: (room) => `${prefix}/room/${room}/presence`,
    roomSystem: (room) => `${prefix}/room/${room}/system`,
  };
}

// What a topic under prefix is: {kind, room} for 'room', 'room-system',
// 'room-presence'; {kind, user} for 'dm', 'events'; {kind} for 'system';
// null for anything else.
export function parseTopic(prefix, topic) {
  if (!topic.startsWith(prefix + '/')) return null;
  const p = topic.slice(prefix.length + 1).split('/');
  if (p[0] === 'room' && p.length === 2) return { kind: 'room', room: p[1] };
  if (p[0] === 'room' && p.length === 3 && p[2] === 'system') return { kind: 'room-system', room: p[1] };
  if (p[0] === 'room' && p.length === 3 && p[2] === 'presence') return { kind: 'room-presence', room: p[1] };
  if (p[0] === 'dm' && p.length === 2) return { kind: 'dm', user: p[1] };
  if (p[0] === 'user' && p.length === 3 && p[2] === 'events') return { kind: 'events', user: p[1] };
  if (p[0] === 'system' && p.length === 1) return { kind: 'system' };
  return null;
}

// The prefix in a join answer's "topic" ("chat/room/lobby" -> "chat").
export function prefixOf(topic, room) {
  const tail = `/room/${room}`;
  return typeof topic === 'string' && topic.endsWith(tail) ? topic.slice(0, -tail.length) : 'chat';
}

// The sidebar's rooms: listed (an array of names: the pages of GET
// /v1/rooms read so far) and joined (a Set of names: GET
// /v1/rooms?member=true, joins, unread counts), each once, in byte order
// as the server sorts them. info: a Map of name -> room object, as the
// server gave it. Returns [{name, joined, private}]; invalid names are left
// out.
export function sidebarRooms(listed, joined, info = new Map()) {
  const names = new Set();
  for (const n of listed) if (validName(n)) names.add(n);
  for (const n of joined) if (validName(n)) names.add(n);
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((name) => {
    const room = info.get(name);
    return { name, joined: joined.has(name), private: !!(room && room.private === true) };
  });
}

// Message ids are decimal strings of up to 64 bits: compared as BigInt.
export function compareIds(a, b) {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

// An envelope the page can show: an object with a decimal id, a sender,
// a time. Anything else (a forged or broken payload) is dropped.
export function isEnvelope(env) {
  return env !== null && typeof env === 'object' && typeof env.id === 'string' &&
    /^[0-9]{1,20}$/.test(env.id) && typeof env.from === 'string' && Number.isFinite(env.ts);
}

// The other side of a direct message, for me.
export function dmPeer(env, me) {
  return env.from === me ? env.to : env.from;
}

// The messages of one conversation, ordered by id, each once.
export class Timeline {
  constructor() {
    this.items = [];
    this.ids = new Set();
  }

  get size() {
    return this.items.length;
  }

  first() {
    return this.items.length ? this.items[0] : null;
  }

  last() {
    return this.items.length ? this.items[this.items.length - 1] : null;
  }

  has(id) {
    return this.ids.has(id);
  }

  // Adds env in id order; returns its index, or -1 when it is there
  // already (a live copy and a history copy of one message).
  add(env) {
    if (this.ids.has(env.id)) return -1;
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareIds(this.items[mid].id, env.id) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, env);
    this.ids.add(env.id);
    return lo;
  }

  // Removes the messages for which pred is true; returns them.
  removeIf(pred) {
    const gone = this.items.filter(pred);
    if (gone.length) {
      this.items = this.items.filter((e) => !pred(e));
      for (const e of gone) this.ids.delete(e.id);
    }
    return gone;
  }
}

// The decoration of a message as the page shows it: a name colour (#rgb,
// #rrggbb, #rrggbbaa) and a short badge; anything else in deco is ignored.
export function decoration(deco) {
  const out = {};
  if (deco === null || typeof deco !== 'object') return out;
  if (typeof deco.color === 'string' && /^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/.test(deco.color)) {
    out.color = deco.color;
  }
  if (typeof deco.badge === 'string' && deco.badge.trim()) {
    out.badge = Array.from(deco.badge.trim()).slice(0, 16).join('');
  }
  return out;
}

// The text a message shows for its type (doc/protocol.md, "The envelope",
// "Cheers and hearts").
export function messageText(env) {
  const text = typeof env.text === 'string' ? env.text : '';
  const amount = env.meta && Number.isInteger(env.meta.amount) ? env.meta.amount : 1;
  switch (env.type) {
    case 'cheer':
      return `cheered ${amount}` + (text ? `: ${text}` : '');
    case 'heart':
      return `sent ${amount === 1 ? 'a heart' : `${amount} hearts`}` + (text ? `: ${text}` : '');
    case 'sticker':
      return `[sticker] ${text}`.trim();
    default:
      return text;
  }
}

// What a refusal notice on the events topic means, for a person.
const REASONS = {
  not_member: 'you are not a member of this room',
  read_only: 'your account is read-only',
  blocked: 'this user does not accept your messages',
  too_long: 'the message is too long',
  filtered: 'the message contains a filtered word',
  slow_mode: 'slow mode: wait a little before the next message',
  rate_limited: 'too many messages: wait a little',
  members_only: 'only members may post here',
  moderators_only: 'only moderators may post here',
  unknown_room: 'the room does not exist',
  spool_full: 'the server is busy: try again',
};

export function noticeText(n) {
  const why = REASONS[n.reason] || String(n.reason || 'refused');
  return `Not sent: ${why}.`;
}
