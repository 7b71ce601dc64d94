#!/usr/bin/env python3
"""Convert cahyadsn/wilayah_boundaries (MIT) to riskmap's boundary GeoJSON.

usage: bench/wilayah.py REPO OUT [PROVINCE_PREFIX]

REPO is a checkout of https://github.com/cahyadsn/wilayah_boundaries; OUT
gets kabupaten.geojson, kecamatan.geojson and desa.geojson, converted as
../shared/geodata was: each row's `path` ([lat, lng] rings, a polygon or a
multipolygon) becomes a GeoJSON MultiPolygon in [lng, lat] rounded to 6
decimals, with the properties code, name, level, kecamatan_code, kecamatan,
kabupaten_code and kabupaten. A village whose kecamatan is missing, or a
kecamatan whose kabupaten is missing, is left out and counted. A row that
cannot be read stops the conversion with its file and line; a row with an
empty path is left out and named on stderr.

PROVINCE_PREFIX (e.g. 35) limits the conversion to one province.
"""
import json
import os
import re
import sys

ROW = re.compile(r"^\s*\(\s*'([0-9.]+)'\s*,\s*'((?:[^'\\]|\\.|'')*)'\s*,\s*(-?[0-9.eE+-]+|NULL)\s*,\s*(-?[0-9.eE+-]+|NULL)\s*,\s*'(.*)'\s*\)\s*[,;]\s*$")


def rows(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.lstrip().startswith("('"):
                continue
            m = ROW.match(line)
            if not m:
                sys.exit(f"{path}:{n}: not a row of (kode, nama, lat, lng, path)")
            code, name, _, _, path_json = m.groups()
            name = name.replace("\\'", "'").replace("''", "'")
            if path_json.strip() == "":
                print(f"{path}:{n}: {code} {name}: no geometry (empty path), left out", file=sys.stderr)
                continue
            try:
                rings = json.loads(path_json)
            except ValueError as e:
                sys.exit(f"{path}:{n}: field path: {e}")
            yield code, name, rings, f"{path}:{n}"


def multipolygon(rings, where):
    # A polygon is [[[lat, lng], ...], ...]; a multipolygon one level deeper.
    depth, x = 0, rings
    while isinstance(x, list) and x:
        depth, x = depth + 1, x[0]
    if depth == 3:
        rings = [rings]
    elif depth != 4:
        sys.exit(f"{where}: field path: nested {depth} deep, want a polygon (3) or multipolygon (4)")
    out = []
    for poly in rings:
        p = []
        for ring in poly:
            r = [[round(pt[1], 6), round(pt[0], 6)] for pt in ring]
            if len(r) >= 3 and r[0] != r[-1]:
                r.append(r[0])
            if len(r) >= 4:
                p.append(r)
        if p:
            out.append(p)
    return {"type": "MultiPolygon", "coordinates": out}


def files(repo, sub, prefix):
    base = os.path.join(repo, "db", sub)
    for root, _, names in os.walk(base):
        for name in sorted(names):
            if not name.endswith(".sql"):
                continue
            if prefix and not re.search(r"_%s(\.|$)" % re.escape(prefix), name[:-4] + "."):
                continue
            yield os.path.join(root, name)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    repo, out = sys.argv[1], sys.argv[2]
    prefix = sys.argv[3] if len(sys.argv) > 3 else ""
    os.makedirs(out, exist_ok=True)
    kab, kec = {}, {}
    counts = {}
    for level, sub, parts in (("kabupaten", "kab", 2), ("kecamatan", "kec", 3), ("desa", "kel", 4)):
        left_out = 0
        path = os.path.join(out, level + ".geojson")
        with open(path, "w", encoding="utf-8") as w:
            w.write('{"type":"FeatureCollection","features":[\n')
            first = True
            for f in files(repo, sub, prefix):
                for code, name, rings, where in rows(f):
                    if len(code.split(".")) != parts:
                        continue
                    props = {"code": code, "name": name, "level": level}
                    if level == "kabupaten":
                        kab[code] = name
                    elif level == "kecamatan":
                        k = code[:5]
                        if k not in kab:
                            left_out += 1
                            continue
                        kec[code] = name
                        props.update(kabupaten_code=k, kabupaten=kab[k])
                    else:
                        c = code[:8]
                        if c not in kec:
                            left_out += 1
                            continue
                        props.update(kecamatan_code=c, kecamatan=kec[c], kabupaten_code=c[:5], kabupaten=kab[c[:5]])
                    feature = {"type": "Feature", "properties": props, "geometry": multipolygon(rings, where)}
                    w.write(("" if first else ",\n") + json.dumps(feature, separators=(",", ":"), ensure_ascii=False))
                    first = False
                    counts[level] = counts.get(level, 0) + 1
            w.write("\n]}\n")
        print(f"{path}: {counts.get(level, 0)} {level}, {left_out} left out (parent missing)")


if __name__ == "__main__":
    main()
