// The live threshold: sliders in modality units over the series' range; each move asks live.json
// (arithmetic on the stored histograms, nothing stored) for the figures, updates the volume on the
// page and tells the viewer ("threshold:change") to draw the counted voxels at the new threshold.
// "Save" sends the page's remeasure form with these values: a measurement that is kept.
(function () {
  "use strict";

  function start() {
    var box = document.getElementById("live-threshold");
    var viewer = document.getElementById("viewer");
    if (!box || !viewer || box.dataset.started) { return; }
    box.dataset.started = "1";
    fetch(viewer.dataset.viewerUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (info) { if (info) { run(box, viewer, info); } });
  }

  function formatNumber(value, decimals) {
    return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  }

  function run(box, viewer, info) {
    var lower = document.getElementById("live-lower");
    var upper = document.getElementById("live-upper");
    var lowerOut = document.getElementById("live-lower-value");
    var upperOut = document.getElementById("live-upper-value");
    var rangeOn = document.getElementById("live-range");
    var bodyOn = document.getElementById("live-body");
    var bodyHelp = document.getElementById("live-body-help");
    var figures = document.getElementById("live-figures");
    var save = document.getElementById("live-save");
    var chart = document.getElementById("histogram-chart");
    var unit = viewer.dataset.unit;
    var low = info.histogram.min, high = info.histogram.max, span = high - low;
    var step = span > 200 ? 1 : (span > 0 ? span / 1000 : 1);
    var decimals = step >= 1 ? 0 : 3;

    [lower, upper].forEach(function (input) { input.min = low; input.max = high; input.step = step; });
    lower.value = parseFloat(viewer.dataset.thresholdModality);
    var savedUpper = viewer.dataset.upperModality;
    rangeOn.checked = savedUpper !== "";
    upper.value = savedUpper !== "" ? parseFloat(savedUpper) : high;
    bodyOn.checked = viewer.dataset.bodyOnly === "1";
    var moved = false;

    function request() {
      if (!moved) {
        return { mode: viewer.dataset.mode, threshold: viewer.dataset.threshold, upper: viewer.dataset.upper, body_only: bodyOn.checked };
      }
      return {
        mode: "modality", threshold: lower.value, upper: rangeOn.checked ? upper.value : "", body_only: bodyOn.checked
      };
    }

    function query(r) {
      return "mode=" + encodeURIComponent(r.mode) + "&threshold=" + encodeURIComponent(r.threshold || "") +
        "&upper=" + encodeURIComponent(r.upper || "") + (r.body_only ? "&body_only=on" : "");
    }

    function drawChart() {
      var context = chart.getContext("2d"), counts = info.histogram.counts;
      var width = chart.width, height = chart.height, most = 0;
      counts.forEach(function (c) { most = Math.max(most, Math.log(1 + c)); });
      context.clearRect(0, 0, width, height);
      var x = function (value) { return span > 0 ? (value - low) / span * width : width / 2; };
      var from = x(parseFloat(lower.value)), to = rangeOn.checked ? x(parseFloat(upper.value)) : width;
      context.fillStyle = "rgba(255, 112, 0, 0.15)";
      context.fillRect(from, 0, Math.max(0, to - from), height);
      var barWidth = width / counts.length;
      counts.forEach(function (c, i) {
        var barHeight = most > 0 ? Math.log(1 + c) / most * (height - 4) : 0;
        var middle = (i + 0.5) * barWidth;
        context.fillStyle = middle > from && middle <= to ? "#e8590c" : "#868e96";
        context.fillRect(i * barWidth, height - barHeight, Math.max(1, barWidth - 1), barHeight);
      });
      context.fillStyle = "#1d3557";
      context.fillRect(from - 1, 0, 2, height);
      if (rangeOn.checked) { context.fillRect(to - 1, 0, 2, height); }
    }

    function describe(value) {
      var normalised = span > 0 ? " (" + formatNumber((value - low) / span, 3) + " normalised)" : "";
      return formatNumber(value, decimals) + " " + unit + normalised;
    }

    function showValues() {
      lowerOut.textContent = describe(parseFloat(lower.value));
      upperOut.textContent = rangeOn.checked ? describe(parseFloat(upper.value)) : "no upper bound";
      upper.disabled = !rangeOn.checked;
      drawChart();
    }

    function showResult(result) {
      var volume = document.getElementById("volume");
      var voxels = document.getElementById("voxels-above");
      var shown = result.shown;  // printed by the server as the page prints them (templatetags/figures.py)
      if (voxels) { voxels.textContent = shown.voxels_above; }
      var percent = document.getElementById("voxels-percent"), threshold = document.getElementById("volume-threshold");
      var total = document.getElementById("voxels-total");
      if (total) { total.textContent = shown.total_voxels + " voxels" + (result.body_only ? " inside the body" : ""); }
      if (percent && result.total_voxels) { percent.textContent = Math.round(100 * result.voxels_above / result.total_voxels) + " %"; }
      if (threshold && moved) {
        threshold.textContent = "> " + lowerOut.textContent.replace(/ \(.*\)$/, "") +
          (rangeOn.checked ? ", ≤ " + upperOut.textContent.replace(/ \(.*\)$/, "") : "") +
          (bodyOn.checked ? ", body only" : "") + " (not saved)";
      }
      if (volume && result.volume_mm3 !== null) {
        volume.querySelector("strong").textContent = shown.volume_mm3 + " mm³";
        volume.querySelector("span").textContent = shown.volume_ml + " mL";
      }
      figures.textContent = (result.volume_mm3 !== null ? shown.volume_mm3 + " mm³ (" + shown.volume_ml + " mL), " : "") +
        shown.voxels_above + " voxels" + (moved ? " (not saved)" : "");
    }

    // At most one request in flight; the newest slider position is asked next.
    var busy = false, pending = null;
    function ask() {
      if (busy || pending === null) { return; }
      var r = pending;
      pending = null;
      busy = true;
      fetch(viewer.dataset.liveUrl + "?" + query(r), { credentials: "same-origin" })
        .then(function (response) { return response.json().then(function (body) { return { ok: response.ok, body: body }; }); })
        .then(function (answer) {
          if (answer.ok) { showResult(answer.body); } else { figures.textContent = answer.body.error; }
        })
        .catch(function () { figures.textContent = "The figures could not be fetched."; })
        .then(function () { busy = false; ask(); });
    }

    function changed() {
      moved = true;
      if (rangeOn.checked && parseFloat(upper.value) <= parseFloat(lower.value)) {
        upper.value = Math.min(high, parseFloat(lower.value) + step);
      }
      showValues();
      var needsBody = bodyOn.checked && !info.body_ready;
      bodyHelp.hidden = !needsBody;
      save.disabled = false;
      if (needsBody) { figures.textContent = "Save to find the body and measure inside it."; return; }
      var r = request();
      pending = r;
      ask();
      document.dispatchEvent(new CustomEvent("threshold:change", { detail: r }));
    }

    [lower, upper].forEach(function (input) { input.addEventListener("input", changed); });
    rangeOn.addEventListener("change", changed);
    bodyOn.addEventListener("change", changed);

    save.addEventListener("click", function () {
      var form = document.querySelector("form.threshold-form");
      var r = request();
      var mode = form.querySelector("[name=mode]");
      mode.value = r.mode;
      mode.dispatchEvent(new Event("change"));
      form.querySelector("[name=threshold]").value = r.threshold || "";
      form.querySelector("[name=upper]").value = r.upper || "";
      form.querySelector("[name=body_only]").checked = r.body_only;
      form.submit();
    });

    showValues();
    var saved = document.getElementById("volume");
    var savedMm3 = saved && saved.querySelector("strong"), savedMl = saved && saved.querySelector("span");
    figures.textContent = savedMm3 ? "Saved: " + savedMm3.textContent.trim() + (savedMl ? " (" + savedMl.textContent.trim() + ")" : "") : "";
    box.hidden = false;
    box.dataset.ready = "1";
  }

  document.addEventListener("measurement:shown", start);
})();
