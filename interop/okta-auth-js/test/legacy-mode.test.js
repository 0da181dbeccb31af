'use strict';
// okta-auth-js 8.0.1 in legacy mode (idx.enableLegacyMode, the 7.x call style the
// official express sample uses): the app calls idx.authenticate() with whatever
// values it has and auth-js picks the remediation.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const gatehouse = require('../lib/gatehouse');
const { makeClient, httpMark, SCOPES } = require('../lib/client');
const {
  calls, otherCode, sleep, RESEND_WAIT_MS, assertCodeMessage, assertSignedIn,
  IDENTIFY_INPUTS, METHOD_OPTIONS,
} = require('../lib/util');

const { ALICE, BOB } = gatehouse;
// One user, and so one phone number, per scenario that sends a code: the engine
// sends at most one code per number per 30 s.
const VOICE = { login: 'vera.legacy@example.com', phone: '+12015550131', given: 'Vera', family: 'Voice' };
const WRONG_PW = { login: 'walt.legacy@example.com', phone: '+12015550132', given: 'Walt', family: 'Wrong' };
const WRONG_CODE = { login: 'cody.legacy@example.com', phone: '+12015550133', given: 'Cody', family: 'Code' };
const RESEND = { login: 'rita.legacy@example.com', phone: '+12015550134', given: 'Rita', family: 'Resend' };
const EXPIRED = { login: 'eve.legacy@example.com', phone: '+12015550135', given: 'Eve', family: 'Expired' };
const BOB_NEW_PHONE = '+12015550138';

describe('okta-auth-js 8.0.1, legacy mode', () => {
  let gh;
  const clients = [];
  const client = () => {
    const c = makeClient(gh, { legacy: true });
    clients.push(c);
    return c;
  };

  before(async () => {
    gh = await gatehouse.start({ users: [VOICE, WRONG_PW, WRONG_CODE, RESEND, EXPIRED] });
  });
  after(async () => {
    clients.forEach((c) => c.dispose());
    if (gh) await gh.stop();
  });

  // signInToCode runs identify, select phone and choose method, asserting each
  // step, and returns the transaction at challenge-authenticator plus the message.
  async function signInToCode(c, user, methodType) {
    const mark = httpMark();
    let t = await c.idx.authenticate({ username: user.login, password: gh.password });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'authenticator', type: 'string', options: [{ label: 'Phone', value: 'phone_number' }] },
    ]);
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/identify 200',
    ]);

    t = await c.idx.authenticate({ authenticator: 'phone_number' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'authenticator-verification-data');
    assert.equal(t.nextStep.type, 'phone');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'methodType', type: 'string', required: true, options: METHOD_OPTIONS },
    ]);
    const masked = '+1 XXX-XXX-' + user.phone.slice(-4);
    assert.equal(t.nextStep.authenticator.profile.phoneNumber, masked);
    assert.equal(t.nextStep.authenticator.key, 'phone_number');
    assert.match(t.nextStep.authenticator.enrollmentId, /\S/);
    assert.deepEqual(await gh.outbox(user.phone), [], 'no code is sent before a method is chosen');

    t = await c.idx.authenticate({ methodType });
    const sentAt = Date.now();
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.nextStep.type, 'phone');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'verificationCode', label: 'Enter code', type: 'string', required: true },
    ]);
    assert.equal(t.nextStep.canResend, true);
    assert.equal(t.nextStep.authenticator.profile.phoneNumber, masked);
    assert.deepEqual(t.nextStep.authenticator.methods, [{ type: methodType }]);
    const msg = await gh.waitForMessage(user.phone, 0);
    assertCodeMessage(msg, user.phone, methodType);
    return { t, msg, sentAt };
  }

  test('1. password, then SMS code: SUCCESS with tokens', async () => {
    const c = client();
    const { msg } = await signInToCode(c, ALICE, 'sms');
    const mark = httpMark();
    const t = await c.idx.authenticate({ verificationCode: msg.code });
    assertSignedIn(t, { login: ALICE.login, amr: 'sms', scopes: SCOPES });
    assert.deepEqual(calls(mark()), [
      'POST /idp/idx/challenge/answer 200',
      'POST /oauth2/default/v1/token 200',
    ]);
    assert.equal(c.idx.canProceed(), false, 'auth-js dropped the finished transaction');
  });

  test('2. password, then voice call code: SUCCESS; a second call within 30 s is refused with E0000151', async () => {
    const c = client();
    const { msg } = await signInToCode(c, VOICE, 'voice');

    const mark = httpMark();
    let t = await c.idx.authenticate({ resend: true });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.messages[0].i18n.key, 'errors.E0000151');
    assert.equal(t.messages[0].class, 'ERROR');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/resend 429']);
    assert.equal((await gh.outbox(VOICE.phone)).length, 1, 'no second call was placed');

    t = await c.idx.authenticate({ verificationCode: msg.code });
    assertSignedIn(t, { login: VOICE.login, amr: 'tel', scopes: SCOPES });
  });

  test('3. wrong password, then the right one on the same transaction', async () => {
    const c = client();
    let mark = httpMark();
    let t = await c.idx.authenticate({ username: WRONG_PW.login, password: 'not-the-password' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'identify');
    assert.deepEqual(t.nextStep.inputs, IDENTIFY_INPUTS);
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'errors.E0000004');
    assert.equal(t.messages[0].class, 'ERROR');
    assert.equal(t.requestDidSucceed, false);
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/identify 401',
    ]);
    const handle = t.meta.interactionHandle;
    assert.equal(typeof handle, 'string');

    mark = httpMark();
    // Values given up front: auth-js posts identify, select and method in a row.
    t = await c.idx.authenticate({
      username: WRONG_PW.login, password: gh.password, authenticator: 'phone_number', methodType: 'sms',
    });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.meta.interactionHandle, handle, 'same interaction');
    const sequence = calls(mark());
    assert.ok(!sequence.some((s) => s.includes('/v1/interact')), `no new interaction: ${sequence}`);
    assert.deepEqual(sequence.slice(-3), [
      'POST /idp/idx/identify 200',
      'POST /idp/idx/challenge 200',
      'POST /idp/idx/challenge 200',
    ]);
    const msg = await gh.waitForMessage(WRONG_PW.phone, 0);
    t = await c.idx.authenticate({ verificationCode: msg.code });
    assertSignedIn(t, { login: WRONG_PW.login, amr: 'sms', scopes: SCOPES });
  });

  test('4. wrong code, then the right one', async () => {
    const c = client();
    const { msg } = await signInToCode(c, WRONG_CODE, 'sms');
    const mark = httpMark();
    let t = await c.idx.authenticate({ verificationCode: otherCode(msg.code) });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'api.authn.error.PASSCODE_INVALID');
    assert.equal(t.messages[0].class, 'ERROR');
    // The field message also rides on the verificationCode input.
    assert.equal(t.nextStep.inputs[0].name, 'verificationCode');
    assert.equal(t.nextStep.inputs[0].messages.value[0].i18n.key, 'api.authn.error.PASSCODE_INVALID');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 401']);

    t = await c.idx.authenticate({ verificationCode: msg.code });
    assertSignedIn(t, { login: WRONG_CODE.login, amr: 'sms', scopes: SCOPES });
  });

  test('5. resend: refused inside 30 s (E0000150), a new code after it, and the new code signs in', { timeout: 90000 }, async () => {
    const c = client();
    const { msg: first, sentAt } = await signInToCode(c, RESEND, 'sms');

    let mark = httpMark();
    let t = await c.idx.authenticate({ resend: true });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.nextStep.canResend, true);
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'errors.E0000150');
    assert.equal(t.messages[0].class, 'ERROR');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/resend 429']);
    assert.equal((await gh.outbox(RESEND.phone)).length, 1, 'nothing was sent');

    await sleep(RESEND_WAIT_MS - (Date.now() - sentAt)); // the engine's 30 s cool-down

    mark = httpMark();
    t = await c.idx.authenticate({ resend: true });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.nextStep.canResend, true);
    assert.deepEqual(t.nextStep.authenticator.methods, [{ type: 'sms' }]);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/resend 200']);
    const second = await gh.waitForMessage(RESEND.phone, 1);
    assertCodeMessage(second, RESEND.phone, 'sms');
    assert.ok(new Date(second.sentAt) > new Date(first.sentAt));

    t = await c.idx.authenticate({ verificationCode: second.code });
    assertSignedIn(t, { login: RESEND.login, amr: 'sms', scopes: SCOPES });
  });

  test('6. cancel: CANCELED, storage cleared, and the next authenticate starts over', async () => {
    const c = client();
    let t = await c.idx.authenticate({ username: ALICE.login, password: gh.password, authenticator: 'phone_number' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'authenticator-verification-data');
    const handle = t.meta.interactionHandle;
    const stateHandle = t.context.stateHandle;

    let mark = httpMark();
    t = await c.idx.cancel();
    assert.equal(t.status, 'CANCELED');
    assert.equal(t.nextStep, undefined);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/cancel 200']);
    assert.equal(c.idx.canProceed(), false, 'auth-js dropped the cancelled transaction');

    mark = httpMark();
    t = await c.idx.authenticate({ username: ALICE.login, password: gh.password });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/identify 200',
    ]);
    assert.notEqual(t.meta.interactionHandle, handle);
    assert.notEqual(t.context.stateHandle, stateHandle);
  });

  test('10. enrollment: a user without a phone enrolls one (invalid number first) and signs in', async () => {
    const c = client();
    let t = await c.idx.authenticate({ username: BOB.login, password: gh.password });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
    // A user without a second factor may enroll a phone or an authenticator app.
    assert.deepEqual(t.nextStep.inputs, [
      {
        name: 'authenticator',
        type: 'string',
        options: [{ label: 'Phone', value: 'phone_number' }, { label: 'Google Authenticator', value: 'google_otp' }],
      },
    ]);

    t = await c.idx.authenticate({ authenticator: 'phone_number' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'authenticator-enrollment-data');
    assert.equal(t.nextStep.type, 'phone');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'methodType', type: 'string', options: METHOD_OPTIONS, required: true },
      { name: 'phoneNumber', label: 'Phone Number', required: true, type: 'string' },
    ]);
    assert.equal(t.nextStep.authenticator.key, 'phone_number');

    let mark = httpMark();
    t = await c.idx.authenticate({ methodType: 'sms', phoneNumber: '12345' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'authenticator-enrollment-data');
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'api.factors.error.sms.invalid_phone');
    assert.equal(t.messages[0].class, 'ERROR');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/credential/enroll 400']);

    mark = httpMark();
    t = await c.idx.authenticate({ methodType: 'sms', phoneNumber: '(201) 555-' + BOB_NEW_PHONE.slice(-4) });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'verificationCode', label: 'Enter code', type: 'string', required: true },
    ]);
    assert.equal(t.nextStep.canResend, true);
    assert.deepEqual(t.nextStep.authenticator.methods, [{ type: 'sms' }]);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/credential/enroll 200']);
    const msg = await gh.waitForMessage(BOB_NEW_PHONE, 0);
    assertCodeMessage(msg, BOB_NEW_PHONE, 'sms');

    t = await c.idx.authenticate({ verificationCode: msg.code });
    assertSignedIn(t, { login: BOB.login, amr: 'sms', scopes: SCOPES });
    assert.equal(t.tokens.idToken.claims.phone_number, BOB_NEW_PHONE);

    // The phone is now Bob's: the next sign-in asks him to verify it.
    const again = client();
    t = await again.idx.authenticate({ username: BOB.login, password: gh.password, authenticator: 'phone_number' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'authenticator-verification-data');
    assert.equal(t.nextStep.authenticator.profile.phoneNumber, '+1 XXX-XXX-' + BOB_NEW_PHONE.slice(-4));
  });

  test('11a. an unknown state handle: TERMINAL with idx.session.expired', async () => {
    const c = client();
    const mark = httpMark();
    const t = await c.idx.proceed({ stateHandle: '02' + 'x'.repeat(43) });
    assert.equal(t.status, 'TERMINAL');
    assert.equal(t.nextStep, undefined);
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'idx.session.expired');
    assert.equal(t.messages[0].class, 'ERROR');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/introspect 401']);
  });

  test('11b. a finished transaction replayed from a stale session copy: TERMINAL with idx.session.expired', async () => {
    const c = client();
    const { msg } = await signInToCode(c, EXPIRED, 'sms');
    // A second tab, or a double submit, still holding the session from before the code.
    const stale = c.testStorage.snapshot();
    let t = await c.idx.authenticate({ verificationCode: msg.code });
    assertSignedIn(t, { login: EXPIRED.login, amr: 'sms', scopes: SCOPES });

    c.testStorage.restore(stale);
    const mark = httpMark();
    t = await c.idx.authenticate({ verificationCode: msg.code });
    assert.equal(t.status, 'TERMINAL');
    assert.equal(t.tokens, undefined);
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'idx.session.expired');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 401']);
  });
});
