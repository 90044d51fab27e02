/* LeadFlow browser behaviour. No inline scripts anywhere (CSP script-src 'self'): every page
   behaviour lives here, keyed on data attributes the templates render. */
(function () {
  "use strict";

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
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    return m + "m " + (sec < 10 ? "0" : "") + sec + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) return;
      var left = due - now;
      el.textContent = left > 0 ? "due in " + span(left) : "overdue by " + span(left);
      el.classList.toggle("overdue", left <= 0);
      el.classList.toggle("soon", left > 0 && left < 3600 * 1000);
    });
  }

  /* ---- board: drag & drop only where the lifecycle allows ---- */
  function boardConfig() {
    var el = document.getElementById("board-config");
    return el ? JSON.parse(el.textContent) : null;
  }

  function askReason(text) {
    var dialog = document.getElementById("reason-dialog");
    var area = document.getElementById("reason-text");
    var error = document.getElementById("reason-error");
    document.getElementById("reason-move").textContent = text;
    area.value = "";
    error.hidden = true;
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
        if (!area.value.trim()) {
          error.hidden = false;
          area.setAttribute("aria-invalid", "true");
          area.focus();
          return;
        }
        done(area.value.trim());
      }
      function onCancel(ev) {
        ev.preventDefault();
        done(null);
      }
      form.addEventListener("submit", onSubmit);
      document.getElementById("reason-cancel").addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
      area.focus();
    });
  }

  function adjustCount(stage, delta) {
    var el = document.querySelector('[data-count-for="' + stage + '"]');
    if (el && /^\d+$/.test(el.textContent.trim())) {  /* "10,000+" stays as it is */
      el.textContent = String(Math.max(0, parseInt(el.textContent, 10) + delta));
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
        forceFallback: true,
        fallbackTolerance: 3,
        animation: 120,
        onStart: function (evt) {
          var from = evt.from.dataset.stage;
          var allowed = config.moves[from] || [];
          document.querySelectorAll("ol.cards[data-stage]").forEach(function (l) {
            var ok = allowed.indexOf(l.dataset.stage) >= 0;
            l.closest(".column").classList.add(ok ? "drop-ok" : (l === evt.from ? "drop-home" : "drop-no"));
          });
        },
        onEnd: function (evt) {
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
            flash(excluded || ("A lead cannot be moved from " + label(from) + " to " + label(to) + " here."), "error");
            return;
          }
          var needReason = config.reasonRequired.indexOf(to) >= 0;
          var reasonPromise = needReason
            ? askReason("Move " + item.dataset.name + " from " + label(from) + " to " + label(to) + ".")
            : Promise.resolve("");
          reasonPromise.then(function (reason) {
            if (reason === null) { revert(); flash("Move cancelled.", "info"); return; }
            var body = new URLSearchParams({
              to: to, reason: reason, expected_stage: from, expected_changed_at: item.dataset.changed
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
                flash(res.data.error ? res.data.error.message : "The move failed.", "error");
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
              flash("Could not reach the server; the lead was not moved.", "error");
            });
          });
        }
      });
    });
  }

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
    initSearchShortcut();
    initFilters();
    initBoard(document);
    initInbox();
    initList();
    tick();
    setInterval(tick, 1000);
    if (window.htmx) {
      window.htmx.onLoad(function (el) { tick(); });
    }
  });
})();
