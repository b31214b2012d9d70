/* kapmon live page, browser side: freshness watchdog, live push, alarm tones, trend windows.
   Alarm tones follow the IEC 60601-1-8 burst patterns in spirit: high = 10 pulses (3+2, 3+2),
   medium = 3 pulses, low = 2 pulses, with harmonics-rich pulses around 500-700 Hz. */
(function () {
  const STALE_AFTER_S = 3;
  const audio = { ctx: null, wanted: false, priority: null, timer: null };
  let lastUpdate = null;
  let recorderLag = 0;  // seconds since the recorder last flushed, as the server saw it at its last tick
  let ended = false;  // an ended session stops ticking: that is not NO DATA
  let wanted = null;  // the last window asked for, until every graph has taken it

  /* A fold (a card's folded alarms, the discharge list) stays as the nurse left it when the page draws it
     again (an alarm joins, a check is done): remember which are open, and reopen them after each update. */
  const openFolds = new Set();
  document.addEventListener("toggle", function (e) {
    const name = e.target.dataset && e.target.dataset.fold;
    if (!name) return;
    if (e.target.open) openFolds.add(name); else openFolds.delete(name);
  }, true);
  function reopenFolds() {
    document.querySelectorAll("details[data-fold]").forEach(function (fold) {
      if (openFolds.has(fold.dataset.fold) && !fold.open) fold.open = true;
    });
  }

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

  /* Times on the trends are the server's local clock as text ("2026-11-29 09:40:12.000"); format the same way. */
  function clockText(ms, tz) {
    return new Date(ms + tz).toISOString().replace("T", " ").replace("Z", "");
  }

  /* T+12, T-5, T+1 h 05: whole minutes since the first dose. */
  function tplus(minutes) {
    const m = Math.round(minutes), a = Math.abs(m), sign = m < 0 ? "-" : "+";
    return a < 60 ? "T" + sign + a : "T" + sign + Math.floor(a / 60) + " h " + String(a % 60).padStart(2, "0");
  }

  /* The visible window, and once there is a dose, ticks in T+ minutes with the clock time under them.
     Returns whether every trend graph was drawn to take it (plotly loads after the first ticks).
     A live window ends AHEAD_S after now and slides on once now is within AHEAD_S - SLIDE_S of its end:
     redrawing every graph's axes on every tick took most of the page's time with several pages open. */
  const AHEAD_S = 30, SLIDE_S = 15;
  function setWindow(cursor, minutes) {
    if (!cursor || !cursor.now_ms || !window.Plotly) return false;
    const tz = cursor.tz_ms || 0;
    const end = cursor.now_ms + (cursor.ended ? 5 : AHEAD_S) * 1000;
    const drawn = [minutes, cursor.dose_ms, cursor.ended, tz].join("|");
    const start = cursor.now_ms - minutes * 60 * 1000;
    const update = { "xaxis.range": [clockText(start, tz), clockText(end, tz)] };
    if (cursor.dose_ms) {
      const step = minutes / 6 * 60000, vals = [], text = [];
      for (let t = cursor.dose_ms + Math.ceil((start - cursor.dose_ms) / step) * step; t <= end; t += step) {
        vals.push(clockText(t, tz));
        text.push(tplus((t - cursor.dose_ms) / 60000) + "<br>" + clockText(t, tz).slice(11, 16));
      }
      Object.assign(update, { "xaxis.tickmode": "array", "xaxis.tickvals": vals, "xaxis.ticktext": text });
    }
    const graphs = Array.from(document.querySelectorAll(".trend .js-plotly-plot")).filter(function (gd) {
      return gd.data && gd._fullLayout;
    });
    graphs.forEach(function (gd) {
      const current = gd.kapmonWindow, ahead = current ? current.end - cursor.now_ms : 0;
      if (current && current.drawn === drawn && ahead >= (AHEAD_S - SLIDE_S) * 1000 && ahead <= AHEAD_S * 1000) return;
      window.Plotly.relayout(gd, update);
      gd.kapmonWindow = { drawn: drawn, end: end };
    });
    return graphs.length > 0 && graphs.length === document.querySelectorAll(".trend").length;
  }

  /* Live push: the server's WebSocket for this session says when there is news, and the page runs its tick at
     once, the same tick as the 1-s poll (which goes on: it is what updates the page while the channel is down,
     refused or blocked). One tick at a time: news that comes while a tick is on its way wakes one more tick
     when it has landed. A channel that closes is opened again after a wait that doubles up to 30 s. */
  const WAKE_WAIT_MS = 3000;  // a tick not landed after this long is taken as lost: news may wake another
  const push = { url: null, socket: null, retryMs: 1000, timer: null, tick: 0, pollMs: null, restarts: 0,
                 waking: 0, pending: false, state: "off" };
  window.kapmonPush = push;

  /* Each pushed tick restarts the poll's timer (dcc.Interval restarts it when its interval changes, so the
     interval alternates by a millisecond), a little over a period away: devices that report every second then
     drive the page through the push alone, instead of a poll landing beside each pushed tick (twice the work,
     and the later tick supersedes the one on its way). The poll's own period is back at the first poll's tick
     with no news before it, and as soon as the channel closes. */
  const PUSHED_POLL_SLACK_MS = 250;  // design proposal: above the 0.2-s regular flush of the recorder
  function wake() {
    if (push.waking && Date.now() - push.waking < WAKE_WAIT_MS) { push.pending = true; return; }
    push.waking = Date.now();
    push.pending = false;
    push.tick += 1;
    const props = { n_intervals: push.tick };
    if (push.pollMs) props.interval = push.pollMs + PUSHED_POLL_SLACK_MS + (++push.restarts % 2);
    window.dash_clientside.set_props("tick", props);
  }

  function pollAlone() {
    if (push.pollMs) window.dash_clientside.set_props("tick", { interval: push.pollMs });
  }

  function landed(tick, interval) {
    push.tick = Math.max(push.tick, tick || 0);
    if (push.pollMs === null && interval) push.pollMs = interval;
    if (!push.waking && interval !== push.pollMs) pollAlone();  // a poll's tick, no news since: poll every period
    push.waking = 0;
    if (push.pending) wake();
    if (ended) stopPush();
  }

  function stopPush() {
    push.url = null;
    clearTimeout(push.timer);
    if (push.socket) push.socket.close();
    push.socket = null;
    push.state = "off";
    pollAlone();
  }

  function connect() {
    push.timer = null;
    if (!push.url || ended || !document.getElementById("live-root")) { push.state = "off"; return; }
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + push.url);
    push.socket = socket;
    push.state = "connecting";
    socket.onopen = function () { push.state = "open"; push.retryMs = 1000; };
    socket.onmessage = wake;
    socket.onclose = function () {
      if (push.socket !== socket) return;
      push.socket = null;
      pollAlone();
      if (!push.url) return;
      push.state = "polling";
      push.timer = setTimeout(connect, push.retryMs);
      push.retryMs = Math.min(push.retryMs * 2, 30000);
    };
  }

  /* What the NO DATA line says, its class and the page's: data older than STALE_AFTER_S, or a recorder that has
     stopped flushing, is NO DATA. */
  function staleness() {
    if (lastUpdate === null || ended) return ["", "nodata nodata-hidden", "live"];
    const age = (Date.now() - lastUpdate) / 1000;
    if (age < STALE_AFTER_S && recorderLag < STALE_AFTER_S) return ["", "nodata nodata-hidden", "live"];
    if (age < STALE_AFTER_S) return ["NO DATA: the recorder has stopped (" + Math.floor(recorderLag) + " s)", "nodata", "live live-stale"];
    return ["NO DATA " + Math.floor(age) + " s", "nodata", "live live-stale"];
  }

  /* The freshness watchdog: a browser timer, every second, even when the server is gone. It changes the page
     only when what it says changes (a timer of Dash's own would run a callback through the whole page every
     second). */
  setInterval(function () {
    const box = document.getElementById("nodata"), root = document.getElementById("live-root");
    if (!box || !root) return;  // not a live page
    if (wanted && setWindow(wanted[0], wanted[1])) wanted = null;
    const want = staleness();
    if (box.textContent !== want[0] || box.className !== want[1]) {
      window.dash_clientside.set_props("nodata", { children: want[0], className: want[1] });
    }
    if (root.className !== want[2]) window.dash_clientside.set_props("live-root", { className: want[2] });
  }, 1000);

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    kapmon: {
      /* Every successful tick changes the cursor: remember when, keep the trend window, and say what the
         time axis measures; the trends wait (hidden behind "Waiting for data") until their first point. */
      updated: function (cursor, minutes, tick, interval) {
        lastUpdate = Date.now();
        ended = Boolean(cursor && cursor.ended);
        landed(tick, interval);
        recorderLag = cursor && cursor.recorder ? Math.max(0, cursor.served - cursor.recorder) : 0;
        window.kapmonLastCursor = cursor;
        reopenFolds();
        wanted = setWindow(cursor, minutes || 30) ? null : [cursor, minutes || 30];
        const waiting = !cursor || !cursor.id;
        const ref = cursor && cursor.dose_ms
          ? "T+ = minutes since first dose (T+0 at " + clockText(cursor.dose_ms, cursor.tz_ms || 0).slice(11, 19) + ")"
          : "clock time (no dose yet)";
        const want = [waiting ? "trends trends-waiting" : "trends", waiting ? "" : ref];
        const box = document.getElementById("trends"), label = document.getElementById("time-ref");
        const same = box && label && box.className === want[0] && label.textContent === want[1];
        return same ? [window.dash_clientside.no_update, window.dash_clientside.no_update] : want;  // nothing to redraw
      },
      /* The page's push channel: the address to open (none for a session not recorded by this server). */
      pushTo: function (url) {
        if (url !== push.url) { stopPush(); push.url = url || null; if (push.url) connect(); }
        return push.state;
      },
      /* A press of a button drawn in a list the server redraws (alarm cards, rooms, entries), handed on
         through a store of its own as {id: the button's id, at: ms}. A server callback listening on the
         buttons themselves is fired again by every redraw, and Dash then drops its answer on the way (the
         nurse's "Acknowledged" never shows); one listening on the store is not. Drawing a button is no
         press: it fires with no clicks. */
      pressed: function () {
        const ctx = window.dash_clientside.callback_context;
        const hit = (ctx.triggered || []).find(function (t) { return t.value; });
        if (!hit) return window.dash_clientside.no_update;
        return { id: JSON.parse(hit.prop_id.slice(0, hit.prop_id.lastIndexOf("."))), at: Date.now() };
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
