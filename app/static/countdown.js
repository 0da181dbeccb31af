// Counts down the wait the server rendered into the code page ("You can ask
// for a new code in 27 s"), then enables the "send again" buttons. Without
// JavaScript they stay disabled until the page is reloaded; the server
// decides in either case, and refuses a code asked for too early.
(function () {
  "use strict";
  var hint = document.querySelector("[data-wait-seconds]");
  if (!hint) return;
  var left = parseInt(hint.getAttribute("data-wait-seconds"), 10) || 0;
  var counter = hint.querySelector("[data-countdown]");
  var status = document.querySelector("[data-ready-status]");

  function tick() {
    left -= 1;
    if (left > 0) {
      if (counter) counter.textContent = String(left);
      return;
    }
    clearInterval(timer);
    document.querySelectorAll("button[data-wait]").forEach(function (b) {
      b.disabled = false;
      b.removeAttribute("data-wait");
      b.removeAttribute("aria-describedby");
    });
    hint.hidden = true;
    if (status) status.textContent = "You can ask for a new code now.";
  }
  var timer = setInterval(tick, 1000);
})();
