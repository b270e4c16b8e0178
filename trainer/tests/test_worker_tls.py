"""SWERL_TEMPORAL_TLS_* for the trainer worker: the same rules as workers/temporalTls.ts (the
TLS-connected worker itself runs in test/integration/temporalTls.test.ts)."""
from __future__ import annotations

import pytest

from swerl_trainer.worker import temporal_tls_from_env


def test_plaintext_unless_asked(tmp_path):
    assert temporal_tls_from_env({}) is False
    assert temporal_tls_from_env({"SWERL_TEMPORAL_TLS": "0"}) is False


def test_files_are_read_into_the_tls_config(tmp_path):
    for name in ("ca.pem", "c.pem", "c.key"):
        (tmp_path / name).write_bytes(f"PEM {name}".encode())
    tls = temporal_tls_from_env({
        "SWERL_TEMPORAL_TLS_CA": str(tmp_path / "ca.pem"),
        "SWERL_TEMPORAL_TLS_CERT": str(tmp_path / "c.pem"),
        "SWERL_TEMPORAL_TLS_KEY": str(tmp_path / "c.key"),
        "SWERL_TEMPORAL_TLS_SERVER_NAME": "temporal",
    })
    assert (tls.server_root_ca_cert, tls.client_cert, tls.client_private_key, tls.domain) == (
        b"PEM ca.pem", b"PEM c.pem", b"PEM c.key", "temporal")
    only = temporal_tls_from_env({"SWERL_TEMPORAL_TLS": "1"})
    assert only is not False and only.server_root_ca_cert is None and only.client_cert is None


@pytest.mark.parametrize("env, message", [
    ({"SWERL_TEMPORAL_TLS_CERT": "/x.pem"}, "go together"),
    ({"SWERL_TEMPORAL_TLS_KEY": "/x.key"}, "go together"),
    ({"SWERL_TEMPORAL_TLS": "yes"}, "expected 1/true"),
    ({"SWERL_TEMPORAL_TLS": "0", "SWERL_TEMPORAL_TLS_CA": "/ca.pem"}, "TLS files are set"),
    ({"SWERL_TEMPORAL_TLS_CA": "/nonexistent/ca.pem"}, "SWERL_TEMPORAL_TLS_CA=/nonexistent/ca.pem"),
])
def test_misconfiguration_is_an_error_never_plaintext(env, message):
    with pytest.raises(ValueError, match=message):
        temporal_tls_from_env(env)
