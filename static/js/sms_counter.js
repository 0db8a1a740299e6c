// Live GSM-7 / UCS-2 indicator and segment count for an SMS body (same rules as
// channels/sms_encoding.py: 160/153 septets, extension characters count twice; 70/67 UTF-16
// units once any character is outside GSM-7).
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "^{}\\[~]|€\f";

  function segments(text) {
    var septets = 0;
    for (var ch of text) {
      if (BASIC.indexOf(ch) >= 0) { septets += 1; }
      else if (EXTENSION.indexOf(ch) >= 0) { septets += 2; }
      else { return ["UCS-2", count(text.length, 70, 67), text.length]; }
    }
    return ["GSM-7", count(septets, 160, 153), septets];
  }

  function count(units, single, part) {
    return units <= single ? 1 : Math.ceil(units / part);
  }

  var body = document.querySelector("[data-sms-counter]");
  var out = document.getElementById("sms-counter");
  if (!body || !out) { return; }
  function update() {
    var result = segments(body.value);
    out.textContent = result[0] + " · " + result[2] + " characters · " + result[1] +
      (result[1] === 1 ? " segment" : " segments") +
      (result[0] === "UCS-2" ? " (a character outside GSM-7 makes the whole message UCS-2)" : "");
  }
  body.addEventListener("input", update);
  update();
})();
