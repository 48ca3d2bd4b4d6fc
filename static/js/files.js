// Uploads of an artifact's Files section, with a progress bar. XMLHttpRequest, because it
// reports the upload's progress (fetch does not); the answer is the section's new HTML,
// rendered and escaped by the server, which replaces the old one. Without JavaScript the
// form posts normally and the page reloads.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("[data-files-upload]")) return;
  event.preventDefault();
  const progress = form.querySelector("progress");
  const status = form.querySelector(".upload-status");
  const button = form.querySelector("button[type=submit]");
  const request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.setRequestHeader("HX-Request", "true"); // answer with the section, not a redirect
  request.upload.addEventListener("progress", (progressEvent) => {
    if (!progressEvent.lengthComputable) return;
    progress.value = Math.round((progressEvent.loaded / progressEvent.total) * 100);
    status.textContent = `${progress.value}% of ${(progressEvent.total / 1048576).toFixed(1)} MiB`;
  });
  const failed = (message) => {
    status.textContent = message;
    button.disabled = false;
  };
  request.addEventListener("load", () => {
    const holder = document.createElement("template");
    holder.innerHTML = request.responseText;
    const section = holder.content.querySelector("#files");
    if (!section) {
      failed(`Upload failed (${request.status}).`);
      return;
    }
    form.closest("#files").replaceWith(section);
    if (window.htmx) window.htmx.process(section); // its Preview and Delete buttons
  });
  request.addEventListener("error", () => failed("Upload failed: the connection broke."));
  progress.hidden = false;
  progress.value = 0;
  button.disabled = true;
  status.textContent = "Uploading…";
  request.send(new FormData(form));
});
