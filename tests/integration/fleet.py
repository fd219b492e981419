"""Helpers for tests with several boards or a locked-down broker: a daemon
with its own board id (and optionally MQTT credentials), and a broker
started from a given mosquitto.conf body."""
import os
import socket
import subprocess

from tests.integration.harness import MOSQUITTO, Daemon, free_port, wait_for


class NamedDaemon(Daemon):
    """teamboardd on the sim board with board.id = `board`, in its own folder."""

    def __init__(self, tmp, port, board, extra=""):
        os.makedirs(os.path.join(tmp, board), exist_ok=True)
        super().__init__(os.path.join(tmp, board), port, extra, board=board)


class ConfBroker:
    """mosquitto on 127.0.0.1 and a free port with extra configuration."""

    def __init__(self, tmp, body):
        self.tmp = tmp
        self.port = free_port()
        self.body = body
        self.log = os.path.join(tmp, "mosquitto.log")
        self.proc = None

    def start(self):
        conf = os.path.join(self.tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\npersistence false\n" % self.port)
            f.write("log_dest file %s\nlog_type all\n" % self.log)
            if os.geteuid() == 0:
                f.write("user root\n")
            f.write(self.body)
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def accepting():
            if self.proc.poll() is not None:
                raise AssertionError("mosquitto exited with %s" % self.proc.returncode)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False
        wait_for(accepting, 10, "mosquitto to accept connections")

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
