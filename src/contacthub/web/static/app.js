// htmx sends the session's CSRF token (from <meta name="csrf">) with every request it makes.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf"]');
  if (meta) { event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
});

// A form shown again with what was wrong: bring its message into view (the hub's settings
// form is at the bottom of a long page).
document.addEventListener("DOMContentLoaded", function () {
  var problem = document.getElementById("form-error");
  if (problem) { problem.scrollIntoView({block: "center"}); }
});

// The message page's "Back": a javascript: link did nothing, as the Content-Security-Policy
// (script-src 'self') blocks those; without history, it goes to the hubs.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-back]");
  if (link && window.history.length > 1) { event.preventDefault(); window.history.back(); }
});
