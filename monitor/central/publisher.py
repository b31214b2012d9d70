"""The bedside publisher: one running session, published to an MQTT broker for a central station.

The bedside store stays the source of truth. After each hub flush the publisher reads what is new in
the store (readings, events, alarm transitions, by row-id cursor) and publishes it in batches, so a
dose, a note or an acknowledgement written outside a flush is published just the same. The room's state
(republished when it changes) carries its active alarms, dosing decision and where each observation scale
stands (not due, due, overdue; latest level). While the broker is unreachable nothing is published and the
cursors stand still; the hub keeps recording and alarming. On reconnect the publisher carries on from its
cursors, and a central station that finds a gap (or starts late) asks with ``sync`` for everything after its
own cursors, which the publisher serves from the store in order.

The publisher runs in its own thread: the hub only sets an event, so a slow or absent broker never
delays recording or alarms. A stored row that JSON cannot carry (a number that is not finite, a huge
text, unreadable data written by older code) is sanitised or left out and logged; the rest is published.

Commands from the central station must be signed with the site key (``monitor.central.site_key``); one that is
not, is stale or is a replay is refused, answered as refused, and recorded in the bedside store's audit
log. An accepted ``ack`` is executed through the hub with the central user's name (recorded as an alarm
transition like any other) and, like an accepted ``sync``, also goes to the audit log.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import secrets
import threading
import time
from typing import Any

from devices.patient import person
from monitor.central import topics as mt
from monitor.central.broker import KEEPALIVE_S, BrokerConfig, BrokerError, guarded, make_client
from monitor.central.site_key import Verifier, sign
from monitor.central.throttle import REPORT_EVERY_S, Throttle
from monitor.rules.holds import headline
from monitor.session.hub import Hub
from monitor.session.live_view import LiveSnapshot

log = logging.getLogger(__name__)

CHUNK_ROWS = 5000  # rows per message when catching up


class Publisher:
    """Publishes one hub's session under ``kapmon/<site>/<room>/``."""

    def __init__(
        self,
        hub: Hub,
        config: BrokerConfig,
        site: str,
        room: str,
        url: str | None = None,
        keepalive: int = KEEPALIVE_S,
        heartbeat_s: float = mt.STATE_EVERY_S,
    ) -> None:
        if not config.site_key:
            raise BrokerError("publishing needs the site key that signs commands (--site-key)")
        self.hub = hub
        self.config = config
        self.site = mt.check_name("site", site)
        self.room = mt.check_name("room", room)
        self.url = url
        self.keepalive = keepalive
        self.heartbeat_s = heartbeat_s
        self.cursors = {k: 0 for k in mt.KINDS}  # last bedside row id published, per kind
        self.published = 0  # messages published (data batches)
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._connected = threading.Event()
        self._announce = False
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._state_sig: object = None
        self._state_at = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._verifier = Verifier(config.site_key)
        self._reports = Throttle(REPORT_EVERY_S)
        self.client = make_client(config, f"kapmon-{site}-{room}-{secrets.token_hex(3)}")
        self.client.will_set(self.topic("status"), mt.encode(mt.status(False)), qos=1, retain=True)
        self.client.on_connect = guarded(self._on_connect)
        self.client.on_disconnect = guarded(self._on_disconnect)
        self.client.on_message = guarded(self._on_message)

    def topic(self, leaf: str) -> str:
        return mt.topic(self.site, self.room, leaf)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Publisher:
        self.hub.listeners.append(self._on_flush)
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.keepalive)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name=f"publish-{self.room}", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Publish what is left, mark the room offline and disconnect."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._on_flush in self.hub.listeners:
            self.hub.listeners.remove(self._on_flush)
        if self.connected:
            info = self.client.publish(self.topic("status"), mt.encode(mt.status(False, time.time())), qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # the connection is gone: nothing more can be said
                info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def wait_until_published(self, timeout: float = 10.0) -> bool:
        """Whether everything in the store has been published within ``timeout`` (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.connected and not any(self._pending_rows(k, 1) for k in mt.KINDS):
                    return True
            self._wake.set()
            time.sleep(0.05)
        return False

    # --- paho callbacks (network thread) ------------------------------------------------------

    def _on_flush(self, _items: list, _alarms: list) -> None:
        self._wake.set()

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason_code: Any, _properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("broker %s refused the connection: %s", self.config, reason_code)
            return
        client.subscribe(self.topic("cmd"), qos=1)
        self._announce = True
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason_code: Any, _properties: Any) -> None:
        if self._connected.is_set() and not self._closing.is_set():
            log.warning("lost the broker %s (%s); recording continues, publishing resumes on reconnect", self.config, reason_code)
        self._connected.clear()

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        now = time.time()
        try:
            cmd = mt.decode(msg.payload)
        except mt.MessageError as exc:
            self._refuse({}, f"not a kapmon command: {exc}", now)
            return
        reason = self._verifier.refusal(msg.topic, cmd, now)
        if reason is not None:
            self._refuse(cmd, reason, now)
            return
        self._commands.put(cmd)
        self._wake.set()

    def _refuse(self, cmd: dict, reason: str, now: float) -> None:
        """A command refused: answered as refused, logged and audited (once a minute per reason, counted)."""
        op = str(cmd.get("op", ""))[:16]
        if op == "ack":
            self._reply(cmd, False, f"refused by the bedside: {reason}")
        count = self._reports.due(f"refused {reason}", now)
        if count:
            log.warning("refused %d command(s) on %s: %s", count, self.topic("cmd"), reason)
            self.hub.store.write_audit(
                now,
                "central_command_refused",
                None,
                {
                    "room": self.room,
                    "site": self.site,
                    "op": op,
                    "reason": reason,
                    "count": count,
                    "claimed_who": person(str(cmd.get("who", ""))) or "",
                    "alarm_id": str(cmd.get("alarm_id", ""))[:64],
                },
            )

    # --- the publishing thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(1.0)
            self._wake.clear()
            closing = self._closing.is_set()
            try:
                with self._lock:
                    self._pass()
            except Exception:  # publishing must never stop for one bad pass
                log.exception("publishing pass failed")
            if closing:
                return

    def _pass(self) -> None:
        while not self._commands.empty():
            self._command(self._commands.get())
        if not self.connected:
            return
        announce, self._announce = self._announce, False
        if announce:
            self._publish(self.topic("status"), mt.status(True, time.time()), retain=True)
            self._publish_state(force=True)
        for kind in mt.KINDS:
            self._publish_kind(kind)
        self._publish_state(force=False)

    def _pending_rows(self, kind: str, limit: int) -> list[tuple[int, list | None]]:
        """``(row id, row)`` of the stored rows after the cursor; the row is None when it is unreadable."""
        store, sid, after = self.hub.store, self.hub.session.id, self.cursors[kind]
        if kind == "readings":
            return [(r.id, mt.reading_row(r)) for r in store.readings(sid, after, limit=limit)]
        if kind == "events":
            return [(raw[0], mt.event_row(*raw)) for raw in store.event_rows(sid, after, limit=limit)]
        return [(i, mt.alarm_row(i, a)) for i, a in store.alarm_events(sid, after)[:limit]]

    def _publish_kind(self, kind: str) -> None:
        while self.connected:
            rows = self._pending_rows(kind, CHUNK_ROWS)
            if not rows:
                return
            payload, last, problems = mt.encode_batch(kind, self.hub.session.id, self.cursors[kind], rows)
            self._report(f"{kind} rows", problems)
            if self.client.publish(mt.data_topic(self.site, self.room, kind), payload, qos=1).rc != 0:
                return
            self.cursors[kind] = last
            self.published += 1

    def _report(self, what: str, problems: list[str]) -> None:
        """Log stored oddities that were sanitised or left out (once a minute per kind, counted)."""
        if problems and (count := self._reports.due(what, time.time())):
            log.warning(
                "session %s: %d message(s) of %s published with changes or rows left out (stored by older code?): %s",
                self.hub.session.id,
                count,
                what,
                "; ".join(problems)[:500],
            )

    def _publish(self, topic: str, payload: dict, retain: bool = False) -> bool:
        data, problems = mt.encode_safely(payload)
        self._report(topic.rsplit("/", 1)[-1], problems)
        return self.client.publish(topic, data, qos=1, retain=retain).rc == 0

    def _publish_state(self, force: bool) -> None:
        hub = self.hub
        ended = hub.finished.is_set()
        alarms = hub.active_alarms() if not ended else []
        now = hub.now()
        audio = None if ended else hub.call(lambda: hub.engine.audio_priority(now))
        dosing = None if ended else dosing_state(hub)
        charts = [] if ended else chart_states(hub.view.snapshot(), now)
        sig = (ended, audio, tuple(tuple(mt.alarm_dict(a).values()) for a in alarms), dosing, repr(charts))
        due = time.monotonic() - self._state_at >= self.heartbeat_s
        if not (force or due or sig != self._state_sig):
            return
        state = mt.state(
            hub.session,
            alarms,
            self.url,
            self.cursors,
            now,
            hub.clock_speed,
            ended,
            audio,
            hub.engine.plan.limits,
            dosing,
            charts,
        )
        if self._publish(self.topic("state"), state, retain=True):
            self._state_sig, self._state_at = sig, time.monotonic()

    # --- commands from the central station ----------------------------------------------------

    def _command(self, cmd: dict) -> None:
        op = cmd.get("op")
        if cmd.get("session") != self.hub.session.id:
            log.warning("ignoring %s for session %s (this room runs %s)", op, cmd.get("session"), self.hub.session.id)
            if op == "ack":
                self._reply(cmd, False, "that session is not running in this room")
            return
        if op == "sync":
            wanted = cmd.get("cursors")
            wanted = wanted if isinstance(wanted, dict) else {}
            for kind in mt.KINDS:
                theirs = wanted.get(kind, 0)
                ok = isinstance(theirs, int) and not isinstance(theirs, bool)
                self.cursors[kind] = max(0, min(self.cursors[kind], theirs)) if ok else 0
            log.info("central station asked for the session from %s", self.cursors)
            self.hub.store.write_audit(
                time.time(), "central_sync", None, {"session": self.hub.session.id, "cursors": dict(self.cursors)}
            )
        elif op == "ack":
            self._acknowledge(cmd)
        else:
            log.warning("ignoring unknown command %r", op)

    def _acknowledge(self, cmd: dict) -> None:
        who = person(str(cmd.get("who") or "")) or ""  # one line, as every recorded name
        alarm_id = str(cmd.get("alarm_id") or "")
        if not who or not alarm_id:
            self._reply(cmd, False, "an acknowledgement needs an alarm and a name")
            return
        events = self.hub.acknowledge(alarm_id, f"{who} (central station)")
        log.info("alarm %s acknowledged from the central station by %s: %d transition(s)", alarm_id, who, len(events))
        result = f"{alarm_id} acknowledged by {who}" if events else f"{alarm_id} is not active or already acknowledged"
        self.hub.store.write_audit(
            time.time(),
            "central_ack",
            who,
            {
                "session": self.hub.session.id,
                "alarm_id": alarm_id,
                "request": str(cmd.get("request", ""))[:64],
                "result": ("done: " if events else "refused: ") + result,
            },
        )
        self._reply(cmd, bool(events), result, len(events))
        self._wake.set()

    def _reply(self, cmd: dict, ok: bool, message: str, events: int = 0) -> None:
        if self.connected:
            topic = self.topic("reply")
            self._publish(
                topic,
                sign(self.config.site_key, topic, mt.reply(str(cmd.get("request", ""))[:64], ok, message, events), time.time()),
            )


def dosing_state(hub: Hub) -> dict:
    """The room's dosing decision for the central station: its state and headline (``DOSING BLOCKED: ...``)."""
    decision = hub.decision()
    return {"state": decision.state, "headline": headline(decision, hub.engine.plan)}


def chart_states(snap: LiveSnapshot, now: float) -> list[dict]:
    """Each observation scale the room's protocol charts, for the central station: not due, due or overdue, and
    its latest level and when it was charted (None before the first charting)."""
    return [
        {
            "scale": c.rule.scale,
            "status": c.status,
            "level": c.last.level if c.last else None,
            "t": c.last.t if c.last else None,
        }
        for c in snap.charts(now)
    ]


def start_publisher(hub: Hub, config: BrokerConfig, site: str, room: str, url: str | None = None) -> Publisher:
    """Start publishing ``hub``'s session; returns at once (the broker may come later)."""
    return Publisher(hub, config, site, room, url).start()


def publish_from_args(hub: Hub, settings: tuple[BrokerConfig, str, str] | None, args: Any) -> Publisher | None:
    """Start publishing for a bedside command if ``--publish`` was given (see ``broker.publish_settings``)."""
    if settings is None:
        return None
    config, site, room = settings
    base = (args.bedside_url or f"http://{args.host}:{args.port}").rstrip("/")
    publisher = start_publisher(hub, config, site, room, f"{base}/live/{hub.session.id}")
    atexit.register(publisher.close)  # after the hub stops: publish the rest, then go offline
    print(f"kapmon: publishing to {config} as {site}/{room}", flush=True)
    return publisher
