// Small behaviours of every page: the theme switch, copy buttons, the menu closing after a pick.
(function () {
  function theme() { return document.documentElement.getAttribute("data-bs-theme"); }
  function label() {
    document.querySelectorAll("[data-theme-label]").forEach(function (el) {
      el.textContent = theme() === "dark" ? "Light theme" : "Dark theme";
    });
  }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (toggle) {
      var next = theme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-bs-theme", next);
      try { localStorage.setItem("hs-theme", next); } catch (e) { /* storage blocked */ }
      label();
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.value || source.textContent).then(function () {
          copy.textContent = "Copied";
        });
      }
    }
  });
  // Search inside a list on the page (the chat transcript): hide lines without the text.
  document.addEventListener("input", function (event) {
    var input = event.target.closest("[data-filter-lines]");
    if (!input) return;
    var list = document.querySelector(input.getAttribute("data-filter-lines"));
    if (!list) return;
    var needle = input.value.trim().toLowerCase();
    var shown = 0;
    list.querySelectorAll("li").forEach(function (li) {
      var hit = !needle || li.textContent.toLowerCase().indexOf(needle) !== -1;
      li.hidden = !hit;
      if (hit) shown += 1;
    });
    var none = list.parentElement.querySelector("[data-no-match]");
    if (none) none.hidden = shown > 0;
  });
  // A table frame that scrolls is a region keyboard users can reach and scroll.
  function frames(root) {
    (root || document).querySelectorAll(".table-frame, .table-container").forEach(function (el) {
      if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
      if (!el.hasAttribute("role")) el.setAttribute("role", "region");
      if (!el.hasAttribute("aria-label")) el.setAttribute("aria-label", "Table (scrolls)");
    });
  }
  // Record rows expand, by one handler for every table: a click on a row's button (or on the
  // row itself, outside its links and controls and when no text is being selected) has htmx
  // load the whole record into a row under it, by the hx attributes of the table's tbody;
  // later clicks hide and show that row without a request; a click while it loads is dropped.
  document.addEventListener("click", function (event) {
    var row = event.target.closest("tbody > tr");
    if (!row) return;
    var button = event.target.closest("button[data-row-detail]");
    if (!button) {
      if (event.target.closest("a, button, input, select, summary, details, video, label")) return;
      if (String(window.getSelection ? window.getSelection() : "")) return;
      button = row.querySelector(":scope > td > button[data-row-detail]");
      if (!button) return;
    }
    var detail = row.nextElementSibling;
    if (detail && detail.classList.contains("record-detail")) {
      var open = button.getAttribute("aria-expanded") === "true";
      detail.hidden = open;
      button.setAttribute("aria-expanded", open ? "false" : "true");
      if (!open) fitDetail(detail);
      return;
    }
    if (button.classList.contains("htmx-request")) return;
    htmx.ajax("GET", button.getAttribute("data-row-detail"), { source: button });
  });
  function fitDetail(detail) {
    // The row spans the table; its content keeps to the visible width of the table's frame.
    var row = detail.previousElementSibling;
    if (row) detail.firstElementChild.colSpan = row.cells.length;
    var frame = detail.closest(".table-frame, .table-container");
    if (frame) detail.style.setProperty("--frame-width", frame.clientWidth + "px");
  }
  document.addEventListener("htmx:load", function (event) {
    var detail = event.target;
    if (!detail.classList || !detail.classList.contains("record-detail")) return;
    var button = detail.previousElementSibling && detail.previousElementSibling.querySelector("[data-row-detail]");
    if (button) {
      button.setAttribute("aria-expanded", "true");
      button.setAttribute("aria-controls", detail.id);
    }
    fitDetail(detail);
  });
  // A swap that takes the focused element away with it (the sort header or tab just clicked,
  // the filter field Enter was pressed in): the focus leaves it first, since removing the
  // focused element makes the browser lay out the page there and then, with the old and the
  // new table both in it (about as long as the frame that paints the new one). Once the new
  // content is painted, the focus goes to the same control in it (the keyboard stays where
  // it was), when the layout is done already.
  function counterpart(el) {
    var th = el.closest("th[data-field]");
    if (th) return 'th[data-field="' + CSS.escape(th.getAttribute("data-field")) + '"] a';
    if (el.id) return "#" + CSS.escape(el.id);
    var tab = el.getAttribute("data-tab");
    if (tab) return '[data-tab="' + CSS.escape(tab) + '"]';
    if (el.getAttribute("rel")) return 'a[rel="' + CSS.escape(el.getAttribute("rel")) + '"]';
    if (el.name) return '[name="' + CSS.escape(el.name) + '"]';
    if (el.type === "submit" && el.form && el.form.classList.length) {
      return "form." + CSS.escape(el.form.classList[0]) + ' [type="submit"]';
    }
    return null;
  }
  function replacesTarget(detail) {  // outerHTML / innerHTML, not a row added after another
    var spec = detail.swapOverride;
    if (!spec) {
      var holder = detail.elt && detail.elt.closest ? detail.elt.closest("[hx-swap]") : null;
      spec = holder ? holder.getAttribute("hx-swap") : htmx.config.defaultSwapStyle;
    }
    return /^(outerHTML|innerHTML)\b/.test(spec || "");
  }
  var refocus = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    var target = event.detail.target;
    refocus = null;
    if (!event.detail.shouldSwap || !target || !replacesTarget(event.detail)) return;
    if (active && active !== document.body && target.contains(active)) {
      refocus = { selector: counterpart(active), start: null, end: null };
      try { refocus.start = active.selectionStart; refocus.end = active.selectionEnd; } catch (e) { /* not a text field */ }
      active.blur();
    }
    // The rows of a record table hold no htmx state (their one handler is the click listener
    // above): a swap that replaces a region drops them at once, instead of htmx visiting each
    // of their elements to clean it up (two events and a walk up the tree for every cell).
    // Only in a region htmx keeps no snapshot of (hx-history="false"), so none is taken empty.
    if (target.getAttribute("hx-history") === "false") {
      target.querySelectorAll(".data-table > tbody[hx-target]").forEach(function (tbody) {
        tbody.replaceChildren();
      });
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var wanted = refocus;
    refocus = null;
    if (!wanted || !wanted.selector) return;
    var scope = event.target;
    requestAnimationFrame(function () {
      setTimeout(function () {
        var el = scope.isConnected && (scope.matches(wanted.selector) ? scope : scope.querySelector(wanted.selector));
        if (!el || document.activeElement !== document.body) return;
        el.focus({ preventScroll: true });
        if (wanted.start != null && el.setSelectionRange) {
          try { el.setSelectionRange(wanted.start, wanted.end); } catch (e) { /* not a text field */ }
        }
      }, 0);
    });
  });
  document.addEventListener("htmx:afterSettle", function (event) { frames(event.target); });
  frames();
  label();
})();
