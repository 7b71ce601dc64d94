// Reads a PMTiles archive with the protomaps JavaScript library (the reader
// MapLibre pages use) and prints its header, metadata and the asked tiles
// (base64, decompressed) as JSON: TestExportPMTiles compares them with the
// tiles riskmap serves.
//
//   node test/pmtiles.mjs FILE z/x/y ...
import { PMTiles } from "pmtiles";
import { open } from "node:fs/promises";

class FileSource {
  constructor(path) { this.path = path; }
  getKey() { return this.path; }
  async getBytes(offset, length) {
    const fh = await open(this.path);
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return { data: buf.buffer.slice(buf.byteOffset, buf.byteOffset + bytesRead) };
    } finally {
      await fh.close();
    }
  }
}

const [, , file, ...tiles] = process.argv;
const p = new PMTiles(new FileSource(file));
const h = await p.getHeader();
const meta = await p.getMetadata();
const out = {
  header: { specVersion: h.specVersion, minZoom: h.minZoom, maxZoom: h.maxZoom, tileType: h.tileType, addressed: h.numAddressedTiles, contents: h.numTileContents },
  vector_layers: meta.vector_layers,
  tiles: {},
};
for (const t of tiles) {
  const [z, x, y] = t.split("/").map(Number);
  const r = await p.getZxy(z, x, y);
  out.tiles[t] = r ? Buffer.from(r.data).toString("base64") : null;
}
console.log(JSON.stringify(out));
