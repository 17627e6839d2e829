// The result page while queued or running: poll the small status endpoint every POLL_MS and, once
// the measurement has finished, fetch the page again and swap its head, result and downloads in place
// (within a poll of the end). Nothing else on the page is touched, so what the user is typing in the
// remeasure form stays. Then the event "measurement:shown" tells the viewer and the live threshold
// to start.
(function () {
  "use strict";
  var POLL_MS = 200;
  var state = document.getElementById("measurement-state");
  if (!state || !window.fetch || !window.DOMParser) { return; }

  function announce() { document.dispatchEvent(new CustomEvent("measurement:shown")); }

  function swapIn(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    ["measurement-head", "measurement-state", "downloads"].forEach(function (id) {
      var now = document.getElementById(id), next = fresh.getElementById(id);
      if (now && next) { now.replaceWith(document.importNode(next, true)); }
    });
    announce();
  }

  function poll() {
    fetch(state.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (body && body.finished) {
          return fetch(window.location.href, { credentials: "same-origin" })
            .then(function (response) { return response.text(); })
            .then(swapIn);
        }
        window.setTimeout(poll, POLL_MS);
      })
      .catch(function () { window.setTimeout(poll, POLL_MS * 4); });
  }

  if (state.dataset.state === "queued" || state.dataset.state === "running") {
    window.setTimeout(poll, POLL_MS);
  } else {
    document.addEventListener("DOMContentLoaded", announce);
    if (document.readyState !== "loading") { announce(); }
  }
})();
