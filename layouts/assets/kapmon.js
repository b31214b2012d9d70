/* kapmon live page, browser side: freshness watchdog, alarm tones, trend windows.
   Alarm tones follow the IEC 60601-1-8 burst patterns in spirit: high = 10 pulses (3+2, 3+2),
   medium = 3 pulses, low = 2 pulses, with harmonics-rich pulses around 500-700 Hz. */
(function () {
  const STALE_AFTER_S = 3;
  const audio = { ctx: null, wanted: false, priority: null, timer: null };
  let lastUpdate = null;

  const PATTERNS = {
    // [start offsets in s] per burst, pulse length, fundamental Hz, repeat every s
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

  function audioState(paused_s) {
    if (!audio.wanted) return ["AUDIO OFF: press Start monitoring", "audio-state audio-off"];
    if (!audio.ctx || audio.ctx.state !== "running") return ["AUDIO BLOCKED by the browser: press Start monitoring", "audio-state audio-off"];
    if (paused_s > 0) {
      const m = Math.floor(paused_s / 60), s = Math.floor(paused_s % 60);
      return ["AUDIO PAUSED " + m + ":" + String(s).padStart(2, "0"), "audio-state audio-paused"];
    }
    return ["AUDIO ON", "audio-state audio-on"];
  }

  function unlock() {
    audio.wanted = true;
    audio.ctx = audio.ctx || new (window.AudioContext || window.webkitAudioContext)();
    audio.ctx.resume();
    audio.priority = null;
  }

  /* Shared with the central station page (central.js). */
  window.kapmonTones = { unlock: unlock, sound: sound, state: audioState,
                         sounding: function () { return audio.timer ? audio.priority : null; } };

  function setWindow(cursor, minutes) {
    if (!cursor || !cursor.now_ms || !window.Plotly) return;
    const end = cursor.now_ms + 30 * 1000;
    const start = cursor.now_ms - minutes * 60 * 1000;
    const fmt = function (ms) {
      const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
      return d.toISOString().replace("T", " ").replace("Z", "");
    };
    document.querySelectorAll(".trend .js-plotly-plot").forEach(function (gd) {
      if (gd.data) window.Plotly.relayout(gd, { "xaxis.range": [fmt(start), fmt(end)] });
    });
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    kapmon: {
      /* Every successful tick changes the cursor: remember when, and keep the trend window. */
      updated: function (cursor, minutes) {
        lastUpdate = Date.now();
        setWindow(cursor, minutes || 30);
        return "";
      },
      /* Runs in the browser every second, even when the server is gone. */
      watchdog: function (_n) {
        if (lastUpdate === null) return ["", "nodata nodata-hidden", "live"];
        const age = (Date.now() - lastUpdate) / 1000;
        if (age < STALE_AFTER_S) return ["", "nodata nodata-hidden", "live"];
        return ["NO DATA " + Math.floor(age) + " s", "nodata", "live live-stale"];
      },
      audio: function (state, clicks) {
        const ctx = window.dash_clientside.callback_context;
        const clicked = ctx && ctx.triggered && ctx.triggered.some(function (t) { return t.prop_id.startsWith("start-audio"); });
        if (clicked) unlock();
        const s = state || {};
        sound(s.priority || null);  // the engine already leaves paused alarms out
        return audioState(s.paused_s || 0);
      },
    },
  });
})();
