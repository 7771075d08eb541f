"""The web page's files (doc/transports.md, "Web page"): the HTTP API serves
http.static_dir at `/` for GET and HEAD (`/` is index.html, content types by
extension, Cache-Control no-cache), refuses paths with `..`, `//` or a hidden
segment and anything that resolves outside the directory (404), refuses
files over 8 MiB (403), says "run make web" when the directory is missing,
and leaves /v1/, /healthz and /metrics to the API.

Traversal attempts are sent with a raw socket, byte for byte: curl would
squash the dot segments before sending them."""

import os
import shutil
import socket
import tempfile
import unittest

from chatlib import ChatTest, chat_config

INDEX = b'<!doctype html><title>mqchat</title><p>hello from the static dir</p>\n'
FILES = {
    'index.html': INDEX,
    'app.js': b'console.log("app");\n',
    'mod.mjs': b'export const x = 1;\n',
    'styles.css': b'body { color: black; }\n',
    'icon.svg': b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    'logo.png': b'\x89PNG\r\n\x1a\n' + bytes(range(256)),
    'favicon.ico': b'\x00\x00\x01\x00',
    'data.json': b'{"a":1}\n',
    'app.js.map': b'{"version":3}\n',
    'notes.txt': b'plain text\n',
    'font.woff2': b'wOF2\x00\x01',
    'blob.bin': b'\x00\x01\x02',
    'sub/index.html': b'<p>sub index</p>\n',
    'sub/page.html': b'<p>sub page</p>\n',
    'sub/.hidden': b'hidden below\n',
    '.hidden': b'hidden\n',
    '.git/config': b'[core]\n',
    'v1/nothing': b'a file where the API lives\n',
    'healthz': b'a file shadowed by the API\n',
}
SECRET = b'outside the static directory\n'
BIG = 8 * 1024 * 1024 + 1


def make_site():
    """A temporary tree: ROOT/secret.txt and the static directory ROOT/site
    with FILES, a file over 8 MiB, and links in and out of it."""
    root = tempfile.mkdtemp(prefix='mqchat-static-')
    site = os.path.join(root, 'site')
    for name, data in FILES.items():
        path = os.path.join(site, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)
    with open(os.path.join(root, 'secret.txt'), 'wb') as f:
        f.write(SECRET)
    with open(os.path.join(site, 'big.bin'), 'wb') as f:
        f.truncate(BIG)
    os.symlink(os.path.join(root, 'secret.txt'), os.path.join(site, 'out.txt'))
    os.symlink(root, os.path.join(site, 'up'))
    os.symlink('notes.txt', os.path.join(site, 'in.txt'))
    os.symlink('.hidden', os.path.join(site, 'shown.txt'))
    return root, site


def raw_get(port, target, method='GET', timeout=5):
    """Sends `METHOD target HTTP/1.1` exactly as given; returns (status,
    headers with lower-case names, body)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(('%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'
                   % (method, target)).encode())
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode(errors='replace').split('\r\n')
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


class StaticTest(ChatTest):

    @classmethod
    def setUpClass(cls):
        cls.root, cls.site = make_site()
        cls.CONFIG = chat_config({'http.static_dir': cls.site})
        try:
            super().setUpClass()
        except Exception:
            shutil.rmtree(cls.root, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.root, ignore_errors=True)

    def get(self, path, method='GET'):
        return self.http(method, path)

    def assert_file(self, path, data, ctype, method='GET'):
        """path must answer 200 with data (none for HEAD, with data's
        length) as ctype; returns the headers."""
        status, headers, body = raw_get(self.broker.http_port, path, method)
        what = '%s %s -> %d %r %r' % (method, path, status, headers, body[:200])
        self.assertEqual(status, 200, what)
        self.assertEqual(headers.get('content-type'), ctype, what)
        self.assertEqual(headers.get('cache-control'), 'no-cache', what)
        self.assertEqual(headers.get('x-content-type-options'), 'nosniff', what)
        self.assertEqual(int(headers.get('content-length', -1)), len(data), what)
        self.assertEqual(body, b'' if method == 'HEAD' else data, what)
        return headers

    def assert_not_found(self, target, method='GET'):
        status, headers, body = raw_get(self.broker.http_port, target, method)
        self.assertEqual(status, 404, '%s %s -> %d %r' % (method, target, status, body[:200]))
        self.assertNotIn(SECRET, body, target)
        self.assertNotIn(b'root:', body, target)
        if method == 'GET':
            self.assertIn(b'"code":"not_found"', body, target)
        self.assertTrue(headers.get('content-type', '').startswith('application/json'),
                        '%s: %r' % (target, headers))

    def test_root_is_index(self):
        headers = self.assert_file('/', INDEX, 'text/html; charset=utf-8')
        self.assertIn("default-src 'self'", headers.get('content-security-policy', ''))
        self.assert_file('/index.html', INDEX, 'text/html; charset=utf-8')
        self.assert_file('/?x=1', INDEX, 'text/html; charset=utf-8')

    def test_content_types(self):
        types = {
            'app.js': 'text/javascript; charset=utf-8',
            'mod.mjs': 'text/javascript; charset=utf-8',
            'styles.css': 'text/css; charset=utf-8',
            'icon.svg': 'image/svg+xml',
            'logo.png': 'image/png',
            'favicon.ico': 'image/x-icon',
            'data.json': 'application/json',
            'app.js.map': 'application/json',
            'notes.txt': 'text/plain; charset=utf-8',
            'font.woff2': 'font/woff2',
            'blob.bin': 'application/octet-stream',
            'sub/page.html': 'text/html; charset=utf-8',
        }
        for name, ctype in types.items():
            with self.subTest(name=name):
                headers = self.assert_file('/' + name, FILES[name], ctype)
                if not ctype.startswith('text/html'):
                    self.assertNotIn('content-security-policy', headers)

    def test_subdirectory_index(self):
        self.assert_file('/sub/', FILES['sub/index.html'], 'text/html; charset=utf-8')
        self.assert_not_found('/sub')          # a directory is not a file

    def test_head(self):
        self.assert_file('/', INDEX, 'text/html; charset=utf-8', 'HEAD')
        self.assert_file('/logo.png', FILES['logo.png'], 'image/png', 'HEAD')
        status, _, body = raw_get(self.broker.http_port, '/missing.html', 'HEAD')
        self.assertEqual((status, body), (404, b''))

    def test_missing_file(self):
        r = self.get('/missing.html')
        self.assert_error(r, 404, 'not_found')
        self.assertEqual(r.headers.get('cache-control'), 'no-store', repr(r))
        self.assert_not_found('/nope/')

    def test_traversal_refused(self):
        for target in ('/../secret.txt', '/../etc/passwd', '/../../../../../../etc/passwd',
                       '/%2e%2e/secret.txt', '/%2E%2E/secret.txt', '/%2e%2e%2fsecret.txt',
                       '/sub/../index.html', '/sub/%2e%2e/index.html', '/./index.html',
                       '/sub/./page.html', '/..', '/%2e%2e', '/up/secret.txt',
                       '/out.txt', '//etc/passwd', '//index.html', '/sub//page.html',
                       '/%2fetc/passwd', '/..%2fsecret.txt', 'index.html'):
            with self.subTest(target=target):
                status, _, body = raw_get(self.broker.http_port, target)
                self.assertIn(status, (400, 404), '%s -> %d %r' % (target, status, body[:200]))
                self.assertNotIn(SECRET, body, target)
                self.assertNotIn(b'root:', body, target)
                self.assertNotIn(INDEX, body, target)

    def test_hidden_refused(self):
        for target in ('/.hidden', '/%2ehidden', '/.git/config', '/.git/', '/sub/.hidden',
                       '/shown.txt', '/.'):
            with self.subTest(target=target):
                self.assert_not_found(target)
                self.assert_not_found(target, 'HEAD')

    def test_link_inside_served(self):
        self.assert_file('/in.txt', FILES['notes.txt'], 'text/plain; charset=utf-8')

    def test_too_large(self):
        r = self.get('/big.bin')
        self.assert_error(r, 403, 'forbidden')
        r = self.get('/big.bin', 'HEAD')
        self.assertEqual(r.status, 403, repr(r))

    def test_api_untouched(self):
        self.assertEqual(self.api('GET', '/healthz'), {'status': 'ok'})
        r = self.get('/metrics')
        self.assertEqual(r.status, 200, repr(r))
        self.assertIn('mqchat_uptime_seconds', r.text)
        # /v1/ is the API's, whatever the directory holds.
        r = self.get('/v1/nothing')
        self.assert_error(r, 404, 'not_found')
        self.assertNotIn(FILES['v1/nothing'], r.body)
        self.assert_error(self.get('/v1'), 404, 'not_found')
        self.assert_error(self.get('/v1/'), 404, 'not_found')
        r = self.get('/v1/nothing', 'HEAD')
        self.assertEqual(r.status, 404, repr(r))
        # HEAD of an endpoint stays 405; other methods on a file path: the API's 404.
        r = self.get('/healthz', 'HEAD')
        self.assertEqual(r.status, 405, repr(r))
        self.assert_error(self.http('POST', '/index.html', {}), 404, 'not_found')
        self.assert_error(self.http('DELETE', '/'), 404, 'not_found')
        # The endpoints still do their work.
        user, token = self.new_user('s')
        room = self.make_room(token)
        got = self.join(room, token)
        self.assertEqual(got['room'], room)
        self.assertEqual(self.history('/v1/rooms/%s/messages' % room, token), [])


class StaticMissingTest(ChatTest):
    """A static directory that does not exist (the page not built)."""

    CONFIG = chat_config({'http.static_dir': '/nonexistent/mqchat-web/dist'})

    def test_hint(self):
        for path in ('/', '/index.html', '/app.js'):
            with self.subTest(path=path):
                r = self.http('GET', path)
                self.assert_error(r, 404, 'not_found')
                self.assertEqual(r.json['error'], 'web page not built: run make web', repr(r))
        self.assertEqual(self.api('GET', '/healthz'), {'status': 'ok'})


class StaticOffTest(ChatTest):
    """http.static_dir none: no files, `/` is the API's unknown path."""

    CONFIG = chat_config({'http.static_dir': 'none'})

    def test_off(self):
        r = self.http('GET', '/')
        self.assert_error(r, 404, 'not_found')
        self.assertNotIn('make web', r.json['error'], repr(r))
        r = self.http('HEAD', '/')
        self.assertEqual(r.status, 404, repr(r))
        self.assertEqual(self.api('GET', '/healthz'), {'status': 'ok'})


if __name__ == '__main__':
    unittest.main()
