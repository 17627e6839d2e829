// The drop zone: files and whole folders dropped on it go into the form's file input, and the form
// is sent with a progress bar. Without JavaScript the same form works with its two file inputs.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var zone = document.getElementById("dropzone");
  if (!form || !zone || !window.DataTransfer) { return; }
  var fileInput = form.querySelector("input[type=file]:not([webkitdirectory])");
  var folderInput = document.getElementById("folder-input");
  var selection = document.getElementById("selection");
  var progress = document.getElementById("progress");
  var status = document.getElementById("status");

  function describe() {
    var count = fileInput.files.length + folderInput.files.length;
    var bytes = 0;
    [fileInput, folderInput].forEach(function (input) {
      for (var i = 0; i < input.files.length; i++) { bytes += input.files[i].size; }
    });
    selection.textContent = count ? count + " file" + (count === 1 ? "" : "s") + " chosen (" + (bytes / 1048576).toFixed(1) + " MB)" : "";
  }

  function readEntry(entry, files) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (file) { files.push(file); resolve(); }, function () { resolve(); });
      } else if (entry.isDirectory) {
        var reader = entry.createReader();
        var all = [];
        (function readBatch() {
          reader.readEntries(function (entries) {
            if (!entries.length) {
              Promise.all(all.map(function (child) { return readEntry(child, files); })).then(resolve);
            } else {
              all = all.concat(Array.prototype.slice.call(entries));
              readBatch();
            }
          }, function () { resolve(); });
        })();
      } else { resolve(); }
    });
  }

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    var items = event.dataTransfer.items;
    var files = [];
    var pending = [];
    for (var i = 0; i < items.length; i++) {
      var entry = items[i].webkitGetAsEntry ? items[i].webkitGetAsEntry() : null;
      if (entry) { pending.push(readEntry(entry, files)); }
      else if (items[i].kind === "file") { files.push(items[i].getAsFile()); }
    }
    Promise.all(pending).then(function () {
      var transfer = new DataTransfer();
      files.forEach(function (file) { transfer.items.add(file); });
      fileInput.files = transfer.files;
      folderInput.value = "";
      describe();
    });
  });
  fileInput.addEventListener("change", describe);
  folderInput.addEventListener("change", describe);

  form.addEventListener("submit", function (event) {
    if (!window.XMLHttpRequest || !window.FormData) { return; }
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    progress.hidden = false;
    status.textContent = "Uploading…";
    form.querySelector("button[type=submit]").disabled = true;
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { progress.value = Math.round(100 * e.loaded / e.total); }
    });
    request.upload.addEventListener("load", function () { status.textContent = "Reading the files…"; });
    request.addEventListener("load", function () {
      if (request.status < 400 && request.responseURL && request.responseURL !== window.location.href) {
        window.location.assign(request.responseURL);
      } else {
        document.open();
        document.write(request.responseText);
        document.close();
      }
    });
    request.addEventListener("error", function () {
      status.textContent = "The upload did not reach the server. Check the connection and try again.";
      form.querySelector("button[type=submit]").disabled = false;
    });
    request.send(new FormData(form));
  });
})();
