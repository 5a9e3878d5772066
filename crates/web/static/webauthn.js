// Security keys and passkeys: the only script Keyward serves. It enhances forms marked
// `data-webauthn="register"` or `data-webauthn="authenticate"`: their button (hidden until this script
// finds WebAuthn in the browser) asks the server for options, hands them to navigator.credentials, and
// posts the form with the credential. Every check happens on the server; without this script the pages
// still work, with one-time passwords.
(function () {
  'use strict';

  function decode(text) {
    var base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    while (base64.length % 4) { base64 += '='; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function encode(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = '';
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function creationOptions(publicKey) {
    publicKey.challenge = decode(publicKey.challenge);
    publicKey.user.id = decode(publicKey.user.id);
    (publicKey.excludeCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return publicKey;
  }

  function requestOptions(publicKey) {
    publicKey.challenge = decode(publicKey.challenge);
    (publicKey.allowCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return publicKey;
  }

  function registration(credential) {
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        attestationObject: encode(credential.response.attestationObject),
        clientDataJSON: encode(credential.response.clientDataJSON),
        transports: credential.response.getTransports ? credential.response.getTransports() : undefined
      }
    };
  }

  function assertion(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        authenticatorData: encode(response.authenticatorData),
        clientDataJSON: encode(response.clientDataJSON),
        signature: encode(response.signature),
        userHandle: response.userHandle ? encode(response.userHandle) : null
      }
    };
  }

  function say(form, text) {
    var status = form.querySelector('[data-webauthn-status]');
    if (status) { status.textContent = text; status.hidden = false; }
  }

  function field(form, name) {
    return form.querySelector('input[name="' + name + '"]');
  }

  function start(form, button) {
    var registering = form.getAttribute('data-webauthn') === 'register';
    if (!form.reportValidity()) { return; }
    var body = new URLSearchParams();
    body.set('csrf', field(form, 'csrf').value);
    button.disabled = true;
    say(form, registering ? 'Follow your browser: touch or unlock your security key.' : 'Touch or unlock your security key.');
    fetch(form.getAttribute('data-options'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Accept': 'application/json' },
      body: body.toString()
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (answer.redirect) { window.location.assign(answer.redirect); throw null; }
        if (!response.ok || !answer.options) { throw new Error(answer.error || 'The server could not start this. Reload the page and try again.'); }
        return answer;
      });
    }).then(function (answer) {
      field(form, 'handle').value = answer.handle;
      if (registering) {
        return navigator.credentials.create({ publicKey: creationOptions(answer.options.publicKey) }).then(registration);
      }
      return navigator.credentials.get({ publicKey: requestOptions(answer.options.publicKey) }).then(assertion);
    }).then(function (credential) {
      field(form, 'credential').value = JSON.stringify(credential);
      var remember = document.getElementById('remember');
      var remembered = field(form, 'remember');
      if (remember && remembered) { remembered.disabled = !remember.checked; }
      form.submit();
    }).catch(function (error) {
      if (error === null) { return; }
      button.disabled = false;
      var cancelled = error && (error.name === 'NotAllowedError' || error.name === 'AbortError');
      say(form, cancelled ? 'Nothing was used: the security key was not touched in time, or it was cancelled. Try again.'
        : (error && error.name === 'InvalidStateError') ? 'This security key is registered already.'
        : (error && error.message) || 'Your security key could not be used. Try again.');
    });
  }

  var forms = document.querySelectorAll('form[data-webauthn]');
  for (var i = 0; i < forms.length; i++) {
    var form = forms[i];
    var button = form.querySelector('[data-webauthn-start]');
    if (!button) { continue; }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(form, 'This browser cannot use security keys. Use another factor, or another browser.');
      continue;
    }
    button.hidden = false;
    button.addEventListener('click', start.bind(null, form, button));
  }
})();
