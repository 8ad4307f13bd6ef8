// Tell the server the operator's time zone (pages show times in it) and send the CSRF token with every
// HTMX request. No build step, no dependencies besides htmx itself.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("vigia_tz=" + zone) === -1) {
      var secure = location.protocol === "https:" ? "; secure" : "";
      document.cookie = "vigia_tz=" + zone + "; path=/; max-age=31536000; samesite=lax" + secure;
    }
  } catch (e) { /* an old browser: the server's zone is used */ }
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector('meta[name="csrf-token"]');
    if (token) event.detail.headers["X-CSRFToken"] = token.content;
  });
  // A confirm() before destructive buttons: <button data-confirm="Delete?">
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-confirm]");
    if (target && !window.confirm(target.getAttribute("data-confirm"))) event.preventDefault();
  }, true);
  // The job editor shows only the fields of the chosen schedule type: <form data-schedule-type> holds the choice,
  // and CSS hides the [data-schedule-for] groups of the other types.
  document.addEventListener("change", function (event) {
    if (event.target.matches('select[name="schedule_type"]') && event.target.form) {
      event.target.form.setAttribute("data-schedule-type", event.target.value);
    }
  });
  // Submit a form as soon as a choice changes (the language switcher): <select data-submit-on-change>.
  // Here rather than in an onchange="" attribute, which the Content-Security-Policy forbids.
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-submit-on-change]") && event.target.form) event.target.form.requestSubmit();
  });
})();
// On a phone, tables are stacked cards (vigia.css) and each cell shows its column's name from data-label: copy
// every table's <th> texts onto its <td>s, on load and after every HTMX swap, so no template has to.
(function () {
  function labelTables() {
    document.querySelectorAll("table").forEach(function (table) {
      var head = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
      if (!head) return;
      var names = [];
      Array.prototype.forEach.call(head.cells, function (th) {
        var name = th.textContent.replace(/\s+/g, " ").trim();
        for (var i = 0; i < th.colSpan; i++) names.push(name);
      });
      Array.prototype.forEach.call(table.tBodies, function (body) {
        Array.prototype.forEach.call(body.rows, function (row) {
          var column = 0;
          Array.prototype.forEach.call(row.cells, function (cell) {
            // A cell across several columns ("No items yet.") has no single name.
            if (cell.tagName === "TD" && !cell.hasAttribute("data-label") && cell.colSpan === 1 && names[column]) {
              cell.setAttribute("data-label", names[column]);
            }
            column += cell.colSpan;
          });
        });
      });
    });
  }
  labelTables();
  document.addEventListener("DOMContentLoaded", labelTables);
  document.addEventListener("htmx:afterSwap", labelTables);
  document.addEventListener("htmx:afterSettle", labelTables);
})();
// Lists that change on their own (items, deliveries, people's first checks, runs) refresh while open: a rows
// container with data-live="10" and hx-trigger="live" is re-fetched every 10 s, only while the tab is visible
// (htmx's "every 10s [filter]" would need eval, which the Content-Security-Policy forbids). A poll never starts
// while another HTMX request is in flight, and a filter's request aborts a poll in flight, so a poll cannot
// swap stale rows over the operator's newer filter.
(function () {
  var due = new WeakMap();
  function live() { return document.querySelectorAll("[data-live]"); }
  setInterval(function () {
    if (document.visibilityState !== "visible" || !window.htmx || document.querySelector(".htmx-request")) return;
    var now = Date.now();
    live().forEach(function (el) {
      var every = (parseFloat(el.getAttribute("data-live")) || 10) * 1000;
      if (!due.has(el)) due.set(el, now + every);
      else if (now >= due.get(el)) { due.set(el, now + every); htmx.trigger(el, "live"); }
    });
  }, 1000);
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.hasAttribute("data-live")) return;
    live().forEach(function (el) { htmx.trigger(el, "htmx:abort"); });
  });
  // A poll answered by a redirect (the session expired: the login page) or for rows no longer shown swaps nothing.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var el = event.detail.elt, path = event.detail.pathInfo || {};
    if (!el.hasAttribute("data-live")) return;
    if (!document.body.contains(el) || (path.responsePath && path.responsePath !== path.finalRequestPath)) {
      event.detail.shouldSwap = false;
    }
  });
})();
