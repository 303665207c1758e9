// Duplicate review: "Take all from A / B" ticks that side for every differing field.
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-take-all]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        const side = button.dataset.takeAll;
        button.form.querySelectorAll('input[type=radio][data-side="' + side + '"]').forEach(function (input) {
          input.checked = true;
        });
      });
    });
  });
})();
