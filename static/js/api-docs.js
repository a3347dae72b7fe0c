// Starts the vendored Swagger UI on /api/docs. Kept in a file (not inline) so the page
// runs under the portal's Content-Security-Policy; the schema URL comes from a data-
// attribute. validatorUrl is off: the page never talks to anything but the portal.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    persistAuthorization: false,
    defaultModelsExpandDepth: 0,
    docExpansion: "list",
  });
})();
