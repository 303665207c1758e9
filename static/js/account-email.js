// E-mail addresses page (allauth): confirm before removing an address.
(function () {
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[name='action_remove']");
    if (button && !window.confirm("Do you really want to remove the selected e-mail address?")) {
      event.preventDefault();
    }
  });
})();
