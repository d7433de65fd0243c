// Runs in <head> before the page paints: the theme chosen on this browser, else the system's.
(function () {
  var stored = null;
  try { stored = localStorage.getItem("hs-theme"); } catch (e) { /* storage blocked */ }
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-bs-theme", stored || (dark ? "dark" : "light"));
})();
