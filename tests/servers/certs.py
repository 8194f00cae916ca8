"""Test certificates, generated at test time with python3-cryptography.

make_certs(directory) writes into directory:

    ca.pem / ca.key                 the test CA
    ca-bundle.pem                   the CA alone, for SSL_CERT_FILE
    good.pem / good.key             SAN IP 127.0.0.1 + DNS localhost, from the CA
    expired.pem / expired.key       same names, from the CA, expired yesterday
    wronghost.pem / wronghost.key   SAN DNS mail.wrong.test only, from the CA
    selfsigned.pem / selfsigned.key SAN IP 127.0.0.1 + DNS localhost, self-signed

and returns a Certs object with the paths. Every file is mode 0644 (the
private keys are test keys; Dovecot's unprivileged processes read them).
"""

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KINDS = ("good", "expired", "wronghost", "selfsigned")


@dataclass
class Certs:
    directory: str
    ca_cert: str
    ca_key: str
    ca_bundle: str

    def cert(self, kind):
        if kind not in KINDS:
            raise ValueError(f"unknown certificate kind {kind!r}")
        return os.path.join(self.directory, f"{kind}.pem")

    def key(self, kind):
        if kind not in KINDS:
            raise ValueError(f"unknown certificate kind {kind!r}")
        return os.path.join(self.directory, f"{kind}.key")


def _name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailferry tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _leaf(subject_cn, sans, key, issuer_name, issuer_key, not_before, not_after,
          ca_key_for_aki=None):
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject_cn))
               .issuer_name(issuer_name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=True, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                              critical=False)
               .add_extension(x509.SubjectAlternativeName(sans), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if ca_key_for_aki is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key_for_aki.public_key()),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certs(directory):
    """Generate the CA and the four server certificates into directory."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    day = datetime.timedelta(days=1)

    ca_key = _key()
    ca_name = _name("mailferry test CA")
    ca_cert = (x509.CertificateBuilder()
               .subject_name(ca_name)
               .issuer_name(ca_name)
               .public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - day)
               .not_valid_after(now + 3650 * day)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))

    local_sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    leaves = {}
    key = _key()
    leaves["good"] = (key, _leaf("localhost", local_sans, key, ca_name, ca_key,
                                 now - day, now + 365 * day, ca_key))
    key = _key()
    leaves["expired"] = (key, _leaf("localhost", local_sans, key, ca_name, ca_key,
                                    now - 60 * day, now - day, ca_key))
    key = _key()
    leaves["wronghost"] = (key, _leaf("mail.wrong.test", [x509.DNSName("mail.wrong.test")],
                                      key, ca_name, ca_key, now - day, now + 365 * day, ca_key))
    key = _key()
    leaves["selfsigned"] = (key, _leaf("localhost", local_sans, key, _name("localhost"), key,
                                       now - day, now + 365 * day))

    ca_pem = _cert_pem(ca_cert)
    _write(os.path.join(directory, "ca.pem"), ca_pem)
    _write(os.path.join(directory, "ca.key"), _key_pem(ca_key))
    _write(os.path.join(directory, "ca-bundle.pem"), ca_pem)
    for kind, (k, c) in leaves.items():
        _write(os.path.join(directory, f"{kind}.pem"), _cert_pem(c))
        _write(os.path.join(directory, f"{kind}.key"), _key_pem(k))

    return Certs(directory=directory,
                 ca_cert=os.path.join(directory, "ca.pem"),
                 ca_key=os.path.join(directory, "ca.key"),
                 ca_bundle=os.path.join(directory, "ca-bundle.pem"))


def load_certs(directory):
    """The Certs of a directory make_certs() already filled."""
    return Certs(directory=directory,
                 ca_cert=os.path.join(directory, "ca.pem"),
                 ca_key=os.path.join(directory, "ca.key"),
                 ca_bundle=os.path.join(directory, "ca-bundle.pem"))


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 2:
        sys.exit("usage: python3 -m tests.servers.certs DIR")
    c = make_certs(sys.argv[1])
    print(c.directory)
