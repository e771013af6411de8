"""flask billing token: a development token the running service accepts."""

from __future__ import annotations

import jwt

from entrypoints.api.app import create_app
from entrypoints.config import Settings
from tests.helpers import TEST_JWT_SECRET, auth
from tests.unit.fakes import fake_ports


def test_minted_token_is_accepted_by_the_api(app):
    result = app.test_cli_runner().invoke(
        args=["billing", "token", "--org", "acme", "--role", "member"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    claims = jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])
    assert claims["org_id"] == "acme" and claims["role"] == "member" and "exp" in claims
    body = app.test_client().get("/api/v1/billing/status", headers=auth(token)).get_json()
    assert body["org_id"] == "acme"


def test_token_refuses_a_bad_org_id_and_role(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["billing", "token", "--org", "bad org"]).exit_code != 0
    assert runner.invoke(args=["billing", "token", "--org", "a", "--role", "god"]).exit_code != 0


def test_development_key_is_kept_in_the_instance_folder(tmp_path):
    settings = Settings(_env_file=None, instance_path=tmp_path)
    first = create_app(settings, **fake_ports())
    token = first.test_cli_runner().invoke(args=["billing", "token", "--org", "acme"]).output
    second = create_app(settings, **fake_ports())  # a restart reads the same key
    response = second.test_client().get("/api/v1/billing/status", headers=auth(token.strip()))
    assert response.status_code == 200
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600
