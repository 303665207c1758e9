// Every page: the theme (light, dark or the system's, remembered), copy buttons, formset rows and
// delete confirmations.
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

  // Formset rows: <button data-add-row="PREFIX"> copies <template id="PREFIX-template"> into
  // <tbody data-rows="PREFIX">, keeping the formset's TOTAL_FORMS right. The button stays hidden
  // until this script runs, since without it the button would do nothing.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-add-row]");
    if (!button) return;
    const prefix = button.dataset.addRow;
    const total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    const max = document.getElementById("id_" + prefix + "-MAX_NUM_FORMS");
    const template = document.getElementById(prefix + "-template");
    const body = document.querySelector('[data-rows="' + prefix + '"]');
    if (!total || !template || !body) return;
    const index = parseInt(total.value, 10);
    if (max && index >= parseInt(max.value, 10)) return;
    const holder = document.createElement("tbody");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index));
    while (holder.firstElementChild) body.appendChild(holder.firstElementChild);
    total.value = String(index + 1);
    const first = body.lastElementChild && body.lastElementChild.querySelector("input, select");
    if (first) first.focus();
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-add-row]").forEach(function (button) {
      button.hidden = false;
    });
  });

  // Forms that delete something ask first: <form data-confirm="Delete …?">.
  document.addEventListener("submit", function (event) {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
