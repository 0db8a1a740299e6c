// The segment builder's only script beside htmx. The live count answers each row's errors
// out of band without drawing the rows again (that would take the focus from the input being
// typed in), so the inputs those errors name are marked here: the count's body lists them.
(function () {
  "use strict";
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
