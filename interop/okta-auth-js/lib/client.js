'use strict';
// Builds OktaAuth clients the way a Node app does, and records the HTTP exchanges
// they make so tests can assert on status codes the SDK does not surface.

const { OktaAuth } = require('@okta/okta-auth-js');

const SCOPES = ['openid', 'profile', 'email', 'phone', 'offline_access'];

// memoryStorage is one user's "session": auth-js keeps its transaction (PKCE
// verifier, interaction handle, last IDX response) and tokens here. In Node auth-js
// otherwise falls back to ONE process-wide memory store shared by every OktaAuth
// instance (lib/server/serverStorage.ts), so concurrent sign-ins would overwrite
// each other. The official express samples pass a per-session storageProvider too.
function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => { items.set(key, value); },
    removeItem: (key) => { items.delete(key); },
    // for tests only: copy and restore the whole session
    snapshot: () => new Map(items),
    restore: (snap) => { items.clear(); for (const [k, v] of snap) items.set(k, v); },
  };
}

// ---- HTTP recording ----
// auth-js 8 calls the global fetch (lib/fetch/fetchRequest.ts); wrapping it records
// each exchange without changing what the SDK sends or receives.
const exchanges = [];
let wrapped = false;
function recordHttp() {
  if (wrapped) return;
  wrapped = true;
  const realFetch = globalThis.fetch;
  globalThis.fetch = async function recordingFetch(input, init = {}) {
    const res = await realFetch(input, init);
    exchanges.push({
      method: (init.method || 'GET').toUpperCase(),
      url: String(input),
      path: new URL(String(input)).pathname,
      requestHeaders: { ...(init.headers || {}) },
      requestBody: typeof init.body === 'string' ? init.body : undefined,
      status: res.status,
      contentType: res.headers.get('content-type'),
    });
    return res;
  };
}

// httpMark returns a function listing the exchanges made since the mark.
function httpMark() {
  const start = exchanges.length;
  return () => exchanges.slice(start);
}

// makeClient returns a new OktaAuth for gh in legacy mode or 8.x step mode, with
// its own storage. Call dispose() when done: TokenManager sets expiry timers that
// would otherwise keep Node running for an hour.
function makeClient(gh, { legacy, storage = memoryStorage() } = {}) {
  recordHttp();
  const authClient = new OktaAuth({
    issuer: gh.issuer,
    clientId: gh.clientId,
    redirectUri: gh.redirectUri,
    scopes: SCOPES,
    // Node has global crypto.subtle (PKCE S256, signature checks), fetch, atob and btoa.
    storageManager: {
      token: { storageProvider: storage },
      transaction: { storageProvider: storage },
    },
    tokenManager: { autoRenew: false, autoRemove: false },
    ...(legacy ? { idx: { enableLegacyMode: true } } : {}),
  });
  authClient.testStorage = storage;
  authClient.dispose = () => {
    authClient.tokenManager.stop();
    authClient.tokenManager.clear();
  };
  return authClient;
}

module.exports = { makeClient, memoryStorage, httpMark, SCOPES };
