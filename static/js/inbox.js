// SLA countdowns: every element with data-due (seconds since the epoch) shows
// the time left, ticking each second, and turns red once the clock has run out.
(function () {
  function span(ms) {
    let seconds = Math.floor(ms / 1000);
    const days = Math.floor(seconds / 86400);
    seconds -= days * 86400;
    const hours = Math.floor(seconds / 3600);
    seconds -= hours * 3600;
    const minutes = Math.floor(seconds / 60);
    seconds -= minutes * 60;
    if (days) return days + "d " + hours + "h";
    if (hours) return hours + "h " + minutes + "m";
    return minutes + "m " + String(seconds).padStart(2, "0") + "s";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (clock) {
      const due = Number(clock.dataset.due) * 1000;
      if (!due) return;
      const left = due - now;
      const text = left >= 0 ? span(left) + " left" : "overdue by " + span(-left);
      if (clock.textContent !== text) clock.textContent = text;
      clock.classList.toggle("inbox-overdue", left < 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
  // Cards swapped in by htmx (an accepted lead joining "awaiting first touch") tick at once.
  document.addEventListener("htmx:afterSettle", tick);
})();
