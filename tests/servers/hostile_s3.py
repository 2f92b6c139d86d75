#!/usr/bin/env python3
"""tests/servers/hostile_s3.py -- a hostile S3 mirror on 127.0.0.1 for tests.

    hostile_s3.py DIR PORT_FILE LOG BIG_KEY

Serves the files under DIR as bucket "bkt" (path style: /bkt/KEY), lists them
with their true sizes (ListObjectsV2), and ignores signatures. A GET of
BIG_KEY (a key the listing gives its true, small size) sends 64 MiB instead,
with a Content-Length saying so; LOG receives one line per GET: the key and
the bytes the server managed to send before the client hung up.
"""
import os, sys, http.server, urllib.parse
from xml.sax.saxutils import escape

root, port_file, log, big = sys.argv[1:5]
BIG = 64 << 20


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        key = urllib.parse.unquote(u.path[len("/bkt/"):]) if u.path.startswith("/bkt/") else None
        if u.path in ("/bkt", "/bkt/") and q.get("list-type") == ["2"]:
            prefix = q.get("prefix", [""])[0]
            items = []
            for d, _, files in os.walk(root):
                for f in files:
                    k = os.path.relpath(os.path.join(d, f), root)
                    if k.startswith(prefix):
                        items.append("<Contents><Key>%s</Key><Size>%d</Size></Contents>"
                                     % (escape(k), os.path.getsize(os.path.join(d, f))))
            body = ("<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>false</IsTruncated>%s"
                    "</ListBucketResult>" % "".join(items)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if key == big:
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            sent, chunk = 0, b"\0" * 65536
            try:
                while sent < BIG:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            with open(log, "a") as f:
                f.write("%s %d\n" % (key, sent))
            return
        path = os.path.join(root, key or "")
        if key and os.path.isfile(path):
            data = open(path, "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET


s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
