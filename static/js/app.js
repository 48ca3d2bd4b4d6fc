/* Artifact Store: small progressive enhancements. Every page also works without this file. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  /* Tree rows: htmx fetches a node's children on its first click ("click once"); this only
     shows or hides the list, so collapsing (and re-opening) never makes a request. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-tree-toggle]");
    if (!button) return;
    var list = document.getElementById(button.getAttribute("aria-controls"));
    if (!list) return;
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    list.hidden = !open;
  });

  /* "Show more" replaces itself with the next rows: keep keyboard focus on the first new row. */
  var rowBeforeMore = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    rowBeforeMore = target && target.matches("li.more") ? target.previousElementSibling : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!rowBeforeMore) return;
    var first = rowBeforeMore.nextElementSibling;
    var link = first && first.querySelector(".node-link");
    if (link) link.focus();
    rowBeforeMore = null;
  });

  /* JSON data fields: say while typing whether the text is a JSON object. The server still
     checks everything; this is only a hint. */
  function checkJson(textarea) {
    var out = document.getElementById(textarea.id + "-live");
    if (!out) return;
    var text = textarea.value.trim();
    var problem = null;
    if (text) {
      try {
        var value = JSON.parse(text);
        if (value === null || typeof value !== "object" || Array.isArray(value)) {
          problem = "The data must be a JSON object: { \"key\": value, … }.";
        } else {
          out.textContent = "Valid JSON object with " + Object.keys(value).length + " key(s).";
        }
      } catch (error) {
        problem = "Not valid JSON yet: " + error.message;
      }
    } else {
      out.textContent = "";
    }
    if (problem) out.textContent = problem;
    out.classList.toggle("live-error", Boolean(problem));
    out.classList.toggle("live-ok", Boolean(text) && !problem);
  }

  /* "Add a row" in key/value mode: a new empty row in place, with the focus in its key.
     Without this script the button posts the form and the server adds the row. The new
     row takes the next free index: the server reads rows in index order, gaps allowed. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-add-row]");
    if (!button) return;
    var rows = button.form && button.form.querySelectorAll(".kv-row");
    if (!rows || !rows.length) return;
    event.preventDefault();
    var next = 0;
    button.form.querySelectorAll("[name^='rows-']").forEach(function (field) {
      next = Math.max(next, Number(field.name.split("-")[1]) + 1);
    });
    var last = rows[rows.length - 1];
    var row = last.cloneNode(true);
    row.className = "kv-row";
    row.querySelectorAll(".error").forEach(function (message) { message.remove(); });
    var labels = { key: "Key ", kind: "Type of row ", value: "Value " };
    row.querySelectorAll("input, select, textarea").forEach(function (field) {
      var part = field.name.split("-").slice(2).join("-");
      field.name = field.id = "rows-" + next + "-" + part;
      ["aria-invalid", "aria-describedby", "autofocus"].forEach(function (name) { field.removeAttribute(name); });
      if (labels[part]) field.setAttribute("aria-label", labels[part] + (rows.length + 1));
      if (field.tagName === "SELECT") {
        field.value = field.getAttribute("data-default") || field.options[0].value;
      } else {
        field.removeAttribute("value");
        field.textContent = "";
        field.value = "";
      }
    });
    last.after(row);
    row.querySelector("input").focus();
  });

  var timer = null;
  document.addEventListener("input", function (event) {
    var textarea = event.target;
    if (!textarea.matches || !textarea.matches("textarea[data-json-check]")) return;
    clearTimeout(timer);
    timer = setTimeout(function () { checkJson(textarea); }, 250);
  });
})();
