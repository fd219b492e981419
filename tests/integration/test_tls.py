"""TLS to the broker (issue 5), against a real mosquitto TLS listener with
certificates this test makes with the openssl command: the right CA (with a
client certificate) connects; a wrong CA, a wrong host name, an expired
certificate and a public-key pin mismatch are refused with a clear log line
and no busy loop, each with its own log line; a matching pin connects; a
server with the wrong key never receives the CONNECT packet (nor the
password in it)."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from tests.integration.fleet import ConfBroker, NamedDaemon
from tests.integration.harness import SLOW, WRAP, wait_for

# Under valgrind each refused TLS case costs half a minute; the good and the
# pinned connections still run there, the refusals run in check and asan.
SKIP_SLOW = unittest.skipIf(WRAP, "refusal cases skipped under valgrind (time budget)")


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """CA, a second (wrong) CA, server certificates for 127.0.0.1, for a
    wrong name and an expired one, and a client certificate."""
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2",
                "-subj", "/CN=teamboard test " + ca, cwd=d)
    with open(os.path.join(d, "san-ok.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost\n")
    with open(os.path.join(d, "san-bad.ext"), "w") as f:
        f.write("subjectAltName=DNS:broker.wrong.example\n")
    for name, ext, cn in (("server", "san-ok.ext", "127.0.0.1"),
                          ("wrongname", "san-bad.ext", "broker.wrong.example"),
                          ("client", None, "floor1")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
        args = ["x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", str(abs(hash(name)) % 100000 + 2), "-days", "2",
                "-out", name + ".crt"]
        if ext:
            args += ["-extfile", ext]
        openssl(*args, cwd=d)
    # Expired: `openssl ca` can set explicit dates in the past.
    os.makedirs(os.path.join(d, "db"), exist_ok=True)
    open(os.path.join(d, "db", "index.txt"), "w").close()
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("""[ca]
default_ca = c
[c]
database = db/index.txt
new_certs_dir = db
serial = db/serial
default_md = sha256
policy = p
copy_extensions = copy
x509_extensions = e
[p]
commonName = supplied
[e]
subjectAltName = IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost
""")
    with open(os.path.join(d, "db", "serial"), "w") as f:
        f.write("1000\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key",
            "-in", "expired.csr", "-out", "expired.crt", "-startdate", "20200101000000Z",
            "-enddate", "20200102000000Z", cwd=d)
    # Not yet valid: what a Pi without RTC sees before NTP, turned round.
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "future.key", "-out", "future.csr", "-subj", "/CN=future", cwd=d)
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key",
            "-in", "future.csr", "-out", "future.crt", "-startdate", "20900101000000Z",
            "-enddate", "20900102000000Z", cwd=d)


def spki_sha256(d, cert):
    """The pin: SHA-256 of the certificate's DER public key, in hex (the
    recipe in docs/admin.md)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], cwd=d,
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, cwd=d,
                         check=True, capture_output=True).stdout
    out = subprocess.run(["openssl", "dgst", "-sha256", "-hex", "-r"], input=der, cwd=d,
                         check=True, capture_output=True).stdout.decode()
    return out.split()[0]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TlsRecorder:
    """A TLS server (not MQTT) that records what each client sends after the
    handshake: the CONNECT packet of an MQTT client, password included."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.handshakes = 0
        self.refused = 0
        self.data = b""
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.settimeout(2)
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes += 1
                    while True:
                        chunk = tls.recv(4096)
                        if not chunk:
                            break
                        self.data += chunk
            except ssl.SSLError:
                self.refused += 1
            except OSError:
                pass  # timeout: the client waits for a CONNACK we never send
            finally:
                conn.close()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="teamboard-pki-")
        make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="teamboard-tls-")
        self.broker = None
        self.daemon = None

    def tearDown(self):
        code = self.daemon.stop() if self.daemon else 0
        if self.broker:
            self.broker.stop()
        result = getattr(self._outcome, "result", None)
        if result and any(t is self for t, _ in result.errors + result.failures):
            print("\n--- board log ---\n%s\n--- broker log ---\n%s"
                  % (self.daemon.read_log()[-3000:] if self.daemon else "",
                     self.broker.read_log()[-2000:] if self.broker else ""))
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(code, 0)

    def p(self, name):
        return os.path.join(self.pki, name)

    def run_board(self, server="server", cafile="ca.crt", pin=None, client_cert=False,
                  require_client_cert=None):
        if require_client_cert is None:
            require_client_cert = client_cert
        self.broker = ConfBroker(self.tmp, "allow_anonymous true\ncafile %s\ncertfile %s\n"
                                 "keyfile %s\nrequire_certificate %s\n"
                                 % (self.p("ca.crt"), self.p(server + ".crt"),
                                    self.p(server + ".key"),
                                    "true" if require_client_cert else "false"))
        self.broker.start()
        extra = "tls = true\ncafile = %s\n" % self.p(cafile)
        if client_cert:
            extra += "certfile = %s\nkeyfile = %s\n" % (self.p("client.crt"), self.p("client.key"))
        if pin:
            extra += "tls_pin = %s\n" % pin
        self.daemon = NamedDaemon(self.tmp, self.broker.port, "floor1")
        with open(self.daemon.conf) as f:
            text = f.read()
        with open(self.daemon.conf, "w") as f:
            f.write(text.replace("keepalive = 5s\n", "keepalive = 5s\n" + extra))
        self.daemon.start()

    def assert_connects(self):
        wait_for(lambda: self.daemon.status()["broker"] == "connected", 10, "TLS connection")

    def assert_refused(self, words):
        wait_for(lambda: [l for l in self.daemon.read_log().splitlines()
                                if "unreachable" in l and words in l], 10,
                       "a log line saying the broker was refused (%s)" % words)
        self.assertNotEqual(self.daemon.status()["broker"], "connected")
        # Retrying with backoff, not spinning: over 2 s of refused
        # connections the daemon uses a small fraction of a CPU.
        pid = self.daemon.proc.pid
        before = cpu_seconds(pid)
        time.sleep(2)  # measuring CPU over an interval, not waiting for a state
        self.assertLess(cpu_seconds(pid) - before, 0.5 * SLOW, "busy loop while refused")
        self.assertNotEqual(self.daemon.status()["broker"], "connected")

    def test_good_ca_with_client_certificate_connects(self):
        self.run_board(client_cert=True)
        self.assert_connects()

    @SKIP_SLOW
    def test_wrong_ca_is_refused(self):
        self.run_board(cafile="otherca.crt")
        self.assert_refused("TLS: server certificate (issuer 'teamboard test ca') not signed "
                            "by a CA in cafile %s" % self.p("otherca.crt"))

    @SKIP_SLOW
    def test_wrong_host_name_is_refused(self):
        self.run_board(server="wrongname")
        self.assert_refused("TLS: server certificate is for broker.wrong.example, "
                            "not 127.0.0.1")

    @SKIP_SLOW
    def test_expired_certificate_is_refused(self):
        self.run_board(server="expired")
        self.assert_refused("TLS: server certificate '127.0.0.1' expired "
                            "(notAfter 2020-01-02 00:00:00 UTC)")

    @SKIP_SLOW
    def test_not_yet_valid_certificate_is_refused(self):
        self.run_board(server="future")
        self.assert_refused("TLS: server certificate 'future' not valid before "
                            "2090-01-01 00:00:00 UTC (is the board's clock right?)")

    @SKIP_SLOW
    def test_missing_client_certificate_is_refused_by_the_broker(self):
        # The broker requires one, the board has none: its alert is quoted.
        self.run_board(client_cert=False, require_client_cert=True)
        self.assert_refused("TLS: the broker ended the handshake: certificate required")

    def recorded_board(self, pin, secret):
        """The board with a password, against a TlsRecorder with the good
        server certificate (right CA, right name)."""
        rec = TlsRecorder(self.p("server.crt"), self.p("server.key"))
        self.addCleanup(rec.stop)
        secret_file = os.path.join(self.tmp, "secret")
        with open(secret_file, "w") as f:
            f.write(secret + "\n")
        os.chmod(secret_file, 0o600)
        self.daemon = NamedDaemon(self.tmp, rec.port, "floor1")
        with open(self.daemon.conf) as f:
            text = f.read()
        with open(self.daemon.conf, "w") as f:
            f.write(text.replace("keepalive = 5s\n", "keepalive = 5s\ntls = true\n"
                                 "cafile = %s\ntls_pin = %s\nusername = floor1\n"
                                 "password_file = %s\n"
                                 % (self.p("ca.crt"), pin, secret_file)))
        self.daemon.start()
        return rec

    def test_pin_is_checked_before_the_password_is_sent(self):
        secret = "pw-" + uuid.uuid4().hex
        # The right pin: the recorder sees our CONNECT, password and all
        # (so it would see it below if the board sent it).
        rec = self.recorded_board(spki_sha256(self.pki, "server.crt"), secret)
        wait_for(lambda: secret.encode() in rec.data, 10, "the CONNECT packet")
        self.assertEqual(self.daemon.stop(), 0)
        rec.stop()

        # The wrong pin: two handshakes, each ended by the board before it
        # sent a byte of MQTT.
        rec = self.recorded_board(spki_sha256(self.pki, "wrongname.crt"), secret)
        wait_for(lambda: rec.refused >= 2, 15, "two refused handshakes")
        self.assertEqual((rec.handshakes, rec.data), (0, b""))
        self.assertIn("pin mismatch", self.daemon.read_log())

    def test_pin_mismatch_is_refused_and_match_connects(self):
        other = spki_sha256(self.pki, "wrongname.crt")
        self.run_board(pin=other)
        self.assert_refused("TLS: public-key pin mismatch: server key sha256 %s is not "
                            "mqtt.tls_pin" % spki_sha256(self.pki, "server.crt"))
        self.assertEqual(self.daemon.stop(), 0)
        self.broker.stop()
        self.run_board(pin=spki_sha256(self.pki, "server.crt").upper())
        self.assert_connects()
