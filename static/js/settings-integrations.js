/* Settings › API keys and Webhooks: copy a shown-once secret; forms marked data-once send once.
   No inline scripts (CSP script-src 'self'). */
(function () {
  "use strict";
  var gettext = window.gettext || function (s) { return s; };

  function copied(button, text) {
    var was = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", was);
    button.textContent = text;
    setTimeout(function () { button.textContent = was; }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(
        function () { copied(button, gettext("Copied")); },
        function () { copied(button, gettext("Press Ctrl+C")); }
      );
    } else {
      /* plain-http deployments have no Clipboard API: the selection is copied the old way */
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      copied(button, ok ? gettext("Copied") : gettext("Press Ctrl+C"));
    }
  });

  /* A second click while the first request is on its way sends nothing (the server also
     refuses a redelivery of a row that changed since the page was shown). */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-once")) return;
    if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
    form.setAttribute("data-sent", "1");
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once][data-sent]").forEach(function (form) {
      form.removeAttribute("data-sent");
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
    });
  });
})();
