// Theme: light, dark or the system's, remembered in localStorage.
(function () {
  const root = document.documentElement;
  const saved = localStorage.getItem("revops-theme");
  if (saved) root.dataset.theme = saved;
  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-theme-toggle]");
    if (!toggle) return;
    const dark = root.dataset.theme === "dark" ||
      (root.dataset.theme === "auto" && window.matchMedia("(prefers-color-scheme: dark)").matches);
    root.dataset.theme = dark ? "light" : "dark";
    localStorage.setItem("revops-theme", root.dataset.theme);
  });
  // Copy-to-clipboard buttons: <button data-copy="#element-id">.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.value || source.textContent.trim());
      button.textContent = "Copied";
    }
  });
})();
