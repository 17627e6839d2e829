// The drop zone: files and whole folders dropped on it go into the form's file input, the page lists
// what was chosen, and the form is sent with a progress bar; then the browser follows the answer (the
// result page) or shows the page the server answered with (the form and its errors).
// Without JavaScript the same form works with its two file inputs.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var zone = document.getElementById("dropzone");
  if (!form || !zone || !window.DataTransfer || !window.FormData || !window.XMLHttpRequest) { return; }
  document.documentElement.classList.add("js-upload");

  var fileInput = document.getElementById("id_files");
  var folderInput = document.getElementById("folder-input");
  var selection = document.getElementById("selection");
  var selectionCount = document.getElementById("selection-count");
  var selectionList = document.getElementById("selection-list");
  var clearButton = document.getElementById("clear-selection");
  var submitButton = document.getElementById("submit");
  var progressBox = document.getElementById("progress-box");
  var progress = document.getElementById("progress");
  var progressFigures = document.getElementById("progress-figures");
  var status = document.getElementById("status");
  var ITEMS_SHOWN = 8;
  var droppedPaths = [];  // the folder paths of dropped files, in the order of fileInput.files

  function formatBytes(bytes) {
    if (bytes < 1024 * 1024) { return Math.max(1, Math.round(bytes / 1024)) + " KB"; }
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  function plural(count, word) { return count + " " + word + (count === 1 ? "" : "s"); }

  function chosen() {
    var files = [];
    Array.prototype.forEach.call(fileInput.files, function (file, i) {
      files.push({ path: droppedPaths[i] || file.name, size: file.size });
    });
    Array.prototype.forEach.call(folderInput.files, function (file) {
      files.push({ path: file.webkitRelativePath || file.name, size: file.size });
    });
    return files;
  }

  // What was chosen, by top-level item: a folder with its file count and size, or a single file.
  function groups(files) {
    var byName = {};
    var order = [];
    files.forEach(function (file) {
      var slash = file.path.indexOf("/");
      var name = slash > 0 ? file.path.slice(0, slash + 1) : file.path;
      if (!byName[name]) { byName[name] = { name: name, count: 0, size: 0, folder: slash > 0 }; order.push(name); }
      byName[name].count += 1;
      byName[name].size += file.size;
    });
    return order.map(function (name) { return byName[name]; });
  }

  function describe() {
    var files = chosen();
    var bytes = files.reduce(function (sum, file) { return sum + file.size; }, 0);
    var items = groups(files);
    selection.hidden = files.length === 0;
    zone.classList.toggle("has-files", files.length > 0);
    selectionCount.textContent = files.length ? plural(files.length, "file") + " chosen, " + formatBytes(bytes) : "";
    selectionList.textContent = "";
    items.slice(0, ITEMS_SHOWN).forEach(function (group) {
      var item = document.createElement("li");
      var size = document.createElement("span");
      item.textContent = group.name + " ";
      size.className = "size";
      size.textContent = (group.folder ? plural(group.count, "file") + ", " : "") + formatBytes(group.size);
      item.appendChild(size);
      selectionList.appendChild(item);
    });
    if (items.length > ITEMS_SHOWN) {
      var more = document.createElement("li");
      more.className = "more";
      more.textContent = "and " + (items.length - ITEMS_SHOWN) + " more";
      selectionList.appendChild(more);
    }
    status.textContent = "";
    status.classList.remove("error");
  }

  function readEntry(entry, found) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (file) {
          found.push({ file: file, path: entry.fullPath.replace(/^\//, "") });
          resolve();
        }, function () { resolve(); });
      } else if (entry.isDirectory) {
        var reader = entry.createReader();
        var children = [];
        (function readBatch() {  // readEntries answers in batches (100 in Chrome) until it answers none
          reader.readEntries(function (entries) {
            if (!entries.length) {
              Promise.all(children.map(function (child) { return readEntry(child, found); })).then(resolve);
            } else {
              children = children.concat(Array.prototype.slice.call(entries));
              readBatch();
            }
          }, function () { resolve(); });
        })();
      } else { resolve(); }
    });
  }

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      if (event.dataTransfer) { event.dataTransfer.dropEffect = "copy"; }
      zone.classList.add("over");
    });
  });
  zone.addEventListener("dragleave", function (event) {
    if (!zone.contains(event.relatedTarget)) { zone.classList.remove("over"); }
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("over");
    var items = event.dataTransfer.items || [];
    var found = [];
    var pending = [];
    for (var i = 0; i < items.length; i++) {
      if (items[i].kind !== "file") { continue; }
      var entry = items[i].webkitGetAsEntry ? items[i].webkitGetAsEntry() : null;
      if (entry) { pending.push(readEntry(entry, found)); }
      else { found.push({ file: items[i].getAsFile(), path: "" }); }
    }
    if (!items.length && event.dataTransfer.files) {
      Array.prototype.forEach.call(event.dataTransfer.files, function (file) { found.push({ file: file, path: "" }); });
    }
    status.textContent = "Reading what was dropped…";
    Promise.all(pending).then(function () {
      var transfer = new DataTransfer();
      found.forEach(function (item) { transfer.items.add(item.file); });
      fileInput.files = transfer.files;
      droppedPaths = found.map(function (item) { return item.path; });
      folderInput.value = "";
      describe();
    });
  });
  // A drop beside the zone would open the file in the browser and lose the page: ignore it.
  ["dragover", "drop"].forEach(function (name) {
    window.addEventListener(name, function (event) {
      if (zone.contains(event.target)) { return; }
      event.preventDefault();
      if (event.dataTransfer) { event.dataTransfer.dropEffect = "none"; }
    });
  });

  fileInput.addEventListener("change", function () { droppedPaths = []; describe(); });
  folderInput.addEventListener("change", describe);
  clearButton.addEventListener("click", function () {
    fileInput.value = "";
    folderInput.value = "";
    droppedPaths = [];
    describe();
    fileInput.focus();
  });

  function busy(on) {
    form.setAttribute("aria-busy", on ? "true" : "false");
    submitButton.disabled = on;
    clearButton.disabled = on;
    progressBox.hidden = !on;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!chosen().length) {
      status.textContent = "Choose at least one DICOM file, a folder or a .zip archive first.";
      status.classList.add("error");
      return;
    }
    var body = new FormData(form);  // read before busy(): disabled controls are left out
    var request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    busy(true);
    progress.value = 0;
    status.textContent = "Uploading…";
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      progress.value = Math.round(100 * e.loaded / e.total);
      progressFigures.textContent = formatBytes(e.loaded) + " of " + formatBytes(e.total);
    });
    request.upload.addEventListener("load", function () {
      progress.removeAttribute("value");  // indeterminate: the server reads and measures now
      progressFigures.textContent = "";
      status.textContent = "Files received. Reading them, sorting them into series and measuring; a large series takes a while.";
    });
    request.addEventListener("load", function () {
      if (request.status < 400 && request.responseURL && request.responseURL !== window.location.href) {
        status.textContent = "Done. Opening the result…";
        window.location.assign(request.responseURL);
      } else {
        document.open();
        document.write(request.responseText);
        document.close();
      }
    });
    request.addEventListener("error", function () {
      busy(false);
      status.textContent = "The upload did not reach the server. Check the connection and try again.";
      status.classList.add("error");
    });
    request.send(body);
  });

  describe();
})();
