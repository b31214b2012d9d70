"""Small test doubles shared by the tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from devices.reading import Item
from devices.source import Clock


class ListSource:
    """A finite source that plays items whose t is seconds from the stream's start."""

    def __init__(self, items: Sequence[Item], uri: str = "test://list") -> None:
        self.items = list(items)
        self.uri = uri
        self.metadata: dict = {}

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        from dataclasses import replace

        t0 = clock.now()
        for item in self.items:
            await clock.sleep_until(t0 + item.t)
            yield replace(item, t=t0 + item.t)


def dash_callback(client, input_id: str, value: object = 1, state: dict | None = None, headers: dict | None = None,
                  inputs: list | None = None, changed: object = None):
    """POST to ``/_dash-update-component`` as the browser does when the callback whose (first) input is
    ``input_id`` fires with ``value``; ``state`` maps ``"id.property"`` to the state values sent. A forged
    request can give all ``inputs`` and the ``changed`` component id (a pattern id as a dict) itself."""
    deps = client.get("/_dash-dependencies", headers=headers).get_json()
    dep = next(d for d in deps if d["inputs"] and d["inputs"][0]["id"] == input_id)
    output = dep["output"]
    parts = output.strip(".").split("...") if output.startswith("..") else [output]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in parts]
    first = dep["inputs"][0]
    body = {
        "output": output,
        "outputs": outputs if output.startswith("..") else outputs[0],
        "inputs": inputs or [{"id": first["id"], "property": first["property"], "value": value}],
        "changedPropIds": [f"{_id_text(changed or first['id'])}.{first['property']}"],
        "state": [{"id": s["id"], "property": s["property"], "value": (state or {}).get(f"{s['id']}.{s['property']}")}
                  for s in dep["state"]],
    }
    return client.post("/_dash-update-component", json=body, headers=headers)


def _id_text(component_id: object) -> str:
    """A component id as Dash writes it in ``changedPropIds`` (a pattern id as sorted, compact JSON)."""
    if isinstance(component_id, dict):
        import json

        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return str(component_id)
