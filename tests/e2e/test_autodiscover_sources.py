"""`mailferry autodiscover` finds the right settings through each source
(issue 5): Exchange POX (the domain, autodiscover.DOMAIN, the http redirect
probe, SRV _autodiscover), redirectAddr / redirectUrl, Autodiscover v2,
autoconfig (autoconfig.DOMAIN and .well-known), SRV, MX (provider autoconfig
and the built-in table) and the last-resort guess, against the world of
tests/servers/httpsworld.py. JSON keys: docs/autodiscover.md."""

import pytest

from tests.servers.httpsworld import BASIC_PASSWORD, BASIC_USER

POX = "/autodiscover/autodiscover.xml"


def _found(r, doc):
    assert r.rc == 0, r.describe()
    assert doc["Result"] == "Found" and doc["ExitCode"] == 0, r.describe()
    c = doc["Chosen"]
    assert c and c["Chosen"] is True and c["Usable"] is True, r.describe()
    assert c["NeedsConfirmation"] is False and c["Verified"] is True, r.describe()
    assert doc["Candidates"][0] == c, "the chosen candidate ranks first"
    return c


def _exchange(c, domain, origin, source="pox", trust="domain-https"):
    assert c["Protocol"] == "exchange" and c["Source"] == source, c
    assert c["Trust"] == trust, c
    assert c["Origin"] == origin, c
    assert c["EwsUrl"] == f"https://mail.{domain}/EWS/Exchange.asmx", c


def _imap(c, server, port, security, source, username=None):
    assert (c["Protocol"], c["Server"], c["Port"], c["Security"]) == \
        ("imap", server, port, security), c
    assert c["Source"] == source, c
    if username is not None:
        assert c["UserName"] == username, c
    assert c["VerifyDetail"] and "ok" in c["VerifyDetail"], c


# ---- Exchange POX -------------------------------------------------------------

def test_pox_exchange(ad, autodiscover_world):
    w = autodiscover_world
    r, doc = ad("user@pox-exch.test")
    assert doc["EmailAddress"] == "user@pox-exch.test"
    c = _found(r, doc)
    _exchange(c, "pox-exch.test", f"https://pox-exch.test{POX}")
    assert c["ExchangeServer"] == "exch01.pox-exch.test"
    assert c["RpcProxyServer"] == "mail.pox-exch.test"
    assert c["AuthPackage"] == "ntlm"
    assert c["OwaUrl"] == "https://mail.pox-exch.test/owa/"
    assert ad.source(doc, "pox")["Outcome"] == "found"
    posts = [q for q in w.requests(case="pox-exch", since=ad.run.since) if q.method == "POST"]
    assert posts, "no POX request reached the server"
    q = posts[0]
    assert q.scheme == "https" and q.path == POX and q.sni == q.host
    assert b"<EMailAddress>user@pox-exch.test</EMailAddress>" in q.body
    assert b"outlook/responseschema/2006a" in q.body
    assert "xml" in (q.header("Content-Type") or "")
    assert q.authorization is None, "no credentials were given"


def test_pox_imap_section(ad):
    r, doc = ad("user@pox-imap.test")
    c = _found(r, doc)
    _imap(c, "store1.pox-imap.test", 993, "tls", "pox", username="user@pox-imap.test")
    assert c["Origin"] == f"https://pox-imap.test{POX}"


def test_pox_http_redirect_probe(ad, autodiscover_world):
    r, doc = ad("user@probe.test")
    c = _found(r, doc)
    _exchange(c, "probe.test", f"https://mail.probe.test{POX}")
    reqs = autodiscover_world.requests(case="probe", since=ad.run.since)
    probes = [q for q in reqs if q.scheme == "http"]
    assert [(q.method, q.host, q.path) for q in probes] == [("GET", "autodiscover.probe.test", POX)]
    assert not probes[0].body and probes[0].authorization is None
    assert any(q.scheme == "https" and q.host == "mail.probe.test" and q.method == "POST"
               for q in reqs)


def test_pox_srv_autodiscover(ad, autodiscover_world):
    r, doc = ad("user@adsrv.test")
    c = _found(r, doc)
    _exchange(c, "adsrv.test", f"https://mail.adsrv.test{POX}")
    assert ("SRV", "_autodiscover._tcp.adsrv.test") in autodiscover_world.dns.queries()


def test_pox_redirect_addr(ad, autodiscover_world):
    r, doc = ad("user@redirect-addr.test")
    c = _found(r, doc)
    _exchange(c, "pox-exch.test", f"https://pox-exch.test{POX}")
    asked = [q for q in autodiscover_world.requests(case="pox-exch", since=ad.run.since)
             if q.method == "POST"]
    assert asked and all(b"<EMailAddress>user@pox-exch.test<" in q.body for q in asked)


def test_pox_redirect_url(ad):
    r, doc = ad("user@redirect-url.test")
    c = _found(r, doc)
    _exchange(c, "redirect-url.test",
              "https://mail.redirect-url.test/autodiscover/target/autodiscover.xml")


def test_pox_with_basic_credentials(ad, autodiscover_world):
    r, doc = ad("user@basic.test", creds=(BASIC_USER, BASIC_PASSWORD))
    c = _found(r, doc)
    _exchange(c, "basic.test", f"https://basic.test{POX}", trust="authenticated-https")
    authed = [q for q in autodiscover_world.requests(case="basic", since=ad.run.since)
              if q.authorization]
    assert authed and all(q.scheme == "https" for q in authed)
    assert BASIC_PASSWORD not in r.out + r.err


# ---- Autodiscover v2 --------------------------------------------------------------

def test_autodiscover_v2(ad, autodiscover_world):
    r, doc = ad("user@v2.test")
    c = _found(r, doc)
    assert c["Protocol"] == "exchange" and c["Source"] == "autodiscover-v2", c
    assert c["EwsUrl"] == "https://mail.v2.test/EWS/Exchange.asmx"
    assert c["Trust"] == "domain-https"
    gets = [q for q in autodiscover_world.requests(case="v2", since=ad.run.since)
            if q.path == "/autodiscover/autodiscover.json"]
    assert gets and all(q.method == "GET" and q.scheme == "https" for q in gets)
    assert gets[0].query == {"Email": "user@v2.test", "Protocol": "Ews"}


# ---- autoconfig -----------------------------------------------------------------

def test_autoconfig_subdomain(ad, autodiscover_world):
    r, doc = ad("user@autoconfig.test")
    c = _found(r, doc)
    # hostname store1.%EMAILDOMAIN%, username %EMAILLOCALPART%; the pop3
    # server listed first is not an IMAP candidate.
    _imap(c, "store1.autoconfig.test", 993, "tls", "autoconfig", username="user")
    assert c["Auth"] == "plain" and c["Trust"] == "domain-https"
    assert not ad.candidates(doc, Server="pop.autoconfig.test")
    gets = [q for q in autodiscover_world.requests(case="autoconfig", since=ad.run.since)
            if q.host == "autoconfig.autoconfig.test"]
    assert gets and gets[0].path == "/mail/config-v1.1.xml"
    assert gets[0].query == {"emailaddress": "user@autoconfig.test"}


def test_autoconfig_well_known(ad):
    r, doc = ad("user@wellknown.test")
    c = _found(r, doc)
    _imap(c, "store1.wellknown.test", 143, "starttls", "autoconfig",
          username="user@wellknown.test")
    assert c["Origin"] == "https://wellknown.test/.well-known/autoconfig/mail/config-v1.1.xml"


# ---- SRV -----------------------------------------------------------------------

def test_srv_records(ad):
    r, doc = ad("user@srv.test")
    c = _found(r, doc)
    _imap(c, "mailstore.srv.test", 993, "tls", "srv")
    assert c["Trust"] == "srv"
    # the priority-5 target has nothing listening: listed, not usable
    backup = ad.candidates(doc, Server="backup.srv.test")
    assert all(b["Verified"] is False and b["Usable"] is False for b in backup)
    starttls = ad.candidates(doc, Server="mailstore.srv.test", Port=143)
    assert all(s["Security"] == "starttls" and s["Rank"] > c["Rank"] for s in starttls)


def test_srv_target_dot_means_not_offered(ad):
    r, doc = ad("user@srvdot.test")
    assert r.rc == 30, r.describe()
    src = ad.source(doc, "srv")
    assert src["Outcome"] == "nothing"
    assert src["Reason"] == '_imaps._tcp and _imap._tcp: not offered (target ".")'


# ---- MX --------------------------------------------------------------------------

def test_mx_provider_autoconfig_needs_confirmation(ad, autodiscover_world):
    r, doc = ad("user@mx.test")
    assert r.rc == 31, r.describe()
    assert doc["Chosen"] is None and doc["ExitCode"] == 31
    (c,) = ad.candidates(doc, Server="store1.mxhost.test")
    assert c["Source"] == "mx" and c["Trust"] == "mx" and c["Verified"] is True
    assert c["NeedsConfirmation"] is True
    assert c["Warning"] == ("MX-derived server store1.mxhost.test is outside mx.test: use "
                            "--allow-untrusted-candidates to accept it (found through MX host "
                            "mx1.mxhost.test)")
    # only the lowest-preference MX host leads anywhere
    assert not ad.candidates(doc, Server="store1.other.test")
    assert "--allow-untrusted-candidates" in doc["Message"]
    names = [n for _, n in autodiscover_world.dns.queries()]
    assert "autoconfig.mxhost.test" in names and "autoconfig.other.test" not in names


def test_mx_provider_autoconfig_confirmed(ad):
    r, doc = ad("user@mx.test", "--allow-untrusted-candidates")
    assert r.rc == 0, r.describe()
    c = doc["Chosen"]
    _imap(c, "store1.mxhost.test", 993, "tls", "mx", username="user@mx.test")
    assert c["NeedsConfirmation"] is True and c["Verified"] is True


def test_mx_builtin_provider_table(ad, autodiscover_world):
    """MX aspmx.l.google.com -> the table's imap.gmail.com: listed, but the
    live check fails (the world's DNS does not know it), so never chosen."""
    r, doc = ad("user@mxprovider.test")
    assert r.rc == 30, r.describe()
    (c,) = ad.candidates(doc, Server="imap.gmail.com")
    assert (c["Source"], c["Port"], c["Security"]) == ("mx", 993, "tls")
    assert c["Verified"] is False and c["Usable"] is False and c["VerifyDetail"]
    assert c["Origin"].startswith("MX mxprovider.test -> aspmx.l.google.com")
    assert doc["Chosen"] is None
    assert ("A", "imap.gmail.com") in autodiscover_world.dns.queries()


# ---- guess ---------------------------------------------------------------------

def test_guess_993(ad):
    r, doc = ad("user@guess.test")
    c = _found(r, doc)
    _imap(c, "imap.guess.test", 993, "tls", "guess")
    assert c["Trust"] == "guess"


def test_guess_143_starttls(ad):
    r, doc = ad("user@guess143.test")
    c = _found(r, doc)
    _imap(c, "imap.guess143.test", 143, "starttls", "guess")


# ---- options and output ---------------------------------------------------------

def test_protocol_exchange_skips_imap_sources(ad):
    r, doc = ad("user@autoconfig.test", "--protocol", "exchange")
    assert r.rc == 30, r.describe()
    for name in ("autoconfig", "srv", "guess"):
        assert ad.source(doc, name)["Outcome"] == "skipped"
    assert "--type exchange-remote --server HOST" in doc["Message"]


def test_protocol_imap_ignores_exchange(ad):
    r, doc = ad("user@pox-exch.test", "--protocol", "imap")
    assert r.rc == 30, r.describe()
    assert ad.source(doc, "autodiscover-v2")["Outcome"] == "skipped"
    assert all(c["Usable"] is False for c in ad.candidates(doc, Protocol="exchange"))


def test_trace_lists_queries_and_urls(ad):
    r, _ = ad("user@srv.test", "--trace", json_out=False)
    assert r.rc == 0, r.describe()
    text = r.out + r.err
    assert "_imaps._tcp.srv.test" in text
    assert "https://autoconfig.srv.test/mail/config-v1.1.xml" in text
    assert "mailstore.srv.test:993" in text


def test_trace_never_shows_the_password(ad):
    r, _ = ad("user@basic.test", "--trace", creds=(BASIC_USER, BASIC_PASSWORD), json_out=False)
    assert r.rc == 0, r.describe()
    assert BASIC_PASSWORD not in r.out + r.err
    assert "(with credentials)" in r.out + r.err


def test_text_output_names_the_settings(ad):
    r, _ = ad("user@guess.test", json_out=False)
    assert r.rc == 0, r.describe()
    assert "imap.guess.test" in r.out and "993" in r.out


@pytest.mark.parametrize("bad", ["not-an-address", "user@", "@nothing.test"])
def test_malformed_address(ad, bad):
    r, _ = ad(bad, json_out=False)
    assert r.rc == 2, r.describe()
    assert "is not an e-mail address (expected USER@DOMAIN)" in r.err
