// Easel gallery: the Reveal buttons of NSFW images, and live updates of a
// pending generation's page. No dependencies; served from /static/.
"use strict";

// A Reveal button's tile or figure carries the blur until it is pressed; it
// then reads "Hide". Its label says what pressing it does, so it is no
// aria-pressed toggle, whose label must not change.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.reveal");
  if (!button) return;
  const revealed = button.closest(".nsfw").classList.toggle("revealed");
  button.querySelector(".reveal-label").textContent = revealed ? "Hide" : "Reveal";
});

// A pending generation's page polls its state and reloads when the status
// changes, so that the server renders the new timeline and images, and when
// fal's status of the request or its queue position does, which may be all
// that changes for minutes while fal holds it. Smaller changes (a webhook
// noted, a submit retried) wait for that reload: each reload loses focus,
// open details and revealed images. It polls only while the tab is visible,
// and stops for good once signed out. Errors back off, up to half a minute
// between attempts.
(() => {
  const page = document.querySelector("[data-poll]");
  if (!page) return;
  const url = page.dataset.poll;
  const status = page.dataset.status;
  // What fal said as the page shows it, "" for nothing. Compared only when
  // both sides have it: a page or a server without it would reload forever.
  const { falStatus, falQueuePosition } = page.dataset;
  const falChanged = (state) =>
    falStatus !== undefined && "fal_status" in state &&
    (String(state.fal_status ?? "") !== falStatus || String(state.fal_queue_position ?? "") !== falQueuePosition);
  const live = document.querySelector(".live");
  const initialDelay = 1000;
  let delay = initialDelay;
  let timer = 0;
  let stopped = false;
  let inFlight = false;

  const schedule = () => {
    window.clearTimeout(timer);
    if (!stopped && document.visibilityState === "visible") timer = window.setTimeout(poll, delay);
  };

  const poll = async () => {
    timer = 0;
    inFlight = true;
    try {
      const response = await fetch(url, { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 401) {
        stopped = true;
        if (live) live.textContent = "Signed out: reload to sign in.";
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const state = await response.json();
      if (state.status !== status || state.terminal || falChanged(state)) {
        stopped = true;
        window.location.reload();
        return;
      }
      delay = initialDelay;
    } catch (err) {
      delay = Math.min(delay * 2, 30000);
    } finally {
      inFlight = false;
    }
    schedule();
  };

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") {
      window.clearTimeout(timer);
      return;
    }
    // Back in view: catch up at once rather than after the last back-off.
    delay = initialDelay;
    window.clearTimeout(timer);
    if (!stopped && !inFlight) poll();
  });
  schedule();
})();
