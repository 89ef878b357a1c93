#!/usr/bin/env python3
"""A counting TCP proxy in front of PostgreSQL (used by bench/command-roundtrips.sh).

    pg-roundtrip-proxy.py <upstream port> <state file> <label>=<listen port> [<label>=<listen port> ...]

Each listener forwards to 127.0.0.1:<upstream port> and counts, per label, the client's round trips on
its connections: a round trip starts each time the client sends after the server has answered (a
pipelined batch of messages is one). The turns of a connection's start-up (SSL request, start-up
message, authentication) are counted apart, until the server's first ReadyForQuery. The state file
is rewritten with the counters (JSON) after every change and on SIGUSR1. Loopback only.
"""
import asyncio
import json
import os
import signal
import sys

READY = b"Z\x00\x00\x00\x05"


class Counters:
    def __init__(self, labels, path):
        self.path = path
        self.data = {label: {"round_trips": 0, "startup_turns": 0, "connections": 0} for label in labels}
        self.dirty = False

    def add(self, label, key):
        self.data[label][key] += 1
        self.dirty = True

    def write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)
        self.dirty = False


async def pump(reader, writer, on_chunk):
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            on_chunk(chunk)
            writer.write(chunk)
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def handler(label, upstream, counters):
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()
            return
        counters.add(label, "connections")
        state = {"ready": False, "server_spoke": True}

        def from_client(chunk):
            if state["server_spoke"]:
                counters.add(label, "round_trips" if state["ready"] else "startup_turns")
                state["server_spoke"] = False

        def from_server(chunk):
            state["server_spoke"] = True
            if not state["ready"] and READY in chunk:
                state["ready"] = True

        await asyncio.gather(pump(client_reader, server_writer, from_client), pump(server_reader, client_writer, from_server))

    return handle


async def main():
    upstream = int(sys.argv[1])
    path = sys.argv[2]
    listeners = [arg.split("=", 1) for arg in sys.argv[3:]]
    counters = Counters([label for label, _ in listeners], path)
    counters.write()
    servers = [await asyncio.start_server(handler(label, upstream, counters), "127.0.0.1", int(port)) for label, port in listeners]
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, counters.write)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    async def flush():
        while True:
            await asyncio.sleep(0.2)
            if counters.dirty:
                counters.write()

    flusher = asyncio.create_task(flush())
    await stop.wait()
    flusher.cancel()
    counters.write()
    for server in servers:
        server.close()


asyncio.run(main())
