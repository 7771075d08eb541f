// api.js - the HTTP API of doc/protocol.md, on the page's own origin (the
// page is served by it). Every call resolves to the parsed JSON answer or
// rejects with an ApiError carrying the status and the API's error code.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // 0: no answer at all
    this.code = code;
  }
}

const seg = encodeURIComponent;

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class Api {
  constructor(base = '') {
    this.base = base;
    this.token = null;
  }

  async request(method, path, body) {
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(this.base + path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'the server does not answer');
    }
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const code = data && typeof data.code === 'string' ? data.code : `http_${res.status}`;
      const msg = data && typeof data.error === 'string' ? data.error : res.statusText;
      throw new ApiError(res.status, code, msg);
    }
    return data;
  }

  // {"token","user","role","expires_at"}
  signIn(user, password) {
    return this.request('POST', '/v1/tokens', { user, password });
  }

  // Open sign-up (chat.open_signup): 401 when the server does not allow it.
  signUp(id, password) {
    return this.request('POST', '/v1/users', { id, password });
  }

  // {"rooms":[room...],"next":name|null}: the rooms the caller may see, by
  // name; params: after (a name), limit (1-200), member (true: only the
  // caller's rooms, each with its "role").
  rooms(params) {
    return this.request('GET', `/v1/rooms${query(params)}`);
  }

  // {"room","user","role","mqtt":{"host","port","tls_port","ws_url","wss_url"},"topic"}
  join(room) {
    return this.request('POST', `/v1/rooms/${seg(room)}/join`);
  }

  // {"room","messages":[envelope...]} oldest first; params: before, since, limit.
  roomHistory(room, params) {
    return this.request('GET', `/v1/rooms/${seg(room)}/messages${query(params)}`);
  }

  // {"with","messages":[...]}
  dmHistory(user, params) {
    return this.request('GET', `/v1/dms/${seg(user)}/messages${query(params)}`);
  }

  block(me, other) {
    return this.request('POST', `/v1/users/${seg(me)}/blocks/${seg(other)}`);
  }

  unblock(me, other) {
    return this.request('DELETE', `/v1/users/${seg(me)}/blocks/${seg(other)}`);
  }

  // {"user","blocks":[names]}
  blocks(me) {
    return this.request('GET', `/v1/users/${seg(me)}/blocks`);
  }

  setDecoration(me, deco) {
    return this.request('PUT', `/v1/users/${seg(me)}/decoration`, deco);
  }

  clearDecoration(me) {
    return this.request('DELETE', `/v1/users/${seg(me)}/decoration`);
  }
}
