// Security keys and passkeys (SPEC §13), on the pages that offer them. A button with
// data-webauthn="register" (or "get") fetches its options (data-options, POST), hands them
// to navigator.credentials.create() (or .get()), and puts the answer, as JSON with binary
// fields in base64url, into its form's hidden field (data-field, else "credential"); the
// form then posts as any other (CSRF token included). Without WebAuthn they stay hidden.
(function () {
  "use strict";
  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, function (c) { return c.charCodeAt(0); });
  }
  function toText(buffer) {
    var binary = String.fromCharCode.apply(null, new Uint8Array(buffer));
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function decode(options) {
    var key = options.publicKey;
    key.challenge = toBytes(key.challenge);
    if (key.user) { key.user.id = toBytes(key.user.id); }
    (key.excludeCredentials || []).concat(key.allowCredentials || []).forEach(function (c) {
      c.id = toBytes(c.id);
    });
    return options;
  }
  function encode(credential) {
    var response = credential.response, out = {};
    ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]
      .forEach(function (name) {
        if (response[name]) { out[name] = toText(response[name]); }
      });
    return JSON.stringify({
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      response: out, extensions: credential.getClientExtensionResults()
    });
  }
  function run(button) {
    var form = button.form, status = document.getElementById(button.getAttribute("data-status"));
    var create = button.getAttribute("data-webauthn") === "register";
    var body = button.getAttribute("data-body");
    if (form && !form.reportValidity()) { return; }
    button.disabled = true;
    fetch(button.getAttribute("data-options"), {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: body || "{}"
    }).then(function (reply) {
      return reply.json().then(function (json) {
        if (!reply.ok) { throw new Error(json.error ? json.error.message : reply.statusText); }
        return json;
      });
    }).then(function (options) {
      options = decode(options);
      return create ? navigator.credentials.create(options) : navigator.credentials.get(options);
    }).then(function (credential) {
      form.elements[button.getAttribute("data-field") || "credential"].value = encode(credential);
      form.submit();
    }).catch(function (error) {
      button.disabled = false;
      if (status) { status.textContent = "The security key did not answer: " + error.message; }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential) { return; }
    document.querySelectorAll("button[data-webauthn]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { run(button); });
    });
  });
})();
