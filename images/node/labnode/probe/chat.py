"""chat: join the chat server, send a message, see it come back as a broadcast.

ok = our join was confirmed and our message came back as
`chat {nick, message}` within --timeout.
"""

from __future__ import annotations

import secrets
import time

from labnode import chatproto
from labnode.chat_client import ChatConnection, ChatError


def probe(host: str, port: int = chatproto.DEFAULT_PORT, nick: str | None = None,
          message: str | None = None, timeout: float = 5.0) -> dict:
    nick = nick or f"probe-{secrets.token_hex(3)}"
    message = message or f"probe {secrets.token_hex(4)}"
    result: dict = {"probe": "chat", "host": host, "port": port, "nick": nick,
                    "joined": False, "echoed": False, "ok": False}
    started = time.monotonic()
    try:
        conn = ChatConnection(host, port, timeout)
    except ChatError as exc:
        result["error"] = str(exc)
        return result
    others: set[str] = set()

    def seen(packet: dict) -> None:
        if packet["type"] == "join" and packet.get("nick") != nick:
            others.add(packet.get("nick"))

    try:
        conn.join(nick, timeout, seen)
        result["joined"] = True
        result["join_ms"] = round((time.monotonic() - started) * 1000.0, 3)
        sent = time.monotonic()
        conn.send(chatproto.chat(message))
        echoed = conn.until(lambda p: p["type"] == "chat" and p.get("nick") == nick
                            and p.get("message") == message, timeout, seen)
        result["echoed"] = echoed
        if echoed:
            result["rtt_ms"] = round((time.monotonic() - sent) * 1000.0, 3)
        else:
            result["error"] = f"message did not come back within {timeout:g}s"
    except ChatError as exc:
        result["error"] = str(exc)
    finally:
        conn.close()
    result["ok"] = result["echoed"]
    return result
