// Records pages: row selection and bulk actions on lists, the rule editor, delete confirmations.
// Loaded as a static file (strict CSP: no inline scripts or handlers).
(function () {
  function bulkForm() { return document.querySelector("form[data-bulk]"); }

  function rowBoxes(form) { return Array.prototype.slice.call(form.querySelectorAll("input[name='ids']")); }

  // "N selected", and the "select all matching" box offered once every row of the page is ticked.
  function updateSelection() {
    const form = bulkForm();
    if (!form) return;
    const boxes = rowBoxes(form);
    const ticked = boxes.filter(function (box) { return box.checked; }).length;
    const allMatching = form.querySelector("[data-all-matching]");
    const label = form.querySelector("[data-selected-count]");
    const selectAll = document.querySelector("[data-select-all]");
    if (selectAll) {
      selectAll.checked = boxes.length > 0 && ticked === boxes.length;
      selectAll.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    if (allMatching) {
      const wrapper = allMatching.closest("label");
      const offer = boxes.length > 0 && ticked === boxes.length;
      if (!offer) allMatching.checked = false;
      if (wrapper) wrapper.hidden = !offer;
    }
    if (label) {
      label.textContent = allMatching && allMatching.checked
        ? "Every matching row is selected."
        : ticked ? ticked + " selected on this page." : "Tick rows to act on them.";
    }
  }

  // Show only the inputs the chosen action uses.
  function updateAction() {
    const form = bulkForm();
    if (!form) return;
    const action = form.querySelector("select[name='action']");
    if (!action) return;
    form.querySelectorAll("[data-bulk-for]").forEach(function (el) {
      el.hidden = el.dataset.bulkFor !== action.value;
    });
  }

  document.addEventListener("change", function (event) {
    const target = event.target;
    if (target.matches("[data-select-all]")) {
      const form = bulkForm();
      if (form) rowBoxes(form).forEach(function (box) { box.checked = target.checked; });
      updateSelection();
    } else if (target.matches("input[name='ids'], [data-all-matching]")) {
      updateSelection();
    } else if (target.matches("form[data-bulk] select[name='action']")) {
      updateAction();
    }
  });

  // Rule editor: add a condition row from the <template>, keeping the formset's TOTAL_FORMS right.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-add-condition]");
    if (!button) return;
    const prefix = button.dataset.prefix;
    const total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    const template = document.getElementById("condition-template");
    const body = document.querySelector("[data-conditions]");
    if (!total || !template || !body) return;
    const index = parseInt(total.value, 10);
    const max = document.getElementById("id_" + prefix + "-MAX_NUM_FORMS");
    if (max && index >= parseInt(max.value, 10)) return;
    const html = template.innerHTML.replace(/__prefix__/g, String(index));
    const holder = document.createElement("tbody");
    holder.innerHTML = html;
    while (holder.firstElementChild) body.appendChild(holder.firstElementChild);
    total.value = String(index + 1);
    const first = body.lastElementChild && body.lastElementChild.querySelector("select");
    if (first) first.focus();
  });

  // Forms that delete something ask first: <form data-confirm="Delete …?">.
  document.addEventListener("submit", function (event) {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    updateSelection();
    updateAction();
  });
})();
