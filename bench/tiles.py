#!/usr/bin/env python3
"""Cold vector tiles over the data's extent, riskmap against its peers.

usage: bench/tiles.py RISKMAP_URL PEERS MINLON MINLAT MAXLON MAXLAT

PEERS is "-" (none), a pg_tileserv URL, or a comma-separated list of
NAME=URL with NAME pg_tileserv (its public.<table> layers) or tegola (the
map "riskmap" with layers named after the tables, bench/scale.sh writes its
configuration). For each layer (villages, kecamatan, kabupaten) and zoom
5-14: up to 24 tiles spread over the box, each fetched once from every peer
and once from riskmap (tile cache off), in turn, so none gets another's
warm database pages, each on a kept-alive connection (as a map client
fetches tiles). riskmap is asked for the month the map page opens on
(?month=8, the seasonal score the peers do not compute). Prints per zoom
the median time of each, the ratios (peer / riskmap: above 1, riskmap is
faster) and the largest riskmap tile (uncompressed bytes; the limit is
500 KB). A peer that takes more than 30 s over a tile (tegola's village
tiles of the whole country under zoom 8 take minutes) is not asked for the
rest of that zoom, and its row says ">30000".
"""
import http.client
import math
import statistics
import sys
import time
import urllib.parse

LAYERS = {"villages": "village", "kecamatan": "kecamatan", "kabupaten": "kabupaten"}


def tile(lon, lat, z):
    n = 2 ** z
    r = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)


def tiles(box, z, want=24):
    x0, y0 = tile(box[0], box[3], z)
    x1, y1 = tile(box[2], box[1], z)
    n = (x1 - x0 + 1) * (y1 - y0 + 1)
    step = max(1, n // want)
    return [(x0 + k % (x1 - x0 + 1), y0 + k // (x1 - x0 + 1)) for k in range(0, n, step)][:want]


_conns = {}


PEER_TIMEOUT = 30  # seconds; a peer slower than this on a tile is left at that zoom


def fetch(url, timeout=120, empty=()):
    """GET url on a kept-alive connection per server, as a map client does;
    returns milliseconds and the body's length. A status in empty is an
    empty tile (tegola answers 404 at a zoom where its map has no layer)."""
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    c = _conns.get(u.netloc)
    reused = c is not None
    if c is None:
        c = _conns[u.netloc] = http.client.HTTPConnection(u.netloc, timeout=timeout)
    t = time.perf_counter()
    try:
        c.request("GET", path)
        r = c.getresponse()
    except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
        if not reused:
            raise
        # The server closed the kept-alive connection while it sat idle
        # (pg_tileserv after a second): connect again, as a browser does,
        # and time that request.
        c.close()
        c = _conns[u.netloc] = http.client.HTTPConnection(u.netloc, timeout=timeout)
        t = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse()
    body = r.read()
    ms = (time.perf_counter() - t) * 1000
    if r.status in empty:
        return ms, 0
    if r.status != 200:
        sys.exit(f"GET {url}: {r.status}")
    return ms, len(body)


PEER_PATHS = {
    "pg_tileserv": "{url}/public.{table}/{z}/{x}/{y}.pbf",
    "tegola": "{url}/maps/riskmap/{table}/{z}/{x}/{y}.pbf",
}


def peers_of(arg):
    if arg == "-":
        return []
    if "=" not in arg:
        return [("pg_tileserv", arg)]
    out = []
    for part in arg.split(","):
        name, url = part.split("=", 1)
        if name not in PEER_PATHS:
            sys.exit(f"unknown peer {name!r}: want one of {', '.join(PEER_PATHS)}")
        out.append((name, url))
    return out


def main():
    ours, peers = sys.argv[1], peers_of(sys.argv[2])
    box = [float(v) for v in sys.argv[3:7]]
    head = f"{'layer':<10} {'zoom':>4} {'tiles':>5} {'riskmap ms':>10}"
    for name, _ in peers:
        head += f" {name + ' ms':>14} {'ratio':>7}"
    print(head + f" {'max KB':>8}")
    worst = 0
    for layer, table in LAYERS.items():
        for z in range(5, 15):
            tp, to, size = {name: [] for name, _ in peers}, [], 0
            slow = set()  # peers that timed out at this zoom: not asked again
            for x, y in tiles(box, z):
                for name, url in peers:
                    if name in slow:
                        continue
                    u = PEER_PATHS[name].format(url=url, table=table, z=z, x=x, y=y)
                    try:
                        tp[name].append(fetch(u, PEER_TIMEOUT, (204, 404))[0])
                    except (TimeoutError, OSError, http.client.HTTPException) as e:
                        print(f"  {name} {z}/{x}/{y}: no tile ({type(e).__name__}: {e}); left at this zoom", file=sys.stderr)
                        _conns.pop(urllib.parse.urlsplit(u).netloc, None)
                        slow.add(name)
                ms, n = fetch(f"{ours}/tiles/{layer}/{z}/{x}/{y}.mvt?month=8")
                to.append(ms)
                size = max(size, n)
            worst = max(worst, size)
            o = statistics.median(to)
            row = f"{layer:<10} {z:>4} {len(to):>5} {o:>10.1f}"
            for name, _ in peers:
                if name in slow:
                    row += f" {'>' + str(PEER_TIMEOUT * 1000):>14} {'>' + format(PEER_TIMEOUT * 1000 / o, '.0f'):>7}"
                    continue
                p = statistics.median(tp[name])
                row += f" {p:>14.1f} {p / o:>7.2f}"
            print(row + f" {size / 1024:>8.0f}")
    print(f"largest riskmap tile: {worst / 1024:.0f} KB")


if __name__ == "__main__":
    main()
