#!/usr/bin/env python3
"""tests/servers/tcpproxy.py -- a loopback TCP proxy whose link the tests can cut.

    python3 tcpproxy.py --target HOST:PORT --port-file FILE [--pid-file FILE]

Listens on 127.0.0.1 on a free port (written to FILE once it accepts) and
forwards every connection to HOST:PORT, which must be a loopback address.
It stands between one client (a worker) and a server (PostgreSQL), so a test
can take that client's network away the way a laptop loses its Wi-Fi:

    SIGUSR1  cut: from now on no byte passes in either direction, on the
             connections already open and on new ones, which are accepted and
             then left silent. Nothing is closed: the client sees no error,
             only silence, as on a dropped wireless link.
    SIGUSR2  mend: the connections held during the cut are closed (their
             streams lost bytes, so they cannot go on), and new connections
             are forwarded again.
    SIGTERM  stop.

Each change of state is logged to stderr with the time, and the proxy counts
the bytes it forwarded (printed on exit).
"""
import argparse
import asyncio
import os
import signal
import sys
import time


class Proxy:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.cut = False
        self.held = set()  # writers of connections open during or across a cut
        self.live = set()
        self.forwarded = 0

    def log(self, what):
        print(f"tcpproxy: {time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)

    def on_cut(self):
        self.cut = True
        self.log(f"cut ({len(self.live)} connections go silent)")

    def on_mend(self):
        self.cut = False
        doomed = list(self.live)
        self.log(f"mended ({len(doomed)} held connections closed)")
        for w in doomed:
            try:
                w.transport.abort()
            except Exception:
                pass

    async def pump(self, reader, writer, others):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while self.cut:
                    await asyncio.sleep(0.05)
                    if writer.is_closing():
                        return
                writer.write(data)
                self.forwarded += len(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            for w in others:
                try:
                    w.transport.abort()
                except Exception:
                    pass

    async def handle(self, creader, cwriter):
        self.live.add(cwriter)
        try:
            while self.cut:
                await asyncio.sleep(0.05)
                if cwriter.is_closing():
                    return
            try:
                sreader, swriter = await asyncio.open_connection(self.host, self.port)
            except OSError as e:
                self.log(f"cannot reach {self.host}:{self.port}: {e}")
                cwriter.transport.abort()
                return
            self.live.add(swriter)
            both = (cwriter, swriter)
            await asyncio.gather(self.pump(creader, swriter, both), self.pump(sreader, cwriter, both))
            self.live.discard(swriter)
        finally:
            self.live.discard(cwriter)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--pid-file")
    a = ap.parse_args()
    host, _, port = a.target.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        sys.exit("tcpproxy: the target must be a loopback address")
    p = Proxy(host.strip("[]"), int(port))
    server = await asyncio.start_server(p.handle, "127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, p.on_cut)
    loop.add_signal_handler(signal.SIGUSR2, p.on_mend)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if a.pid_file:
        with open(a.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.sockets[0].getsockname()[1]}\n")
    os.rename(tmp, a.port_file)
    p.log(f"forwarding 127.0.0.1:{server.sockets[0].getsockname()[1]} to {a.target}")
    await stop.wait()
    server.close()
    p.log(f"stopped; {p.forwarded} bytes forwarded")


if __name__ == "__main__":
    asyncio.run(main())
