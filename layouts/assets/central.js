/* kapmon central station, browser side: one alarm tone for the whole station, the loudest room's.
   Same burst patterns as the live page (IEC 60601-1-8 in spirit): high = 10 pulses, medium = 3,
   low = 2. Browsers block sound until a click: "Start monitoring" unlocks it. */
(function () {
  const audio = { ctx: null, wanted: false, priority: null, timer: null };
  const PATTERNS = {
    high: { at: [0, 0.15, 0.3, 0.6, 0.75, 1.6, 1.75, 1.9, 2.2, 2.35], len: 0.12, freq: 660, every: 7 },
    medium: { at: [0, 0.22, 0.44], len: 0.18, freq: 523, every: 15 },
    low: { at: [0, 0.3], len: 0.2, freq: 440, every: 30 },
  };

  function pulse(t0, freq, len) {
    const ctx = audio.ctx;
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0, t0);
    gain.gain.linearRampToValueAtTime(0.25, t0 + len * 0.15);
    gain.gain.setValueAtTime(0.25, t0 + len * 0.85);
    gain.gain.linearRampToValueAtTime(0, t0 + len);
    gain.connect(ctx.destination);
    [1, 2, 3, 4, 5].forEach(function (h) {
      const osc = ctx.createOscillator();
      const g = ctx.createGain();
      g.gain.value = 1 / h;
      osc.frequency.value = freq * h;
      osc.connect(g).connect(gain);
      osc.start(t0);
      osc.stop(t0 + len);
    });
  }

  function burst(priority) {
    if (!audio.ctx || audio.ctx.state !== "running") return;
    const p = PATTERNS[priority];
    const now = audio.ctx.currentTime + 0.05;
    p.at.forEach(function (dt) { pulse(now + dt, p.freq, p.len); });
  }

  function sound(priority) {
    if (priority === audio.priority) return;
    audio.priority = priority;
    clearInterval(audio.timer);
    audio.timer = null;
    if (!priority || !PATTERNS[priority] || !audio.wanted) return;
    burst(priority);
    audio.timer = setInterval(function () { burst(priority); }, PATTERNS[priority].every * 1000);
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    kapmon_central: {
      audio: function (state, clicks) {
        const cc = window.dash_clientside.callback_context;
        const clicked = cc && cc.triggered && cc.triggered.some(function (t) { return t.prop_id.startsWith("c-start-audio"); });
        if (clicked) {
          audio.wanted = true;
          audio.ctx = audio.ctx || new (window.AudioContext || window.webkitAudioContext)();
          audio.ctx.resume();
          audio.priority = null;
        }
        const priority = (state || {}).priority || null;
        sound(priority);
        if (!audio.wanted) return ["AUDIO OFF: press Start monitoring", "audio-state audio-off"];
        if (!audio.ctx || audio.ctx.state !== "running") return ["AUDIO BLOCKED by the browser: press Start monitoring", "audio-state audio-off"];
        return [priority ? "AUDIO ON · sounding " + priority : "AUDIO ON", "audio-state audio-on"];
      },
    },
  });
})();
