// Live updates for the operator pages, without reloading. Every element with a data-live URL
// is refreshed from that URL, which answers the same HTML fragment the page was rendered with
// (escaped by the server's templates). data-live-every sets the first delay in milliseconds; the
// answer's x-live-next header sets the next one (0: it will not change again, stop asking).
// Without JavaScript the pages work as they are; reload to see news.
//
// An update patches the page rather than replacing it: nodes that stay are kept (matched by
// their id, else by their place), so keyboard focus, a ticked box and the element under the
// pointer survive it. In a list marked data-live-steady (tasks, workloads), rows could move
// under the pointer: there the update waits until the pointer leaves the list. Changes to
// elements marked data-announce are read out through the page's aria-live region.
(function () {
  "use strict";

  function sameNode(a, b) {
    return a.nodeType === b.nodeType && a.nodeName === b.nodeName &&
      (a.id || "") === (b.id || "");
  }

  function findById(start, id) {
    for (var n = start; n; n = n.nextSibling) {
      if (n.id === id) { return n; }
    }
    return null;
  }

  function patchAttributes(a, b) {
    var i;
    for (i = a.attributes.length - 1; i >= 0; i--) {
      var name = a.attributes[i].name;
      if (!b.hasAttribute(name)) { a.removeAttribute(name); }
    }
    for (i = 0; i < b.attributes.length; i++) {
      var attr = b.attributes[i];
      if (a.getAttribute(attr.name) !== attr.value) { a.setAttribute(attr.name, attr.value); }
    }
  }

  function patch(a, b) {
    if (a.nodeType === 3 || a.nodeType === 8) {
      if (a.nodeValue !== b.nodeValue) { a.nodeValue = b.nodeValue; }
      return;
    }
    if (a.nodeType !== 1 || a.isEqualNode(b)) { return; }
    patchAttributes(a, b);
    patchChildren(a, b);
  }

  // Make the children of `into` those of `from`; nodes of `from` that are new move over.
  function patchChildren(into, from) {
    var a = into.firstChild;
    var b = from.firstChild;
    while (b) {
      var nextB = b.nextSibling;
      if (a && sameNode(a, b)) {
        patch(a, b);
        a = a.nextSibling;
      } else {
        var kept = b.id ? findById(a, b.id) : null;
        if (kept) {
          into.insertBefore(kept, a);
          patch(kept, b);
        } else {
          into.insertBefore(b, a);
        }
      }
      b = nextB;
    }
    while (a) {
      var next = a.nextSibling;
      into.removeChild(a);
      a = next;
    }
  }

  function announced(el) {
    var out = {};
    el.querySelectorAll("[data-announce]").forEach(function (n) {
      // data-announce-new: read the label alone, when the element first appears.
      out[n.getAttribute("data-announce")] = n.hasAttribute("data-announce-new") ? "" :
        n.textContent.replace(/\s+/g, " ").trim();
    });
    return out;
  }

  function announce(before, after) {
    var region = document.getElementById("live-announcer");
    if (!region) { return; }
    var news = [];
    Object.keys(after).forEach(function (key) {
      if (before[key] !== after[key]) { news.push(after[key] ? key + ": " + after[key] : key); }
    });
    if (news.length) { region.textContent = news.slice(0, 5).join(". "); }
  }

  function apply(el, html) {
    var next = document.createElement(el.tagName);
    next.innerHTML = html;
    var before = announced(el);
    patchChildren(el, next);
    announce(before, announced(el));
  }

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
              if (el.hasAttribute("data-live-steady") && el.matches(":hover")) {
                el.pendingHtml = html;
              } else {
                apply(el, html);
              }
            }
            if (next > 0) { poll(el, next); } else { el.setAttribute("data-live-done", ""); }
          });
        })
        .catch(function () { poll(el, 5000); });
    }, delay);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      el.addEventListener("mouseleave", function () {
        if (el.pendingHtml !== undefined) {
          var html = el.pendingHtml;
          el.pendingHtml = undefined;
          apply(el, html);
        }
      });
      if (!el.hasAttribute("data-live-done")) {
        poll(el, parseInt(el.getAttribute("data-live-every") || "2000", 10));
      }
    });
  });
})();
