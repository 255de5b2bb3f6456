// Tessera console: the copy button of the one-time secret page. Nothing else needs script;
// every page works without it.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) {
    return;
  }
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById(button.getAttribute("data-status"));
  if (!field || !status) {
    return;
  }
  function copied() {
    // A fresh text each time, so that screen readers announce it again.
    status.textContent = "";
    window.setTimeout(function () {
      status.textContent = "Copied";
    }, 50);
  }
  function fallback() {
    field.focus();
    field.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    if (ok) {
      copied();
    } else {
      status.textContent = "Select the text and copy it with your keyboard";
    }
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(copied, fallback);
  } else {
    fallback();
  }
});
