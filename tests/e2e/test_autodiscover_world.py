"""The autodiscover test world itself (no mailferry needed): dnsmasq answers
the records of each case and nothing else, the HTTPS servers present test-CA
certificates by SNI (and the untrusted ones do not verify), the servers record
what they receive, and Dovecot greets on the world's 993 and 143."""

import http.client
import socket
import ssl
import time

import pytest

from tests.servers.dnsworld import query


def _a(world, name):
    rcode, answers = query(world.dns_address, name, "A")
    return rcode, [v for t, v in answers if t == "A"]


def _https(world, name, method="GET", path="/", body=None, headers=None, timeout=3):
    """One request to name (resolved through the world's DNS) with SNI and
    verification against the test CA. Returns (status, headers, body)."""
    _, ips = _a(world, name)
    assert ips, f"{name} does not resolve"
    ctx = ssl.create_default_context(cafile=world.certs.ca_bundle)
    sock = socket.create_connection((ips[0], 443), timeout=timeout)
    conn = http.client.HTTPSConnection(name, 443, timeout=timeout)
    conn.sock = ctx.wrap_socket(sock, server_hostname=name)
    conn.request(method, path, body=body, headers=dict(headers or {}, Host=name))
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


def _http(world, name, path="/", timeout=3):
    _, ips = _a(world, name)
    conn = http.client.HTTPConnection(ips[0], 80, timeout=timeout)
    conn.request("GET", path, headers={"Host": name})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


def test_dns_records(autodiscover_world):
    w = autodiscover_world
    assert _a(w, "autodiscover.pox-exch.test")[1] == [w.case_ip["pox-exch"]]
    assert _a(w, "imap.guess.test")[1] == [w.dovecot_ip]
    rcode, ans = query(w.dns_address, "_imaps._tcp.srv.test", "SRV")
    assert rcode == "NOERROR"
    assert sorted(v for t, v in ans if t == "SRV") == [(0, 1, 993, "mailstore.srv.test"),
                                                      (5, 1, 993, "backup.srv.test")]
    _, ans = query(w.dns_address, "_imaps._tcp.srvdot.test", "SRV")
    assert [v[3] for t, v in ans if t == "SRV"] == [""]          # target "."
    _, ans = query(w.dns_address, "_imaps._tcp.srvout.test", "SRV")
    assert [v[3] for t, v in ans if t == "SRV"] == ["imap.elsewhere.test"]
    _, ans = query(w.dns_address, "mx.test", "MX")
    assert sorted(v for t, v in ans if t == "MX") == [(10, "mx1.mxhost.test"),
                                                     (20, "mx9.other.test")]
    _, ans = query(w.dns_address, "mxprovider.test", "MX")
    assert (1, "aspmx.l.google.com") in [v for t, v in ans if t == "MX"]
    _, ans = query(w.dns_address, "_autodiscover._tcp.adsrv.test", "SRV")
    assert [v for t, v in ans if t == "SRV"] == [(0, 0, 443, "mail.adsrv.test")]


@pytest.mark.parametrize("name", ["nothing.test", "imap.nothing.test", "autodiscover.nothing.test",
                                  "imap.gmail.com", "example.com", "imap.srvdot.test"])
def test_dns_knows_nothing_else(autodiscover_world, name):
    """Unknown names are answered locally (NXDOMAIN): no upstream, no leak."""
    rcode, answers = query(autodiscover_world.dns_address, name, "A")
    assert rcode == "NXDOMAIN" and answers == []


def test_dns_answers_over_tcp(autodiscover_world):
    host, _, port = autodiscover_world.dns_address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=2):
        pass


def test_https_good_answers_and_records(autodiscover_world):
    w = autodiscover_world
    status, _, body = _https(w, "autodiscover.pox-exch.test", "POST",
                             "/autodiscover/autodiscover.xml",
                             b"<Autodiscover><Request><EMailAddress>user@pox-exch.test"
                             b"</EMailAddress></Request></Autodiscover>",
                             {"Content-Type": "text/xml", "X-World-Check": "1"})
    assert status == 200 and b"<EwsUrl>https://mail.pox-exch.test/EWS/Exchange.asmx" in body
    rec = [r for r in w.requests(case="pox-exch") if r.header("X-World-Check")]
    assert rec and rec[-1].scheme == "https" and rec[-1].sni == "autodiscover.pox-exch.test"
    assert rec[-1].method == "POST" and b"user@pox-exch.test" in rec[-1].body

    status, _, body = _https(w, "autoconfig.autoconfig.test", "GET",
                             "/mail/config-v1.1.xml?emailaddress=user%40autoconfig.test")
    assert status == 200 and b"store1.%EMAILDOMAIN%" in body
    status, _, body = _https(w, "wellknown.test", "GET",
                             "/.well-known/autoconfig/mail/config-v1.1.xml")
    assert status == 200 and b"STARTTLS" in body
    status, _, body = _https(w, "v2.test", "GET",
                             "/autodiscover/autodiscover.json?Email=user@v2.test&Protocol=Ews")
    assert status == 200 and b'"Url"' in body


def test_basic_and_ntlm_challenges(autodiscover_world):
    import base64
    from tests.servers.httpsworld import BASIC_PASSWORD, BASIC_USER
    w = autodiscover_world
    status, headers, _ = _https(w, "basic.test", "POST", "/autodiscover/autodiscover.xml", b"x")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    auth = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    status, _, body = _https(w, "basic.test", "POST", "/autodiscover/autodiscover.xml", b"x",
                             {"Authorization": auth})
    assert status == 200 and b"<EwsUrl>" in body
    status, headers, _ = _https(w, "ntlm.test", "POST", "/autodiscover/autodiscover.xml", b"x")
    assert status == 401 and headers["WWW-Authenticate"] == "NTLM"


def test_http_probe_redirects(autodiscover_world):
    w = autodiscover_world
    status, headers, _ = _http(w, "autodiscover.probe.test", "/autodiscover/autodiscover.xml")
    assert status == 302
    assert headers["Location"] == "https://mail.probe.test/autodiscover/autodiscover.xml"
    status, headers, _ = _http(w, "autodiscover.downgrade.test", "/autodiscover/autodiscover.xml")
    assert status == 302 and headers["Location"].startswith("http://mail.downgrade.test/")
    assert any(r.scheme == "http" and r.host == "autodiscover.probe.test"
               for r in w.requests(case="probe"))


def test_huge_answers(autodiscover_world):
    for name in ("huge.test", "autodiscover.huge.test"):
        status, _, body = _https(autodiscover_world, name, "POST",
                                 "/autodiscover/autodiscover.xml", b"x")
        assert status == 200 and len(body) > 2 * 1000 * 1000


@pytest.mark.parametrize("name,why", [("autodiscover.untrusted.test", "certificate"),
                                      ("untrusted.test", "mismatch")])
def test_untrusted_certificates_do_not_verify(autodiscover_world, name, why):
    w = autodiscover_world
    before = len(w.tls_failures(case="untrusted"))
    with pytest.raises(ssl.SSLCertVerificationError) as e:
        _https(w, name, "POST", "/autodiscover/autodiscover.xml", b"x")
    assert why in str(e.value)
    deadline = time.monotonic() + 3      # the server side notices a moment later
    while True:
        fails = w.tls_failures(case="untrusted")[before:]
        if any(f.sni == name for f in fails) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert any(f.sni == name for f in fails), fails
    assert not [r for r in w.requests(case="untrusted") if r.sni == name and r.scheme == "https"]


def test_silent_never_answers(autodiscover_world):
    with pytest.raises(socket.timeout):
        _https(autodiscover_world, "silent.test", "POST", "/autodiscover/autodiscover.xml", b"x",
               timeout=1)


@pytest.mark.parametrize("name,ip_attr,port,tls", [
    ("imap.guess.test", "dovecot_ip", 993, True),
    ("mailstore.srv.test", "dovecot_ip", 143, False),
    ("imap.guess143.test", "dovecot143_ip", 143, False)])
def test_dovecot_greets_on_world_addresses(autodiscover_world, name, ip_attr, port, tls):
    w = autodiscover_world
    ip = getattr(w, ip_attr)
    assert _a(w, name)[1] == [ip]
    with socket.create_connection((ip, port), timeout=3) as s:
        if tls:
            ctx = ssl.create_default_context(cafile=w.certs.ca_bundle)
            with ctx.wrap_socket(s, server_hostname=name) as t:
                assert t.recv(512).startswith(b"* OK")
        else:
            data = s.recv(512)
            assert data.startswith(b"* OK") and b"STARTTLS" in data


def test_nothing_listens_on_guess143_993_or_blackhole(autodiscover_world):
    w = autodiscover_world
    for ip, port in ((w.dovecot143_ip, 993), (w.blackhole_ip, 993), (w.blackhole_ip, 443)):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((ip, port), timeout=2).close()
