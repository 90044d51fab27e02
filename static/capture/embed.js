/*
 * LeadFlow form embed (script tag). Paste on any page of an allowed origin:
 *
 *   <div id="leadflow-form"></div>
 *   <script src="https://LEADFLOW/f/embed.js" data-form="PUBLIC_ID" data-target="#leadflow-form" async></script>
 *
 * - data-form: the form's public id (Capture → Forms → Embed). data-target: a CSS selector of
 *   the element to render into (without it, the form goes right after the script tag).
 * - The host page's Content-Security-Policy needs LeadFlow's origin only:
 *     script-src LEADFLOW; connect-src LEADFLOW; style-src LEADFLOW
 *   This file uses no eval, no inline <style> and no style attributes; its look comes from
 *   LeadFlow's stylesheet (embed.css, classes prefixed lf-), restyle them on the host freely.
 * - The page's origin must be listed in the form's "allowed origins", or LeadFlow refuses it.
 * - Hidden fields take utm_* from this page's URL, the referrer, the page URL or a fixed value.
 * - The visitor's analytics anonymous id (Segment analytics.js / analytics-next, RudderStack,
 *   or the ajs_anonymous_id in localStorage) is sent along so page views link to the lead.
 *
 * Plain ES2017, no dependencies, no build step. Every text shown comes from LeadFlow's config
 * response (in the visitor's language) and is set with textContent, never as HTML.
 */
(function () {
  "use strict";

  var FALLBACK = {
    unavailable: "This form is not available.",
    network: "No connection to the server. Please try again.",
  };
  var counter = 0;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    return node;
  }

  function withTimeout(promise, ms) {
    return Promise.race([
      promise,
      new Promise(function (resolve) { setTimeout(function () { resolve(null); }, ms); }),
    ]);
  }

  // --- the analytics SDK's anonymous id ---------------------------------------------------------
  async function anonymousId() {
    try {
      var a = window.analytics;
      if (a && typeof a.user === "function") {
        var user = a.user(); // analytics-next before load: a promise of the user
        if (user && typeof user.then === "function") user = await withTimeout(user, 1500);
        if (user && typeof user.anonymousId === "function") {
          var id = user.anonymousId();
          if (id) return String(id);
        }
      }
    } catch (e) { /* an SDK that is not ready: try the next source */ }
    try {
      var r = window.rudderanalytics;
      if (r && typeof r.getAnonymousId === "function") {
        var rid = r.getAnonymousId();
        if (rid && typeof rid.then === "function") rid = await withTimeout(rid, 1500);
        if (rid) return String(rid);
      }
    } catch (e) { /* ignore */ }
    try {
      var stored = window.localStorage.getItem("ajs_anonymous_id");
      if (stored) {
        try { stored = JSON.parse(stored); } catch (e) { /* stored bare, not as JSON */ }
        if (stored) return String(stored);
      }
    } catch (e) { /* storage blocked */ }
    return "";
  }

  // --- proof of work (capture/challenge.py): smallest n with sha256(token + ":" + n) starting
  // with `difficulty` zero bits; hashed in batches so the loop stays quick but still in order
  function zeroBits(bytes) {
    var bits = 0;
    for (var i = 0; i < bytes.length; i++) {
      var b = bytes[i];
      if (b === 0) { bits += 8; continue; }
      var lead = 0;
      while ((b & 0x80) === 0) { lead++; b <<= 1; }
      return bits + lead;
    }
    return bits;
  }

  // SHA-256 in plain JS (FIPS 180-4), for a host page on plain http where the browser offers
  // no SubtleCrypto (it exists only in secure contexts); bytes in, 32 bytes out
  var K = [];
  (function () {
    var n = 2, found = 0;
    while (found < 64) {
      var prime = true;
      for (var d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
      if (prime) { K[found++] = (Math.pow(n, 1 / 3) % 1) * 4294967296 | 0; }
      n++;
    }
  })();

  function sha256js(bytes) {
    var H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var length = bytes.length;
    var padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[length] = 0x80;
    var bitsHigh = Math.floor(length / 0x20000000), bitsLow = (length << 3) >>> 0;
    var view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, bitsHigh);
    view.setUint32(padded.length - 4, bitsLow);
    var W = new Array(64);
    for (var off = 0; off < padded.length; off += 64) {
      for (var t = 0; t < 16; t++) W[t] = view.getUint32(off + t * 4);
      for (t = 16; t < 64; t++) {
        var w15 = W[t - 15], w2 = W[t - 2];
        var s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
        var s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
        W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
      }
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (t = 0; t < 64; t++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t] + W[t]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
      H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
    }
    var out = new Uint8Array(32);
    var outView = new DataView(out.buffer);
    for (var i = 0; i < 8; i++) outView.setUint32(i * 4, H[i] >>> 0);
    return out;
  }

  async function solve(token, difficulty, forceFallback) {
    var encoder = new TextEncoder();
    var subtle = !forceFallback && window.crypto && window.crypto.subtle;
    if (!subtle) {
      for (var m = 0; m < 1e8; m++) {
        if (zeroBits(sha256js(encoder.encode(token + ":" + m))) >= difficulty) return String(m);
        if (m % 2048 === 2047) await new Promise(function (r) { setTimeout(r, 0); }); // let the page breathe
      }
      throw new Error("no proof found");
    }
    var batch = 64;
    for (var start = 0; start < 1e8; start += batch) {
      var jobs = [];
      for (var n = start; n < start + batch; n++) {
        jobs.push(subtle.digest("SHA-256", encoder.encode(token + ":" + n)));
      }
      var digests = await Promise.all(jobs);
      for (var i = 0; i < digests.length; i++) {
        if (zeroBits(new Uint8Array(digests[i])) >= difficulty) return String(start + i);
      }
    }
    throw new Error("no proof found");
  }

  // --- hidden field values from the host page ----------------------------------------------------
  function hiddenValue(field) {
    var source = field.hidden_source;
    if (source === "fixed") return field.fixed_value || "";
    if (source === "referrer") return document.referrer || "";
    if (source === "page_url") return window.location.href;
    if (source && source.indexOf("utm_") === 0) {
      try { return new URL(window.location.href).searchParams.get(source) || ""; } catch (e) { return ""; }
    }
    return field.fixed_value || "";
  }

  // --- rendering ---------------------------------------------------------------------------------
  function Embed(script, target) {
    this.script = script;
    this.target = target;
    this.formId = script.getAttribute("data-form");
    this.base = new URL(script.src, window.location.href).origin;
    this.prefix = "lf-" + (++counter) + "-";
    this.controls = {}; // name -> {input, error, help, wrap}
    this.proof = null;
    this.started = false;
  }

  Embed.prototype.url = function (suffix) {
    return this.base + "/f/" + encodeURIComponent(this.formId) + "/" + suffix;
  };

  Embed.prototype.event = function (kind) {
    // text/plain keeps it a "simple" request (no preflight); keepalive survives leaving the page
    fetch(this.url("event"), {
      method: "POST", mode: "cors", credentials: "omit", keepalive: true,
      headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ kind: kind }),
    }).catch(function () { /* counting is best effort */ });
  };

  Embed.prototype.fail = function (text) {
    this.target.textContent = "";
    var box = el("p", "lf-alert lf-alert-error", text);
    box.setAttribute("role", "alert");
    this.target.appendChild(box);
  };

  Embed.prototype.load = async function () {
    this.anonymousId = await anonymousId();
    var query = this.anonymousId ? "?anonymous_id=" + encodeURIComponent(this.anonymousId) : "";
    var response;
    try {
      response = await fetch(this.url("config") + query, { mode: "cors", credentials: "omit" });
    } catch (e) {
      // a refused origin (403 without CORS) lands here too: say why in the console for the admin
      if (window.console) console.error("LeadFlow: could not load form " + this.formId +
        " (is " + window.location.origin + " among the form's allowed origins?)", e);
      this.fail(FALLBACK.network);
      return;
    }
    if (!response.ok) {
      var message = FALLBACK.unavailable;
      try { message = (await response.json()).message || message; } catch (e) { /* not JSON */ }
      this.fail(message);
      return;
    }
    this.config = await response.json();
    this.texts = this.config.texts || {};
    this.addStylesheet();
    this.render();
    this.event("view");
    this.startProof();
  };

  Embed.prototype.addStylesheet = function () {
    var href = this.config.assets && this.config.assets.stylesheet;
    if (!href) return;
    var links = document.querySelectorAll("link[data-lf-stylesheet]");
    for (var i = 0; i < links.length; i++) if (links[i].href === href) return;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    link.setAttribute("data-lf-stylesheet", "");
    document.head.appendChild(link);
  };

  Embed.prototype.startProof = function () {
    var self = this;
    var challenge = this.config.challenge || {};
    this.proof = solve(challenge.token, challenge.difficulty || 0).catch(function (e) {
      if (window.console) console.warn("LeadFlow: proof of work failed", e);
      return "";
    });
    return self.proof;
  };

  Embed.prototype.requiredMarker = function (label) {
    var star = el("span", "lf-required", " *");
    star.setAttribute("aria-hidden", "true");
    label.appendChild(star);
    label.appendChild(el("span", "lf-sr", " (" + (this.texts.required_marker || "required") + ")"));
  };

  Embed.prototype.addControl = function (parent, name, input, labelText, helpText, required, check) {
    var id = this.prefix + name.replace(/[^A-Za-z0-9_-]/g, "_");
    var wrap = el("div", check ? "lf-field lf-field-check" : "lf-field");
    input.id = id;
    input.name = name;
    var label = el("label", check ? "lf-check-label" : "lf-label", labelText);
    label.htmlFor = id;
    if (required) {
      this.requiredMarker(label);
      input.required = true;
      input.setAttribute("aria-required", "true");
    }
    if (check) { wrap.appendChild(input); wrap.appendChild(label); }
    else { wrap.appendChild(label); wrap.appendChild(input); }
    var help = null;
    if (helpText) {
      help = el("p", "lf-help", helpText);
      help.id = id + "-help";
      wrap.appendChild(help);
      input.setAttribute("aria-describedby", help.id);
    }
    var error = el("p", "lf-error");
    error.id = id + "-error";
    error.hidden = true;
    wrap.appendChild(error);
    parent.appendChild(wrap);
    this.controls[name] = { input: input, error: error, help: help, wrap: wrap };
    return input;
  };

  Embed.prototype.render = function () {
    var self = this;
    var cfg = this.config;
    var form = el("form", "lf-form");
    form.noValidate = true; // our own messages, in the visitor's language, next to each field
    form.setAttribute("aria-label", cfg.form.name);
    this.form = form;
    this.alert = el("div", "lf-alert lf-alert-error");
    this.alert.setAttribute("role", "alert");
    this.alert.hidden = true;
    form.appendChild(this.alert);

    this.hidden = {};
    cfg.fields.forEach(function (field) {
      if (field.kind === "hidden") {
        var h = document.createElement("input");
        h.type = "hidden";
        h.name = field.name;
        h.value = hiddenValue(field);
        form.appendChild(h);
        self.hidden[field.name] = h;
        return;
      }
      var input;
      if (field.kind === "textarea") {
        input = el("textarea", "lf-input");
        input.rows = 4;
      } else if (field.kind === "select") {
        input = el("select", "lf-input");
        input.appendChild(new Option(self.texts.choose || "…", ""));
        field.choices.forEach(function (c) { input.appendChild(new Option(c, c)); });
      } else if (field.kind === "checkbox") {
        input = el("input", "lf-check");
        input.type = "checkbox";
      } else {
        input = el("input", "lf-input");
        input.type = field.kind === "email" || field.kind === "tel" ? field.kind : "text";
        if (field.kind === "email") input.autocomplete = "email";
        if (field.kind === "tel") input.autocomplete = "tel";
      }
      self.addControl(form, field.name, input, field.label, field.help_text, field.required,
        field.kind === "checkbox");
      self.controls[field.name].kind = field.kind;
    });

    cfg.consents.forEach(function (consent) {
      var box = el("input", "lf-check");
      box.type = "checkbox";
      box.value = String(consent.version);
      self.addControl(form, "consent." + consent.key, box, consent.text, "", consent.required, true);
      self.controls["consent." + consent.key].kind = "consent";
    });

    // the honeypot: off-screen, out of the tab order, hidden from assistive technology
    var hp = el("div", "lf-hp");
    hp.setAttribute("aria-hidden", "true");
    var trap = document.createElement("input");
    trap.type = "text";
    trap.name = cfg.honeypot;
    trap.tabIndex = -1;
    trap.autocomplete = "off";
    hp.appendChild(trap);
    form.appendChild(hp);
    this.trap = trap;

    var actions = el("div", "lf-actions");
    this.button = el("button", "lf-submit", cfg.form.submit_label);
    this.button.type = "submit";
    actions.appendChild(this.button);
    this.status = el("p", "lf-status");
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    actions.appendChild(this.status);
    form.appendChild(actions);

    form.addEventListener("input", function () { self.onStart(); });
    form.addEventListener("change", function () { self.onStart(); });
    form.addEventListener("submit", function (e) { e.preventDefault(); self.submit(); });
    this.target.textContent = "";
    this.target.appendChild(form);
  };

  Embed.prototype.onStart = function () {
    if (this.started) return;
    this.started = true;
    this.event("start");
  };

  // --- errors ------------------------------------------------------------------------------------
  Embed.prototype.clearErrors = function () {
    this.alert.hidden = true;
    this.alert.textContent = "";
    var names = Object.keys(this.controls);
    for (var i = 0; i < names.length; i++) {
      var c = this.controls[names[i]];
      c.error.hidden = true;
      c.error.textContent = "";
      c.input.removeAttribute("aria-invalid");
      c.input.setAttribute("aria-describedby", c.help ? c.help.id : "");
      if (!c.help) c.input.removeAttribute("aria-describedby");
      c.wrap.classList.remove("lf-has-error");
    }
  };

  Embed.prototype.fieldError = function (name, messages) {
    var c = this.controls[name];
    if (!c) return false;
    c.error.textContent = messages.join(" ");
    c.error.hidden = false;
    c.input.setAttribute("aria-invalid", "true");
    c.input.setAttribute("aria-describedby", (c.help ? c.help.id + " " : "") + c.error.id);
    c.wrap.classList.add("lf-has-error");
    return true;
  };

  Embed.prototype.showErrors = function (errors) {
    var self = this;
    var first = null;
    var loose = [];
    Object.keys(errors).forEach(function (name) {
      var messages = [].concat(errors[name]).map(String);
      if (self.fieldError(name, messages)) { if (!first) first = self.controls[name].input; }
      else loose = loose.concat(messages);
    });
    this.showAlert(loose.length ? loose.join(" ") : this.texts.fix_errors);
    if (first) first.focus();
  };

  Embed.prototype.showAlert = function (text) {
    this.alert.textContent = text || this.texts.error;
    this.alert.hidden = false;
  };

  Embed.prototype.localErrors = function () {
    var errors = {};
    var names = Object.keys(this.controls);
    for (var i = 0; i < names.length; i++) {
      var c = this.controls[names[i]];
      var input = c.input;
      if (input.type === "checkbox") {
        if (input.required && !input.checked) errors[names[i]] = [this.texts.required];
      } else if (input.required && !input.value.trim()) {
        errors[names[i]] = [this.texts.required];
      } else if (input.validity && !input.validity.valid) {
        errors[names[i]] = [c.kind === "email" ? this.texts.invalid_email : this.texts.invalid];
      }
    }
    return errors;
  };

  // --- submitting --------------------------------------------------------------------------------
  Embed.prototype.payload = async function () {
    var body = {};
    var self = this;
    Object.keys(this.controls).forEach(function (name) {
      var c = self.controls[name];
      if (c.kind === "consent") { if (c.input.checked) body[name] = Number(c.input.value); }
      else if (c.input.type === "checkbox") body[name] = c.input.checked;
      else body[name] = c.input.value;
    });
    Object.keys(this.hidden).forEach(function (name) { body[name] = self.hidden[name].value; });
    body[this.config.honeypot] = this.trap.value;
    body.lf_token = this.config.challenge.token;
    body.lf_proof = await this.proof;
    body.lf_anonymous_id = this.anonymousId || (await anonymousId());
    body.lf_page = window.location.href;
    body.lf_referrer = document.referrer || "";
    return body;
  };

  Embed.prototype.busy = function (on) {
    this.button.disabled = on;
    this.form.setAttribute("aria-busy", on ? "true" : "false");
    this.status.textContent = on ? this.texts.sending : "";
  };

  Embed.prototype.submit = async function () {
    if (this.sending) return;
    this.clearErrors();
    var local = this.localErrors();
    if (Object.keys(local).length) { this.showErrors(local); return; }
    this.sending = true;
    this.busy(true);
    var response = null;
    var data = null;
    try {
      var body = await this.payload();
      response = await fetch(this.url("submit"), {
        method: "POST", mode: "cors", credentials: "omit",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body),
      });
      try { data = await response.json(); } catch (e) { data = null; }
    } catch (e) {
      response = null;
    }
    this.sending = false;
    this.busy(false);
    if (response === null) { this.showAlert(this.texts.network); return; }
    if (response.ok && data && data.ok) { this.done(data); return; }
    if (response.status === 400 && data && data.errors) { this.showErrors(data.errors); }
    else if (response.status === 429) { this.showAlert(this.texts.rate_limited); }
    else if (response.status === 403 && data && data.code === "origin_not_allowed") {
      this.showAlert(this.texts.refused);
    } else { this.showAlert((data && data.message) || this.texts.error); }
    // refused as spam (e.g. a challenge left open past its day): a fresh one for the next try.
    // Otherwise keep the token: its age is the fill time, a new one would restart the clock.
    if (data && data.code === "spam") this.refreshChallenge();
  };

  Embed.prototype.refreshChallenge = async function () {
    try {
      var query = this.anonymousId ? "?anonymous_id=" + encodeURIComponent(this.anonymousId) : "";
      var r = await fetch(this.url("config") + query, { mode: "cors", credentials: "omit" });
      if (!r.ok) return;
      var fresh = await r.json();
      this.config.challenge = fresh.challenge;
      this.startProof();
    } catch (e) { /* keep the old one */ }
  };

  Embed.prototype.done = function (data) {
    // the server's word only: a pending double opt-in has no redirect (the visitor must read
    // "check your e-mail"), so the form's own redirect address is no fallback
    var redirect = data.status === "pending" ? "" : data.redirect_url;
    if (redirect) { window.location.assign(redirect); return; }
    var box = el("div", "lf-alert lf-alert-ok lf-thanks",
      data.message || this.config.form.thank_you_message || this.texts.thank_you);
    box.setAttribute("role", "status");
    box.tabIndex = -1;
    this.target.textContent = "";
    this.target.appendChild(box);
    box.focus();
  };

  // --- start: every <script data-form> that loaded this file, once ------------------------------
  function boot(script) {
    if (!script || script.getAttribute("data-lf-ready")) return;
    var selector = script.getAttribute("data-target");
    var target = selector ? document.querySelector(selector) : null;
    // the target may come later in the page than the script: wait for the whole document
    if (selector && !target && document.readyState === "loading") return;
    script.setAttribute("data-lf-ready", "1");
    if (!target) {
      target = document.createElement("div");
      script.parentNode.insertBefore(target, script.nextSibling);
    }
    new Embed(script, target).load();
  }

  function bootAll() {
    var scripts = document.querySelectorAll("script[data-form]");
    for (var i = 0; i < scripts.length; i++) {
      if (/\/f\/embed\.js(\?|#|$)/.test(scripts[i].src)) boot(scripts[i]);
    }
  }

  // for LeadFlow's own tests (reached through DevTools, never needed by a host page)
  window.LeadFlowEmbed = window.LeadFlowEmbed || { sha256: sha256js, solve: solve };

  if (document.currentScript) boot(document.currentScript);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bootAll);
  else bootAll();
})();
