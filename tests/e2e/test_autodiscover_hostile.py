"""Hostile autodiscover answers (issue 5): each yields its documented refusal
(docs/autodiscover.md), and the world's servers show that no credentials went
over http, to an untrusted host, or after a downgrade (the `ad_run` fixture
checks every request of the test; the tests check more where it matters).
Credentials are given where there is something to leak."""

import time

from tests.servers.httpsworld import BASIC_PASSWORD, BASIC_USER

POX = "/autodiscover/autodiscover.xml"
CREDS = (BASIC_USER, BASIC_PASSWORD)
ENTER_BY_HAND = "Enter the server by hand: mailferry endpoint new NAME --type imap --server HOST"


def _not_found(r, doc, code=30):
    assert r.rc == code, r.describe()
    assert doc["Result"] == "NotFound" and doc["Chosen"] is None, r.describe()
    msg = doc["Message"]
    assert msg.startswith(f"The Autodiscover service couldn't be located for {doc['EmailAddress']}.")
    assert msg.rstrip().splitlines()[-1].startswith(ENTER_BY_HAND), msg
    return msg


def _no_secret_anywhere(r, world, since):
    assert BASIC_PASSWORD not in r.out + r.err
    for q in world.requests(since=since):
        assert BASIC_PASSWORD.encode() not in q.body, q


def test_downgrade_to_http_refused(ad, autodiscover_world):
    w = autodiscover_world
    r, doc = ad("user@downgrade.test", creds=CREDS)
    msg = _not_found(r, doc)
    src = ad.source(doc, "pox")
    assert src["Outcome"] == "refused", src
    target = f"http://mail.downgrade.test{POX}"
    assert f"redirect to http refused: {target}" in src["Reason"], src
    assert f"redirect to http refused: {target}" in msg
    reqs = w.requests(case="downgrade", since=ad.run.since)
    # the three ways in were tried; the http target was never contacted
    assert {(q.scheme, q.host) for q in reqs} >= {("https", "downgrade.test"),
                                                  ("https", "autodiscover.downgrade.test"),
                                                  ("http", "autodiscover.downgrade.test")}
    assert not [q for q in reqs if q.host == "mail.downgrade.test"]
    assert all(q.authorization is None for q in reqs if q.scheme == "http")
    _no_secret_anywhere(r, w, ad.run.since)


def test_redirect_loop_detected(ad, autodiscover_world):
    r, doc = ad("user@loop.test", creds=CREDS)
    _not_found(r, doc)
    src = ad.source(doc, "pox")
    assert src["Outcome"] == "refused"
    assert "redirect loop: https://" in src["Reason"] and "was already visited" in src["Reason"]
    assert len(autodiscover_world.requests(case="loop", since=ad.run.since)) < 20


def test_too_many_redirects(ad, autodiscover_world):
    r, doc = ad("user@chain.test")
    _not_found(r, doc)
    src = ad.source(doc, "pox")
    assert src["Outcome"] == "refused"
    assert "too many redirects (more than 10)" in src["Reason"]
    hops = autodiscover_world.requests(case="chain", since=ad.run.since)
    assert 10 <= len(hops) <= 3 * 12, hops


def test_malformed_xml_refused(ad):
    r, doc = ad("user@malformed.test")
    _not_found(r, doc)
    src = ad.source(doc, "pox")
    assert src["Outcome"] == "refused"
    assert f"https://malformed.test{POX} -> malformed XML" in src["Reason"]


def test_xxe_and_entity_bomb_refused(ad, autodiscover_world):
    w = autodiscover_world
    r, doc = ad("user@xxe.test", creds=CREDS)
    _not_found(r, doc)
    src = ad.source(doc, "pox")
    assert src["Outcome"] == "refused"
    assert f"https://xxe.test{POX} -> XML with a DTD refused" in src["Reason"]
    assert f"https://autodiscover.xxe.test{POX} -> XML with a DTD refused" in src["Reason"]
    # no entity was resolved: nothing fetched from the sink, no file read
    assert not w.requests(host="xxe-sink.xxe.test")
    assert w.xxe_marker not in r.out + r.err
    assert "lollollol" not in r.out + r.err
    assert not ad.candidates(doc, Protocol="exchange")


def test_huge_answer_refused(ad):
    r, doc = ad("user@huge.test")
    _not_found(r, doc)
    src = ad.source(doc, "pox")
    assert src["Outcome"] == "refused"
    # with Content-Length and chunked
    assert f"https://huge.test{POX} -> response larger than 1 MiB refused" in src["Reason"]
    assert (f"https://autodiscover.huge.test{POX} -> response larger than 1 MiB refused"
            in src["Reason"])


def test_silent_server_times_out(ad):
    """Each source waits one request timeout (10 s without a timeout option),
    concurrently; the run does not add them up."""
    limit = 1 if ad.has_timeout else 10
    t0 = time.monotonic()
    r, doc = ad("user@silent.test", timeout=limit)
    elapsed = time.monotonic() - t0
    _not_found(r, doc)
    for name, url in (("pox", f"https://silent.test{POX}"),
                      ("autoconfig", "https://silent.test/.well-known/autoconfig/mail/"
                                     "config-v1.1.xml")):
        src = ad.source(doc, name)
        assert src["Outcome"] == "error", src
        assert f"{url} -> no answer within {limit} s" in src["Reason"], src
    assert elapsed < limit * 1.5 + 3, f"took {elapsed:.1f} s with a {limit} s request timeout"


def test_basic_without_credentials(ad):
    r, doc = ad("user@basic.test")
    _not_found(r, doc)
    assert ("401: credentials needed (give --admin-user with --password-stdin or "
            "--password-file)") in ad.source(doc, "pox")["Reason"]


def test_basic_wrong_credentials(ad, autodiscover_world):
    r, doc = ad("user@basic.test", creds=(BASIC_USER, "wrong-password-1234"))
    _not_found(r, doc)
    assert "401: credentials rejected" in ad.source(doc, "pox")["Reason"]
    authed = [q for q in autodiscover_world.requests(case="basic", since=ad.run.since)
              if q.authorization]
    assert authed and all(q.scheme == "https" and q.authorization.startswith("Basic ")
                          for q in authed)


def test_ntlm_attempted_over_https_only(ad, autodiscover_world):
    w = autodiscover_world
    r, doc = ad("user@ntlm.test", creds=CREDS)
    _not_found(r, doc)
    src = ad.source(doc, "pox")
    assert "401: credentials rejected (the server offers NTLM)" in src["Reason"], src
    reqs = w.requests(case="ntlm", since=ad.run.since)
    ntlm = [q for q in reqs if (q.authorization or "").startswith("NTLM ")]
    assert ntlm, f"no NTLM negotiation seen: {reqs}"
    assert all(q.scheme == "https" for q in ntlm)
    # the Type-1 (negotiate) message, base64 of "NTLMSSP\0" + 1
    assert any(q.authorization.split()[1].startswith("TlRMTVNTUAAB") for q in ntlm)
    probe = [q for q in reqs if q.scheme == "http"]
    assert probe and all(q.authorization is None for q in probe)
    _no_secret_anywhere(r, w, ad.run.since)


def test_untrusted_certificates_get_nothing(ad, autodiscover_world):
    w = autodiscover_world
    r, doc = ad("user@untrusted.test", creds=CREDS)
    _not_found(r, doc)
    src = ad.source(doc, "pox")
    assert src["Outcome"] == "refused", src
    assert f"https://untrusted.test{POX} -> TLS with untrusted.test failed: " in src["Reason"]
    assert (f"https://autodiscover.untrusted.test{POX} -> TLS with autodiscover.untrusted.test "
            "failed: ") in src["Reason"], src
    ac = ad.source(doc, "autoconfig")
    assert ac["Outcome"] == "refused", ac
    assert "TLS with autoconfig.untrusted.test failed: " in ac["Reason"], ac
    reqs = w.requests(case="untrusted", since=ad.run.since)
    assert not [q for q in reqs if q.scheme == "https"], "a request crossed a bad certificate"
    assert all(q.authorization is None for q in reqs)
    # the rogue-CA hosts saw their handshakes aborted (the servers notice a
    # moment later); the wrong-name one (untrusted.test) may see a finished
    # handshake that the client then drops: no request either way (above)
    deadline = time.monotonic() + 3
    want = {"autodiscover.untrusted.test", "autoconfig.untrusted.test"}
    while not want <= {f.sni for f in w.tls_failures(case="untrusted", since=ad.run.since)}:
        assert time.monotonic() < deadline, w.tls_failures(case="untrusted")
        time.sleep(0.05)


def test_srv_target_outside_domain_needs_confirmation(ad):
    r, doc = ad("user@srvout.test")
    assert r.rc == 31, r.describe()
    (c,) = ad.candidates(doc, Server="imap.elsewhere.test")
    assert c["Source"] == "srv" and c["Verified"] is True and c["NeedsConfirmation"] is True
    assert c["Warning"] == ("SRV target imap.elsewhere.test is outside srvout.test: use "
                            "--allow-untrusted-candidates to accept it")
    assert "rerun with --allow-untrusted-candidates" in doc["Message"]

    r, doc = ad("user@srvout.test", "--allow-untrusted-candidates")
    assert r.rc == 0, r.describe()
    assert doc["Chosen"]["Server"] == "imap.elsewhere.test"


def test_nothing_found(ad, autodiscover_world):
    r, doc = ad("user@nothing.test")
    msg = _not_found(r, doc)
    assert doc["Candidates"] == []
    for s in doc["Sources"]:
        assert s["Outcome"] == "nothing" and s["Reason"], s
        assert f"{s['Source']}: " in msg
    assert not autodiscover_world.requests(since=ad.run.since, case="nothing")


def test_nothing_found_text(ad):
    r, _ = ad("user@nothing.test", json_out=False)
    assert r.rc == 30, r.describe()
    text = r.err.rstrip()
    assert "The Autodiscover service couldn't be located for user@nothing.test." in text
    assert text.splitlines()[-1].startswith(ENTER_BY_HAND), text
    assert "--server" in text.splitlines()[-1]
