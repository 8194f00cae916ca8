"""Running the mailferry binary under test, and checks shared by the e2e tests.

    mf = Mailferry(binary, env)
    rc, out, err = mf.run(["endpoint", "list", "--json"])
    r = mf.run([...], input="masterpw\\n"); r.json()

Every run is kept in mf.history (args, rc, stdout, stderr) so a test can
search all output for a secret.
"""

import base64
import json
import os
import subprocess
from collections import namedtuple

STAGES = ("dns", "connect", "tls", "greeting", "starttls", "capability", "login", "select")
STAGE_EXIT = {s: 10 + i for i, s in enumerate(STAGES)}
MIGRATION_CAPABILITIES = ("UIDPLUS", "CONDSTORE", "QRESYNC", "SPECIAL-USE", "MOVE",
                          "APPENDLIMIT", "LITERAL+", "MULTIAPPEND", "COMPRESS")


class Result(namedtuple("Result", "rc out err")):
    """(exit code, stdout, stderr) of one run; args is kept for messages."""

    args = ()

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError(f"stdout is not JSON ({e}):\n{self.describe()}") from None

    def describe(self):
        return (f"$ mailferry {' '.join(self.args)}\nexit code {self.rc}\n"
                f"--- stdout\n{self.out}--- stderr\n{self.err}---")

    def __str__(self):
        return self.describe()


class Mailferry:
    def __init__(self, binary, env, timeout=60):
        self.binary = binary
        self.env = dict(env)
        self.timeout = timeout
        self.history = []

    def run(self, args, input=None, timeout=None, env=None, unset=()):
        """Run mailferry with args (a list of strings). input: str for stdin
        (None: stdin is /dev/null, so no terminal and no password)."""
        e = dict(self.env)
        if env:
            e.update(env)
        for k in unset:
            e.pop(k, None)
        args = [str(a) for a in args]
        try:
            p = subprocess.run([self.binary, *args], input=input if input is not None else None,
                               stdin=subprocess.DEVNULL if input is None else None,
                               capture_output=True, text=True, env=e,
                               timeout=timeout or self.timeout, errors="replace")
        except subprocess.TimeoutExpired as ex:
            out = ex.stdout.decode(errors="replace") if isinstance(ex.stdout, bytes) else ex.stdout
            err = ex.stderr.decode(errors="replace") if isinstance(ex.stderr, bytes) else ex.stderr
            raise AssertionError(f"mailferry {' '.join(args)} did not finish within "
                                 f"{ex.timeout} s\n--- stdout\n{out}\n--- stderr\n{err}") from None
        r = Result(p.returncode, p.stdout, p.stderr)
        r.args = tuple(args)
        self.history.append(r)
        return r


# ---- JSON helpers ---------------------------------------------------------

_MISSING = object()


def jget(obj, key, default=_MISSING):
    """obj[key], with the key matched case-insensitively."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        low = key.lower()
        for k, v in obj.items():
            if k.lower() == low:
                return v
    if default is _MISSING:
        raise AssertionError(f"no {key!r} in {json.dumps(obj, indent=1)[:2000]}")
    return default


def endpoint_list(doc):
    """The endpoint objects of `endpoint list --json` (an array, or an
    object holding one)."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for v in doc.values():
            if isinstance(v, list):
                return v
    raise AssertionError(f"unexpected endpoint list JSON: {doc!r}")


def endpoint_names(doc):
    return [jget(e, "Name") for e in endpoint_list(doc)]


def assert_one_line(message):
    assert isinstance(message, str) and message.strip(), f"empty Message: {message!r}"
    assert "\n" not in message and "\r" not in message, f"Message is not one line: {message!r}"


def assert_test_success(r):
    """r: the Result of a connection test with --json."""
    assert r.rc == 0, r.describe()
    doc = r.json()
    assert jget(doc, "Result") == "Success", r.describe()
    assert jget(doc, "FailedStage", None) in (None, ""), r.describe()
    assert_one_line(jget(doc, "Message"))
    return doc


def assert_test_failed(r, stage):
    """r: the Result of a connection test with --json that must fail at stage."""
    doc = r.json()
    assert jget(doc, "Result") == "Failed", r.describe()
    assert jget(doc, "FailedStage") == stage, r.describe()
    assert_one_line(jget(doc, "Message"))
    assert r.rc == STAGE_EXIT[stage], r.describe()
    stages = {jget(s, "Stage"): s for s in jget(doc, "Stages")}
    if stage in stages:
        assert jget(stages[stage], "Status") == "failed", r.describe()
    return doc


def stage_status(doc):
    return {jget(s, "Stage"): jget(s, "Status") for s in jget(doc, "Stages")}


# ---- secrets --------------------------------------------------------------

def b64_fragments(secret):
    """Substrings that appear in the base64 of any byte string containing
    secret, whatever its alignment: up to 3 forms, each made only of secret
    bytes; forms shorter than 8 characters (6 bytes) are left out, as they
    could match by chance."""
    s = secret.encode() if isinstance(secret, str) else secret
    out = set()
    for p in range(3):
        enc = base64.b64encode(b"\0" * p + s).decode()
        first = -(-p // 3)                 # first 3-byte group holding only secret bytes
        last = (p + len(s)) // 3           # groups before this one are complete
        if last > first:
            out.add(enc[4 * first:4 * last])
    return sorted(x for x in out if len(x) >= 8)


def plain_sasl_b64(authz, authc, password):
    return base64.b64encode(f"{authz}\0{authc}\0{password}".encode()).decode()


def secret_needles(secret, logins=()):
    """The forms in which secret must never appear: plain, base64 (any
    alignment), hex, and the AUTHENTICATE PLAIN messages of logins
    ((authz, authc) pairs)."""
    needles = {secret, secret.encode().hex()}
    needles.update(b64_fragments(secret))
    for authz, authc in logins:
        needles.add(plain_sasl_b64(authz, authc, secret))
    return sorted(needles)


def find_in_text(text, needles):
    return [n for n in needles if n in text]


def find_in_tree(root, needles):
    """[(path, needle)] for every file under root holding a needle."""
    hits = []
    bneedles = [n.encode() for n in needles]
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for n in bneedles:
                if n in data:
                    hits.append((path, n.decode()))
    return hits
