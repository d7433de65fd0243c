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
  // Record rows expand: the first click loads the whole record into a row under it (htmx,
  // hx-get on the row's button); later clicks hide and show that row without a request.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var button = event.detail.elt;
    if (!button.hasAttribute || !button.hasAttribute("data-row-detail")) return;
    var detail = button.closest("tr").nextElementSibling;
    if (detail && detail.classList.contains("record-detail")) {
      event.preventDefault();
      var open = button.getAttribute("aria-expanded") === "true";
      detail.hidden = open;
      button.setAttribute("aria-expanded", open ? "false" : "true");
      if (!open) fitDetail(detail);
    }
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
  document.addEventListener("htmx:afterSettle", function (event) { frames(event.target); });
  frames();
  label();
})();
