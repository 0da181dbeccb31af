// A small web app whose OpenID Connect is the openid-client package alone: run by
// interop/rp/openidclient_test.go, which points it at a real gatehouse process and
// drives the browser part with headless Chromium.
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, PORT (it listens on 127.0.0.1:PORT;
// its redirect URI is http://127.0.0.1:PORT/callback).
//
// It prints one line per event on stdout for the test: "READY" once it listens,
// "RESULT <json>" after a sign-in, "ERROR <message>" when it refuses a callback.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, PORT } = process.env;
const base = `http://127.0.0.1:${PORT}`;
const redirectUri = `${base}/callback`;

// Discovery over http: the test's engine listens on loopback without TLS.
const config = await client.discovery(new URL(ISSUER), CLIENT_ID, undefined,
  client.ClientSecretBasic(CLIENT_SECRET), { execute: [client.allowInsecureRequests] });

const pending = new Map(); // the browser's rp_tx cookie → { verifier, nonce, state }
const sessions = new Map(); // the browser's rp_session cookie → { email }

function cookie(req, name) {
  for (const part of (req.headers.cookie || '').split(';')) {
    const [k, v] = part.trim().split('=');
    if (k === name) return v;
  }
  return undefined;
}

function page(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>openid-client RP</title></head><body>${body}</body></html>`);
}

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function login(req, res) {
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const tx = randomBytes(16).toString('hex');
  pending.set(tx, { verifier, nonce, state });
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email phone offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  });
  res.writeHead(302, { Location: url.href, 'Set-Cookie': `rp_tx=${tx}; Path=/; HttpOnly; SameSite=Lax` });
  res.end();
}

async function callback(req, res) {
  const tx = pending.get(cookie(req, 'rp_tx'));
  if (!tx) throw new Error('no sign-in is under way in this browser');
  pending.delete(cookie(req, 'rp_tx'));
  // Checks state, iss (RFC 9207), the code exchange with the PKCE verifier, the ID
  // token's signature, iss, aud, exp and nonce.
  const tokens = await client.authorizationCodeGrant(config, new URL(req.url, base), {
    pkceCodeVerifier: tx.verifier,
    expectedNonce: tx.nonce,
    expectedState: tx.state,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const id = randomBytes(16).toString('hex');
  sessions.set(id, { email: userinfo.email });
  console.log('RESULT ' + JSON.stringify({
    claims,
    userinfo,
    scope: tokens.scope,
    hasRefreshToken: Boolean(tokens.refresh_token),
    refreshRotated: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
    refreshedAccessToken: refreshed.access_token !== tokens.access_token,
  }));
  res.writeHead(302, { Location: '/', 'Set-Cookie': `rp_session=${id}; Path=/; HttpOnly; SameSite=Lax` });
  res.end();
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, base).pathname;
  try {
    if (req.method === 'GET' && path === '/') {
      const s = sessions.get(cookie(req, 'rp_session'));
      if (s) return page(res, 200, `<p>Signed in as <span id="email">${escape(s.email)}</span></p>`);
      return page(res, 200, '<a id="login" href="/login">Sign in</a>');
    }
    if (req.method === 'GET' && path === '/login') return await login(req, res);
    if (req.method === 'GET' && path === '/callback') return await callback(req, res);
    page(res, 404, 'not found');
  } catch (err) {
    const msg = `${err.name}: ${err.message}${err.code ? ` (${err.code})` : ''}${err.cause?.message ? ` — ${err.cause.message}` : ''}`;
    console.log('ERROR ' + msg.replace(/\n/g, ' '));
    page(res, 500, `<p id="error">${escape(msg)}</p>`);
  }
});

server.listen(Number(PORT), '127.0.0.1', () => console.log('READY'));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
