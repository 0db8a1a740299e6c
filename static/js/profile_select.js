// Profile list: "select all on this page" and the count on the "Add to list" button.
(function () {
  var form = document.getElementById("list-add");
  if (!form) return;
  var all = document.getElementById("select-all");
  var button = form.querySelector("button[type=submit]");
  var boxes = function () {
    return document.querySelectorAll("input[name=profile][form=list-add]");
  };
  var update = function () {
    var ticked = Array.prototype.filter.call(boxes(), function (b) { return b.checked; });
    button.disabled = ticked.length === 0;
    button.textContent = ticked.length ? "Add " + ticked.length + " to list" : "Add to list";
  };
  if (all) {
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
      update();
    });
  }
  boxes().forEach(function (b) { b.addEventListener("change", update); });
  update();
})();
