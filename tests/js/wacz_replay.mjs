// tests/js/wacz_replay.mjs ARCHIVE.wacz PAGE_URL EXPECTED_TEXT LINK_SELECTOR SCREENSHOT.png
// Opens a WACZ in ReplayWeb.page (npm replaywebpage) in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core), the way a reader
// would:
// - serves ReplayWeb.page's ui.js and sw.js, a page embedding
//   <replay-web-page source="archive.wacz" url=PAGE_URL>, and the WACZ (with
//   Range requests, as ReplayWeb.page reads a WACZ by ranges) from 127.0.0.1;
// - waits for the archived page to render inside the replay's frames, checks
//   that its text holds EXPECTED_TEXT, and keeps a screenshot;
// - takes the first link of the archived page matching LINK_SELECTOR (a
//   dataset), fetches it from the archive through ReplayWeb.page's service
//   worker (w/<coll>/<ts>id_/<url>: the bytes as captured) and prints
//   "download <url> <status> <bytes> <sha256>".
// Nothing leaves 127.0.0.1: Chromium's own background traffic is turned off
// and every request of the page to another host is aborted (and counted).
// Exits 1 with the first problem found.
import { createServer } from "node:http";
import { createReadStream, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const [wacz, pageUrl, expected, linkSelector, shot] = process.argv.slice(2);
if (!shot) {
  console.error("usage: wacz_replay.mjs ARCHIVE.wacz PAGE_URL EXPECTED_TEXT LINK_SELECTOR SCREENSHOT.png");
  process.exit(2);
}
const rwp = join(dirname(fileURLToPath(import.meta.url)), "node_modules", "replaywebpage");
const TIMEOUT = 60000; // ms for ReplayWeb.page to load the archive and show the page's frame
// ms for the frame, once it shows text, to show the text asked for (the failing check sets it short)
const TEXT_TIMEOUT = Number(process.env.WACZ_REPLAY_TIMEOUT) || 60000;

function fail(msg) {
  console.error("wacz_replay: " + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

const esc = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
const index = `<!doctype html>
<html><head><meta charset="utf-8"><title>salvage WACZ replay</title><script src="./ui.js"></script></head>
<body style="margin:0"><replay-web-page style="display:block;height:100vh" source="archive.wacz"
 url="${esc(pageUrl)}" replayBase="./replay/" embed="replayonly"></replay-web-page></body></html>
`;

// The static files, and the WACZ with Range support.
const files = {
  "/": { body: index, type: "text/html; charset=utf-8" },
  "/ui.js": { path: join(rwp, "ui.js"), type: "application/javascript" },
  "/replay/sw.js": { path: join(rwp, "sw.js"), type: "application/javascript" },
  "/archive.wacz": { path: wacz, type: "application/zip" },
};
const server = createServer((req, res) => {
  const f = files[new URL(req.url, "http://x").pathname];
  if (!f) {
    res.writeHead(404).end();
    return;
  }
  if (f.body !== undefined) {
    res.writeHead(200, { "Content-Type": f.type }).end(req.method === "HEAD" ? undefined : f.body);
    return;
  }
  const size = statSync(f.path).size;
  const headers = { "Content-Type": f.type, "Accept-Ranges": "bytes", "Cache-Control": "no-store" };
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || "");
  let start = 0, end = size - 1, status = 200;
  if (m && (m[1] || m[2])) {
    if (m[1]) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    } else {
      start = Math.max(0, size - Number(m[2]));
    }
    if (start > end || start >= size) {
      res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
      return;
    }
    status = 206;
    headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
  }
  headers["Content-Length"] = String(end - start + 1);
  res.writeHead(status, headers);
  if (req.method === "HEAD" || end < start) res.end();
  else createReadStream(f.path, { start, end }).pipe(res);
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    // no traffic of Chromium's own: updates, safe browsing, metrics, DNS of other hosts
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--metrics-recording-only",
    "--no-first-run",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
  ],
});
let blocked = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.route("**/*", (route) => {
    const u = new URL(route.request().url());
    if (["http:", "https:", "ws:", "wss:"].includes(u.protocol) && !["127.0.0.1", "localhost"].includes(u.hostname)) {
      blocked.push(u.href);
      return route.abort();
    }
    return route.continue();
  });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error: " + e.message));
  await page.goto(origin + "/", { timeout: TIMEOUT });

  // The archived page: the frame ReplayWeb.page loads it in, replay/w/<coll>/[:<hash>/]<ts>mp_/<url>.
  let deadline = Date.now() + TIMEOUT, textSeen = false;
  // Now and then (seen on a loaded machine, a second replay right after another) ReplayWeb.page
  // stays on its loading view: one reload, as a user would, after a third of the time.
  let reloadAt = Date.now() + TIMEOUT / 3;
  let frame = null, text = "";
  while (Date.now() < deadline) {
    frame = page.frames().find((f) => /\/replay\/w\/.*\/[0-9]+mp_\//.test(f.url()) && f.url().endsWith(pageUrl));
    if (!frame && reloadAt && Date.now() > reloadAt) {
      reloadAt = 0;
      console.log("no replay frame yet: reloading once");
      await page.reload({ timeout: TIMEOUT }).catch((e) => console.error("reload: " + e.message));
      continue;
    }
    if (frame) {
      text = await frame.evaluate(() => (document.body ? document.body.innerText : "")).catch(() => "");
      if (text.includes(expected)) break;
      if (text && !textSeen) {
        textSeen = true;
        deadline = Math.min(deadline, Date.now() + TEXT_TIMEOUT);
      }
    }
    await page.waitForTimeout(250);
  }
  console.log("frames: " + page.frames().map((f) => f.url()).join(" | "));
  if (!frame) fail(`no replay frame for ${pageUrl} after ${TIMEOUT / 1000} s`);
  console.log("replayed " + frame.url());
  await page.waitForTimeout(500); // images and styles settle for the screenshot
  await page.screenshot({ path: shot });
  console.log("screenshot " + shot);
  if (!text.includes(expected)) fail(`the replayed page does not show '${expected}'; its text: ${text.slice(0, 300)}`);
  console.log(`page shows '${expected}'`);

  // A dataset link of the replayed page, fetched from the archive as captured.
  const link = await frame.evaluate((sel) => {
    const a = document.querySelector(sel);
    return a ? a.href : null; // the replay's scripts give the archived URL, not the rewritten one
  }, linkSelector);
  if (!link) fail(`no link '${linkSelector}' in the replayed page`);
  const dataUrl = new URL(link, pageUrl).href;
  const m = /^(.*\/replay\/w\/.*?\/)([0-9]+)mp_\//.exec(frame.url());
  const replayUrl = `${m[1]}${m[2]}id_/${dataUrl}`;
  // From a frame the service worker controls (ReplayWeb.page's own), with its native fetch.
  const app = page.frames().find((f) => f.url().startsWith(origin + "/replay/") && !/\/w\//.test(f.url()));
  if (!app) fail("no ReplayWeb.page app frame under /replay/");
  const got = await app.evaluate(async (u) => {
    const r = await fetch(u);
    const buf = await r.arrayBuffer();
    const md = await crypto.subtle.digest("SHA-256", buf);
    const hex = [...new Uint8Array(md)].map((b) => b.toString(16).padStart(2, "0")).join("");
    return { status: r.status, bytes: buf.byteLength, hex };
  }, replayUrl);
  console.log(`download ${dataUrl} ${got.status} ${got.bytes} ${got.hex}`);
  if (got.status !== 200) fail(`${replayUrl}: status ${got.status}`);
  if (blocked.length) console.log(`blocked ${blocked.length} requests off 127.0.0.1: ${blocked.slice(0, 5).join(" ")}`);
} catch (e) {
  if (!process.exitCode) {
    console.error("wacz_replay: " + (e && e.stack ? e.stack : e));
    process.exitCode = 1;
  }
} finally {
  await browser.close();
  server.close();
}
