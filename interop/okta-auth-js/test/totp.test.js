'use strict';
// The authenticator app (TOTP, Okta's google_otp) with okta-auth-js 8.0.1, in both
// call styles: a user without a second factor enrolls it from the QR code's shared
// secret (auth-js shows it as the authenticator's contextualData), the next sign-in
// verifies it, a code already used is refused, and a user with a phone and the app
// chooses between them. Codes are computed here (lib/totp.js), as the app would.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const gatehouse = require('../lib/gatehouse');
const { makeClient, httpMark, SCOPES } = require('../lib/client');
const { calls, otherCode, assertSignedIn } = require('../lib/util');
const totp = require('../lib/totp');

// Users without a second factor, and one with both a phone and the app.
const NEW_LEGACY = { login: 'otto.legacy@example.com', given: 'Otto', family: 'App' };
const NEW_STEP = { login: 'opal.step@example.com', given: 'Opal', family: 'App' };
const BOTH = { login: 'bea.both@example.com', phone: '+12015550191', totp: true, given: 'Bea', family: 'Both' };

const USED = 'authfactor.challenge.soft_token.used_passcode';

describe('okta-auth-js 8.0.1, the authenticator app (google_otp)', () => {
  let gh;
  const clients = [];
  const client = (legacy) => {
    const c = makeClient(gh, { legacy });
    clients.push(c);
    return c;
  };

  before(async () => {
    gh = await gatehouse.start({ users: [NEW_LEGACY, NEW_STEP, BOTH] });
  });
  after(async () => {
    clients.forEach((c) => c.dispose());
    if (gh) await gh.stop();
  });

  test('A0. lib/totp.js computes the RFC 6238 SHA-1 test vectors', () => {
    const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // "12345678901234567890"
    assert.equal(totp.base32Decode(secret).toString('latin1'), '12345678901234567890');
    for (const [seconds, code] of [[59, '287082'], [1111111109, '081804'], [1234567890, '005924'], [2000000000, '279037']]) {
      assert.equal(totp.codeAt(secret, totp.stepAt(seconds * 1000)), code, `T=${seconds}`);
    }
  });

  // assertContextualData checks what enrolling shows: a QR code (an embedded PNG)
  // and the shared secret it encodes, in base32; returns the secret.
  function assertContextualData(data) {
    assert.deepEqual(Object.keys(data).sort(), ['qrcode', 'sharedSecret']);
    assert.equal(data.qrcode.method, 'embedded');
    assert.equal(data.qrcode.type, 'image/png');
    const prefix = 'data:image/png;base64,';
    assert.ok(data.qrcode.href.startsWith(prefix), data.qrcode.href.slice(0, 40));
    const png = Buffer.from(data.qrcode.href.slice(prefix.length), 'base64');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    assert.match(data.sharedSecret, /^[A-Z2-7]{16,}$/);
    assert.ok(totp.base32Decode(data.sharedSecret).length >= 10, 'at least 80 bits');
    return data.sharedSecret;
  }

  test('A1. legacy: enroll the app (code from contextualData.sharedSecret), then sign in with it; a used code is refused, the next step\'s code works', async () => {
    const c = client(true);
    let t = await c.idx.authenticate({ username: NEW_LEGACY.login, password: gh.password });
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
    assert.deepEqual(t.nextStep.inputs, [{
      name: 'authenticator',
      type: 'string',
      options: [{ label: 'Phone', value: 'phone_number' }, { label: 'Google Authenticator', value: 'google_otp' }],
    }]);

    let mark = httpMark();
    t = await c.idx.authenticate({ authenticator: 'google_otp' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.equal(t.nextStep.type, 'app');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'verificationCode', label: 'Enter code', type: 'string', required: true },
    ]);
    assert.equal(t.nextStep.canResend, undefined, 'nothing to resend for an app');
    assert.equal(t.nextStep.authenticator.key, 'google_otp');
    assert.equal(t.nextStep.authenticator.displayName, 'Google Authenticator');
    assert.deepEqual(t.nextStep.authenticator.methods, [{ type: 'otp' }]);
    const secret = assertContextualData(t.nextStep.authenticator.contextualData);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/credential/enroll 200']);

    // A wrong code first.
    const first = totp.nextCode(secret);
    mark = httpMark();
    t = await c.idx.authenticate({ verificationCode: otherCode(first.code) });
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.equal(t.messages[0].i18n.key, 'api.authn.error.PASSCODE_INVALID');
    assert.equal(t.nextStep.inputs[0].messages.value[0].i18n.key, 'api.authn.error.PASSCODE_INVALID');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 401']);

    t = await c.idx.authenticate({ verificationCode: first.code });
    assertSignedIn(t, { login: NEW_LEGACY.login, amr: 'otp', scopes: SCOPES });
    assert.deepEqual(t.tokens.idToken.claims.amr, ['pwd', 'otp', 'mfa']);

    // The next sign-in offers only the app and verifies it.
    const again = client(true);
    t = await again.idx.authenticate({ username: NEW_LEGACY.login, password: gh.password });
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'authenticator', type: 'string', options: [{ label: 'Google Authenticator', value: 'google_otp' }] },
    ]);
    t = await again.idx.authenticate({ authenticator: 'google_otp' });
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.nextStep.authenticator.key, 'google_otp');
    assert.equal(t.nextStep.canResend, undefined);
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'verificationCode', label: 'Enter code', type: 'string', required: true },
    ]);

    // The code that enrolled the app is a right code, but used: refused.
    mark = httpMark();
    t = await again.idx.authenticate({ verificationCode: first.code });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.deepEqual(t.messages.map((m) => m.i18n.key), [USED]);
    assert.equal(t.nextStep.inputs[0].messages.value[0].i18n.key, USED);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 401']);

    const second = totp.nextCode(secret, first.step);
    t = await again.idx.authenticate({ verificationCode: second.code });
    assertSignedIn(t, { login: NEW_LEGACY.login, amr: 'otp', scopes: SCOPES });
  });

  test('A2. step mode: enroll the app (nextStep.relatesTo.value.contextualData), then sign in with it; a used code is refused, the next step\'s code works', async () => {
    const c = client(false);
    let t = await c.idx.authenticate({ step: 'identify', username: NEW_STEP.login, password: gh.password });
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
    const options = t.nextStep.inputs[0].options;
    assert.deepEqual(options.map((o) => [o.label, o.relatesTo.key]), [['Phone', 'phone_number'], ['Google Authenticator', 'google_otp']]);
    assert.deepEqual(options[1].value.map((f) => f.name), ['id', 'methodType']);

    t = await c.idx.proceed({ step: 'select-authenticator-enroll', authenticator: 'google_otp' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.equal(t.nextStep.relatesTo.value.key, 'google_otp');
    assert.equal(t.nextStep.canResend, undefined);
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'credentials', type: 'object', value: [{ name: 'passcode', label: 'Enter code' }], required: true },
    ]);
    assert.ok(!t.availableSteps.some((s) => s.name.endsWith('-resend')), 'no resend action for an app');
    const secret = assertContextualData(t.nextStep.relatesTo.value.contextualData);

    const first = totp.nextCode(secret);
    t = await c.idx.proceed({ step: 'enroll-authenticator', verificationCode: first.code });
    assertSignedIn(t, { login: NEW_STEP.login, amr: 'otp', scopes: SCOPES });

    const again = client(false);
    t = await again.idx.authenticate({ step: 'identify', username: NEW_STEP.login, password: gh.password });
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
    assert.deepEqual(t.nextStep.inputs[0].options.map((o) => o.relatesTo.key), ['google_otp']);
    t = await again.idx.proceed({ step: 'select-authenticator-authenticate', authenticator: 'google_otp' });
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.nextStep.relatesTo.value.key, 'google_otp');

    const mark = httpMark();
    t = await again.idx.proceed({ step: 'challenge-authenticator', verificationCode: first.code });
    assert.equal(t.requestDidSucceed, false);
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.deepEqual(t.messages.map((m) => m.i18n.key), [USED]);
    assert.equal(t.nextStep.inputs[0].messages.value[0].i18n.key, USED);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 401']);

    const second = totp.nextCode(secret, first.step);
    t = await again.idx.proceed({ step: 'challenge-authenticator', verificationCode: second.code });
    assertSignedIn(t, { login: NEW_STEP.login, amr: 'otp', scopes: SCOPES });
  });

  test('A3. a user with a phone and the app is offered both; either style signs in with the app', async () => {
    const secret = gh.totpSecret(BOTH.login);

    const legacy = client(true);
    let t = await legacy.idx.authenticate({ username: BOTH.login, password: gh.password });
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
    assert.deepEqual(t.nextStep.inputs, [{
      name: 'authenticator',
      type: 'string',
      options: [{ label: 'Phone', value: 'phone_number' }, { label: 'Google Authenticator', value: 'google_otp' }],
    }]);
    t = await legacy.idx.authenticate({ authenticator: 'google_otp' });
    const first = totp.nextCode(secret);
    t = await legacy.idx.authenticate({ verificationCode: first.code });
    assertSignedIn(t, { login: BOTH.login, amr: 'otp', scopes: SCOPES });

    const step = client(false);
    t = await step.idx.authenticate({ step: 'identify', username: BOTH.login, password: gh.password });
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
    const options = t.nextStep.inputs[0].options;
    assert.deepEqual(options.map((o) => [o.label, o.relatesTo.key]), [['Phone', 'phone_number'], ['Google Authenticator', 'google_otp']]);
    assert.equal(options[0].relatesTo.profile.phoneNumber, '+1 XXX-XXX-' + BOTH.phone.slice(-4));
    assert.deepEqual(options[1].value.map((f) => f.name), ['id', 'methodType', 'enrollmentId']);
    t = await step.idx.proceed({ step: 'select-authenticator-authenticate', authenticator: 'google_otp' });
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    const second = totp.nextCode(secret, first.step);
    t = await step.idx.proceed({ step: 'challenge-authenticator', verificationCode: second.code });
    assertSignedIn(t, { login: BOTH.login, amr: 'otp', scopes: SCOPES });
    assert.deepEqual(await gh.outbox(BOTH.phone), [], 'nothing was sent to the phone');
  });
});
