/* The demo landing page's analytics (capture/demo_views.py): Segment's analytics.js snippet
 * (a queue until the vendored analytics-next build loads; that script tag follows this one),
 * pointed at LeadFlow (`_cdn`: the settings and the SDK's lazy chunks come from LeadFlow, never
 * from cdn.segment.com), then page() for this page view. In a static file: LeadFlow's CSP
 * allows no inline script. The public key is in this tag's data-key. */
(function () {
  "use strict";
  var me = document.currentScript;
  var key = me && me.getAttribute("data-key");
  if (!key) return;
  var analytics = (window.analytics = window.analytics || []);
  if (analytics.initialize || analytics.invoked) return;
  analytics.invoked = true;
  analytics.methods = [
    "trackSubmit", "trackClick", "trackLink", "trackForm", "pageview", "identify", "reset",
    "group", "track", "ready", "alias", "debug", "page", "screen", "once", "off", "on",
    "addSourceMiddleware", "addIntegrationMiddleware", "setAnonymousId",
    "addDestinationMiddleware", "register",
  ];
  analytics.factory = function (method) {
    return function () {
      if (window.analytics.initialized) {
        return window.analytics[method].apply(window.analytics, arguments);
      }
      var args = Array.prototype.slice.call(arguments);
      args.unshift(method);
      analytics.push(args);
      return analytics;
    };
  };
  for (var i = 0; i < analytics.methods.length; i++) {
    analytics[analytics.methods[i]] = analytics.factory(analytics.methods[i]);
  }
  analytics._writeKey = key;
  analytics._cdn = window.location.origin;
  analytics.SNIPPET_VERSION = "5.2.1";
  analytics.page();
})();
