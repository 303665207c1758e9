// Routing and SLA set-up pages: add formset rows, show the inputs the chosen rule action needs, confirm deletions.
(function () {
  // <button data-add-row="PREFIX"> copies <template id="PREFIX-template"> into <tbody data-rows="PREFIX">,
  // keeping the formset's TOTAL_FORMS right.
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

  // A rule form shows the person, queue and threshold inputs only for the actions that use them;
  // an input with an error stays visible whatever the action.
  function showActionFields() {
    const select = document.getElementById("id_action_type");
    if (!select) return;
    document.querySelectorAll("[data-for-action]").forEach(function (field) {
      const wanted = field.dataset.forAction.split(" ").indexOf(select.value) !== -1;
      field.hidden = !wanted && !field.classList.contains("has-error");
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.id === "id_action_type") showActionFields();
  });

  // Forms that delete something ask first: <form data-confirm="Delete …?">.
  document.addEventListener("submit", function (event) {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-add-row]").forEach(function (button) {
      button.hidden = false;
    });
    showActionFields();
  });
})();
