'use strict';
// Small helpers shared by the test files.

const assert = require('node:assert/strict');

// calls lists recorded exchanges as "METHOD /path STATUS". GETs of discovery and
// keys are left out: auth-js caches them per process, so whether they appear
// depends on which test ran first.
function calls(exchanges) {
  return exchanges
    .filter((e) => !(e.method === 'GET' && /\/(\.well-known\/openid-configuration|v1\/keys)$/.test(e.path)))
    .map((e) => `${e.method} ${e.path} ${e.status}`);
}

function b64urlJSON(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

function jwtHeader(jwt) {
  return b64urlJSON(jwt.split('.')[0]);
}

function jwtPayload(jwt) {
  return b64urlJSON(jwt.split('.')[1]);
}

// otherCode returns a six-digit code that is not code.
function otherCode(code) {
  return code === '000000' ? '111111' : '000000';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The engine's per-number cool-down between two codes, plus a margin.
const RESEND_WAIT_MS = 31000;

// assertCodeMessage checks a dev outbox entry for a code sent to phone by channel.
function assertCodeMessage(msg, phone, channel) {
  assert.equal(msg.to, phone);
  assert.equal(msg.channel, channel);
  assert.match(msg.code, /^\d{6}$/);
  // An SMS shows the code as is; a call reads the digits one by one.
  assert.ok(msg.text.replace(/\D/g, '').includes(msg.code), `message text ${JSON.stringify(msg.text)} carries the code`);
}

// assertSignedIn checks a SUCCESS transaction: tokens for all requested scopes,
// an ID token for `login` whose amr names the phone method.
function assertSignedIn(t, { login, amr, scopes }) {
  assert.equal(t.status, 'SUCCESS', `status (messages: ${JSON.stringify(t.messages)})`);
  assert.equal(t.nextStep, undefined);
  assert.equal(t.messages, undefined);
  assert.equal(typeof t.interactionCode, 'string');
  const { accessToken, idToken, refreshToken } = t.tokens;
  assert.match(accessToken.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.equal(accessToken.tokenType, 'Bearer');
  assert.deepEqual(accessToken.scopes, scopes);
  assert.ok(accessToken.expiresAt > Date.now() / 1000 + 60, 'access token expires in the future');
  assert.match(idToken.idToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.equal(idToken.claims.preferred_username, login);
  assert.equal(idToken.claims.email, login);
  assert.ok(idToken.claims.amr.includes('pwd'), `amr ${idToken.claims.amr} includes pwd`);
  assert.ok(idToken.claims.amr.includes(amr), `amr ${idToken.claims.amr} includes ${amr}`);
  assert.equal(typeof refreshToken.refreshToken, 'string');
  assert.ok(refreshToken.refreshToken.length >= 32);
}

// The legacy-mode inputs of the identify step (auth-js adds username/password).
const IDENTIFY_INPUTS = [
  { name: 'username', label: 'Username', required: true },
  { name: 'password', label: 'Password', secret: true, required: true },
  { name: 'rememberMe', label: 'Keep me signed in', type: 'boolean' },
];

const METHOD_OPTIONS = [{ label: 'SMS', value: 'sms' }, { label: 'Voice call', value: 'voice' }];

module.exports = {
  calls, jwtHeader, jwtPayload, otherCode, sleep, RESEND_WAIT_MS,
  assertCodeMessage, assertSignedIn, IDENTIFY_INPUTS, METHOD_OPTIONS,
};
