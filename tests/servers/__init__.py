"""Test servers for mailferry's end-to-end tests (Dovecot, hostile TCP servers, certificates)."""
