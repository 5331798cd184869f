"""MQTT with Home Assistant discovery, against a real Mosquitto broker the test starts (with an account, as the
broker is what authenticates commands): discovery messages, motion on and off with a snapshot, the button saving
a clip, the switch turning recording off and on, and the broker going away and coming back."""
import getpass
import json
import socket
import subprocess
import threading
import urllib.request

import paho.mqtt.client as mqtt

from conftest import BINARY, Daemon
from test_motion import y4m
from helpers import free_port, listening, status, wait_for

USER, PASSWORD = "blackbox", "broker-secret"


class Broker:
    """A mosquitto process on a free port that needs a user and password."""

    def __init__(self, tmp_path, port=None, tls=None):
        self.port = port or free_port()
        self.tmp = tmp_path
        passwords = tmp_path / "passwords"
        if not passwords.exists():
            subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD], check=True, timeout=30)
        conf = tmp_path / "mosquitto.conf"
        # Run as root, mosquitto would switch to its own user, which cannot read the test's private folder.
        conf.write_text(f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\npersistence false\n"
                        + (f"cafile {tls[0]}\ncertfile {tls[1]}\nkeyfile {tls[2]}\n" if tls else ""))
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: listening(self.port), 10, "mosquitto listening")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class Listener:
    """A paho client that keeps every message it receives, in order."""

    def __init__(self, port, topics=("#",)):
        self.messages = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(USER, PASSWORD)
        self.client.on_message = lambda c, u, m: self.keep(m)
        self.client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t) for t in topics]
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def keep(self, m):
        with self.lock:
            self.messages.append((m.topic, m.payload, m.retain))

    def on(self, topic):
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def publish(self, topic, payload):
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def mqtt_config(tmp_path, port, password=PASSWORD, ca=None):
    path = tmp_path / "mqtt.toml"
    scheme = "mqtts" if ca else "mqtt"
    path.write_text(f'[mqtt]\nurl = "{scheme}://127.0.0.1:{port}"\nuser = "{USER}"\npassword = "{password}"\nnode_id = "pi1"\n'
                    'state_interval_seconds = 2\n' + (f'ca_file = "{ca}"\n' if ca else ""))
    return path


def certificates(tmp_path):
    """A CA and a broker certificate for 127.0.0.1 signed by it: (ca, cert, key) file paths."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tmp_path / "ca.crt", tmp_path / "broker.crt", tmp_path / "broker.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    return paths


def test_home_assistant_discovery_motion_snapshot_button_and_switch(tmp_path):
    # 8 s of people walking, then the last picture held for 20 s: motion starts, then ends after the cooldown.
    clip = y4m(tmp_path, "walk-then-still", "trim=duration=8,tpad=stop_mode=clone:stop_duration=20", 28)
    broker = Broker(tmp_path)
    listener = Listener(broker.port)
    d = Daemon("--config", str(mqtt_config(tmp_path, broker.port)), "--camera", f"front=file:{clip}", "--codec", "h264",
               "--event-pre", "1", "--event-post", "1", recordings=tmp_path / "rec")
    try:
        wait_for(lambda: listener.on("blackbox/pi1/status")[-1:] == [b"online"], 10, "availability online")
        configs = {t: json.loads(p) for t, p, retained in listener.messages if t.startswith("homeassistant/")}
        expected = {f"homeassistant/{c}/pi1_front_{o}/config" for c, o in [
            ("binary_sensor", "motion"), ("image", "snapshot"), ("button", "event"), ("switch", "recording"), ("select", "mode"),
            ("sensor", "fps"), ("sensor", "disk"), ("sensor", "temperature")]}
        assert set(configs) == expected, set(configs) ^ expected
        # A Home Assistant started later still finds them: they are retained.
        late = Listener(broker.port, topics=("homeassistant/#",))
        wait_for(lambda: len(late.messages) >= len(expected), 5, "retained discovery for a late subscriber")
        assert all(retained for _, _, retained in late.messages), "discovery must be retained"
        late.close()
        for config in configs.values():
            assert config["availability_topic"] == "blackbox/pi1/status" and config["device"]["identifiers"] == ["blackbox_pi1_front"]
            assert config["unique_id"].startswith("blackbox_pi1_front_")
        motion = configs["homeassistant/binary_sensor/pi1_front_motion/config"]
        assert motion["device_class"] == "motion" and motion["state_topic"] == "blackbox/pi1/front/motion"
        assert configs["homeassistant/select/pi1_front_mode/config"]["options"] == ["continuous", "motion", "off"]
        # Motion on, with a snapshot, then off once the picture is still.
        wait_for(lambda: b"ON" in listener.on("blackbox/pi1/front/motion"), 20, "motion ON")
        wait_for(lambda: listener.on("blackbox/pi1/front/snapshot"), 5, "a snapshot at motion")
        assert listener.on("blackbox/pi1/front/snapshot")[0][:2] == b"\xff\xd8"
        motion_topic = listener.on("blackbox/pi1/front/motion")
        wait_for(lambda: listener.on("blackbox/pi1/front/motion")[-1] == b"OFF" and len(listener.on("blackbox/pi1/front/motion")) > motion_topic.index(b"ON") + 1,
                 30, "motion OFF after the walkers")
        # Sensors.
        node = json.loads(listener.on("blackbox/pi1/state")[-1])
        assert 0 <= node["disk_used_percent"] <= 100, node
        wait_for(lambda: json.loads(listener.on("blackbox/pi1/front/state")[-1])["fps"] > 5, 10, "fps sensor")
        # The button saves an event clip, as POST /api/events would.
        before = status(d)["cameras"][0]["recording"]["events"]
        listener.publish("blackbox/pi1/front/event/press", "PRESS")
        wait_for(lambda: status(d)["cameras"][0]["recording"]["events"] > before, 15, "the clip the button asked for")
        assert list((tmp_path / "rec" / "events").rglob("*.mp4"))
        # The switch turns recording off and on again.
        listener.publish("blackbox/pi1/front/recording/set", "OFF")
        wait_for(lambda: status(d)["cameras"][0]["recordMode"] == "off", 5, "recording off")
        wait_for(lambda: listener.on("blackbox/pi1/front/recording")[-1] == b"OFF", 5, "switch state OFF")
        listener.publish("blackbox/pi1/front/recording/set", "ON")
        wait_for(lambda: status(d)["cameras"][0]["recordMode"] == "continuous", 5, "recording on")
        listener.publish("blackbox/pi1/front/mode/set", "motion")
        wait_for(lambda: status(d)["cameras"][0]["recordMode"] == "motion", 5, "motion mode")
        with urllib.request.urlopen(d.base + "/metrics", timeout=10) as r:
            assert "blackbox_mqtt_connected_bool 1" in r.read().decode()
        mqtt_status = status(d)["mqtt"]
        assert mqtt_status["connected"] and mqtt_status["connects"] == 1 and mqtt_status["commands"] >= 4, mqtt_status
    finally:
        assert d.stop() == 0
        listener.close()
        broker.stop()
    # A clean stop says offline.
    assert listener.on("blackbox/pi1/status")[-1] == b"offline"
    clips = [json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=comment", "-of", "json", str(p)],
                                       capture_output=True, text=True, timeout=60).stdout)["format"].get("tags", {}).get("comment")
             for p in (tmp_path / "rec" / "events").rglob("*.mp4")]
    assert "mqtt" in clips, clips


def test_the_broker_going_away_and_coming_back_is_survived(tmp_path):
    broker = Broker(tmp_path)
    d = Daemon("--config", str(mqtt_config(tmp_path, broker.port)), "--camera", "front=testpattern:320x240@10", recordings=tmp_path / "rec")
    try:
        wait_for(lambda: status(d)["mqtt"]["connected"], 10, "connected")
        broker.stop()
        wait_for(lambda: not status(d)["mqtt"]["connected"], 10, "the lost connection noticed")
        assert status(d)["mqtt"]["lastError"], status(d)["mqtt"]
        # Recording goes on without the broker.
        written = status(d)["cameras"][0]["recording"]["framesWritten"]
        wait_for(lambda: status(d)["cameras"][0]["recording"]["framesWritten"] > written + 20, 10, "recording without the broker")
        broker = Broker(tmp_path, port=broker.port)
        listener = Listener(broker.port)
        # Back within the backoff (1 s doubling, at most 30 s): discovery and availability are published again.
        wait_for(lambda: status(d)["mqtt"]["connected"], 40, "reconnected")
        wait_for(lambda: listener.on("blackbox/pi1/status")[-1:] == [b"online"], 10, "online again")
        assert listener.on("homeassistant/binary_sensor/pi1_front_motion/config")
        assert status(d)["mqtt"]["connects"] == 2
        listener.close()
    finally:
        assert d.stop() == 0
        broker.stop()


def test_tls_to_the_broker_with_its_ca(tmp_path):
    ca, cert, key = certificates(tmp_path)
    broker = Broker(tmp_path, tls=(ca, cert, key))
    d = Daemon("--config", str(mqtt_config(tmp_path, broker.port, ca=ca)), "--camera", "front=testpattern:320x240@10",
               recordings=tmp_path / "rec")
    try:
        wait_for(lambda: status(d)["mqtt"]["connected"], 10, "connected over TLS")
        listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        listener.username_pw_set(USER, PASSWORD)
        listener.tls_set(ca_certs=str(ca))
        got = []
        listener.on_message = lambda c, u, m: got.append(m.payload)
        listener.on_connect = lambda c, u, f, rc, p: c.subscribe("blackbox/pi1/status")
        listener.connect("127.0.0.1", broker.port)
        listener.loop_start()
        wait_for(lambda: got[-1:] == [b"online"], 10, "availability over TLS")
        listener.loop_stop()
        listener.disconnect()
    finally:
        assert d.stop() == 0
        broker.stop()
    # A CA that did not sign the broker's certificate: no connection, and the status says why.
    other_ca, _, _ = certificates(tmp_path / "other" if (tmp_path / "other").mkdir() is None else tmp_path)
    broker = Broker(tmp_path, tls=(ca, cert, key))
    d = Daemon("--config", str(mqtt_config(tmp_path, broker.port, ca=other_ca)), "--camera", "front=testpattern:320x240@10",
               recordings=tmp_path / "rec")
    try:
        # The handshake fails, and the status says why (the library's own words: certificate verify failed).
        wait_for(lambda: "certificate" in (status(d)["mqtt"]["lastError"] or ""), 10, "the refused certificate reported")
        assert not status(d)["mqtt"]["connected"] and status(d)["mqtt"]["connects"] == 0, status(d)["mqtt"]
    finally:
        assert d.stop() == 0
        broker.stop()


def test_a_wrong_broker_password_is_reported_and_bad_settings_are_refused(tmp_path):
    broker = Broker(tmp_path)
    d = Daemon("--config", str(mqtt_config(tmp_path, broker.port, password="wrong")), "--camera", "front=testpattern:320x240@10",
               recordings=tmp_path / "rec")
    try:
        wait_for(lambda: "refused" in (status(d)["mqtt"]["lastError"] or ""), 10, "the refusal reported")
        assert not status(d)["mqtt"]["connected"] and status(d)["cameras"][0]["recording"]["state"] == "recording"
    finally:
        assert d.stop() == 0
        broker.stop()
    config = tmp_path / "bad.toml"
    for text, message in [
        ('[mqtt]\nurl = "http://broker:1883"\n', 'mqtt url "http://broker:1883" is not allowed; allowed: mqtt://HOST[:PORT] or mqtts://HOST[:PORT]'),
        ('[mqtt]\nurl = "mqtt://broker:99999"\n', "needs a host and a port from 1 to 65535"),
        ('[mqtt]\nurl = "mqtt://broker"\nuser = "x"\n', "mqtt user and password go together"),
        ('[mqtt]\nuser = "x"\n', "the broker is needed, e.g. url ="),
        ('[mqtt]\nurl = "mqtt://broker"\nnode_id = "a/b"\n', 'mqtt node_id "a/b" is not allowed'),
    ]:
        config.write_text(text)
        r = subprocess.run([BINARY, "run", "--port", "0", "--config", str(config), "--recordings", str(tmp_path / "rec")],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and message in r.stderr, (text, r.stderr)
