'use strict';
// Password recovery with okta-auth-js 8.0.1's idx.recoverPassword, in both call
// styles: legacy mode (values given up front, auth-js picks the remediations) and
// step mode (recoverPassword() starts it, proceed({step}) names every step). The
// path: username → the phone → a code by SMS or voice → a new password (a too-short
// one first) → SUCCESS with tokens. Afterwards the old password and the refresh
// tokens from before are refused and the new password signs in. A username that
// names no user gets the same answers, and nothing is sent.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const gatehouse = require('../lib/gatehouse');
const { makeClient, httpMark, SCOPES } = require('../lib/client');
const { calls, assertCodeMessage, assertSignedIn, METHOD_OPTIONS } = require('../lib/util');
const totp = require('../lib/totp');

// Users with a phone and an authenticator app: the app signs them in before and
// after the recovery without a second code to the phone inside the engine's 30 s
// between two codes to one number.
const LEGACY = { login: 'rhea.legacy@example.com', phone: '+12015550171', totp: true, given: 'Rhea', family: 'Reset' };
const STEP = { login: 'ross.step@example.com', phone: '+12015550172', totp: true, given: 'Ross', family: 'Reset' };
const VOICE = { login: 'vic.step@example.com', phone: '+12015550173', given: 'Vic', family: 'Voice' };
const PEER = { login: 'pia.step@example.com', phone: '+12015550174', given: 'Pia', family: 'Peer' };
// Send limits for a username without a user are kept per username, as for a
// real one: each scenario has its own.
const UNKNOWN = 'nobody@example.com';
const UNKNOWN_LEGACY = 'nobody.legacy@example.com';
const NEW_PASSWORD = 'a new password, long enough';

// The reset-authenticator step in legacy shape: one password input.
const NEW_PASSWORD_INPUT = { name: 'password', label: 'New password', secret: true, type: 'string', required: true };

// sameShape is a step with everything that differs between two transactions
// (ids, enrollment ids, state handles, as properties or as form fields) blanked,
// to compare what two answers tell.
const PER_TRANSACTION = ['id', 'enrollmentId', 'stateHandle'];
function sameShape(value) {
  return JSON.parse(JSON.stringify(value, (key, v) => {
    if (PER_TRANSACTION.includes(key) && typeof v === 'string') return '…';
    if (v && typeof v === 'object' && PER_TRANSACTION.includes(v.name) && typeof v.value === 'string') return { ...v, value: '…' };
    return v;
  }));
}

// sentList names the messages in the outbox (not their delivery status, which the
// engine's worker updates in the background).
const sentList = (messages) => messages.map((m) => `${m.channel} to ${m.to} at ${m.sentAt}`);

describe('okta-auth-js 8.0.1, idx.recoverPassword', () => {
  let gh;
  const clients = [];
  const client = (legacy) => {
    const c = makeClient(gh, { legacy });
    clients.push(c);
    return c;
  };

  before(async () => {
    gh = await gatehouse.start({ users: [LEGACY, STEP, VOICE, PEER] });
  });
  after(async () => {
    clients.forEach((c) => c.dispose());
    if (gh) await gh.stop();
  });

  // signInWithApp signs user in with password and an authenticator app code in
  // either call style, and returns the SUCCESS transaction and the code's step.
  async function signInWithApp(c, user, password, legacy, lastStep) {
    let t = legacy
      ? await c.idx.authenticate({ username: user.login, password, authenticator: 'google_otp' })
      : await c.idx.authenticate({ step: 'identify', username: user.login, password });
    if (!legacy) {
      assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
      t = await c.idx.proceed({ step: 'select-authenticator-authenticate', authenticator: 'google_otp' });
    }
    assert.equal(t.nextStep.name, 'challenge-authenticator', `messages: ${JSON.stringify(t.messages)}`);
    const { code, step } = totp.nextCode(gh.totpSecret(user.login), lastStep);
    t = legacy
      ? await c.idx.authenticate({ verificationCode: code })
      : await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: code });
    assertSignedIn(t, { login: user.login, amr: 'otp', scopes: SCOPES });
    return { t, step };
  }

  // assertRecoveryRevoked checks what a reset leaves behind: the refresh and
  // access tokens from before it are refused, the old password is wrong.
  async function assertRecoveryRevoked(c, user, old, legacy) {
    await assert.rejects(c.token.renewTokensWithRefresh({ scopes: SCOPES }, old.refreshToken),
      { name: 'OAuthError', errorCode: 'invalid_grant', errorSummary: 'The refresh token is invalid or expired.' });
    await assert.rejects(c.token.getUserInfo(old.accessToken, old.idToken), { name: 'OAuthError', errorCode: 'invalid_token' });

    const o = client(legacy);
    const t = legacy
      ? await o.idx.authenticate({ username: user.login, password: gh.password })
      : await o.idx.authenticate({ step: 'identify', username: user.login, password: gh.password });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'identify');
    assert.equal(t.messages[0].i18n.key, 'errors.E0000004', 'the old password no longer signs in');
  }

  test('R1. legacy: username, phone and method up front; the code; a too-short password, then a good one: SUCCESS; old tokens and password refused; the new one signs in', async () => {
    const before = client(true);
    const { t: old, step } = await signInWithApp(before, LEGACY, gh.password, true);

    const c = client(true);
    let mark = httpMark();
    let t = await c.idx.recoverPassword({ username: LEGACY.login, authenticators: ['phone_number'], methodType: 'sms' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'verificationCode', label: 'Enter code', type: 'string', required: true },
    ]);
    assert.equal(t.nextStep.canResend, true);
    assert.equal(t.nextStep.authenticator.key, 'phone_number');
    assert.deepEqual(t.nextStep.authenticator.methods, [{ type: 'sms' }]);
    // A recovery never shows whose phone it is: no masked number until SUCCESS.
    assert.equal(t.nextStep.authenticator.profile, undefined);
    assert.equal(t.rawIdxState.user, undefined);
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/recover 200',
      'POST /idp/idx/identify 200',
      'POST /idp/idx/challenge 200',
      'POST /idp/idx/challenge 200',
    ]);
    const msg = await gh.waitForMessage(LEGACY.phone, 0);
    assertCodeMessage(msg, LEGACY.phone, 'sms');

    // proceed() continues the saved recoverPassword flow.
    mark = httpMark();
    t = await c.idx.proceed({ verificationCode: msg.code });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'reset-authenticator');
    assert.deepEqual(t.nextStep.inputs, [NEW_PASSWORD_INPUT]);
    assert.equal(t.nextStep.authenticator.key, 'okta_password');
    assert.equal(t.nextStep.authenticator.settings.complexity.minLength, 8);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 200']);

    mark = httpMark();
    t = await c.idx.proceed({ password: 'short' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'reset-authenticator');
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'password.passwordRequirementsNotMet');
    assert.equal(t.messages[0].class, 'ERROR');
    // The message rides on the password field too.
    assert.equal(t.nextStep.inputs[0].name, 'password');
    assert.equal(t.nextStep.inputs[0].messages.value[0].i18n.key, 'password.passwordRequirementsNotMet');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 400']);

    mark = httpMark();
    t = await c.idx.recoverPassword({ password: NEW_PASSWORD });
    assertSignedIn(t, { login: LEGACY.login, amr: 'sms', scopes: SCOPES });
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 200', 'POST /oauth2/default/v1/token 200']);
    assert.equal(c.idx.canProceed(), false, 'auth-js dropped the finished transaction');
    const info = await c.token.getUserInfo(t.tokens.accessToken, t.tokens.idToken);
    assert.equal(info.sub, old.tokens.idToken.claims.sub);

    await assertRecoveryRevoked(before, LEGACY, old.tokens, true);
    await signInWithApp(client(true), LEGACY, NEW_PASSWORD, true, step);
  });

  test('R2. step mode: recoverPassword(), then proceed({step}) through SMS and a too-short password: SUCCESS; old tokens and password refused; the new one signs in', async () => {
    const before = client(false);
    const { t: old, step } = await signInWithApp(before, STEP, gh.password, false);

    const c = client(false);
    let mark = httpMark();
    let t = await c.idx.recoverPassword();
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'identify-recovery');
    assert.deepEqual(t.nextStep.inputs, [{ name: 'identifier', label: 'Username', required: true, type: 'string' }]);
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/recover 200',
    ]);

    mark = httpMark();
    t = await c.idx.proceed({ step: 'identify-recovery', username: STEP.login });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
    // Only the phone recovers a password, though the user also has the app.
    const options = t.nextStep.inputs[0].options;
    assert.deepEqual(options.map((o) => o.label), ['Phone']);
    assert.equal(options[0].relatesTo.key, 'phone_number');
    assert.equal(options[0].relatesTo.profile, undefined, 'no masked number in a recovery');
    assert.deepEqual(options[0].value.map((f) => f.name), ['id', 'methodType', 'enrollmentId']);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/identify 200']);

    t = await c.idx.proceed({ step: 'select-authenticator-authenticate', authenticator: 'phone_number' });
    assert.equal(t.nextStep.name, 'authenticator-verification-data');
    assert.deepEqual(t.nextStep.inputs[0].value[1].options, METHOD_OPTIONS);
    assert.deepEqual(await gh.outbox(STEP.phone), [], 'no code before a method is chosen');

    t = await c.idx.proceed({ step: 'authenticator-verification-data', methodType: 'sms' });
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.nextStep.canResend, true);
    assert.deepEqual(t.nextStep.relatesTo.value.methods, [{ type: 'sms' }]);
    const msg = await gh.waitForMessage(STEP.phone, 0);
    assertCodeMessage(msg, STEP.phone, 'sms');

    t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: msg.code });
    assert.equal(t.nextStep.name, 'reset-authenticator');
    assert.equal(t.nextStep.relatesTo.value.key, 'okta_password');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'credentials', type: 'object', value: [{ name: 'passcode', label: 'New password', secret: true }], required: true },
    ]);

    mark = httpMark();
    t = await c.idx.proceed({ step: 'reset-authenticator', password: 'short' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.requestDidSucceed, false);
    assert.equal(t.nextStep.name, 'reset-authenticator');
    assert.equal(t.messages[0].i18n.key, 'password.passwordRequirementsNotMet');
    assert.equal(t.nextStep.inputs[0].name, 'password');
    assert.equal(t.nextStep.inputs[0].messages.value[0].i18n.key, 'password.passwordRequirementsNotMet');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 400']);

    t = await c.idx.proceed({ step: 'reset-authenticator', password: NEW_PASSWORD });
    assertSignedIn(t, { login: STEP.login, amr: 'sms', scopes: SCOPES });

    await assertRecoveryRevoked(before, STEP, old.tokens, false);
    await signInWithApp(client(false), STEP, NEW_PASSWORD, false, step);
  });

  test('R3. step mode from idx.start(): the currentAuthenticator-recover action, then a voice call; SUCCESS with amr tel', async () => {
    const c = client(false);
    let t = await c.idx.start();
    assert.ok(t.enabledFeatures.includes('recover-password'));
    const recover = t.availableSteps.find((s) => s.name === 'currentAuthenticator-recover');
    assert.equal(typeof recover.action, 'function');

    const mark = httpMark();
    t = await recover.action();
    assert.equal(t.nextStep.name, 'identify-recovery');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/recover 200']);

    // idx.start() began a plain sign-in flow, so auth-js has no recovery
    // remediators here: the raw field names are given.
    t = await c.idx.proceed({ step: 'identify-recovery', identifier: VOICE.login });
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
    t = await c.idx.proceed({ step: 'select-authenticator-authenticate', authenticator: 'phone_number' });
    assert.equal(t.nextStep.name, 'authenticator-verification-data');
    t = await c.idx.proceed({ step: 'authenticator-verification-data', methodType: 'voice' });
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.deepEqual(t.nextStep.relatesTo.value.methods, [{ type: 'voice' }]);
    const msg = await gh.waitForMessage(VOICE.phone, 0);
    assertCodeMessage(msg, VOICE.phone, 'voice');

    t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: msg.code });
    assert.equal(t.nextStep.name, 'reset-authenticator');
    t = await c.idx.proceed({ step: 'reset-authenticator', credentials: { passcode: NEW_PASSWORD } });
    assertSignedIn(t, { login: VOICE.login, amr: 'tel', scopes: SCOPES });

    // The new password is the one that opens the second step now.
    const again = client(false);
    t = await again.idx.authenticate({ step: 'identify', username: VOICE.login, password: NEW_PASSWORD });
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
  });

  test('R4. step mode: a username that names no user gets the same answers as a real one, and nothing is sent', async () => {
    // Side by side: a real user's recovery and one for a username nobody has.
    const real = client(false);
    const ghost = client(false);
    const steps = [
      [{}, {}],
      [{ step: 'identify-recovery', username: PEER.login }, { step: 'identify-recovery', username: UNKNOWN }],
      [{ step: 'select-authenticator-authenticate', authenticator: 'phone_number' }, { step: 'select-authenticator-authenticate', authenticator: 'phone_number' }],
      [{ step: 'authenticator-verification-data', methodType: 'sms' }, { step: 'authenticator-verification-data', methodType: 'sms' }],
    ];
    for (const [i, [realValues, ghostValues]] of steps.entries()) {
      const r = i === 0 ? await real.idx.recoverPassword() : await real.idx.proceed(realValues);
      const sentBefore = sentList(await gh.outbox());
      const markGhost = httpMark();
      const g = i === 0 ? await ghost.idx.recoverPassword() : await ghost.idx.proceed(ghostValues);
      const ghostCalls = calls(markGhost());
      assert.equal(g.status, 'PENDING');
      assert.equal(g.messages, undefined, `step ${i}: no error for an unknown username`);
      assert.ok(ghostCalls.every((s) => s.endsWith(' 200')), `step ${i}: ${ghostCalls}`);
      assert.deepEqual(sameShape(g.nextStep), sameShape(r.nextStep), `step ${i}: ${g.nextStep.name}`);
      assert.deepEqual(g.availableSteps.map((s) => s.name), r.availableSteps.map((s) => s.name));
      assert.deepEqual(sentList(await gh.outbox()), sentBefore, `step ${i}: nothing sent for the unknown username`);
    }
    // The real user's code went out.
    assert.equal((await gh.outbox(PEER.phone)).length, 1);

    // Any code is wrong for it, answered as a wrong code for a real user.
    const mark = httpMark();
    const g = await ghost.idx.proceed({ step: 'challenge-authenticator', verificationCode: '123456' });
    assert.equal(g.status, 'PENDING');
    assert.equal(g.nextStep.name, 'challenge-authenticator');
    assert.equal(g.messages[0].i18n.key, 'api.authn.error.PASSCODE_INVALID');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 401']);
  });

  test('R5. legacy: an unknown username with everything up front reaches the code step like a real one; nothing is sent', async () => {
    const sentBefore = (await gh.outbox()).length;
    const c = client(true);
    const mark = httpMark();
    const t = await c.idx.recoverPassword({ username: UNKNOWN_LEGACY, authenticators: ['phone_number'], methodType: 'voice' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'verificationCode', label: 'Enter code', type: 'string', required: true },
    ]);
    assert.equal(t.nextStep.canResend, true);
    assert.equal(t.nextStep.authenticator.key, 'phone_number');
    assert.deepEqual(t.nextStep.authenticator.methods, [{ type: 'voice' }]);
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/recover 200',
      'POST /idp/idx/identify 200',
      'POST /idp/idx/challenge 200',
      'POST /idp/idx/challenge 200',
    ]);
    assert.equal((await gh.outbox()).length, sentBefore, 'no call was placed');
  });
});
