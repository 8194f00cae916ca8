"""`endpoint new NAME --type T --autodiscover --email-address EMAIL` stores what
the discovery finds and passes the connection test against the world's
Dovecot (issue 5; docs/autodiscover.md "endpoint new --autodiscover")."""

from tests.servers.httpsworld import BASIC_PASSWORD, BASIC_USER
from tests.servers.mfrun import assert_test_success, endpoint_list, jget

MASTER = ("master", "masterpw")


def _new(ad_run, name, typ, email, *extra, admin=MASTER):
    args = ["endpoint", "new", name, "--type", typ, "--autodiscover", "--email-address", email,
            *extra, "--json"]
    stdin = None
    if admin:
        args += ["--admin-user", admin[0], "--password-stdin"]
        stdin = admin[1] + "\n"
    return ad_run(args, input=stdin)


def _stored(ad_run, name):
    r = ad_run(["endpoint", "show", name, "--json"])
    assert r.rc == 0, r.describe()
    return r.json()


def _imap_endpoint(doc, server, port, security):
    assert (jget(doc, "Type"), jget(doc, "Server"), jget(doc, "Port"), jget(doc, "Security")) \
        == ("imap", server, port, security), doc
    assert jget(jget(doc, "LastTest"), "Result") == "Success", doc


def test_new_from_pox_imap(ad_run, autodiscover_world):
    r = _new(ad_run, "src", "imap", "user@pox-imap.test")
    assert r.rc == 0, r.describe()
    _imap_endpoint(r.json(), "store1.pox-imap.test", 993, "tls")
    _imap_endpoint(_stored(ad_run, "src"), "store1.pox-imap.test", 993, "tls")
    # the stored settings test again on their own
    assert_test_success(ad_run(["endpoint", "test", "src", "--json"]))
    # the administrator is offered to POX (this server does not ask for it);
    # never over http
    reqs = autodiscover_world.requests(case="pox-imap", since=ad_run.since)
    assert reqs and all(q.scheme == "https" for q in reqs if q.authorization)
    assert MASTER[1] not in r.out + r.err


def test_new_from_autoconfig_starttls(ad_run):
    r = _new(ad_run, "wk", "imap", "user@wellknown.test")
    assert r.rc == 0, r.describe()
    _imap_endpoint(_stored(ad_run, "wk"), "store1.wellknown.test", 143, "starttls")


def test_new_from_srv(ad_run):
    r = _new(ad_run, "s", "imap", "user@srv.test")
    assert r.rc == 0, r.describe()
    _imap_endpoint(_stored(ad_run, "s"), "mailstore.srv.test", 993, "tls")


def test_settings_on_the_line_win(ad_run):
    r = _new(ad_run, "mixed", "imap", "user@pox-imap.test", "--port", "143",
             "--security", "starttls")
    assert r.rc == 0, r.describe()
    _imap_endpoint(_stored(ad_run, "mixed"), "store1.pox-imap.test", 143, "starttls")


def test_nothing_found_stores_nothing(ad_run):
    r = _new(ad_run, "none", "imap", "user@nothing.test")
    assert r.rc == 30, r.describe()
    lines = r.err.rstrip().splitlines()
    assert any("The Autodiscover service couldn't be located for user@nothing.test." in ln
               for ln in lines), r.describe()
    assert lines[-1].startswith("Enter the server by hand: mailferry endpoint new NAME "
                                "--type imap --server HOST"), r.describe()
    r = ad_run(["endpoint", "list", "--json"])
    assert r.rc == 0 and endpoint_list(r.json()) == [], r.describe()


def test_exchange_only_answer_for_imap_type(ad_run):
    r = _new(ad_run, "wrong", "imap", "user@pox-exch.test")
    assert r.rc == 30, r.describe()
    assert endpoint_list(ad_run(["endpoint", "list", "--json"]).json()) == []


def test_outside_domain_needs_the_flag(ad_run):
    r = _new(ad_run, "out", "imap", "user@srvout.test")
    assert r.rc == 31, r.describe()
    assert "--allow-untrusted-candidates" in r.err
    assert endpoint_list(ad_run(["endpoint", "list", "--json"]).json()) == []
    r = _new(ad_run, "out", "imap", "user@srvout.test", "--allow-untrusted-candidates")
    assert r.rc == 0, r.describe()
    _imap_endpoint(_stored(ad_run, "out"), "imap.elsewhere.test", 993, "tls")


def test_new_exchange_remote(ad_run):
    r = _new(ad_run, "ex", "exchange-remote", "user@pox-exch.test", "--skip-verification",
             admin=None)
    assert r.rc == 0, r.describe()
    doc = _stored(ad_run, "ex")
    assert jget(doc, "Type") == "exchange-remote"
    assert jget(doc, "Server") == "mail.pox-exch.test"
    assert jget(doc, "ExchangeServer") == "exch01.pox-exch.test"
    assert jget(doc, "RpcProxyServer") == "mail.pox-exch.test"
    assert jget(doc, "EmailAddress") == "user@pox-exch.test"
    assert jget(doc, "Authentication") == "ntlm"


def test_new_outlook_anywhere(ad_run):
    r = _new(ad_run, "oa", "outlook-anywhere", "user@pox-exch.test", "--skip-verification",
             admin=None)
    assert r.rc == 0, r.describe()
    doc = _stored(ad_run, "oa")
    assert jget(doc, "RpcProxyServer") == "mail.pox-exch.test"
    assert jget(doc, "ExchangeServer") == "exch01.pox-exch.test"


def test_new_exchange_with_admin_credentials(ad_run, autodiscover_world):
    r = _new(ad_run, "exb", "exchange-remote", "user@basic.test", "--skip-verification",
             admin=(BASIC_USER, BASIC_PASSWORD))
    assert r.rc == 0, r.describe()
    assert jget(_stored(ad_run, "exb"), "Server") == "mail.basic.test"
    authed = [q for q in autodiscover_world.requests(case="basic", since=ad_run.since)
              if q.authorization]
    assert authed and all(q.scheme == "https" for q in authed)
    assert BASIC_PASSWORD not in r.out + r.err
