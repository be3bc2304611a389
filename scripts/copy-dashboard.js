// Copies the dashboard's static files (HTML, CSS) beside its compiled scripts in dist/dashboard, so the queen
// serves one directory. Part of `npm run build`; nothing is downloaded.
const { copyFileSync, mkdirSync, readdirSync } = require('node:fs');
const { extname, join } = require('node:path');

const from = join(__dirname, '..', 'src', 'dashboard');
const to = join(__dirname, '..', 'dist', 'dashboard');
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  if (['.html', '.css', '.svg', '.png'].includes(extname(name))) copyFileSync(join(from, name), join(to, name));
}
