// The job dashboard fetches its panels again every few seconds and swaps them in, without reloading the page.
"use strict";
(function () {
  const panels = document.getElementById("oban-dashboard");
  if (!panels) return;
  const seconds = Number(panels.dataset.refresh) || 5;

  async function refresh() {
    if (document.hidden) return;
    const url = new URL(window.location.href);
    url.searchParams.set("panels", "1");
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.redirected) {
        window.location.reload(); // logged out: show the login page
      } else if (response.ok) {
        panels.innerHTML = await response.text();
      }
    } catch (error) {
      // The server is unreachable: keep the last panels, try again on the next tick.
    }
  }

  window.setInterval(refresh, seconds * 1000);
})();
