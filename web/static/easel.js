// Easel gallery: the Reveal buttons of NSFW images, and live updates of a
// pending generation's page. No dependencies; served from /static/.
"use strict";

// A Reveal button is a toggle (aria-pressed); its tile or figure carries the
// blur until it is pressed.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.reveal");
  if (!button) return;
  const pressed = button.getAttribute("aria-pressed") !== "true";
  button.setAttribute("aria-pressed", String(pressed));
  button.closest(".nsfw").classList.toggle("revealed", pressed);
});

// A pending generation's page polls its state and reloads when the state's
// version changes, so that the server renders the new timeline and images.
// Errors back off, up to half a minute between attempts.
(() => {
  const page = document.querySelector("[data-poll]");
  if (!page) return;
  const url = page.dataset.poll;
  const version = page.dataset.version;
  let delay = 1000;

  const poll = async () => {
    try {
      const response = await fetch(url, { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const state = await response.json();
      if (state.version !== version) {
        window.location.reload();
        return;
      }
      delay = 1000;
    } catch (err) {
      delay = Math.min(delay * 2, 30000);
    }
    window.setTimeout(poll, delay);
  };
  window.setTimeout(poll, delay);
})();
