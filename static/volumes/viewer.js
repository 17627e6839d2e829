// The slice viewer: every slice of the series as the server renders it (grey PNG per window, the
// counted voxels as a transparent PNG above it), in the order the measurement stacks them.
// Slider, wheel and arrow keys change the slice; dragging changes the window; "O" toggles the
// counted voxels, tinted or outlined; in a time series a second slider changes the time point. The threshold shown follows "threshold:change" events (the live threshold).
// One request of each kind is in flight at a time, the newest wish wins, and the neighbouring
// slices are fetched ahead so that scrolling does not wait.
(function () {
  "use strict";
  var PREFETCH = 4;

  function start() {
    var root = document.getElementById("viewer");
    if (!root || root.dataset.started) { return; }
    root.dataset.started = "1";
    fetch(root.dataset.viewerUrl, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (info) { if (info) { run(root, info); } });
  }

  function run(root, info) {
    var stage = document.getElementById("viewer-stage");
    var sliceImg = document.getElementById("viewer-slice");
    var maskImg = document.getElementById("viewer-mask");
    var slider = document.getElementById("slice-slider");
    var numberOut = document.getElementById("slice-number");
    var positionOut = document.getElementById("slice-position");
    var windowOut = document.getElementById("window-readout");
    var overlayToggle = document.getElementById("overlay-toggle");
    var opacity = document.getElementById("overlay-opacity");
    var outline = document.getElementById("overlay-outline");
    var presets = document.getElementById("window-presets");
    var preview = document.getElementById("preview");
    var unit = root.dataset.unit;
    var timeSlider = document.getElementById("time-slider");
    var points = info.time_points.length > 1 && timeSlider ? info.time_points : null;

    var count = info.slices;
    var positions = info.positions_mm;
    var state = {
      timePoint: 1,
      slice: Math.floor(count / 2) + 1,
      window: { center: info.default_window.center, width: info.default_window.width },
      threshold: {
        mode: root.dataset.mode, threshold: root.dataset.threshold,
        upper: root.dataset.upper, body_only: root.dataset.bodyOnly === "1"
      }
    };
    var sliceBase = root.dataset.sliceUrl.replace(/1\.png$/, "");
    var maskBase = root.dataset.maskUrl.replace(/1\/mask\.png$/, "");

    function round(value) { return Math.round(value * 10) / 10; }
    // Windows are snapped to about 1 % of their width (1, 2 or 5 × a power of ten), so that dragging
    // asks the server for a few dozen renderings, not hundreds, and the presets stay exact.
    function snapStep(width) {
      var raw = Math.max(width, 1) / 100, power = Math.pow(10, Math.floor(Math.log10(raw)));
      return [1, 2, 5, 10].map(function (m) { return m * power; }).filter(function (s) { return s >= raw; })[0];
    }
    function snap(value, step) { return round(Math.round(value / step) * step); }
    function shownWindow() {
      var step = snapStep(state.window.width);
      return { center: snap(state.window.center, step), width: Math.max(step, snap(state.window.width, step)) };
    }
    function timeQuery() { return points ? "&t=" + state.timePoint : ""; }
    function sliceUrl(number) {
      var shown = shownWindow();
      return sliceBase + number + ".png?center=" + shown.center + "&width=" + shown.width + timeQuery();
    }
    function maskUrl(number) {
      var t = state.threshold;
      var query = "mode=" + encodeURIComponent(t.mode) + "&threshold=" + encodeURIComponent(t.threshold || "") +
        "&upper=" + encodeURIComponent(t.upper || "") + (t.body_only ? "&body_only=on" : "") +
        (outline.checked ? "&outline=1" : "") + timeQuery();
      return maskBase + number + "/mask.png?" + query;
    }

    // One loader per picture: at most one request in flight, the newest wish replaces a waiting one.
    function loader(img) {
      var busy = false, wanted = null, shown = null;
      function next() {
        if (busy || wanted === null || wanted === shown) { return; }
        var url = wanted, probe = new Image();
        busy = true;
        probe.onload = function () { img.src = url; shown = url; busy = false; next(); };
        probe.onerror = function () { busy = false; shown = url; next(); };
        probe.src = url;
      }
      return function (url) { wanted = url; next(); };
    }
    var showSlice = loader(sliceImg), showMask = loader(maskImg);

    function prefetch() {
      for (var step = 1; step <= PREFETCH; step += 1) {
        [state.slice + step, state.slice - step].forEach(function (number) {
          if (number >= 1 && number <= count) {
            new Image().src = sliceUrl(number);
            if (overlayToggle.checked) { new Image().src = maskUrl(number); }
          }
        });
      }
    }

    function draw() {
      slider.value = state.slice;
      numberOut.textContent = state.slice;
      positionOut.textContent = positions ? "· position " + positions[state.slice - 1].toFixed(2) + " mm" : "";
      var shown = shownWindow();
      windowOut.textContent = "level " + shown.center + " / width " + shown.width + " " + unit;
      showSlice(sliceUrl(state.slice));
      maskImg.hidden = !overlayToggle.checked;
      if (overlayToggle.checked) { showMask(maskUrl(state.slice)); }
      window.clearTimeout(draw.ahead);
      draw.ahead = window.setTimeout(prefetch, 120);
    }

    function goTo(number) {
      var clamped = Math.min(count, Math.max(1, number));
      if (clamped !== state.slice) { state.slice = clamped; draw(); }
    }

    // Another time point: its own slices (their number and positions may differ), the slice kept where it can be.
    function goToTime(number) {
      var clamped = Math.min(points.length, Math.max(1, number));
      if (clamped === state.timePoint) { return; }
      state.timePoint = clamped;
      count = points[clamped - 1].slices;
      positions = points[clamped - 1].positions_mm;
      state.slice = Math.min(count, state.slice);
      timeSlider.value = clamped;
      document.getElementById("time-number").textContent = clamped;
      slider.max = count;
      slider.disabled = count < 2;
      document.getElementById("slice-count").textContent = count;
      draw();
    }

    function setWindow(center, width) {
      state.window = { center: center, width: Math.max(1, width) };
      draw();
    }

    // Presets: the file's own window, then the CT presets.
    function presetButton(label, center, width) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = label;
      button.title = "level " + center + ", width " + width;
      button.addEventListener("click", function () { setWindow(center, width); stage.focus(); });
      presets.appendChild(button);
    }
    if (info.file_window) { presetButton("File window", info.file_window.center, info.file_window.width); }
    info.presets.forEach(function (p) { presetButton(p.label, p.center, p.width); });

    slider.max = count;
    slider.disabled = count < 2;
    document.getElementById("slice-count").textContent = count;
    if (info.pixel_spacing_mm) {
      stage.style.aspectRatio = (info.columns * info.pixel_spacing_mm[1]) + " / " + (info.rows * info.pixel_spacing_mm[0]);
    }
    slider.addEventListener("input", function () { goTo(parseInt(slider.value, 10)); });
    if (points) {
      timeSlider.max = points.length;
      timeSlider.addEventListener("input", function () { goToTime(parseInt(timeSlider.value, 10)); });
      document.getElementById("viewer-time").hidden = false;
    }
    stage.addEventListener("wheel", function (event) {
      event.preventDefault();
      goTo(state.slice + (event.deltaY > 0 ? 1 : -1));
    }, { passive: false });
    stage.addEventListener("keydown", function (event) {
      var moves = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 };
      if (Object.prototype.hasOwnProperty.call(moves, event.key)) {
        goTo(state.slice + moves[event.key]);
      } else if (event.key === "Home") { goTo(1); } else if (event.key === "End") { goTo(count); } else { return; }
      event.preventDefault();
    });
    document.addEventListener("keydown", function (event) {
      var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName) && event.target.type !== "range" && event.target.type !== "checkbox";
      if (typing || event.ctrlKey || event.metaKey || event.altKey) { return; }
      if (event.key === "o" || event.key === "O") {
        overlayToggle.checked = !overlayToggle.checked;
        draw();
      }
    });
    overlayToggle.addEventListener("change", draw);
    outline.addEventListener("change", draw);
    function applyOpacity() { maskImg.style.opacity = String(parseInt(opacity.value, 10) / 100); }
    opacity.addEventListener("input", applyOpacity);
    applyOpacity();

    // Dragging: sideways changes the width, up and down the level (as in most radiology viewers).
    var drag = null;
    stage.addEventListener("pointerdown", function (event) {
      drag = { x: event.clientX, y: event.clientY, center: state.window.center, width: state.window.width };
      stage.setPointerCapture(event.pointerId);
      stage.focus();
    });
    stage.addEventListener("pointermove", function (event) {
      if (!drag) { return; }
      var scale = Math.max(drag.width, 1) / 200;
      setWindow(drag.center - (event.clientY - drag.y) * scale, drag.width + (event.clientX - drag.x) * scale);
    });
    function endDrag() { drag = null; }
    stage.addEventListener("pointerup", endDrag);
    stage.addEventListener("pointercancel", endDrag);

    document.addEventListener("threshold:change", function (event) {
      state.threshold = event.detail;
      draw();
    });

    root.hidden = false;
    if (preview) { preview.closest("figure").hidden = true; }
    draw();
    root.dataset.ready = "1";
  }

  document.addEventListener("measurement:shown", start);
})();
