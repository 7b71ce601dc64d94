// What the browser tests share: Debian's chromium launched headless by
// playwright-core with the flags this machine's closed network needs, and
// the checks' reporting (ok, or FAIL and exit 1 on the first failure).
import { chromium } from "playwright-core";

export const fail = (msg) => { console.error("FAIL: " + msg); process.exit(1); };
export const ok = (msg) => console.log("ok: " + msg);

export const launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
