'use strict';
// Starts and stops a real `gatehouse demo` process for one test file, and reads the
// codes it "sends" from its dev outbox. Every test file gets its own process, data
// folder and ports, so the per-number send limits of one file never touch another.

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');

const execFileP = promisify(execFile);

const repoRoot = path.resolve(__dirname, '..', '..', '..');

// The demo's fixed names (internal/cli/demo.go).
const CLIENT_ID = 'gatehouse-demo';
const ALICE = { login: 'alice@example.com', phone: '+12015550123', given: 'Alice', family: 'Anderson' };
const BOB = { login: 'bob@example.com', given: 'Bob', family: 'Baker' };
const PASSWORD = 'interop-Passw0rd';

let builtBinary; // per process: go build runs at most once

// Servers still running, with their data folders. Never leave one behind, even
// when the test process exits early or is interrupted.
const live = new Map();
function killLive() {
  for (const [child, dataDir] of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  live.clear();
}
process.once('exit', killLive);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killLive();
    process.kill(process.pid, sig); // the default action, now that our handler is gone
  });
}

// binary returns the gatehouse binary: $GATEHOUSE_BIN, or one built from this
// checkout into a temporary folder.
async function binary() {
  if (process.env.GATEHOUSE_BIN) {
    return process.env.GATEHOUSE_BIN;
  }
  if (!builtBinary) {
    builtBinary = (async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bin-'));
      const out = path.join(dir, 'gatehouse');
      await execFileP('go', ['build', '-o', out, './cmd/gatehouse'], { cwd: repoRoot });
      process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
      return out;
    })();
  }
  return builtBinary;
}

// freePort asks the kernel for a free loopback port. Another process may take it
// before gatehouse binds it; start() retries when that happens.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// runUsersCLI runs `gatehouse users --database <the data folder's database> ARGS`,
// feeding stdin, and resolves with its standard output.
function runUsersCLI(bin, dataDir, args, stdin = '') {
  const all = ['users', '--database', 'sqlite:' + path.join(dataDir, 'gatehouse.db'), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, all, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`gatehouse ${all.join(' ')} failed (${code}): ${stderr}`))));
    child.stdin.end(stdin);
  });
}

// createUser adds a user (with an optional phone, enrolled for SMS and voice, and
// an optional authenticator app) through the gatehouse CLI, before the server
// starts. It resolves with the app's shared secret (base32) when u.totp is set.
async function createUser(bin, dataDir, u) {
  const args = ['create', u.login, '--password-stdin'];
  if (u.phone) args.push('--phone', u.phone);
  if (u.given) args.push('--given-name', u.given);
  if (u.family) args.push('--family-name', u.family);
  await runUsersCLI(bin, dataDir, args, (u.password || PASSWORD) + '\n');
  if (!u.totp) return undefined;
  // `users add-totp` prints the key URI and a "secret: BASE32" line, once.
  const out = await runUsersCLI(bin, dataDir, ['add-totp', u.login]);
  const m = /^secret:\s+([A-Z2-7]+)\s*$/m.exec(out);
  if (!m) throw new Error(`gatehouse users add-totp ${u.login} printed no secret:\n${out}`);
  return m[1];
}

async function waitHealthy(base, child, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) {
      return false;
    }
    try {
      const res = await fetch(base + '/healthz', { signal: AbortSignal.timeout(1000) });
      if (res.ok && (await res.text()).trim() === 'ok') return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50)); // readiness polling
  }
  throw new Error(`gatehouse did not answer ${base}/healthz within ${deadlineMs} ms`);
}

// start launches `gatehouse demo` on free loopback ports with its own data folder,
// after creating `users` (alice and bob are seeded by the demo itself). It resolves
// once /healthz answers. The demo turns self-service registration on; password
// recovery and the authenticator app are on by default.
async function start({ users = [] } = {}) {
  const bin = await binary();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-interop-'));
  try {
    const totpSecrets = new Map();
    for (const u of users) {
      const secret = await createUser(bin, dataDir, u);
      if (secret) totpSecrets.set(u.login, secret);
    }
    let lastLog = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      const server = await launch(bin, dataDir);
      if (server.ok) {
        // totpSecret(login): the shared secret `users add-totp` printed for a user
        // created with {totp: true}.
        server.handle.totpSecret = (login) => {
          if (!totpSecrets.has(login)) throw new Error(`${login} was not created with an authenticator app`);
          return totpSecrets.get(login);
        };
        return server.handle;
      }
      lastLog = server.log;
      if (!/address already in use/.test(lastLog)) break; // else another process took the port
    }
    throw new Error('gatehouse demo exited before it was healthy:\n' + lastLog);
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

// launch runs one `gatehouse demo` on fresh ports and waits until it is healthy
// ({ok: true, handle}) or has exited ({ok: false, log}).
async function launch(bin, dataDir) {
  const engineAddr = `127.0.0.1:${await freePort()}`;
  const appAddr = `127.0.0.1:${await freePort()}`; // only names the redirect URI
  const child = spawn(bin, ['demo', '--engine-addr', engineAddr, '--app-addr', appAddr,
    '--data-dir', dataDir, '--demo-password', PASSWORD, '--log-level', 'warn'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  live.set(child, dataDir);
  let log = '';
  const keep = (d) => { log += d; if (log.length > 200000) log = log.slice(-100000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const running = () => child.exitCode === null && child.signalCode === null;
  const base = `http://${engineAddr}`;
  let healthy;
  try {
    healthy = await waitHealthy(base, child, 20000);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    live.delete(child);
    throw new Error(`${err.message}\n${log}`);
  }
  if (!healthy) {
    await exited;
    live.delete(child);
    return { ok: false, log };
  }
  const handle = {
    base,
    issuer: `${base}/oauth2/default`,
    clientId: CLIENT_ID,
    redirectUri: `http://${appAddr}/login/callback`,
    password: PASSWORD,
    log: () => log,
    outbox: (phone) => outbox(base, phone),
    waitForMessage: (phone, known) => waitForMessage(base, phone, known),
    // stop ends the server (SIGTERM, then SIGKILL after 5 s) and removes its data.
    async stop() {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(child);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return { ok: true, handle };
}

// outbox lists the messages to phone (to any number without one), newest first:
// [{to, channel, text, code, sentAt, status}].
async function outbox(base, phone) {
  const query = phone === undefined ? '' : `?phone=${encodeURIComponent(phone)}`;
  const res = await fetch(`${base}/dev/outbox${query}`, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`GET /dev/outbox: HTTP ${res.status}`);
  return res.json();
}

// waitForMessage waits until phone has more than `known` messages and returns the
// newest. The engine queues a message before it answers the request that sent it,
// so this normally returns at once; the loop only covers a slow store.
async function waitForMessage(base, phone, known) {
  const until = Date.now() + 5000;
  for (;;) {
    const list = await outbox(base, phone);
    if (list.length > known) return list[0];
    if (Date.now() > until) throw new Error(`no new message to ${phone} in the dev outbox (still ${list.length})`);
    await new Promise((r) => setTimeout(r, 50)); // readiness polling
  }
}

module.exports = { start, binary, CLIENT_ID, ALICE, BOB, PASSWORD };
