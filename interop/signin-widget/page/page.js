// Configures the unchanged Okta Sign-In Widget the way an application embedding it
// with the interaction code flow does, and writes what it hands back into the page,
// where interop/widget_test.go reads it.
(function () {
  'use strict';
  var cfg = window.GATEHOUSE_WIDGET;
  var steps = [];
  window.widgetSteps = steps;

  var signIn = new OktaSignIn({
    issuer: cfg.issuer,
    clientId: cfg.clientId,
    redirectUri: cfg.redirectUri,
    useInteractionCodeFlow: true,
    language: 'en',
    // Served from node_modules by the test: nothing is fetched from Okta's CDN.
    assets: { baseUrl: cfg.assetsBaseUrl },
    authParams: { pkce: true, scopes: cfg.scopes },
  });

  // afterRender names the view the widget shows (formName is the remediation it
  // renders); the test waits on these.
  signIn.on('afterRender', function (context) {
    steps.push(context);
    document.body.dataset.formName = context.formName || '';
    document.body.dataset.renders = String(steps.length);
    console.log('widget afterRender ' + JSON.stringify(context));
  });
  signIn.on('afterError', function (context, error) {
    console.log('widget afterError ' + JSON.stringify(context) + ' ' + JSON.stringify(error));
  });

  signIn.showSignInToGetTokens({ el: '#widget' }).then(function (tokens) {
    signIn.remove();
    var out = {
      idToken: tokens.idToken && tokens.idToken.idToken,
      idTokenClaims: tokens.idToken && tokens.idToken.claims,
      accessToken: tokens.accessToken && tokens.accessToken.accessToken,
      scopes: tokens.accessToken && tokens.accessToken.scopes,
      refreshToken: Boolean(tokens.refreshToken),
    };
    document.getElementById('result').textContent = JSON.stringify(out);
    document.getElementById('claims').textContent = JSON.stringify(out.idTokenClaims, null, 2) +
      '\n\naccess token scopes: ' + (out.scopes || []).join(' ');
    document.getElementById('signed-in').hidden = false;
  }).catch(function (err) {
    var el = document.getElementById('failure');
    el.textContent = 'showSignInToGetTokens failed: ' + (err && (err.stack || err.message) || String(err));
    el.hidden = false;
    console.error(el.textContent);
  });
})();
