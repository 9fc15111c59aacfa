// Keyboard choice of a search result: ↓/↑ move between results, Enter opens the focused one,
// Escape goes back to the search box. Loaded as a file: the console allows no inline script.
(function () {
  "use strict";

  function results() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-results] a.result"));
  }

  document.addEventListener("keydown", function (event) {
    var input = document.querySelector("[data-search-input]");
    if (!input) return;
    var items = results();
    var index = items.indexOf(document.activeElement);
    var inSearch = document.activeElement === input;
    if (!inSearch && index === -1) return;

    if (event.key === "ArrowDown" && items.length) {
      event.preventDefault();
      items[Math.min(index + 1, items.length - 1)].focus();
    } else if (event.key === "ArrowUp" && index !== -1) {
      event.preventDefault();
      if (index === 0) input.focus();
      else items[index - 1].focus();
    } else if (event.key === "Escape" && index !== -1) {
      event.preventDefault();
      input.focus();
    } else if (event.key === "Enter" && inSearch && items.length === 1) {
      // One match: open it rather than searching again.
      event.preventDefault();
      window.location.assign(items[0].href);
    }
  });

  // The search box has the focus as the page loads, so a quick typist can type before htmx
  // starts listening; search for whatever was typed by then. (htmx's own DOMContentLoaded
  // handler was registered first, so it has processed the page when this runs.)
  document.addEventListener("DOMContentLoaded", function () {
    var input = document.querySelector("[data-search-input]");
    if (input && window.htmx && input.value !== input.defaultValue) {
      window.htmx.trigger(input, "search");
    }
  });
})();
