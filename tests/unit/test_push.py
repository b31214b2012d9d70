"""The push channel's pure parts: which requests are WebSocket handshakes, and the bound on viewers."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from layouts.push import Viewers, is_websocket


@pytest.mark.parametrize("headers", [
    {"Upgrade": "websocket", "Connection": "Upgrade"},
    {"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade"},  # Firefox sends both tokens
    {"Upgrade": " websocket ", "Connection": "upgrade"},
])
def test_a_websocket_handshake_is_recognised_however_it_is_written(headers):
    assert is_websocket(Headers(headers))


@pytest.mark.parametrize("headers", [
    {},
    {"Upgrade": "websocket"},  # no Connection: upgrade
    {"Connection": "Upgrade"},
    {"Upgrade": "h2c", "Connection": "Upgrade"},
    {"Upgrade": "websocketx", "Connection": "Upgrade"},
    {"Upgrade": "websocket", "Connection": "upgrade-insecure"},
])
def test_anything_else_is_not_a_handshake(headers):
    assert not is_websocket(Headers(headers))


def test_viewers_never_pass_their_bound_and_a_place_given_back_can_be_taken_again():
    viewers = Viewers(2)
    assert viewers.take() and viewers.take()
    assert not viewers.take() and viewers.count == 2
    viewers.give_back()
    assert viewers.count == 1 and viewers.take() and not viewers.take()


def test_a_bound_of_none_refuses_every_viewer():
    viewers = Viewers(0)
    assert not viewers.take() and viewers.count == 0
