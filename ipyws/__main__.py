"""The quickstart, in a terminal: ``python -m ipyws`` talks to the built-in echo server.

It needs no network: the echo demo server starts on 127.0.0.1 in this process.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import CloseEvent, Event, MessageEvent, WebSocket, demo


def main(argv: Sequence[str] = ()) -> int:
    """Open a socket to the demo echo server, exchange messages, close, show the transcript."""
    argparse.ArgumentParser(
        prog="python -m ipyws",
        description="The ipyws quickstart in a terminal: start the built-in echo demo server on "
        "127.0.0.1, open an ipyws.WebSocket to it, send a text and a binary message, print "
        "the events and close, then print the socket's transcript. No network is needed.",
        epilog="Demo servers on their own: python -m ipyws.demo --help",
    ).parse_args(list(argv))
    with demo.start("echo") as server:
        print(f"demo echo server listening on {server.url}")

        def on_open(event: Event) -> None:
            print(f"open     readyState={ws.readyState.name} protocol={ws.protocol!r}")
            ws.send("Hello, WebSocket!")
            ws.send(b"\x00\x01\x02binary")
            print(f"sent 2 messages, bufferedAmount={ws.bufferedAmount}")

        received: list[object] = []

        def on_message(event: MessageEvent) -> None:
            print(f"message  {event.data!r} from {event.origin}")
            received.append(event.data)
            if len(received) == 2:
                ws.close(1000, "done")

        def on_error(event: Event) -> None:
            print(f"error    {getattr(event, 'cause', None) or 'the connection failed'}")

        def on_close(event: CloseEvent) -> None:
            print(f"close    code={event.code} reason={event.reason!r} wasClean={event.wasClean}")

        ws = WebSocket(
            server.url, onopen=on_open, onmessage=on_message, onerror=on_error, onclose=on_close
        )
        close = ws.wait_closed(timeout=10)
        print("\ntranscript:")
        for record in ws.transcript.records():
            if record["type"] == "open":
                detail = f"extensions={record['extensions']!r}"
            elif record["type"] == "close":
                detail = f"code={record['code']} reason={record['reason']!r}"
            elif record["type"] == "error":
                detail = record["message"]
            elif record.get("opcode") == 2:  # binary data is base64 in the transcript, as in HAR
                detail = f"base64 {record['data']!r}"
            else:
                detail = repr(record.get("data"))
            print(f"  {record['type']:8} {record.get('size', ''):>4} {detail}")
    return 0 if close.wasClean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
