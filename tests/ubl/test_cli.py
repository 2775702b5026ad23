"""`peppol-node validate / render / rules install`, driven as a real process."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An empty user cache, so nothing installed on this machine leaks into the test."""
    return {"PEPPOL_UBL_CACHE_DIR": str(tmp_path / "cache"), "PEPPOL_UBL_RULES_DIR": "", "PEPPOL_UBL_XSD_DIR": ""}


def _rules_args(testdata: Path) -> list[str]:
    return ["--rules", str(testdata / "phive-rules/openpeppol-2026.5/xslt"), "--xsd", str(testdata / "ubl-2.1/xsd")]


def test_validate_exit_codes(testdata: Path, env, tmp_path: Path) -> None:
    good = testdata / "peppol-bis-invoice-3/examples/base-example.xml"
    gr = testdata / "peppol-bis-invoice-3/national-examples/GR/GR-base-example-correct.xml"
    bad_rules = testdata / "en16931-cen/ubl/examples/issue116.xml"  # PEPPOL-COMMON-R049
    junk = tmp_path / "junk.xml"
    junk.write_bytes(b"<not-closed>")

    r = run_cli("validate", str(good), *_rules_args(testdata), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VALID" in r.stdout and "check bis-billing 2026.5: passed" in r.stdout
    r = run_cli("validate", str(good), str(bad_rules), *_rules_args(testdata), env=env)
    assert r.returncode == 1 and "PEPPOL-COMMON-R049" in r.stdout
    r = run_cli("validate", str(gr), *_rules_args(testdata), env=env)
    assert r.returncode == 1 and "check xsd: failed" in r.stdout
    r = run_cli("validate", str(good), str(junk), str(tmp_path / "missing.xml"), *_rules_args(testdata), env=env)
    assert r.returncode == 2  # the worst of them
    assert r.stdout.count(": ERROR ") == 2 and "VALID (Invoice)" in r.stdout


def test_validate_json_and_skipped_checks(testdata: Path, env) -> None:
    good = testdata / "peppol-bis-invoice-3/examples/base-example.xml"
    r = run_cli("validate", "--json", str(good), "--rules", str(testdata / "phive-rules/openpeppol-2026.5/xslt"), env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["status"] == "valid"
    assert {"name": "xsd", "status": "skipped", "reason": "no UBL XSD folder configured"} in report["checks"]
    # nothing at all to check with: no verdict, not a pass, and the way out is named
    r = run_cli("validate", "--json", str(good), env=env)
    assert r.returncode == 2 and r.stdout == "" and "run `peppol-node rules install`" in r.stderr


def test_validate_sbd_and_other_rule_sets(testdata: Path, env) -> None:
    sbd = testdata / "phase4/peppol-client/examples/base-sbdh.xml"
    r = run_cli("validate", str(sbd), *_rules_args(testdata), env=env)
    assert r.returncode in (0, 1) and "(Invoice)" in r.stdout
    nl = testdata / "phive-rules/nl-si-ubl-2.0/test-files-2.0.3.2/SI-UBL-2.0_UBL-SR-15_error_multiple_legalentity_registrationname.xml"
    r = run_cli("validate", "--json", str(nl), "--rules", str(testdata / "phive-rules/nl-si-ubl-2.0"),
                "--rule-set", "nl-si-ubl@2.0.3.13", env=env)
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["checks"][-1]["status"] == "error"  # the XSLT threw: reported, no crash
    r = run_cli("validate", str(nl), "--rules", str(testdata / "phive-rules"), "--rule-set", "nope", env=env)
    assert r.returncode == 2 and "no rule set" in r.stderr
    order = testdata / "ubl-2.1/xml"
    some_order = next((p for p in order.glob("UBL-Order-2.1-Example.xml")), None)
    if some_order is not None:
        r = run_cli("validate", str(some_order), *_rules_args(testdata), env=env)
        assert r.returncode == 2 and "not a supported document" in r.stdout


def test_render(testdata: Path, env, tmp_path: Path) -> None:
    src = testdata / "peppol-bis-invoice-3/examples/base-example.xml"
    html, pdf = tmp_path / "x.html", tmp_path / "x.pdf"
    r = run_cli("render", str(src), "--html", str(html), "--pdf", str(pdf), env=env)
    assert r.returncode == 0, r.stderr
    assert "Snippet1" in html.read_text() and pdf.read_bytes().startswith(b"%PDF-")
    big = next(p for p in (testdata / "en16931-cen/ubl/examples").iterdir() if p.stat().st_size > 2_000_000)
    r = run_cli("render", str(big), "--pdf", str(pdf), "--embedded-pdf", "only-when-none", env=env)
    assert r.returncode == 0 and "PDF (embedded)" in r.stdout
    r = run_cli("render", str(src), "--pdf", str(tmp_path / "none.pdf"), "--embedded-pdf", "never", env=env)
    assert r.returncode == 0 and not (tmp_path / "none.pdf").exists()
    r = run_cli("render", str(tmp_path / "x.html"), "--html", str(tmp_path / "y.html"), env=env)
    assert r.returncode == 2


# --- rules install against a local HTTP server ---------------------------------------------------


@pytest.fixture
def archive(testdata: Path) -> bytes:
    """A rules release made on the fly from the third-party copies (never stored in the repo)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted((testdata / "phive-rules/openpeppol-2026.5/xslt").glob("*.xslt")):
            zf.write(p, f"external/schematron/openpeppol-2026.5/xslt/{p.name}")
    return buf.getvalue()


@pytest.fixture
def server(archive: bytes) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/rules.zip":
                self.send_response(200)
                self.send_header("Content-Length", str(len(archive)))
                self.end_headers()
                self.wfile.write(archive)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_rules_install_then_validate(server: str, archive: bytes, env, testdata: Path, tmp_path: Path) -> None:
    sha = hashlib.sha256(archive).hexdigest()
    r = run_cli("rules", "install", "--url", f"{server}/rules.zip", "--sha256", sha, env=env)
    assert r.returncode == 0, r.stderr
    assert "rule set bis-billing 2026.5" in r.stdout
    installed = Path(env["PEPPOL_UBL_CACHE_DIR"]) / "peppol"
    assert (installed / "external/schematron/openpeppol-2026.5/xslt/CEN-EN16931-UBL.xslt").is_file()
    # without --rules, validate uses what was installed
    good = testdata / "peppol-bis-invoice-3/examples/base-example.xml"
    r = run_cli("validate", str(good), "--xsd", str(testdata / "ubl-2.1/xsd"), env=env)
    assert r.returncode == 0 and "check bis-billing 2026.5: passed" in r.stdout


def test_rules_install_refuses_wrong_hash_missing_hash_and_404(server: str, env, tmp_path: Path) -> None:
    dest = tmp_path / "rules"
    r = run_cli("rules", "install", "--url", f"{server}/rules.zip", "--sha256", "0" * 64, "--dest", str(dest), env=env)
    assert r.returncode == 2 and "SHA-256 mismatch" in r.stderr and not dest.exists()
    r = run_cli("rules", "install", "--url", f"{server}/rules.zip", "--dest", str(dest), env=env)
    assert r.returncode == 2 and "no pinned SHA-256" in r.stderr
    r = run_cli("rules", "install", "--url", f"{server}/missing.zip", "--sha256", "0" * 64, "--dest", str(dest), env=env)
    assert r.returncode == 2 and "404" in r.stderr
