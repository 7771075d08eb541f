// build.mjs - `npm run build`: bundles src/app.js (with MQTT.js) into
// dist/app.js with esbuild and copies the static files beside it.
// dist/ is what mqchatd serves at / (http.static_dir); it is not committed.

import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');
const STATIC = ['index.html', 'styles.css', 'favicon.svg'];

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [join(src, 'app.js')],
  outfile: join(dist, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
for (const f of STATIC) copyFileSync(join(src, f), join(dist, f));
console.log(`built ${dist}`);
