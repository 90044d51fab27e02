/*
 * LeadFlow form in an iframe (/f/<id>/frame): the page is rendered by LeadFlow; this script
 * reports "view" and "start", computes the proof of work (capture/challenge.py) while the
 * visitor types, and lets the form submit normally (form-encoded) once lf_proof is filled.
 * It also tells the parent page its height: window.postMessage({type: "leadflow:height",
 * form: id, height: px}, "*") — a host script may listen and size the iframe (optional).
 * Plain ES2017, loaded from LeadFlow's origin (no inline script on the page).
 */
(function () {
  "use strict";
  var form = document.querySelector("form[data-lf-frame]");
  if (!form) return;
  var proofInput = form.querySelector("input[name=lf_proof]");
  var token = form.querySelector("input[name=lf_token]").value;
  var difficulty = Number(form.getAttribute("data-difficulty") || 0);
  var eventUrl = form.getAttribute("data-event-url");
  var button = form.querySelector(".lf-submit");
  var status = form.querySelector(".lf-status");

  function event(kind) {
    fetch(eventUrl, {
      method: "POST", credentials: "omit", keepalive: true,
      headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ kind: kind }),
    }).catch(function () { /* best effort */ });
  }

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

  async function solve() {
    var encoder = new TextEncoder();
    var batch = 64;
    for (var start = 0; start < 1e8; start += batch) {
      var jobs = [];
      for (var n = start; n < start + batch; n++) {
        jobs.push(crypto.subtle.digest("SHA-256", encoder.encode(token + ":" + n)));
      }
      var digests = await Promise.all(jobs);
      for (var i = 0; i < digests.length; i++) {
        if (zeroBits(new Uint8Array(digests[i])) >= difficulty) return String(start + i);
      }
    }
    return "";
  }

  // the page that embeds the frame, when the host's referrer policy lets the browser say it
  var page = form.querySelector("input[name=lf_page]");
  if (page && !page.value && document.referrer) page.value = document.referrer;

  var proof = solve().then(function (n) { proofInput.value = n; return n; }, function () { return ""; });

  var started = false;
  function onStart() {
    if (started) return;
    started = true;
    event("start");
  }
  form.addEventListener("input", onStart);
  form.addEventListener("change", onStart);

  var sending = false;
  form.addEventListener("submit", function (e) {
    if (proofInput.value) { sending = true; return; } // solved already: submit as is
    e.preventDefault();
    if (sending) return;
    sending = true;
    button.disabled = true;
    status.textContent = form.getAttribute("data-sending") || "";
    proof.then(function () { form.submit(); });
  });

  // the first field with an error gets the focus when the page comes back with messages
  var invalid = form.querySelector("[aria-invalid=true]");
  if (invalid) invalid.focus();

  event("view");

  function postHeight() {
    if (window.parent === window) return;
    window.parent.postMessage({
      type: "leadflow:height", form: form.getAttribute("data-form-id"),
      height: document.documentElement.scrollHeight,
    }, "*");
  }
  if (window.ResizeObserver) new ResizeObserver(postHeight).observe(document.body);
  else window.addEventListener("load", postHeight);
})();
