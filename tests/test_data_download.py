"""Downloads against a local http.server in a thread (no internet needed)."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from aekit.data import BUILTINS, FileSpec, load_dataset, write_idx
from aekit.data.download import ensure_file
from aekit.errors import AekitError

NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


class Server:
    """A local HTTP server whose behaviour each test picks: serve files, stall, or cut short."""

    def __init__(self, root: Path) -> None:
        self.root, self.mode, self.requests = root, "serve", []
        self.release = threading.Event()
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 - http.server's naming
                outer.requests.append(self.path)
                if outer.mode == "stall":
                    outer.release.wait(10)  # say nothing until the client gives up
                    return
                if outer.mode == "short":
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x" * 10)  # then close: a partial download
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[Server]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "AEKIT_OFFLINE"):
        monkeypatch.delenv(var, raising=False)  # talk to 127.0.0.1 directly
    (tmp_path / "www").mkdir()
    s = Server(tmp_path / "www")
    yield s
    s.close()


def publish(folder: Path) -> dict[str, FileSpec]:
    """Write tiny MNIST-format files into ``folder``; return their specs."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(20) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(6) % 10).astype(np.uint8),
    }
    specs = {}
    for role, name in NAMES.items():
        write_idx(folder / name, arrays[role])
        data = (folder / name).read_bytes()
        specs[role] = FileSpec(name, hashlib.md5(data).hexdigest(), len(data))
    return specs


def point_mnist_at(monkeypatch, specs: dict[str, FileSpec], *mirrors: str) -> None:
    spec = dataclasses.replace(BUILTINS["mnist"], files={r: (f,) for r, f in specs.items()},
                               mirrors=mirrors)
    monkeypatch.setitem(BUILTINS, "mnist", spec)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there any more


def test_download_success_then_cached(server, tmp_path, monkeypatch):
    specs = publish(server.root)
    point_mnist_at(monkeypatch, specs, server.url)
    s = load_dataset("mnist", data_dir=tmp_path / "data", progress=True)
    assert [len(s.train), len(s.val), len(s.test)] == [18, 2, 6]
    folder = tmp_path / "data" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES.values())  # no temp files
    assert len(server.requests) == 4
    load_dataset("mnist", data_dir=tmp_path / "data", progress=False)
    assert len(server.requests) == 4  # second load reads the verified local files


def test_fallback_mirror_after_404(server, tmp_path, monkeypatch):
    specs = publish(server.root)
    point_mnist_at(monkeypatch, specs, server.url + "missing/", server.url)
    s = load_dataset("mnist", data_dir=tmp_path / "d", progress=False)
    assert len(s.test) == 6 and len(server.requests) == 8


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    specs = publish(server.root)
    wrong = dataclasses.replace(specs["test_labels"], md5="0" * 32)
    folder = tmp_path / "dl"
    with pytest.raises(AekitError) as err:
        ensure_file("mnist", [wrong], [folder], [server.url], progress=False, timeout=5)
    assert "checksum mismatch" in str(err.value) and "0" * 32 in str(err.value)
    assert list(folder.iterdir()) == []


def test_corrupt_file_on_a_mirror_fails_pooch_md5_then_next_mirror_serves(server, tmp_path, monkeypatch):
    specs = publish(server.root)
    (server.root / "bad").mkdir()
    for name in NAMES.values():  # same size, different bytes: only pooch's MD5 check can tell
        data = bytearray((server.root / name).read_bytes())
        data[-1] ^= 0xFF
        (server.root / "bad" / name).write_bytes(bytes(data))
    served = hashlib.md5((server.root / "bad" / NAMES["train_images"]).read_bytes()).hexdigest()
    point_mnist_at(monkeypatch, specs, server.url + "bad/")
    data_dir = tmp_path / "data"
    with pytest.raises(AekitError) as err:
        load_dataset("mnist", data_dir=data_dir, progress=False)
    msg = str(err.value)
    assert f"{server.url}bad/{NAMES['train_images']}: checksum mismatch" in msg
    assert specs["train_images"].md5 in msg and served in msg
    assert "What to do" in msg and "--data-dir" in msg
    assert list((data_dir / "mnist").iterdir()) == []  # nothing under the real name, no temp file
    point_mnist_at(monkeypatch, specs, server.url + "bad/", server.url)
    assert len(load_dataset("mnist", data_dir=data_dir, progress=False).test) == 6
    assert sorted(p.name for p in (data_dir / "mnist").iterdir()) == sorted(NAMES.values())


def test_wrong_size_is_rejected_before_the_md5_and_quietly(server, tmp_path, capfd):
    specs = publish(server.root)
    size = specs["test_labels"].size
    big = dataclasses.replace(specs["test_labels"], size=size + 1)
    with pytest.raises(AekitError, match=f"size mismatch: expected {size + 1} bytes, got {size};"):
        ensure_file("mnist", [big], [tmp_path / "dl"], [server.url], progress=False, timeout=5)
    assert list((tmp_path / "dl").iterdir()) == []
    assert capfd.readouterr().err == ""  # progress=False silences pooch's "Downloading ..." line


def test_partial_download_is_deleted(server, tmp_path):
    server.mode = "short"
    spec = FileSpec("f.gz", "0" * 32, 1000)
    with pytest.raises(AekitError, match="f.gz") as err:
        ensure_file("mnist", [spec], [tmp_path / "dl"], [server.url], progress=False, timeout=5)
    assert "connection closed early: got 10 of 1000 bytes" in str(err.value)
    assert list((tmp_path / "dl").iterdir()) == []


def test_stalled_server_times_out(server, tmp_path, monkeypatch):
    server.mode = "stall"
    specs = publish(server.root)
    point_mnist_at(monkeypatch, specs, server.url)
    monkeypatch.setenv("AEKIT_DOWNLOAD_TIMEOUT", "0.3")
    with pytest.raises(AekitError, match="timed out after 0.3 s"):
        load_dataset("mnist", data_dir=tmp_path / "data", progress=False)
    assert not any((tmp_path / "data" / "mnist").iterdir())


def test_unreachable_server_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("AEKIT_OFFLINE", raising=False)
    specs = publish(tmp_path)
    url = closed_port_url()
    point_mnist_at(monkeypatch, specs, url)
    data = tmp_path / "data"
    with pytest.raises(AekitError) as err:
        load_dataset("mnist", data_dir=data, progress=False)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(data / "mnist") in msg
    assert url + "train-images-idx3-ubyte.gz" in msg and "refused" in msg
    assert "--data-dir" in msg and "AEKIT_DATA" in msg


def test_offline_env_and_download_false_skip_the_network(server, tmp_path, monkeypatch):
    specs = publish(server.root)
    point_mnist_at(monkeypatch, specs, server.url)
    with pytest.raises(AekitError, match="download=False"):
        load_dataset("mnist", data_dir=tmp_path, download=False)
    monkeypatch.setenv("AEKIT_OFFLINE", "1")
    with pytest.raises(AekitError, match="AEKIT_OFFLINE"):
        load_dataset("mnist", data_dir=tmp_path)
    assert server.requests == []


def test_bad_timeout_env(server, tmp_path, monkeypatch):
    point_mnist_at(monkeypatch, publish(server.root), server.url)
    monkeypatch.setenv("AEKIT_DOWNLOAD_TIMEOUT", "soon")
    with pytest.raises(AekitError, match="AEKIT_DOWNLOAD_TIMEOUT"):
        load_dataset("mnist", data_dir=tmp_path)


def test_registry_urls_point_at_the_canonical_sources():
    assert BUILTINS["mnist"].mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert BUILTINS["mnist"].mirrors[1] == "http://yann.lecun.com/exdb/mnist/"
    assert "fashion-mnist" in BUILTINS["fashion-mnist"].mirrors[0]
    assert BUILTINS["kmnist"].mirrors == ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",)
    cifar = BUILTINS["cifar10"].files["archive"][0]
    assert cifar.name == "cifar-10-binary.tar.gz"
    assert cifar.md5 == "c32a1d4ab5d03f1284b67883e8d87530" and cifar.size == 170052171
    for spec in BUILTINS.values():
        for alts in spec.files.values():
            assert all(f.md5 is None or len(f.md5) == 32 for f in alts)
