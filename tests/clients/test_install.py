"""test_install.py - `make install` into a staging directory (DESTDIR):
every program of the build beside MQCHAT_BROKER, the man pages, the example
config and (when built) the web page land where the Makefile says, and the
installed programs run (--help or --version)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'broker'))
from broker import MOSQUITTO, broker_binary  # noqa: E402

PROGRAMS = ('mqchatd', 'mqchat-passwd', 'mqchat', 'mqchat-notify', 'mqchat-display')


@unittest.skipIf(MOSQUITTO, 'mqchatd only')
class InstallTest(unittest.TestCase):
    def test_install_into_destdir(self):
        build = os.path.dirname(broker_binary())
        stage = tempfile.mkdtemp(prefix='mqchat-install-')
        self.addCleanup(shutil.rmtree, stage, True)
        r = subprocess.run(['make', '--no-print-directory', '-C', ROOT, 'install',
                            'BUILD=' + os.path.relpath(build, ROOT), 'PREFIX=/usr',
                            'DESTDIR=' + stage],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout.decode(errors='replace')[-2000:])
        bindir = os.path.join(stage, 'usr', 'bin')
        for prog in PROGRAMS:
            if not os.path.exists(os.path.join(build, prog)):
                continue        # a client not built in this tree
            path = os.path.join(bindir, prog)
            self.assertTrue(os.access(path, os.X_OK), '%s not installed' % prog)
            flag = '--version' if prog == 'mqchatd' else '--help'
            run = subprocess.run([path, flag], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=10)
            self.assertEqual(run.returncode, 0, '%s %s: %r' % (prog, flag, run.stdout[-500:]))
        man = os.path.join(stage, 'usr', 'share', 'man')
        for page in sorted(os.listdir(os.path.join(ROOT, 'doc', 'man'))):
            section = 'man' + page.rsplit('.', 1)[1]
            self.assertTrue(os.path.exists(os.path.join(man, section, page)),
                            '%s not installed' % page)
        self.assertTrue(os.path.exists(os.path.join(stage, 'usr', 'share', 'mqchat',
                                                    'mqchat.conf.example')))
        if os.path.isdir(os.path.join(ROOT, 'clients', 'web', 'dist')):
            self.assertTrue(os.path.exists(os.path.join(stage, 'usr', 'share', 'mqchat', 'web',
                                                        'index.html')))


if __name__ == '__main__':
    unittest.main()
