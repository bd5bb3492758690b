// Live updates for the operator pages, without reloading. Every element with a data-live URL
// is refreshed from that URL, which answers the same HTML fragment the page was rendered with
// (escaped by the server's templates). data-live-every sets the first delay in milliseconds; the
// answer's x-live-next header sets the next one (0: it will not change again, stop asking).
// Without JavaScript the pages work as they are; reload to see news.
(function () {
  "use strict";
  function poll(el, delay) {
    setTimeout(function () {
      if (document.hidden) { return poll(el, 1000); }
      // From the origin: a page opened as http://user:pass@host/ must not fetch a URL with
      // credentials in it (browsers refuse); the browser's saved credentials go along.
      var url = new URL(el.getAttribute("data-live"), window.location.origin);
      fetch(url, { credentials: "same-origin", headers: { "x-requested-with": "live" } })
        .then(function (r) {
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          var next = parseInt(r.headers.get("x-live-next") || "2000", 10);
          return r.text().then(function (html) {
            if (html !== el.liveHtml) {
              el.liveHtml = html;
              el.innerHTML = html;
            }
            if (next > 0) { poll(el, next); } else { el.setAttribute("data-live-done", ""); }
          });
        })
        .catch(function () { poll(el, 5000); });
    }, delay);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      if (!el.hasAttribute("data-live-done")) {
        poll(el, parseInt(el.getAttribute("data-live-every") || "2000", 10));
      }
    });
  });
})();
