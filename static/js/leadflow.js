/* LeadFlow browser behaviour. No inline scripts anywhere (CSP script-src 'self'): every page
   behaviour lives here, keyed on data attributes the templates render. */
(function () {
  "use strict";

  /* translated strings from the djangojs catalog (/jsi18n/, loaded before this file by
     base.html); without it, the English source */
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (fmt, obj) {
    return fmt.replace(/%\(\w+\)s/g, function (m) { return String(obj[m.slice(2, -2)]); });
  };
  function fmt(text, values) { return interpolate(text, values || {}, true); }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function flash(text, kind) {
    var area = document.getElementById("flash");
    if (!area) return;
    var p = document.createElement("p");
    p.className = "flash " + (kind || "info");
    p.textContent = text;
    area.replaceChildren(p);
  }

  /* ---- live SLA countdowns ---- */
  function span(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return fmt(gettext("%(d)sd %(h)sh"), { d: d, h: h });
    if (h) return fmt(gettext("%(h)sh %(m)sm"), { h: h, m: m });
    return fmt(gettext("%(m)sm %(s)ss"), { m: m, s: (sec < 10 ? "0" : "") + sec });
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) return;
      var left = due - now;
      el.textContent = left > 0 ? fmt(gettext("due in %(span)s"), { span: span(left) })
                                : fmt(gettext("overdue by %(span)s"), { span: span(left) });
      el.classList.toggle("overdue", left <= 0);
      el.classList.toggle("soon", left > 0 && left < 3600 * 1000);
    });
  }

  /* ---- board: drag & drop only where the lifecycle allows ---- */
  function boardConfig() {
    var el = document.getElementById("board-config");
    return el ? JSON.parse(el.textContent) : null;
  }

  /* Asks why: resolves {reason, code}, or null if cancelled. needsCode: the lead leaves after
     sales accepted it, so a coded exit reason (fitting the target stage) is required and the
     text is a comment, needed only where the chosen reason asks for one. */
  function askReason(text, needsCode, to) {
    var dialog = document.getElementById("reason-dialog");
    var area = document.getElementById("reason-text");
    var error = document.getElementById("reason-error");
    var codeField = document.getElementById("reason-code-field");
    var code = document.getElementById("reason-code");
    var codeError = document.getElementById("reason-code-error");
    var textLabel = document.getElementById("reason-text-label");
    document.getElementById("reason-move").textContent = text;
    area.value = "";
    error.hidden = true;
    codeField.hidden = !needsCode;
    code.value = "";
    codeError.hidden = true;
    var route = to === "nurture" ? "nurture" : "disqualify";
    Array.prototype.forEach.call(code.options, function (o) {
      if (!o.value) return;
      var fits = o.dataset.route === "either" || o.dataset.route === route;
      o.hidden = !fits;
      o.disabled = !fits;
    });
    textLabel.textContent = needsCode ? textLabel.dataset.optional : textLabel.dataset.required;
    return new Promise(function (resolve) {
      var form = document.getElementById("reason-form");
      function done(value) {
        form.removeEventListener("submit", onSubmit);
        document.getElementById("reason-cancel").removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        dialog.close();
        resolve(value);
      }
      function onSubmit(ev) {
        ev.preventDefault();
        if (needsCode && !code.value) {
          codeError.hidden = false;
          code.setAttribute("aria-invalid", "true");
          code.focus();
          return;
        }
        var chosen = code.options[code.selectedIndex];
        var commentNeeded = !needsCode || (chosen && chosen.dataset.comment === "1");
        if (commentNeeded && !area.value.trim()) {
          error.hidden = false;
          area.setAttribute("aria-invalid", "true");
          area.focus();
          return;
        }
        done({ reason: area.value.trim(), code: needsCode ? code.value : "" });
      }
      function onCancel(ev) {
        ev.preventDefault();
        done(null);
      }
      form.addEventListener("submit", onSubmit);
      document.getElementById("reason-cancel").addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
      (needsCode ? code : area).focus();
    });
  }

  function adjustCount(stage, delta) {
    var el = document.querySelector('[data-count-for="' + stage + '"]');
    if (el && el.dataset.count) {  /* a capped count ("10,000+") has none and stays as it is */
      var n = Math.max(0, parseInt(el.dataset.count, 10) + delta);
      el.dataset.count = String(n);
      el.textContent = new Intl.NumberFormat(document.documentElement.lang || "en").format(n);
    }
  }

  function initBoard(root) {
    var config = boardConfig();
    if (!config || typeof Sortable === "undefined") return;
    var lists = root.querySelectorAll("ol.cards[data-stage]");
    lists.forEach(function (list) {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "1";
      Sortable.create(list, {
        group: "board",
        draggable: ".card-lead",
        filter: ".card-move",  /* the keyboard's "Move to…" control is not a drag handle */
        preventOnFilter: false,
        forceFallback: true,
        fallbackTolerance: 3,
        animation: 120,
        onStart: function (evt) {
          /* The dragged card leaves its column as it moves: were that the tallest column, the
             page would get shorter, a page scrolled to its foot would jump, and the column
             under the pointer with it. The board keeps its height until the drop. */
          var board = evt.from.closest(".board");
          if (board) board.style.minHeight = board.offsetHeight + "px";
          var from = evt.from.dataset.stage;
          var allowed = config.moves[from] || [];
          document.querySelectorAll("ol.cards[data-stage]").forEach(function (l) {
            var ok = allowed.indexOf(l.dataset.stage) >= 0;
            l.closest(".column").classList.add(ok ? "drop-ok" : (l === evt.from ? "drop-home" : "drop-no"));
          });
        },
        onEnd: function (evt) {
          var board = evt.from.closest(".board");
          if (board) board.style.minHeight = "";
          document.querySelectorAll(".column").forEach(function (c) {
            c.classList.remove("drop-ok", "drop-no", "drop-home");
          });
          var from = evt.from.dataset.stage, to = evt.to.dataset.stage;
          if (from === to) return;
          var item = evt.item;
          function revert() {
            evt.from.insertBefore(item, evt.from.children[evt.oldIndex] || null);
          }
          var label = function (s) { return config.labels[s] || s; };
          var excluded = config.excluded[from + ">" + to];
          if ((config.moves[from] || []).indexOf(to) < 0 || excluded) {
            revert();
            flash(excluded || fmt(gettext("A lead cannot be moved from %(from)s to %(to)s here."),
                                { from: label(from), to: label(to) }), "error");
            return;
          }
          var needReason = config.reasonRequired.indexOf(to) >= 0;
          var reasonPromise = needReason
            ? askReason(fmt(gettext("Move %(name)s from %(from)s to %(to)s."),
                          { name: item.dataset.name, from: label(from), to: label(to) }),
                        config.exitNeeded.indexOf(from + ">" + to) >= 0, to)
            : Promise.resolve({ reason: "", code: "" });
          reasonPromise.then(function (why) {
            if (why === null) { revert(); flash(fmt(gettext("Move cancelled.")), "info"); return; }
            var body = new URLSearchParams({
              to: to, reason: why.reason, reason_code: why.code, expected_stage: from,
              expected_changed_at: item.dataset.changed
            });
            item.classList.add("saving");
            fetch(item.dataset.moveUrl, {
              method: "POST",
              headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
              body: body,
              credentials: "same-origin"
            }).then(function (resp) {
              return resp.json().then(function (data) { return { ok: resp.ok, data: data }; });
            }).then(function (res) {
              item.classList.remove("saving");
              if (!res.ok) {
                revert();
                flash(res.data.error ? res.data.error.message : fmt(gettext("The move failed.")), "error");
                return;
              }
              var tpl = document.createElement("template");
              tpl.innerHTML = res.data.html.trim();
              var card = tpl.content.firstElementChild;
              item.replaceWith(card);
              if (window.htmx) window.htmx.process(card);
              adjustCount(from, -1);
              adjustCount(to, +1);
              flash(res.data.message, "success");
            }).catch(function () {
              item.classList.remove("saving");
              revert();
              flash(fmt(gettext("Could not reach the server; the lead was not moved.")), "error");
            });
          });
        }
      });
    });
  }

  /* ---- board: each card's "Move to…" form (keyboard and screen-reader way to move) ---- */
  function initCardMoves() {
    var config = boardConfig();
    if (!config) return;
    /* a move that needs a reason asks for it in the board's dialog before htmx posts */
    document.body.addEventListener("htmx:confirm", function (ev) {
      var form = ev.target.closest && ev.target.closest("form.card-move");
      if (!form) return;
      var to = form.elements.to.value;
      if (config.reasonRequired.indexOf(to) < 0) return;
      ev.preventDefault();
      var label = function (s) { return config.labels[s] || s; };
      var from = form.elements.expected_stage.value;
      askReason(fmt(gettext("Move %(name)s from %(from)s to %(to)s."), {
        name: form.dataset.name, from: label(from), to: label(to)
      }), config.exitNeeded.indexOf(from + ">" + to) >= 0, to).then(function (why) {
        if (why === null) { flash(fmt(gettext("Move cancelled.")), "info"); form.elements.to.focus(); return; }
        form.elements.reason.value = why.reason;
        form.elements.reason_code.value = why.code;
        ev.detail.issueRequest(true);
      });
    });
    /* moved: the counts follow, and focus goes to the card in its new column */
    document.body.addEventListener("leadMoved", function (ev) {
      adjustCount(ev.detail.from, -1);
      adjustCount(ev.detail.to, +1);
      var card = document.getElementById("lead-" + ev.detail.card);
      var target = card && (card.querySelector(".card-move select") || card.querySelector("a"));
      if (target) target.focus();
    });
  }

  /* ---- a card move the server refuses outright (403, 404): say so instead of nothing ---- */
  document.addEventListener("htmx:responseError", function (ev) {
    if (!ev.detail.elt || !ev.detail.elt.closest || !ev.detail.elt.closest("form.card-move")) return;
    var status = ev.detail.xhr ? ev.detail.xhr.status : 0;
    flash(status === 403 ? fmt(gettext("You may not do that."))
      : fmt(gettext("That did not work (the server answered %(status)s). Reload the page and try again."),
          { status: status }), "error");
  });

  /* ---- SAL inbox: reject dialog and keyboard decisions ---- */
  function openReject(row) {
    var dialog = document.getElementById("reject-dialog");
    if (!dialog || !row) return;
    var form = document.getElementById("reject-form");
    form.setAttribute("action", row.dataset.rejectUrl);
    document.getElementById("reject-name").textContent = row.dataset.name;
    dialog.dataset.row = row.id;
    dialog.showModal();
    document.getElementById("reject-reason").focus();
  }

  function initInbox() {
    var dialog = document.getElementById("reject-dialog");
    if (!dialog) return;
    document.addEventListener("click", function (ev) {
      var btn = ev.target.closest(".reject-open");
      if (btn) openReject(btn.closest(".inbox-row"));
      if (ev.target.id === "reject-cancel") {
        dialog.close();
        var row = document.getElementById(dialog.dataset.row || "");
        if (row) row.focus();
      }
    });
    if (dialog.dataset.open) {
      dialog.showModal();
      var invalid = dialog.querySelector("[aria-invalid=true]");
      (invalid || document.getElementById("reject-reason")).focus();
    }
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || dialog.open) return;
      var row = ev.target.closest && ev.target.closest(".inbox-row[data-handover]");
      if (!row || /^(INPUT|SELECT|TEXTAREA)$/.test(ev.target.tagName)) return;
      var key = ev.key.toLowerCase();
      if (key === "a") {
        ev.preventDefault();
        var accept = row.querySelector("button.accept");
        if (accept) accept.click();
      } else if (key === "r") {
        ev.preventDefault();
        openReject(row);
      } else if (key === "arrowdown" || key === "arrowup") {
        var rows = Array.from(document.querySelectorAll(".inbox-row[tabindex='0']"));
        var i = rows.indexOf(row) + (key === "arrowdown" ? 1 : -1);
        if (rows[i]) { ev.preventDefault(); rows[i].focus(); }
      }
    });
    document.body.addEventListener("htmx:afterSwap", function (ev) {
      var el = ev.detail.target;
      if (el && el.id && el.id.indexOf("handover-") === 0) {
        var swapped = document.getElementById(el.id);
        if (swapped) swapped.focus();
      }
    });
  }

  /* ---- lead page: log a call, meeting or e-mail ---- */
  /* The outcome list shows the chosen kind's outcomes only, and an e-mail has no minutes.
     Without JavaScript every outcome is offered (grouped by kind) and the server says no. */
  function initLogForms(root) {
    root.querySelectorAll("select[name='log-kind']").forEach(function (kind) {
      var form = kind.form;
      var outcome = form.querySelector("select[name='log-outcome']");
      var minutes = form.querySelector("input[name='log-duration_minutes']");
      function sync() {
        var label = kind.options[kind.selectedIndex].text;
        var first = null, keep = false;
        outcome.querySelectorAll("optgroup").forEach(function (group) {
          var on = group.label === label;
          group.hidden = !on;
          group.disabled = !on;
          if (on) {
            first = group.querySelector("option");
            keep = !!group.querySelector("option:checked");
          }
        });
        if (!keep && first) first.selected = true;
        if (minutes) {
          var email = kind.value === "sales_email";
          minutes.closest(".log-field").hidden = email;
          minutes.disabled = email;
        }
      }
      if (kind.dataset.synced) return;
      kind.dataset.synced = "1";
      kind.addEventListener("change", sync);
      sync();
    });
  }

  /* ---- top bar: on narrow screens the navigation folds behind a "Menu" button. The button
     is hidden in the HTML, so without this script the bar simply wraps and stays usable. ---- */
  function initNav() {
    var bar = document.querySelector(".topbar");
    var toggle = bar && bar.querySelector(".nav-toggle");
    var menu = document.getElementById("topbar-menu");
    if (!toggle || !menu) return;
    function setOpen(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      bar.classList.toggle("nav-open", open);
    }
    toggle.hidden = false;
    bar.classList.add("nav-ready");
    toggle.addEventListener("click", function () {
      setOpen(toggle.getAttribute("aria-expanded") !== "true");
    });
    bar.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        toggle.focus();
      }
    });
  }

  /* ---- lead list: select all ---- */
  function initList() {
    var all = document.getElementById("select-all");
    if (!all) return;
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="lead"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }

  /* ---- forms that change a lot at once ask first (data-confirm="question") ---- */
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
  /* ---- filters: leave empty fields out of the URL (short, shareable links) ---- */
  function initFilters() {
    document.querySelectorAll("form.filters").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("input, select").forEach(function (field) {
          if (field.type !== "checkbox" && field.value === "") field.disabled = true;
        });
      });
    });
    window.addEventListener("pageshow", function () {  /* back button: usable again */
      document.querySelectorAll("form.filters [disabled]").forEach(function (f) {
        f.disabled = false;
      });
    });
  }

  /* ---- "/" focuses the header search box (unless the user is typing somewhere) ---- */
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function initSearchShortcut() {
    var box = document.getElementById("global-search-q");
    if (!box) return;
    document.addEventListener("keydown", function (e) {
      if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      e.preventDefault();
      box.focus();
      box.select();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initNav();
    initSearchShortcut();
    initFilters();
    initBoard(document);
    initCardMoves();
    initInbox();
    initList();
    tick();
    setInterval(tick, 1000);
    initLogForms(document);
    if (window.htmx) {
      window.htmx.onLoad(function (el) { tick(); initLogForms(el); });
    }
  });
})();
