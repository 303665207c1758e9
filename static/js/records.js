// Records pages: row selection and bulk actions on lists.
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

  document.addEventListener("DOMContentLoaded", function () {
    updateSelection();
    updateAction();
  });
})();
