// Release Portal: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Buttons that ask before acting: <button data-confirm="Really?">. Works for plain
  // forms; htmx requests use hx-confirm, which htmx handles itself.
  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    const question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // A double click must not send a form twice: disable the submit button while the
  // request is in flight (the server refuses duplicates anyway).
  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    if (button && !event.defaultPrevented && !button.hasAttribute("hx-post")) {
      window.setTimeout(function () { button.disabled = true; }, 0);
    }
  });

  // Copy-to-clipboard buttons: <button data-copy="#element-id">.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    }
  });

  // Keep a live log scrolled to the bottom while new lines arrive, unless the reader
  // scrolled up to read.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const log = event.detail.target && event.detail.target.closest(".log");
    if (log) {
      log.dataset.follow = String(log.scrollTop + log.clientHeight >= log.scrollHeight - 8);
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    const log = event.detail.target && event.detail.target.closest(".log");
    if (log && log.dataset.follow !== "false") {
      log.scrollTop = log.scrollHeight;
    }
  });
})();
