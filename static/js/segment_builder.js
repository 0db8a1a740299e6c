// The segment builder's only script beside htmx (the server draws every row).
(function () {
  "use strict";

  // Text typed while the rows are being redrawn must survive the redraw: the server drew
  // them from the values sent, so whatever changed since is put back into the new rows.
  var sent = null;
  var before = null;

  function values() {
    var form = document.getElementById("segment-form");
    var found = {};
    if (!form) {
      return found;
    }
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "submit" || el.type === "button") {
        return;
      }
      if (el.type === "checkbox" || el.type === "radio") {
        found[el.name + "=" + el.value] = el.checked;
      } else {
        found[el.name] = el.value;
      }
    });
    return found;
  }

  function redraws(event) {
    return event.detail.target && event.detail.target.id === "builder";
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (redraws(event)) {
      sent = values();
    }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (redraws(event)) {
      before = values();
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var builder = document.getElementById("builder");
    if (!redraws(event) || !builder || !sent || !before) {
      return;
    }
    builder.querySelectorAll("[name]").forEach(function (el) {
      var checkable = el.type === "checkbox" || el.type === "radio";
      var key = checkable ? el.name + "=" + el.value : el.name;
      if (key in before && before[key] !== sent[key]) {
        if (checkable) {
          el.checked = before[key];
        } else {
          el.value = before[key];
        }
      }
    });
    sent = before = null;
  });

  // The live count answers each row's errors out of band without drawing the rows again
  // (that would take the focus from the input being typed in), so the inputs those errors
  // name are marked here: the count's body lists them.
  document.addEventListener("htmx:afterSettle", function (event) {
    var body = document.getElementById("live-count-body");
    var builder = document.getElementById("builder");
    if (!body || !builder || !event.detail.elt.closest("#live-count")) {
      return;
    }
    var invalid = (body.getAttribute("data-invalid") || "").split(" ").filter(Boolean);
    builder.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
    });
    invalid.forEach(function (name) {
      builder.querySelectorAll('[name="' + CSS.escape(name) + '"]').forEach(function (input) {
        input.setAttribute("aria-invalid", "true");
      });
    });
  });
})();
