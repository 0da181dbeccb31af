'use strict';
// Self-service registration with okta-auth-js 8.0.1's idx.register, in both call
// styles: first name, last name and email → a password (a too-short one first) →
// a phone (SMS code) → SUCCESS with tokens, and a taken email answered on the email
// field. `gatehouse demo` turns sign_on.self_registration on.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const gatehouse = require('../lib/gatehouse');
const { makeClient, httpMark, SCOPES } = require('../lib/client');
const { calls, assertCodeMessage, assertSignedIn, METHOD_OPTIONS } = require('../lib/util');

const { ALICE } = gatehouse; // seeded by the demo: her address is taken
const DORA = { email: 'dora.legacy@example.com', firstName: 'Dora', lastName: 'Doe', phone: '+12015550181', password: 'dora-Passw0rd-long' };
const ELI = { email: 'eli.legacy@example.com', firstName: 'Eli', lastName: 'Early', phone: '+12015550182', password: 'eli-Passw0rd-long' };
const FAY = { email: 'Fay.Step@Example.com', firstName: 'Fay', lastName: 'Step', phone: '+12015550183', password: 'fay-Passw0rd-long' };
const GIL = { email: 'gil.legacy@example.com', firstName: 'Gil', lastName: 'Retry', phone: '+12015550184', password: 'gil-Passw0rd-long' };

const TAKEN = 'registration.error.notUniqueWithinOrg';
const SHORT = 'password.passwordRequirementsNotMet';

// The legacy-mode inputs of enroll-profile: the profile fields, all required.
const PROFILE_INPUTS = [
  { name: 'email', label: 'Email', required: true },
  { name: 'firstName', label: 'First name', required: true },
  { name: 'lastName', label: 'Last name', required: true },
];

// assertTaken checks the answer to a taken address: enroll-profile again, the
// message on the email field and among the transaction's messages.
function assertTaken(t) {
  assert.equal(t.status, 'PENDING');
  assert.equal(t.requestDidSucceed, false);
  assert.equal(t.nextStep.name, 'enroll-profile');
  const email = t.nextStep.inputs.find((i) => i.name === 'email');
  assert.equal(email.messages.value.length, 1);
  assert.equal(email.messages.value[0].i18n.key, TAKEN);
  assert.equal(email.messages.value[0].class, 'ERROR');
  for (const other of t.nextStep.inputs.filter((i) => i.name !== 'email')) {
    assert.equal(other.messages, undefined, `no message on ${other.name}`);
  }
  assert.deepEqual(t.messages.map((m) => m.i18n.key), [TAKEN]);
}

// assertRegistered checks the SUCCESS of a registration: tokens for the new user,
// named as registered, the email address lower-cased as the login.
function assertRegistered(t, user) {
  const login = user.email.toLowerCase();
  assertSignedIn(t, { login, amr: 'sms', scopes: SCOPES });
  const claims = t.tokens.idToken.claims;
  assert.equal(claims.given_name, user.firstName);
  assert.equal(claims.family_name, user.lastName);
  assert.equal(claims.name, `${user.firstName} ${user.lastName}`);
  assert.equal(claims.phone_number, user.phone);
}

describe('okta-auth-js 8.0.1, idx.register', () => {
  let gh;
  const clients = [];
  const client = (legacy) => {
    const c = makeClient(gh, { legacy });
    clients.push(c);
    return c;
  };

  before(async () => {
    gh = await gatehouse.start();
  });
  after(async () => {
    clients.forEach((c) => c.dispose());
    if (gh) await gh.stop();
  });

  // assertCanSignIn: the new account's password opens the second step, which asks
  // for the phone registered with it. Nothing is sent.
  async function assertCanSignIn(user) {
    const c = client(true);
    const t = await c.idx.authenticate({ username: user.email, password: user.password, authenticator: 'phone_number' });
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'authenticator-verification-data');
    assert.equal(t.nextStep.authenticator.profile.phoneNumber, '+1 XXX-XXX-' + user.phone.slice(-4));
  }

  test('G1. legacy: a taken email is answered on the email field', async () => {
    const c = client(true);
    const mark = httpMark();
    const t = await c.idx.register({ firstName: 'Another', lastName: 'Alice', email: ALICE.login.toUpperCase() });
    assertTaken(t);
    assert.deepEqual(t.nextStep.inputs.map(({ messages, ...rest }) => rest), PROFILE_INPUTS);
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/enroll 200',
      'POST /idp/idx/enroll/new 400',
    ]);
  });

  test('G2. legacy: register() one value at a time, as the express sample does: profile, password (too short first), phone, code: SUCCESS', async () => {
    const c = client(true);
    let mark = httpMark();
    let t = await c.idx.register({ firstName: DORA.firstName, lastName: DORA.lastName, email: DORA.email });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'authenticator', type: 'string', options: [{ label: 'Password', value: 'okta_password' }] },
    ]);
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/enroll 200',
      'POST /idp/idx/enroll/new 200',
    ]);

    t = await c.idx.register({ authenticator: 'okta_password' });
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.equal(t.nextStep.authenticator.key, 'okta_password');
    assert.equal(t.nextStep.authenticator.settings.complexity.minLength, 8);
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'password', label: 'Enter password', secret: true, type: 'string', required: true },
    ]);

    mark = httpMark();
    t = await c.idx.register({ password: 'short' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.equal(t.nextStep.inputs[0].name, 'password');
    assert.equal(t.nextStep.inputs[0].messages.value[0].i18n.key, SHORT);
    assert.deepEqual(t.messages.map((m) => m.i18n.key), [SHORT]);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 400']);

    t = await c.idx.register({ password: DORA.password });
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
    // The password is set; a second factor is required, and it may be either.
    assert.deepEqual(t.nextStep.inputs, [{
      name: 'authenticator',
      type: 'string',
      options: [{ label: 'Phone', value: 'phone_number' }, { label: 'Google Authenticator', value: 'google_otp' }],
    }]);

    t = await c.idx.register({ authenticator: 'phone_number' });
    assert.equal(t.nextStep.name, 'authenticator-enrollment-data');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'methodType', type: 'string', options: METHOD_OPTIONS, required: true },
      { name: 'phoneNumber', label: 'Phone Number', required: true, type: 'string' },
    ]);

    t = await c.idx.register({ methodType: 'sms', phoneNumber: DORA.phone });
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'verificationCode', label: 'Enter code', type: 'string', required: true },
    ]);
    assert.equal(t.nextStep.canResend, true);
    const msg = await gh.waitForMessage(DORA.phone, 0);
    assertCodeMessage(msg, DORA.phone, 'sms');

    mark = httpMark();
    t = await c.idx.register({ verificationCode: msg.code });
    assertRegistered(t, DORA);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/challenge/answer 200', 'POST /oauth2/default/v1/token 200']);
    await assertCanSignIn(DORA);
  });

  test('G3. legacy: everything up front (profile, password, phone and method) chains to the code step', async () => {
    const c = client(true);
    const mark = httpMark();
    let t = await c.idx.register({
      firstName: ELI.firstName, lastName: ELI.lastName, email: ELI.email, password: ELI.password,
      authenticators: ['okta_password', 'phone_number'], methodType: 'sms', phoneNumber: ELI.phone,
    });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.equal(t.nextStep.authenticator.key, 'phone_number');
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/enroll 200', // select-enroll-profile
      'POST /idp/idx/enroll/new 200', // enroll-profile
      'POST /idp/idx/credential/enroll 200', // select-authenticator-enroll: the password
      'POST /idp/idx/challenge/answer 200', // enroll-authenticator: the password
      'POST /idp/idx/credential/enroll 200', // select-authenticator-enroll: the phone
      'POST /idp/idx/credential/enroll 200', // authenticator-enrollment-data: number and method
    ]);
    const msg = await gh.waitForMessage(ELI.phone, 0);
    t = await c.idx.proceed({ verificationCode: msg.code });
    assertRegistered(t, ELI);
    await assertCanSignIn(ELI);
  });

  test('G4. step mode: register({step}), then proceed({step}) through a taken email, a too-short password and the phone: SUCCESS', async () => {
    const c = client(false);
    // register() opens the transaction itself and refuses unless the first
    // response offers registration (auth-js's enabledFeatures).
    let mark = httpMark();
    let t = await c.idx.register({ step: 'select-enroll-profile' });
    assert.equal(t.status, 'PENDING');
    assert.equal(t.nextStep.name, 'enroll-profile');
    assert.deepEqual(t.nextStep.inputs, [{ name: 'userProfile', value: PROFILE_INPUTS, type: 'string' }]);
    assert.deepEqual(calls(mark()), [
      'POST /oauth2/default/v1/interact 200',
      'POST /idp/idx/introspect 200',
      'POST /idp/idx/enroll 200',
    ]);

    mark = httpMark();
    t = await c.idx.proceed({ step: 'enroll-profile', firstName: 'Another', lastName: 'Alice', email: ALICE.login });
    assertTaken(t);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/enroll/new 400']);

    // The same form, corrected: the step is still open.
    mark = httpMark();
    t = await c.idx.proceed({ step: 'enroll-profile', firstName: FAY.firstName, lastName: FAY.lastName, email: FAY.email });
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
    assert.deepEqual(t.nextStep.inputs[0].options.map((o) => o.relatesTo.key), ['okta_password']);
    assert.deepEqual(calls(mark()), ['POST /idp/idx/enroll/new 200']);

    t = await c.idx.proceed({ step: 'select-authenticator-enroll', authenticator: 'okta_password' });
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.equal(t.nextStep.relatesTo.value.key, 'okta_password');
    assert.deepEqual(t.nextStep.inputs, [
      { name: 'credentials', type: 'object', value: [{ name: 'passcode', label: 'Enter password', secret: true }], required: true },
    ]);

    t = await c.idx.proceed({ step: 'enroll-authenticator', password: 'short' });
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.equal(t.nextStep.inputs[0].messages.value[0].i18n.key, SHORT);
    assert.deepEqual(t.messages.map((m) => m.i18n.key), [SHORT]);

    t = await c.idx.proceed({ step: 'enroll-authenticator', password: FAY.password });
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
    assert.deepEqual(t.nextStep.inputs[0].options.map((o) => o.relatesTo.key), ['phone_number', 'google_otp']);

    t = await c.idx.proceed({ step: 'select-authenticator-enroll', authenticator: 'phone_number' });
    assert.equal(t.nextStep.name, 'authenticator-enrollment-data');
    t = await c.idx.proceed({ step: 'authenticator-enrollment-data', methodType: 'sms', phoneNumber: FAY.phone });
    assert.equal(t.nextStep.name, 'enroll-authenticator');
    assert.equal(t.nextStep.relatesTo.value.key, 'phone_number');
    const msg = await gh.waitForMessage(FAY.phone, 0);
    assertCodeMessage(msg, FAY.phone, 'sms');

    t = await c.idx.proceed({ step: 'enroll-authenticator', verificationCode: msg.code });
    assertRegistered(t, FAY);
    await assertCanSignIn(FAY);

    // Now the address is taken, in any case.
    const again = client(false);
    await again.idx.register({ step: 'select-enroll-profile' });
    t = await again.idx.proceed({ step: 'enroll-profile', firstName: 'F', lastName: 'S', email: FAY.email.toLowerCase() });
    assertTaken(t);
  });

  test('G5. legacy: after a taken email, register() again with a free one continues the same transaction', {
    todo: 'engine: auth-js re-posts select-enroll-profile (/idp/idx/enroll) from its cached first response, '
      + 'and the engine, already at ENROLL_PROFILE, answers 400 gatehouse.step.unavailable',
  }, async () => {
    const c = client(true);
    let t = await c.idx.register({ firstName: GIL.firstName, lastName: GIL.lastName, email: ALICE.login });
    assertTaken(t);
    const mark = httpMark();
    t = await c.idx.register({ firstName: GIL.firstName, lastName: GIL.lastName, email: GIL.email });
    const sequence = calls(mark());
    assert.equal(t.messages, undefined, `messages ${JSON.stringify(t.messages)}; HTTP ${sequence}`);
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
  });

  test('G6. legacy: after a taken email, cancel() and register() again with a free one: the way around G5', async () => {
    const c = client(true);
    let t = await c.idx.register({ firstName: GIL.firstName, lastName: GIL.lastName, email: ALICE.login });
    assertTaken(t);
    t = await c.idx.cancel();
    assert.equal(t.status, 'CANCELED');
    t = await c.idx.register({ firstName: GIL.firstName, lastName: GIL.lastName, email: GIL.email });
    assert.equal(t.messages, undefined);
    assert.equal(t.nextStep.name, 'select-authenticator-enroll');
  });
});
