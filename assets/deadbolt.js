// Deadbolt's only script: copy buttons. Everything else works without JavaScript.
// A button with data-copy="#id" copies that element's text (a list: one item per line).
(function () {
  "use strict";
  function textOf(element) {
    var items = element.querySelectorAll("li");
    if (items.length) {
      return Array.prototype.map.call(items, function (li) { return li.textContent.trim(); }).join("\n");
    }
    return element.textContent.trim();
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (!navigator.clipboard) { return; }
    document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      var target = document.querySelector(button.getAttribute("data-copy"));
      if (!target) { return; }
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(textOf(target)).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = label; }, 2000);
        }, function () {
          button.textContent = "Copy failed: select the text instead";
        });
      });
    });
  });
})();
