"""The autodiscover test world: DNS, HTTPS/HTTP servers and Dovecot on 127.x.

    w = AutodiscoverWorld(directory, certs)   # certs: tests.servers.certs.Certs
    w.start()
    w.dns_address                 # "127.0.0.1:PORT" for --dns-server
    w.requests(case="basic")      # every HTTP request received (Request objects)
    w.tls_failures(case=...)      # handshakes a client aborted (untrusted cert ...)
    w.ip("autodiscover.pox-exch.test")
    w.stop()

Each case has its own domain under .test and its own address 127.A.B.N
(A.B chosen at random per world, so two worlds can run side by side), with an
HTTPS server on :443 and a plain HTTP server on :80 (the redirect probe).
Every name of a case resolves to its address; certificates come from the
test CA with all the case's names, except where a case says otherwise
(untrusted.test: a rogue CA; wrong-host certificates). A Dovecot (users of
dovecot.py and the master user) listens on 127.A.B.2:993 and :143 and, for
the 143-only guess, on 127.A.B.4:143, with one certificate naming every IMAP
host of the world. 127.A.B.3 has nothing listening ("blackhole").

Cases (domain: what the servers do):
  pox-exch       POX answer for Exchange (EXCH, EXPR, WEB), no credentials needed
  pox-imap       POX answer with an IMAP section: store1.pox-imap.test:993 SSL
  probe          only the http:// redirect probe answers: 302 to https://mail.probe.test
  adsrv          SRV _autodiscover._tcp -> mail.adsrv.test:443 with a POX answer
  v2             autodiscover.json: EWS URL https://mail.v2.test/EWS/Exchange.asmx
  autoconfig     autoconfig.DOMAIN: imap store1.%EMAILDOMAIN%:993 SSL, %EMAILLOCALPART%
  wellknown      DOMAIN/.well-known: imap store1.wellknown.test:143 STARTTLS
  srv            _imaps._tcp -> mailstore.srv.test:993 (prio 0), backup (prio 5, dead);
                 _imap._tcp -> mailstore.srv.test:143
  srvdot         _imaps._tcp and _imap._tcp with target "."
  srvout         _imaps._tcp -> imap.elsewhere.test:993 (outside the domain; Dovecot)
  mx             MX 10 mx1.mxhost.test, MX 20 mx9.other.test; autoconfig.mxhost.test
                 names store1.mxhost.test:993 (Dovecot), autoconfig.other.test a dead host
  mxprovider     MX aspmx.l.google.com (A: blackhole); imap.gmail.com is NXDOMAIN
  guess          imap.guess.test -> Dovecot (993)
  guess143       imap.guess143.test -> the 143-only Dovecot listener
  redirect-addr  POX redirectAddr -> user@pox-exch.test
  redirect-url   POX redirectUrl -> https://mail.redirect-url.test/... (good answer)
  loop           POX redirectUrl ping-pong between loop.test and autodiscover.loop.test
  chain          POX redirectUrl to /hopN+1 forever (more than 10 redirects)
  downgrade      302 and redirectUrl to http://mail.downgrade.test (answers POX over http)
  malformed      broken XML
  xxe            DOCTYPE with external entities (file:// and http://xxe-sink.xxe.test)
                 and an entity expansion bomb
  huge           2 MiB answers (with Content-Length; chunked without)
  silent         silent.test only: TLS handshake done, then no answer ever
  basic          401 Basic; BASIC_USER/BASIC_PASSWORD accepted -> POX answer
  ntlm           401 NTLM; the Type-1 message is recorded, never accepted
  untrusted      autodiscover. and autoconfig.: certificates from a rogue CA; the bare
                 domain: a test-CA certificate for another name; http probe 302s to https
  nothing        no DNS records at all

Command line: python3 -m tests.servers.httpsworld run DIR  (prints the world as
JSON, runs until SIGINT/SIGTERM).
"""

import datetime
import http.server
import ipaddress
import json
import os
import random
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from tests.servers import certs as certs_mod  # noqa: E402
    from tests.servers import dnsworld  # noqa: E402
    from tests.servers import dovecot as dovecot_mod  # noqa: E402
else:
    from . import certs as certs_mod
    from . import dnsworld
    from . import dovecot as dovecot_mod

BASIC_USER = "admin@basic.test"
BASIC_PASSWORD = "B4sic-Adm1n-Secr3t-5e1c"
POX_PATH = "/autodiscover/autodiscover.xml"
MIB = 1024 * 1024

NS_RESP = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
NS_OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


# ---- certificates ------------------------------------------------------------

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailferry tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)


class Issuer:
    """A CA that signs leaf certificates for host names."""

    def __init__(self, cert, key):
        self.cert = cert
        self.key = key

    @classmethod
    def load(cls, certs):
        with open(certs.ca_cert, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(certs.ca_key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        return cls(cert, key)

    @classmethod
    def rogue(cls):
        """A CA nobody trusts (same subject as the test CA, other key)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name("mailferry test CA")
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    def issue(self, directory, stem, names, ips=()):
        """Write stem.pem / stem.key for names (DNS SANs) and ips; returns
        (cert path, key path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = [x509.DNSName(n) for n in names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (x509.CertificateBuilder().subject_name(_name(names[0]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .sign(self.key, hashes.SHA256()))
        cpath = os.path.join(directory, f"{stem}.pem")
        kpath = os.path.join(directory, f"{stem}.key")
        _write(cpath, cert.public_bytes(serialization.Encoding.PEM))
        _write(kpath, key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        return cpath, kpath


# ---- what the servers record -------------------------------------------------

@dataclass
class Request:
    case: str
    scheme: str            # "http" or "https"
    ip: str
    port: int
    sni: str               # TLS server name (None over http)
    method: str
    target: str            # path and query as sent
    host: str              # Host header without a port
    headers: list          # [(name, value)] as received
    body: bytes
    at: float = field(default_factory=time.time)   # when it arrived

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def authorization(self):
        return self.header("Authorization")

    @property
    def path(self):
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self):
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query))

    @property
    def url(self):
        return f"{self.scheme}://{self.host}{self.target}"

    def __repr__(self):
        auth = self.authorization
        return (f"<{self.method} {self.url} sni={self.sni} "
                f"auth={auth.split()[0] if auth else None} body={len(self.body)}B>")


@dataclass
class TlsFailure:
    case: str
    ip: str
    sni: str
    error: str
    at: float = field(default_factory=time.time)   # when it arrived


class Response:
    def __init__(self, status=200, body=b"", ctype="text/xml; charset=utf-8", headers=(),
                 mode="normal"):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.ctype = ctype
        self.headers = list(headers)
        self.mode = mode   # "normal", "chunked", "hang"


def not_found():
    return Response(404, "not found\n", "text/plain")


# ---- POX and autoconfig documents --------------------------------------------

def pox_email(req):
    m = re.search(rb"<EMailAddress>\s*([^<\s]+)\s*</EMailAddress>", req.body)
    return m.group(1).decode("utf-8", "replace") if m else None


def pox_doc(account_xml, email="user@example.test"):
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{NS_RESP}">\n'
            f'  <Response xmlns="{NS_OUTLOOK}">\n    <User>\n'
            f'      <DisplayName>Test User</DisplayName>\n'
            f'      <AutoDiscoverSMTPAddress>{email}</AutoDiscoverSMTPAddress>\n'
            f'    </User>\n    <Account>\n      <AccountType>email</AccountType>\n'
            f'{account_xml}    </Account>\n  </Response>\n</Autodiscover>\n')


def pox_exchange(domain, email):
    mail = f"mail.{domain}"
    return pox_doc(
        "      <Action>settings</Action>\n"
        "      <Protocol>\n        <Type>EXCH</Type>\n"
        f"        <Server>exch01.{domain}</Server>\n"
        f"        <ServerDN>/o=Test/ou=Exchange/cn=Configuration/cn=Servers/cn=exch01</ServerDN>\n"
        f"        <ASUrl>https://{mail}/EWS/Exchange.asmx</ASUrl>\n"
        f"        <EwsUrl>https://{mail}/EWS/Exchange.asmx</EwsUrl>\n"
        "      </Protocol>\n"
        "      <Protocol>\n        <Type>EXPR</Type>\n"
        f"        <Server>{mail}</Server>\n        <SSL>On</SSL>\n"
        "        <AuthPackage>Ntlm</AuthPackage>\n"
        f"        <EwsUrl>https://{mail}/EWS/Exchange.asmx</EwsUrl>\n"
        "      </Protocol>\n"
        "      <Protocol>\n        <Type>WEB</Type>\n        <Internal>\n"
        f'          <OWAUrl AuthenticationMethod="Basic, Fba">https://{mail}/owa/</OWAUrl>\n'
        "        </Internal>\n      </Protocol>\n", email)


def pox_imap(server, port, ssl_on, login, email):
    return pox_doc(
        "      <Action>settings</Action>\n"
        "      <Protocol>\n        <Type>IMAP</Type>\n"
        f"        <Server>{server}</Server>\n        <Port>{port}</Port>\n"
        f"        <LoginName>{login}</LoginName>\n        <DomainRequired>off</DomainRequired>\n"
        f"        <SPA>off</SPA>\n        <SSL>{'on' if ssl_on else 'off'}</SSL>\n"
        "        <AuthRequired>on</AuthRequired>\n      </Protocol>\n", email)


def pox_redirect_addr(addr):
    return pox_doc("      <Action>redirectAddr</Action>\n"
                   f"      <RedirectAddr>{addr}</RedirectAddr>\n")


def pox_redirect_url(url):
    return pox_doc("      <Action>redirectUrl</Action>\n"
                   f"      <RedirectUrl>{url}</RedirectUrl>\n")


def autoconfig_doc(domain, hostname, port, socket_type, username):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<clientConfig version="1.1">\n'
            f'  <emailProvider id="{domain}">\n    <domain>{domain}</domain>\n'
            f'    <displayName>{domain} test mail</displayName>\n'
            f'    <incomingServer type="pop3">\n      <hostname>pop.{domain}</hostname>\n'
            f'      <port>995</port>\n      <socketType>SSL</socketType>\n'
            f'      <authentication>password-cleartext</authentication>\n'
            f'      <username>%EMAILADDRESS%</username>\n    </incomingServer>\n'
            f'    <incomingServer type="imap">\n      <hostname>{hostname}</hostname>\n'
            f'      <port>{port}</port>\n      <socketType>{socket_type}</socketType>\n'
            f'      <authentication>password-cleartext</authentication>\n'
            f'      <username>{username}</username>\n    </incomingServer>\n'
            f'    <outgoingServer type="smtp">\n      <hostname>smtp.{domain}</hostname>\n'
            f'      <port>465</port>\n      <socketType>SSL</socketType>\n'
            f'      <authentication>password-cleartext</authentication>\n'
            f'      <username>%EMAILADDRESS%</username>\n    </outgoingServer>\n'
            f'  </emailProvider>\n</clientConfig>\n')


def _xml(doc):
    return Response(200, doc, "text/xml; charset=utf-8")


def _is_pox(req):
    return req.path.lower().endswith("/autodiscover.xml")


def _is_v2(req):
    return "/autodiscover/autodiscover.json" in req.path.lower()


# ---- the cases ---------------------------------------------------------------

class Case:
    """A domain with its names (all on one address) and its behaviour."""

    name = None
    subdomains = ("", "autodiscover", "autoconfig")   # "" is the bare domain
    http = True            # also listen on :80

    def __init__(self, world):
        self.world = world
        self.domain = f"{self.name}.test"

    @property
    def names(self):
        return [f"{s}.{self.domain}" if s else self.domain for s in self.subdomains]

    def dns(self, dns, ip):
        for n in self.names:
            dns.host(n, ip)

    def certs(self):
        """{server name: issuer} for names not signed by the test CA (SNI)."""
        return {}

    def respond(self, req):
        return not_found()


class PoxExch(Case):
    name = "pox-exch"
    subdomains = ("", "autodiscover", "mail")

    def respond(self, req):
        if req.scheme == "https" and _is_pox(req) and req.method == "POST":
            return _xml(pox_exchange(self.domain, pox_email(req) or f"user@{self.domain}"))
        return not_found()


class PoxImap(Case):
    name = "pox-imap"
    subdomains = ("", "autodiscover")

    def dns(self, dns, ip):
        super().dns(dns, ip)
        dns.host(f"store1.{self.domain}", self.world.dovecot_ip)

    def respond(self, req):
        if req.scheme == "https" and _is_pox(req) and req.method == "POST":
            email = pox_email(req) or f"user@{self.domain}"
            return _xml(pox_imap(f"store1.{self.domain}", 993, True, email, email))
        return not_found()


class Probe(Case):
    name = "probe"
    subdomains = ("", "autodiscover", "mail")

    def respond(self, req):
        if req.scheme == "http" and req.host == f"autodiscover.{self.domain}" and _is_pox(req):
            return Response(302, "", "text/plain",
                            [("Location", f"https://mail.{self.domain}{POX_PATH}")])
        if req.scheme == "https" and req.host == f"mail.{self.domain}" and _is_pox(req):
            return _xml(pox_exchange(self.domain, pox_email(req) or f"user@{self.domain}"))
        return not_found()


class AdSrv(Case):
    name = "adsrv"
    subdomains = ("mail",)

    def dns(self, dns, ip):
        super().dns(dns, ip)
        dns.srv(f"_autodiscover._tcp.{self.domain}", f"mail.{self.domain}", 443, 0, 0)

    def respond(self, req):
        if req.scheme == "https" and _is_pox(req) and req.method == "POST":
            return _xml(pox_exchange(self.domain, pox_email(req) or f"user@{self.domain}"))
        return not_found()


class V2(Case):
    name = "v2"

    def respond(self, req):
        if req.scheme == "https" and _is_v2(req) and req.method == "GET":
            return Response(200, json.dumps({"Protocol": "Ews",
                                             "Url": f"https://mail.{self.domain}/EWS/Exchange.asmx"}),
                            "application/json; charset=utf-8")
        return not_found()


class Autoconfig(Case):
    name = "autoconfig"

    def dns(self, dns, ip):
        super().dns(dns, ip)
        dns.host(f"store1.{self.domain}", self.world.dovecot_ip)

    def respond(self, req):
        if (req.scheme == "https" and req.host == f"autoconfig.{self.domain}"
                and req.path == "/mail/config-v1.1.xml"):
            return _xml(autoconfig_doc(self.domain, "store1.%EMAILDOMAIN%", 993, "SSL",
                                       "%EMAILLOCALPART%"))
        return not_found()


class Wellknown(Case):
    name = "wellknown"
    subdomains = ("",)

    def dns(self, dns, ip):
        super().dns(dns, ip)
        dns.host(f"store1.{self.domain}", self.world.dovecot_ip)

    def respond(self, req):
        if (req.scheme == "https" and req.host == self.domain
                and req.path == "/.well-known/autoconfig/mail/config-v1.1.xml"):
            return _xml(autoconfig_doc(self.domain, f"store1.{self.domain}", 143, "STARTTLS",
                                       "%EMAILADDRESS%"))
        return not_found()


class Srv(Case):
    name = "srv"
    subdomains = ()
    http = False

    def dns(self, dns, ip):
        w = self.world
        dns.host(f"mailstore.{self.domain}", w.dovecot_ip)
        dns.host(f"backup.{self.domain}", w.blackhole_ip)
        dns.srv(f"_imaps._tcp.{self.domain}", f"mailstore.{self.domain}", 993, 0, 1)
        dns.srv(f"_imaps._tcp.{self.domain}", f"backup.{self.domain}", 993, 5, 1)
        dns.srv(f"_imap._tcp.{self.domain}", f"mailstore.{self.domain}", 143, 0, 1)


class SrvDot(Case):
    name = "srvdot"
    subdomains = ()
    http = False

    def dns(self, dns, ip):
        dns.srv(f"_imaps._tcp.{self.domain}", None)
        dns.srv(f"_imap._tcp.{self.domain}", None)


class SrvOut(Case):
    name = "srvout"
    subdomains = ()
    http = False

    def dns(self, dns, ip):
        dns.host("imap.elsewhere.test", self.world.dovecot_ip)
        dns.srv(f"_imaps._tcp.{self.domain}", "imap.elsewhere.test", 993, 0, 1)


class Mx(Case):
    name = "mx"
    subdomains = ()

    @property
    def names(self):
        return ["autoconfig.mxhost.test", "autoconfig.other.test"]

    def dns(self, dns, ip):
        super().dns(dns, ip)
        w = self.world
        dns.mx(self.domain, "mx1.mxhost.test", 10)
        dns.mx(self.domain, "mx9.other.test", 20)
        dns.host("mx1.mxhost.test", w.blackhole_ip)
        dns.host("store1.mxhost.test", w.dovecot_ip)
        dns.host("store1.other.test", w.blackhole_ip)

    def respond(self, req):
        if req.scheme == "https" and req.path == "/mail/config-v1.1.xml":
            if req.host == "autoconfig.mxhost.test":
                return _xml(autoconfig_doc("mxhost.test", "store1.mxhost.test", 993, "SSL",
                                           "%EMAILADDRESS%"))
            if req.host == "autoconfig.other.test":
                return _xml(autoconfig_doc("other.test", "store1.other.test", 993, "SSL",
                                           "%EMAILADDRESS%"))
        return not_found()


class MxProvider(Case):
    name = "mxprovider"
    subdomains = ()
    http = False

    def dns(self, dns, ip):
        dns.mx(self.domain, "aspmx.l.google.com", 1)
        dns.mx(self.domain, "alt1.aspmx.l.google.com", 5)
        dns.host("aspmx.l.google.com", self.world.blackhole_ip)
        dns.host("alt1.aspmx.l.google.com", self.world.blackhole_ip)


class Guess(Case):
    name = "guess"
    subdomains = ()
    http = False

    def dns(self, dns, ip):
        dns.host(f"imap.{self.domain}", self.world.dovecot_ip)


class Guess143(Case):
    name = "guess143"
    subdomains = ()
    http = False

    def dns(self, dns, ip):
        dns.host(f"imap.{self.domain}", self.world.dovecot143_ip)


class RedirectAddr(Case):
    name = "redirect-addr"
    subdomains = ("", "autodiscover")

    def respond(self, req):
        if req.scheme == "https" and _is_pox(req) and req.method == "POST":
            return _xml(pox_redirect_addr("user@pox-exch.test"))
        return not_found()


class RedirectUrl(Case):
    name = "redirect-url"
    subdomains = ("", "autodiscover", "mail")

    def respond(self, req):
        if req.scheme == "https" and _is_pox(req) and req.method == "POST":
            if req.host == f"mail.{self.domain}":
                return _xml(pox_exchange(self.domain, pox_email(req) or f"user@{self.domain}"))
            return _xml(pox_redirect_url(f"https://mail.{self.domain}/autodiscover/target/"
                                         "autodiscover.xml"))
        return not_found()


class Loop(Case):
    name = "loop"
    subdomains = ("", "autodiscover")

    def respond(self, req):
        if req.scheme == "https" and _is_pox(req) and req.method == "POST":
            other = (f"autodiscover.{self.domain}" if req.host == self.domain else self.domain)
            return _xml(pox_redirect_url(f"https://{other}{POX_PATH}"))
        if req.scheme == "http" and _is_pox(req):
            return Response(302, "", "text/plain",
                            [("Location", f"https://{self.domain}{POX_PATH}")])
        return not_found()


class Chain(Case):
    name = "chain"
    subdomains = ("", "autodiscover")

    def respond(self, req):
        if req.scheme == "https" and _is_pox(req) and req.method == "POST":
            m = re.search(r"/hop(\d+)/", req.path)
            n = int(m.group(1)) + 1 if m else 1
            return _xml(pox_redirect_url(f"https://{req.host}/autodiscover/hop{n}/autodiscover.xml"))
        return not_found()


class Downgrade(Case):
    name = "downgrade"
    subdomains = ("", "autodiscover", "mail")

    def respond(self, req):
        target = f"http://mail.{self.domain}{POX_PATH}"
        if req.host == f"mail.{self.domain}":
            # The attacker's end: answers anything, over http too.
            if _is_pox(req):
                return _xml(pox_exchange(self.domain, pox_email(req) or f"user@{self.domain}"))
            return not_found()
        if req.scheme == "http" and _is_pox(req):
            return Response(302, "", "text/plain", [("Location", target)])
        if req.scheme == "https" and _is_pox(req):
            if req.host == self.domain:
                return Response(302, "", "text/plain", [("Location", target)])
            return _xml(pox_redirect_url(target))
        return not_found()


class Malformed(Case):
    name = "malformed"
    subdomains = ("", "autodiscover")

    def respond(self, req):
        if req.scheme == "https" and _is_pox(req):
            return _xml(f'<?xml version="1.0"?>\n<Autodiscover xmlns="{NS_RESP}"><Response '
                        f'xmlns="{NS_OUTLOOK}"><Account><Action>settings</Action><Protocol>'
                        '<Type>EXCH</Type><Server>exch01.malformed.test</Protocol></Acc')
        return not_found()


class Xxe(Case):
    name = "xxe"
    subdomains = ("", "autodiscover", "xxe-sink")

    def respond(self, req):
        w = self.world
        if req.host == f"xxe-sink.{self.domain}":
            return Response(200, f"<!ENTITY leak '{w.xxe_marker}'>", "application/xml-dtd")
        if req.scheme == "https" and _is_pox(req):
            if req.host == self.domain:
                dtd = (f'<!DOCTYPE Autodiscover [\n'
                       f'  <!ENTITY file SYSTEM "file://{w.xxe_secret_file}">\n'
                       f'  <!ENTITY net SYSTEM "http://xxe-sink.{self.domain}/entity">\n'
                       f'  <!ENTITY % remote SYSTEM "http://xxe-sink.{self.domain}/remote.dtd">\n'
                       f'  %remote;\n]>\n')
                server, ews = "&file;", "https://mail.xxe.test/&net;/EWS/Exchange.asmx"
            else:
                lol = ['<!ENTITY lol0 "lollollollollollollollollollol">']
                for i in range(1, 10):
                    lol.append(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">')
                dtd = "<!DOCTYPE Autodiscover [\n  " + "\n  ".join(lol) + "\n]>\n"
                server, ews = "&lol9;", "https://mail.xxe.test/EWS/Exchange.asmx"
            doc = pox_doc("      <Action>settings</Action>\n"
                          "      <Protocol>\n        <Type>EXCH</Type>\n"
                          f"        <Server>{server}</Server>\n"
                          f"        <EwsUrl>{ews}</EwsUrl>\n      </Protocol>\n",
                          f"user@{self.domain}")
            head, _, rest = doc.partition("\n")
            return _xml(head + "\n" + dtd + rest)
        return not_found()


class Huge(Case):
    name = "huge"
    subdomains = ("", "autodiscover")

    def respond(self, req):
        if req.scheme == "https" and _is_pox(req):
            filler = "<!-- " + "x" * 1000 + " -->\n"
            body = pox_exchange(self.domain, f"user@{self.domain}")
            head, _, rest = body.partition("\n")
            big = head + "\n" + filler * (2 * MIB // len(filler)) + rest
            if req.host == self.domain:
                return _xml(big)
            return Response(200, big, mode="chunked")
        return not_found()


class Silent(Case):
    # Only the bare domain: each source then waits for one request timeout
    # (they run concurrently), not one per URL.
    name = "silent"
    subdomains = ("",)

    def respond(self, req):
        return Response(mode="hang")


class Basic(Case):
    name = "basic"
    subdomains = ("", "autodiscover")

    def respond(self, req):
        if _is_pox(req):
            import base64
            want = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
            if req.scheme == "https" and req.authorization == want and req.method == "POST":
                return _xml(pox_exchange(self.domain, pox_email(req) or f"user@{self.domain}"))
            return Response(401, "unauthorized\n", "text/plain",
                            [("WWW-Authenticate", 'Basic realm="basic.test"')])
        return not_found()


class Ntlm(Case):
    name = "ntlm"
    subdomains = ("", "autodiscover")

    def respond(self, req):
        if _is_pox(req):
            return Response(401, "unauthorized\n", "text/plain",
                            [("WWW-Authenticate", "NTLM")])
        return not_found()


class Untrusted(Case):
    name = "untrusted"
    subdomains = ("", "autodiscover", "autoconfig")

    def certs(self):
        w = self.world
        return {f"autodiscover.{self.domain}": (w.rogue, [f"autodiscover.{self.domain}"]),
                f"autoconfig.{self.domain}": (w.rogue, [f"autoconfig.{self.domain}"]),
                self.domain: (w.issuer, ["mail.wrong.test"])}

    def respond(self, req):
        if req.scheme == "http" and _is_pox(req):
            return Response(302, "", "text/plain",
                            [("Location", f"https://autodiscover.{self.domain}{POX_PATH}")])
        if req.scheme == "https" and _is_pox(req):
            if req.authorization:
                return _xml(pox_exchange(self.domain, f"user@{self.domain}"))
            return Response(401, "unauthorized\n", "text/plain",
                            [("WWW-Authenticate", 'Basic realm="untrusted"')])
        if req.path == "/mail/config-v1.1.xml":
            return _xml(autoconfig_doc(self.domain, "imap.guess.test", 993, "SSL",
                                       "%EMAILADDRESS%"))
        return not_found()


class Nothing(Case):
    name = "nothing"
    subdomains = ()
    http = False


CASES = (PoxExch, PoxImap, Probe, AdSrv, V2, Autoconfig, Wellknown, Srv, SrvDot, SrvOut, Mx,
         MxProvider, Guess, Guess143, RedirectAddr, RedirectUrl, Loop, Chain, Downgrade,
         Malformed, Xxe, Huge, Silent, Basic, Ntlm, Untrusted, Nothing)

# IMAP hosts the Dovecot certificate names.
IMAP_NAMES = ("store1.pox-imap.test", "store1.autoconfig.test", "store1.wellknown.test",
              "mailstore.srv.test", "imap.elsewhere.test", "store1.mxhost.test",
              "imap.guess.test", "imap.guess143.test", "localhost")


# ---- the servers ---------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 15
    server_version = "mailferry-test-world/1"

    def log_message(self, fmt, *args):
        pass

    def _any(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 4 * MIB)) if n > 0 else b""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0] if self.headers.get("Host") else ""
        if host.startswith("["):
            host = host.strip("[]")
        req = Request(case=srv.case.name, scheme=srv.scheme, ip=srv.ip, port=srv.server_port,
                      sni=getattr(self.connection, "mf_sni", None), method=self.command,
                      target=self.path, host=host.lower(), headers=list(self.headers.items()),
                      body=body)
        srv.world._record(req)
        try:
            resp = srv.case.respond(req) or not_found()
        except Exception as e:  # a broken case script: answer 500 and say why
            resp = Response(500, f"test world error: {e!r}\n", "text/plain")
        if resp.mode == "hang":
            srv.world.stopping.wait()
            self.close_connection = True
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        for k, v in resp.headers:
            self.send_header(k, v)
        try:
            if resp.mode == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                step = 64 * 1024
                for i in range(0, len(resp.body), step):
                    chunk = resp.body[i:i + step]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(resp.body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = do_DELETE = _any


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, world, case, ip, port, contexts=None):
        self.world = world
        self.case = case
        self.ip = ip
        self.scheme = "https" if contexts else "http"
        self.contexts = contexts     # {sni name or None: SSLContext}
        super().__init__((ip, port), _Handler)

    def finish_request(self, request, client_address):
        if self.contexts:
            request.settimeout(10)
            try:
                tls = self.contexts[None].wrap_socket(request, server_side=True,
                                                      do_handshake_on_connect=False)
            except (ssl.SSLError, OSError):
                return
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError) as e:
                self.world._record_tls_failure(TlsFailure(self.case.name, self.ip,
                                                          getattr(tls, "mf_sni", None), str(e)))
                tls.close()
                return
            request = tls
        try:
            self._requests_on(request, client_address)
        finally:
            try:
                request.close()
            except OSError:
                pass

    def _requests_on(self, request, client_address):
        request.settimeout(None)
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):
        pass


def _sni_context(world, cert, key, by_name):
    """A server context whose certificate is chosen by SNI among by_name
    ({name: (cert, key)}); cert/key for every other name."""
    def make(c, k):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(c, k)
        return ctx
    default = make(cert, key)
    others = {n: make(c, k) for n, (c, k) in by_name.items()}

    def pick(sslobj, name, _ctx):
        try:
            sslobj.mf_sni = name
        except AttributeError:
            pass
        if name and name.lower() in others:
            sslobj.context = others[name.lower()]
        return None

    default.sni_callback = pick
    return default


class _WorldDovecot(dovecot_mod.Dovecot):
    """Dovecot as dovecot.py starts it (127.0.0.1, random ports), plus
    listeners on IP:993 and IP:143, and IP2:143 only; its certificate names
    every IMAP host of the world."""

    def __init__(self, directory, ip, ip143, cert, key, **kw):
        super().__init__(directory, tls_mode="both", cert="good", **kw)
        self.world_ip = ip
        self.world_ip143 = ip143
        self.world_cert = cert
        self.world_key = key

    def _config_text(self):
        text = super()._config_text()
        text = re.sub(r"(?m)^ssl_cert = <.*$", f"ssl_cert = <{self.world_cert}", text)
        text = re.sub(r"(?m)^ssl_key = <.*$", f"ssl_key = <{self.world_key}", text)
        extra = (f"  inet_listener imap_world {{\n    address = {self.world_ip}\n"
                 f"    port = 143\n  }}\n"
                 f"  inet_listener imaps_world {{\n    address = {self.world_ip}\n"
                 f"    port = 993\n    ssl = yes\n  }}\n"
                 f"  inet_listener imap_world143 {{\n    address = {self.world_ip143}\n"
                 f"    port = 143\n  }}\n")
        return text.replace("service imap-login {\n", "service imap-login {\n" + extra, 1)


def _bindable(ip, ports):
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, port))
            except OSError:
                return False
    return True


class AutodiscoverWorld:
    def __init__(self, directory, certs=None, with_dovecot=True):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        os.chmod(self.directory, 0o755)
        self.certs = certs or certs_mod.make_certs(os.path.join(self.directory, "certs"))
        self.with_dovecot = with_dovecot
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests = []
        self._tls_failures = []
        self.servers = []
        self.threads = []
        self.dns = None
        self.dovecot = None
        self.cases = {}
        self.case_ip = {}
        self.xxe_marker = "XXE-MARKER-" + secrets.token_hex(8)
        self.xxe_secret_file = os.path.join(self.directory, "xxe-secret.txt")
        self.prefix = None

    # ---- addresses -------------------------------------------------------------

    def _choose_prefix(self, ncases):
        for _ in range(40):
            prefix = f"127.{random.randint(100, 250)}.{random.randint(1, 254)}"
            ips = [f"{prefix}.{i}" for i in (2, 4)]
            if not all(_bindable(ip, (143, 993)) for ip in ips):
                continue
            if all(_bindable(f"{prefix}.{10 + i}", (80, 443)) for i in range(ncases)):
                return prefix
        raise RuntimeError("no free 127.x.y.0/24 block for the autodiscover world")

    @property
    def dovecot_ip(self):
        return f"{self.prefix}.2"

    @property
    def blackhole_ip(self):
        return f"{self.prefix}.3"

    @property
    def dovecot143_ip(self):
        return f"{self.prefix}.4"

    @property
    def dns_address(self):
        return self.dns.address

    def ip(self, name):
        """The address a name of the world resolves to (None if none)."""
        name = name.lower().rstrip(".")
        for n, ip in self.dns.hosts:
            if n == name:
                return ip
        return None

    # ---- records -----------------------------------------------------------------

    def _record(self, req):
        with self._lock:
            self._requests.append(req)

    def _record_tls_failure(self, f):
        with self._lock:
            self._tls_failures.append(f)

    def requests(self, case=None, host=None, since=None):
        with self._lock:
            out = list(self._requests)
        return [r for r in out if (case is None or r.case == case)
                and (host is None or r.host == host) and (since is None or r.at >= since)]

    def tls_failures(self, case=None, since=None):
        with self._lock:
            out = list(self._tls_failures)
        return [f for f in out if (case is None or f.case == case)
                and (since is None or f.at >= since)]

    def clear(self):
        with self._lock:
            self._requests.clear()
            self._tls_failures.clear()

    # ---- start / stop -------------------------------------------------------------

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        with open(self.xxe_secret_file, "w") as f:
            f.write(self.xxe_marker + "\n")
        os.chmod(self.xxe_secret_file, 0o644)
        cdir = os.path.join(self.directory, "certs")
        os.makedirs(cdir, exist_ok=True)
        os.chmod(cdir, 0o755)
        self.issuer = Issuer.load(self.certs)
        self.rogue = Issuer.rogue()
        self.prefix = self._choose_prefix(len(CASES))
        self.dns = dnsworld.DnsWorld(os.path.join(self.directory, "dns"))
        for i, cls in enumerate(CASES):
            case = cls(self)
            self.cases[case.name] = case
            ip = f"{self.prefix}.{10 + i}"
            self.case_ip[case.name] = ip
            case.dns(self.dns, ip)
        self.dns.start()
        for case in self.cases.values():
            if not case.names:
                continue
            ip = self.case_ip[case.name]
            cert, key = self.issuer.issue(cdir, case.name, case.names)
            special = {}
            for n, (issuer, sans) in case.certs().items():
                special[n] = issuer.issue(cdir, f"{case.name}-{n}", sans)
            ctx = _sni_context(self, cert, key, special)
            self._serve(_Server(self, case, ip, 443, {None: ctx}))
            if case.http:
                self._serve(_Server(self, case, ip, 80))
        if self.with_dovecot:
            cert, key = self.issuer.issue(cdir, "dovecot", list(IMAP_NAMES), ips=("127.0.0.1",))
            self.dovecot = _WorldDovecot(os.path.join(self.directory, "dovecot"),
                                         self.dovecot_ip, self.dovecot143_ip, cert, key,
                                         certs_dir=self.certs.directory)
            self.dovecot.start()
        self._write_info()

    def _serve(self, server):
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True, name=f"world-{server.case.name}-{server.scheme}")
        t.start()
        self.servers.append(server)
        self.threads.append(t)

    def info(self):
        return {"directory": self.directory, "dns": self.dns.address if self.dns else None,
                "ca_bundle": self.certs.ca_bundle, "dovecot_ip": self.dovecot_ip,
                "blackhole_ip": self.blackhole_ip,
                "cases": {n: {"ip": self.case_ip[n], "names": c.names}
                          for n, c in self.cases.items()},
                "dovecot": self.dovecot.info() if self.dovecot else None}

    def _write_info(self):
        with open(os.path.join(self.directory, "world.json"), "w") as f:
            json.dump(self.info(), f, indent=2)

    def stop(self):
        self.stopping.set()
        stoppers = [threading.Thread(target=s.shutdown, daemon=True) for s in self.servers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(5)
        for s in self.servers:
            s.server_close()
        for t in self.threads:
            t.join(5)
        self.servers.clear()
        self.threads.clear()
        if self.dovecot is not None:
            self.dovecot.stop()
            self.dovecot = None
        if self.dns is not None:
            self.dns.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    if len(argv) != 2 or argv[0] != "run":
        print("usage: python3 -m tests.servers.httpsworld run DIR", file=sys.stderr)
        return 2
    import signal
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    dovecot_mod.become_subreaper()
    w = AutodiscoverWorld(argv[1]).start()
    try:
        print(json.dumps(w.info(), indent=2), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        w.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
