// Recovery codes page (allauth): select and copy the codes on click; warn before
// leaving until "I have saved my recovery codes" is ticked (when shown once).
(function () {
  const warn = function (event) { event.preventDefault(); };
  const saved = document.getElementById("codes_saved");
  if (saved) {
    window.addEventListener("beforeunload", warn);
    saved.addEventListener("change", function () {
      if (saved.checked) window.removeEventListener("beforeunload", warn);
      else window.addEventListener("beforeunload", warn);
    });
  }
  const codes = document.getElementById("recovery_codes");
  if (codes) {
    codes.addEventListener("click", function () {
      codes.select();
      if (navigator.clipboard) navigator.clipboard.writeText(codes.value).catch(function () {});
    });
  }
})();
