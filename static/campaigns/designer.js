// The designer: on a phone the side panel is below the flow, so bring it into view when a
// step's form opens there.
document.addEventListener("htmx:afterSwap", function () {
  var panel = document.getElementById("panel");
  if (panel && panel.querySelector("form#step-form, .kind-picker, #refusal, #sim-summary")
      && window.matchMedia("(max-width: 900px)").matches) {
    panel.scrollIntoView({behavior: "smooth", block: "start"});
  }
});
