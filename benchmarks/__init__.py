"""ipyws against raw websockets, websocket-client and Chromium: python -m benchmarks.run."""
