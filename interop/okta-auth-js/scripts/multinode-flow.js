#!/usr/bin/env node
'use strict';
// One legacy-mode sign-in with the official okta-auth-js against ISSUER, driven by
// interop/multinode_test.go, which puts two gatehouse nodes behind an alternating
// proxy at ISSUER and kills one of them while this script waits at "PAUSED" for a
// line on standard input. It prints one JSON line per step and a final
// {"result": …} line, and exits non-zero on any failure.
//
// Environment: ISSUER, CLIENT_ID, REDIRECT_URI, USERNAME, PASSWORD, PHONE,
// OUTBOX_BASE (where GET /dev/outbox answers).

const readline = require('node:readline');
const { makeClient } = require('../lib/client');

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

async function newestCode(phone, known) {
  const until = Date.now() + 10000;
  for (;;) {
    const res = await fetch(`${env('OUTBOX_BASE')}/dev/outbox?phone=${encodeURIComponent(phone)}`);
    if (!res.ok) throw new Error(`GET /dev/outbox: HTTP ${res.status}`);
    const list = await res.json();
    if (list.length > known) return list[0].code;
    if (Date.now() > until) throw new Error('no code arrived in the dev outbox');
    await new Promise((r) => setTimeout(r, 50)); // readiness polling
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

async function main() {
  const gh = { issuer: env('ISSUER'), clientId: env('CLIENT_ID'), redirectUri: env('REDIRECT_URI') };
  const auth = makeClient(gh, { legacy: true });
  const step = (name, tx) => console.log(JSON.stringify({ step: name, status: tx.status, next: tx.nextStep && tx.nextStep.name }));
  try {
    let tx = await auth.idx.authenticate({ username: env('USERNAME'), password: env('PASSWORD') });
    step('identify', tx);
    expect(tx.status === 'PENDING' && tx.nextStep.name === 'select-authenticator-authenticate', 'identify did not reach select-authenticator-authenticate');

    tx = await auth.idx.authenticate({ authenticator: 'phone_number' });
    step('select', tx);
    expect(tx.nextStep.name === 'authenticator-verification-data', 'select did not reach authenticator-verification-data');

    // Wait here while the test kills a node.
    console.log('PAUSED');
    const rl = readline.createInterface({ input: process.stdin });
    await new Promise((resolve) => rl.once('line', resolve));
    rl.close();

    const known = (await (await fetch(`${env('OUTBOX_BASE')}/dev/outbox?phone=${encodeURIComponent(env('PHONE'))}`)).json()).length;
    tx = await auth.idx.authenticate({ methodType: 'sms' });
    step('method', tx);
    expect(tx.nextStep.name === 'challenge-authenticator', 'method did not reach challenge-authenticator');

    tx = await auth.idx.authenticate({ verificationCode: await newestCode(env('PHONE'), known) });
    step('answer', tx);
    expect(tx.status === 'SUCCESS', `the sign-in ended ${tx.status}`);

    const { idToken, accessToken, refreshToken } = tx.tokens;
    const verified = await auth.token.verify(idToken);
    const info = await auth.token.getUserInfo(accessToken, idToken);
    expect(info.sub === verified.claims.sub, 'userinfo sub differs from the ID token sub');
    const renewed = await auth.token.renewTokensWithRefresh({ scopes: refreshToken.scopes }, refreshToken);
    expect(renewed.accessToken && renewed.refreshToken.refreshToken !== refreshToken.refreshToken, 'refresh did not rotate the refresh token');
    console.log(JSON.stringify({ result: 'SUCCESS', sub: verified.claims.sub, userinfoSub: info.sub, refreshed: true }));
  } finally {
    auth.dispose();
  }
}

main().catch((err) => {
  console.log(JSON.stringify({ result: 'FAILED', error: String(err && err.stack || err) }));
  process.exit(1);
});
