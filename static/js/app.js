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
  document.addEventListener("htmx:afterSettle", function (event) { frames(event.target); });
  frames();
  label();
})();
