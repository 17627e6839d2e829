// Threshold fields: the hint follows the chosen mode, and the value (and the range's upper bound) is
// greyed out for the automatic modes, which compute it from the series' histogram. Without JavaScript the fields work as they are.
(function () {
  "use strict";
  var TYPED_HINTS = {
    normalized: "Between 0 and 1: 0 is the lowest modality value of the whole series, 1 the highest. Voxels strictly above count.",
    modality: "In the series' modality units (Hounsfield units on CT; e.g. 300 for bone). Voxels strictly above count."
  };
  var AUTOMATIC_HINT = "Computed from the series' histogram; the value chosen is reported in both units. Nothing to type.";
  Array.prototype.forEach.call(document.querySelectorAll("form.threshold-form"), function (form) {
    var mode = form.querySelector("select[name=mode]");
    var value = form.querySelector("input[name=threshold]");
    var upper = form.querySelector("input[name=upper]");
    var hint = value && document.getElementById(value.id + "_helptext");
    if (!mode || !value || !hint) { return; }
    // An automatic mode empties the greyed box (its value would not be used) and says what it chose,
    // when known; going back to a typed mode restores what was typed.
    var typedValue = value.value;
    var chosen = value.getAttribute("data-chosen");
    var chosenMode = value.getAttribute("data-chosen-mode");
    function update() {
      var typed = Object.prototype.hasOwnProperty.call(TYPED_HINTS, mode.value);
      if (typed && value.disabled) {
        value.value = typedValue;
      } else if (!typed && !value.disabled) {
        typedValue = value.value;
        value.value = "";
      }
      value.disabled = !typed;
      value.placeholder = typed ? "" : (mode.value === chosenMode ? chosen : "chosen from the histogram");
      if (upper) { upper.disabled = !typed; }
      hint.textContent = typed ? TYPED_HINTS[mode.value] : AUTOMATIC_HINT;
    }
    mode.addEventListener("change", update);
    update();
  });
})();
