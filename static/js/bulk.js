/* Bulk actions: the selection count in the action bar, and one submit per form (a second
   click while the first is on its way does nothing; the server's form token is the guarantee). */
(function () {
  "use strict";
  function boxes(form) {
    return document.querySelectorAll('input[type="checkbox"][name="lead"][form="' + form.id + '"]');
  }
  function update(form) {
    var label = form.querySelector("[data-bulk-count]");
    if (!label) return;
    var n = 0;
    boxes(form).forEach(function (box) { if (box.checked) n += 1; });
    var gettext = window.gettext || function (s) { return s; };
    label.textContent = n
      ? (window.interpolate ? window.interpolate(gettext("%(n)s selected"), { n: n }, true) : n + " selected")
      : gettext("Tick leads to act on them");
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target || target.name !== "lead" && target.id !== "select-all") return;
    var form = document.getElementById(target.getAttribute("form") || "");
    if (form && form.hasAttribute("data-bulk-form")) update(form);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-bulk-form")) return;
    var button = event.submitter;
    if (button && button.value === "export") return; /* a download: the page stays */
    if (form.getAttribute("data-submitted")) { event.preventDefault(); return; }
    form.setAttribute("data-submitted", "1");
    form.setAttribute("aria-busy", "true");
  });
})();
