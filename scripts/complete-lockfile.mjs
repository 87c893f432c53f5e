#!/usr/bin/env node
// The npm mirror this project is developed against serves only this platform's optional native
// binaries (swc, jest's resolver, msgpackr), so `npm install` leaves the other platforms' entries out
// of package-lock.json and `npm ci` then refuses the lockfile. This adds an entry for each missing
// optional platform package (version from its parent, os/cpu/libc from its name); npm skips them on
// other platforms without fetching. Run it after changing dependencies: `node scripts/complete-lockfile.mjs`.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './lib.mjs';

const file = join(root, 'package-lock.json');
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pk = lock.packages;
const OS = ['darwin', 'linux', 'win32', 'android', 'freebsd', 'openharmony', 'sunos', 'aix'];
let added = 0;
for (const [path, meta] of Object.entries({ ...pk })) {
  for (const [name, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (pk[key] || pk[`${path}/node_modules/${name}`]) continue;
    const base = name.split('/').pop();
    const os = OS.find((o) => base.includes(`-${o}-`) || base.endsWith(`-${o}`));
    if (!os) continue; // not a platform binary: a real missing dependency, leave it to npm
    const rest = base.split(`-${os}-`)[1] ?? '';
    const entry = { version: String(spec).replace(/^[\^~=]/, ''), cpu: [rest.split('-')[0]], optional: true, os: [os] };
    if (os === 'linux' && /musl/.test(rest)) entry.libc = ['musl'];
    else if (os === 'linux' && /gnu/.test(rest)) entry.libc = ['glibc'];
    if (meta.dev) entry.dev = true;
    if (meta.license) entry.license = meta.license;
    pk[key] = entry;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(pk).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
// Let npm write the file in its own key order, so `npm install` leaves it as it is.
execFileSync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: root, stdio: 'ignore' });
process.stdout.write(`added ${added} optional platform entries to package-lock.json\n`);
