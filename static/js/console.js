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

// The adjustment form by keyboard: a digit picks the n-th reason; Enter in a field submits
// once the preview of exactly these values says the adjustment is ready (never before).
(function () {
  "use strict";

  function form(element) {
    return element && element.closest ? element.closest("form[data-adjustment]") : null;
  }

  function values(adjustment) {
    return new URLSearchParams(new FormData(adjustment)).toString();
  }

  // Ask for a preview of what is in the form now, even if these values were previewed before.
  function preview(adjustment) {
    var fields = adjustment.querySelector("[hx-post][hx-include]");
    if (!fields || !window.htmx) return;
    adjustment.dataset.previewAgain = "1";
    window.htmx.trigger(fields, "change");
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.matches && target.matches("select[data-number-keys]") && /^[1-9]$/.test(event.key)) {
      var option = target.querySelectorAll("option:not([value=''])")[Number(event.key) - 1];
      if (!option) return;
      event.preventDefault();
      target.value = option.value;
      target.dispatchEvent(new Event("change", { bubbles: true }));
      return;
    }
    var adjustment = form(target);
    if (event.key !== "Enter" || !adjustment || target.tagName !== "INPUT") return;
    event.preventDefault();
    // Preview what is in the form now; the answer decides (see htmx:afterSwap below).
    adjustment.dataset.submitWhenReady = "1";
    preview(adjustment);
  });

  // The values each preview request was made of: a request made while another was in flight
  // is dropped (hx-sync), so an answer can be about older values than those now in the form.
  // Leaving a field without changing it asks for nothing: the preview shown is of these values,
  // and a new one would replace the submit button under a pointer on its way to click it.
  document.addEventListener("htmx:configRequest", function (event) {
    var adjustment = form(event.detail.elt);
    if (!adjustment || event.detail.elt === adjustment) return;
    var now = values(adjustment);
    var again = adjustment.dataset.previewAgain;
    delete adjustment.dataset.previewAgain;
    if (!again && adjustment.dataset.previewed === now) {
      event.preventDefault();
      return;
    }
    adjustment.dataset.previewed = now;
  });

  // A preview that never came back shows nothing of its values: the next change asks again.
  ["htmx:responseError", "htmx:sendError"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var adjustment = form(event.detail.elt);
      if (adjustment && event.detail.elt !== adjustment) delete adjustment.dataset.previewed;
    });
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    // An outerHTML swap: the event's target is the element replaced, so read the new one.
    if (!event.detail.target || event.detail.target.id !== "preview") return;
    var shown = document.getElementById("preview");
    var adjustment = form(shown);
    if (!adjustment) return;
    if (adjustment.dataset.previewed !== values(adjustment)) {
      // Stale: ask again once this request is done (htmx would drop it now), and decide on
      // that answer.
      window.setTimeout(function () { preview(adjustment); }, 0);
      return;
    }
    if (!adjustment.dataset.submitWhenReady) return;
    delete adjustment.dataset.submitWhenReady;
    var button = adjustment.querySelector("button[type=submit]");
    if (shown.hasAttribute("data-ready") && button && !button.disabled) adjustment.requestSubmit(button);
  });
})();

// "?" shows the keyboard shortcuts (outside text fields); the header's "?" button does too.
(function () {
  "use strict";

  function typing(element) {
    return element && (element.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(element.tagName));
  }

  function open() {
    var dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "?" && !typing(event.target)) {
      event.preventDefault();
      open();
    }
  });

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest && event.target.closest("[data-shortcuts-open], [data-shortcuts-close]");
    if (!trigger) return;
    if (trigger.hasAttribute("data-shortcuts-open")) open();
    else document.getElementById("shortcuts").close();
  });
})();
