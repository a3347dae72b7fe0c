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

  // One menu open at a time in the top bar: the folded navigation (the "Menu" checkbox)
  // and the person's menu (<details class="menu">) opened over each other on a phone.
  document.addEventListener("change", function (event) {
    if (event.target.id !== "nav-open" || !event.target.checked) return;
    document.querySelectorAll(".topbar details.menu[open]").forEach(function (menu) {
      menu.open = false;
    });
  });
  document.addEventListener("toggle", function (event) {  // "toggle" does not bubble
    const menu = event.target;
    if (!menu.matches || !menu.matches(".topbar details.menu") || !menu.open) return;
    const nav = document.getElementById("nav-open");
    if (nav) nav.checked = false;
  }, true);

  // Copy-to-clipboard buttons: <button data-copy="#element-id">. Where the browser keeps
  // the clipboard from the page (a portal on plain http at a host name, a refused
  // permission) the text is selected instead, for the reader to copy themselves: the
  // button never does nothing.
  function selectForCopy(button, source) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: copy it (Ctrl+C)";
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    if (!navigator.clipboard) {
      selectForCopy(button, source);
      return;
    }
    navigator.clipboard.writeText(source.textContent.trim()).then(
      function () { button.textContent = "Copied"; },
      function () { selectForCopy(button, source); }
    );
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
  // --- htmx errors: shown in place, never as a new document ---------------------------
  // A 4xx/5xx answer marked X-Portal-Fragment is a panel made for its target (a form with
  // its error): swap it as usual. Any other error answer (Django's error pages, the debug
  // page, a proxy's 502) becomes a message in the panel that asked, or at the top.
  function errorText(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    const body = xhr.responseText || "";
    if (type.indexOf("application/json") === 0) {
      try {
        const data = JSON.parse(body);
        return String(data.detail || data.error || data.message || "");
      } catch (e) { /* fall through */ }
    }
    if (type.indexOf("text/html") === 0 && body) {
      const doc = new DOMParser().parseFromString(body, "text/html");
      // Most telling first: our error pages' message, Django's debug page's exception.
      const selectors = ["[data-error-message]", ".exception_value", "main .msg-error",
        "main .errorlist", "main p", "h1", "title"];
      for (let i = 0; i < selectors.length; i++) {
        const found = doc.querySelector(selectors[i]);
        if (found && found.textContent.trim()) return found.textContent.trim().slice(0, 500);
      }
    }
    if (type.indexOf("text/plain") === 0 && body) return body.trim().slice(0, 500);
    return "";
  }

  // "Sign in again" (a 401 from release_portal.accounts.middleware, whose header is the
  // sign-in page's address): a link that comes back to this page, not to the refused action.
  function signInLink(loginUrl) {
    if (!loginUrl) return null;
    const link = document.createElement("a");
    link.href = loginUrl + "?next=" +
      encodeURIComponent(window.location.pathname + window.location.search);
    link.textContent = "Sign in again";
    return link;
  }

  function showError(origin, text, link) {
    // The checklist item that asked (a part of its section), else its panel.
    const panel = origin && origin.closest
      ? origin.closest("li[data-live-part], [data-live], .card") : null;
    let area = panel ? panel.querySelector(
      ":scope > .panel-error, :scope .card > .panel-error, :scope .item-text > .panel-error") : null;
    if (!area && panel) {
      area = document.createElement("p");
      area.className = "msg msg-error panel-error";
      area.setAttribute("role", "alert");
      const head = panel.querySelector(".card-head, h2");
      const itemText = panel.querySelector(":scope .item-text");
      if (itemText) itemText.appendChild(area);  // where the item's own errors show
      else if (head && head.parentNode) head.parentNode.insertBefore(area, head.nextSibling);
      else panel.insertBefore(area, panel.firstChild);
    }
    if (!area) {
      area = document.getElementById("page-alert");
      if (!area) {
        area = document.createElement("div");
        area.id = "page-alert";
        area.className = "page-alert";
        area.setAttribute("role", "alert");
        const main = document.getElementById("main") || document.body;
        main.insertBefore(area, main.firstChild);
      }
      area.innerHTML = "";
      const p = document.createElement("p");
      p.className = "msg msg-error";
      area.appendChild(p);
      area = p;
    }
    area.textContent = text;
    if (link) { area.appendChild(document.createTextNode(" ")); area.appendChild(link); }
    area.scrollIntoView({ block: "nearest" });
  }

  // A fragment (not a document) whose root is the element it replaces: a panel answering
  // with its own error, e.g. a form that did not validate.
  function madeFor(xhr, target) {
    const body = (xhr.responseText || "").trimStart();
    if (!target || !target.id || !body || /^<(!doctype|html)/i.test(body)) return false;
    const template = document.createElement("template");
    template.innerHTML = body;
    const root = template.content.firstElementChild;
    return Boolean(root && root.id === target.id);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    const xhr = event.detail.xhr;
    if (!xhr || xhr.status < 400) return;
    if (xhr.getResponseHeader("X-Portal-Fragment") === "1" || madeFor(xhr, event.detail.target)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
      return;
    }
    event.detail.shouldSwap = false;
    const text = errorText(xhr) || ("The portal answered " + xhr.status + ".");
    showError(event.detail.requestConfig && event.detail.requestConfig.elt, text,
      xhr.status === 401 ? signInLink(xhr.getResponseHeader("X-Portal-Signed-Out")) : null);
  });
  document.addEventListener("htmx:sendError", function (event) {
    showError(event.detail.elt, "The portal could not be reached. Nothing was changed; try again.");
  });

  // --- One truth on the release page ---------------------------------------------------
  // Every [data-live] element is a panel; after any change (an htmx answer's
  // "release-changed" event, or the revision poll seeing someone else's or a worker's
  // change) the page fetches itself and swaps the panels that differ. A panel holding a
  // form the reader has started is kept, with "changed since you opened this form".
  const live = document.getElementById("release-live");
  if (!live) return;
  let revision = live.dataset.revision || "";
  const revisionUrl = live.dataset.revisionUrl;
  let busy = false;
  let again = false;
  let held = false;

  function touched(form) { form.dataset.touched = "1"; }
  document.addEventListener("input", function (event) {
    const form = event.target.closest && event.target.closest("#release-live form");
    if (form) touched(form);
  });
  // A reader opening a form's <details> (a click on its summary) has started that form;
  // closing it again lets the panel refresh.
  document.addEventListener("click", function (event) {
    const summary = event.target.closest && event.target.closest("#release-live summary");
    if (!summary) return;
    const details = summary.parentElement;
    if (!details || details.tagName !== "DETAILS" || details.classList.contains("section")) return;
    const inside = Array.prototype.slice.call(details.querySelectorAll("form"));
    const forms = inside.length ? inside : [details.closest("form")].filter(Boolean);
    if (!details.open) {
      forms.forEach(touched);
    } else {
      forms.forEach(function (f) { delete f.dataset.touched; });
      if (held) window.setTimeout(refresh, 0);
    }
  });

  function holdsForm(unit) {
    if (unit.querySelector("form[data-touched]")) return true;
    const active = document.activeElement;
    return Boolean(active && unit.contains(active) && active.form &&
      (active.tagName === "TEXTAREA" || (active.tagName === "INPUT" &&
        ["text", "password", "url", "file"].indexOf(active.type) >= 0)));
  }

  // A form that approves what its reader sees (a sign-off, a waiver's approval) carries
  // the digest they are looking at (seen_digest): a refresh never swaps in another one
  // under them, whether or not they started typing. Forms pair up by their
  // data-keeps-seen name; the answer is the reader's form whose digest moved, if any.
  function seenMoved(old, next) {
    const mine = Array.prototype.slice.call(old.querySelectorAll("form[data-keeps-seen]"));
    const fresh = Array.prototype.slice.call(next.querySelectorAll("form[data-keeps-seen]"));
    for (let i = 0; i < mine.length; i++) {
      const name = mine[i].getAttribute("data-keeps-seen");
      const twin = fresh.filter(function (f) { return f.getAttribute("data-keeps-seen") === name; })[0];
      const was = mine[i].querySelector("input[name=seen_digest]");
      const now = twin && twin.querySelector("input[name=seen_digest]");
      if (was && now && was.value !== now.value) return mine[i];
    }
    return null;
  }

  function markChanged(unit, moved) {
    if (unit.querySelector(".changed-notice")) return;
    const note = document.createElement("p");
    note.className = "msg msg-warning changed-notice";
    note.setAttribute("role", "status");
    note.appendChild(document.createTextNode("Changed since you opened this form. "));
    const link = document.createElement("a");
    link.href = live.dataset.changesUrl || "#files";
    link.textContent = "See what changed";
    note.appendChild(link);
    const form = moved || unit.querySelector("form[data-touched]") || unit.querySelector("form");
    (form || unit).insertBefore(note, (form || unit).firstChild);
  }

  // Each render masks the CSRF token differently, and what the reader opened or started
  // (open details, a touched form) is theirs: neither is a change.
  function normal(node) {
    return node.outerHTML
      .replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "")
      .replace(/ (open|data-touched)="[^"]*"/g, "");
  }
  function same(a, b) { return normal(a) === normal(b); }

  // What an htmx answer just said in a panel ("Queued Migration order #3.", an item's
  // "Already done by lead at 10:02", "The portal answered 500") stays a while through the
  // refreshes that follow it: the person who lost a race is told who won, not shown the
  // winner's tick alone a second later.
  const NOTICE_SECONDS = 20;
  const NOTICES = '.msg[role="status"]:not(.changed-notice), .panel-error, ' +
    'li[data-live-part] .msg-error[role="alert"]';
  function keepNotices(old, node) {
    const now = Date.now();
    old.querySelectorAll(NOTICES).forEach(function (msg) {
      const since = Number(msg.dataset.shownAt || now);
      if (now - since > NOTICE_SECONDS * 1000) return;
      const copy = msg.cloneNode(true);
      copy.dataset.shownAt = String(since);
      // An item's message goes back into that item, where its own errors show.
      const item = msg.closest("li[data-live-part][id]");
      if (item) {
        const twin = item === old ? node : node.querySelector("#" + CSS.escape(item.id));
        const text = twin && twin.querySelector(".item-text");
        if (text) text.appendChild(copy);
        return;
      }
      const head = node.querySelector(".card-head");
      if (head && head.parentNode) head.parentNode.insertBefore(copy, head.nextSibling);
      else node.insertBefore(copy, node.firstChild);
    });
  }

  // What the reader opened or ticked to read the panel (a folded list's <details>, the
  // timeline's "show job starts and ends") stays as they left it: a refresh changes the
  // facts, not the reader's view of them. Form fields are not choices of this kind.
  function keepReaderChoices(old, node) {
    old.querySelectorAll("details[id]").forEach(function (was) {
      const now = node.querySelector("details#" + CSS.escape(was.id));
      if (now && !was.classList.contains("section")) now.open = was.open;
    });
    old.querySelectorAll('input[type="checkbox"][id]:not([name])').forEach(function (was) {
      const now = node.querySelector('input[type="checkbox"]#' + CSS.escape(was.id));
      if (now && !now.name) now.checked = was.checked;
    });
  }

  function replace(old, next) {
    const node = document.importNode(next, true);
    keepNotices(old, node);
    keepReaderChoices(old, node);
    old.replaceWith(node);
    if (window.htmx) window.htmx.process(node);
  }

  // A panel made of parts ([data-live-part][id]: a checklist section's heading and its
  // items) whose reader holds a form in one part, or sees a form whose digest moved, still
  // follows in the others: they swap one by one around the held one, which alone says
  // "changed since you opened this form", and only if it did change. Answers whether a
  // changed part was held.
  function swapParts(old, next) {
    let kept = false;
    old.querySelectorAll("[data-live-part][id]").forEach(function (was) {
      const now = next.querySelector("#" + CSS.escape(was.id));
      if (!now || same(was, now)) return;
      const moved = seenMoved(was, now);
      if (holdsForm(was) || moved) {
        kept = true;
        markChanged(was, moved);
        return;
      }
      replace(was, now);
    });
    old.className = next.className;
    if (next.dataset.settled !== undefined) old.dataset.settled = next.dataset.settled;
    return kept;
  }

  function swapUnits(fresh) {
    held = false;
    fresh.querySelectorAll("[data-live][id]").forEach(function (next) {
      const old = document.getElementById(next.id);
      if (!old || !live.contains(old)) return;
      if (same(old, next)) return;
      const moved = seenMoved(old, next);
      if (!moved && !holdsForm(old)) {
        if (old.tagName === "DETAILS" && old.dataset.settled === next.dataset.settled) {
          next.open = old.open;  // the reader's own toggling stays
        }
        replace(old, next);
      } else if (old.querySelector("[data-live-part][id]")) {
        if (swapParts(old, next)) held = true;
      } else {
        held = true;
        markChanged(old, moved);
      }
    });
  }

  // Live updates that fail are said at the top of the page, and the note goes when they
  // work again: one failed poll is a blip, two in a row (3 s) leave the page out of date.
  // A session that ended is said at once, with the way back. The poll keeps its pace.
  let failures = 0;
  function liveProblem(text, link) {
    let note = document.getElementById("live-problem");
    if (!text) { if (note) note.remove(); return; }
    if (note && note.dataset.text === text) return;
    if (!note) {
      note = document.createElement("p");
      note.id = "live-problem";
      note.className = "msg msg-warning";
      note.setAttribute("role", "status");
      live.insertBefore(note, live.firstChild);
    }
    note.dataset.text = text;
    note.textContent = text;
    if (link) { note.appendChild(document.createTextNode(" ")); note.appendChild(link); }
  }
  function liveFailed(response) {
    if (response && response.status === 401) {
      liveProblem("Your session has ended (you signed out in another tab, or it expired): " +
        "this page no longer follows the release's changes.",
        signInLink(response.headers.get("X-Portal-Signed-Out")));
      return;
    }
    failures += 1;
    if (failures < 2) return;
    const why = response ? "the portal answered " + response.status : "the portal could not be reached";
    liveProblem("Live updates paused (" + why + "): this page may be out of date. " +
      "It tries again every few seconds.");
  }
  function liveWorks() { failures = 0; liveProblem(""); }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.pathname + window.location.search, {
      credentials: "same-origin",
      headers: { "X-Portal-Refresh": "1" },
    }).then(function (response) {
      if (!response.ok) { liveFailed(response); return null; }
      return response.text();
    }).then(function (html) {
      if (html === null) return;
      const doc = new DOMParser().parseFromString(html, "text/html");
      const fresh = doc.getElementById("release-live");
      if (!fresh) { liveFailed(null); return; }
      liveWorks();
      swapUnits(fresh);
      const moved = Boolean(fresh.dataset.revision) && fresh.dataset.revision !== revision;
      revision = fresh.dataset.revision || revision;
      live.dataset.revision = revision;
      // Panels loaded by their own request (the analysis card) follow every new
      // revision, whoever made it: the reader's answer, another person, a worker.
      if (moved) document.body.dispatchEvent(new CustomEvent("release-refreshed"));
    }).catch(function () { liveFailed(null); }).finally(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  function poll() {
    if (document.hidden || !revisionUrl) return;
    fetch(revisionUrl + "?known=" + encodeURIComponent(revision), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      // 204: the page is up to date. A new revision is fine only once its refresh is.
      if (response.status === 204) liveWorks();
      if (response.status === 200) return response.json();
      if (response.status !== 204) liveFailed(response);
      return null;
    }).then(function (data) {
      if (data && String(data.revision) !== revision) refresh();
    }).catch(function () { liveFailed(null); });  // offline: the next poll tries again
  }

  document.addEventListener("release-changed", refresh);
  document.addEventListener("htmx:afterRequest", function (event) {
    const verb = event.detail.requestConfig && event.detail.requestConfig.verb;
    if (!verb || verb === "get") return;
    // An answer that announced "release-changed" has started its refresh already: a poll
    // now would see the new revision before that refresh lands and fetch the page twice.
    const xhr = event.detail.xhr;
    const trigger = (xhr && xhr.getResponseHeader("HX-Trigger")) || "";
    if (trigger.indexOf("release-changed") === -1) poll();
  });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
  window.setInterval(poll, 1500);
})();
