// Routing and SLA set-up pages: show the inputs the chosen rule action needs.
(function () {
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

  document.addEventListener("DOMContentLoaded", function () {
    showActionFields();
  });
})();
