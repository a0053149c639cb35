// Fill host, port and security from the relay settings of the chosen kind (providers/presets.py,
// passed in the kind select's data-presets attribute). The server applies the same presets
// when the host is left empty, so this is only a convenience.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const kind = document.getElementById("id_kind");
  if (!kind || !kind.dataset.presets) {
    return;
  }
  const presets = JSON.parse(kind.dataset.presets);
  kind.addEventListener("change", function () {
    const preset = presets[kind.value];
    if (!preset) {
      return;
    }
    for (const name of ["host", "port", "security"]) {
      const field = document.getElementById("id_" + name);
      if (field) {
        field.value = preset[name];
      }
    }
  });
});
