import datetime as dt
import ssl
import threading
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from channels import net
from channels.backends.provider_http import retry_after


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for "localhost"."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.headers["Host"], body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(cert_file))
    yield httpd.server_address[1], client_context, seen
    httpd.shutdown()
    httpd.server_close()


def test_https_to_a_checked_address_verifies_the_certificate_for_the_host_name(tls_server):
    # given an allow-listed host name whose certificate names it
    port, context, seen = tls_server
    guard = net.AddressGuard.allowing(["localhost"])
    # when we post over TLS (connected to the resolved address, SNI and Host = the name)
    response = net.request("POST", f"https://localhost:{port}/x", body=b"hi", guard=guard,
                           ssl_context=context)
    # then the request went through with the name in Host
    assert (response.status, response.body) == (200, b"ok")
    assert seen == [(f"localhost:{port}", b"hi")]


def test_https_refuses_a_certificate_for_another_name(tls_server):
    # given the server's certificate is for "localhost", reached as 127.0.0.1
    port, context, seen = tls_server
    guard = net.AddressGuard.allowing(["127.0.0.1"])
    with pytest.raises(net.NetError):
        net.request("POST", f"https://127.0.0.1:{port}/x", body=b"hi", guard=guard,
                    ssl_context=context)
    assert seen == []


def test_authorization_is_not_forwarded_to_another_host_on_redirect(provider):
    # given a redirect from 127.0.0.1 to localhost (another host, same server)
    provider.respond(307, headers={"Location": f"http://localhost:{provider.port}/next"})
    net.request("POST", provider.url("/first"), body=b"{}", max_redirects=1,
                headers={"Authorization": "Bearer secret", "X-Keep": "1"})
    first, second = provider.requests
    assert first.headers["authorization"] == "Bearer secret"
    assert "authorization" not in second.headers
    assert second.headers["x-keep"] == "1"


def test_a_303_redirect_becomes_a_bodiless_get(provider):
    provider.respond(303, headers={"Location": "/see-other"})
    net.request("POST", provider.url("/form"), body=b'{"a": 1}', max_redirects=3,
                headers={"Content-Type": "application/json"})
    second = provider.requests[1]
    assert (second.method, second.path, second.body) == ("GET", "/see-other", b"")


def test_without_max_redirects_the_redirect_itself_is_returned(provider):
    provider.respond(302, headers={"Location": "/elsewhere"})
    response = net.request("POST", provider.url("/"), body=b"{}")
    assert response.status == 302
    assert len(provider.requests) == 1


def test_a_huge_response_body_is_read_only_up_to_the_cap(provider):
    provider.respond(200, b"x" * (net.MAX_RESPONSE_BYTES + 10))
    response = net.request("GET", provider.url("/"))
    assert len(response.body) == net.MAX_RESPONSE_BYTES


@pytest.mark.parametrize("address,public", [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("172.31.255.255", False),
    ("192.168.0.1", False), ("169.254.169.254", False), ("0.0.0.0", False), ("::1", False),  # noqa: S104
    ("fc00::1", False), ("fe80::1", False), ("224.0.0.1", False), ("240.0.0.1", False),
    ("100.64.0.1", False), ("::ffff:10.0.0.1", False), ("::", False),
])
def test_public_address_classification(address, public):
    assert net.is_public_address(address) is public


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after("120") == 120.0
    assert retry_after("") is None
    assert retry_after("soon") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    assert 80 <= retry_after(format_datetime(later, usegmt=True)) <= 90
