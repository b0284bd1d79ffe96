// Refreshes the supervision page by itself and sends the operators' actions (plain fetch, no library, no CDN).
(function () {
  "use strict";
  var contenu = document.getElementById("contenu");
  var maj = document.getElementById("maj");
  var periode = parseFloat(maj.getAttribute("data-rafraichissement")) || 5;

  function rafraichir() {
    return fetch("fragment", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (html) {
        contenu.innerHTML = html;
        maj.textContent = "Mis à jour à " + new Date().toLocaleTimeString("fr-FR") + " (toutes les " + periode + " s).";
      })
      .catch(function (e) { maj.textContent = "Actualisation impossible : " + e.message; });
  }

  contenu.addEventListener("click", function (ev) {
    var bouton = ev.target.closest("button[data-action]");
    if (!bouton) { return; }
    var id = bouton.getAttribute("data-id"), action = bouton.getAttribute("data-action");
    bouton.disabled = true;
    // The custom header is the CSRF guard: the server refuses actions without it.
    fetch("api/lettres-mortes/" + encodeURIComponent(id) + "/" + action, {
      method: "POST", credentials: "same-origin", headers: { "X-GRD-Action": action }
    })
      .then(function (r) { return r.json().then(function (corps) { return { ok: r.ok, corps: corps }; }); })
      .then(function (res) {
        var texte = res.ok ? "Lettre " + id + " : " + res.corps.etat : "Refusé : " + (res.corps.detail || "erreur");
        return rafraichir().then(function () {
          var message = document.getElementById("message-action");
          if (message) { message.textContent = texte; }
        });
      });
  });

  setInterval(rafraichir, periode * 1000);
})();
