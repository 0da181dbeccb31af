'use strict';
// okta-auth-js 8.0.1 in its default "step mode": the app names every remediation
// (idx.start(), then proceed({step, ...})); auth-js posts exactly that step and
// describes the next remediation generically (raw fields, relatesTo, action()).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const gatehouse = require('../lib/gatehouse');
const { makeClient, httpMark, SCOPES } = require('../lib/client');
const {
  calls, otherCode, sleep, RESEND_WAIT_MS, assertCodeMessage, assertSignedIn,
  IDENTIFY_INPUTS, METHOD_OPTIONS,
} = require('../lib/util');

const { ALICE, BOB } = gatehouse;
// One user, and so one phone number, per scenario that sends a code.
const VOICE = { login: 'vera.step@example.com', phone: '+12015550141', given: 'Vera', family: 'Voice' };
const WRONG_PW = { login: 'walt.step@example.com', phone: '+12015550142', given: 'Walt', family: 'Wrong' };
const WRONG_CODE = { login: 'cody.step@example.com', phone: '+12015550143', given: 'Cody', family: 'Code' };
const RESEND = { login: 'rita.step@example.com', phone: '+12015550144', given: 'Rita', family: 'Resend' };
const EXPIRED = { login: 'eve.step@example.com', phone: '+12015550145', given: 'Eve', family: 'Expired' };
const BOB_NEW_PHONE = '+12015550148';

const masked = (e164) => '+1 XXX-XXX-' + e164.slice(-4);
const fieldNames = (fields) => fields.map((f) => f.name);

describe('okta-auth-js 8.0.1, step mode (8.x default)', () => {
  let gh;
  const clients = [];
  const client = () => {
    const c = makeClient(gh, { legacy: false });
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

  // The generic nextStep of select-authenticator-authenticate: one object input
  // whose Phone option carries the raw option form and the resolved enrollment.
  function assertSelectPhone(t, phone) {
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'select-authenticator-authenticate');
    assert.equal(typeof t.nextStep.action, 'function');
    assert.equal(t.nextStep.inputs.length, 1);
    const [input] = t.nextStep.inputs;
    assert.equal(input.name, 'authenticator');
    assert.equal(input.type, 'object');
    assert.equal(input.options.length, 1);
    const [phoneOption] = input.options;
    assert.equal(phoneOption.label, 'Phone');
    assert.deepEqual(fieldNames(phoneOption.value), ['id', 'methodType', 'enrollmentId']);
    assert.deepEqual(phoneOption.value[1].options, METHOD_OPTIONS);
    assert.equal(phoneOption.relatesTo.key, 'phone_number');
    assert.equal(phoneOption.relatesTo.profile.phoneNumber, masked(phone));
  }

  // signInToCode: start, identify, select phone, choose method; returns the
  // transaction at challenge-authenticator and the message sent.
  async function signInToCode(c, user, methodType) {
    const mark = httpMark();
    let t = await c.idx.start();
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep, undefined, 'start() posts nothing and names no step');
    // The demo offers registration and password recovery next to signing in.
    assert.deepEqual(t.availableSteps.map((s) => s.name), ['identify', 'select-enroll-profile', 'currentAuthenticator-recover', 'cancel']);
    assert.deepEqual(t.enabledFeatures, ['recover-password', 'enroll-profile']);
    assert.deepEqual(t.availableSteps[0].inputs, IDENTIFY_INPUTS);

    t = await c.idx.proceed({ step: 'identify', username: user.login, password: gh.password });
    assertSelectPhone(t, user.phone);
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/identify 200',
    ]);

    t = await c.idx.proceed({ step: 'select-authenticator-authenticate', authenticator: 'phone_number' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'authenticator-verification-data');
    assert.equal(t.nextStep.relatesTo.value.key, 'phone_number');
    assert.equal(t.nextStep.relatesTo.value.profile.phoneNumber, masked(user.phone));
    assert.equal(t.nextStep.inputs.length, 1);
    assert.equal(t.nextStep.inputs[0].name, 'authenticator');
    assert.deepEqual(fieldNames(t.nextStep.inputs[0].value), ['id', 'methodType', 'enrollmentId']);
    assert.equal(t.nextStep.inputs[0].value[1].required, true);
    assert.deepEqual(t.nextStep.inputs[0].value[1].options, METHOD_OPTIONS);
    assert.deepEqual(await gh.outbox(user.phone), [], 'no code is sent before a method is chosen');

    t = await c.idx.proceed({ step: 'authenticator-verification-data', methodType });
    const sentAt = Date.now();
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'credentials', type: 'object', value: [{ name: 'passcode', label: 'Enter code' }], required: true },
    ]);
    assert.equal(t.nextStep.canResend, true);
    assert.equal(t.nextStep.relatesTo.value.profile.phoneNumber, masked(user.phone));
    assert.deepEqual(t.nextStep.relatesTo.value.methods, [{ type: methodType }]);
    const msg = await gh.waitForMessage(user.phone, 0);
    assertCodeMessage(msg, user.phone, methodType);
    return { t, msg, sentAt };
  }

  test('0. without a step, authenticate() refuses (step mode needs step or action)', async () => {
    const c = client();
    await assert.rejects(
      c.idx.authenticate({ username: ALICE.login, password: gh.password }),
      { name: 'AuthSdkError', message: 'No `step` or `action` provided' },
    );
  });

  test('1. password, then SMS code: SUCCESS with tokens', async () => {
    const c = client();
    const { msg } = await signInToCode(c, ALICE, 'sms');
    const mark = httpMark();
    const t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: msg.code });
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
    let t = await c.idx.proceed({ resend: true });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.messages[0].i18n.key, 'errors.E0000151');
    assert.equal(t.messages[0].class, 'ERROR');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/resend 429']);
    assert.equal((await gh.outbox(VOICE.phone)).length, 1, 'no second call was placed');

    t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: msg.code });
    assertSignedIn(t, { login: VOICE.login, amr: 'tel', scopes: SCOPES });
  });

  test('3. wrong password, then the right one on the same transaction', async () => {
    const c = client();
    let mark = httpMark();
    // authenticate({step}) opens the transaction itself, without idx.start().
    let t = await c.idx.authenticate({ step: 'identify', username: WRONG_PW.login, password: 'not-the-password' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'identify');
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

    mark = httpMark();
    // Extra values do not chain in step mode: only identify is posted.
    t = await c.idx.proceed({ step: 'identify', username: WRONG_PW.login, password: gh.password, authenticator: 'phone_number' });
    assertSelectPhone(t, WRONG_PW.phone);
    assert.equal(t.meta.interactionHandle, handle, 'same interaction');
    const sequence = calls(mark());
    assert.ok(!sequence.some((s) => s.includes('/v1/interact')), `no new interaction: ${sequence}`);
    assert.deepEqual(sequence.slice(-1), ['POST /idp/idx/identify 200']);

    t = await c.idx.proceed({ step: 'select-authenticator-authenticate', authenticator: 'phone_number' });
    assert.equal(t.nextStep.name, 'authenticator-verification-data');
    t = await c.idx.proceed({ step: 'authenticator-verification-data', methodType: 'sms' });
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    const msg = await gh.waitForMessage(WRONG_PW.phone, 0);
    t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: msg.code });
    assertSignedIn(t, { login: WRONG_PW.login, amr: 'sms', scopes: SCOPES });
  });

  test('4. wrong code, then the right one', async () => {
    const c = client();
    const { msg } = await signInToCode(c, WRONG_CODE, 'sms');
    const mark = httpMark();
    let t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: otherCode(msg.code) });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.requestDidSucceed, false);
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'api.authn.error.PASSCODE_INVALID');
    assert.equal(t.messages[0].class, 'ERROR');
    // After a failed call auth-js builds nextStep with the named step's own
    // remediator (legacy shape: a verificationCode input), not generically.
    assert.equal(t.nextStep.inputs[0].name, 'verificationCode');
    assert.equal(t.nextStep.inputs[0].messages.value[0].i18n.key, 'api.authn.error.PASSCODE_INVALID');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 401']);

    t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: msg.code });
    assertSignedIn(t, { login: WRONG_CODE.login, amr: 'sms', scopes: SCOPES });
  });

  test('5. resend: refused inside 30 s (E0000150), a new code after it, and the new code signs in', { timeout: 90000 }, async () => {
    const c = client();
    const { msg: first, sentAt } = await signInToCode(c, RESEND, 'sms');

    let mark = httpMark();
    let t = await c.idx.proceed({ resend: true });
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
    t = await c.idx.proceed({ resend: true });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'challenge-authenticator');
    assert.equal(t.nextStep.canResend, true);
    assert.deepEqual(t.nextStep.relatesTo.value.methods, [{ type: 'sms' }]);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/resend 200']);
    const second = await gh.waitForMessage(RESEND.phone, 1);
    assertCodeMessage(second, RESEND.phone, 'sms');
    assert.ok(new Date(second.sentAt) > new Date(first.sentAt));

    t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: second.code });
    assertSignedIn(t, { login: RESEND.login, amr: 'sms', scopes: SCOPES });
  });

  test('6. cancel: CANCELED, storage cleared, and the next authenticate starts over', async () => {
    const c = client();
    let t = await c.idx.authenticate({ step: 'identify', username: ALICE.login, password: gh.password });
    t = await c.idx.proceed({ step: 'select-authenticator-authenticate', authenticator: 'phone_number' });
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
    t = await c.idx.authenticate({ step: 'identify', username: ALICE.login, password: gh.password });
    assertSelectPhone(t, ALICE.phone);
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
    let t = await c.idx.authenticate({ step: 'identify', username: BOB.login, password: gh.password });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
    assert.equal(t.nextStep.inputs[0].name, 'authenticator');
    assert.equal(t.nextStep.inputs[0].type, 'object');
    // A user without a second factor may enroll a phone or an authenticator app.
    const [phoneOption, appOption] = t.nextStep.inputs[0].options;
    assert.equal(t.nextStep.inputs[0].options.length, 2);
    assert.equal(appOption.label, 'Google Authenticator');
    assert.equal(appOption.relatesTo.key, 'google_otp');
    assert.equal(phoneOption.label, 'Phone');
    assert.deepEqual(fieldNames(phoneOption.value), ['id', 'methodType', 'phoneNumber']);
    assert.equal(phoneOption.relatesTo.key, 'phone_number');

    t = await c.idx.proceed({ step: 'select-authenticator-enroll', authenticator: 'phone_number' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'authenticator-enrollment-data');
    assert.equal(t.nextStep.relatesTo.value.key, 'phone_number');
    assert.deepEqual(fieldNames(t.nextStep.inputs[0].value), ['id', 'methodType', 'phoneNumber']);

    let mark = httpMark();
    t = await c.idx.proceed({ step: 'authenticator-enrollment-data', methodType: 'sms', phoneNumber: '12345' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'authenticator-enrollment-data');
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'api.factors.error.sms.invalid_phone');
    assert.equal(t.messages[0].class, 'ERROR');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/credential/enroll 400']);

    mark = httpMark();
    t = await c.idx.proceed({
      step: 'authenticator-enrollment-data', methodType: 'sms', phoneNumber: '(201) 555-' + BOB_NEW_PHONE.slice(-4),
    });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'credentials', type: 'object', value: [{ name: 'passcode', label: 'Enter code' }], required: true },
    ]);
    assert.equal(t.nextStep.canResend, true);
    assert.deepEqual(t.nextStep.relatesTo.value.methods, [{ type: 'sms' }]);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/credential/enroll 200']);
    const msg = await gh.waitForMessage(BOB_NEW_PHONE, 0);
    assertCodeMessage(msg, BOB_NEW_PHONE, 'sms');

    t = await c.idx.proceed({ step: 'enroll-authenticator', verificationCode: msg.code });
    assertSignedIn(t, { login: BOB.login, amr: 'sms', scopes: SCOPES });
    assert.equal(t.tokens.idToken.claims.phone_number, BOB_NEW_PHONE);

    // The phone is now Bob's: the next sign-in asks him to verify it.
    const again = client();
    t = await again.idx.authenticate({ step: 'identify', username: BOB.login, password: gh.password });
    assertSelectPhone(t, BOB_NEW_PHONE);
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
    const stale = c.testStorage.snapshot();
    let t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: msg.code });
    assertSignedIn(t, { login: EXPIRED.login, amr: 'sms', scopes: SCOPES });

    c.testStorage.restore(stale);
    const mark = httpMark();
    t = await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: msg.code });
    assert.equal(t.status, 'TERMINAL');
    assert.equal(t.tokens, undefined);
    assert.equal(t.messages.length, 1);
    assert.equal(t.messages[0].i18n.key, 'idx.session.expired');
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 401']);
  });
});
