// Import upload: refuse a file over the size limit before sending it, rather than after.
(function () {
  function size(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }
  document.addEventListener("change", function (event) {
    const input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) return;
    const form = input.closest("form");
    const notice = form && form.querySelector("[data-size-error]");
    const file = input.files && input.files[0];
    let message = "";
    if (file && file.size > Number(input.dataset.maxBytes)) {
      message = "This file is " + size(file.size) + "; the largest file you can import is " +
        input.dataset.maxLabel + ". Split it into smaller files.";
    }
    input.setCustomValidity(message);
    if (notice) {
      notice.textContent = message;
      notice.hidden = !message;
    }
  });
})();
