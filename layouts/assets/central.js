/* kapmon central station, browser side: one alarm tone for the whole station, the loudest room's,
   played with the live page's tones (kapmon.js: window.kapmonTones). Browsers block sound until a
   click: "Start monitoring" unlocks it. */
(function () {
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    kapmon_central: {
      audio: function (state, clicks) {
        const tones = window.kapmonTones;
        const cc = window.dash_clientside.callback_context;
        const clicked = cc && cc.triggered && cc.triggered.some(function (t) { return t.prop_id.startsWith("c-start-audio"); });
        if (clicked) tones.unlock();
        const priority = (state || {}).priority || null;
        tones.sound(priority);
        const [text, cls] = tones.state(0);
        return [text === "AUDIO ON" && priority ? "AUDIO ON · sounding " + priority : text, cls];
      },
    },
  });
})();
