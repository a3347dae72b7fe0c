// The job page's log: grouped into phases (each "info" line starts one) that fold, and
// searchable. Without this file the log is the same lines, flat. New lines from the live
// poll land at the end of the log; they are folded into the open phase as they arrive.
(function () {
  "use strict";

  // Each "info" line heads a phase: it becomes the <summary> of a <details> holding the
  // lines after it, so a folded phase still shows what it was.
  function group(log) {
    var current = log.querySelector("details.log-phase:last-of-type .log-phase-body");
    var loose = Array.prototype.filter.call(log.children, function (el) {
      return el.classList.contains("line");
    });
    loose.forEach(function (line) {
      if (line.classList.contains("phase") || !current) {
        var details = document.createElement("details");
        details.className = "log-phase";
        details.open = true;
        var summary = document.createElement("summary");
        summary.className = "log-phase-head";
        details.appendChild(summary);
        current = document.createElement("div");
        current.className = "log-phase-body";
        details.appendChild(current);
        log.appendChild(details);
        if (line.classList.contains("phase")) {
          summary.appendChild(line);
          return;
        }
        summary.textContent = "output";
      }
      current.appendChild(line);
    });
    log.querySelectorAll("details.log-phase").forEach(function (details) {
      var count = details.querySelectorAll(".log-phase-body .line").length;
      var failed = details.querySelector(".line.error, .line.stderr") !== null;
      details.classList.toggle("log-phase-failed", failed);
      details.classList.toggle("log-phase-empty", count === 0);
      details.querySelector("summary").dataset.count = count ? count + " line(s)" : "";
    });
  }

  // "Collapse all" and "Expand all" only where a phase has lines to fold: a log of
  // one-line phases (a backup's) has nothing they could do.
  function showFolds(log, tools) {
    var foldable = log.querySelector("details.log-phase:not(.log-phase-empty)") !== null;
    tools.querySelectorAll("[data-log-fold]").forEach(function (button) {
      button.hidden = !foldable;
    });
  }

  // Lines that match stay, with the head of their phase; the rest hide until cleared.
  function search(log, input, counter) {
    var needle = input.value.trim().toLowerCase();
    var hits = 0;
    log.querySelectorAll("details.log-phase").forEach(function (details) {
      var head = details.querySelector("summary .line");
      var found = false;
      details.querySelectorAll(".line").forEach(function (line) {
        var match = Boolean(needle) && line.textContent.toLowerCase().indexOf(needle) !== -1;
        line.classList.toggle("log-hit", match);
        line.hidden = Boolean(needle) && !match && line !== head;
        if (match) { hits += 1; found = true; }
      });
      details.hidden = Boolean(needle) && !found;
      if (needle && found) details.open = true;
    });
    counter.textContent = needle ? hits + " matching line(s)" : "";
  }

  function setUp() {
    var log = document.querySelector("[data-job-log]");
    var tools = document.querySelector("[data-log-tools]");
    if (!log || !tools) return;
    tools.hidden = false;
    var input = tools.querySelector("[data-log-search]");
    var counter = tools.querySelector("[data-log-count]");
    group(log);
    showFolds(log, tools);
    input.addEventListener("input", function () { search(log, input, counter); });
    tools.querySelectorAll("[data-log-fold]").forEach(function (button) {
      button.addEventListener("click", function () {
        var open = button.getAttribute("data-log-fold") === "open";
        log.querySelectorAll("details.log-phase").forEach(function (d) { d.open = open; });
      });
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target === log) {
        group(log);
        showFolds(log, tools);
        if (input.value) search(log, input, counter);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
