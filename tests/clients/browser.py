"""Opens a page in headless Chromium and prints its DOM once the page says it
is done: an element matching SELECTOR exists (or TIMEOUT seconds pass, then
exit status 1). Speaks the DevTools protocol over --remote-debugging-pipe, so
nothing but the Python standard library is needed.

usage: python browser.py CHROMIUM URL SELECTOR [TIMEOUT]
"""

import json
import os
import subprocess
import sys
import tempfile
import time

browser, url, selector = sys.argv[1:4]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 240

to_browser_read, to_browser = os.pipe()
from_browser, from_browser_write = os.pipe()
profile = tempfile.mkdtemp()
process = subprocess.Popen(
    [
        "sh", "-c", f'exec "$@" 3<&{to_browser_read} 4>&{from_browser_write}', "sh",
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank",
    ],
    pass_fds=(to_browser_read, from_browser_write),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
os.close(to_browser_read)
os.close(from_browser_write)
pending = b""
next_id = 0


def call(method, params=None, session=None):
    global pending, next_id
    next_id += 1
    message = {"id": next_id, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    os.write(to_browser, json.dumps(message).encode() + b"\0")
    while True:
        while b"\0" not in pending:
            chunk = os.read(from_browser, 65536)
            if not chunk:
                sys.exit("the browser closed its pipe")
            pending += chunk
        raw, pending = pending.split(b"\0", 1)
        reply = json.loads(raw)
        if reply.get("id") == next_id:
            if "error" in reply:
                sys.exit(f"{method}: {reply['error']}")
            return reply["result"]


try:
    target = call("Target.createTarget", {"url": url})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    probe = (
        f"document.querySelector({json.dumps(selector)}) ? "
        "document.documentElement.outerHTML : ''"
    )
    deadline = time.monotonic() + timeout
    dom = ""
    while not dom and time.monotonic() < deadline:
        time.sleep(0.5)
        result = call("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session)
        dom = result.get("result", {}).get("value") or ""
    if not dom:
        final = call(
            "Runtime.evaluate",
            {"expression": "document.documentElement.outerHTML", "returnByValue": True},
            session,
        )
        print(final.get("result", {}).get("value", ""))
        sys.exit(f"no {selector} after {timeout:.0f} s")
    print(dom)
finally:
    process.kill()
    process.wait()
