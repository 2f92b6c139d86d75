// tests/js/warc_check.mjs FILE.warc[.gz]: reads a WARC with webrecorder's
// warcio and checks it the way a reader of the archiving world would:
// - every record's WARC-Block-Digest is recomputed over its block, and every
//   WARC-Payload-Digest over its payload (the block after the HTTP header for
//   request/response records, the whole block for resource records);
// - request and response records name each other in WARC-Concurrent-To;
// - a revisit's payload digest is that of a response written before it, at
//   the URI and date it refers to;
// - every response parses as HTTP with warcio's own parser.
// Prints one JSON line per record ({type, url, status, payload}) and a last
// line "ok N records"; exits 1 with the first problem found.
import { createReadStream } from "node:fs";
import { createHash } from "node:crypto";
import { WARCParser } from "warcio";

function fail(msg) {
  console.error("warc_check: " + msg);
  process.exit(1);
}

function sha256(buf) {
  return "sha256:" + createHash("sha256").update(buf).digest("hex");
}

function split(block) {
  const i = block.indexOf("\r\n\r\n");
  if (i < 0) fail("an HTTP block without the end of its header");
  return [block.subarray(0, i + 4), block.subarray(i + 4)];
}

const file = process.argv[2];
const byId = new Map();
const responses = new Map(); // payload digest -> {url, date}
const pairs = [];
let n = 0;

// Pass 1: the raw blocks, digests and links between records.
for await (const r of new WARCParser(createReadStream(file), { parseHttp: false })) {
  const h = r.warcHeaders.headers;
  const type = h.get("WARC-Type");
  const id = h.get("WARC-Record-ID");
  const url = h.get("WARC-Target-URI");
  const block = Buffer.from(await r.readFully(false));
  n++;
  if (!id || byId.has(id)) fail(`record ${n}: missing or repeated WARC-Record-ID ${id}`);
  if (Number(h.get("Content-Length")) !== block.length)
    fail(`${type} ${url}: Content-Length ${h.get("Content-Length")}, block ${block.length} bytes`);
  const bd = h.get("WARC-Block-Digest");
  if (bd !== sha256(block)) fail(`${type} ${url}: WARC-Block-Digest ${bd}, block hashes to ${sha256(block)}`);
  const pd = h.get("WARC-Payload-Digest");
  let payload = null;
  if (type === "response" || type === "request") payload = split(block)[1];
  else if (type === "resource") payload = block;
  if (type === "response" || type === "resource") {
    if (pd !== sha256(payload)) fail(`${type} ${url}: WARC-Payload-Digest ${pd}, payload hashes to ${sha256(payload)}`);
    if (!responses.has(pd)) responses.set(pd, { url, date: h.get("WARC-Date") });
  }
  if (type === "revisit") {
    const first = responses.get(pd);
    if (!first) fail(`revisit ${url}: no response with ${pd} before it`);
    if (h.get("WARC-Refers-To-Target-URI") !== first.url || h.get("WARC-Refers-To-Date") !== first.date)
      fail(`revisit ${url}: refers to ${h.get("WARC-Refers-To-Target-URI")} ${h.get("WARC-Refers-To-Date")}, ` +
           `the payload was first written for ${first.url} ${first.date}`);
    if (h.get("WARC-Profile") !== "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest")
      fail(`revisit ${url}: profile ${h.get("WARC-Profile")}`);
  }
  if (type === "request" || type === "response" || type === "revisit") {
    const ct = h.get("Content-Type");
    const want = "application/http;msgtype=" + (type === "request" ? "request" : "response");
    if (ct !== want) fail(`${type} ${url}: Content-Type ${ct}`);
  }
  const to = h.get("WARC-Concurrent-To");
  if (to) pairs.push([id, to, type, url]);
  byId.set(id, { type, url });
}
for (const [id, to, type, url] of pairs) {
  const other = byId.get(to);
  if (!other) fail(`${type} ${url}: WARC-Concurrent-To ${to} is no record of this file`);
  if (other.url !== url) fail(`${type} ${url}: WARC-Concurrent-To a record of ${other.url}`);
  if (type === "request" && other.type !== "response" && other.type !== "revisit")
    fail(`request ${url}: concurrent to a ${other.type}`);
}

// Pass 2: warcio's own HTTP parsing of every response and revisit.
for await (const r of new WARCParser(createReadStream(file))) {
  const type = r.warcType;
  const url = r.warcTargetURI;
  let status = null;
  if (type === "response" || type === "revisit") {
    if (!r.httpHeaders) fail(`${type} ${url}: warcio parses no HTTP header`);
    status = Number(r.httpHeaders.statusCode);
  }
  await r.readFully(false);
  console.log(JSON.stringify({ type, url: url || null, status, payload: r.warcPayloadDigest || null }));
}
console.log(`ok ${n} records`);
