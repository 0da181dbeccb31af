'use strict';
// What an app does with the tokens after an IDX sign-in, in both call styles:
// verify the ID token, call userinfo, renew with the refresh token, revoke.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const gatehouse = require('../lib/gatehouse');
const { makeClient, httpMark, SCOPES } = require('../lib/client');
const { calls, jwtHeader, jwtPayload, assertSignedIn } = require('../lib/util');

const USERS = {
  legacy: { login: 'tom.legacy@example.com', phone: '+12015550161', given: 'Tom', family: 'Legacy' },
  step: { login: 'tess.step@example.com', phone: '+12015550162', given: 'Tess', family: 'Step' },
};

// signIn signs user in with password + SMS code in the given call style.
async function signIn(gh, c, user, mode) {
  let t;
  if (mode === 'legacy') {
    t = await c.idx.authenticate({ username: user.login, password: gh.password, authenticator: 'phone_number', methodType: 'sms' });
  } else {
    await c.idx.authenticate({ step: 'identify', username: user.login, password: gh.password });
    await c.idx.proceed({ step: 'select-authenticator-authenticate', authenticator: 'phone_number' });
    t = await c.idx.proceed({ step: 'authenticator-verification-data', methodType: 'sms' });
  }
  assert.equal(t.nextStep.name, 'challenge-authenticator');
  const msg = await gh.waitForMessage(user.phone, 0);
  t = mode === 'legacy'
    ? await c.idx.authenticate({ verificationCode: msg.code })
    : await c.idx.proceed({ step: 'challenge-authenticator', verificationCode: msg.code });
  assertSignedIn(t, { login: user.login, amr: 'sms', scopes: SCOPES });
  return t;
}

let gh;
before(async () => {
  gh = await gatehouse.start({ users: Object.values(USERS) });
});
after(async () => {
  if (gh) await gh.stop();
});

for (const mode of ['legacy', 'step']) {
  const user = USERS[mode];

  describe(`tokens from a ${mode}-mode sign-in`, () => {
    let c;
    let signedIn; // the SUCCESS transaction

    before(async () => {
      c = makeClient(gh, { legacy: mode === 'legacy' });
      signedIn = await signIn(gh, c, user, mode);
    });
    after(() => c && c.dispose());

    test('7. token.verify() accepts the ID token (signature via JWKS, iss, aud, nonce, at_hash); header is exactly alg+kid', async () => {
      const { idToken, accessToken } = signedIn.tokens;
      const nonce = signedIn.meta.nonce;
      assert.equal(typeof nonce, 'string');

      const verified = await c.token.verify(idToken, { nonce, accessToken: accessToken.accessToken });
      assert.equal(verified, idToken);
      assert.equal(idToken.claims.iss, gh.issuer);
      assert.equal(idToken.claims.aud, gh.clientId);
      assert.equal(idToken.claims.nonce, nonce);
      assert.match(idToken.claims.sub, /\S/);
      assert.ok(idToken.claims.exp > idToken.claims.iat);

      const discovery = await (await fetch(gh.issuer + '/.well-known/openid-configuration')).json();
      assert.equal(discovery.issuer, gh.issuer);
      const jwks = await (await fetch(discovery.jwks_uri)).json();
      for (const jwt of [idToken.idToken, accessToken.accessToken]) {
        const header = jwtHeader(jwt);
        assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid']);
        assert.equal(header.alg, 'RS256');
        assert.ok(jwks.keys.some((k) => k.kid === header.kid && k.alg === 'RS256' && k.use === 'sig'), `kid ${header.kid} is in the JWKS`);
      }

      // auth-js really checks: a wrong nonce, a wrong access token and a
      // tampered payload are each refused.
      await assert.rejects(c.token.verify(idToken, { nonce: 'some-other-nonce' }),
        { name: 'AuthSdkError', message: "OAuth flow response nonce doesn't match request nonce" });
      await assert.rejects(c.token.verify(idToken, { accessToken: accessToken.accessToken + 'x' }),
        { name: 'AuthSdkError', message: 'Token hash verification failed' });
      const [h, , s] = idToken.idToken.split('.');
      const forged = Buffer.from(JSON.stringify({ ...jwtPayload(idToken.idToken), name: 'Mallory' })).toString('base64url');
      await assert.rejects(c.token.verify({ ...idToken, idToken: `${h}.${forged}.${s}` }),
        { name: 'AuthSdkError', message: 'The token signature is not valid' });
    });

    test('8. token.getUserInfo() returns the same sub as the ID token, with email and name', async () => {
      const { idToken, accessToken } = signedIn.tokens;
      const mark = httpMark();
      const info = await c.token.getUserInfo(accessToken, idToken);
      assert.deepEqual(calls(mark()), ['GET /oauth2/default/v1/userinfo 200']);
      assert.equal(info.sub, idToken.claims.sub);
      assert.equal(info.email, user.login);
      assert.equal(info.name, `${user.given} ${user.family}`);
      assert.equal(info.given_name, user.given);
      assert.equal(info.family_name, user.family);
      assert.equal(info.preferred_username, user.login);
      assert.equal(info.phone_number, user.phone);
    });

    test('9. refresh: tokenManager.renew and renewTokensWithRefresh rotate the refresh token; revoke works', async () => {
      const first = signedIn.tokens;
      c.tokenManager.setTokens(first);

      // tokenManager.renew uses the refresh token when there is one.
      let mark = httpMark();
      const renewedAccess = await c.tokenManager.renew('accessToken');
      let exchanges = mark();
      assert.deepEqual(calls(exchanges), ['POST /oauth2/default/v1/token 200']);
      const form = new URLSearchParams(exchanges.find((e) => e.path.endsWith('/v1/token')).requestBody);
      assert.equal(form.get('grant_type'), 'refresh_token');
      assert.equal(form.get('refresh_token'), first.refreshToken.refreshToken);
      assert.equal(form.get('client_id'), gh.clientId);
      const second = c.tokenManager.getTokensSync();
      assert.equal(second.accessToken.accessToken, renewedAccess.accessToken);
      assert.notEqual(second.accessToken.accessToken, first.accessToken.accessToken);
      assert.notEqual(second.idToken.idToken, first.idToken.idToken);
      assert.equal(second.idToken.claims.sub, first.idToken.claims.sub);
      assert.deepEqual(second.accessToken.scopes, SCOPES);
      assert.notEqual(second.refreshToken.refreshToken, first.refreshToken.refreshToken, 'refresh token rotated');

      // The direct API does the same, and auth-js stores the rotated token.
      const third = await c.token.renewTokensWithRefresh({ scopes: SCOPES }, second.refreshToken);
      assert.notEqual(third.accessToken.accessToken, second.accessToken.accessToken);
      assert.notEqual(third.refreshToken.refreshToken, second.refreshToken.refreshToken, 'refresh token rotated');
      assert.equal(c.tokenManager.getTokensSync().refreshToken.refreshToken, third.refreshToken.refreshToken);
      const info = await c.token.getUserInfo(third.accessToken, third.idToken);
      assert.equal(info.sub, first.idToken.claims.sub);

      // Revoking the access token: 200, then userinfo refuses it.
      mark = httpMark();
      await c.revokeAccessToken(third.accessToken);
      exchanges = mark();
      assert.deepEqual(calls(exchanges), ['POST /oauth2/default/v1/revoke 200']);
      assert.equal(new URLSearchParams(exchanges[0].requestBody).get('token_type_hint'), 'access_token');
      mark = httpMark();
      await assert.rejects(c.token.getUserInfo(third.accessToken, third.idToken),
        { name: 'OAuthError', errorCode: 'invalid_token' });
      assert.deepEqual(calls(mark()), ['GET /oauth2/default/v1/userinfo 401']);

      // Revoking the refresh token: 200, then it no longer renews and auth-js
      // drops it from the token manager.
      mark = httpMark();
      await c.revokeRefreshToken(third.refreshToken);
      exchanges = mark();
      assert.deepEqual(calls(exchanges), ['POST /oauth2/default/v1/revoke 200']);
      assert.equal(new URLSearchParams(exchanges[0].requestBody).get('token_type_hint'), 'refresh_token');
      await assert.rejects(c.token.renewTokensWithRefresh({ scopes: SCOPES }, third.refreshToken),
        { name: 'OAuthError', errorCode: 'invalid_grant', errorSummary: 'The refresh token is invalid or expired.' });
      assert.equal(c.tokenManager.getTokensSync().refreshToken, undefined);
    });
  });
}
