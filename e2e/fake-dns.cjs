/**
 * Test-only DNS for the SSRF end-to-end suite, preloaded into a service process with
 * `NODE_OPTIONS=--require <this file>`. Names listed in ELO_E2E_FAKE_DNS (JSON: name → list of answer
 * lists) answer from it, one list per successive lookup (the last one repeats), so a test can make a
 * name resolve to a private address, or answer differently between a check and a later lookup
 * (rebinding). Every other name goes to the system resolver. Never loaded outside the e2e tests.
 */
'use strict';
const dns = require('node:dns');

const table = JSON.parse(process.env.ELO_E2E_FAKE_DNS || '{}');
const calls = new Map();
const systemLookup = dns.promises.lookup.bind(dns.promises);

dns.promises.lookup = async function fakeLookup(host, options) {
  const name = String(host).toLowerCase().replace(/\.$/, '');
  const answers = table[name];
  if (!answers) return systemLookup(host, options);
  const n = calls.get(name) ?? 0;
  calls.set(name, n + 1);
  const list = answers[Math.min(n, answers.length - 1)].map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  return options && typeof options === 'object' && options.all ? list : list[0];
};
