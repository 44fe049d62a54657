#!/usr/bin/env python3
"""Renders an HTML report in headless Chromium and checks what a user would see.

usage: check_html.py REPORT.html [SCREENSHOT.png]

Checks: the page's script ran without an error (it sets <body data-status="ok">, or
"error: ..." on an exception); the screenshot is not blank (many colours, a real share of
non-white pixels); a zoomed view (#t=A-B) renders too. Exit 0 when all hold, 1 otherwise.
Needs only the Python standard library and a `chromium` on PATH.
"""
import os, re, shutil, struct, subprocess, sys, tempfile, zlib

def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    sys.exit("check_html: no chromium on PATH")

def run(args, timeout=120):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)

def base_args(profile):
    return [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=" + profile, "--virtual-time-budget=3000"]

def png_pixels(path):
    """Decodes an 8-bit RGB(A) non-interlaced PNG (what Chromium writes) into rows of bytes."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6), "unexpected PNG format"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line)); prev = line
    return w, h, bpp, rows

def check_screenshot(path):
    w, h, bpp, rows = png_pixels(path)
    colours, nonwhite, total = set(), 0, 0
    for y in range(0, h, 3):
        r = rows[y]
        for x in range(0, w, 3):
            px = r[x * bpp:x * bpp + 3]
            colours.add(px); total += 1
            if px[0] < 235 or px[1] < 235 or px[2] < 235:
                nonwhite += 1
    share = nonwhite / max(1, total)
    return len(colours), share

def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    report = os.path.abspath(sys.argv[1])
    shot = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.mkdtemp(), "report.png")
    profile = tempfile.mkdtemp()
    problems = []
    for suffix in ("", "#t=100-200"):
        dom = run(base_args(profile) + ["--dump-dom", "file://" + report + suffix])
        m = re.search(r'<body[^>]*data-status="([^"]*)"', dom.stdout)
        status = m.group(1) if m else "(no body status)"
        if status != "ok":
            problems.append("page%s: script status %r" % (suffix, status))
    r = run(base_args(profile) + ["--window-size=1400,1600", "--screenshot=" + shot, "file://" + report])
    if not os.path.exists(shot):
        problems.append("no screenshot: " + r.stderr[-500:])
    else:
        colours, share = check_screenshot(shot)
        if colours < 20 or share < 0.05:
            problems.append("the screenshot looks blank: %d colours, %.1f%% non-white" % (colours, 100 * share))
        else:
            print("screenshot %s: %d colours, %.1f%% non-white" % (shot, colours, 100 * share))
    for p in problems:
        print("check_html: " + p)
    sys.exit(1 if problems else 0)

main()
