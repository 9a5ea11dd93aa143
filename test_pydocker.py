"""Tests for pydocker, against a real engine and real registries.

Run them with ``python3 -m pytest test_pydocker.py``.  The suite starts its
own dockerd and two registries (one with htpasswd basic auth) in temporary
folders on loopback, builds an image with the reference ``docker`` CLI,
pushes it, and then checks pydocker alone against them.  A fake daemon
covers only what a real engine will not do on demand.  A missing engine is
a failure, never a skip.

Sections follow pydocker.py: fixtures, flag parser, hosts, references,
auth and config, fake-daemon faults, then commands against the engine.
"""

import base64
import contextlib
import fcntl
import hashlib
import http.client
import http.server
import io
import json
import os
import pathlib
import random
import re
import select
import shlex
import shutil
import signal
import socket
import ssl
import stat
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import termios
import threading
import time
import tracemalloc
import urllib.error
import urllib.parse
import urllib.request

import pytest

import pydocker

# =========================================================================
# Fixtures: real engine and registries
# =========================================================================

ENGINE_START_TIMEOUT = 60
ENGINE_STOP_TIMEOUT = 30
REGISTRY_START_TIMEOUT = 30
DOCKER_CLI_TIMEOUT = 300
LOG_TAIL_LINES = 40

BUSYBOX_IMAGE = "busybox:latest"
TEST_REPOSITORY = "pytest/multi"
TEST_TAG = "v1"
REGISTRY_USERNAME = "pyuser"
# A colon and URL-special characters: a Basic auth header or a config.json
# "auth" value split on the first colon, or a password put into a URL
# unquoted, breaks with this one.
REGISTRY_PASSWORD = "s3cr:et/+pw"


def _log_tail(path, lines=LOG_TAIL_LINES):
    """Return the last lines of a log file, or a note that it is missing."""
    try:
        with open(path, "rb") as log:
            text = log.read().decode("utf-8", "replace")
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _free_port():
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_service(argv, log_path, env=None):
    """Start a background service writing its output to log_path."""
    with open(log_path, "wb") as log:
        # A new session keeps Ctrl-C on pytest away from the service, so it
        # is still there when the fixture teardown wants to clean up.
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


def _stop_process(process, timeout):
    """Send SIGTERM, wait up to timeout seconds, then SIGKILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until(ready, process, timeout):
    """Poll ready() until it is true; False on timeout or process exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if ready():
            return True
        time.sleep(0.2)
    return False


def _kill_processes(match):
    """SIGKILL every process for which match(pid) is true."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if match(entry):
                os.kill(int(entry), signal.SIGKILL)
        except OSError:  # gone meanwhile, or a kernel thread
            continue


def _read_proc(pid, name):
    """Return the bytes of /proc/PID/NAME."""
    with open(f"/proc/{pid}/{name}", "rb") as proc_file:
        return proc_file.read()


def _kill_leftovers(directory, container_ids):
    """SIGKILL whatever a dead dockerd left running.

    containerd and containerd-shim are re-parented away from dockerd, so
    after a SIGKILL of dockerd they linger; the temporary path in their
    command line identifies exactly the ones this session started.  The
    container processes themselves survive their shim; their cgroup path
    names the container ID whatever the cgroup layout.
    """
    needle = os.fsencode(directory)
    ids = [os.fsencode(container_id) for container_id in container_ids]
    if ids:
        _kill_processes(lambda pid: any(
            container_id in _read_proc(pid, "cgroup") for container_id in ids
        ))
    _kill_processes(lambda pid: needle in _read_proc(pid, "cmdline"))


def _mounts_under(directory):
    """Return mount points at or below directory, deepest first."""
    prefix = directory.rstrip("/") + "/"
    found = []
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            # /proc/mounts escapes blanks and backslashes as octal (\040).
            point = re.sub(r"\\([0-7]{3})",
                           lambda code: chr(int(code[1], 8)),
                           line.split()[1])
            if point == directory or point.startswith(prefix):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _unmount_under(directory):
    """Lazily unmount whatever is still mounted below directory."""
    for point in _mounts_under(directory):
        subprocess.run(
            ["umount", "--lazy", point],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )


def _unix_http_get(socket_path, path, timeout=2.0):
    """Send GET path over a unix socket; return (status, body) or None."""
    request = f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode()
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(timeout)
            client.connect(socket_path)
            client.sendall(request)
            response = b""
            while chunk := client.recv(65536):
                response += chunk
    except OSError:
        return None
    head, _, body = response.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        return None
    return int(status_line[1]), body


def _http_status(url, timeout=2.0):
    """Return the HTTP status of GET url, or None if nothing answers."""
    # No proxy: a proxy from the environment must never see the loopback
    # registries (or their credentials).
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


class Engine:
    """A private dockerd in a temporary folder, driven by the docker CLI.

    Args:
        directory: an empty folder for everything the engine writes.
        extra_args: more dockerd arguments (a TLS listener, say).

    Attributes:
        dir: the temporary folder holding everything the engine writes.
        socket: path of the API socket.
        host: the socket as a DOCKER_HOST value (unix://...).
        env: environment for a docker client aimed at this engine, with
            its own DOCKER_CONFIG folder (config_dir).
    """

    def __init__(self, directory, extra_args=()):
        self.dir = directory
        # More dockerd arguments: listeners, TLS files, download attempts.
        self.extra_args = list(extra_args)
        self.socket = os.path.join(directory, "docker.sock")
        self.host = "unix://" + self.socket
        self.log = os.path.join(directory, "dockerd.log")
        self.config_dir = os.path.join(directory, "config")
        self.process = None
        self.cli = shutil.which("docker")
        self.env = dict(os.environ)
        for name in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
                     "DOCKER_CERT_PATH", "DOCKER_API_VERSION"):
            self.env.pop(name, None)
        self.env.update(
            DOCKER_HOST=self.host,
            DOCKER_CONFIG=self.config_dir,
            # No buildx plugin is installed: the classic builder is the
            # only one that works offline with the docker 28 CLI.
            DOCKER_BUILDKIT="0",
            DOCKER_CLI_HINTS="false",
        )

    def start(self):
        """Start dockerd and wait until /_ping answers."""
        dockerd = shutil.which("dockerd")
        if dockerd is None or self.cli is None:
            pytest.fail(
                "the engine tests need dockerd and the docker CLI on PATH "
                f"(dockerd: {dockerd}, docker: {self.cli})",
                pytrace=False,
            )
        os.makedirs(self.config_dir)
        daemon_json = os.path.join(self.dir, "daemon.json")
        with open(daemon_json, "w", encoding="utf-8") as config:
            # An explicit config file keeps /etc/docker/daemon.json out;
            # the trust key would otherwise be written to /etc/docker.
            json.dump({"deprecated-key-path":
                       os.path.join(self.dir, "key.json")}, config)
        self.process = _start_service([
            dockerd,
            "--host", self.host,
            "--data-root", os.path.join(self.dir, "data"),
            "--exec-root", os.path.join(self.dir, "exec"),
            "--pidfile", os.path.join(self.dir, "pid"),
            "--iptables=false", "--ip6tables=false",
            "--bridge=none", "--storage-driver=vfs",
            "--config-file", daemon_json,
            *self.extra_args,
        ], self.log)
        if not _wait_until(self.ping, self.process, ENGINE_START_TIMEOUT):
            if self.process.poll() is None:
                state = f"no answer within {ENGINE_START_TIMEOUT}s"
            else:
                state = f"exited with status {self.process.returncode}"
            pytest.fail(
                f"dockerd did not start: {state}\n"
                f"--- {self.log} ---\n{_log_tail(self.log)}",
                pytrace=False,
            )

    def ping(self):
        """Return True when the engine answers GET /_ping with OK."""
        return _unix_http_get(self.socket, "/_ping") == (200, b"OK")

    def docker(self, *args, input=None, check=True,
               timeout=DOCKER_CLI_TIMEOUT):
        """Run the reference docker CLI against this engine.

        Returns:
            subprocess.CompletedProcess with stdout and stderr as bytes.

        Raises:
            AssertionError: check is true and the command failed.
        """
        result = subprocess.run(
            [self.cli, *args],
            input=input,
            capture_output=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}: "
                + result.stderr.decode("utf-8", "replace").strip()
            )
        return result

    def remove_all_containers(self):
        """Force-remove every container with its anonymous volumes."""
        listing = self.docker("ps", "--all", "--quiet", check=False,
                              timeout=ENGINE_STOP_TIMEOUT)
        ids = listing.stdout.decode().split()
        if ids:
            self.docker("rm", "--force", "--volumes", *ids, check=False,
                        timeout=ENGINE_STOP_TIMEOUT)

    def container_ids(self):
        """Return the IDs of all containers in the data root."""
        try:
            return os.listdir(os.path.join(self.dir, "data", "containers"))
        except OSError:
            return []

    def stop(self):
        """Stop dockerd and remove every trace of it."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.remove_all_containers()
        finally:
            if self.process is not None:
                _stop_process(self.process, ENGINE_STOP_TIMEOUT)
            _kill_leftovers(self.dir, self.container_ids())
            # dockerd bind-mounts its data root onto itself and unmounts it
            # on a clean exit only; after a SIGKILL it stays mounted.
            _unmount_under(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)


class Registry:
    """A private docker-registry (distribution v2) on a loopback port.

    Attributes:
        address: host and port, as used in image references.
        url: the base URL (plain HTTP).
        username, password: the basic auth account, or None for none.
    """

    def __init__(self, directory, username=None, password=None):
        self.dir = directory
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self.username = username
        self.password = password
        self.log = os.path.join(directory, "registry.log")
        self.process = None

    def start(self):
        """Write the configuration, start the registry, wait for /v2/."""
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if binary is None:
            pytest.fail("the registry tests need docker-registry on PATH",
                        pytrace=False)
        config_path = os.path.join(self.dir, "config.yml")
        with open(config_path, "w", encoding="utf-8") as config:
            config.write(self._config())
        self.process = _start_service([binary, "serve", config_path],
                                      self.log)
        if not _wait_until(self.ping, self.process, REGISTRY_START_TIMEOUT):
            pytest.fail(
                f"docker-registry on {self.address} did not start\n"
                f"--- {self.log} ---\n{_log_tail(self.log)}",
                pytrace=False,
            )

    def ping(self):
        """Return True when /v2/ answers (401 without credentials is up)."""
        return _http_status(self.url + "/v2/") in (200, 401)

    def _config(self):
        """Return the registry configuration as YAML text."""
        # JSON strings are valid YAML scalars: paths need no escaping.
        storage = json.dumps(os.path.join(self.dir, "storage"))
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {self.address}",
        ]
        if self.username is not None:
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: pydocker-test",
                f"    path: {json.dumps(self._write_htpasswd())}",
            ]
        return "\n".join(lines) + "\n"

    def _write_htpasswd(self):
        """Write a bcrypt htpasswd file (the only hash distribution reads)."""
        htpasswd = shutil.which("htpasswd")
        if htpasswd is None:
            pytest.fail("the auth registry needs htpasswd "
                        "(apache2-utils) on PATH", pytrace=False)
        path = os.path.join(self.dir, "htpasswd")
        # -i reads the password from stdin: it never shows up in ps.
        subprocess.run(
            [htpasswd, "-B", "-c", "-i", path, self.username],
            input=self.password.encode(),
            capture_output=True,
            check=True,
        )
        return path

    def stop(self):
        """Stop the registry and remove its folder."""
        if self.process is not None:
            _stop_process(self.process, 10)
        shutil.rmtree(self.dir, ignore_errors=True)


class PushedImage:
    """Names and facts about the image pushed to both registries.

    Attributes:
        name_plain, name_auth: the full references in each registry.
        base: the image it was built from, which stays in the engine.
        layers: how many layers it has (busybox plus three).
        digest: the manifest digest, the same in both registries.
    """

    def __init__(self, name_plain, name_auth, base, layers, digest):
        self.name_plain = name_plain
        self.name_auth = name_auth
        self.base = base
        self.layers = layers
        self.digest = digest


@pytest.fixture(scope="session")
def engine():
    """Yield a private dockerd; remove it and all it made afterwards."""
    service = Engine(tempfile.mkdtemp(prefix="pydocker-engine-"))
    try:
        service.start()
        yield service
    finally:
        service.stop()


def _registry_fixture(**credentials):
    """Yield a started Registry; stop and remove it afterwards."""
    service = Registry(tempfile.mkdtemp(prefix="pydocker-registry-"),
                       **credentials)
    try:
        service.start()
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def registry():
    """Yield a private registry without authentication."""
    yield from _registry_fixture()


@pytest.fixture(scope="session")
def auth_registry():
    """Yield a private registry with htpasswd basic authentication."""
    yield from _registry_fixture(username=REGISTRY_USERNAME,
                                 password=REGISTRY_PASSWORD)


def _tar_bytes(add_members):
    """Return an uncompressed tar built by add_members(tarfile)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        add_members(archive)
    return buffer.getvalue()


def _add_file(archive, name, data, mode=0o644):
    """Add a regular file owned by root to archive."""
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = mode
    member.mtime = int(time.time())
    archive.addfile(member, io.BytesIO(data))


def _busybox_rootfs():
    """Return a root filesystem tar: static busybox and its applets."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.fail("the engine tests need busybox (busybox-static) on PATH",
                    pytrace=False)
    with open(busybox, "rb") as binary:
        program = binary.read()
    applets = subprocess.run([busybox, "--list-full"], capture_output=True,
                             check=True).stdout.decode().split()

    def add_members(archive):
        for folder in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root"):
            member = tarfile.TarInfo(folder)
            member.type = tarfile.DIRTYPE
            member.mode = 0o755
            archive.addfile(member)
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        archive.addfile(tmp)
        _add_file(archive, "bin/busybox", program, mode=0o755)
        for applet in applets:
            if applet == "bin/busybox":
                continue
            link = tarfile.TarInfo(applet)
            link.type, link.linkname = tarfile.SYMTYPE, "/bin/busybox"
            archive.addfile(link)
        _add_file(archive, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                  b"nobody:x:65534:65534:nobody:/:/bin/false\n")
        _add_file(archive, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")

    return _tar_bytes(add_members)


@pytest.fixture(scope="session")
def busybox_image(engine):
    """Import busybox as busybox:latest and check a container runs."""
    engine.docker("import", "--change", 'CMD ["sh"]', "-", BUSYBOX_IMAGE,
                  input=_busybox_rootfs())
    # With --bridge=none there is no default network; the engine falls
    # back to loopback only, but tests should say so with --network none.
    result = engine.docker("run", "--rm", "--network", "none",
                           BUSYBOX_IMAGE, "echo", "hi", check=False)
    if result.stdout != b"hi\n":
        pytest.fail("busybox:latest does not run (is busybox static?): "
                    + result.stderr.decode("utf-8", "replace"),
                    pytrace=False)
    return BUSYBOX_IMAGE


# Each COPY and RUN adds one layer on top of the busybox layer.
TEST_DOCKERFILE = f"""\
FROM {BUSYBOX_IMAGE}
COPY hello.txt /pytest/hello.txt
RUN echo built > /pytest/run.txt
COPY world.txt /pytest/world.txt
LABEL org.pydocker.test=multi
CMD ["cat", "/pytest/hello.txt"]
"""


def _build_context():
    """Return the test image's build context as a tar."""

    def add_members(archive):
        _add_file(archive, "Dockerfile", TEST_DOCKERFILE.encode())
        _add_file(archive, "hello.txt", b"hello from pytest\n")
        _add_file(archive, "world.txt", b"world\n")

    return _tar_bytes(add_members)


def _push(engine, name):
    """Push name with the reference CLI; return the manifest digest."""
    output = engine.docker("push", name).stdout.decode()
    for word in output.split():
        if word.startswith("sha256:"):
            return word
    raise AssertionError(f"no digest in docker push output:\n{output}")


@pytest.fixture(name="test_image", scope="session")
def test_image_fixture(engine, registry, auth_registry, busybox_image):
    """Build a multi-layer image, push it to both registries, remove it.

    Afterwards the engine holds only busybox, so tests can pull the image
    from either registry and see every layer downloaded.
    """
    local = f"{TEST_REPOSITORY}:{TEST_TAG}"
    name_plain = f"{registry.address}/{local}"
    name_auth = f"{auth_registry.address}/{local}"

    # RUN works offline; --network none avoids relying on the fallback.
    engine.docker("build", "--network", "none", "--tag", local, "-",
                  input=_build_context())
    layers = int(engine.docker(
        "image", "inspect", "--format", "{{len .RootFS.Layers}}", local,
    ).stdout)
    engine.docker("tag", local, name_plain)
    engine.docker("tag", local, name_auth)

    # dockerd treats 127.0.0.0/8 as insecure, so plain HTTP just works.
    digest = _push(engine, name_plain)
    engine.docker("login", "--username", auth_registry.username,
                  "--password-stdin", auth_registry.address,
                  input=auth_registry.password.encode())
    try:
        _push(engine, name_auth)
    finally:
        # Tests must be able to see an anonymous pull being refused.
        engine.docker("logout", auth_registry.address)

    engine.docker("rmi", local, name_plain, name_auth)
    return PushedImage(name_plain, name_auth, busybox_image, layers, digest)


PODMAN_START_TIMEOUT = 60
# What podman as root writes whatever its configuration says (a blob
# cache, netavark's state), parents first: removed afterwards unless
# they were there before.
PODMAN_OUTSIDE = ("/var/lib/containers", "/var/lib/containers/cache",
                  "/run/containers", "/run/containers/networks")
# Where /proc/PID/limits names the limits podman gives every container.
PODMAN_LIMITS = {"nofile": "Max open files", "nproc": "Max processes"}


def _process_limits(pid):
    """Return ``{"nofile": hard, "nproc": hard}`` of a running process.

    A value is None when the limit is unlimited.
    """
    limits = {}
    for line in _read_proc(pid, "limits").decode().splitlines():
        for name, label in PODMAN_LIMITS.items():
            if line.startswith(label):
                hard = line[len(label):].split()[1]
                limits[name] = int(hard) if hard.isdigit() else None
    return limits


class Podman:
    """A private ``podman system service`` in a temporary folder.

    Storage, run state, events and configuration all live in the folder;
    environment variables point podman (the service and the ``podman``
    CLI of ``podman()``) at them.

    Args:
        directory: an empty folder for everything podman writes.
        registries: addresses (``127.0.0.1:PORT``) to reach over plain
            HTTP.

    Attributes:
        dir, socket, host: as for Engine.
        env: environment for a client aimed at the service (DOCKER_HOST)
            and for the podman CLI (its configuration files).
    """

    def __init__(self, directory, registries):
        self.dir = directory
        self.registries = list(registries)
        self.socket = os.path.join(directory, "podman.sock")
        self.host = "unix://" + self.socket
        self.log = os.path.join(directory, "podman.log")
        self.storage = os.path.join(directory, "storage")
        self.process = None
        self.cli = shutil.which("podman")
        self.env = dict(os.environ)
        # No DOCKER_CONFIG: the podman CLI would read its config.json.
        for name in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
                     "DOCKER_CERT_PATH", "DOCKER_API_VERSION",
                     "DOCKER_CONFIG", "CONTAINER_HOST",
                     "CONTAINER_CONNECTION"):
            self.env.pop(name, None)
        self.env.update(
            DOCKER_HOST=self.host,
            CONTAINERS_STORAGE_CONF=os.path.join(directory, "storage.conf"),
            CONTAINERS_CONF=os.path.join(directory, "containers.conf"),
            CONTAINERS_REGISTRIES_CONF=os.path.join(directory,
                                                    "registries.conf"),
            XDG_RUNTIME_DIR=os.path.join(directory, "xdg"),
            XDG_CONFIG_HOME=os.path.join(directory, "xdg-config"),
            TMPDIR=os.path.join(directory, "tmp"),
        )

    def start(self):
        """Write the configuration, start the service, wait for /_ping.

        The sandbox refuses raised limits, and podman gives containers
        its default limits (or the configured ones), so the service is
        started again if its own limits turn out lower than configured.
        """
        if self.cli is None:
            pytest.fail("the Podman tests need podman on PATH "
                        "(apt-get install podman)", pytrace=False)
        self.outside = [path for path in PODMAN_OUTSIDE
                        if not os.path.lexists(path)]
        for name in ("xdg", "xdg-config", "tmp"):
            os.makedirs(os.path.join(self.dir, name), mode=0o700)
        self._write_config(_process_limits(os.getpid()))
        self._start_service()
        limits = _process_limits(self.process.pid)
        if limits != self.limits:
            _stop_process(self.process, ENGINE_STOP_TIMEOUT)
            self._write_config(limits)
            self._start_service()

    def _start_service(self):
        self.process = _start_service([
            self.cli, "system", "service", "--time=0", self.host,
        ], self.log, self.env)
        # The process is podman itself from the start: its limits are set
        # before it listens.
        if not _wait_until(self.ping, self.process, PODMAN_START_TIMEOUT):
            pytest.fail(
                "podman system service did not start\n"
                f"--- {self.log} ---\n{_log_tail(self.log)}",
                pytrace=False,
            )

    def _write_config(self, limits):
        """Write storage.conf, containers.conf and registries.conf."""
        self.limits = limits
        quoted = {name: json.dumps(os.path.join(self.dir, name))
                  for name in ("storage", "run", "tmp", "volumes",
                               "networks", "events.log")}
        self._write("storage.conf", [
            "[storage]",
            'driver = "vfs"',
            f"graphroot = {quoted['storage']}",
            f"runroot = {quoted['run']}",
        ])
        ulimits = json.dumps([f"{name}={value}:{value}"
                              for name, value in sorted(limits.items())
                              if value is not None])
        self._write("containers.conf", [
            "[containers]",
            # No CNI or netavark bridge here: containers get loopback only.
            'netns = "none"',
            f"default_ulimits = {ulimits}",
            "[engine]",
            'cgroup_manager = "cgroupfs"',
            'events_logger = "file"',
            f"events_logfile_path = {quoted['events.log']}",
            f"tmp_dir = {quoted['tmp']}",
            f"volume_path = {quoted['volumes']}",
            "[network]",
            f"network_config_dir = {quoted['networks']}",
        ])
        lines = ["unqualified-search-registries = []"]
        for address in self.registries:
            port = address.rpartition(":")[2]
            # Podman's /auth skips TLS only for localhost:PORT.
            for location in (address, f"localhost:{port}"):
                lines += ["[[registry]]", f"location = {json.dumps(location)}",
                          "insecure = true"]
        self._write("registries.conf", lines)

    def _write(self, name, lines):
        with open(os.path.join(self.dir, name), "w",
                  encoding="utf-8") as config:
            config.write("\n".join(lines) + "\n")

    def ping(self):
        """Return True when the service answers GET /_ping with OK."""
        return _unix_http_get(self.socket, "/_ping") == (200, b"OK")

    def podman(self, *args, input=None, check=True):
        """Run the podman CLI on the service's storage.

        Returns:
            subprocess.CompletedProcess with stdout and stderr as bytes.

        Raises:
            AssertionError: check is true and the command failed.
        """
        result = subprocess.run([self.cli, *args], input=input,
                                capture_output=True, env=self.env,
                                timeout=DOCKER_CLI_TIMEOUT, check=False)
        if check and result.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args)} exited {result.returncode}: "
                + result.stderr.decode("utf-8", "replace").strip()
            )
        return result

    def container_ids(self):
        """Return the IDs of all containers in the storage."""
        try:
            return os.listdir(os.path.join(self.storage, "vfs-containers"))
        except OSError:
            return []

    def stop(self):
        """Stop the service and remove every trace of it."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.podman("rm", "--all", "--force", "--time", "0",
                            check=False)
        finally:
            if self.process is not None:
                _stop_process(self.process, ENGINE_STOP_TIMEOUT)
            # conmon outlives the service; its command line names the
            # folder, and the container processes' cgroups their IDs.
            _kill_leftovers(self.dir, self.container_ids())
            _unmount_under(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)
            for path in reversed(self.outside):
                shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def podman(registry, auth_registry):
    """Yield a private Podman service holding busybox:latest."""
    service = Podman(tempfile.mkdtemp(prefix="pydocker-podman-"),
                     [registry.address, auth_registry.address])
    try:
        service.start()
        # Named in full: the podman CLI would file a short name under
        # localhost/, where the Docker API's "busybox" does not look.
        service.podman("import", "--change", 'CMD ["sh"]', "-",
                       "docker.io/library/" + BUSYBOX_IMAGE,
                       input=_busybox_rootfs())
        yield service
    finally:
        service.stop()


class TestInfrastructure:
    """The fixtures themselves: a real engine and real registries."""

    def test_engine_reports_api_version_1_41(self, engine):
        result = engine.docker("version", "--format", "{{json .Server}}")
        server = json.loads(result.stdout)
        assert server["ApiVersion"] == "1.41"

    def test_engine_runs_busybox_without_network(self, engine,
                                                 busybox_image):
        result = engine.docker("run", "--rm", "--network", "none",
                               busybox_image, "echo", "hi")
        assert result.stdout == b"hi\n"

    def test_image_has_several_layers(self, test_image):
        assert test_image.layers >= 3

    def test_image_is_absent_after_fixture(self, engine, test_image):
        for name in (test_image.name_plain, test_image.name_auth):
            result = engine.docker("image", "inspect", name, check=False)
            assert result.returncode == 1
            assert b"No such image" in result.stderr

    def test_base_image_stays_in_engine(self, engine, test_image):
        result = engine.docker("image", "inspect", test_image.base)
        assert json.loads(result.stdout)[0]["RepoTags"] == [BUSYBOX_IMAGE]

    def test_image_pulls_from_plain_registry(self, engine, test_image):
        self._pull_and_remove(engine, test_image.name_plain,
                              test_image.digest)

    def test_image_pulls_from_auth_registry_after_login(
            self, engine, auth_registry, test_image):
        engine.docker("login", "--username", auth_registry.username,
                      "--password-stdin", auth_registry.address,
                      input=auth_registry.password.encode())
        try:
            self._pull_and_remove(engine, test_image.name_auth,
                                  test_image.digest)
        finally:
            engine.docker("logout", auth_registry.address)

    def test_auth_registry_rejects_anonymous_pull(self, engine, test_image):
        result = engine.docker("pull", test_image.name_auth, check=False)
        assert result.returncode == 1
        assert b"no basic auth credentials" in result.stderr

    def test_auth_registry_answers_401_with_basic_challenge(
            self, auth_registry):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open(auth_registry.url + "/v2/", timeout=10)
        assert caught.value.code == 401
        challenge = caught.value.headers["WWW-Authenticate"]
        assert challenge == 'Basic realm="pydocker-test"'

    @staticmethod
    def _pull_and_remove(engine, name, digest):
        result = engine.docker("pull", name)
        assert f"Digest: {digest}".encode() in result.stdout
        output = engine.docker("run", "--rm", "--network", "none", name)
        assert output.stdout == b"hello from pytest\n"
        engine.docker("rmi", name)

# =========================================================================
# Pure parts: flags, hosts, references, auth and config
# =========================================================================

HUB_KEY = "https://index.docker.io/v1/"
HEX64 = "0123456789abcdef" * 4
DIGEST = "sha256:" + HEX64


def b64(text):
    """Encode text as docker's config.json `auth` field does."""
    return base64.b64encode(text.encode()).decode()


def first_line(error):
    """Return the first line of an exception's text."""
    return str(error).splitlines()[0]


# ===========================================================================
# Flag parser
# ===========================================================================


def command_flags(interspersed=True):
    """Build a flag set shaped like a docker command's."""
    fs = pydocker.FlagSet("test", interspersed=interspersed)
    flags = {
        "all": fs.bool(["a", "-all"], False, "Show all"),
        "quiet": fs.bool(["q", "-quiet"], False, "Only IDs"),
        "interactive": fs.bool(["i", "-interactive"], False, "Keep STDIN"),
        "tty": fs.bool(["t", "-tty"], False, "Allocate a TTY"),
        "follow": fs.bool(["f", "-follow"], False, "Follow output"),
        "name": fs.string(["-name"], "", "Assign a name"),
        "env": fs.list(["e", "-env"], "Set variables"),
        "publish": fs.list(["p", "-publish"], "Publish ports"),
        "last": fs.int(["n", "-last"], -1, "Show n last"),
        "sig_proxy": fs.bool(["#sig-proxy", "-sig-proxy"], True, "Proxy"),
    }
    return fs, flags


def global_flags():
    """Build a flag set shaped like the global one (not interspersed)."""
    fs = pydocker.FlagSet("docker", interspersed=False)
    flags = {
        "debug": fs.bool(["D", "-debug"], False, "Debug mode"),
        "version": fs.bool(["v", "-version"], False, "Print version"),
        "host": fs.list(["H", "-host"], "Daemon socket"),
        "log_level": fs.string(["l", "-log-level"], "info", "Log level"),
    }
    return fs, flags


COMMAND_DEFAULTS = {
    "all": False, "quiet": False, "interactive": False, "tty": False,
    "follow": False, "name": "", "env": [], "publish": [], "last": -1,
    "sig_proxy": True,
}

# (args, changed values, remaining args)
VALID_COMMAND_ARGS = [
    ([], {}, []),
    (["-a"], {"all": True}, []),
    (["--all"], {"all": True}, []),
    (["--name=web"], {"name": "web"}, []),
    (["--name", "web"], {"name": "web"}, []),
    (["--name="], {"name": ""}, []),
    (["--name", "-dashed"], {"name": "-dashed"}, []),
    (["-n", "5"], {"last": 5}, []),
    (["-n=5"], {"last": 5}, []),
    (["-n5"], {"last": 5}, []),
    (["--last=7"], {"last": 7}, []),
    (["--name=\"web\""], {"name": "web"}, []),
    (["--name='web'"], {"name": "web"}, []),
    (["-e='A=1'"], {"env": ["A=1"]}, []),
    (["--name=\"web'"], {"name": "\"web'"}, []),
    (["--name", "\"web\""], {"name": "\"web\""}, []),
    (["-a", "false"], {"all": True}, ["false"]),
    (["--all", "0", "x"], {"all": True}, ["0", "x"]),
    (["-e", "A", "-e", "B", "--env=C", "--env", "D"],
     {"env": ["A", "B", "C", "D"]}, []),
    (["-it"], {"interactive": True, "tty": True}, []),
    (["-aq"], {"all": True, "quiet": True}, []),
    (["-p8080:80"], {"publish": ["8080:80"]}, []),
    (["-ip8080:80"], {"interactive": True, "publish": ["8080:80"]}, []),
    (["-ip", "8080:80"], {"interactive": True, "publish": ["8080:80"]}, []),
    (["-p8080:80", "-p", "9090:90"], {"publish": ["8080:80", "9090:90"]},
     []),
    (["-an5"], {"all": True, "last": 5}, []),
    (["-ai=false"], {"all": True, "interactive": False}, []),
    (["logs", "web", "-f"], {"follow": True}, ["logs", "web"]),
    (["c1", "-f", "c2"], {"follow": True}, ["c1", "c2"]),
    (["web", "--", "-f"], {}, ["web", "-f"]),
    (["--", "-a", "--name=x"], {}, ["-a", "--name=x"]),
    (["-", "-f"], {"follow": True}, ["-"]),
    (["--sig-proxy=false"], {"sig_proxy": False}, []),
]

VALID_COMMAND_IDS = [
    "no-args", "short-bool", "long-bool", "long-equals", "long-space",
    "long-equals-empty", "value-starting-with-dash", "short-space",
    "short-equals", "short-glued", "long-int", "double-quotes-stripped",
    "single-quotes-stripped", "list-quotes-stripped",
    "mismatched-quotes-kept", "quotes-in-next-word-kept",
    "bool-does-not-take-false", "bool-does-not-take-0", "list-appends",
    "letters-it", "letters-aq", "value-letter-takes-rest",
    "bool-then-value-letter", "value-letter-takes-next-word",
    "glued-and-separate-list", "bool-then-int-glued",
    "letter-with-equals", "interspersed-after-positional",
    "interspersed-between-positionals", "double-dash-stops",
    "double-dash-first", "lone-dash-positional", "bool-default-true-off",
]

BOOL_VALUES = [
    ("true", True), ("false", False), ("1", True), ("0", False),
    ("t", True), ("f", False), ("T", True), ("F", False),
    ("TRUE", True), ("FALSE", False), ("True", True), ("False", False),
]

INT_VALUES = [
    ("16", 16), ("0x10", 16), ("0X10", 16), ("0o17", 15), ("0b101", 5),
    ("010", 8), ("-3", -3), ("+7", 7), ("0", 0),
]

BAD_INTS = ["abc", "1.5", "", "0x", "12abc", "0xZZ", "five"]

BAD_BOOLS = ["maybe", "yes", "no", "tRuE", "", "2", "on"]

# (args, exact first line of the error)
FLAG_ERRORS = [
    (["--bogus"], "unknown flag: --bogus"),
    (["--bogus=1"], "unknown flag: --bogus"),
    (["web", "--bogus"], "unknown flag: --bogus"),
    (["-z"], "unknown shorthand flag: 'z' in -z"),
    (["-az"], "unknown shorthand flag: 'z' in -z"),
    (["-za"], "unknown shorthand flag: 'z' in -za"),
    (["--name"], "flag needs an argument: --name"),
    (["web", "--last"], "flag needs an argument: --last"),
    (["-n"], "flag needs an argument: 'n' in -n"),
    (["-an"], "flag needs an argument: 'n' in -n"),
    (["-a", "-e"], "flag needs an argument: 'e' in -e"),
]

FLAG_ERROR_IDS = [
    "unknown-long", "unknown-long-with-value", "unknown-after-positional",
    "unknown-short", "unknown-letter-after-known", "unknown-letter-first",
    "missing-long-value", "missing-long-int-value", "missing-short-value",
    "missing-value-in-letters", "missing-list-value",
]

# (args, changed values, remaining args) for the global flag set
VALID_GLOBAL_ARGS = [
    (["ps"], {}, ["ps"]),
    (["-D", "ps", "-a"], {"debug": True}, ["ps", "-a"]),
    (["ps", "-D"], {}, ["ps", "-D"]),
    (["ps", "--bogus"], {}, ["ps", "--bogus"]),
    (["-H", "unix:///x.sock", "ps"], {"host": ["unix:///x.sock"]}, ["ps"]),
    (["-H=tcp://a:1", "--host", "tcp://b:2", "info"],
     {"host": ["tcp://a:1", "tcp://b:2"]}, ["info"]),
    (["-Dv", "ps"], {"debug": True, "version": True}, ["ps"]),
    (["-", "-D"], {}, ["-", "-D"]),
    (["--", "-D", "ps"], {}, ["-D", "ps"]),
    (["-l", "debug", "images"], {"log_level": "debug"}, ["images"]),
    (["--log-level=warn"], {"log_level": "warn"}, []),
]

VALID_GLOBAL_IDS = [
    "command-only", "flag-then-command", "stops-at-command",
    "unknown-after-command-untouched", "host", "host-repeated",
    "letters", "lone-dash-stops", "double-dash-stops", "string-short",
    "string-long",
]


class TestFlagParser:
    @pytest.mark.parametrize("args, changed, rest", VALID_COMMAND_ARGS,
                             ids=VALID_COMMAND_IDS)
    def test_parse_command_flags(self, args, changed, rest):
        fs, flags = command_flags()
        fs.parse(list(args))
        expected = dict(COMMAND_DEFAULTS, **changed)
        assert {key: flag.value for key, flag in flags.items()} == expected
        assert list(fs.args) == rest

    @pytest.mark.parametrize("args, changed, rest", VALID_GLOBAL_ARGS,
                             ids=VALID_GLOBAL_IDS)
    def test_parse_global_flags_stop_at_command(self, args, changed, rest):
        fs, flags = global_flags()
        fs.parse(list(args))
        defaults = {"debug": False, "version": False, "host": [],
                    "log_level": "info"}
        expected = dict(defaults, **changed)
        assert {key: flag.value for key, flag in flags.items()} == expected
        assert list(fs.args) == rest

    @pytest.mark.parametrize("word", ["-a", "--all"], ids=["short", "long"])
    @pytest.mark.parametrize("text, value", BOOL_VALUES,
                             ids=[text for text, _ in BOOL_VALUES])
    def test_bool_values_as_go_parse_bool(self, word, text, value):
        fs, flags = command_flags()
        fs.parse([word + "=" + text, "next"])
        assert flags["all"].value is value
        assert list(fs.args) == ["next"]

    @pytest.mark.parametrize("text", BAD_BOOLS, ids=BAD_BOOLS)
    def test_bool_rejects_other_words(self, text):
        fs, _ = command_flags()
        with pytest.raises(pydocker.FlagError) as caught:
            fs.parse(["--all=" + text])
        expected = f'invalid argument "{text}" for "-a, --all" flag'
        assert str(caught.value).startswith(expected)
        assert caught.value.exit_code == 125

    @pytest.mark.parametrize("text, value", INT_VALUES,
                             ids=[text for text, _ in INT_VALUES])
    def test_int_values_with_go_base_prefixes(self, text, value):
        fs, flags = command_flags()
        fs.parse(["--last", text])
        assert flags["last"].value == value

    @pytest.mark.parametrize("text", BAD_INTS, ids=BAD_INTS)
    def test_int_rejects_non_numbers(self, text):
        fs, _ = command_flags()
        with pytest.raises(pydocker.FlagError) as caught:
            fs.parse(["--last=" + text])
        expected = f'invalid argument "{text}" for "-n, --last" flag:'
        assert str(caught.value).startswith(expected)
        assert caught.value.exit_code == 125

    def test_bad_value_names_a_long_only_flag(self):
        fs = pydocker.FlagSet("test")
        fs.int(["-cpu-shares"], 0, "CPU shares")
        with pytest.raises(pydocker.FlagError) as caught:
            fs.parse(["--cpu-shares", "lots"])
        expected = 'invalid argument "lots" for "--cpu-shares" flag:'
        assert str(caught.value).startswith(expected)

    @pytest.mark.parametrize("args, message", FLAG_ERRORS,
                             ids=FLAG_ERROR_IDS)
    def test_flag_errors(self, args, message):
        fs, _ = command_flags()
        with pytest.raises(pydocker.FlagError) as caught:
            fs.parse(list(args))
        assert first_line(caught.value) == message
        assert caught.value.exit_code == 125
        assert not isinstance(caught.value, pydocker.HelpRequested)

    @pytest.mark.parametrize("args", [["--bogus", "ps"], ["-z", "ps"]],
                             ids=["long", "short"])
    def test_global_unknown_flag_before_command_fails(self, args):
        fs, _ = global_flags()
        with pytest.raises(pydocker.FlagError) as caught:
            fs.parse(list(args))
        assert first_line(caught.value).startswith("unknown ")

    @pytest.mark.parametrize("args", [
        ["-h"], ["--help"], ["-help"], ["web", "--help"], ["-a", "-h"],
    ], ids=["h", "dash-dash-help", "single-dash-help", "after-positional",
            "after-flag"])
    def test_help_raises_help_requested(self, args):
        fs, _ = command_flags()
        with pytest.raises(pydocker.HelpRequested) as caught:
            fs.parse(list(args))
        assert isinstance(caught.value, pydocker.FlagError)
        assert isinstance(caught.value, pydocker.DockerError)

    def test_command_defining_h_keeps_it(self):
        fs = pydocker.FlagSet("run")
        hostname = fs.string(["h", "-hostname"], "", "Container host name")
        fs.parse(["-h", "box", "busybox"])
        assert hostname.value == "box"
        assert list(fs.args) == ["busybox"]
        other = pydocker.FlagSet("run")
        other.string(["h", "-hostname"], "", "Container host name")
        with pytest.raises(pydocker.HelpRequested):
            other.parse(["--help"])

    def test_several_names_set_one_flag(self):
        fs = pydocker.FlagSet("test")
        env = fs.list(["e", "-env"], "Set variables")
        fs.parse(["-e", "A=1", "--env", "B=2", "-e=C=3", "--env=D=4"])
        assert env.value == ["A=1", "B=2", "C=3", "D=4"]

    def test_names_are_case_sensitive(self):
        fs, flags = global_flags()
        fs.parse(["-D"])
        assert flags["debug"].value is True
        assert flags["version"].value is False
        with pytest.raises(pydocker.FlagError):
            global_flags()[0].parse(["-d"])

    @pytest.mark.parametrize("args, value", [
        (["-t", "v1"], "v1"), (["-t=v1"], "v1"), (["--tag", "v1"], "v1"),
    ], ids=["short", "short-equals", "long"])
    def test_deprecated_name_works_and_warns(self, args, value):
        fs = pydocker.FlagSet("pull")
        tag = fs.string(["#t", "#-tag"], "", "Download tagged image")
        fs.parse(list(args) + ["busybox"])
        assert tag.value == value
        assert list(fs.args) == ["busybox"]
        assert len(fs.warnings) == 1
        word = args[0].split("=")[0]
        assert f"'{word}' is deprecated" in fs.warnings[0]

    def test_deprecated_warning_text(self):
        fs = pydocker.FlagSet("pull")
        fs.string(["#t", "#-tag"], "", "Download tagged image")
        fs.parse(["-t", "v1", "busybox"])
        assert fs.warnings == [
            "Warning: '-t' is deprecated, it will be removed soon. "
            "See usage."
        ]

    def test_deprecated_single_dash_long_name(self):
        fs, flags = command_flags()
        fs.parse(["-sig-proxy=false"])
        assert flags["sig_proxy"].value is False
        assert len(fs.warnings) == 1
        assert "'-sig-proxy' is deprecated" in fs.warnings[0]

    def test_current_names_do_not_warn(self):
        fs, _ = command_flags()
        fs.parse(["--sig-proxy=false", "-a", "--name=x"])
        assert fs.warnings == []

    def test_deprecated_names_hidden_from_usage(self):
        fs, _ = command_flags()
        fs.string(["#T", "#-old-tag"], "", "Long gone option")
        text = fs.usage()
        assert "--sig-proxy" in text
        assert re.search(r"(^|[\s,])-sig-proxy", text, re.M) is None
        assert "Long gone option" not in text
        assert "old-tag" not in text

    def test_usage_sorted_with_names_joined(self):
        fs = pydocker.FlagSet("test")
        fs.string(["-zulu"], "zdefault", "Zulu help")
        fs.bool(["q", "-quiet"], False, "Quiet help")
        fs.int(["-mike"], 3, "Mike help")
        fs.bool(["a", "-all"], False, "All help")
        fs.list(["-bravo"], "Bravo help")
        lines = fs.usage().splitlines()
        order = []
        for names, help_text in [("-a, --all", "All help"),
                                 ("--bravo", "Bravo help"),
                                 ("--mike", "Mike help"),
                                 ("-q, --quiet", "Quiet help"),
                                 ("--zulu", "Zulu help")]:
            found = [i for i, line in enumerate(lines) if names in line]
            assert found, names
            assert help_text in lines[found[0]]
            order.append(found[0])
        assert order == sorted(order)
        assert "zdefault" in lines[order[-1]]


# ===========================================================================
# Hosts
# ===========================================================================

VALID_HOSTS = [
    ("", False, "unix:///var/run/docker.sock"),
    ("   ", False, "unix:///var/run/docker.sock"),
    ("", True, "tcp://localhost:2376"),
    (" ", True, "tcp://localhost:2376"),
    ("unix://", False, "unix:///var/run/docker.sock"),
    ("unix:///var/run/docker.sock", False, "unix:///var/run/docker.sock"),
    ("unix:///tmp/d.sock", False, "unix:///tmp/d.sock"),
    ("unix:///tmp/d.sock", True, "unix:///tmp/d.sock"),
    ("/tmp/d.sock", False, "unix:///tmp/d.sock"),
    ("/run/user/1000/docker.sock", False,
     "unix:///run/user/1000/docker.sock"),
    ("tcp://10.0.0.1:2375", False, "tcp://10.0.0.1:2375"),
    ("tcp://10.0.0.1", False, "tcp://10.0.0.1:2375"),
    ("tcp://example.com", True, "tcp://example.com:2375"),
    ("tcp://", False, "tcp://localhost:2375"),
    ("tcp://example.com:1", False, "tcp://example.com:1"),
    ("tcp://example.com:65535", False, "tcp://example.com:65535"),
    ("10.0.0.1:4243", False, "tcp://10.0.0.1:4243"),
    ("example.com:2376", True, "tcp://example.com:2376"),
    ("example.com", False, "tcp://example.com:2375"),
    (":2375", False, "tcp://localhost:2375"),
    ("tcp://[::1]:2375", False, "tcp://[::1]:2375"),
    ("tcp://[::1]", False, "tcp://[::1]:2375"),
    ("[fe80::1]:2376", False, "tcp://[fe80::1]:2376"),
    ("tcp://example.com:2375/base", False, "tcp://example.com:2375/base"),
    ("tcp://example.com/base/api", False,
     "tcp://example.com:2375/base/api"),
    ("ssh://example.com", False, "ssh://example.com"),
    ("ssh://me@example.com", False, "ssh://me@example.com"),
    ("ssh://me@example.com:2222/var/run/docker.sock", False,
     "ssh://me@example.com:2222/var/run/docker.sock"),
    ("fd://", False, "fd://"),
    ("fd://3", False, "fd://3"),
]

VALID_HOST_IDS = [
    "empty", "blank", "empty-tls", "blank-tls", "unix-scheme-only",
    "unix-default", "unix-path", "unix-path-tls-ignored", "bare-path",
    "bare-path-deep", "tcp-full", "tcp-no-port", "tcp-no-port-tls",
    "tcp-scheme-only", "tcp-port-1", "tcp-port-65535",
    "host-port-no-scheme", "host-port-no-scheme-tls", "host-no-scheme",
    "port-only", "ipv6-bracketed", "ipv6-no-port", "ipv6-no-scheme",
    "path-kept", "path-kept-port-added", "ssh-host", "ssh-user",
    "ssh-full", "fd-any", "fd-number",
]

BAD_HOSTS = [
    ("http://example.com:2375",
     "invalid bind address format: http://example.com:2375"),
    ("https://example.com",
     "invalid bind address format: https://example.com"),
    ("udp://example.com:1",
     "invalid bind address format: udp://example.com:1"),
    ("tcp://example.com:abc", ""),
    ("example.com:abc", ""),
    ("tcp://example.com:0", ""),
    ("tcp://example.com:65536", ""),
    ("tcp://example.com:-1", ""),
    ("tcp://example.com:99999999", ""),
    ("tcp://::1", ""),
]

BAD_HOST_IDS = [
    "http-scheme", "https-scheme", "udp-scheme", "tcp-port-letters",
    "no-scheme-port-letters", "port-zero", "port-too-big",
    "port-negative", "port-huge", "ipv6-without-brackets",
]


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Answer every request like a small engine and record its path."""

    protocol_version = "HTTP/1.1"

    def _answer(self, body):
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.rstrip("/").endswith("_ping"):
            body = self._answer(b"OK")
        else:
            body = self._answer(json.dumps({
                "ApiVersion": "1.41", "Version": "20.10.0",
                "MinAPIVersion": "1.12",
            }).encode())
        self.wfile.write(body)

    def do_HEAD(self):  # noqa: N802 (http.server's naming)
        self._answer(b"OK")

    def log_message(self, *args):
        pass


@pytest.fixture
def recording_server():
    """Serve on a free local port; yield (port, list of request paths)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), _RecordingHandler)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.paths
    finally:
        server.shutdown()
        server.server_close()


class TestHosts:
    @pytest.mark.parametrize("addr, tls, expected", VALID_HOSTS,
                             ids=VALID_HOST_IDS)
    def test_parse_host(self, addr, tls, expected):
        assert pydocker.parse_host(addr, tls=tls) == expected

    def test_parse_host_tls_defaults_to_false(self):
        assert pydocker.parse_host("") == "unix:///var/run/docker.sock"

    @pytest.mark.parametrize("addr, message", BAD_HOSTS, ids=BAD_HOST_IDS)
    def test_parse_host_rejects(self, addr, message):
        with pytest.raises(pydocker.ConfigError) as caught:
            pydocker.parse_host(addr)
        assert message in str(caught.value)
        assert isinstance(caught.value, pydocker.DockerError)

    @pytest.mark.parametrize("addr, expected", [
        ("tcp://example.com:2375/", "tcp://example.com:2375"),
        ("tcp://example.com:2375/base/", "tcp://example.com:2375/base"),
        ("tcp://example.com/base//", "tcp://example.com:2375/base"),
    ], ids=["root", "base", "double"])
    def test_parse_host_trailing_slashes(self, addr, expected):
        assert pydocker.parse_host(addr).rstrip("/") == expected

    @pytest.mark.parametrize("suffix, prefix", [
        ("", ""), ("/", ""), ("//", ""), ("/base", "/base"),
        ("/base/", "/base"), ("/base//", "/base"),
    ], ids=["none", "slash", "two-slashes", "base", "base-slash",
            "base-two-slashes"])
    def test_request_paths_never_contain_double_slash(
            self, recording_server, suffix, prefix):
        port, paths = recording_server
        host = f"tcp://127.0.0.1:{port}{suffix}"
        with pydocker.Client(host=host, version="1.41") as client:
            answer = client.version()
        assert answer["ApiVersion"] == "1.41"
        assert prefix + "/v1.41/version" in paths
        for path in paths:
            assert "//" not in path
            assert path.startswith(prefix + "/")

    def test_more_than_one_host_flag(self, capfd, tmp_path, monkeypatch):
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
        monkeypatch.delenv("DOCKER_HOST", raising=False)
        code = pydocker.main(["-H", "unix:///tmp/a.sock",
                              "-H", "unix:///tmp/b.sock", "ps"])
        out, err = capfd.readouterr()
        assert code == 1
        assert "Please specify only one -H" in err


# ===========================================================================
# References
# ===========================================================================

# text -> (domain, path, tag, digest, str(), familiar())
VALID_REFERENCES = [
    ("busybox", ("docker.io", "library/busybox", None, None,
                 "docker.io/library/busybox", "busybox")),
    ("busybox:latest", ("docker.io", "library/busybox", "latest", None,
                        "docker.io/library/busybox:latest",
                        "busybox:latest")),
    ("library/busybox", ("docker.io", "library/busybox", None, None,
                         "docker.io/library/busybox", "busybox")),
    ("docker.io/library/busybox", ("docker.io", "library/busybox", None,
                                   None, "docker.io/library/busybox",
                                   "busybox")),
    ("docker.io/busybox:1.36", ("docker.io", "library/busybox", "1.36",
                                None, "docker.io/library/busybox:1.36",
                                "busybox:1.36")),
    ("index.docker.io/library/busybox", ("docker.io", "library/busybox",
                                         None, None,
                                         "docker.io/library/busybox",
                                         "busybox")),
    ("user/repo:1.0", ("docker.io", "user/repo", "1.0", None,
                       "docker.io/user/repo:1.0", "user/repo:1.0")),
    ("docker.io/user/repo", ("docker.io", "user/repo", None, None,
                             "docker.io/user/repo", "user/repo")),
    ("localhost/foo", ("localhost", "foo", None, None, "localhost/foo",
                       "localhost/foo")),
    ("localhost:5000/foo/bar:v1", ("localhost:5000", "foo/bar", "v1", None,
                                   "localhost:5000/foo/bar:v1",
                                   "localhost:5000/foo/bar:v1")),
    ("127.0.0.1:5000/app", ("127.0.0.1:5000", "app", None, None,
                            "127.0.0.1:5000/app", "127.0.0.1:5000/app")),
    ("registry.example.com/team/app", ("registry.example.com", "team/app",
                                       None, None,
                                       "registry.example.com/team/app",
                                       "registry.example.com/team/app")),
    ("example.com:443/app:TAG", ("example.com:443", "app", "TAG", None,
                                 "example.com:443/app:TAG",
                                 "example.com:443/app:TAG")),
    ("myhost:5000", ("docker.io", "library/myhost", "5000", None,
                     "docker.io/library/myhost:5000", "myhost:5000")),
    ("ghcr.io/o/r@" + DIGEST, ("ghcr.io", "o/r", None, DIGEST,
                               "ghcr.io/o/r@" + DIGEST,
                               "ghcr.io/o/r@" + DIGEST)),
    ("busybox@" + DIGEST, ("docker.io", "library/busybox", None, DIGEST,
                           "docker.io/library/busybox@" + DIGEST,
                           "busybox@" + DIGEST)),
    ("busybox:1.36@" + DIGEST, ("docker.io", "library/busybox", "1.36",
                                DIGEST,
                                "docker.io/library/busybox:1.36@" + DIGEST,
                                "busybox:1.36@" + DIGEST)),
    ("foo_bar/a__b--c.d", ("docker.io", "foo_bar/a__b--c.d", None, None,
                           "docker.io/foo_bar/a__b--c.d",
                           "foo_bar/a__b--c.d")),
    ("a-b.c_d", ("docker.io", "library/a-b.c_d", None, None,
                 "docker.io/library/a-b.c_d", "a-b.c_d")),
    ("busybox:" + "t" * 128, ("docker.io", "library/busybox", "t" * 128,
                              None,
                              "docker.io/library/busybox:" + "t" * 128,
                              "busybox:" + "t" * 128)),
    ("busybox:_v1.0-rc", ("docker.io", "library/busybox", "_v1.0-rc", None,
                          "docker.io/library/busybox:_v1.0-rc",
                          "busybox:_v1.0-rc")),
]

VALID_REFERENCE_IDS = [
    "official", "official-tag", "library-prefix", "docker-io-full",
    "docker-io-adds-library", "index-docker-io", "user-repo",
    "docker-io-user-repo", "localhost", "localhost-port", "ip-port",
    "dotted-domain", "domain-port-upper-tag", "name-with-port-like-tag",
    "digest-other-registry", "digest-hub", "tag-and-digest",
    "separators", "dot-without-slash-is-no-domain", "tag-128",
    "tag-underscore-start",
]

# (text, expected substring); "" means only that it raises
BAD_REFERENCES = [
    ("Foo/bar",
     "invalid reference format: repository name (Foo/bar) "
     "must be lowercase"),
    ("foo/Bar",
     "invalid reference format: repository name (foo/Bar) "
     "must be lowercase"),
    ("FOO",
     "invalid reference format: repository name (library/FOO) "
     "must be lowercase"),
    ("localhost:5000/Foo",
     "invalid reference format: repository name (Foo) must be lowercase"),
    ("", "invalid reference format"),
    ("foo bar", "invalid reference format"),
    ("foo:", "invalid reference format"),
    (":tag", "invalid reference format"),
    ("foo/", "invalid reference format"),
    ("/foo", "invalid reference format"),
    ("foo//bar", "invalid reference format"),
    ("foo..bar", "invalid reference format"),
    ("foo___bar", "invalid reference format"),
    ("-foo", "invalid reference format"),
    ("foo-", "invalid reference format"),
    ("foo!bar", "invalid reference format"),
    ("a:b:c", "invalid reference format"),
    ("localhost:abc/foo", "invalid reference format"),
    ("foo:-bad", "invalid reference format"),
    ("foo:.bad", "invalid reference format"),
    ("foo:" + "t" * 129, "invalid reference format"),
    ("foo@", "invalid reference format"),
    ("foo@sha256:abc", "invalid reference format"),
    ("foo@sha256:" + "A" * 64, "digest"),
    ("foo@sha256:" + "a" * 63, "digest"),
    ("foo@md5:" + "a" * 32, "digest"),
]

BAD_REFERENCE_IDS = [
    "uppercase-first-component", "uppercase-second-component",
    "uppercase-official", "uppercase-after-domain", "empty", "space",
    "empty-tag", "empty-name", "trailing-slash", "leading-slash",
    "double-slash", "double-dot", "triple-underscore", "leading-dash",
    "trailing-dash", "bang", "two-colons", "bad-port", "tag-leading-dash",
    "tag-leading-dot", "tag-129", "empty-digest", "short-digest",
    "uppercase-digest", "digest-63", "unknown-algorithm",
]

SPLITS = [
    ("busybox", ("busybox", "")),
    ("busybox:latest", ("busybox", "latest")),
    ("library/busybox:1.36", ("library/busybox", "1.36")),
    ("localhost:5000/foo", ("localhost:5000/foo", "")),
    ("localhost:5000/foo:v1", ("localhost:5000/foo", "v1")),
    ("localhost:5000", ("localhost", "5000")),
    ("a/b:c/d", ("a/b:c/d", "")),
    ("foo@" + DIGEST, ("foo", DIGEST)),
    ("localhost:5000/foo@" + DIGEST, ("localhost:5000/foo", DIGEST)),
    ("foo:1@" + DIGEST, ("foo:1", DIGEST)),
]

SPLIT_IDS = [
    "no-tag", "tag", "path-tag", "port-no-tag", "port-and-tag",
    "port-only", "colon-before-slash", "digest", "port-and-digest",
    "tag-and-digest",
]


class TestReferences:
    @pytest.mark.parametrize("text, expected", VALID_REFERENCES,
                             ids=VALID_REFERENCE_IDS)
    def test_parse_reference(self, text, expected):
        domain, path, tag, digest, full, short = expected
        ref = pydocker.parse_reference(text)
        assert ref.domain == domain
        assert ref.path == path
        assert ref.tag == tag
        assert ref.digest == digest
        assert ref.name == domain + "/" + path
        assert str(ref) == full
        assert ref.familiar() == short

    @pytest.mark.parametrize("text, message", BAD_REFERENCES,
                             ids=BAD_REFERENCE_IDS)
    def test_parse_reference_rejects(self, text, message):
        with pytest.raises(pydocker.InvalidReference) as caught:
            pydocker.parse_reference(text)
        assert message in str(caught.value)
        assert isinstance(caught.value, pydocker.DockerError)

    def test_uppercase_path_message_is_exact(self):
        with pytest.raises(pydocker.InvalidReference) as caught:
            pydocker.parse_reference("Foo/bar")
        assert str(caught.value) == (
            "invalid reference format: repository name (Foo/bar) "
            "must be lowercase")

    def test_str_round_trips(self):
        for text, _ in VALID_REFERENCES:
            ref = pydocker.parse_reference(text)
            again = pydocker.parse_reference(str(ref))
            assert str(again) == str(ref)
            assert pydocker.parse_reference(ref.familiar()).name == ref.name

    @pytest.mark.parametrize("name, expected", SPLITS, ids=SPLIT_IDS)
    def test_split_repository_tag(self, name, expected):
        assert tuple(pydocker.split_repository_tag(name)) == expected


# ===========================================================================
# Registry auth and config.json
# ===========================================================================

# Registry addresses, written as a user would give them to login.
REGISTRY_KEYS = [
    ("docker.io", HUB_KEY),
    ("index.docker.io", HUB_KEY),
    (HUB_KEY, HUB_KEY),
    ("https://index.docker.io/v1", HUB_KEY),
    ("localhost", "localhost"),
    ("localhost:5000", "localhost:5000"),
    ("registry.example.com", "registry.example.com"),
    ("registry.example.com:443", "registry.example.com:443"),
    ("https://registry.example.com/v2/", "registry.example.com"),
    ("registry.example.com/team/app", "registry.example.com"),
]

REGISTRY_KEY_IDS = [
    "docker-io", "index-docker-io", "hub-key-itself", "hub-key-no-slash",
    "localhost", "localhost-port", "host", "host-port",
    "url-with-scheme-and-path", "host-with-path",
]

# References, parsed first (a bare "busybox" string could be a host).
REFERENCE_KEYS = [
    ("busybox", HUB_KEY),
    ("busybox:latest", HUB_KEY),
    ("myuser/myrepo", HUB_KEY),
    ("docker.io/library/busybox:latest", HUB_KEY),
    ("index.docker.io/user/repo", HUB_KEY),
    ("localhost/foo", "localhost"),
    ("localhost:5000/foo:v1", "localhost:5000"),
    ("registry.example.com/team/app", "registry.example.com"),
    ("ghcr.io/owner/img@" + DIGEST, "ghcr.io"),
]

REFERENCE_KEY_IDS = [
    "official", "official-tag", "user-repo", "docker-io-reference",
    "index-reference", "localhost", "localhost-port", "host",
    "digest",
]

# (stored key, asked registry, matches)
KEY_MATCHES = [
    ("https://registry.example.com/v1/", "registry.example.com", True),
    ("http://registry.example.com", "registry.example.com", True),
    ("registry.example.com/v2/", "registry.example.com", True),
    ("https://localhost:5000/", "localhost:5000", True),
    ("registry.example.com", "registry.example.com", True),
    (HUB_KEY, "docker.io", True),
    (HUB_KEY, "index.docker.io", True),
    (HUB_KEY, HUB_KEY, True),
    ("registry.example.com:5000", "registry.example.com", False),
    ("https://registry.example.com:5000/", "registry.example.com", False),
    ("registry.example.com.evil.net", "registry.example.com", False),
    ("https://evil.net/registry.example.com", "registry.example.com",
     False),
    ("registry.example.com", "other.example.com", False),
    ("registry.example.com", "docker.io", False),
]

KEY_MATCH_IDS = [
    "scheme-and-path", "http-scheme", "path-only", "port-kept",
    "plain", "hub-docker-io", "hub-index", "hub-key", "other-port",
    "other-port-with-scheme", "suffix-attack", "path-attack",
    "other-host", "not-hub",
]

# "???~>>o" gives both '+' and '/' in standard base64 whatever its
# offset in the JSON text (checked for the three alignments).
TRICKY_AUTHS = [
    {"username": "u" * size, "password": "???~>>o",
     "serveraddress": "registry.example.com"}
    for size in (1, 2, 3)
] + [
    {"identitytoken": "???~>>o", "serveraddress": "localhost:5000"},
]


def write_config(directory, data):
    """Write config.json into directory and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    text = data if isinstance(data, str) else json.dumps(data)
    path.write_text(text)
    return path


def load_config(directory):
    """Load a ConfigFile from directory (a pathlib.Path)."""
    return pydocker.ConfigFile.load(str(directory))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Point HOME at an empty folder and forget DOCKER_CONFIG."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    return folder


class TestRegistryAuth:
    @pytest.mark.parametrize("text, expected", REGISTRY_KEYS,
                             ids=REGISTRY_KEY_IDS)
    def test_registry_key(self, text, expected):
        assert pydocker.registry_key(text) == expected

    @pytest.mark.parametrize("text, expected", REFERENCE_KEYS,
                             ids=REFERENCE_KEY_IDS)
    def test_registry_key_of_reference(self, text, expected):
        reference = pydocker.parse_reference(text)
        assert pydocker.registry_key(reference) == expected

    @pytest.mark.parametrize("address, expected", [
        ("127.0.0.1:5000", "localhost:5000"),
        ("http://127.0.0.1:5000", "localhost:5000"),
        ("127.1.2.3:5000/v2/", "localhost:5000"),
        ("[::1]:5000", "localhost:5000"),
        ("https://127.0.0.1:5000", "https://127.0.0.1:5000"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost:5000", "localhost:5000"),
        ("10.0.0.1:5000", "10.0.0.1:5000"),
        ("registry.example:5000", "registry.example:5000"),
        ("https://index.docker.io/v1/", "https://index.docker.io/v1/"),
    ], ids=["ip", "http-scheme", "loopback-net-path", "ipv6", "https",
            "no-port", "localhost", "not-loopback", "name", "hub"])
    def test_podman_auth_address(self, address, expected):
        assert pydocker.podman_auth_address(address) == expected

    @pytest.mark.parametrize("stored, asked, matches", KEY_MATCHES,
                             ids=KEY_MATCH_IDS)
    def test_resolve_auth_matches_by_hostname(self, tmp_path, home, stored,
                                              asked, matches):
        write_config(tmp_path / "cfg", {
            "auths": {stored: {"auth": b64("alice:secret")}}})
        auth = load_config(tmp_path / "cfg").resolve_auth(asked)
        if matches:
            assert auth["username"] == "alice"
            assert auth["password"] == "secret"
            assert "serveraddress" in auth
        else:
            assert auth == {}

    def test_resolve_auth_prefers_exact_key(self, tmp_path, home):
        write_config(tmp_path / "cfg", {"auths": {
            "https://registry.example.com/v1/": {"auth": b64("a:1")},
            "registry.example.com": {"auth": b64("b:2")},
        }})
        auth = load_config(tmp_path / "cfg").resolve_auth(
            "registry.example.com")
        assert (auth["username"], auth["password"]) == ("b", "2")

    @pytest.mark.parametrize("password", [
        "pa:ss", ":leading", "trailing:", "a:b:c:d", "::", "",
    ], ids=["middle", "leading", "trailing", "many", "only-colons",
            "empty"])
    def test_password_with_colons_from_config(self, tmp_path, home,
                                              password):
        write_config(tmp_path / "cfg", {"auths": {
            "registry.example.com": {"auth": b64("alice:" + password)}}})
        auth = load_config(tmp_path / "cfg").resolve_auth(
            "registry.example.com")
        assert auth["username"] == "alice"
        assert auth["password"] == password

    def test_password_with_colons_survives_store(self, tmp_path, home):
        config = load_config(tmp_path / "cfg")
        config.store_auth("registry.example.com", "alice", "p:w:x")
        data = json.loads((tmp_path / "cfg" / "config.json").read_text())
        entry = data["auths"]["registry.example.com"]
        assert base64.b64decode(entry["auth"]).decode() == "alice:p:w:x"
        auth = load_config(tmp_path / "cfg").resolve_auth(
            "registry.example.com")
        assert (auth["username"], auth["password"]) == ("alice", "p:w:x")

    def test_identity_token_from_config(self, tmp_path, home):
        write_config(tmp_path / "cfg", {"auths": {
            "registry.example.com": {"identitytoken": "tok-123"}}})
        auth = load_config(tmp_path / "cfg").resolve_auth(
            "registry.example.com")
        assert auth["identitytoken"] == "tok-123"
        assert "password" not in auth

    @pytest.mark.parametrize("data", [
        {}, {"auths": {}}, {"auths": {"other.example.com": {
            "auth": b64("a:b")}}},
    ], ids=["empty-config", "empty-auths", "other-registry"])
    def test_anonymous_is_empty_dict(self, tmp_path, home, data):
        write_config(tmp_path / "cfg", data)
        config = load_config(tmp_path / "cfg")
        assert config.resolve_auth("registry.example.com") == {}
        assert config.resolve_auth("docker.io") == {}

    def test_missing_config_is_anonymous(self, tmp_path, home):
        config = load_config(tmp_path / "nothing-here")
        assert config.resolve_auth("docker.io") == {}
        assert not (tmp_path / "nothing-here").exists()

    @pytest.mark.parametrize("auth", TRICKY_AUTHS,
                             ids=["user-1", "user-2", "user-3", "token"])
    def test_encode_auth_url_safe_with_padding(self, auth):
        encoded = pydocker.encode_auth(auth)
        assert isinstance(encoded, str)
        assert "+" not in encoded and "/" not in encoded
        assert len(encoded) % 4 == 0
        raw = base64.urlsafe_b64decode(encoded)
        standard = base64.b64encode(raw).decode()
        assert "+" in standard and "/" in standard  # the input was tricky
        assert json.loads(raw) == auth

    @pytest.mark.parametrize("size", range(6), ids=lambda n: f"pad-{n}")
    def test_encode_auth_always_padded(self, size):
        auth = {"username": "u" * (size + 1), "password": "p",
                "serveraddress": HUB_KEY}
        encoded = pydocker.encode_auth(auth)
        assert len(encoded) % 4 == 0
        assert json.loads(base64.urlsafe_b64decode(encoded)) == auth

    def test_encode_auth_anonymous(self):
        encoded = pydocker.encode_auth({})
        assert json.loads(base64.urlsafe_b64decode(encoded)) == {}

    def test_load_uses_docker_config_variable(self, tmp_path, home,
                                              monkeypatch):
        write_config(tmp_path / "env-cfg", {"auths": {
            "registry.example.com": {"auth": b64("env:pw")}}})
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "env-cfg"))
        config = pydocker.ConfigFile.load()
        assert os.path.samefile(
            config.path, str(tmp_path / "env-cfg" / "config.json"))
        assert config.resolve_auth("registry.example.com")["username"] == (
            "env")

    def test_load_defaults_to_home_docker(self, home):
        write_config(home / ".docker", {"auths": {
            "registry.example.com": {"auth": b64("homeuser:pw")}}})
        config = pydocker.ConfigFile.load()
        assert os.path.samefile(
            config.path, str(home / ".docker" / "config.json"))
        auth = config.resolve_auth("registry.example.com")
        assert auth["username"] == "homeuser"

    @pytest.mark.parametrize("text", [
        json.dumps({HUB_KEY: {"auth": b64("olduser:old:pass"),
                              "email": "old@example.com"}}),
        f"auth = {b64('olduser:old:pass')}\nemail = old@example.com\n",
    ], ids=["json", "two-lines"])
    def test_legacy_dockercfg_without_config_json(self, tmp_path, home,
                                                  text):
        (home / ".dockercfg").write_text(text)
        config = load_config(tmp_path / "cfg")
        auth = config.resolve_auth("docker.io")
        assert auth["username"] == "olduser"
        assert auth["password"] == "old:pass"

    def test_legacy_dockercfg_ignored_when_config_json_exists(
            self, tmp_path, home):
        (home / ".dockercfg").write_text(json.dumps(
            {HUB_KEY: {"auth": b64("olduser:oldpass")}}))
        write_config(tmp_path / "cfg", {"auths": {}})
        assert load_config(tmp_path / "cfg").resolve_auth("docker.io") == {}

    @pytest.mark.parametrize("text", [
        "{not json", '{"auths": {', "[1, 2]", '"just a string"',
    ], ids=["garbage", "truncated", "list", "string"])
    def test_malformed_config_loads_and_refuses_save(self, tmp_path, home,
                                                     text):
        path = write_config(tmp_path / "cfg", text)
        before = path.read_bytes()
        config = load_config(tmp_path / "cfg")
        assert config.broken is True
        assert isinstance(config.warning, str) and config.warning
        assert config.resolve_auth("registry.example.com") == {}
        with pytest.raises(pydocker.ConfigError):
            config.save()
        with pytest.raises(pydocker.ConfigError):
            config.store_auth("registry.example.com", "alice", "pw")
        with pytest.raises(pydocker.ConfigError):
            config.erase_auth("registry.example.com")
        assert path.read_bytes() == before
        assert sorted(os.listdir(tmp_path / "cfg")) == ["config.json"]

    def test_good_config_is_not_broken(self, tmp_path, home):
        write_config(tmp_path / "cfg", {"auths": {}})
        config = load_config(tmp_path / "cfg")
        assert not config.broken
        assert config.warning is None

    def test_save_keeps_unknown_keys(self, tmp_path, home):
        original = {
            "auths": {"keep.example.com": {"auth": b64("k:v")}},
            "psFormat": "table {{.ID}}",
            "HttpHeaders": {"X-Meta": "1"},
            "someFutureKey": {"nested": [1, 2, {"x": None}]},
        }
        path = write_config(tmp_path / "cfg", original)
        config = load_config(tmp_path / "cfg")
        assert config.data["someFutureKey"] == original["someFutureKey"]
        config.store_auth("registry.example.com", "alice", "pw")
        saved = json.loads(path.read_text())
        for key in ("psFormat", "HttpHeaders", "someFutureKey"):
            assert saved[key] == original[key]
        assert saved["auths"]["keep.example.com"] == {"auth": b64("k:v")}
        assert "registry.example.com" in saved["auths"]

    def test_erase_auth_removes_only_that_key(self, tmp_path, home):
        path = write_config(tmp_path / "cfg", {"auths": {
            "keep.example.com": {"auth": b64("k:v")},
            "registry.example.com": {"auth": b64("a:b")},
        }})
        load_config(tmp_path / "cfg").erase_auth("registry.example.com")
        saved = json.loads(path.read_text())
        assert list(saved["auths"]) == ["keep.example.com"]
        config = load_config(tmp_path / "cfg")
        assert config.resolve_auth("registry.example.com") == {}

    def test_save_creates_private_folder_and_file(self, tmp_path, home):
        folder = tmp_path / "new" / "cfg"
        config = load_config(folder)
        config.store_auth("registry.example.com", "alice", "pw")
        path = folder / "config.json"
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    def test_save_makes_existing_file_private(self, tmp_path, home):
        path = write_config(tmp_path / "cfg", {"auths": {}})
        os.chmod(path, 0o644)
        load_config(tmp_path / "cfg").store_auth(
            "registry.example.com", "alice", "pw")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    def test_save_is_atomic_rename(self, tmp_path, home):
        path = write_config(tmp_path / "cfg", {"auths": {}})
        before = path.read_bytes()
        # A second link keeps the old inode alive (so its number cannot
        # be reused) and shows whether the old file was written in place.
        original = tmp_path / "original-link"
        os.link(path, original)
        config = load_config(tmp_path / "cfg")
        config.store_auth("registry.example.com", "alice", "pw")
        config.save()
        assert not os.path.samefile(path, original)
        assert original.read_bytes() == before
        assert "registry.example.com" in path.read_text()
        left = [name for name in os.listdir(tmp_path / "cfg")
                if name != "config.json" and not name.endswith(".lock")]
        assert left == []

    def test_two_loaded_configs_lose_nothing(self, tmp_path, home):
        write_config(tmp_path / "cfg", {"auths": {}})
        first = load_config(tmp_path / "cfg")
        second = load_config(tmp_path / "cfg")
        first.store_auth("a.example.com", "a", "1")
        second.store_auth("b.example.com", "b", "2")
        final = load_config(tmp_path / "cfg")
        assert final.resolve_auth("a.example.com")["username"] == "a"
        assert final.resolve_auth("b.example.com")["username"] == "b"

    def test_concurrent_processes_lose_nothing(self, tmp_path, home):
        folder = tmp_path / "cfg"
        write_config(folder, {"auths": {}})
        go = tmp_path / "go"
        script = (
            "import os, sys, time\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "import pydocker\n"
            "config = pydocker.ConfigFile.load(sys.argv[2])\n"
            "open(sys.argv[3] + '.ready-' + sys.argv[4], 'w').close()\n"
            "while not os.path.exists(sys.argv[3]):\n"
            "    time.sleep(0.005)\n"
            "config.store_auth('r%s.example.com' % sys.argv[4], 'u', 'p')\n"
        )
        module_dir = os.path.dirname(os.path.abspath(pydocker.__file__))
        workers = [
            subprocess.Popen([sys.executable, "-c", script, module_dir,
                              str(folder), str(go), str(number)])
            for number in range(8)
        ]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = [n for n in os.listdir(tmp_path) if ".ready-" in n]
            if len(ready) == len(workers):
                break
            time.sleep(0.01)
        go.write_text("")
        assert [worker.wait(timeout=60) for worker in workers] == [0] * 8
        saved = json.loads((folder / "config.json").read_text())
        assert sorted(saved["auths"]) == sorted(
            f"r{n}.example.com" for n in range(8))


# ===========================================================================
# Credential helpers
# ===========================================================================

# A stand-in for docker-credential-helpers: credentials live in
# <program>.json beside the program, and every call is logged to
# <program>.log as [action, stdin].
HELPER_SOURCE = r'''
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
name = os.path.basename(sys.argv[0])
store_path = os.path.join(here, name + ".json")
action = sys.argv[1] if len(sys.argv) > 1 else ""
data = sys.stdin.read() if action in ("get", "store", "erase") else ""
with open(os.path.join(here, name + ".log"), "a") as log:
    log.write(json.dumps([action, data]) + "\n")
try:
    with open(store_path) as f:
        store = json.load(f)
except FileNotFoundError:
    store = {}


def save():
    with open(store_path, "w") as f:
        json.dump(store, f)


if action == "get":
    entry = store.get(data.strip())
    if entry is None:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({"ServerURL": data.strip(),
                      "Username": entry["Username"],
                      "Secret": entry["Secret"]}))
elif action == "store":
    request = json.loads(data)
    store[request["ServerURL"]] = {"Username": request["Username"],
                                   "Secret": request["Secret"]}
    save()
elif action == "erase":
    if store.pop(data.strip(), None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
    save()
elif action == "list":
    print(json.dumps({url: entry["Username"]
                      for url, entry in store.items()}))
else:
    sys.stderr.write("unknown action: %s\n" % action)
    sys.exit(1)
'''


class Helper:
    """One docker-credential-<name> program on PATH and its store."""

    def __init__(self, folder, name):
        self.program = folder / ("docker-credential-" + name)
        self.program.write_text("#!" + sys.executable + "\n" + HELPER_SOURCE)
        self.program.chmod(0o755)
        self.store_path = folder / (self.program.name + ".json")
        self.log_path = folder / (self.program.name + ".log")

    def seed(self, entries):
        """Store {url: (username, secret)} as the helper would."""
        self.store_path.write_text(json.dumps({
            url: {"Username": user, "Secret": secret}
            for url, (user, secret) in entries.items()}))

    def store(self):
        if not self.store_path.exists():
            return {}
        return json.loads(self.store_path.read_text())

    def calls(self):
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in
                self.log_path.read_text().splitlines()]


@pytest.fixture
def helpers(tmp_path, home, monkeypatch):
    """Put docker-credential-pytest and -pytest2 on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder) + os.pathsep +
                       os.environ.get("PATH", ""))
    return Helper(folder, "pytest"), Helper(folder, "pytest2")


class TestCredentialHelpers:
    @pytest.mark.parametrize("asked", ["docker.io", "index.docker.io",
                                       HUB_KEY],
                             ids=["docker-io", "index", "hub-key"])
    def test_creds_store_resolves_hub(self, tmp_path, helpers, asked):
        helper, _ = helpers
        helper.seed({HUB_KEY: ("hubuser", "hub:pass")})
        write_config(tmp_path / "cfg", {"credsStore": "pytest"})
        auth = load_config(tmp_path / "cfg").resolve_auth(asked)
        assert auth["username"] == "hubuser"
        assert auth["password"] == "hub:pass"
        assert ["get", HUB_KEY] in [
            [action, data.strip()] for action, data in helper.calls()]

    def test_creds_store_resolves_other_registry(self, tmp_path, helpers):
        helper, _ = helpers
        helper.seed({"localhost:5000": ("local", "pw")})
        write_config(tmp_path / "cfg", {"credsStore": "pytest"})
        auth = load_config(tmp_path / "cfg").resolve_auth("localhost:5000")
        assert (auth["username"], auth["password"]) == ("local", "pw")

    def test_not_found_in_helper_is_anonymous(self, tmp_path, helpers):
        helper, _ = helpers
        helper.seed({})
        write_config(tmp_path / "cfg", {"credsStore": "pytest"})
        config = load_config(tmp_path / "cfg")
        assert config.resolve_auth("registry.example.com") == {}
        assert helper.calls(), "the helper was never asked"

    def test_store_auth_uses_helper_not_file(self, tmp_path, helpers):
        helper, _ = helpers
        path = write_config(tmp_path / "cfg", {"credsStore": "pytest"})
        config = load_config(tmp_path / "cfg")
        config.store_auth("registry.example.com", "alice", "s3cret:pw")
        assert helper.store()["registry.example.com"] == {
            "Username": "alice", "Secret": "s3cret:pw"}
        text = path.read_text()
        assert "s3cret" not in text
        assert b64("alice:s3cret:pw") not in text
        assert json.loads(text)["credsStore"] == "pytest"
        again = load_config(tmp_path / "cfg").resolve_auth(
            "registry.example.com")
        assert (again["username"], again["password"]) == (
            "alice", "s3cret:pw")

    def test_erase_auth_uses_helper(self, tmp_path, helpers):
        helper, _ = helpers
        helper.seed({"registry.example.com": ("alice", "pw"),
                     "keep.example.com": ("bob", "pw")})
        write_config(tmp_path / "cfg", {"credsStore": "pytest"})
        load_config(tmp_path / "cfg").erase_auth("registry.example.com")
        assert list(helper.store()) == ["keep.example.com"]
        assert ["erase", "registry.example.com"] in [
            [action, data.strip()] for action, data in helper.calls()]

    @pytest.mark.parametrize("asked, expected", [
        ("registry.example.com", ("special", "two")),
        ("other.example.com", ("general", "one")),
    ], ids=["per-registry-helper", "falls-back-to-store"])
    def test_cred_helpers_win_over_creds_store(self, tmp_path, helpers,
                                               asked, expected):
        general, special = helpers
        general.seed({"registry.example.com": ("general", "one"),
                      "other.example.com": ("general", "one")})
        special.seed({"registry.example.com": ("special", "two")})
        write_config(tmp_path / "cfg", {
            "credsStore": "pytest",
            "credHelpers": {"registry.example.com": "pytest2"},
        })
        auth = load_config(tmp_path / "cfg").resolve_auth(asked)
        assert (auth["username"], auth["password"]) == expected

    def test_store_goes_to_per_registry_helper(self, tmp_path, helpers):
        general, special = helpers
        write_config(tmp_path / "cfg", {
            "credsStore": "pytest",
            "credHelpers": {"registry.example.com": "pytest2"},
        })
        load_config(tmp_path / "cfg").store_auth(
            "registry.example.com", "alice", "pw")
        assert "registry.example.com" in special.store()
        assert "registry.example.com" not in general.store()

    def test_token_username_means_identity_token(self, tmp_path, helpers):
        helper, _ = helpers
        helper.seed({"registry.example.com": ("<token>", "tok-456")})
        write_config(tmp_path / "cfg", {"credsStore": "pytest"})
        auth = load_config(tmp_path / "cfg").resolve_auth(
            "registry.example.com")
        assert auth["identitytoken"] == "tok-456"
        assert set(auth) == {"identitytoken", "serveraddress"}

    @pytest.mark.parametrize("data, key", [
        ({"credsStore": "pytest-missing"}, "credsStore"),
        ({"credHelpers": {"registry.example.com": "pytest-missing"}},
         "credHelpers"),
    ], ids=["creds-store", "cred-helpers"])
    def test_missing_helper_names_binary_and_key(self, tmp_path, helpers,
                                                 data, key):
        write_config(tmp_path / "cfg", data)
        config = load_config(tmp_path / "cfg")
        with pytest.raises(pydocker.ConfigError) as caught:
            config.resolve_auth("registry.example.com")
        assert "docker-credential-pytest-missing" in str(caught.value)
        assert key in str(caught.value)
        with pytest.raises(pydocker.ConfigError):
            config.store_auth("registry.example.com", "alice", "pw")


# ===========================================================================
# Templates
# ===========================================================================

TEMPLATE_DATA = {
    "Name": "web", "Count": 3, "Ratio": 0.5, "On": True, "Off": False,
    "Empty": "", "Nothing": None,
    "Env": ["A=1", "B=2"], "Labels": {"b": "2", "a": "1"},
    "State": {"Running": True, "ExitCode": 0, "Status": "running"},
}

TEMPLATE_CASES = [
    ("{{.Name}}", "web"),
    ("{{.State.Running}} {{.State.ExitCode}}", "true 0"),
    ("{{.Env}}", "[A=1 B=2]"),
    ("{{.Labels}}", "map[a:1 b:2]"),
    ("{{.Nothing}}", "<nil>"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Labels.zz}}", "<no value>"),
    ("{{json .Labels}}", '{"b":"2","a":"1"}'),
    ("{{json .State}}",
     '{"Running":true,"ExitCode":0,"Status":"running"}'),
    ("{{json .Name}} {{json .Nothing}} {{json 1.0}}", '"web" null 1'),
    ('{{json "<a&b>"}}', '"<a&b>"'),
    ("{{range .Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
    ("{{range $i, $e := .Env}}{{$i}}:{{$e}} {{end}}", "0:A=1 1:B=2 "),
    ("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"),
    ("{{range .Nothing}}x{{else}}none{{end}}", "none"),
    ("{{range .Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}}{{end}}",
     "A=1"),
    ("{{if .On}}yes{{end}}", "yes"),
    ("{{if .Off}}yes{{else}}no{{end}}", "no"),
    ("{{if .Empty}}a{{else if .Count}}b{{else}}c{{end}}", "b"),
    ("{{if .Off}}a{{else if .Empty}}b{{else}}c{{end}}", "c"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{with .Missing}}x{{else}}gone{{end}}", "gone"),
    ("{{$x := .Name}}{{$x}}-{{$x}}", "web-web"),
    ("{{$x := 1}}{{if .On}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ("{{range .Env}}{{$.Name}}{{end}}", "webweb"),
    ("{{.Name | upper}}", "WEB"),
    ('{{.Name | printf "%s!" | upper}}', "WEB!"),
    ("{{(index .Env 1)}}", "B=2"),
    ("{{upper .Name}} {{lower \"AbC\"}} {{title \"ab cd-ef\"}}",
     "WEB abc Ab Cd-Ef"),
    ('{{split "a,b,c" ","}} {{join .Env ","}}', "[a b c] A=1,B=2"),
    ('{{index (split "a,b,c" ",") 2}}', "c"),
    ("{{truncate .Name 2}}|{{truncate .Name 9}}", "we|web"),
    ("{{pad .Name 1 2}}|{{pad .Empty 1 2}}|", " web  ||"),
    ('{{index .Labels "a"}} {{index .State "Status"}}', "1 running"),
    ("{{len .Env}} {{len .Labels}} {{len .Name}} {{len \"é\"}}",
     "2 2 3 2"),
    ('{{print 1 2 "a" "b" 3}}', "1 2ab3"),
    ('{{println "x" 1}}', "x 1\n"),
    ('{{printf "%5s|%-4d|%v|%q|%x|%05.1f|%t" .Name 7 .Env "q" 255 2.25 '
     '.On}}', "  web|7   |[A=1 B=2]|\"q\"|ff|002.2|true"),
    ('{{printf "%d %d"  1}}', "1 %!d(MISSING)"),
    ("{{eq .Count 3}} {{eq .Name \"x\" \"web\"}} {{ne .Count 4}}",
     "true true true"),
    ("{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}}",
     "true true true false"),
    ("{{not .On}} {{and 1 0 2}} {{or 0 \"\" \"z\"}} {{and .On .Name}}",
     "false 0 z web"),
    ("{{or .Missing \"default\"}}", "default"),
    ("{{1e6}} {{0.5}} {{.Ratio}} {{-3}} {{0x10}} {{'a'}}",
     "1e+06 0.5 0.5 -3 16 97"),
    ("a  {{- .Name -}}  b", "awebb"),
    ("a {{/* a comment */}}b", "a b"),
    ("x{{- /* trimmed */ -}}  y", "xy"),
    # Docker turns \t and \n into tabs and newlines before parsing.
    ("{{`raw\\n`}}", "raw\n"),
    ('{{"tab\\tquote\\""}}', 'tab\tquote"'),
    ("{{.Name}}\\t{{.Count}}\\n", "web\t3\n"),
]


TEMPLATE_ERRORS = [
    ("{{nofunc .Name}}", 'template: :1: function "nofunc" not defined'),
    ("{{.Name", "template: :1: unclosed action"),
    ("line\n{{.Name", "template: :2: unclosed action"),
    ("{{if .On}}x", "template: :1: unexpected EOF"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{$y}}", 'template: :1: undefined variable "$y"'),
    ("{{}}", "template: :1: missing value for command"),
    ('{{"open}}', "template: :1: unterminated quoted string"),
    ("{{template \"x\"}}", "template: :1: {{template}} is not supported"),
]

TEMPLATE_RUN_ERRORS = [
    ("{{.Name.First}}", 'template: :1:7: executing "" at <.Name.First>: '
     "can't evaluate field First in type string"),
    ("{{.Nothing.X}}", 'template: :1:10: executing "" at <.Nothing.X>: '
     "nil pointer evaluating interface {}.X"),
    ("{{index .Env 5}}", 'template: :1:2: executing "" at <index .Env 5>: '
     "error calling index: index out of range: 5"),
    ('{{eq 1 "a"}}', 'template: :1:2: executing "" at <eq 1 "a">: '
     "error calling eq: incompatible types for comparison"),
    ("{{len 3}}", 'template: :1:2: executing "" at <len 3>: '
     "error calling len: len of type int"),
    ("{{upper 1}}", 'template: :1:2: executing "" at <upper 1>: '
     "wrong type for value; expected string; got int"),
    ("{{upper .Name .Name}}", 'template: :1:2: executing "" at '
     "<upper .Name .Name>: wrong number of args for upper: want 1 got 2"),
    ("{{range .Name}}{{end}}", 'template: :1:8: executing "" at <.Name>: '
     "range can't iterate over web"),
    ("{{.Name 1}}", 'template: :1:2: executing "" at <.Name>: Name is not '
     "a method but has arguments"),
]


class _Row(pydocker.FormatContext):
    """A context with docker-like fields, for the table tests."""

    GO_TYPE = "*formatter.rowContext"
    FIELDS = ("ID", "Name")
    METHODS = {"Label": 1}
    HEADERS = {"ID": "ROW ID", "Name": "NAME"}

    def __init__(self, ident, name, labels=None):
        self.ident, self.name, self.labels = ident, name, labels or {}

    def ID(self):  # noqa: N802 - docker's field names
        return self.ident

    def Name(self):  # noqa: N802
        return self.name

    def Label(self, key):  # noqa: N802
        return self.labels.get(key, "")


def render_items(text, items, **options):
    stdout = io.BytesIO()
    cli = pydocker.DockerCli(client=object(), stdin=io.BytesIO(),
                             stdout=stdout, stderr=io.BytesIO(),
                             config=pydocker.ConfigFile("/nonexistent"))
    cli.write_formatted(text, items, **options)
    return stdout.getvalue().decode()


class TestLocalLimits:
    """Faults found by breaking pydocker on purpose, each by kind."""

    def test_write_atomically_refuses_what_is_not_a_regular_file(
            self, tmp_path):
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        with pytest.raises(pydocker.DockerError) as caught:
            pydocker.write_atomically(str(fifo), [b"data"])
        assert str(caught.value) == (f"failed to save image: cannot write "
                                     f"to {fifo}: not a regular file")
        assert fifo.is_fifo()
        assert os.listdir(tmp_path) == ["fifo"]

    def test_write_atomically_writes_through_a_symlink(self, tmp_path):
        target = tmp_path / "target"
        target.write_bytes(b"old")
        link = tmp_path / "link"
        link.symlink_to(target)
        pydocker.write_atomically(str(link), [b"new ", b"data"],
                                  "export container")
        assert link.is_symlink()
        assert target.read_bytes() == b"new data"
        assert (target.stat().st_mode & 0o777) == 0o600

    def test_signal_work_never_overlaps(self):
        calls, active = [], []

        def work(number):
            assert not active, "a second request started inside the first"
            active.append(number)
            calls.append(number)
            if number == 1:
                handler(2)  # a signal arriving mid-request
                handler(3)
            active.pop()

        handler = pydocker._one_at_a_time(work)
        handler(1)
        assert calls == [1, 2, 3]
        handler(4)
        assert calls == [1, 2, 3, 4]

    @pytest.mark.parametrize("template, expected", [
        ('{{printf "%99999999999d" 1}}', "%!(BADWIDTH)1"),
        ('{{printf "%.99999999999f" 1.0}}', "%!(BADPREC)1.000000"),
        ('{{printf "%c" -1}}', "\ufffd"),
        ('{{printf "%c" 1114112}}', "\ufffd"),
    ], ids=["huge-width", "huge-precision", "negative-rune",
            "rune-past-unicode"])
    def test_printf_limits_print_go_markers(self, template, expected):
        assert pydocker.parse_template(template).render({}) == expected

    @pytest.mark.parametrize("template, message", [
        ('{{pad "x" 99999999999 1}}', "pad: width 99999999999 is too large"),
        ("{{" + "(" * 1500 + "1" + ")" * 1500 + "}}", "nested too deeply"),
        ("{{if 1}}" * 1500 + "x" + "{{end}}" * 1500, "nested too deeply"),
    ], ids=["huge-pad", "deep-parentheses", "deep-if"])
    def test_template_limits_are_one_line_errors(self, template, message):
        with pytest.raises(pydocker.TemplateError) as caught:
            pydocker.parse_template(template).render({"Name": "x"})
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)

    def test_build_context_of_any_depth_is_walked(self, tmp_path):
        folder = tmp_path
        for _ in range(1500):  # deeper than Python's recursion limit
            folder = folder / "a"
            os.mkdir(folder)
        (folder / "f").write_text("x")
        try:
            walked = list(pydocker.walk_context(
                str(tmp_path), pydocker.IgnoreMatcher([])))
        finally:
            # Python 3.11's rmtree recurses: too deep for pytest's cleanup.
            subprocess.run(["rm", "-rf", str(tmp_path / "a")], check=True)
        assert len(walked) == 1501
        assert walked[-1][0] == "a/" * 1500 + "f"

    def test_debug_log_hides_build_arguments(self):
        target = ("/v1.41/build?t=app&buildargs=%7B%22PW%22%3A+%22hunter2%22"
                  "%7D&q=1")
        shown = pydocker.redact_target(target)
        assert "hunter2" not in shown
        assert shown.startswith("/v1.41/build?t=app&buildargs=<redacted>")
        assert shown.endswith("&q=1")


class TestTemplates:
    """The --format engine: Go's text/template as docker users write it."""

    @pytest.mark.parametrize("source, expected", TEMPLATE_CASES,
                             ids=[case[0] for case in TEMPLATE_CASES])
    def test_render(self, source, expected):
        template = pydocker.parse_template(source)
        assert template.render(TEMPLATE_DATA) == expected

    @pytest.mark.parametrize("source, message", TEMPLATE_ERRORS,
                             ids=[case[0] for case in TEMPLATE_ERRORS])
    def test_parse_errors_are_one_line(self, source, message):
        with pytest.raises(pydocker.TemplateError) as caught:
            pydocker.parse_template(source)
        assert str(caught.value) == message

    @pytest.mark.parametrize("source, message", TEMPLATE_RUN_ERRORS,
                             ids=[case[0] for case in TEMPLATE_RUN_ERRORS])
    def test_execution_errors_are_one_line(self, source, message):
        template = pydocker.parse_template(source)
        with pytest.raises(pydocker.TemplateError) as caught:
            template.render(TEMPLATE_DATA)
        assert str(caught.value) == message

    def test_missing_struct_field_is_an_error(self):
        template = pydocker.parse_template("{{.Nope}}")
        with pytest.raises(pydocker.TemplateError) as caught:
            template.render(_Row("1", "a"))
        assert str(caught.value) == (
            'template: :1:2: executing "" at <.Nope>: can\'t evaluate '
            "field Nope in type *formatter.rowContext")

    def test_missing_key_error_mode_names_the_key(self):
        template = pydocker.parse_template("{{.State.Health.Status}}",
                                           missing_key="error")
        with pytest.raises(pydocker.TemplateError) as caught:
            template.render(TEMPLATE_DATA)
        assert str(caught.value) == (
            'template: :1:8: executing "" at <.State.Health.Status>: map '
            'has no entry for key "Health"')

    def test_label_method_takes_one_argument(self):
        row = _Row("1", "a", {"com.example.tier": "db"})
        template = pydocker.parse_template('{{.Label "com.example.tier"}}')
        assert template.render(row) == "db"
        with pytest.raises(pydocker.TemplateError) as caught:
            pydocker.parse_template("{{.Label}}").render(row)
        assert str(caught.value).endswith(
            "wrong number of args for Label: want 1 got 0")

    def test_json_of_context_escapes_html_as_docker(self):
        row = _Row("1", "<none>")
        assert render_items("{{json .}}", [row]) == (
            '{"ID":"1","Name":"\\u003cnone\\u003e"}\n')
        assert render_items("json", [row]) == (
            '{"ID":"1","Name":"\\u003cnone\\u003e"}\n')

    def test_table_aligns_under_docker_headers(self):
        rows = [_Row("1", "alpha", {"com.x-y": "v"}), _Row("22", "b")]
        out = render_items('table {{.ID}}\\t{{.Name}}\\t{{.Label "com.x-y"}}',
                           rows)
        assert out == ("ROW ID    NAME      x y\n"
                       "1         alpha     v\n"
                       "22        b         \n")

    def test_table_header_keeps_titles_through_functions(self):
        out = render_items("table {{upper .Name}}\\t{{.ID | printf "
                           '"%.3s"}}', [_Row("12345", "n")])
        assert out == "NAME      ROW\nN         123\n"

    def test_table_alone_uses_the_default_format(self):
        out = render_items("table", [_Row("1", "a")],
                           table="table {{.Name}}\t{{.ID}}")
        assert out == "NAME      ROW ID\na         1\n"

    def test_table_of_dicts_derives_titles_from_field_names(self):
        out = render_items("table {{.CreatedSince}}\t{{.ID}}",
                           [{"CreatedSince": "now", "ID": "x"}])
        assert out == "CREATED SINCE   ID\nnow             x\n"

    def test_tabwrite_aligns_each_run_of_lines(self):
        text = "a\tbb\tc\nlonger cell\td\ne\n\tf"
        assert pydocker.tabwrite(text) == (
            "a             bb        c\n"
            "longer cell   d\n"
            "e\n"
            "          f")

    def test_no_template_is_compiled_without_format(self, monkeypatch):
        def refuse(*args, **kwargs):
            raise AssertionError("a template was compiled")

        monkeypatch.setattr(pydocker, "Template", refuse)
        cli = pydocker.DockerCli(client=object(), stdout=io.BytesIO())
        cli.write_table(pydocker.ContainerContext.TABLE, [
            pydocker.ContainerContext({"Id": "0123456789abcdef",
                                       "Names": ["/x"], "Image": "i"})],
            pydocker.ContainerContext)
        assert cli.stdout.getvalue().startswith(b"CONTAINER ID   IMAGE")


# =========================================================================
# Build context: .dockerignore rules and the streamed tar
# =========================================================================

# (.dockerignore text, path, whether the path is left out)
DOCKERIGNORE_CASES = [
    ("skip.txt", "skip.txt", True),
    ("skip.txt", "sub/skip.txt", False),
    ("/skip.txt", "skip.txt", True),
    ("./a/../skip.txt", "skip.txt", True),
    ("# skip.txt", "skip.txt", False),
    ("*.log", "a.log", True),
    ("*.log", "sub/a.log", False),
    ("**/*.log", "sub/deep/a.log", True),
    ("**/*.log", "a.log", True),
    ("sub", "sub/deep/file", True),
    ("sub/**", "sub/deep/file", True),
    ("sub/**", "sub", False),
    ("**/target", "a/b/target/x", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("a*c", "a/c", False),
    ("[ab].txt", "b.txt", True),
    ("x\\*y", "x*y", True),
    ("x\\*y", "xzy", False),
    ("file.(txt)", "file.(txt)", True),
    ("*\n!keep.md", "keep.md", False),
    ("*\n!keep.md", "other.md", True),
    ("*.md\n!keep.md\nkeep.md", "keep.md", True),
    ("sub\n!sub/keep", "sub/keep", False),
    ("sub\n!sub/keep", "sub/other", True),
    ("  spaced.txt  ", "spaced.txt", True),
]


class TestDockerignore:

    @pytest.mark.parametrize(
        "ignore, path, excluded", DOCKERIGNORE_CASES,
        ids=[f"{i}-{case[1]}" for i, case in enumerate(DOCKERIGNORE_CASES)])
    def test_pattern_rules(self, ignore, path, excluded):
        patterns = pydocker.read_dockerignore(ignore)
        assert pydocker.IgnoreMatcher(patterns).excluded(path) is excluded

    def test_read_keeps_exception_marks_and_drops_comments(self):
        text = "\ufeff# comment\n/abs/path\n\n! /inverted\nlast\n"
        assert pydocker.read_dockerignore(text) == [
            "abs/path", "!inverted", "last"]

    def test_lone_exclamation_is_an_error(self):
        with pytest.raises(pydocker.ConfigError, match="illegal exclusion"):
            pydocker.IgnoreMatcher(pydocker.read_dockerignore("!\n"))

    def _context(self, tmp_path, ignore, files):
        for name in files:
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name)
        (tmp_path / "Dockerfile").write_text("FROM scratch\n")
        if ignore is not None:
            (tmp_path / ".dockerignore").write_text(ignore)
        members = pydocker.context_members(str(tmp_path), "Dockerfile")
        data = b"".join(pydocker.tar_stream(members))
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            return {member.name: (archive.extractfile(member).read()
                                  if member.isfile() else None)
                    for member in archive.getmembers()}

    def test_context_tar_leaves_out_ignored_files(self, tmp_path):
        names = self._context(tmp_path, "secret*\nbuild\n!build/keep\n", [
            "app.py", "secret.key", "build/out.o", "build/keep",
            "lib/util.py"])
        assert names["app.py"] == b"app.py"
        assert names["build/keep"] == b"build/keep"
        assert "lib" in names and names["lib/util.py"] == b"lib/util.py"
        for gone in ("secret.key", "build/out.o", "build"):
            assert gone not in names

    def test_dockerfile_and_dockerignore_are_always_sent(self, tmp_path):
        names = self._context(tmp_path, "*\n", ["a.txt"])
        assert set(names) == {"Dockerfile", ".dockerignore"}

    def test_excluded_folder_without_exception_is_not_entered(
            self, tmp_path):
        (tmp_path / "locked").mkdir(mode=0o000)
        try:
            names = self._context(tmp_path, "locked\n", ["a.txt"])
        finally:
            (tmp_path / "locked").chmod(0o755)
        assert "locked" not in names and "a.txt" in names

    def test_tar_stream_reads_files_in_bounded_pieces(self, tmp_path):
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(3 * 65536 + 100))
        info = os.lstat(big)
        pieces = list(pydocker.tar_stream([("big.bin", str(big), info)],
                                          chunk_size=65536))
        assert max(len(piece) for piece in pieces) <= 65536
        data = b"".join(pieces)
        assert len(data) % 512 == 0
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            member = archive.getmember("big.bin")
            assert archive.extractfile(member).read() == big.read_bytes()

    @pytest.mark.parametrize("head, expected", [
        (b"\x1f\x8b\x08\x00", True),
        (b"FROM busybox\n" + b" " * 600, False),
        (b"", False),
    ], ids=["gzip", "dockerfile", "empty"])
    def test_looks_like_tar(self, head, expected):
        assert pydocker.looks_like_tar(head) is expected

    def test_looks_like_tar_on_a_real_header(self):
        data = _tar_bytes(lambda archive: _add_file(archive, "x", b"y"))
        assert pydocker.looks_like_tar(data[:512])


class TestEventTimestamps:
    NOW = 1_700_000_000.25

    @pytest.mark.parametrize("text, expected", [
        ("10m", "1699999400"),
        ("1h30m", "1699994600"),
        ("1700000000", "1700000000"),
        ("1700000000.5", "1700000000.5"),
        ("2024-05-01T10:00:00Z", "1714557600.000000000"),
        ("2024-05-01T10:00:00.5+02:00", "1714550400.500000000"),
    ], ids=["minutes", "hours-minutes", "unix", "unix-fraction",
            "rfc3339-utc", "rfc3339-offset"])
    def test_event_timestamp(self, text, expected):
        assert pydocker.event_timestamp(text, self.NOW) == expected

    def test_bad_timestamp_is_docker_error(self):
        with pytest.raises(pydocker.DockerError, match=(
                'failed to parse value as time or duration: "soon"')):
            pydocker.event_timestamp("soon", self.NOW)

    def test_format_event_sorts_attributes(self, monkeypatch):
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        line = pydocker.format_event({
            "Type": "container", "Action": "start",
            "Actor": {"ID": "abc", "Attributes": {"name": "x",
                                                  "image": "busybox"}},
            "timeNano": 1_700_000_000_123_456_789})
        assert line == ("2023-11-14T22:13:20.123456789Z container start abc "
                        "(image=busybox, name=x)")


# Container options and attached streams
# ===========================================================================

def frame(stream, data):
    """Return one frame of a multiplexed stream."""
    return bytes([stream, 0, 0, 0]) + struct.pack(">I", len(data)) + data


def demultiplexed(pieces, tty=False):
    """Run ``demultiplex`` over ``pieces``; return (stdout, stderr)."""
    chunks = iter(pieces)
    out = {1: b"", 2: b""}
    for number, data in pydocker.demultiplex(lambda: next(chunks, b""),
                                             tty):
        out[number] += data
    return out[1], out[2]


# Bytes that are not UTF-8, and a euro sign cut in two.
ODD_BYTES = b"\xe2\x82" + b"\xac\xff\xfe\x00\n"


class TestContainerOptions:
    """Flag values checked and converted as docker does."""

    @pytest.mark.parametrize("text, expected", [
        ("80", [("80/tcp", {"HostIp": "", "HostPort": ""})]),
        ("8080:80", [("80/tcp", {"HostIp": "", "HostPort": "8080"})]),
        ("127.0.0.1:8080:80/udp",
         [("80/udp", {"HostIp": "127.0.0.1", "HostPort": "8080"})]),
        ("[::1]:80:80", [("80/tcp", {"HostIp": "::1", "HostPort": "80"})]),
        ("127.0.0.1::80", [("80/tcp", {"HostIp": "127.0.0.1",
                                       "HostPort": ""})]),
        ("8000-8001:80-81", [("80/tcp", {"HostIp": "", "HostPort": "8000"}),
                             ("81/tcp", {"HostIp": "", "HostPort": "8001"})]),
        ("8000-8010:80", [("80/tcp", {"HostIp": "",
                                      "HostPort": "8000-8010"})]),
    ], ids=["container-only", "host", "ip-udp", "ipv6", "ip-no-host",
            "ranges", "host-range"])
    def test_parse_port_spec(self, text, expected):
        assert pydocker.parse_port_spec(text) == expected

    @pytest.mark.parametrize("text, message", [
        ("abc:80", "invalid hostPort: abc"),
        ("80:abc", "invalid containerPort: abc"),
        ("99999:80", "invalid hostPort: 99999"),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ("80/xyz", "invalid proto: xyz"),
        ("80:", "no port specified: 80:<empty>"),
        ("80-82:90-91", "invalid ranges specified for container and host "
         "Ports: 90-91 and 80-82"),
    ], ids=["host", "container", "too-big", "ip", "proto", "empty",
            "ranges"])
    def test_parse_port_spec_rejects(self, text, message):
        with pytest.raises(ValueError) as error:
            pydocker.parse_port_spec(text)
        assert str(error.value) == message

    @pytest.mark.parametrize("text, expected", [
        ("type=bind,src=/a,dst=/b,readonly",
         {"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True}),
        ('"type=bind","source=/a,b",target=/c,bind-propagation=rshared',
         {"Type": "bind", "Source": "/a,b", "Target": "/c",
          "BindOptions": {"Propagation": "rshared"}}),
        ("target=/v,volume-nocopy,volume-opt=o=1,volume-label=l=2",
         {"Type": "volume", "Target": "/v", "VolumeOptions": {
             "NoCopy": True, "DriverConfig": {"Options": {"o": "1"}},
             "Labels": {"l": "2"}}}),
        ("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770,ro=false",
         {"Type": "tmpfs", "Target": "/t", "ReadOnly": False,
          "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}}),
    ], ids=["bind", "csv-quotes", "volume", "tmpfs"])
    def test_parse_mount(self, text, expected):
        assert pydocker.parse_mount(text) == expected

    @pytest.mark.parametrize("text, message", [
        ("type=bind", "target is required"),
        ("bogus", "invalid field 'bogus' must be a key=value pair"),
        ("foo=bar,target=/x", "unexpected key 'foo' in 'foo=bar'"),
        ("target=/x,ro=maybe", "invalid value for ro: maybe"),
        ("type=bind,target=/x,tmpfs-size=1m",
         "cannot mix 'tmpfs-*' options with mount type 'bind'"),
    ], ids=["no-target", "not-pair", "unknown-key", "bad-bool", "mixed"])
    def test_parse_mount_rejects(self, text, message):
        with pytest.raises(ValueError) as error:
            pydocker.parse_mount(text)
        assert str(error.value) == message

    @pytest.mark.parametrize("text, expected", [
        ("nofile=1024", {"Name": "nofile", "Soft": 1024, "Hard": 1024}),
        ("nproc=10:20", {"Name": "nproc", "Soft": 10, "Hard": 20}),
    ], ids=["soft-only", "soft-hard"])
    def test_parse_ulimit(self, text, expected):
        assert pydocker.parse_ulimit(text) == expected

    @pytest.mark.parametrize("text, message", [
        ("nofile", "invalid ulimit argument: nofile"),
        ("bogus=1", "invalid ulimit type: bogus"),
        ("nofile=10:5", "ulimit soft limit must be less than or equal to "
         "hard limit: 10 > 5"),
        ("nofile=x", 'strconv.ParseInt: parsing "x": invalid syntax'),
    ], ids=["no-value", "type", "soft-above-hard", "not-number"])
    def test_parse_ulimit_rejects(self, text, message):
        with pytest.raises(ValueError) as error:
            pydocker.parse_ulimit(text)
        assert str(error.value) == message

    @pytest.mark.parametrize("text, expected", [
        ("db:10.0.0.2", "db:10.0.0.2"), ("db=10.0.0.2", "db:10.0.0.2"),
        ("v6:::1", "v6:::1"), ("v6=[::1]", "v6:::1"),
        ("gw:host-gateway", "gw:host-gateway"),
    ], ids=["colon", "equals", "ipv6", "brackets", "gateway"])
    def test_parse_extra_host(self, text, expected):
        assert pydocker.parse_extra_host(text) == expected

    @pytest.mark.parametrize("text, message", [
        ("foo", 'bad format for add-host: "foo"'),
        ("foo:bar", 'invalid IP address in add-host: "bar"'),
        (":1.2.3.4", 'bad format for add-host: ":1.2.3.4"'),
    ], ids=["no-address", "bad-address", "no-host"])
    def test_parse_extra_host_rejects(self, text, message):
        with pytest.raises(ValueError) as error:
            pydocker.parse_extra_host(text)
        assert str(error.value) == message

    @pytest.mark.parametrize("text, seconds", [
        ("0", 0), ("1m30s", 90), ("250ms", 0.25), ("1.5h", 5400),
        ("2us", 2e-6),
    ], ids=["zero", "minutes", "millis", "fraction", "micros"])
    def test_parse_go_duration(self, text, seconds):
        assert pydocker.parse_go_duration(text) == pytest.approx(seconds)

    @pytest.mark.parametrize("text, message", [
        ("x", 'time: invalid duration "x"'),
        ("10", 'time: missing unit in duration "10"'),
        ("3d", 'time: unknown unit "d" in duration "3d"'),
    ], ids=["word", "no-unit", "unknown-unit"])
    def test_parse_go_duration_rejects(self, text, message):
        with pytest.raises(ValueError) as error:
            pydocker.parse_go_duration(text)
        assert str(error.value) == message

    @pytest.mark.parametrize("text, expected", [
        ("10m", "400.000000000"), ("1700000000", "1700000000"),
        ("2024-01-02T03:04:05Z", "1704164645.000000000"),
        ("2024-01-02T03:04:05.5+01:00", "1704161045.500000000"),
    ], ids=["duration", "unix", "rfc3339", "offset-fraction"])
    def test_parse_timestamp(self, text, expected):
        assert pydocker.parse_timestamp(text, now=1000) == expected

    def test_env_file_as_docker_reads_it(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PYTEST_PASSED", "from-env")
        monkeypatch.delenv("PYTEST_UNSET", raising=False)
        path = tmp_path / "env"
        path.write_bytes(b"\xef\xbb\xbf# comment\n\n  A=1\nB= spaced = \n"
                         b"PYTEST_PASSED\nPYTEST_UNSET\nEMPTY=\n")
        assert pydocker.parse_env_file(str(path)) == [
            "A=1", "B= spaced = ", "PYTEST_PASSED=from-env", "EMPTY="]

    @pytest.mark.parametrize("data, message", [
        (b"MY VAR=1\n", "poorly formatted environment: variable 'MY VAR' "
         "contains whitespaces"),
        (b"=1\n", "poorly formatted environment: no variable name on line "
         "'=1'"),
    ], ids=["space", "no-name"])
    def test_env_file_rejects(self, tmp_path, data, message):
        path = tmp_path / "env"
        path.write_bytes(data)
        with pytest.raises(ValueError) as error:
            pydocker.parse_env_file(str(path))
        assert str(error.value) == message

    def test_env_file_missing_names_the_file(self, tmp_path):
        with pytest.raises(ValueError) as error:
            pydocker.parse_env_file(str(tmp_path / "nope"))
        assert str(error.value) == (f"open {tmp_path}/nope: no such file "
                                    "or directory")

    def test_config_from_flags(self, tmp_path):
        flags = pydocker.FlagSet("pydocker run", interspersed=False)
        options = pydocker.ContainerOptions(flags, run=True)
        flags.parse(["-i", "-p", "8080:80", "--expose", "90-91",
                     "-v", "/src:/dst:ro", "-v", "/anon", "--tmpfs",
                     "/t:size=1m", "--restart", "on-failure:3", "--cpus",
                     "1.5", "-m", "64m", "--entrypoint", "", "-l", "a=b",
                     "-l", "flag", "--stop-timeout", "7", "busybox", "sh"])
        config = options.config(flags.args[0], flags.args[1:])
        host = config["HostConfig"]
        assert config["Cmd"] == ["sh"] and config["Entrypoint"] == [""]
        assert config["OpenStdin"] and config["StdinOnce"]
        assert config["AttachStdin"] and config["AttachStdout"]
        assert config["ExposedPorts"] == {"80/tcp": {}, "90/tcp": {},
                                          "91/tcp": {}}
        assert config["Volumes"] == {"/anon": {}}
        assert config["Labels"] == {"a": "b", "flag": ""}
        assert config["StopTimeout"] == 7
        assert host["PortBindings"] == {"80/tcp": [{"HostIp": "",
                                                    "HostPort": "8080"}]}
        assert host["Binds"] == ["/src:/dst:ro"]
        assert host["Tmpfs"] == {"/t": "size=1m"}
        assert host["RestartPolicy"] == {"Name": "on-failure",
                                         "MaximumRetryCount": 3}
        assert host["NanoCpus"] == 1500000000
        assert host["Memory"] == 64 << 20
        assert host["AutoRemove"] is False

    def test_detached_config_attaches_nothing(self):
        flags = pydocker.FlagSet("pydocker run", interspersed=False)
        options = pydocker.ContainerOptions(flags, run=True)
        flags.parse(["-d", "-i", "busybox"])
        config = options.config("busybox", [], detach=True)
        assert config["OpenStdin"]
        assert not (config["AttachStdin"] or config["AttachStdout"]
                    or config["StdinOnce"])


class TestAttachedStreams:
    """Frames, detach keys and the terminal, without an engine."""

    @pytest.mark.parametrize("size", [1, 3, 7, 8, 9, 4096],
                             ids=lambda size: f"reads-of-{size}")
    def test_frames_split_anywhere_come_out_whole(self, size):
        data = (frame(1, b"hello ") + frame(1, b"") + frame(2, b"oops\n")
                + frame(1, ODD_BYTES) + frame(0, b"zero"))
        assert demultiplexed(split_every(data, size)) == (
            b"hello " + ODD_BYTES + b"zero", b"oops\n")

    def test_tty_stream_is_passed_through_untouched(self):
        data = frame(2, b"looks like a frame")
        assert demultiplexed([data[:5], data[5:]], tty=True) == (data, b"")

    def test_stream_ending_inside_a_frame_is_an_error(self):
        with pytest.raises(pydocker.StreamError) as error:
            demultiplexed([frame(1, b"complete"), frame(1, b"cut")[:-1]])
        assert "ended in the middle of a frame" in str(error.value)

    def test_error_frame_raises_its_message(self):
        with pytest.raises(pydocker.StreamError) as error:
            demultiplexed([frame(1, b"out"), frame(3, b"exec failed\n")])
        assert str(error.value) == "exec failed"

    def test_unknown_stream_number_is_malformed(self):
        with pytest.raises(pydocker.StreamError) as error:
            demultiplexed([frame(7, b"x")])
        assert "malformed stream" in str(error.value)

    def test_large_frame_is_not_held_whole(self):
        data = frame(1, b"x" * (1 << 20))
        chunks = iter(split_every(data, 65536))
        sizes = [len(piece) for _, piece in pydocker.demultiplex(
            lambda: next(chunks, b""))]
        assert sum(sizes) == 1 << 20 and max(sizes) <= 65536

    @pytest.mark.parametrize("text, keys", [
        ("ctrl-p,ctrl-q", b"\x10\x11"), ("ctrl-a", b"\x01"),
        ("a,ctrl-@,ctrl-[,ctrl-_", b"a\x00\x1b\x1f"), ("CTRL-X", b"\x18"),
    ], ids=["default", "one", "specials", "upper"])
    def test_parse_detach_keys(self, text, keys):
        assert pydocker.parse_detach_keys(text) == keys

    @pytest.mark.parametrize("text", ["ctrl-xx", "ab", "ctrl-1", ""],
                             ids=["long", "word", "digit", "empty"])
    def test_parse_detach_keys_rejects(self, text):
        with pytest.raises(ValueError):
            pydocker.parse_detach_keys(text)

    @pytest.mark.parametrize("typed, sent, detached", [
        ([b"ls\r"], b"ls\r", False),
        ([b"a\x10", b"\x11b"], b"a", True),
        ([b"\x10x"], b"\x10x", False),
        ([b"\x10\x10\x11"], b"\x10", True),
        ([b"\x10"], b"", False),
    ], ids=["plain", "split-sequence", "prefix-then-other", "repeated-start",
            "held-prefix"])
    def test_detach_scanner(self, typed, sent, detached):
        scanner = pydocker.DetachScanner(b"\x10\x11")
        out, done = b"", False
        for data in typed:
            passed, done = scanner.feed(data)
            out += passed
            if done:
                break
        assert (out, done) == (sent, detached)

    def test_raw_terminal_is_restored_after_an_error(self):
        master, slave = os.openpty()
        try:
            before = termios.tcgetattr(slave)
            with pytest.raises(RuntimeError):
                with pydocker.raw_terminal(open(slave, "rb", closefd=False)):
                    raw = termios.tcgetattr(slave)
                    raise RuntimeError("boom")
            assert not raw[3] & (termios.ECHO | termios.ICANON)
            assert termios.tcgetattr(slave) == before
        finally:
            os.close(master)
            os.close(slave)

    @pytest.mark.parametrize("message, code", [
        ('exec: "nosuch": executable file not found in $PATH', 127),
        ("open /x: no such file or directory", 127),
        ('exec: "/etc": permission denied', 126),
        ("read /x: is a directory", 126),
        ("cgroup failure", 125),
    ], ids=["not-found", "no-file", "permission", "directory", "other"])
    def test_start_exit_code(self, message, code):
        assert pydocker.start_exit_code(message) == code


# =========================================================================
# Hostile input: a seeded fuzzer for every parser
# =========================================================================

FUZZ_SEED = 20240917
FUZZ_CASES = 100_000
# A target that hangs fails the test, naming the input, long before CI
# would give up on the whole run.
FUZZ_WATCHDOG = 300

# What parsers split on, quote or escape, and some they never expect.
FUZZ_ALPHABET = ("-=:/@._ \t\"'#[]{}%?,+*!~\\0123456789abcdefxzAZ"
                 "\x00\x7f\n\r\u00e9\u2028\U0001f600")

FUZZ_FLAG_WORDS = [
    "-a", "--all", "-aq", "-it", "-n", "5", "-n5", "-n=0x10", "--last=-1",
    "--last", "0b101", "--name=web", "--name", "'web'", "\"x\"", "-e",
    "A=1", "-eA=1", "--env=B=2", "-p8080:80", "-p", "--", "-", "--help",
    "-h", "-help", "--sig-proxy=false", "--sig-proxy", "-sig-proxy", "-D",
    "-H", "tcp://x:1", "--host=unix:///s", "-l", "debug",
    "--log-level=warn", "--tls", "--tlsverify=0", "--tlscacert", "ca.pem",
    "-d", "--daemon", "--bip", "10.0.0.1/24", "-b", "br0", "-G", "docker",
    "--iptables=false", "-v", "run", "ps", "images", "=", "-=", "--=",
    "-q=true", "-a=f", "-n=", "--all=maybe", "9" * 30,
]

FUZZ_HOSTS = [addr for addr, _, _ in VALID_HOSTS] + [
    addr for addr, _ in BAD_HOSTS] + [
    "ssh://me@host:22/run/docker.sock", "ssh://host:0", "ssh://:22",
    "ssh://u:pw@host", "ssh://host?x=1", "tcp://[fe80::1%eth0]:2375",
    "tcp://h:2375/a/b/", "unix:///a b", "fd://3", "npipe:////./pipe/x",
]

FUZZ_REFERENCES = [text for text, _ in VALID_REFERENCES] + [
    text for text, _ in BAD_REFERENCES] + [
    name for name, _ in SPLITS] + [
    "localhost:5000/a/b:c@" + DIGEST, "[::1]:5000/x:y", "a" * 130,
    "x/" * 40 + "y", "sha384:" + "a" * 96, "@", ":", "/", "a//b",
]

FUZZ_FILTERS = [
    "name=web", "label=a=b", "dangling=true", "before=busybox:latest",
    "reference=*/x:*", "status=exited", "=x", "x=", "=", "", " =a",
    "LABEL=Com.Example", "id=" + HEX64,
]

FUZZ_CONFIGS = [json.dumps(data) for data in (
    {},
    {"auths": {"registry.example.com": {"auth": b64("alice:pw:x")}}},
    {"auths": {HUB_KEY: {"auth": b64("u:p"), "email": "u@x"}},
     "HttpHeaders": {"X-Meta": "1"}, "detachKeys": "ctrl-a,a"},
    {"auths": {"localhost:5000": {"identitytoken": "tok"}},
     "psFormat": "table {{.ID}}", "imagesFormat": "{{.Repository}}"},
    {"auths": {"https://registry.example.com/v1/": {
        "username": "bob", "password": "pw"}}},
    {"credsStore": "pytest", "auths": {"a.example": {}}},
    {"credHelpers": {"registry.example.com": "pytest"},
     "auths": {"registry.example.com": {"auth": "!!!"}}},
    {"auths": {"x.example": {"auth": b64("nocolon")}}},
    {"auths": {"x.example": {"auth": b64("\xff\xfe:pw")}}},
    {"auths": [], "HttpHeaders": "x"},
    {"auths": {"y": {"auth": 7, "username": ["a"], "identitytoken": {}}}},
)] + ["[" * 50 + "]" * 50, "null", "\"x\"", "1e999", "{\"a\":", "\ufeff{}"]

# Answers a fake credential helper gives: (exit code, stdout).
FUZZ_HELPER_ANSWERS = [
    (0, '{"ServerURL": "x", "Username": "alice", "Secret": "pw"}'),
    (0, '{"Username": "<token>", "Secret": "tok"}'),
    (0, "{}"), (0, "[]"), (0, "null"), (0, "not json"), (0, "1"),
    (0, '{"Username": ["a"], "Secret": {"b": 1}}'),
    (1, "credentials not found in native keychain"), (1, ""),
    (0, '{"registry.example.com": "alice", "b": 1}'),
]

FUZZ_MESSAGES = [
    {"status": "Pulling from x", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "0a1b2c"},
    {"status": "Downloading", "progressDetail": {
        "current": 512, "total": 2048, "start": 1700000000},
     "progress": "[=====>   ]     512B/2.048kB", "id": "0a1b2c"},
    {"status": "Extracting", "progressDetail": {"current": 4096},
     "id": "0a1b2c"},
    {"status": "Pull complete", "progressDetail": {}, "id": "0a1b2c"},
    {"status": "Digest: " + DIGEST},
    {"stream": "Step 1/2 : FROM busybox\n"},
    {"aux": {"ID": DIGEST}},
    {"status": "T\u00e9l\u00e9charg\u00e9 \u2713", "id": "\U0001f600"},
    {"error": "boom", "errorDetail": {"message": "boom"}},
    {"errorDetail": "text"}, {"id": ["a"], "progressDetail": {}},
    {"progressDetail": {"current": 10 ** 400, "total": 1}, "id": "b"},
    {"progressDetail": {"current": 1e308, "total": -1e308}, "id": "c"},
    {"progressDetail": {"current": 5, "total": 10, "start": 10 ** 30},
     "id": "d"},
    {"progressDetail": [1], "progress": ["x"], "id": 7, "from": {}},
    [], "text", 12, None, True, {"status": None, "stream": 0},
]


@pytest.fixture
def memory_folder(tmp_path):
    """A folder in memory (/dev/shm) when there is one, else tmp_path.

    Fuzzing config.json writes and reads a file 100,000 times: on tmpfs
    that takes seconds, on some disks minutes.
    """
    if not os.path.isdir("/dev/shm"):
        yield tmp_path
        return
    folder = tempfile.mkdtemp(prefix="pydocker-fuzz-", dir="/dev/shm")
    try:
        yield pathlib.Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Values of every JSON type, for replacing the ones a parser expects.
FUZZ_VALUES = [None, True, 0, -1, 7, 1e308, 10 ** 40, float("nan"), "",
               "x", "\u00e9:\u2028", [], ["a", 1], {}, {"a": {"b": []}}]


FUZZ_PORTS = [
    "80", "8080:80", "127.0.0.1:8080:80/udp", "[::1]:80:80", "127.0.0.1::80",
    "8000-8001:80-81", "8000-8010:80", "80/sctp", "0.0.0.0:9-19:9-19",
    "::1:80:80", "80:", ":80", "65536", "80-", "-80", "1-2/tcp", "\u0663",
    "\u00b2:80", "fe80::1%eth0:80:80", "[]:80:80",
]

FUZZ_ENV_FILES = [
    "A=1\n", "# comment\n\nB=two words\n", "  C=3\r\n", "HOME\n",
    "\ufeffD=\u00e9\n", "E==\n", "=x\n", "F G=1\n", "H\t\n", "I=\x00\n",
    "J=1\u2028K=2\n", "\n\n#\n", "L=\"quoted\"\n",
]

FUZZ_IGNORE = [
    "*", "*.log", "!keep.log", "**/tmp", "a/**/b", "/abs", "dir/", "[a-z]*",
    "[!x]", "[^x]", "\\*", "a\\", "?", "**", "!**/x", "# c", " sp ",
    "[", "[]", "[a-", "x/../y", "./z", "\u00e9*", "a[\\]]b",
]

FUZZ_PATHS = ["a", "a/b", "keep.log", "x.log", "tmp/t", "a/q/b", "abs",
              "dir/f", "\u00e9t\u00e9", "[x]", "*", "a\\b", ".dockerignore"]


class FuzzHang(Exception):
    """Raised by the watchdog when one input takes far too long."""


class Fuzzer:
    """A seeded generator of hostile inputs, mutated from a corpus.

    Most inputs are corpus entries with a few mutations (cuts, noise,
    repeats, corpus words inserted), some splice two entries, the rest
    are random text.  The same seed gives the same inputs everywhere.
    """

    def __init__(self, seed, corpus, alphabet=FUZZ_ALPHABET):
        self.random = random.Random(seed)
        self.corpus = list(corpus)
        self.alphabet = alphabet

    def text(self):
        """Return one generated text."""
        pick = self.random.random()
        if pick < 0.6:
            return self.mutate(self.random.choice(self.corpus))
        if pick < 0.8:
            first = self.random.choice(self.corpus)
            second = self.random.choice(self.corpus)
            return (first[:self.random.randint(0, len(first))]
                    + second[self.random.randint(0, len(second)):])
        if pick < 0.9:
            return self.random.choice(self.corpus)
        return self.noise(40)

    def data(self):
        """Return generated bytes: UTF-8 text, sometimes with bad bytes."""
        text = self.text()
        if self.random.random() < 0.3:
            text = self.retype(self.random.choice(self.corpus))
        data = bytearray(text.encode("utf-8", "surrogatepass"))
        if data and self.random.random() < 0.2:
            for _ in range(self.random.randint(1, 3)):
                data[self.random.randrange(len(data))] = \
                    self.random.randrange(256)
        return bytes(data)

    def retype(self, text):
        """Return JSON ``text`` with one value replaced by another type.

        Parsers trust the shapes they expect: a string where an object
        goes, a list where a string goes, a huge number, null.
        """
        try:
            data = json.loads(text)
        except ValueError:
            return text
        holder, key = None, None
        node = data
        while isinstance(node, (dict, list)) and node and (
                holder is None or self.random.random() < 0.7):
            keys = list(node.keys()) if isinstance(node, dict) \
                else list(range(len(node)))
            holder, key = node, self.random.choice(keys)
            node = node[key]
        if holder is None:
            return text
        holder[key] = self.random.choice(FUZZ_VALUES)
        return json.dumps(data)

    def noise(self, limit):
        """Return up to ``limit`` random characters of the alphabet."""
        return "".join(self.random.choice(self.alphabet)
                       for _ in range(self.random.randint(0, limit)))

    def mutate(self, text):
        """Return ``text`` after one to four random edits."""
        for _ in range(self.random.randint(1, 4)):
            start = self.random.randint(0, len(text))
            end = self.random.randint(start, min(len(text), start + 8))
            edit = self.random.randrange(6)
            if edit == 0:
                middle = ""
            elif edit == 5:
                # Nesting deeper than Python's recursion limit, now and
                # then; else a little.
                depth = self.random.choice((2, 3, 50, 1500))
                opener = self.random.choice("[{")
                closer = "]" if opener == "[" else "}"
                middle = opener * depth + text[start:end] + closer * depth
            elif edit == 1:
                middle = self.noise(4)
            elif edit == 2:
                middle = text[start:end] * self.random.randint(2, 40)
            elif edit == 3:
                middle = self.random.choice(self.corpus) + text[start:end]
            else:
                middle = text[start:end].swapcase()
            text = text[:start] + middle + text[end:]
        return text


def fuzz(generate, target, cases=FUZZ_CASES):
    """Run ``target`` on ``cases`` generated inputs.

    Only the module's own errors (DockerError and its kinds) may come
    out; anything else, or an input that hangs, fails the test with the
    input that caused it.
    """
    def hang(signum, frame):
        raise FuzzHang()

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(FUZZ_WATCHDOG)
    try:
        for number in range(cases):
            value = generate()
            try:
                target(value)
            except pydocker.DockerError:
                pass
            except FuzzHang:
                pytest.fail(f"case {number} hangs: {value!r:.300}")
            except Exception as error:  # noqa: BLE001 - reported
                pytest.fail(f"case {number}: {value!r:.300} raised "
                            f"{type(error).__name__}: {error}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class FakeStreamResponse:
    """An HTTP response stand-in that hands out bytes in given chunks."""

    def __init__(self, chunks):
        self.chunks = list(chunks)

    def read1(self, size):
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if len(chunk) > size:
            self.chunks.insert(0, chunk[size:])
        return chunk[:size]


def random_chunks(rng, data):
    """Cut ``data`` at random places, some pieces a single byte."""
    chunks, position = [], 0
    while position < len(data):
        size = rng.choice((1, 2, 3, rng.randint(1, 64), len(data)))
        chunks.append(data[position:position + size])
        position += size
    return chunks


def decode_stream(chunks):
    """Return the values json_messages yields and its error, if any."""
    values = []
    try:
        for value in pydocker.json_messages(FakeStreamResponse(chunks)):
            values.append(value)
    except pydocker.StreamError as error:
        return values, str(error)
    return values, None


class TestFuzz:
    """Every parser, fed generated hostile input: only DockerErrors."""

    def test_flag_parser(self):
        fuzzer = Fuzzer(FUZZ_SEED, FUZZ_FLAG_WORDS)
        # Values pile up from case to case (list flags append): harmless,
        # and building the sets once keeps the run short.
        flag_sets = [command_flags()[0], command_flags(False)[0],
                     pydocker.global_flags(daemon=True)]

        def target(words):
            flag_set = fuzzer.random.choice(flag_sets)
            flag_set.parse(words)
            assert all(isinstance(arg, str) for arg in flag_set.args)

        fuzz(lambda: [fuzzer.text() for _ in
                      range(fuzzer.random.randint(0, 5))], target)

    def test_parse_host(self):
        fuzzer = Fuzzer(FUZZ_SEED, FUZZ_HOSTS)

        def target(text):
            host = pydocker.parse_host(text, fuzzer.random.random() < 0.3)
            assert "//" not in pydocker.base_path(host)
            connection = pydocker.open_connection(host)
            if isinstance(connection, pydocker.SSHConnection):
                command = connection.ssh_command()
                assert command[command.index("--") + 1] != ""
            pydocker.Client(host)

        fuzz(fuzzer.text, target)

    def test_references(self):
        fuzzer = Fuzzer(FUZZ_SEED, FUZZ_REFERENCES)

        def target(text):
            repository, tag = pydocker.split_repository_tag(text)
            assert text.startswith(repository)
            assert not tag or text[len(repository) + 1:] == tag
            pydocker.registry_key(text)
            reference = pydocker.parse_reference(text)
            # What we print parses back to the same reference.  (The
            # familiar form need not: docker.io/a.b/c shows as a.b/c.)
            assert pydocker.parse_reference(str(reference)) == reference
            reference.familiar()
            pydocker.registry_key(reference)

        fuzz(fuzzer.text, target)

    def test_filters(self):
        fuzzer = Fuzzer(FUZZ_SEED, FUZZ_FILTERS)

        def target(values):
            filters = pydocker.parse_filters(values)
            encoded = pydocker.encode_filters(filters)
            assert json.loads(encoded or "{}") == filters

        fuzz(lambda: [fuzzer.text() for _ in
                      range(fuzzer.random.randint(0, 4))], target)

    def test_config_files(self, memory_folder, monkeypatch):
        fuzzer = Fuzzer(FUZZ_SEED, FUZZ_CONFIGS)
        answers = random.Random(FUZZ_SEED)
        monkeypatch.setattr(pydocker.CredentialHelper, "_run",
                            lambda helper, action, data: answers.choice(
                                FUZZ_HELPER_ANSWERS))
        monkeypatch.setenv("HOME", str(memory_folder))
        folder = memory_folder / "cfg"
        folder.mkdir()
        config_path = folder / "config.json"
        legacy_path = memory_folder / ".dockercfg"
        asked = ["docker.io", "registry.example.com", "localhost:5000",
                 "https://registry.example.com/v1/", "", "a.example", "y"]

        def target(data):
            legacy = fuzzer.random.random() < 0.1
            if legacy and config_path.exists():
                config_path.unlink()
            descriptor = os.open(legacy_path if legacy else config_path,
                                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.write(descriptor, data)
            os.close(descriptor)
            config = pydocker.ConfigFile.load(str(folder))
            assert config.broken == (config.warning is not None) or legacy
            keys = list((config.data.get("auths") or {}).keys())
            for key in keys[:3] + [fuzzer.random.choice(asked)]:
                auth = config.resolve_auth(key)
                json.loads(base64.urlsafe_b64decode(
                    pydocker.encode_auth(auth)))
            config.http_headers()
            config.detach_keys()
            if legacy:
                legacy_path.unlink()

        fuzz(fuzzer.data, target)

    def test_json_message_streams(self):
        rng = random.Random(FUZZ_SEED)
        corpus = [json.dumps(message) for message in FUZZ_MESSAGES]
        fuzzer = Fuzzer(FUZZ_SEED, corpus)
        separators = ["", "\n", "\r\n", " ", "\t\n "]

        def generate():
            messages = [rng.choice(FUZZ_MESSAGES)
                        for _ in range(rng.randint(0, 6))]
            text = "".join(json.dumps(message) + rng.choice(separators)
                           for message in messages)
            mutated = rng.random() < 0.5
            if mutated:
                text = fuzzer.mutate(text)
            elif rng.random() < 0.3:
                text = "\n".join(fuzzer.retype(json.dumps(message))
                                  for message in messages)
            data = text.encode("utf-8", "surrogatepass")
            return data, random_chunks(rng, data), mutated

        def target(case):
            data, chunks, mutated = case
            values, error = decode_stream(chunks)
            # However the stream is cut, the same values and error come.
            assert (values, error) == decode_stream([data])
            if not mutated:
                assert error is None
            renderer = pydocker.ProgressRenderer(
                io.BytesIO(), terminal=rng.random() < 0.5,
                width=rng.choice((None, 40, 80, 200)))
            for value in values:
                renderer.show(value)

        fuzz(generate, target)

    def test_ports(self):
        fuzzer = Fuzzer(FUZZ_SEED, FUZZ_PORTS)
        options = pydocker.ContainerOptions(pydocker.FlagSet("run", ""))

        def target(text):
            options.publish.value = [text]
            config, host = {"ExposedPorts": {}}, {"PortBindings": {}}
            options._add_ports(config, host)
            for port, bindings in host["PortBindings"].items():
                number, protocol = port.split("/")
                assert 0 <= int(number) <= 65535
                assert protocol in ("tcp", "udp", "sctp")
                for binding in bindings:
                    for part in binding["HostPort"].split("-"):
                        assert part == "" or 0 <= int(part) <= 65535

        fuzz(fuzzer.text, target)

    def test_env_files(self):
        fuzzer = Fuzzer(FUZZ_SEED, FUZZ_ENV_FILES)

        def target(data):
            # The file's bytes, as parse_env_file has read them; the
            # ValueError it raises becomes a FlagError where it is used.
            try:
                lines = pydocker.parse_env_lines(data, "env")
            except ValueError as error:
                raise pydocker.FlagError(str(error)) from None
            for line in lines:
                name = line.partition("=")[0]
                assert name and not re.search(r"\s", name), line

        fuzz(fuzzer.data, target)

    @pytest.mark.filterwarnings("error")
    def test_dockerignore_patterns(self):
        fuzzer = Fuzzer(FUZZ_SEED, FUZZ_IGNORE)
        paths = Fuzzer(FUZZ_SEED + 1, FUZZ_PATHS)

        def target(case):
            text, path = case
            patterns = pydocker.read_dockerignore(text)
            matcher = pydocker.IgnoreMatcher(patterns)
            assert matcher.excluded(path) in (True, False)
            matcher.may_include_below(path)

        # Lines cut to 80 characters: compiling a pattern costs time in
        # its length, and length is no different kind of input here.
        fuzz(lambda: ("\n".join(fuzzer.text()[:80] for _ in
                                range(fuzzer.random.randint(0, 4))),
                      pydocker.clean_path(paths.text()) or "x"), target)

    def test_multiplexed_frames(self):
        rng = random.Random(FUZZ_SEED)
        fuzzer = Fuzzer(FUZZ_SEED, ["x"])

        def payload():
            size = rng.randint(0, 24)
            return rng.getrandbits(8 * size).to_bytes(size, "big")

        def generate():
            data = b"".join(frame(rng.choice((0, 1, 1, 2, 2, 3)), payload())
                            for _ in range(rng.randint(0, 5)))
            if rng.random() < 0.5:
                data = bytearray(fuzzer.mutate(data.decode("latin-1")),
                                 "utf-8")
                for _ in range(rng.randint(0, 3)):
                    if data:
                        data[rng.randrange(len(data))] = rng.randrange(256)
                data = bytes(data)
            return data, random_chunks(rng, data)

        def run(chunks):
            try:
                return demultiplexed(chunks), None
            except pydocker.StreamError as error:
                return None, str(error)

        def target(case):
            data, chunks = case
            # However the stream is cut, the same output and error come.
            assert run(chunks) == run([data] if data else [])

        fuzz(generate, target)


# Each kind of crash the fuzzer found, now one table row that stays fixed.
HOSTILE_HOSTS = [
    ("ssh://example.com:99999", "invalid ssh address: "
     "ssh://example.com:99999: Port out of range 0-65535"),
    ("ssh://example.com:0", "invalid ssh address: ssh://example.com:0"),
    ("ssh://me:secret@example.com", "a password in the address is not "
     "supported"),
    ("ssh://example.com?x=1", "a query or fragment is not supported"),
    ("ssh://exa mple.com", "invalid ssh address"),
    ("tcp://exa\x00mple:2375", "invalid bind address format"),
    ("tcp://example.com\u2028:2375", "invalid bind address format"),
    ("tcp://example.com:2375/a b", "unexpected characters in the path"),
    ("tcp://example.com:2375/a?b", "unexpected characters in the path"),
    ("tcp://localhost:\u00b2", "invalid port '\u00b2'"),
    ("tcp://localhost:\u0663", "invalid port '\u0663'"),
    ("tcp://" + "a" * 64 + ".example:2375", "a host name label is empty"),
    ("tcp://a..example:2375", "a host name label is empty"),
    ("unix:///" + "s" * 120, "is too long"),
]

HOSTILE_HOST_IDS = [
    "ssh-port-too-big", "ssh-port-zero", "ssh-password", "ssh-query",
    "ssh-blank-in-host", "tcp-nul-in-host", "tcp-line-separator",
    "path-with-blank", "path-with-query", "superscript-digit-port",
    "arabic-digit-port", "label-too-long", "empty-label",
    "socket-path-too-long",
]

# (chunks as read, values decoded, error or None)
HOSTILE_STREAMS = [
    ([b"1", b"2 "], [12], None),
    ([b"8e", b"4\n"], [80000.0], None),
    ([b"-", b"7", b""], [-7], None),
    ([b'{"a": Infin', b"ity}"], [{"a": float("inf")}], None),
    ([b"[" * 5000 + b"]" * 5000], [], "nested too deeply"),
    ([b"1" * 5000 + b"\n"], [], "a number too long"),
    ([b'{"a": 1}', b' {"b": tru', b"e}", b"]"],
     [{"a": 1}, {"b": True}], "malformed JSON"),
]

HOSTILE_STREAM_IDS = [
    "number-split", "exponent-split", "sign-split", "literal-split",
    "nested-too-deep", "number-too-long", "values-then-garbage",
]

# (message, terminal, output or None, error or None)
HOSTILE_MESSAGES = [
    ({"id": ["a"], "status": "Waiting"}, False, b'["a"]: Waiting\n', None),
    ({"id": 7, "status": {"s": 1}}, False, b'7: {"s": 1}\n', None),
    ({"errorDetail": "text only"}, False, None, "text only"),
    ({"error": {"code": 1}}, False, None, '{"code": 1}'),
    ({"id": "b", "status": "Downloading", "progressDetail": {
        "current": 10 ** 400, "total": 1}}, False, b"", None),
    ({"id": "c", "status": "Downloading", "progressDetail": {
        "current": 0, "total": 10, "start": 1}}, True, None, None),
    ({"id": "d", "status": "Downloading", "progressDetail": {
        "current": float("nan"), "total": float("inf")}}, True, None,
     None),
    ({"id": "e", "status": "Extracting", "progressDetail": "half"}, True,
     None, None),
]

HOSTILE_MESSAGE_IDS = [
    "list-id", "number-id-object-status", "error-detail-text",
    "error-object", "huge-count", "zero-count-with-start", "nan-and-inf",
    "detail-not-object",
]

# config.json text -> the reason in the warning
HOSTILE_CONFIGS = [
    ("[" * 5000, "nested too deeply"),
    ("1" * 5000, "digits"),
    ('{"credHelpers": {"x.example": 5}}',
     "credHelpers['x.example'] must be a string"),
    ('{"HttpHeaders": {"X-A": {"b": 1}}}',
     "HttpHeaders['X-A'] must be a string"),
    ('{"auths": {"x.example": {"auth": 5}}}',
     "auths['x.example'].auth must be a string"),
    ('{"auths": {"x.example": {"username": ["a"]}}}',
     "auths['x.example'].username must be a string"),
    ('{"detachKeys": 5}', "'detachKeys' must be a string"),
    ('{"credsStore": {}}', "'credsStore' must be a string"),
]

HOSTILE_CONFIG_IDS = [
    "nested-too-deep", "number-too-long", "helper-not-string",
    "header-not-string", "auth-not-string", "username-not-string",
    "detach-keys-not-string", "creds-store-not-string",
]


class TestHostileInput:
    """The kinds of input that once crashed a parser, one row each."""

    @pytest.mark.parametrize("addr, message", HOSTILE_HOSTS,
                             ids=HOSTILE_HOST_IDS)
    def test_parse_host_rejects(self, addr, message):
        with pytest.raises(pydocker.ConfigError) as caught:
            pydocker.parse_host(addr)
        assert message in str(caught.value)

    @pytest.mark.parametrize("addr, expected", [
        ("tcp://example.com:2375//a//b/", "tcp://example.com:2375/a/b"),
        ("tcp://example.com:2375///", "tcp://example.com:2375"),
        ("ssh://me@[::1]:22/run/d.sock", "ssh://me@[::1]:22/run/d.sock"),
    ], ids=["slash-runs", "only-slashes", "ssh-ipv6"])
    def test_parse_host_normalises(self, addr, expected):
        assert pydocker.parse_host(addr) == expected

    def test_ssh_url_with_bad_port_fails_before_running_ssh(
            self, run_process):
        result = run_process("-H", "ssh://h:99999", "version")
        assert result.returncode == 1
        assert "invalid ssh address" in assert_one_clean_line(result.stderr)

    @pytest.mark.parametrize("chunks, values, error", HOSTILE_STREAMS,
                             ids=HOSTILE_STREAM_IDS)
    def test_json_messages(self, chunks, values, error):
        decoded, raised = decode_stream(chunks)
        assert decoded == values
        if error is None:
            assert raised is None
        else:
            assert error in raised

    def test_json_messages_memory_stays_bounded(self):
        class Endless:
            """A message that never ends: 64 MB of one string."""
            sent = 0

            def read1(self, size):
                self.sent += size
                if self.sent > 64 << 20:
                    return b""
                return (b'{"status": "' if self.sent == size
                        else b"a" * size)

        tracemalloc.start()
        try:
            with pytest.raises(pydocker.StreamError) as caught:
                for _ in pydocker.json_messages(Endless()):
                    pass
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "longer than" in str(caught.value)
        assert peak < 3 * pydocker.MAX_JSON_MESSAGE

    @pytest.mark.parametrize("message, terminal, output, error",
                             HOSTILE_MESSAGES, ids=HOSTILE_MESSAGE_IDS)
    def test_progress_renderer(self, message, terminal, output, error):
        out = io.BytesIO()
        renderer = pydocker.ProgressRenderer(out, terminal, width=200)
        if error is not None:
            with pytest.raises(pydocker.StreamError) as caught:
                renderer.show(message)
            assert str(caught.value) == error
            return
        renderer.show(message)
        if output is not None:
            assert out.getvalue() == output
        else:
            assert message["status"].encode() in out.getvalue()

    @pytest.mark.parametrize("text, reason", HOSTILE_CONFIGS,
                             ids=HOSTILE_CONFIG_IDS)
    def test_config_refused_with_reason(self, tmp_path, home, text,
                                        reason):
        write_config(tmp_path / "cfg", text)
        config = load_config(tmp_path / "cfg")
        assert config.broken
        assert reason in config.warning
        assert config.resolve_auth("x.example") == {}
        with pytest.raises(pydocker.ConfigError):
            config.store_auth("x.example", "u", "p")

    def test_legacy_dockercfg_bad_auth_names_its_file(self, tmp_path,
                                                      home):
        (home / ".dockercfg").write_text(json.dumps(
            {"x.example": {"auth": "bad!!", "email": ""}}))
        config = load_config(tmp_path / "cfg")
        with pytest.raises(pydocker.ConfigError) as caught:
            config.resolve_auth("x.example")
        assert str(caught.value).endswith("in ~/.dockercfg")

    @pytest.mark.parametrize("text", ["bb:t\u00e1g", "bb:\u0663",
                                      "bb:\u00b2"],
                             ids=["accented-tag", "arabic-digit-tag",
                                  "superscript-tag"])
    def test_tag_is_ascii_only(self, text):
        with pytest.raises(pydocker.InvalidReference):
            pydocker.parse_reference(text)

    def test_legacy_dockercfg_nested_too_deeply_is_ignored(self, tmp_path,
                                                           home):
        (home / ".dockercfg").write_text("[" * 5000)
        config = load_config(tmp_path / "cfg")
        assert config.resolve_auth(HUB_KEY) == {}
        assert "is not valid" in config.warning

    @pytest.mark.parametrize("text", [
        "9223372036854775808", "-9223372036854775809", "0x8000000000000000",
        "9" * 5000,
    ], ids=["int64-max-plus-1", "int64-min-minus-1", "hex-too-big",
            "too-many-digits"])
    def test_int_flag_out_of_int64_range(self, text):
        flags, values = command_flags()
        with pytest.raises(pydocker.FlagError) as caught:
            flags.parse(["-n", text])
        assert str(caught.value).startswith(
            'invalid argument "' + text[:20])
        assert values["last"].value == -1


# =========================================================================
# Fixtures: a fake engine that replays scripted bytes
# =========================================================================

PYDOCKER_SCRIPT = os.path.abspath(pydocker.__file__)
SUBPROCESS_TIMEOUT = 60
# Long enough for each send to reach the client as a read of its own.
CHUNK_PAUSE = 0.02
REGISTRY = "127.0.0.1:5000"


class _Marker:
    """A scripted action that is not bytes: close or stall."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


# Close the connection at once, without (the rest of) an answer.
CLOSE = _Marker("CLOSE")
# Keep the connection open, answering nothing, until the fake stops.
STALL = _Marker("STALL")


class FakeRequest:
    """One request as the fake engine read it."""

    def __init__(self, method, target, headers, body, connection):
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.connection = connection
        path, _, self.query = target.partition("?")
        match = re.match(r"/v(\d+\.\d+)(/.*)", path)
        self.version = match.group(1) if match else None
        self.path = path
        self.route = match.group(2) if match else path

    def header(self, name):
        """Return a header's value (any case of ``name``), or None."""
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.method} {self.target}>"


def http_response(status, body=b"", headers=(), reason="Status"):
    """Return a whole HTTP/1.1 answer with a Content-Length."""
    if isinstance(body, str):
        body = body.encode()
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in dict(headers).items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def json_response(status, value, headers=()):
    """Return a whole HTTP answer whose body is ``value`` as JSON."""
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers)
    return http_response(status, json.dumps(value) + "\n", all_headers)


def chunked_stream(pieces, status=200, end=True):
    """Return an answer in chunked encoding, one HTTP chunk per piece.

    With ``end`` false the final empty chunk is left out, so the caller
    can add CLOSE to cut the stream short.
    """
    head = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    parts = [head]
    parts += [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces]
    if end:
        parts.append(b"0\r\n\r\n")
    return parts


def raw_stream(pieces, status=200):
    """Return an answer whose body ends when the connection closes."""
    head = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
            "Connection: close\r\n\r\n").encode()
    return [head] + list(pieces)


def split_every(data, size):
    """Return ``data`` cut into pieces of ``size`` bytes."""
    return [data[i:i + size] for i in range(0, len(data), size)]


def _keeps_alive(data):
    """Tell whether an answer leaves its connection usable for the next."""
    head = data.partition(b"\r\n\r\n")[0].lower()
    if b"connection: close" in head:
        return False
    return b"content-length:" in head or b"transfer-encoding: chunked" in head


class FakeDaemon:
    """A threaded HTTP server that answers from scripts, for faults.

    ``on(method, route, *answers)`` queues answers for requests whose path,
    without the ``/vX.Y`` prefix and the query, is ``route``.  An answer is
    bytes (sent at once), a list of bytes, CLOSE and STALL (sent one by one
    with a pause, so that the client reads them apart), or a callable given
    the socket and the request (the connection closes when it returns).
    ``HEAD``/``GET /_ping`` are answered with ``Api-Version: api_version``
    (none when it is None) unless scripted.  Every request is recorded in
    ``requests``.

    Args:
        path: the unix socket to listen on; None listens on TCP 127.0.0.1.
        api_version: what the default ping answer says.
        tls: an ``ssl.SSLContext`` to serve TLS with.  A plain HTTP request
            then gets Go's ``400 Bad Request`` answer, as dockerd gives,
            unless ``answer_plain_http`` is set false: then the failed
            handshake simply ends the connection, as Python's ssl does.
    """

    def __init__(self, path=None, api_version="1.41", tls=None):
        self.api_version = api_version
        self.tls = tls
        self.answer_plain_http = True
        self.requests = []
        self.connections = 0
        self.scripts = {}
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if path is None:
            self.listener = socket.socket()
            self.listener.bind(("127.0.0.1", 0))
            self.port = self.listener.getsockname()[1]
            self.host = f"tcp://127.0.0.1:{self.port}"
        else:
            self.listener = socket.socket(socket.AF_UNIX)
            self.listener.bind(path)
            self.port = None
            self.host = "unix://" + path
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def on(self, method, route, *answers):
        """Queue ``answers`` for the next requests to ``method route``."""
        with self._lock:
            self.scripts.setdefault((method, route), []).extend(answers)
        return self

    def routes(self, method=None):
        """Return the routes of the recorded requests, ping excluded."""
        return [r.route for r in self.requests if r.route != "/_ping"
                and (method is None or r.method == method)]

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self.listener.close()

    # Serving ---------------------------------------------------------------

    def _accept(self):
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(connection, number),
                             daemon=True).start()

    def _serve(self, connection, number):
        try:
            connection.settimeout(None)
            if self.tls is not None:
                secure = self._start_tls(connection)
                if secure is None:
                    return
                connection = secure
            reader = connection.makefile("rb")
            while not self._stop.is_set():
                request = self._read_request(reader, connection, number)
                if request is None:
                    return
                if not self._answer(connection, request):
                    return
        except OSError:
            pass
        except Exception as error:  # noqa: BLE001 - shown by the test
            self.errors.append(error)
        finally:
            connection.close()

    def _start_tls(self, connection):
        first = connection.recv(5, socket.MSG_PEEK)
        if self.answer_plain_http and first in (
                b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO"):
            # Go's net/http on a TLS port, given plain HTTP.
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(4096) or b"\r\n\r\n"
            connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nClient "
                               b"sent an HTTP request to an HTTPS server.\n")
            connection.close()
            return None
        try:
            return self.tls.wrap_socket(connection, server_side=True)
        except (ssl.SSLError, OSError):
            connection.close()
            return None

    def _read_request(self, reader, connection, number):
        line = reader.readline()
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            # Not HTTP (a TLS hello, say): answer as Go's server does.
            self.requests.append(FakeRequest("?", "?", {}, line, number))
            connection.sendall(http_response(
                400, "400 Bad Request", {"Connection": "close"},
                "Bad Request"))
            return None
        headers = {}
        while True:
            header = reader.readline().decode("latin-1")
            if header in ("\r\n", "\n", ""):
                break
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(reader.readline().split(b";")[0], 16)
                data = reader.read(size + 2)[:size]
                if not size:
                    break
                body += data
        elif headers.get("content-length"):
            body = reader.read(int(headers["content-length"]))
        request = FakeRequest(parts[0], parts[1], headers, body, number)
        self.requests.append(request)
        return request

    def _next_answer(self, request):
        with self._lock:
            queue = self.scripts.get((request.method, request.route))
            if queue:
                return queue.pop(0)
        if request.route == "/_ping" and queue is None:
            headers = {"Api-Version": self.api_version} \
                if self.api_version else {}
            body = b"" if request.method == "HEAD" else b"OK"
            return http_response(200, body, headers, "OK")
        return json_response(500, {"message": "fake daemon: nothing "
                                   f"scripted for {request!r}"})

    def _answer(self, connection, request):
        """Send one answer; return whether the connection stays open."""
        answer = self._next_answer(request)
        if callable(answer):
            answer(connection, request)
            return False
        parts = answer if isinstance(answer, list) else [answer]
        sent = b""
        for index, part in enumerate(parts):
            if part is CLOSE:
                return False
            if part is STALL:
                self._stop.wait()
                return False
            if index:
                time.sleep(CHUNK_PAUSE)
            connection.sendall(part)
            sent += part
        close = request.header("connection") == "close"
        return not close and _keeps_alive(sent)


@pytest.fixture
def fake_daemon(tmp_path):
    """A fake engine on a unix socket in tmp_path (see FakeDaemon)."""
    daemon = FakeDaemon(str(tmp_path / "docker.sock"))
    yield daemon
    daemon.stop()
    assert not daemon.errors


@pytest.fixture
def fake_tcp_daemon():
    """A fake engine on a TCP port of 127.0.0.1."""
    daemon = FakeDaemon()
    yield daemon
    daemon.stop()
    assert not daemon.errors


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A throwaway self-signed certificate for 127.0.0.1: (cert, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
         cert, "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=SUBPROCESS_TIMEOUT)
    return cert, key


@pytest.fixture
def fake_tls_daemon(tls_files):
    """A fake engine serving TLS on a TCP port of 127.0.0.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    daemon = FakeDaemon(tls=context)
    yield daemon
    daemon.stop()
    assert not daemon.errors


@pytest.fixture
def run_cli(tmp_path, fake_daemon):
    """Run one command through DockerCli over in-memory streams.

    ``run_cli(name, *args, host=..., stdin=b"", version=None, timeout=60)``
    returns ``(code, stdout bytes, stderr bytes)``; the host defaults to
    the fake_daemon's.
    """
    def run(name, *args, host=None, stdin=b"", version=None, timeout=60):
        client = pydocker.Client(host or fake_daemon.host, version=version,
                                 timeout=timeout)
        stdout, stderr = io.BytesIO(), io.BytesIO()
        cli = pydocker.DockerCli(
            client=client, stdin=io.BytesIO(stdin), stdout=stdout,
            stderr=stderr,
            config=pydocker.ConfigFile.load(str(tmp_path / "cfg")))
        code = cli.cmd(name, *args)
        return code, stdout.getvalue(), stderr.getvalue()
    return run


@pytest.fixture
def run_process(tmp_path):
    """Run ``python3 pydocker.py ARGS`` with a clean environment.

    ``run_process(*args, stdin=b"", env=None)``: ``env`` adds variables.
    Returns the CompletedProcess (stdout and stderr as text).
    """
    base_env = {key: value for key, value in os.environ.items()
                if not key.startswith("DOCKER_")}
    base_env["HOME"] = str(tmp_path)
    base_env["DOCKER_CONFIG"] = str(tmp_path / "cfg")

    def run(*args, stdin=b"", env=None):
        result = subprocess.run(
            [sys.executable, PYDOCKER_SCRIPT] + list(args), input=stdin,
            capture_output=True, env=dict(base_env, **(env or {})),
            timeout=SUBPROCESS_TIMEOUT)
        result.stdout = result.stdout.decode("utf-8", "replace")
        result.stderr = result.stderr.decode("utf-8", "replace")
        return result
    return run


def closed_stream_env(tmp_path, **extra):
    """Return a clean environment for pydocker run by hand, plus extra."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("DOCKER_")}
    env.update(HOME=str(tmp_path), DOCKER_CONFIG=str(tmp_path / "cfg"))
    env.update(extra)
    return env


def write_cli_config(tmp_path, data):
    """Write config.json into the folder run_cli and run_process use."""
    write_config(tmp_path / "cfg", data)


def assert_one_clean_line(stderr):
    """Check that an error came out as one line and no traceback."""
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    assert "Traceback" not in text
    assert len(text.splitlines()) == 1, text
    # DockerCli.cmd's last resort names the Python exception: a fault the
    # code did not foresee, shown to the user in Python's words.
    assert not re.match(r"error: [A-Z]\w+: ", text), text
    return text.strip()


def messages_bytes(messages, separator=b"\r\n"):
    """Return JSON messages as the engine streams them."""
    return separator.join(json.dumps(m).encode() for m in messages) \
        + separator


# =========================================================================
# TestFakeDaemonPull: progress streams, stream errors, credentials
# =========================================================================

DIGEST = "sha256:" + "ab" * 32
PULL_MESSAGES = [
    {"status": "Pulling from x", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "0a1b2c"},
    {"status": "Downloading", "progressDetail": {"current": 512,
     "total": 2048}, "progress": "[=====>   ]     512B/2.048kB",
     "id": "0a1b2c"},
    {"status": "Verifying Checksum", "progressDetail": {}, "id": "0a1b2c"},
    {"status": "Download complete", "progressDetail": {}, "id": "0a1b2c"},
    {"status": "Extracting", "progressDetail": {"current": 2048,
     "total": 2048}, "progress": "[=========>] 2.048kB/2.048kB",
     "id": "0a1b2c"},
    {"status": "Pull complete", "progressDetail": {}, "id": "0a1b2c"},
    {"status": "Digest: " + DIGEST},
    {"status": f"Status: Downloaded newer image for {REGISTRY}/x:latest"},
]
PULL_OUTPUT = [
    "Using default tag: latest",
    "latest: Pulling from x",
    "0a1b2c: Pulling fs layer",
    "0a1b2c: Verifying Checksum",
    "0a1b2c: Download complete",
    "0a1b2c: Pull complete",
    "Digest: " + DIGEST,
    f"Status: Downloaded newer image for {REGISTRY}/x:latest",
    f"{REGISTRY}/x:latest",
]
PULL_BYTES = messages_bytes(PULL_MESSAGES)
PULL_PACKED = messages_bytes(PULL_MESSAGES, b"")
# Where the first message ends and the second one's "status" value starts.
_SECOND_STATUS = PULL_BYTES.index(b'"Pulling fs') + 4
# Inside the \u escape that JSON gives the é of the second message.
_ESCAPED = messages_bytes([{"status": "Pulling from x", "id": "latest"},
                           {"status": "T\u00e9l\u00e9charg\u00e9"}])


def _utf8_pieces():
    """Messages with raw multi-byte UTF-8, cut inside the characters."""
    data = messages_bytes([{"status": "Pulling from x", "id": "latest"},
                           {"status": "T\u00e9l\u00e9charg\u00e9 \u2713"}])
    data = data.replace(b"\\u00e9", "\u00e9".encode()).replace(
        b"\\u2713", "\u2713".encode())
    cut1 = data.index("\u00e9".encode()) + 1
    cut2 = data.index("\u2713".encode()) + 2
    return [data[:cut1], data[cut1:cut2], data[cut2:]]


PULL_STREAMS = [
    ("one-message-per-chunk", chunked_stream(
        [m + b"\r\n" for m in PULL_BYTES.split(b"\r\n") if m])),
    ("split-mid-object", chunked_stream(split_every(PULL_BYTES, 7))),
    ("split-inside-string", chunked_stream(
        [PULL_BYTES[:_SECOND_STATUS], PULL_BYTES[_SECOND_STATUS:]])),
    ("packed-without-separators", chunked_stream([PULL_PACKED])),
    ("packed-and-split", chunked_stream(split_every(PULL_PACKED, 300))),
    ("close-delimited-split", raw_stream(split_every(PULL_BYTES, 50))),
]


class TestFakeDaemonPull:

    @pytest.mark.parametrize("answer", [s for _, s in PULL_STREAMS],
                             ids=[name for name, _ in PULL_STREAMS])
    def test_pull_renders_plain_progress_however_the_stream_is_cut(
            self, fake_daemon, run_cli, answer):
        fake_daemon.on("POST", "/images/create", answer)
        code, out, err = run_cli("pull", REGISTRY + "/x")
        assert (code, err) == (0, b"")
        assert out.decode().splitlines() == PULL_OUTPUT
        assert b"\r" not in out and b"\x1b" not in out

    def test_pull_sends_image_and_tag_as_query(self, fake_daemon, run_cli):
        fake_daemon.on("POST", "/images/create", chunked_stream([PULL_BYTES]))
        run_cli("pull", REGISTRY + "/x:1.0")
        request = fake_daemon.requests[-1]
        assert request.route == "/images/create"
        query = dict(pair.split("=") for pair in request.query.split("&"))
        assert query == {"fromImage": "127.0.0.1%3A5000%2Fx", "tag": "1.0"}

    @pytest.mark.parametrize("pieces", [
        _utf8_pieces(),
        [_ESCAPED[:_ESCAPED.index(b"\\u00e9") + 3],
         _ESCAPED[_ESCAPED.index(b"\\u00e9") + 3:]],
    ], ids=["raw-utf8-split-inside-characters", "split-inside-u-escape"])
    def test_pull_decodes_text_split_inside_a_character(
            self, fake_daemon, run_cli, pieces):
        fake_daemon.on("POST", "/images/create", chunked_stream(pieces))
        code, out, err = run_cli("pull", REGISTRY + "/x:latest")
        assert (code, err) == (0, b"")
        lines = out.decode("utf-8").splitlines()
        assert lines[0] == "latest: Pulling from x"
        assert lines[1].startswith("T\u00e9l\u00e9charg\u00e9")
        assert "\ufffd" not in out.decode("utf-8")
        assert lines[-1] == REGISTRY + "/x:latest"

    def test_pull_quiet_prints_only_the_reference(self, fake_daemon,
                                                  run_cli):
        fake_daemon.on("POST", "/images/create", chunked_stream([PULL_BYTES]))
        code, out, err = run_cli("pull", "-q", REGISTRY + "/x")
        assert (code, out, err) == (0, b"%s/x:latest\n" % REGISTRY.encode(),
                                    b"")

    def test_pull_stream_error_exits_1_with_engine_message(
            self, fake_daemon, run_cli):
        error = "write /var/lib/docker/tmp/x: no space left on device"
        fake_daemon.on("POST", "/images/create", chunked_stream([
            messages_bytes(PULL_MESSAGES[:2]),
            messages_bytes([{"errorDetail": {"message": error},
                             "error": error}])]))
        code, out, err = run_cli("pull", REGISTRY + "/x")
        assert code == 1
        assert assert_one_clean_line(err) == error
        assert out.decode().splitlines() == PULL_OUTPUT[:3]

    @pytest.mark.parametrize("body", [
        b'{"status":"a"}\r\n{"status": nope}\r\n' + PULL_BYTES,
        b'{"status":"a"}\r\n{"status": nope}\r\n',
        b'{"status":"a"}\r\n<html>oops</html>\r\n',
    ], ids=["garbage-then-more", "garbage-last", "html-last"])
    def test_pull_malformed_json_is_one_clear_line(self, fake_daemon,
                                                   run_cli, body):
        fake_daemon.on("POST", "/images/create", chunked_stream([body]))
        code, out, err = run_cli("pull", REGISTRY + "/x:latest")
        assert code == 1
        line = assert_one_clean_line(err)
        assert "malformed JSON" in line
        assert REGISTRY + "/x:latest" not in out.decode()

    @pytest.mark.parametrize("answer", [
        chunked_stream([PULL_BYTES[:60]], end=False) + [CLOSE],
        chunked_stream([PULL_BYTES[:60]]),
        raw_stream([PULL_BYTES[:60]]),
    ], ids=["chunked-connection-lost", "chunked-ends-in-message",
            "close-delimited-ends-in-message"])
    def test_pull_stream_cut_short_is_one_clear_line(self, fake_daemon,
                                                     run_cli, answer):
        fake_daemon.on("POST", "/images/create", answer)
        code, out, err = run_cli("pull", REGISTRY + "/x:latest")
        assert code == 1
        line = assert_one_clean_line(err)
        assert "IncompleteRead" not in line
        assert re.search(r"ended|lost|cut|incomplete", line), line
        assert REGISTRY + "/x:latest" not in out.decode()

    @pytest.mark.parametrize("answer", [
        json_response(500, {"message": f'Head "https://{REGISTRY}/v2/x/'
                            'manifests/latest": no basic auth '
                            'credentials'}),
        json_response(401, {"message": "unauthorized: authentication "
                            "required"}),
        chunked_stream([messages_bytes([
            {"status": "Pulling from x", "id": "latest"},
            {"errorDetail": {"message": "unauthorized: authentication "
                             "required"},
             "error": "unauthorized: authentication required"}])]),
    ], ids=["500-no-basic-auth", "401", "in-stream-unauthorized"])
    def test_pull_auth_failure_off_terminal_hints_login_without_retry(
            self, fake_daemon, run_cli, answer):
        fake_daemon.on("POST", "/images/create", answer)
        code, out, err = run_cli("pull", REGISTRY + "/x:latest")
        assert code == 1
        lines = err.decode().splitlines()
        assert len(lines) == 2, lines
        assert re.search("no basic auth credentials|authentication "
                         "required", lines[0])
        assert f"pydocker login {REGISTRY}" in lines[1]
        assert "Please login" not in out.decode()
        assert fake_daemon.routes("POST") == ["/images/create"]

    def test_pull_engine_error_status_is_prefixed_once(self, fake_daemon,
                                                       run_cli):
        fake_daemon.on("POST", "/images/create", json_response(
            404, {"message": f"manifest for {REGISTRY}/x:nope not found: "
                  "manifest unknown"}))
        code, out, err = run_cli("pull", REGISTRY + "/x:nope")
        assert code == 1
        assert assert_one_clean_line(err) == (
            "Error response from daemon: manifest for "
            f"{REGISTRY}/x:nope not found: manifest unknown")

    def test_pull_anonymous_sends_empty_registry_auth(self, fake_daemon,
                                                      run_cli):
        fake_daemon.on("POST", "/images/create", chunked_stream([PULL_BYTES]))
        assert run_cli("pull", REGISTRY + "/x")[0] == 0
        header = fake_daemon.requests[-1].header("X-Registry-Auth")
        assert json.loads(base64.urlsafe_b64decode(header)) == {}

    def test_pull_registry_auth_is_url_safe_base64_of_stored_login(
            self, tmp_path, fake_daemon, run_cli):
        # Runs of "?" and ">" give "/" and "+" in standard base64 at any
        # alignment, so only the URL-safe alphabet avoids both.
        password = "p:w??????>>>>>>"
        write_cli_config(tmp_path, {"auths": {REGISTRY: {"auth": base64
                     .b64encode(("u:" + password).encode()).decode()}}})
        fake_daemon.on("POST", "/images/create", chunked_stream([PULL_BYTES]))
        assert run_cli("pull", REGISTRY + "/x")[0] == 0
        header = fake_daemon.requests[-1].header("X-Registry-Auth")
        assert "+" not in header and "/" not in header
        assert re.fullmatch(r"[A-Za-z0-9_-]*=*", header)
        assert len(header) % 4 == 0
        auth = json.loads(base64.urlsafe_b64decode(header))
        assert auth == {"username": "u", "password": password,
                        "serveraddress": REGISTRY}

    def test_pull_feature_gate_names_version_without_engine_prefix(
            self, fake_daemon, run_cli):
        fake_daemon.api_version = "1.30"
        code, out, err = run_cli("pull", "--platform", "linux/amd64",
                                 REGISTRY + "/x:latest")
        assert code == 1
        line = assert_one_clean_line(err)
        assert "1.32" in line and "1.30" in line
        # Not the engine's words: SPEC §8 keeps that prefix for engine
        # errors only.
        assert not line.startswith("Error response from daemon")
        assert fake_daemon.routes() == []


# =========================================================================
# TestFakeDaemonStreams: frames cut anywhere, odd upgrades, failed starts
# =========================================================================

UPGRADED = (b"HTTP/1.1 101 UPGRADED\r\n"
            b"Content-Type: application/vnd.docker.raw-stream\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")


def inspected(tty=False, running=True, open_stdin=False):
    """Return the engine's answer to inspecting container ``c1``."""
    return json_response(200, {
        "Id": "c1", "State": {"Running": running, "Paused": False},
        "Config": {"Tty": tty, "OpenStdin": open_stdin},
        "HostConfig": {"AutoRemove": False}})


class _HeldOpen:
    """A scripted answer that sends ``head`` and then holds the
    connection until the client closes it, noting that it did."""

    def __init__(self, head):
        self.head = head
        self.closed = threading.Event()

    def __call__(self, connection, request):
        connection.sendall(self.head)
        while connection.recv(65536):
            pass
        self.closed.set()


class TestFakeDaemonStreams:
    """What an engine will not do on demand, for logs, attach and run."""

    def test_logs_frames_split_across_reads(self, fake_daemon, run_cli):
        data = (frame(1, b"first line\n") + frame(2, b"warning\n")
                + frame(1, b"") + frame(1, ODD_BYTES))
        fake_daemon.on("GET", "/containers/c1/json", inspected())
        fake_daemon.on("GET", "/containers/c1/logs",
                       chunked_stream(split_every(data, 3)))
        code, out, err = run_cli("logs", "c1")
        assert (code, out, err) == (0, b"first line\n" + ODD_BYTES,
                                    b"warning\n")
        query = fake_daemon.requests[-1].query
        assert "stdout=1" in query and "stderr=1" in query

    def test_logs_of_tty_container_are_not_demultiplexed(self, fake_daemon,
                                                         run_cli):
        data = frame(2, b"raw bytes that look framed")
        fake_daemon.on("GET", "/containers/c1/json", inspected(tty=True))
        fake_daemon.on("GET", "/containers/c1/logs",
                       raw_stream(split_every(data, 5)))
        code, out, err = run_cli("logs", "c1")
        assert (code, out, err) == (0, data, b"")

    def test_logs_cut_mid_frame_keeps_output_and_says_so(self, fake_daemon,
                                                         run_cli):
        fake_daemon.on("GET", "/containers/c1/json", inspected())
        fake_daemon.on("GET", "/containers/c1/logs", raw_stream(
            [frame(1, b"whole\n"), frame(1, b"half of it")[:-4]]))
        code, out, err = run_cli("logs", "c1")
        assert code == 1
        # Frames are passed on as they arrive (memory stays flat), so the
        # part of the cut frame that came is shown too.
        assert out == b"whole\nhalf o"
        assert "ended in the middle of a frame" in assert_one_clean_line(err)

    def test_logs_error_frame_is_one_line(self, fake_daemon, run_cli):
        fake_daemon.on("GET", "/containers/c1/json", inspected())
        fake_daemon.on("GET", "/containers/c1/logs", raw_stream(
            [frame(1, b"out\n") + frame(3, b"log file is corrupt\n")]))
        code, out, err = run_cli("logs", "c1")
        assert (code, out, err) == (1, b"out\n", b"log file is corrupt\n")

    def test_logs_sends_tail_since_until_and_follow(self, fake_daemon,
                                                    run_cli):
        fake_daemon.on("GET", "/containers/c1/json", inspected())
        fake_daemon.on("GET", "/containers/c1/logs", raw_stream([]))
        code, _, err = run_cli("logs", "-f", "-t", "--tail", "5",
                               "--since", "1700000000", "--until",
                               "2024-01-02T03:04:05Z", "c1")
        assert code == 0, err
        (logs,) = [request for request in fake_daemon.requests
                   if request.route == "/containers/c1/logs"]
        query = logs.query.split("&")
        for pair in ("follow=1", "timestamps=1", "tail=5",
                     "since=1700000000",
                     "until=1704164645.000000000"):
            assert pair in query

    def test_logs_bad_since_is_one_line(self, run_cli):
        code, _, err = run_cli("logs", "--since", "yesterday", "c1")
        assert code == 1
        assert err == b'failed to parse value as time or duration: ' \
                      b'"yesterday"\n'

    def test_attach_upgrade_split_from_its_first_frame(self, fake_daemon,
                                                       run_cli):
        fake_daemon.on("GET", "/containers/c1/json", inspected())
        fake_daemon.on("POST", "/containers/c1/wait",
                       json_response(200, {"StatusCode": 4}))
        # The headers and the first bytes of the stream in one send: what
        # http.client buffered with the headers belongs to the stream.
        stream = frame(1, b"buffered with headers\n") + frame(2, b"e\n")
        fake_daemon.on("POST", "/containers/c1/attach",
                       [UPGRADED + stream[:5]] + split_every(stream[5:], 4))
        code, out, err = run_cli("attach", "c1")
        assert (code, out, err) == (4, b"buffered with headers\n", b"e\n")
        attach = [r for r in fake_daemon.requests
                  if r.route == "/containers/c1/attach"][0]
        assert attach.header("Upgrade") == "tcp"
        assert attach.header("Connection") == "Upgrade"

    def test_attach_engine_answering_200_still_streams(self, fake_daemon,
                                                       run_cli):
        fake_daemon.on("GET", "/containers/c1/json", inspected())
        fake_daemon.on("POST", "/containers/c1/wait",
                       json_response(200, {"StatusCode": 0}))
        fake_daemon.on("POST", "/containers/c1/attach", raw_stream(
            [frame(1, b"no upgrade\n")]))
        code, out, err = run_cli("attach", "c1")
        assert (code, out, err) == (0, b"no upgrade\n", b"")

    def test_attach_refused_is_engine_error(self, fake_daemon, run_cli):
        fake_daemon.on("GET", "/containers/c1/json", inspected())
        fake_daemon.on("POST", "/containers/c1/wait",
                       json_response(200, {"StatusCode": 0}))
        fake_daemon.on("POST", "/containers/c1/attach", json_response(
            409, {"message": "container c1 is restarting"}))
        code, out, err = run_cli("attach", "c1")
        assert code == 1
        assert err == (b"Error response from daemon: container c1 is "
                       b"restarting\n")

    def test_attach_stopped_container_is_refused(self, fake_daemon,
                                                 run_cli):
        fake_daemon.on("GET", "/containers/c1/json",
                       inspected(running=False))
        code, _, err = run_cli("attach", "c1")
        assert (code, err) == (1, b"You cannot attach to a stopped "
                               b"container, start it first\n")
        assert fake_daemon.routes("POST") == []

    @pytest.mark.parametrize("message, code", [
        ('OCI runtime create failed: exec: "nosuch": executable file not '
         'found in $PATH: unknown', 127),
        ('OCI runtime create failed: exec: "/etc": permission denied', 126),
        ("cgroups: cannot find cgroup mount destination", 125),
    ], ids=["not-found", "permission", "other"])
    def test_run_start_failing_after_create(self, fake_daemon, run_cli,
                                            message, code):
        attach = _HeldOpen(UPGRADED)
        wait = _HeldOpen(b"HTTP/1.1 200 OK\r\nContent-Type: "
                         b"application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
        fake_daemon.on("POST", "/containers/create",
                       json_response(201, {"Id": "abc", "Warnings": []}))
        fake_daemon.on("POST", "/containers/abc/wait", wait)
        fake_daemon.on("POST", "/containers/abc/attach", attach)
        fake_daemon.on("POST", "/containers/abc/start",
                       json_response(400, {"message": message}))
        status, out, err = run_cli("run", "--rm", "busybox", "nosuch")
        assert status == code
        assert err.decode() == f"Error response from daemon: {message}\n"
        # The stream and the wait were closed, and nothing more was sent.
        assert attach.closed.wait(5) and wait.closed.wait(5)
        assert fake_daemon.routes()[-1] == "/containers/abc/start"
        created = json.loads(fake_daemon.requests[1].body)
        assert created["HostConfig"]["AutoRemove"] is True
        assert "condition=removed" in [
            r for r in fake_daemon.requests
            if r.route == "/containers/abc/wait"][0].query

    def test_run_create_failure_exits_125(self, fake_daemon, run_cli):
        fake_daemon.on("POST", "/containers/create", json_response(
            409, {"message": 'Conflict. The container name "/x" is already '
                  'in use'}))
        code, _, err = run_cli("run", "--name", "x", "busybox")
        assert code == 125
        assert err.startswith(b"Error response from daemon: Conflict.")

    def test_run_ctrl_c_while_pulling_exits_130_and_sends_nothing_more(
            self, fake_daemon, tmp_path):
        pull = _HeldOpen(chunked_stream([messages_bytes([
            {"status": "Pulling from library/busybox", "id": "latest"}])],
            end=False)[0] + b"%x\r\n%s\r\n" % (
            len(b'{"status":"Waiting","id":"a1"}\r\n'),
            b'{"status":"Waiting","id":"a1"}\r\n'))
        fake_daemon.on("POST", "/containers/create", json_response(
            404, {"message": "No such image: busybox:latest"}))
        fake_daemon.on("POST", "/images/create", pull)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("DOCKER_")}
        env.update(DOCKER_HOST=fake_daemon.host,
                   DOCKER_CONFIG=str(tmp_path / "cfg"))
        process = subprocess.Popen(
            [PYTHON, PYDOCKER, "run", "--rm", "busybox", "true"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            # Ctrl-C once the pull's progress has reached the client.
            seen = b""
            while b"Waiting" not in seen:
                line = process.stderr.readline()
                assert line, seen
                seen += line
            process.send_signal(signal.SIGINT)
            _, rest = process.communicate(timeout=SUBPROCESS_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 130
        assert b"Unable to find image 'busybox:latest' locally" in seen
        assert b"Traceback" not in seen + rest
        assert pull.closed.wait(5)
        assert fake_daemon.routes() == ["/containers/create",
                                        "/images/create"]


# =========================================================================
# TestFakeDaemonVersions: negotiation, pinning, refusal
# =========================================================================

class TestFakeDaemonVersions:

    @pytest.mark.parametrize("engine, used", [
        ("1.47", "1.41"), ("1.41", "1.41"), ("1.30", "1.30"),
        ("1.24", "1.24"), (None, "1.24"),
    ], ids=["newer-engine", "same", "older-engine", "oldest", "no-header"])
    def test_negotiation_uses_lower_of_max_and_engine(
            self, fake_daemon, run_cli, engine, used):
        fake_daemon.api_version = engine
        fake_daemon.on("GET", "/images/json", json_response(200, []))
        code, out, err = run_cli("images")
        assert (code, err) == (0, b"")
        assert [r.method for r in fake_daemon.requests] == ["HEAD", "GET"]
        assert fake_daemon.requests[-1].path == f"/v{used}/images/json"

    def test_negotiation_pings_once_per_client(self, fake_daemon, run_cli):
        for image in ("a", "b"):
            fake_daemon.on("DELETE", "/images/" + image,
                           json_response(200, [{"Untagged": image}]))
        assert run_cli("rmi", "a", "b")[0] == 0
        pings = [r for r in fake_daemon.requests if r.route == "/_ping"]
        assert len(pings) == 1
        assert fake_daemon.connections == 1

    @pytest.mark.parametrize("status", [404, 405])
    def test_ping_falls_back_to_get_when_head_refused(
            self, fake_daemon, run_cli, status):
        fake_daemon.on("HEAD", "/_ping", json_response(status, {
            "message": "page not found"}))
        fake_daemon.on("GET", "/_ping", http_response(
            200, "OK", {"Api-Version": "1.35"}))
        fake_daemon.on("GET", "/images/json", json_response(200, []))
        assert run_cli("images")[0] == 0
        assert [(r.method, r.path) for r in fake_daemon.requests] == [
            ("HEAD", "/_ping"), ("GET", "/_ping"),
            ("GET", "/v1.35/images/json")]

    def test_version_shows_downgrade_from_max(self, fake_daemon, run_cli):
        fake_daemon.api_version = "1.30"
        fake_daemon.on("GET", "/version", json_response(200, {
            "Version": "17.06.0", "ApiVersion": "1.30",
            "MinAPIVersion": "1.12", "Os": "linux", "Arch": "amd64"}))
        code, out, err = run_cli("version")
        assert (code, err) == (0, b"")
        maximum = re.escape(pydocker.MAX_API_VERSION)
        assert re.search(rf"API version:\s+1\.30 \(downgraded from "
                         rf"{maximum}\)", out.decode())
        assert fake_daemon.requests[-1].path == "/v1.30/version"

    def test_engine_too_old_is_refused_naming_1_24(self, fake_daemon,
                                                   run_cli):
        fake_daemon.api_version = "1.12"
        code, out, err = run_cli("images")
        assert code == 1
        line = assert_one_clean_line(err)
        assert "1.24" in line and "1.12" in line
        # pydocker's own refusal, not the engine's words (SPEC §8).
        assert not line.startswith("Error response from daemon")
        assert fake_daemon.routes() == []

    def test_pinned_version_skips_ping_and_reports_engine_refusal(
            self, fake_daemon, run_cli):
        message = ("client version 1.50 is too new. Maximum supported API "
                   "version is 1.41")
        fake_daemon.on("GET", "/version", json_response(400, {
            "message": message}))
        code, out, err = run_cli("version", version="1.50")
        assert code == 1
        assert assert_one_clean_line(err) == (
            "Error response from daemon: " + message)
        assert [r.path for r in fake_daemon.requests] == ["/v1.50/version"]

    def test_pinned_version_is_used_as_given(self, fake_daemon, run_cli):
        fake_daemon.on("GET", "/images/json", json_response(200, []))
        assert run_cli("images", version="1.30")[0] == 0
        assert [r.path for r in fake_daemon.requests] == [
            "/v1.30/images/json"]

    def test_request_headers_name_pydocker_and_docker_host(
            self, fake_daemon, run_cli):
        fake_daemon.on("GET", "/images/json", json_response(200, []))
        run_cli("images")
        request = fake_daemon.requests[-1]
        assert request.header("Host") == "docker"
        assert request.header("User-Agent") == (
            "pydocker/" + pydocker.__version__)


# =========================================================================
# TestFakeDaemonConnections: refused, cut, stalled, stale, TLS mismatch
# =========================================================================

def _refused_unix(tmp_path):
    return "unix://" + str(tmp_path / "missing.sock")


def _refused_stale_socket(tmp_path):
    # A socket file that nobody listens on, as a dead daemon leaves.
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    return "unix://" + path


def _refused_tcp(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


class TestFakeDaemonConnections:

    @pytest.mark.parametrize("make_host", [
        _refused_unix, _refused_stale_socket, _refused_tcp,
    ], ids=["missing-socket", "stale-socket", "tcp-port-closed"])
    def test_refused_connection_says_cannot_connect(self, tmp_path,
                                                    run_cli, make_host):
        host = make_host(tmp_path)
        code, out, err = run_cli("ps", host=host)
        assert code == 1
        assert assert_one_clean_line(err) == (
            f"Cannot connect to the Docker daemon at {host}. Is the docker "
            "daemon running?")

    def test_refused_connection_through_main(self, tmp_path, run_process):
        host = _refused_unix(tmp_path)
        result = run_process("-H", host, "images")
        assert result.returncode == 1
        assert assert_one_clean_line(result.stderr) == (
            f"Cannot connect to the Docker daemon at {host}. Is the docker "
            "daemon running?")

    def test_connection_closed_without_answer_is_one_line(
            self, fake_daemon, run_cli):
        fake_daemon.on("GET", "/images/json", CLOSE, CLOSE)
        code, out, err = run_cli("images")
        assert code == 1
        assert_one_clean_line(err)
        assert out == b""

    def test_stalled_engine_times_out_with_one_line(self, fake_daemon,
                                                    run_cli):
        fake_daemon.on("GET", "/images/json", STALL)
        code, out, err = run_cli("images", timeout=0.5)
        assert code == 1
        assert "timed out" in assert_one_clean_line(err)

    def test_stale_keepalive_connection_is_retried_once(self, fake_daemon,
                                                        run_cli):
        # The ping answer promises keep-alive, then the engine hangs up.
        fake_daemon.on("HEAD", "/_ping", [http_response(
            200, b"", {"Api-Version": "1.41"}), CLOSE])
        fake_daemon.on("GET", "/images/json", json_response(200, []))
        code, out, err = run_cli("images")
        assert (code, err) == (0, b"")
        assert fake_daemon.routes() == ["/images/json"]
        assert fake_daemon.connections == 2

    @pytest.mark.parametrize("go_style, env", [
        (True, {}), (True, {"DOCKER_API_VERSION": "1.41"}), (False, {}),
    ], ids=["go-400-answer-to-ping", "go-400-answer-pinned-version",
            "python-handshake-reset"])
    def test_plain_http_against_tls_engine_says_it_expects_tls(
            self, fake_tls_daemon, run_process, go_style, env):
        fake_tls_daemon.answer_plain_http = go_style
        result = run_process("-H", fake_tls_daemon.host, "images", env=env)
        assert result.returncode == 1
        line = assert_one_clean_line(result.stderr)
        assert "TLS" in line and "expect" in line
        assert fake_tls_daemon.host in line

    def test_tls_engine_hanging_up_after_handshake_names_client_cert(
            self, fake_tls_daemon, run_process):
        # What a TLS engine that checks client certificates may do
        # instead of sending an alert.
        fake_tls_daemon.on("HEAD", "/_ping", CLOSE)
        result = run_process("--tls", "-H", fake_tls_daemon.host, "version")
        assert result.returncode == 1
        line = assert_one_clean_line("".join(
            line for line in result.stderr.splitlines(True)
            if not line.startswith("WARNING:")))
        assert line == (
            f"error during connect: tls: {fake_tls_daemon.host} refused the "
            "connection (connection closed): it wants a client certificate "
            "it trusts: check --tlscert and --tlskey (or cert.pem and "
            "key.pem in DOCKER_CERT_PATH)")

    def test_tls_against_tls_engine_works(self, fake_tls_daemon,
                                          run_process):
        fake_tls_daemon.on("GET", "/version", json_response(200, {
            "Version": "20.10.99", "ApiVersion": "1.41",
            "Os": "linux", "Arch": "amd64"}))
        result = run_process("--tls", "-H", fake_tls_daemon.host, "version")
        assert result.returncode == 0, result.stderr
        assert re.search(r"Version:\s+20\.10\.99", result.stdout)
        assert fake_tls_daemon.requests[-1].path == "/v1.41/version"

    def test_tls_against_plain_engine_says_it_answered_plain_http(
            self, fake_tcp_daemon, run_process):
        result = run_process("--tls", "-H", fake_tcp_daemon.host, "version")
        assert result.returncode == 1
        line = assert_one_clean_line("".join(
            line for line in result.stderr.splitlines(True)
            if not line.startswith("WARNING:")))
        assert "plain HTTP" in line
        assert fake_tcp_daemon.host in line
        # The engine saw a TLS hello, not an HTTP request.
        assert [r.method for r in fake_tcp_daemon.requests] == ["?"]


# =========================================================================
# TestFakeDaemonAnswers: bodies that are not what the API promises
# =========================================================================

HTML_PAGE = (b"<html>\r\n<head><title>500 Internal Server Error</title>"
             b"</head>\r\n<body>\r\n<center><h1>500 Internal Server Error"
             b"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
             b"</html>\r\n")


class TestFakeDaemonAnswers:

    @pytest.mark.parametrize("answer, expected", [
        (http_response(500, HTML_PAGE, {"Content-Type": "text/html"}),
         "500 Internal Server Error"),
        (http_response(500, b"", {}, "Internal Server Error"), "500"),
        (http_response(502, b"upstream gone\n",
                       {"Content-Type": "text/plain"}), "upstream gone"),
        (http_response(200, b"[{\"Id\": ", {"Content-Type":
                       "application/json"}), "JSON"),
        (http_response(200, b"<html>ok</html>", {"Content-Type":
                       "text/html"}), "JSON"),
        ([b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          b"Content-Length: 100\r\n\r\n[{\"Id\": ", CLOSE], ""),
    ], ids=["html-500", "empty-500", "text-502", "truncated-json-200",
            "html-200", "connection-lost-mid-body"])
    def test_images_answer_that_is_not_json_is_one_clear_line(
            self, fake_daemon, run_cli, answer, expected):
        fake_daemon.on("GET", "/images/json", answer)
        code, out, err = run_cli("images")
        assert code == 1
        assert expected in assert_one_clean_line(err)
        assert out == b""

    def test_rmi_reports_failure_and_goes_on(self, fake_daemon, run_cli):
        fake_daemon.on("DELETE", "/images/a", json_response(200, [
            {"Untagged": "a:latest"}, {"Deleted": "sha256:" + "1" * 64}]))
        fake_daemon.on("DELETE", "/images/b", json_response(404, {
            "message": "No such image: b:latest"}))
        fake_daemon.on("DELETE", "/images/c", json_response(200, [
            {"Untagged": "c:latest"}]))
        code, out, err = run_cli("rmi", "a", "b", "c")
        assert code == 1
        assert assert_one_clean_line(err) == (
            "Error response from daemon: No such image: b:latest")
        assert out.decode().splitlines() == [
            "Untagged: a:latest", "Deleted: sha256:" + "1" * 64,
            "Untagged: c:latest"]
        assert fake_daemon.routes("DELETE") == [
            "/images/a", "/images/b", "/images/c"]

    def test_rmi_every_failure_is_reported(self, fake_daemon, run_cli):
        for name in ("a", "b"):
            fake_daemon.on("DELETE", "/images/" + name, json_response(
                409, {"message": f"conflict: unable to remove {name}"}))
        code, out, err = run_cli("rmi", "a", "b")
        assert code == 1
        assert err.decode().splitlines() == [
            "Error response from daemon: conflict: unable to remove a",
            "Error response from daemon: conflict: unable to remove b"]


# =========================================================================
# TestFakeDaemonFaults: each kind of broken answer is one clean line
# =========================================================================

# (answer to GET /images/json, words of the one error line)
BROKEN_ANSWERS = [
    (http_response(200, "[]", {"X-Big": "a" * 70000}),
     "a header or chunk line too long"),
    (http_response(200, "[]", {f"X-H{i}": "a" for i in range(120)}),
     "too many headers"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
     "Error response from daemon: 101 Switching Protocols"),
    (http_response(301, "", {"Location": "/images/json"}),
     "Error response from daemon: 301 Moved Permanently"),
    (http_response(304, ""), "Error response from daemon: 304 Not Modified"),
    (json_response(500, {"message": "a\nb\x1b[31mc\rd"}),
     "Error response from daemon: a\\nb\\x1b[31mc\\rd"),
    (json_response(500, {"message": ["a", 1]}),
     'Error response from daemon: ["a", 1]'),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      b"f" * 70000 + b"\r\n"], "a header or chunk line too long"),
]

BROKEN_ANSWER_IDS = [
    "header-line-too-long", "too-many-headers", "switching-protocols",
    "redirect", "not-modified", "control-characters-in-message",
    "message-not-text", "chunk-size-line-too-long",
]


class TestFakeDaemonFaults:
    """Faults no real engine makes on demand: one clean line each."""

    @pytest.mark.parametrize("answer, expected", BROKEN_ANSWERS,
                             ids=BROKEN_ANSWER_IDS)
    def test_broken_answer_is_one_clean_line(self, fake_daemon, run_cli,
                                             answer, expected):
        fake_daemon.on("GET", "/images/json", answer)
        code, out, err = run_cli("images")
        assert (code, out) == (1, b"")
        assert expected in assert_one_clean_line(err)

    def test_switching_protocols_to_ping_is_an_error_at_once(
            self, fake_daemon, run_cli):
        fake_daemon.on("HEAD", "/_ping",
                       b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        code, _, err = run_cli("images")
        assert code == 1
        assert "101 Switching Protocols" in assert_one_clean_line(err)
        assert fake_daemon.routes() == []

    def test_answer_larger_than_the_limit_is_refused(
            self, fake_daemon, run_cli, monkeypatch):
        monkeypatch.setattr(pydocker, "MAX_ANSWER", 1 << 20)

        def endless(connection, request):
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: "
                               b"application/json\r\n\r\n[")
            with contextlib.suppress(OSError):
                for _ in range(64):  # 4 MiB, then the client has hung up
                    connection.sendall(b'"a",' * (1 << 14))

        fake_daemon.on("GET", "/images/json", endless)
        code, _, err = run_cli("images")
        assert code == 1
        assert "larger than 1 MiB" in assert_one_clean_line(err)

    @pytest.mark.parametrize("args", [
        ["inspect", ""], ["rmi", ""], ["rmi", ".."], ["rm", ""],
        ["logs", "."], ["stop", ""],
    ], ids=["inspect-empty", "rmi-empty", "rmi-dots", "rm-empty",
            "logs-dot", "stop-empty"])
    def test_empty_or_dot_names_are_refused_without_a_request(
            self, fake_daemon, run_cli, args):
        code, _, err = run_cli(*args)
        assert code == 1
        assert "invalid name or ID" in assert_one_clean_line(err)
        assert fake_daemon.routes() == []

    def test_several_names_report_each_refused_one(self, fake_daemon,
                                                   run_cli):
        fake_daemon.on("DELETE", "/images/a", json_response(200, [
            {"Untagged": "a:latest"}]))
        code, out, err = run_cli("rmi", "", "..", "a")
        assert code == 1
        assert err.decode().splitlines() == [
            "invalid name or ID: value is empty",
            'invalid name or ID: ".."']
        assert out == b"Untagged: a:latest\n"

    @pytest.mark.parametrize("source, target", [
        ("../../x", "y"), ("", "y"), ("busybox", "../y"),
    ], ids=["source-dots", "source-empty", "target-dots"])
    def test_tag_refuses_what_is_no_reference(self, fake_daemon, run_cli,
                                             source, target):
        code, _, err = run_cli("tag", source, target)
        assert code == 1
        assert assert_one_clean_line(err).startswith(
            "Error parsing reference: ")
        assert fake_daemon.routes() == []

    def test_progress_text_cannot_drive_the_terminal(self, fake_daemon,
                                                     run_cli):
        fake_daemon.on("POST", "/images/create", chunked_stream(
            [messages_bytes([{"status": "a\x1b[2Jb\x9bc", "id":
                              "x\x1b]0;t\x07"}])]))
        code, out, _ = run_cli("pull", REGISTRY + "/x")
        assert code == 0
        assert "x]0;t: a[2Jbc\n" in out.decode()
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]",
                             out.decode())

    def test_progress_error_with_control_characters_is_one_line(
            self, fake_daemon, run_cli):
        fake_daemon.on("POST", "/images/create", chunked_stream(
            [messages_bytes([{"error": "one\ntwo\x1b[31m"}])]))
        code, _, err = run_cli("pull", REGISTRY + "/x")
        assert code == 1
        assert assert_one_clean_line(err) == "one\\ntwo\\x1b[31m"

    def test_user_text_in_an_error_is_escaped(self, run_process):
        result = run_process("-H", "tcp://a\x1b[31m:1", "ps")
        assert result.returncode == 1
        assert assert_one_clean_line(result.stderr) == (
            "invalid bind address format: tcp://a\\x1b[31m:1")


# (answer to GET /images/json, or to GET /version, and the error's words)
MISSHAPEN_ANSWERS = [
    ("images", {"a": 1}, "the answer is an object, not a list"),
    ("images", [5], "a list item is a number, not an object"),
    ("images", [{"Id": "sha256:aa", "RepoTags": ["a:b"],
                 "RepoDigests": [5], "Created": 1, "Size": 1}],
     "an item of RepoDigests is a number"),
    ("images", [{"Id": "sha256:aa", "Created": 1, "Size": 10 ** 40}],
     "Size is a number"),
    ("ps", [{"Id": "aa", "Names": ["/x"], "Ports": [5]}],
     "an item of Ports is a number"),
    ("ps", [{"Id": "aa", "Names": "x"}], "Names is a string"),
    ("version", [1], "the answer is a list, not an object"),
    ("info", "text", "the answer is a string, not an object"),
    ("version", json.loads("[" * 900 + "]" * 900),
     "the answer is a list"),
]

MISSHAPEN_IDS = [
    "images-object", "images-number-item", "repo-digest-number",
    "size-beyond-int64", "port-number", "names-string", "version-list",
    "info-string", "version-deep",
]

ROUTES = {"images": "/images/json", "ps": "/containers/json",
          "version": "/version", "info": "/info"}


class TestFakeDaemonShapes:
    """Engine answers of the wrong JSON types: refused, as Go refuses."""

    @pytest.mark.parametrize("command, answer, expected", MISSHAPEN_ANSWERS,
                             ids=MISSHAPEN_IDS)
    def test_misshapen_answer_is_one_clean_line(
            self, fake_daemon, run_cli, command, answer, expected):
        fake_daemon.on("GET", ROUTES[command], json_response(200, answer))
        code, _, err = run_cli(command)
        assert code == 1
        assert expected in assert_one_clean_line(err)

    def test_deeply_nested_answer_is_one_clean_line(self, fake_daemon,
                                                    run_cli):
        fake_daemon.on("GET", "/version", http_response(
            200, "[" * 100000 + "]" * 100000,
            {"Content-Type": "application/json"}))
        code, _, err = run_cli("version")
        assert code == 1
        assert "nested too deeply" in assert_one_clean_line(err)

    def test_null_scalar_reads_as_zero_as_in_go(self, fake_daemon,
                                                run_cli):
        fake_daemon.on("GET", "/containers/json", json_response(200, [{
            "Id": "a" * 64, "Names": ["/x"], "Image": "x", "Command": "c",
            "Created": 1, "Status": None, "Ports": [
                {"PrivatePort": None, "Type": "tcp"}]}]))
        code, out, err = run_cli("ps")
        assert (code, err) == (0, b"")
        assert "0/tcp" in out.decode()
        assert "None" not in out.decode()


class TestLocalFaults:
    """Settings files, stdin and credential helpers that misbehave."""

    def test_fifo_as_config_json_is_a_warning_not_a_hang(self, tmp_path):
        os.mkfifo(tmp_path / "config.json")
        config = pydocker.ConfigFile.load(str(tmp_path))
        assert config.broken
        assert "not a regular file" in config.warning

    def test_held_config_folder_lock_times_out_with_a_message(
            self, tmp_path):
        descriptor = os.open(tmp_path, os.O_RDONLY)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            with pytest.raises(pydocker.ConfigError) as caught:
                with pydocker._folder_lock(str(tmp_path), timeout=0.3):
                    pass
        finally:
            os.close(descriptor)
        assert "another process holds the lock" in str(caught.value)

    def test_endless_password_stdin_is_refused(self, run_cli, monkeypatch):
        monkeypatch.setattr(pydocker, "MAX_PASSWORD", 1024)
        code, _, err = run_cli("login", "-u", "me", "--password-stdin",
                               "x.example", stdin=b"y\n" * 4096)
        assert code == 1
        assert "longer than" in assert_one_clean_line(err)

    @pytest.mark.parametrize("action", ["get", "store", "erase", "list"])
    def test_helper_output_holding_the_secret_is_never_shown(
            self, monkeypatch, action):
        answer = '{"Username": "me", "Secret": "s3cr3t-value"}\n'
        monkeypatch.setattr(pydocker.CredentialHelper, "_run",
                            lambda helper, verb, data: (1, answer))
        helper = pydocker.CredentialHelper("pytest")
        with pytest.raises(pydocker.ConfigError) as caught:
            if action == "store":
                helper.store("x.example", "me", "s3cr3t-value")
            elif action == "list":
                helper.list()
            else:
                getattr(helper, action)("x.example")
        assert "s3cr3t" not in str(caught.value)
        assert "withheld" in str(caught.value)

    def test_helper_text_echoing_the_secret_on_store_is_redacted(
            self, monkeypatch):
        monkeypatch.setattr(pydocker.CredentialHelper, "_run",
                            lambda helper, verb, data: (
                                1, "cannot keep s3cr3t-value\n"))
        with pytest.raises(pydocker.ConfigError) as caught:
            pydocker.CredentialHelper("pytest").store("x.example", "me",
                                                      "s3cr3t-value")
        assert str(caught.value).endswith("cannot keep <redacted>")

    def test_hanging_helper_is_stopped_with_its_children(
            self, tmp_path, monkeypatch):
        program = tmp_path / "docker-credential-hang"
        pid_file = tmp_path / "child.pid"
        program.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}"
                           "\nwait\n")
        program.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}"
                           f"{os.environ['PATH']}")
        monkeypatch.setattr(pydocker.CredentialHelper, "TIMEOUT", 1)
        with pytest.raises(pydocker.ConfigError) as caught:
            pydocker.CredentialHelper("hang").get("x.example")
        assert "did not answer in 1s" in str(caught.value)
        child = int(pid_file.read_text())
        # The child was killed too: it ends (as a zombie or reaped).
        for _ in range(100):
            try:
                state = _read_proc(child, "stat").split(b")")[-1].split()[0]
            except OSError:
                break
            if state in (b"Z", b"X"):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the helper's child {child} still runs")

    def test_helper_list_answer_not_an_object_says_so(self, monkeypatch):
        monkeypatch.setattr(pydocker.CredentialHelper, "_run",
                            lambda helper, verb, data: (0, '["a"]'))
        with pytest.raises(pydocker.ConfigError) as caught:
            pydocker.CredentialHelper("pytest").list()
        assert "not a JSON object" in str(caught.value)

    @pytest.mark.parametrize("headers, expected", [
        ({"bad name": "x"}, '"bad name" is not a header name'),
        ({"X-A": "a\r\nX-B: b"}, "the value of X-A has a control"),
    ], ids=["name-with-blank", "value-with-line-break"])
    def test_bad_http_headers_are_one_line(self, tmp_path, run_process,
                                           headers, expected):
        write_cli_config(tmp_path, {"HttpHeaders": headers})
        result = run_process("-H", "unix:///nonexistent.sock", "images")
        assert result.returncode == 1
        assert expected in assert_one_clean_line(result.stderr)

    def test_encrypted_tls_key_is_one_line_not_a_prompt(self, tmp_path):
        cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", cert,
             "-days", "1", "-subj", "/CN=x", "-passout", "pass:pw"],
            check=True, capture_output=True, timeout=SUBPROCESS_TIMEOUT)
        with pytest.raises(pydocker.ConfigError) as caught:
            pydocker.tls_context(False, cert=cert, key=key,
                                 cert_required=True)
        assert "the key is encrypted" in str(caught.value)

    def test_reindenting_refuses_nesting_deeper_than_go(self):
        with pytest.raises(pydocker.StreamError) as caught:
            pydocker.indent_json("[" * 20000 + "]" * 20000)
        assert "nested too deeply" in str(caught.value)

    def test_http_headers_from_config_json_are_sent(self, tmp_path,
                                                    fake_daemon,
                                                    run_process):
        write_cli_config(tmp_path, {"HttpHeaders": {"X-Meta": "v1"}})
        fake_daemon.on("GET", "/images/json", json_response(200, []))
        result = run_process("-H", fake_daemon.host, "images")
        assert result.returncode == 0, result.stderr
        assert all(request.header("x-meta") == "v1"
                   for request in fake_daemon.requests)
        assert fake_daemon.routes() == ["/images/json"]


# =========================================================================
# TestFakeDaemonSecrets: -D never shows a password or X-Registry-Auth
# =========================================================================

class TestFakeDaemonSecrets:

    PASSWORD = "hunter2-s3cr:et/+pw"

    def test_login_with_debug_never_prints_the_password(
            self, tmp_path, fake_daemon, run_process):
        fake_daemon.on("POST", "/auth", json_response(200, {
            "Status": "Login Succeeded", "IdentityToken": ""}))
        result = run_process(
            "-D", "-H", fake_daemon.host, "login", "-u", "u",
            "--password-stdin", REGISTRY,
            stdin=(self.PASSWORD + "\n").encode())
        assert result.returncode == 0, result.stderr
        assert "Login Succeeded" in result.stdout
        assert "DEBUG" in result.stderr
        body = json.loads(fake_daemon.requests[-1].body)
        assert body["password"] == self.PASSWORD
        stored = json.loads((tmp_path / "cfg" / "config.json").read_text())
        auth = stored["auths"][REGISTRY]["auth"]
        for secret in (self.PASSWORD, auth):
            assert secret not in result.stdout
            assert secret not in result.stderr

    def test_pull_with_debug_never_prints_the_registry_auth(
            self, tmp_path, fake_daemon, run_process):
        auth = base64.b64encode(("u:" + self.PASSWORD).encode()).decode()
        write_cli_config(tmp_path, {"auths": {REGISTRY: {"auth": auth}}})
        fake_daemon.on("POST", "/images/create", chunked_stream([PULL_BYTES]))
        result = run_process("-D", "-H", fake_daemon.host, "pull",
                             REGISTRY + "/x")
        assert result.returncode == 0, result.stderr
        assert "DEBUG" in result.stderr
        header = fake_daemon.requests[-1].header("X-Registry-Auth")
        assert json.loads(base64.urlsafe_b64decode(header))[
            "password"] == self.PASSWORD
        for secret in (self.PASSWORD, auth, header):
            assert secret not in result.stdout
            assert secret not in result.stderr


# =========================================================================
# TestFakeDaemonSearch: Docker Hub's search, which the sandbox cannot reach
# =========================================================================

SEARCH_RESULTS = [
    {"name": "busybox", "description": "Busybox base image.",
     "star_count": 3300, "is_official": True, "is_automated": False},
    {"name": "someone/busybox-with-a-very-long-name",
     "description": "A description long enough that docker cuts it "
     "short\nacross lines", "star_count": 2, "is_official": False},
]


class TestFakeDaemonSearch:

    def test_search_table_truncates_description(self, fake_daemon,
                                                run_cli):
        fake_daemon.on("GET", "/images/search",
                       json_response(200, SEARCH_RESULTS))
        code, out, err = run_cli("search", "--limit", "5", "-f",
                                 "is-official=true", "busybox")
        assert (code, err) == (0, b"")
        lines = out.decode().splitlines()
        assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS",
                                    "OFFICIAL"]
        assert lines[1].split()[-2:] == ["3300", "[OK]"]
        assert "A description long enough that docker cuts i\u2026" \
            in lines[2]
        assert lines[2].rstrip().endswith("2")
        query = fake_daemon.requests[-1].query
        assert "term=busybox" in query and "limit=5" in query
        assert "is-official" in urllib.parse.unquote(query)

    def test_search_no_trunc_keeps_description_on_one_line(
            self, fake_daemon, run_cli):
        fake_daemon.on("GET", "/images/search",
                       json_response(200, SEARCH_RESULTS))
        code, out, _ = run_cli("search", "--no-trunc", "busybox")
        assert code == 0
        assert "docker cuts it short across lines" in out.decode()

    @pytest.mark.parametrize("args", [
        ["--format", "{{json .}}"], ["--format", "json", "--no-trunc"],
        ["--format", "table"], ["--format", "{{.Name}}: {{.IsOfficial}} "
                                "{{.StarCount}} {{.Description}}"],
        ["--format", "table {{.Name}}\\t{{.IsOfficial}}"],
        ["--format", "{{json .}} {{.IsOfficial}}"],
        ["--format", "{{.IsAutomated}}"],
    ], ids=lambda args: " ".join(args))
    def test_search_format_matches_docker(self, tmp_path, fake_daemon,
                                          args):
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("DOCKER_")}
        env.update(DOCKER_HOST=fake_daemon.host,
                   DOCKER_CONFIG=str(tmp_path / "cfg"))
        done = []
        for program in ([shutil.which("docker")], [PYTHON, PYDOCKER]):
            fake_daemon.on("GET", "/images/search",
                           json_response(200, SEARCH_RESULTS))
            done.append(subprocess.run(
                [*program, "search", *args, "busybox"], env=env,
                capture_output=True, timeout=SUBPROCESS_TIMEOUT))
        theirs, ours = done
        assert (ours.returncode, text(ours.stdout), text(ours.stderr)) == (
            theirs.returncode, text(theirs.stdout), text(theirs.stderr))

    def test_search_sends_hub_credentials(self, tmp_path, fake_daemon,
                                          run_cli):
        auth = base64.b64encode(b"hubuser:hubpass").decode()
        write_cli_config(tmp_path, {"auths": {
            "https://index.docker.io/v1/": {"auth": auth}}})
        fake_daemon.on("GET", "/images/search", json_response(200, []))
        code, out, _ = run_cli("search", "busybox")
        assert code == 0
        header = fake_daemon.requests[-1].header("X-Registry-Auth")
        assert json.loads(base64.urlsafe_b64decode(header))[
            "username"] == "hubuser"

    def test_search_engine_error_is_one_line(self, fake_daemon, run_cli):
        message = ('Get "https://index.docker.io/v1/search?q=x&n=25": '
                   "dial tcp: lookup index.docker.io: no such host")
        fake_daemon.on("GET", "/images/search",
                       json_response(500, {"message": message}))
        code, out, err = run_cli("search", "x")
        assert (code, out) == (1, b"")
        assert assert_one_clean_line(err) == (
            "Error response from daemon: " + message)


# =========================================================================
# TestProcess: what only a whole `python3 pydocker.py` run shows
# =========================================================================

class TestProcess:

    @pytest.mark.parametrize("args, code, expected", [
        (["bogus"], 1, "Error: Command not found: bogus"),
        (["--bogus", "ps"], 125, "unknown flag: --bogus"),
        (["--bip", "x", "ps"], 125, "unknown flag: --bip"),
        (["-b", "br0", "ps"], 125, "unknown shorthand flag: 'b' in -b"),
        (["-H", "a", "-H", "b", "ps"], 1, "Please specify only one -H"),
        (["-H", "http://x", "ps"], 1,
         "invalid bind address format: http://x"),
        (["-l", "loud", "ps"], 1, 'invalid argument "loud" for '
         '"-l, --log-level" flag'),
    ], ids=["unknown-command", "unknown-global-flag", "daemon-long-flag",
            "daemon-short-flag", "two-hosts", "http-host", "bad-level"])
    def test_process_error_line_and_exit_code(self, run_process, args,
                                              code, expected):
        result = run_process(*args)
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines()[0].startswith(expected)
        assert result.returncode == code

    def test_unknown_flag_adds_help_hint(self, run_process):
        result = run_process("--bogus", "ps")
        assert result.stderr.splitlines()[1:] == [
            "See 'pydocker --help'."]

    @pytest.mark.parametrize("args", [["-v"], ["--version"],
                                      ["-v", "bogus", "--x"]],
                             ids=["short", "long", "whatever-follows"])
    def test_version_flag_prints_version(self, run_process, args):
        result = run_process(*args)
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == (
            f"pydocker version {pydocker.__version__}\n")

    def test_daemon_flag_prints_dockerd_command_line(self, run_process):
        result = run_process("-d", "--bip", "10.0.0.1/24", "-H",
                             "tcp://0.0.0.0:2375")
        assert result.returncode == 1
        assert result.stdout == ""
        lines = [line for line in result.stderr.splitlines()
                 if line.strip().startswith("dockerd")]
        assert len(lines) == 1, result.stderr
        words = shlex.split(lines[0])
        assert words[0] == "dockerd"
        pairs = list(zip(words, words[1:]))
        assert ("--bip", "10.0.0.1/24") in pairs
        assert ("-H", "tcp://0.0.0.0:2375") in pairs
        assert "client" in result.stderr.splitlines()[0]

    def test_no_command_prints_help_to_stdout(self, run_process):
        result = run_process()
        assert (result.returncode, result.stderr) == (0, "")
        assert "Usage:" in result.stdout
        assert re.search(r"^\s+pull\s", result.stdout, re.M)

    @pytest.mark.parametrize("args", [
        [], ["--help"], ["-v"], ["images", "--help"], ["help", "images"],
        ["help", "--help"], ["bogus"],
    ], ids=["no-command", "help", "version", "command-help", "help-command",
            "help-help", "unknown-command"])
    def test_output_into_a_pipe_nobody_reads_exits_141_quietly(
            self, tmp_path, args):
        reader, writer = os.pipe()
        os.close(reader)  # every write now fails with EPIPE
        try:
            result = subprocess.run(
                [sys.executable, PYDOCKER_SCRIPT] + args, stdout=writer,
                stderr=writer, env=closed_stream_env(tmp_path),
                timeout=SUBPROCESS_TIMEOUT)
        finally:
            os.close(writer)
        assert result.returncode == 141

    @pytest.mark.parametrize("redirect, args, code", [
        (">&-", ["--help"], 0),
        (">&-", ["-v"], 0),
        (">&-", ["images", "--help"], 0),
        (">&-", ["images"], 0),
        ("<&-", ["images"], 0),
        ("2>&-", ["-D", "images"], 0),
        ("<&- >&- 2>&-", ["-D", "version"], 0),
        ("<&-", ["login", "-u", "me", "--password-stdin", "x.example"], 1),
    ], ids=["stdout-help", "stdout-version", "stdout-command-help",
            "stdout-command", "stdin-command", "stderr-debug", "all-three",
            "stdin-password"])
    def test_closed_standard_streams_are_no_crash(
            self, tmp_path, fake_daemon, redirect, args, code):
        for _ in range(2):
            fake_daemon.on("GET", "/images/json", json_response(200, []))
        fake_daemon.on("GET", "/version", json_response(200, {
            "Version": "28.0.0", "ApiVersion": "1.41"}))
        command = " ".join(shlex.quote(word) for word in
                           [sys.executable, PYDOCKER_SCRIPT] + args)
        result = subprocess.run(
            ["bash", "-c", f"exec {command} {redirect}"],
            capture_output=True, timeout=SUBPROCESS_TIMEOUT,
            env=closed_stream_env(tmp_path, DOCKER_HOST=fake_daemon.host))
        assert b"Traceback" not in result.stderr
        assert b"Error: " not in result.stderr or code
        assert result.returncode == code, result.stderr


# =========================================================================
# Helpers: running pydocker as a process and under a terminal
# =========================================================================

HERE = os.path.dirname(os.path.abspath(__file__))
PYDOCKER = os.path.join(HERE, "pydocker.py")
# The interpreter a bare server has, when there is one; else this one.
PYTHON = sys.executable


def pydocker_env(engine, config_dir, **extra):
    """Return an environment aiming pydocker at the test engine."""
    env = dict(engine.env)
    env["DOCKER_CONFIG"] = str(config_dir)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run_pydocker(env, *args, input=None, timeout=120):
    """Run ``python3 pydocker.py ARGS`` and return the finished process."""
    return subprocess.run([PYTHON, PYDOCKER, *args], input=input, env=env,
                          capture_output=True, timeout=timeout, check=False)


def text(data):
    return data.decode("utf-8", "replace")


class Terminal:
    """pydocker running on a pseudo-terminal, read and typed into."""

    def __init__(self, env, *args, columns=200):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", 50, columns, 0, 0))
        self.master = master
        self.output = b""
        self.slave_name = os.ttyname(slave)
        self.process = subprocess.Popen(
            [PYTHON, PYDOCKER, *args], stdin=slave, stdout=slave,
            stderr=slave, env=env, start_new_session=True)
        os.close(slave)

    def read_until(self, wanted, timeout=60, after=0):
        """Read until ``wanted`` (bytes) has appeared (past the first
        ``after`` bytes of output); return all so far."""
        deadline = time.monotonic() + timeout
        while wanted not in self.output[after:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {wanted!r} on the terminal; "
                                     f"got {self.output[-2000:]!r}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready and not self._read_some():
                raise AssertionError(f"terminal closed before {wanted!r}; "
                                     f"got {self.output[-2000:]!r}")
        return self.output

    def _read_some(self):
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the other side has closed
            return False
        self.output += chunk
        return bool(chunk)

    def type(self, data):
        os.write(self.master, data)

    def wait(self, timeout=60):
        """Read until the process has exited; return its exit code."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready and not self._read_some():
                break
        return self.process.wait(timeout=max(1, deadline - time.monotonic()))

    def modes(self):
        """Return the terminal's termios attributes, as left behind."""
        fd = os.open(self.slave_name, os.O_RDWR | os.O_NOCTTY)
        try:
            return termios.tcgetattr(fd)
        finally:
            os.close(fd)

    def finish(self, timeout=60):
        """Read to the end and return the exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready and not self._read_some():
                break
            if not ready and self.process.poll() is not None:
                break
        code = self.process.wait(timeout=max(1, deadline - time.monotonic()))
        os.close(self.master)
        return code


def assert_same_output(engine, env, args, docker_args=None):
    """Check that pydocker prints what docker prints for the same command.

    Relative times ("2 seconds ago") can tick over between the two runs,
    so a difference is only final when it survives three tries.  Rows are
    compared as a set after the header: docker itself prints the tags of
    one image in random order (it walks a Go map).
    """
    def rows(data):
        lines = text(data).splitlines()
        return lines[:1], sorted(lines[1:])

    for _ in range(3):
        ours = run_pydocker(env, *args)
        assert ours.returncode == 0, text(ours.stderr)
        theirs = engine.docker(*(docker_args or args))
        if rows(ours.stdout) == rows(theirs.stdout):
            return text(ours.stdout)
        time.sleep(0.3)
    assert text(ours.stdout) == text(theirs.stdout)


def remove_image(engine, name):
    """Make sure ``name`` is not in the engine (reference CLI)."""
    engine.docker("rmi", "-f", name, check=False)


def image_exists(engine, name):
    return engine.docker("image", "inspect", name,
                         check=False).returncode == 0


@pytest.fixture()
def config_dir(tmp_path):
    folder = tmp_path / "docker-config"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture()
def env(engine, config_dir):
    return pydocker_env(engine, config_dir)


# =========================================================================
# Commands against the real engine
# =========================================================================

class TestCmdPull:
    """``pull`` from real registries into the real engine."""

    def test_pull_from_plain_registry_puts_image_in_engine(
            self, engine, env, test_image):
        remove_image(engine, test_image.name_plain)
        done = run_pydocker(env, "pull", test_image.name_plain)
        assert done.returncode == 0, text(done.stderr)
        out = text(done.stdout)
        assert "v1: Pulling from pytest/multi" in out
        assert "Digest: " + test_image.digest in out
        assert out.splitlines()[-1] == test_image.name_plain
        assert image_exists(engine, test_image.name_plain)

    def test_pull_plain_output_has_no_escape_codes(
            self, engine, env, test_image):
        remove_image(engine, test_image.name_plain)
        done = run_pydocker(env, "pull", test_image.name_plain)
        assert done.returncode == 0, text(done.stderr)
        assert b"\x1b" not in done.stdout and b"\r" not in done.stdout
        lines = text(done.stdout).splitlines()
        # One line per status change of each layer, none of the bars.
        assert any(line.endswith(": Pull complete") for line in lines)
        assert not any("Downloading" in line for line in lines)
        assert "Status: Downloaded newer image for " in text(done.stdout)

    def test_pull_on_terminal_redraws_layer_lines(
            self, engine, env, test_image):
        remove_image(engine, test_image.name_plain)
        terminal = Terminal(env, "pull", test_image.name_plain)
        terminal.read_until(test_image.name_plain.encode() + b"\r\n")
        assert terminal.finish() == 0
        screen = terminal.output
        assert b"\x1b[2K\r" in screen          # a line cleared and redrawn
        assert re.search(rb"\x1b\[\d+A", screen)  # cursor moved up
        assert b"Pull complete" in screen
        assert image_exists(engine, test_image.name_plain)

    def test_pull_quiet_prints_only_the_reference(
            self, engine, env, test_image):
        remove_image(engine, test_image.name_plain)
        done = run_pydocker(env, "pull", "-q", test_image.name_plain)
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stdout) == test_image.name_plain + "\n"

    def test_pull_without_tag_says_default_tag(self, engine, env,
                                                test_image):
        registry = test_image.name_plain.split("/")[0]
        done = run_pydocker(env, "pull", registry + "/pytest/multi")
        # The test image has no "latest" tag: the registry says so.
        assert done.returncode == 1
        assert text(done.stdout).startswith("Using default tag: latest\n")
        assert "Error response from daemon:" in text(done.stderr)
        assert "Traceback" not in text(done.stderr)

    def test_pull_by_digest(self, engine, env, test_image):
        name = test_image.name_plain.rsplit(":", 1)[0]
        reference = f"{name}@{test_image.digest}"
        remove_image(engine, reference)
        done = run_pydocker(env, "pull", reference)
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stdout).splitlines()[-1] == reference
        assert image_exists(engine, reference)

    @pytest.mark.parametrize("reference, message", [
        ("Foo/bar", "invalid reference format: repository name (Foo/bar) "
         "must be lowercase"),
        ("busybox@sha256:abc", "invalid reference format"),
        ("busybox:", "invalid reference format"),
    ], ids=["uppercase", "short-digest", "empty-tag"])
    def test_pull_bad_reference_is_one_line(self, env, reference, message):
        done = run_pydocker(env, "pull", reference)
        assert done.returncode == 1
        assert text(done.stderr) == message + "\n"

    def test_pull_from_auth_registry_without_login_fails_with_hint(
            self, engine, env, test_image):
        remove_image(engine, test_image.name_auth)
        registry = test_image.name_auth.split("/")[0]
        done = run_pydocker(env, "pull", test_image.name_auth)
        assert done.returncode == 1
        lines = text(done.stderr).splitlines()
        assert lines[0].startswith("Error response from daemon:")
        assert "no basic auth credentials" in lines[0]
        assert lines[1] == (f"Log in with 'pydocker login {registry}' "
                            "and pull again")
        assert "Please login" not in text(done.stdout)

    def test_login_then_pull_from_auth_registry(
            self, engine, env, config_dir, test_image, auth_registry):
        remove_image(engine, test_image.name_auth)
        login = run_pydocker(env, "login", "-u", auth_registry.username,
                             "--password-stdin", auth_registry.address,
                             input=auth_registry.password.encode() + b"\n")
        assert login.returncode == 0, text(login.stderr)
        assert text(login.stdout).endswith("Login Succeeded\n")
        saved = config_dir / "config.json"
        assert (saved.stat().st_mode & 0o777) == 0o600
        entry = json.loads(saved.read_text())["auths"][auth_registry.address]
        assert base64.b64decode(entry["auth"]).decode() == (
            f"{auth_registry.username}:{auth_registry.password}")
        assert auth_registry.password not in text(login.stdout + login.stderr)

        done = run_pydocker(env, "pull", test_image.name_auth)
        assert done.returncode == 0, text(done.stderr)
        assert image_exists(engine, test_image.name_auth)

        logout = run_pydocker(env, "logout", auth_registry.address)
        assert logout.returncode == 0
        assert text(logout.stdout) == ("Removing login credentials for "
                                       f"{auth_registry.address}\n")
        saved_after = json.loads(saved.read_text())
        assert auth_registry.address not in saved_after.get("auths", {})

    def test_login_with_wrong_password_fails_and_stores_nothing(
            self, env, config_dir, auth_registry):
        done = run_pydocker(env, "login", "-u", auth_registry.username,
                            "--password-stdin", auth_registry.address,
                            input=b"wrong-password\n")
        assert done.returncode == 1
        assert text(done.stderr).startswith("Error response from daemon:")
        assert not (config_dir / "config.json").exists()

    def test_login_without_terminal_refuses_to_prompt(self, env,
                                                      auth_registry):
        done = run_pydocker(env, "login", auth_registry.address,
                            input=b"")
        assert done.returncode == 1
        assert text(done.stderr) == ("Error: Cannot perform an interactive "
                                     "login from a non TTY device\n")

    def test_pull_on_terminal_prompts_logs_in_and_retries(
            self, engine, env, config_dir, test_image, auth_registry):
        remove_image(engine, test_image.name_auth)
        terminal = Terminal(env, "pull", test_image.name_auth)
        terminal.read_until(b"Please login prior to pull:")
        terminal.read_until(b"Username: ")
        terminal.type(auth_registry.username.encode() + b"\n")
        terminal.read_until(b"Password: ")
        terminal.type(auth_registry.password.encode() + b"\n")
        terminal.read_until(b"Login Succeeded")
        terminal.read_until(test_image.name_auth.encode() + b"\r\n")
        assert terminal.finish() == 0
        # The password was typed with echo off: it never shows.
        assert auth_registry.password.encode() not in terminal.output
        assert image_exists(engine, test_image.name_auth)
        saved = json.loads((config_dir / "config.json").read_text())
        assert auth_registry.address in saved["auths"]


class TestCmdImages:
    """``images``, ``tag``, ``rmi`` and ``inspect`` on real images."""

    def test_images_matches_docker(self, engine, env, busybox_image):
        assert_same_output(engine, env, ["images"])

    def test_image_ls_and_quiet(self, engine, env, busybox_image):
        assert_same_output(engine, env, ["image", "ls", "-q"],
                           ["images", "-q"])

    def test_tag_then_rmi(self, engine, env, busybox_image):
        done = run_pydocker(env, "tag", busybox_image, "pytest/tagged:one")
        assert done.returncode == 0, text(done.stderr)
        assert image_exists(engine, "pytest/tagged:one")
        removed = run_pydocker(env, "rmi", "pytest/tagged:one")
        assert removed.returncode == 0, text(removed.stderr)
        assert text(removed.stdout) == "Untagged: pytest/tagged:one\n"
        assert not image_exists(engine, "pytest/tagged:one")
        assert image_exists(engine, busybox_image)

    def test_rmi_goes_on_after_a_failure(self, engine, env, busybox_image):
        engine.docker("tag", busybox_image, "pytest/gone:one")
        done = run_pydocker(env, "rmi", "pytest/nosuch:x", "pytest/gone:one")
        assert done.returncode == 1
        assert text(done.stderr) == ("Error response from daemon: No such "
                                     "image: pytest/nosuch:x\n")
        assert not image_exists(engine, "pytest/gone:one")

    def test_tag_missing_source(self, env):
        done = run_pydocker(env, "tag", "pytest/nosuch:x", "pytest/y:z")
        assert done.returncode == 1
        assert text(done.stderr) == ("Error response from daemon: No such "
                                     "image: pytest/nosuch:x\n")

    def test_inspect_image_is_byte_identical_to_docker(
            self, engine, env, busybox_image):
        ours = run_pydocker(env, "inspect", busybox_image)
        assert ours.returncode == 0, text(ours.stderr)
        assert ours.stdout == engine.docker("inspect", busybox_image).stdout
        grouped = run_pydocker(env, "image", "inspect", busybox_image)
        assert grouped.stdout == ours.stdout

    def test_inspect_missing_object(self, env):
        done = run_pydocker(env, "inspect", "pytest-nosuch")
        assert done.returncode == 1
        assert text(done.stdout) == "[]\n"
        assert text(done.stderr) == "Error: No such object: pytest-nosuch\n"


class TestCmdPs:
    """``ps`` and ``inspect`` on real containers."""

    @pytest.fixture(scope="class")
    def containers(self, engine, busybox_image):
        engine.docker("create", "--name", "pytest-created", "--network",
                      "none", busybox_image, "echo", "a long command line "
                      "that docker truncates")
        engine.docker("run", "--name", "pytest-exited", "--network", "none",
                      busybox_image, "sh", "-c", "exit 3", check=False)
        yield ["pytest-created", "pytest-exited"]
        engine.docker("rm", "-f", "pytest-created", "pytest-exited",
                      check=False)

    def test_ps_all_matches_docker(self, engine, env, containers):
        out = assert_same_output(engine, env, ["ps", "-a"])
        assert "pytest-exited" in out
        assert "Exited (3)" in out

    @pytest.mark.parametrize("flags", [
        ["-a", "-q"], ["-aq"], ["-a", "--no-trunc"], ["-q"],
        ["-a", "--filter", "name=pytest-exited"], ["-a", "-n", "1"],
    ], ids=["quiet", "letters", "no-trunc", "running-only", "filter",
            "last"])
    def test_ps_flags_match_docker(self, engine, env, containers, flags):
        assert_same_output(engine, env, ["ps", *flags])

    def test_container_ls_is_ps(self, engine, env, containers):
        assert_same_output(engine, env, ["container", "ls", "-aq"],
                           ["ps", "-aq"])

    def test_inspect_container_is_byte_identical_to_docker(
            self, engine, env, containers):
        ours = run_pydocker(env, "inspect", *containers)
        assert ours.returncode == 0, text(ours.stderr)
        assert ours.stdout == engine.docker("inspect", *containers).stdout
        state = json.loads(ours.stdout)[1]["State"]
        assert state["ExitCode"] == 3

    def test_ps_bad_flag_exits_125_with_hint(self, env):
        done = run_pydocker(env, "ps", "--bogus")
        assert done.returncode == 125
        assert text(done.stderr) == ("unknown flag: --bogus\n"
                                     "See 'pydocker ps --help'.\n")


class TestCmdFormat:
    """--format and filters print what docker prints for the same objects."""

    @pytest.fixture(scope="class")
    def objects(self, engine, busybox_image):
        engine.docker("create", "--name", "pytest-fmt-created", "--network",
                      "none", "--label", "tier=db", "--label",
                      "com.example.team=infra", busybox_image, "echo", "hi")
        engine.docker("run", "--name", "pytest-fmt-exited", "--network",
                      "none", "--env", "GREETING=a <b> & c", busybox_image,
                      "sh", "-c", "exit 4", check=False)
        engine.docker("tag", busybox_image, "pytest/fmt:one")
        yield ["pytest-fmt-created", "pytest-fmt-exited"]
        engine.docker("rm", "-f", "pytest-fmt-created", "pytest-fmt-exited",
                      check=False)
        engine.docker("rmi", "pytest/fmt:one", check=False)

    @pytest.mark.parametrize("args", [
        ["ps", "-a", "--format", "{{.Names}}\\t{{.Status}}"],
        ["ps", "-a", "--format", "json"],
        ["ps", "-a", "--format", "{{json .}}"],
        ["ps", "-a", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Labels}}"],
        ["ps", "-a", "--format", "table"],
        ["ps", "-a", "--format", 'table {{.Names}}\\t{{.Label "tier"}}'],
        ["ps", "-a", "--format", "{{.Image}} {{.Command}} {{.State}} "
         "{{.Mounts}} {{.Networks}} {{.LocalVolumes}} {{.Size}}"],
        ["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"],
        ["ps", "-a", "--filter", "label=tier=db", "--format", "{{.Names}}"],
        ["ps", "-a", "--filter", "status=exited", "--filter",
         "name=pytest-fmt", "-q"],
        ["ps", "-a", "-s"],
        ["ps", "-l", "--format", "{{.Names}}"],
        ["images", "--format", "json"],
        ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"
         " {{.Digest}} {{.CreatedAt}}"],
        ["images", "--format", "table {{.Repository}}\\t{{.Tag}}\\t"
         "{{.Containers}}\\t{{.VirtualSize}}\\t{{.SharedSize}}"],
        ["images", "--digests"],
        ["images", "pytest/fmt"],
        ["images", "pytest/none", "--format", "table {{.ID}}\\t"
         "{{.CreatedSince}}"],
        ["ps", "--filter", "name=pytest-none", "--format", "table {{.ID}}"
         "\\t{{.RunningFor}}"],
        ["images", "-a", "--filter", "reference=pytest/*",
         "--format", "{{.Repository}}"],
        ["inspect", "-f", "{{.State.ExitCode}}", "pytest-fmt-exited"],
        ["inspect", "-f", "{{json .Config.Labels}}", "pytest-fmt-created"],
        ["inspect", "-f", "{{.Config.Labels}} {{.Config.Env}}",
         "pytest-fmt-created", "pytest-fmt-exited"],
        ["inspect", "-f", '{{index .Config.Labels "tier"}}|'
         "{{.Config.Labels.tier}}", "pytest-fmt-created"],
        ["inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.Running}} "
         "{{.HostConfig.NetworkMode}} {{.RestartCount}}",
         "pytest-fmt-created", "pytest-fmt-exited"],
        ["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}",
         "pytest-fmt-exited"],
        ["inspect", "-f", "{{json .Config.Env}} {{join .Args \",\"}}",
         "pytest-fmt-exited"],
        ["inspect", "-f", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}"
         " {{end}}", "pytest-fmt-created"],
        ["inspect", "--format", "json", "pytest-fmt-created"],
        ["inspect", "-f", "{{.Id}} {{.Size}} {{.Architecture}} "
         "{{.RepoTags}}", "pytest/fmt:one"],
        ["version", "--format", "{{.Server.Version}} {{.Server.Os}}"],
        ["info", "--format", "{{.ServerVersion}} {{.Driver}} {{.NCPU}} "
         "{{json .Plugins}}"],
        ["history", "--format", "json", BUSYBOX_IMAGE],
        ["history", "--format", "table", BUSYBOX_IMAGE],
        ["history", "-H=false", "--format", "table", BUSYBOX_IMAGE],
        ["history", "--no-trunc", "-H=false", "--format", "table {{.ID}}\\t"
         "{{.CreatedAt}}\\t{{.CreatedSince}}\\t{{.Size}}", BUSYBOX_IMAGE],
        ["history", "-q", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}",
         BUSYBOX_IMAGE],
        ["system", "df", "--format", "{{json .}}"],
        ["system", "df", "--format", "table {{.Type}}\\t{{.TotalCount}}\\t"
         "{{.Active}}"],
        ["system", "df", "--format", "raw"],
        ["system", "df", "-v", "--format", "json"],
        ["system", "df", "-v", "--format", "{{range .Containers}}{{.Names}}"
         " {{.ID}} {{.Size}}\n{{end}}{{len .Images}}"],
    ], ids=lambda args: " ".join(args))
    def test_format_matches_docker(self, engine, env, objects, args):
        if any(arg.startswith("table") for arg in args) \
                or "--format" not in args:
            assert_same_output(engine, env, args)
            return
        # Without a header, every line is a row: docker prints the tags of
        # one image in random order, so all lines are compared as a set.
        for _ in range(3):
            ours = run_pydocker(env, *args)
            assert ours.returncode == 0, text(ours.stderr)
            theirs = engine.docker(*args)
            if sorted(ours.stdout.splitlines()) == sorted(
                    theirs.stdout.splitlines()):
                return
            time.sleep(0.3)
        assert text(ours.stdout) == text(theirs.stdout)

    @pytest.mark.parametrize("args, message", [
        (["ps", "--format", "{{.Nope}}"], 'failed to execute template: '
         'template: :1:2: executing "" at <.Nope>: can\'t evaluate field '
         "Nope in type *formatter.ContainerContext"),
        (["ps", "--format", "{{.ID"], "failed to parse template: "
         "template: :1: unclosed action"),
        (["images", "--format", "{{nofunc .ID}}"], "template parsing "
         'error: template: :1: function "nofunc" not defined'),
        (["inspect", "-f", "{{.State.Health.Status}}", "pytest-fmt-exited"],
         'template parsing error: template: :1:8: executing "" at '
         '<.State.Health.Status>: map has no entry for key "Health"'),
        (["history", "--format", "{{.Nope}}", BUSYBOX_IMAGE],
         'template parsing error: template: :1:2: executing "" at <.Nope>: '
         "can't evaluate field Nope in type *image.historyContext"),
        (["system", "df", "--format", "{{.Nope}}"], "template parsing "
         'error: template: :1:2: executing "" at <.Nope>: can\'t evaluate '
         "field Nope in type *formatter.diskUsageImagesContext"),
        (["system", "df", "-v", "--format", "{{.Type}}"], 'template: :1:2: '
         'executing "" at <.Type>: can\'t evaluate field Type in type '
         "*formatter.diskUsageContext"),
        (["stats", "--no-stream", "--format", "{{.ID"], "template parsing "
         "error: template: :1: unclosed action"),
    ], ids=["ps-missing-field", "ps-unclosed", "images-unknown-function",
            "inspect-missing-key", "history-missing-field",
            "df-missing-field", "df-verbose-missing-field",
            "stats-unclosed"])
    def test_template_error_is_one_line_exit_1(self, engine, env, objects,
                                               args, message):
        ours = run_pydocker(env, *args)
        assert ours.returncode == 1
        assert text(ours.stderr) == message + "\n"
        theirs = engine.docker(*args, check=False)
        assert text(theirs.stderr) == message + "\n"

    def test_image_made_in_1970(self, engine, env):
        """A zero creation time: N/A in history, 56 years ago in images."""
        layer = _tar_bytes(lambda archive: _add_file(archive, "f", b"x"))
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [
                "sha256:" + hashlib.sha256(layer).hexdigest()]},
            "history": [{"created": "1970-01-01T00:00:00Z",
                         "created_by": "pytest"}]}).encode()
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        manifest = json.dumps([{"Config": config_name,
                                "RepoTags": ["pytest/epoch:zero"],
                                "Layers": ["layer.tar"]}]).encode()

        def add_members(archive):
            _add_file(archive, "layer.tar", layer)
            _add_file(archive, config_name, config)
            _add_file(archive, "manifest.json", manifest)

        engine.docker("load", input=_tar_bytes(add_members))
        try:
            for args in (["images", "pytest/epoch"],
                         ["history", "pytest/epoch:zero"],
                         ["history", "-H=false", "--format", "json",
                          "pytest/epoch:zero"]):
                assert_same_output(engine, env, args)
            assert " N/A " in run_pydocker(
                env, "history", "pytest/epoch:zero").stdout.decode()
        finally:
            engine.docker("rmi", "pytest/epoch:zero", check=False)

    def test_ps_format_from_config(self, engine, env, config_dir, objects):
        (config_dir / "config.json").write_text(json.dumps({
            "psFormat": "table {{.Names}}\\t{{.State}}",
            "imagesFormat": "{{.Repository}}"}))
        assert_same_output(engine, env, ["ps", "-a"],
                           ["ps", "-a", "--format",
                            "table {{.Names}}\\t{{.State}}"])
        assert_same_output(engine, env, ["images"],
                           ["images", "--format", "{{.Repository}}"])

    def test_quiet_ignores_format_with_warning(self, engine, env, objects):
        done = run_pydocker(env, "ps", "-aq", "--format", "{{.Names}}")
        assert done.returncode == 0
        assert text(done.stderr) == ("WARNING: Ignoring custom format, "
                                     "because both --format and --quiet "
                                     "are set.\n")
        assert done.stdout == engine.docker("ps", "-aq").stdout

    def test_size_in_template_asks_engine_for_sizes(self, engine, env,
                                                    objects):
        done = run_pydocker(env, "-D", "ps", "-a", "--format", "{{.Size}}")
        assert done.returncode == 0, text(done.stderr)
        assert "size=1" in text(done.stderr)
        assert "(virtual " in text(done.stdout)


# =========================================================================
# The library: pydocker imported by another program
# =========================================================================

# Runs in a fresh interpreter: audit hooks see every file opened and
# every connection made while pydocker is imported.
LIBRARY_PROGRAM = r"""
import io, json, os, sys
events = []

def audit(event, args):
    if event == "open" and isinstance(args[0], str) \
            and not args[0].endswith((".py", ".pyc")) \
            and "__pycache__" not in args[0] \
            and not os.path.isdir(args[0]):
        events.append(["open", args[0]])
    elif event in ("socket.connect", "subprocess.Popen"):
        events.append([event, repr(args[1:2])])

captured = io.StringIO()
sys.stdout, real_stdout = captured, sys.stdout
sys.addaudithook(audit)
import pydocker
sys.stdout = real_stdout
report = {"import_output": captured.getvalue(), "import_events": events[:]}

with pydocker.Client(sys.argv[1]) as client:
    pulled = list(client.pull(sys.argv[2]))
    created = client.create_container(
        {"Image": sys.argv[2], "Cmd": ["sh", "-c", "echo out; echo err >&2"],
         "HostConfig": {"NetworkMode": "none"}}, name=sys.argv[3])
    client.start(created["Id"])
    waited = client.wait(created["Id"])
    logs = [[stream, data.decode()]
            for stream, data in client.logs(created["Id"])]
report.update(pulled=pulled[-1], waited=waited, logs=logs)
print(json.dumps(report))
"""


class TestLibrary:
    """pydocker as a library: a quiet import, then a Client alone."""

    def test_import_is_quiet_then_client_pulls_runs_and_reads_logs(
            self, engine, tmp_path, test_image):
        remove_image(engine, test_image.name_plain)
        name = "pytest-library-run"
        engine.docker("rm", "-f", name, check=False)
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("DOCKER_")}
        env["PYTHONPATH"] = HERE
        env["HOME"] = str(tmp_path)
        try:
            done = subprocess.run(
                [PYTHON, "-c", LIBRARY_PROGRAM, engine.host,
                 test_image.name_plain, name], cwd=str(tmp_path), env=env,
                capture_output=True, timeout=120, check=False)
            assert done.returncode == 0, text(done.stderr)
            report = json.loads(done.stdout)
        finally:
            engine.docker("rm", "-f", name, check=False)
        assert report["import_output"] == ""
        assert report["import_events"] == []
        assert report["pulled"]["status"] == (
            "Status: Downloaded newer image for " + test_image.name_plain)
        assert report["waited"]["StatusCode"] == 0
        assert sorted(map(tuple, report["logs"])) == [
            (1, "out\n"), (2, "err\n")]

    def test_readme_library_example_runs(self, engine, config_dir,
                                         test_image):
        with open(os.path.join(HERE, "README.md"), encoding="utf-8") as file:
            readme = file.read()
        section = readme.split("## Use it as a library", 1)[1]
        code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
        assert code.count('"busybox:latest"') == 2
        # No internet here: the same calls, with an image that the
        # suite's registry serves.
        code = code.replace('"busybox:latest"', repr(test_image.name_plain))
        before = engine.docker("ps", "-aq").stdout
        done = subprocess.run(
            [PYTHON, "-c", code], cwd=str(config_dir),
            env=pydocker_env(engine, config_dir, PYTHONPATH=HERE),
            capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, text(done.stderr)
        lines = text(done.stdout).splitlines()
        assert lines[-2].startswith("Status: ")
        assert lines[-1] == "1 b'hello\\n'"
        assert engine.docker("ps", "-aq").stdout == before  # removed

    def test_python_m_pydocker_runs_the_command_line(self, engine,
                                                     config_dir):
        env = pydocker_env(engine, config_dir, PYTHONPATH=HERE)
        done = subprocess.run([PYTHON, "-m", "pydocker", "version",
                               "--format", "{{.Server.ApiVersion}}"],
                              env=env, capture_output=True, timeout=60,
                              check=False)
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stdout) == "1.41\n"


class TestCmdSystem:
    """``version`` and ``info``, at the negotiated and pinned versions."""

    def test_version_shows_both_sides(self, engine, env):
        done = run_pydocker(env, "version")
        assert done.returncode == 0, text(done.stderr)
        out = text(done.stdout)
        server = json.loads(engine.docker(
            "version", "--format", "{{json .Server}}").stdout)
        assert f" Version:           {pydocker.__version__}\n" in out
        assert " API version:       1.41\n" in out
        assert "  Version:          {}\n".format(server["Version"]) in out
        assert "  API version:      {} (minimum version {})\n".format(
            server["ApiVersion"], server["MinAPIVersion"]) in out

    def test_info_shows_engine_facts(self, engine, env):
        done = run_pydocker(env, "info")
        assert done.returncode == 0, text(done.stderr)
        facts = json.loads(engine.docker("info", "--format",
                                         "{{json .}}").stdout)
        out = text(done.stdout)
        assert " Server Version: {}\n".format(facts["ServerVersion"]) in out
        assert " Storage Driver: vfs\n" in out
        assert " Docker Root Dir: {}\n".format(facts["DockerRootDir"]) in out
        assert f" Images: {facts['Images']:d}\n" in out

    @pytest.mark.parametrize("version", ["1.24", "1.40"])
    def test_pinned_api_version_is_used(self, engine, config_dir,
                                        busybox_image, version):
        env = pydocker_env(engine, config_dir, DOCKER_API_VERSION=version)
        done = run_pydocker(env, "-D", "version")
        assert done.returncode == 0, text(done.stderr)
        assert f" API version:       {version}\n" in text(done.stdout)
        assert f"/v{version}/version" in text(done.stderr)
        assert "/_ping" not in text(done.stderr)
        for args in (["images"], ["ps", "-a"], ["info"],
                     ["inspect", busybox_image]):
            done = run_pydocker(env, *args)
            assert done.returncode == 0, (args, text(done.stderr))
        assert_same_output(engine, env, ["images"])

    @pytest.mark.parametrize("version", ["1.24", "1.40"])
    def test_pinned_api_version_pull_and_tag(
            self, engine, config_dir, test_image, version):
        env = pydocker_env(engine, config_dir, DOCKER_API_VERSION=version)
        remove_image(engine, test_image.name_plain)
        done = run_pydocker(env, "pull", test_image.name_plain)
        assert done.returncode == 0, text(done.stderr)
        assert image_exists(engine, test_image.name_plain)
        done = run_pydocker(env, "tag", test_image.name_plain,
                            "pytest/pinned:" + version)
        assert done.returncode == 0, text(done.stderr)
        done = run_pydocker(env, "rmi", "pytest/pinned:" + version)
        assert done.returncode == 0, text(done.stderr)

    def test_malformed_pinned_version_is_one_line(self, engine, config_dir):
        env = pydocker_env(engine, config_dir, DOCKER_API_VERSION="latest")
        done = run_pydocker(env, "version")
        assert done.returncode == 1
        assert "DOCKER_API_VERSION" in text(done.stderr)
        assert len(text(done.stderr).splitlines()) == 1

    def test_version_without_engine_shows_the_client_then_the_error(
            self, tmp_path, config_dir, engine):
        socket_path = tmp_path / "none.sock"
        env = pydocker_env(engine, config_dir,
                           DOCKER_HOST=f"unix://{socket_path}")
        done = run_pydocker(env, "version")
        assert done.returncode == 1
        assert text(done.stdout).startswith(
            f"Client:\n Version:           {pydocker.__version__}\n")
        assert "Server:" not in text(done.stdout)
        assert text(done.stderr) == (
            f"Cannot connect to the Docker daemon at unix://{socket_path}. "
            "Is the docker daemon running?\n")

    def test_missing_engine_socket(self, tmp_path, config_dir, engine):
        env = pydocker_env(engine, config_dir,
                           DOCKER_HOST=f"unix://{tmp_path}/none.sock")
        done = run_pydocker(env, "ps")
        assert done.returncode == 1
        assert text(done.stderr) == (
            "Cannot connect to the Docker daemon at "
            f"unix://{tmp_path}/none.sock. Is the docker daemon running?\n")


def login(env, registry):
    """Log pydocker in to ``registry`` with --password-stdin."""
    done = run_pydocker(env, "login", "-u", registry.username,
                        "--password-stdin", registry.address,
                        input=registry.password.encode() + b"\n")
    assert done.returncode == 0, text(done.stderr)


def peak_rss_kib(env, *args, timeout=600):
    """Run pydocker; return (CompletedProcess, its peak RSS in KiB).

    A small parent process runs pydocker as its only child, so the
    child's getrusage is pydocker's alone, not pytest's other children.
    """
    wrapper = ("import resource, subprocess, sys\n"
               "done = subprocess.run(sys.argv[1:])\n"
               "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
               "sys.stderr.write('\\nPEAK %d\\n' % usage.ru_maxrss)\n"
               "sys.exit(done.returncode)\n")
    done = subprocess.run([PYTHON, "-c", wrapper, PYTHON, PYDOCKER, *args],
                          env=env, capture_output=True, timeout=timeout,
                          check=False)
    match = re.search(rb"\nPEAK (\d+)\n$", done.stderr)
    assert match, done.stderr
    done.stderr = done.stderr[:match.start()]
    return done, int(match.group(1))


# Peak memory allowed to pydocker while it moves several hundred MB.
PEAK_RSS_LIMIT_KIB = 60 * 1024
BIG_FILE_SIZE = 300 << 20


class TestCmdPush:
    """``push`` to the real registries, with and without credentials."""

    def test_push_to_plain_registry_prints_repository_and_digest(
            self, engine, env, registry, busybox_image):
        name = f"{registry.address}/pytest/pushed:one"
        engine.docker("tag", busybox_image, name)
        try:
            done = run_pydocker(env, "push", name)
            assert done.returncode == 0, text(done.stderr)
            lines = text(done.stdout).splitlines()
            assert lines[0] == ("The push refers to repository "
                                f"[{registry.address}/pytest/pushed]")
            assert re.fullmatch(r"one: digest: sha256:[0-9a-f]{64} "
                                r"size: \d+", lines[-1])
            digest = lines[-1].split()[2]
            pulled = engine.docker("pull", name.split(":one")[0] + "@"
                                   + digest)
            assert digest.encode() in pulled.stdout
            quiet = run_pydocker(env, "push", "-q", name)
            assert (quiet.returncode, text(quiet.stdout)) == (0, name + "\n")
        finally:
            remove_image(engine, name)

    def test_push_all_tags(self, engine, env, registry, busybox_image):
        repository = f"{registry.address}/pytest/alltags"
        for tag in ("a", "b"):
            engine.docker("tag", busybox_image, f"{repository}:{tag}")
        try:
            done = run_pydocker(env, "push", "--all-tags", repository)
            assert done.returncode == 0, text(done.stderr)
            out = text(done.stdout)
            assert re.search(r"^a: digest: sha256:", out, re.M)
            assert re.search(r"^b: digest: sha256:", out, re.M)
            refused = run_pydocker(env, "push", "-a", repository + ":a")
            assert refused.returncode == 1
            assert "tag can't be used with --all-tags/-a" in text(
                refused.stderr)
        finally:
            for tag in ("a", "b"):
                remove_image(engine, f"{repository}:{tag}")

    def test_push_to_auth_registry_fails_then_works_after_login(
            self, engine, env, auth_registry, busybox_image):
        name = f"{auth_registry.address}/pytest/pushed:auth"
        engine.docker("tag", busybox_image, name)
        try:
            refused = run_pydocker(env, "push", name)
            assert refused.returncode == 1
            lines = text(refused.stderr).splitlines()
            assert lines == ["no basic auth credentials",
                             f"Log in with 'pydocker login "
                             f"{auth_registry.address}' and push again"]
            login(env, auth_registry)
            done = run_pydocker(env, "push", name)
            assert done.returncode == 0, text(done.stderr)
            assert re.search(r"^auth: digest: sha256:[0-9a-f]{64}",
                             text(done.stdout), re.M)
        finally:
            remove_image(engine, name)

    def test_push_on_terminal_prompts_logs_in_and_retries(
            self, engine, env, auth_registry, busybox_image):
        name = f"{auth_registry.address}/pytest/pushed:tty"
        engine.docker("tag", busybox_image, name)
        try:
            terminal = Terminal(env, "push", name)
            terminal.read_until(b"Please login prior to push:")
            terminal.read_until(b"Username: ")
            terminal.type(auth_registry.username.encode() + b"\n")
            terminal.read_until(b"Password: ")
            terminal.type(auth_registry.password.encode() + b"\n")
            terminal.read_until(b"tty: digest: sha256:")
            assert terminal.finish() == 0
            assert auth_registry.password.encode() not in terminal.output
        finally:
            remove_image(engine, name)

    def test_push_missing_image_is_one_line(self, env, registry):
        done = run_pydocker(env, "push", f"{registry.address}/pytest/none:x")
        assert done.returncode == 1
        assert "Traceback" not in text(done.stderr)
        assert len(text(done.stderr).splitlines()) == 1


class TestCmdBuild:
    """``build`` with the classic builder, contexts made on the fly."""

    DOCKERFILE = ("FROM busybox:latest\n"
                  "ARG GREETING=unset\n"
                  "COPY . /ctx/\n"
                  "RUN echo \"$GREETING\" > /greeting\n"
                  "LABEL org.pydocker.built=yes\n")

    @pytest.fixture
    def context(self, tmp_path):
        folder = tmp_path / "context"
        (folder / "logs").mkdir(parents=True)
        (folder / "keep").mkdir()
        (folder / "Dockerfile").write_text(self.DOCKERFILE)
        (folder / "app.txt").write_text("app\n")
        (folder / "secret.key").write_text("do not send\n")
        (folder / "logs" / "a.log").write_text("log\n")
        (folder / "keep" / "b.log").write_text("kept\n")
        (folder / "keep" / "c.log").write_text("dropped\n")
        (folder / ".dockerignore").write_text(
            "# not wanted in the image\n*.key\n**/*.log\n!keep/b.log\n")
        return folder

    def test_build_honours_dockerignore_and_build_arg(
            self, engine, env, context, busybox_image):
        name = "pytest/built:ignore"
        try:
            done = run_pydocker(env, "build", "--network", "none", "-t",
                                name, "-t", name + "-second",
                                "--build-arg", "GREETING=hello there",
                                "--label", "extra=1", str(context))
            assert done.returncode == 0, text(done.stderr)
            out = text(done.stdout)
            assert re.match(r"Sending build context to Docker daemon +"
                            r"\d", out)
            # The --label flag adds a last LABEL step.
            assert "Step 5/6 : LABEL org.pydocker.built=yes" in out
            assert f"Successfully tagged {name}\n" in out
            listing = engine.docker(
                "run", "--rm", "--network", "none", name, "sh", "-c",
                "cat /greeting; cd /ctx && find . -type f | sort")
            assert text(listing.stdout).splitlines() == [
                "hello there", "./.dockerignore", "./Dockerfile",
                "./app.txt", "./keep/b.log"]
            labels = json.loads(engine.docker(
                "image", "inspect", "--format", "{{json .Config.Labels}}",
                name + "-second").stdout)
            assert labels == {"org.pydocker.built": "yes", "extra": "1"}
        finally:
            remove_image(engine, name)
            remove_image(engine, name + "-second")

    def test_history_lists_the_layers_the_build_made(
            self, engine, env, context, busybox_image):
        name = "pytest/built:history"
        try:
            done = run_pydocker(env, "build", "-q", "--network", "none",
                                "-t", name, str(context))
            assert done.returncode == 0, text(done.stderr)
            ident = text(done.stdout).strip()
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", ident)
            history = assert_same_output(engine, env, ["history", name])
            rows = history.splitlines()[1:]
            assert rows[0].startswith(ident[7:19])
            assert "LABEL org.pydocker.built=" in rows[0]
            # ARG, COPY, RUN and LABEL over busybox's one layer.
            assert len(rows) == 5
            assert "ARG GREETING=unset" in rows[3]
            assert "COPY dir:" in rows[2]
            for flags in (["-q"], ["--no-trunc"], ["-H=false"],
                          ["--no-trunc", "-q"]):
                assert_same_output(engine, env, ["history", *flags, name])
            grouped = run_pydocker(env, "image", "history", "-q", name)
            assert text(grouped.stdout).splitlines()[0] == ident[7:19]
        finally:
            remove_image(engine, name)

    def test_failing_step_ends_with_its_message_and_exit_1(
            self, env, busybox_image):
        dockerfile = b"FROM busybox:latest\nRUN echo before; exit 3\n"
        done = run_pydocker(env, "build", "--network", "none", "-",
                            input=dockerfile)
        assert done.returncode == 1
        assert "Step 2/2 : RUN echo before; exit 3" in text(done.stdout)
        assert text(done.stderr) == ("The command '/bin/sh -c echo before; "
                                     "exit 3' returned a non-zero code: "
                                     "3\n")

    def test_quiet_failure_shows_the_build_output(self, env, busybox_image):
        done = run_pydocker(env, "build", "-q", "--network", "none", "-",
                            input=b"FROM busybox:latest\nRUN exit 4\n")
        assert done.returncode == 1
        assert done.stdout == b""
        assert "Step 2/2 : RUN exit 4" in text(done.stderr)
        assert text(done.stderr).endswith("returned a non-zero code: 4\n")

    def test_tar_context_on_stdin_with_dockerfile_flag_and_target(
            self, engine, env, busybox_image):
        dockerfile = (b"FROM busybox:latest AS first\n"
                      b"COPY data.txt /data.txt\n"
                      b"FROM first AS second\nRUN false\n")
        context = _tar_bytes(lambda archive: (
            _add_file(archive, "build/Dockerfile.custom", dockerfile),
            _add_file(archive, "data.txt", b"from the tar\n")))
        name = "pytest/built:stdin"
        try:
            done = run_pydocker(env, "build", "--network", "none", "-f",
                                "build/Dockerfile.custom", "--target",
                                "first", "-t", name, "-", input=context)
            assert done.returncode == 0, text(done.stderr)
            out = engine.docker("run", "--rm", "--network", "none", name,
                                "cat", "/data.txt")
            assert out.stdout == b"from the tar\n"
        finally:
            remove_image(engine, name)

    def test_dockerfile_outside_context_and_no_cache(
            self, engine, env, tmp_path, context, busybox_image):
        outside = tmp_path / "Dockerfile.outside"
        outside.write_text("FROM busybox:latest\nCOPY . /ctx/\n")
        name = "pytest/built:outside"
        try:
            done = run_pydocker(env, "build", "--no-cache", "-f",
                                str(outside), "-t", name, str(context))
            assert done.returncode == 0, text(done.stderr)
            assert "Using cache" not in text(done.stdout)
            listing = engine.docker("run", "--rm", "--network", "none",
                                    name, "ls", "-a", "/ctx")
            names = text(listing.stdout).split()
            assert "app.txt" in names
            assert not any(n.startswith(".dockerfile.") for n in names)
        finally:
            remove_image(engine, name)

    @pytest.mark.parametrize("args, message", [
        (["/nonexistent-context"], 'unable to prepare context: path '
         '"/nonexistent-context" not found'),
        (["-f", "/nonexistent/Dockerfile", "."], "unable to prepare "
         "context: unable to evaluate symlinks in Dockerfile path: lstat "
         "/nonexistent/Dockerfile: no such file or directory"),
    ], ids=["no-context", "no-dockerfile"])
    def test_bad_build_input_is_one_line(self, env, args, message):
        done = run_pydocker(env, "build", *args)
        assert done.returncode == 1
        assert text(done.stderr) == message + "\n"

    def test_bad_tag_is_a_flag_error(self, env):
        done = run_pydocker(env, "build", "-t", "Bad:Name", ".")
        assert done.returncode == 125
        assert text(done.stderr) == (
            'invalid argument "Bad:Name" for "-t, --tag" flag: invalid '
            "reference format: repository name (library/Bad) must be "
            "lowercase\nSee 'pydocker build --help'.\n")

    def test_build_from_auth_registry_uses_registry_config(
            self, engine, env, auth_registry, test_image):
        dockerfile = f"FROM {test_image.name_auth}\n".encode()
        refused = run_pydocker(env, "build", "--pull", "-", input=dockerfile)
        assert refused.returncode == 1
        assert "no basic auth credentials" in text(refused.stderr)
        login(env, auth_registry)
        done = run_pydocker(env, "build", "-q", "--pull", "-t",
                            "pytest/built:from-auth", "-", input=dockerfile)
        try:
            assert done.returncode == 0, text(done.stderr)
        finally:
            remove_image(engine, "pytest/built:from-auth")
            remove_image(engine, test_image.name_auth)

    def test_large_context_keeps_memory_flat(self, engine, env, tmp_path,
                                             busybox_image):
        folder = tmp_path / "big"
        folder.mkdir()
        (folder / "Dockerfile").write_text(
            "FROM busybox:latest\nLABEL org.pydocker.big=yes\n")
        with open(folder / "big.bin", "wb") as handle:
            handle.truncate(BIG_FILE_SIZE)  # sparse: quick to make
        done, peak = peak_rss_kib(env, "build", "-q", str(folder))
        assert done.returncode == 0, text(done.stderr)
        engine.docker("rmi", text(done.stdout).strip())
        assert peak < PEAK_RSS_LIMIT_KIB


class TestCmdSaveLoad:
    """``save``, ``load`` and ``import`` through real files and pipes."""

    def test_save_rmi_load_gives_back_the_same_image(
            self, engine, env, tmp_path, busybox_image):
        name = "pytest/saved:one"
        engine.docker("tag", busybox_image, name)
        ident = engine.docker("image", "inspect", "--format", "{{.Id}}",
                              name).stdout
        archive = tmp_path / "saved.tar"
        done = run_pydocker(env, "save", "-o", str(archive), name)
        assert done.returncode == 0, text(done.stderr)
        # Private, as docker leaves it: an image may hold secrets.
        assert (archive.stat().st_mode & 0o777) == 0o600
        with tarfile.open(archive) as saved:
            assert "manifest.json" in saved.getnames()
        engine.docker("rmi", name)
        loaded = run_pydocker(env, "load", "-i", str(archive))
        assert loaded.returncode == 0, text(loaded.stderr)
        assert text(loaded.stdout) == f"Loaded image: {name}\n"
        assert engine.docker("image", "inspect", "--format", "{{.Id}}",
                             name).stdout == ident
        engine.docker("rmi", name)

    def test_save_to_stdout_and_load_from_stdin_quietly(
            self, engine, env, busybox_image):
        name = "pytest/saved:pipe"
        engine.docker("tag", busybox_image, name)
        saved = run_pydocker(env, "image", "save", name)
        assert saved.returncode == 0, text(saved.stderr)
        engine.docker("rmi", name)
        loaded = run_pydocker(env, "image", "load", "-q", input=saved.stdout)
        assert loaded.returncode == 0, text(loaded.stderr)
        assert text(loaded.stdout) == f"Loaded image: {name}\n"
        engine.docker("rmi", name)

    @pytest.mark.parametrize("args, message", [
        (["save", "-o", "/nonexistent/x.tar", "busybox:latest"],
         "failed to save image: invalid output path: directory "
         "'/nonexistent' does not exist"),
        (["load", "-i", "/nonexistent.tar"],
         "open /nonexistent.tar: no such file or directory"),
        (["import", "/nonexistent.tar"],
         "open /nonexistent.tar: no such file or directory"),
        (["save", "pytest/nosuch:x"],
         "Error response from daemon: reference does not exist"),
    ], ids=["save-folder", "load-file", "import-file", "save-missing"])
    def test_bad_input_is_one_line(self, env, busybox_image, args, message):
        done = run_pydocker(env, *args)
        assert done.returncode == 1
        assert text(done.stderr) == message + "\n"

    def test_save_refuses_a_terminal(self, env):
        terminal = Terminal(env, "save", "busybox:latest")
        terminal.read_until(b"cowardly refusing to save to a terminal")
        assert terminal.finish() == 1

    def test_import_tar_makes_a_runnable_image(self, engine, env, tmp_path,
                                               busybox_image):
        rootfs = tmp_path / "rootfs.tar"
        rootfs.write_bytes(_busybox_rootfs())
        name = "pytest/imported:one"
        try:
            done = run_pydocker(env, "import", "-c", 'CMD ["echo", "hi"]',
                                "-m", "from pytest", str(rootfs), name)
            assert done.returncode == 0, text(done.stderr)
            assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", text(done.stdout))
            run = engine.docker("run", "--rm", "--network", "none", name)
            assert run.stdout == b"hi\n"
            history = run_pydocker(env, "history", name)
            assert "from pytest" in text(history.stdout)
            piped = run_pydocker(env, "image", "import", "-", name + "-2",
                                 input=rootfs.read_bytes())
            assert piped.returncode == 0, text(piped.stderr)
            assert image_exists(engine, name + "-2")
        finally:
            remove_image(engine, name)
            remove_image(engine, name + "-2")

    def test_save_of_a_large_image_keeps_memory_flat(
            self, engine, env, tmp_path, busybox_image):
        folder = tmp_path / "big"
        folder.mkdir()
        (folder / "Dockerfile").write_text(
            "FROM busybox:latest\nCOPY big.bin /big.bin\n")
        with open(folder / "big.bin", "wb") as handle:
            handle.truncate(BIG_FILE_SIZE)
        name = "pytest/big:save"
        engine.docker("build", "-q", "-t", name, str(folder))
        archive = tmp_path / "big.tar"
        try:
            done, peak = peak_rss_kib(env, "save", "-o", str(archive), name)
            assert done.returncode == 0, text(done.stderr)
            assert archive.stat().st_size > BIG_FILE_SIZE
            assert peak < PEAK_RSS_LIMIT_KIB
        finally:
            archive.unlink()
            remove_image(engine, name)


class TestCmdCredentialHelper:
    """Pull, push and build with credentials kept by ``credsStore``."""

    def test_login_push_pull_build_through_creds_store(
            self, engine, config_dir, tmp_path, auth_registry,
            busybox_image):
        folder = tmp_path / "bin"
        folder.mkdir()
        helper = Helper(folder, "pytestfile")
        env = pydocker_env(engine, config_dir, PATH=f"{folder}{os.pathsep}"
                           f"{os.environ.get('PATH', '')}")
        (config_dir / "config.json").write_text(json.dumps(
            {"credsStore": "pytestfile"}))
        name = f"{auth_registry.address}/pytest/helper:one"
        engine.docker("tag", busybox_image, name)
        try:
            login(env, auth_registry)
            stored = helper.store()[auth_registry.address]
            assert stored == {"Username": auth_registry.username,
                              "Secret": auth_registry.password}
            saved = (config_dir / "config.json").read_text()
            assert auth_registry.password not in saved
            assert '"auth"' not in saved

            pushed = run_pydocker(env, "push", name)
            assert pushed.returncode == 0, text(pushed.stderr)
            engine.docker("rmi", name)
            pulled = run_pydocker(env, "pull", name)
            assert pulled.returncode == 0, text(pulled.stderr)
            assert image_exists(engine, name)
            built = run_pydocker(env, "-D", "build", "-q", "--pull", "-",
                                 input=f"FROM {name}\n".encode())
            assert built.returncode == 0, text(built.stderr)
            assert "'X-Registry-Config': '<redacted>'" in text(
                built.stderr)
            asked = [data.strip() for action, data in helper.calls()
                     if action == "get"]
            assert asked.count(auth_registry.address) >= 2
            assert ["list", ""] in helper.calls()
            for result in (pushed, pulled, built):
                assert auth_registry.password not in text(
                    result.stdout + result.stderr)
        finally:
            remove_image(engine, name)


class TestCmdEvents:
    """``events`` between two times, and as a live stream."""

    def test_events_since_until_show_the_container_the_test_ran(
            self, engine, env, busybox_image):
        since = time.time() - 1
        engine.docker("run", "--name", "pytest-events", "--network", "none",
                      busybox_image, "true")
        ident = engine.docker("inspect", "--format", "{{.Id}}",
                              "pytest-events").stdout.decode().strip()
        engine.docker("rm", "pytest-events")
        until = time.time() + 1
        args = ["events", "--since", f"{since:.3f}", "--until",
                f"{until:.3f}", "--filter", "container=" + ident]
        done = run_pydocker(env, *args)
        assert done.returncode == 0, text(done.stderr)
        actions = [line.split()[2] for line in text(done.stdout).splitlines()
                   if line.split()[1] == "container"]
        for action in ("create", "start", "die", "destroy"):
            assert action in actions
        assert actions.index("create") < actions.index("start") < \
            actions.index("die")
        assert f"container die {ident} (exitCode=0, image=busybox:latest, " \
            "name=pytest-events)" in text(done.stdout)
        assert done.stdout == engine.docker(*args).stdout
        grouped = run_pydocker(env, "system", "events", *args[1:])
        assert grouped.stdout == done.stdout

    def test_events_are_printed_as_they_arrive(self, engine, env,
                                               busybox_image):
        process = subprocess.Popen(
            [PYTHON, PYDOCKER, "events", "--filter", "event=create",
             "--filter", "container=pytest-live"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # Creating again until one is seen: the stream may not be
            # subscribed yet when the first create happens.
            line = b""
            for _ in range(20):
                engine.docker("create", "--name", "pytest-live",
                              "--network", "none", busybox_image)
                engine.docker("rm", "pytest-live")
                ready, _, _ = select.select([process.stdout], [], [], 1)
                if ready:
                    line = process.stdout.readline()
                    break
            assert b" container create " in line
            assert b"name=pytest-live" in line
        finally:
            process.terminate()
            process.wait(timeout=10)

    @pytest.fixture(scope="class")
    def window(self, engine, busybox_image):
        """Run and remove a container; return the events' arguments."""
        since = time.time() - 1
        engine.docker("run", "--name", "pytest-events-fmt", "--network",
                      "none", "--label", "tier=<db> & co", busybox_image,
                      "true")
        engine.docker("rm", "pytest-events-fmt")
        return ["--since", f"{since:.3f}", "--until", f"{time.time() + 1:.3f}",
                "--filter", "container=pytest-events-fmt"]

    @pytest.mark.parametrize("template", [
        "{{json .}}", "json", "{{json .Actor}}",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Time}} "
        "{{.TimeNano}} {{.Scope}}",
        "{{.ID}}|{{.Status}}|{{.From}}|{{.Actor.ID}}",
        "{{.}}", "{{.Actor}} {{.Actor.Attributes.nope}} "
        '{{index .Actor.Attributes "tier"}} {{len .Actor.Attributes}}',
        "table {{.Action}}\\t{{.Type}}",
        '  {{printf "%s %v" .Action .Actor.Attributes.nope}}  ',
    ])
    def test_events_format_matches_docker(self, engine, env, window,
                                          template):
        args = ["events", *window, "--format", template]
        done = run_pydocker(env, *args)
        assert done.returncode == 0, text(done.stderr)
        assert len(done.stdout.splitlines()) >= 4  # create ... destroy
        assert done.stdout == engine.docker(*args).stdout

    @pytest.mark.parametrize("template", ["{{.id}}", "{{.Actor.Nope}}",
                                          "{{.Type"])
    def test_events_bad_format_exits_64_before_any_event(
            self, engine, env, template):
        done = run_pydocker(env, "events", "--format", template)
        theirs = engine.docker("events", "--format", template, check=False)
        assert (done.returncode, theirs.returncode) == (64, 64)
        assert done.stdout == b""
        assert text(done.stderr) == text(theirs.stderr)
        assert text(done.stderr).startswith("Error parsing format: template")

    def test_bad_since_is_one_line(self, env):
        done = run_pydocker(env, "events", "--since", "yesterday-ish")
        assert done.returncode == 1
        assert text(done.stderr) == ("failed to parse value as time or "
                                     "duration: \"yesterday-ish\"\n")


class TestCmdImagePruneAndDf:
    """``image prune`` and ``system df`` against the engine's own view."""

    def test_system_df_matches_docker(self, engine, env, busybox_image):
        assert_same_output(engine, env, ["system", "df"])

    def test_system_df_verbose_matches_docker(self, engine, env,
                                              busybox_image):
        assert_same_output(engine, env, ["system", "df", "-v"])

    def test_image_prune_removes_dangling_images(self, engine, env,
                                                 busybox_image):
        dangling = engine.docker(
            "import", "-", input=_tar_bytes(lambda archive: _add_file(
                archive, "prune-me", str(time.time()).encode()))
        ).stdout.decode().strip()
        asked = run_pydocker(env, "image", "prune", input=b"n\n")
        assert asked.returncode == 0
        assert text(asked.stdout) == (
            "WARNING! This will remove all dangling images.\n"
            "Are you sure you want to continue? [y/N] ")
        assert image_exists(engine, dangling)
        done = run_pydocker(env, "image", "prune", "-f")
        assert done.returncode == 0, text(done.stderr)
        lines = text(done.stdout).splitlines()
        assert lines[0] == "Deleted Images:"
        assert f"deleted: {dangling}" in lines
        assert lines[-1].startswith("Total reclaimed space: ")
        assert not image_exists(engine, dangling)
        assert image_exists(engine, busybox_image)


# =========================================================================
# Container commands without attached streams
# =========================================================================

def container_state(engine, name):
    """Return a container's State as the reference CLI reports it."""
    return json.loads(engine.docker("inspect", "--format",
                                    "{{json .State}}", name).stdout)


@pytest.fixture()
def sleepers(engine, busybox_image, request):
    """Start ``sleep`` containers on demand; remove them afterwards.

    ``sleepers("a", "b")`` returns the full names (the test's name is
    added, so that tests never share a container).
    """
    made = []

    def start(*suffixes, args=()):
        names = []
        for suffix in suffixes:
            name = f"pytest-{request.node.name[:30]}-{suffix}"
            name = re.sub(r"[^a-zA-Z0-9_.-]", "-", name)
            made.append(name)
            engine.docker("run", "-d", "--name", name, "--network", "none",
                          *args, busybox_image, "sleep", "300")
            names.append(name)
        return names

    yield start
    if made:
        engine.docker("rm", "-f", *made, check=False)


NO_SUCH = "Error response from daemon: No such container: pytest-nosuch\n"


class TestCmdStop:
    """``stop``, ``restart``, ``kill``, ``pause`` and ``unpause``."""

    def test_stop_goes_on_after_a_missing_name(self, engine, env, sleepers):
        first, second = sleepers("a", "b")
        done = run_pydocker(env, "stop", "-t", "1", first, "pytest-nosuch",
                            second)
        assert done.returncode == 1
        assert text(done.stdout) == f"{first}\n{second}\n"
        assert text(done.stderr) == NO_SUCH
        assert not container_state(engine, first)["Running"]
        assert not container_state(engine, second)["Running"]

    def test_kill_with_signal_then_restart(self, engine, env, sleepers):
        (name,) = sleepers("k")
        done = run_pydocker(env, "kill", "-s", "KILL", name)
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stdout) == name + "\n"
        state = container_state(engine, name)
        assert not state["Running"] and state["ExitCode"] == 137
        done = run_pydocker(env, "container", "restart", "-t", "1", name)
        assert done.returncode == 0, text(done.stderr)
        assert container_state(engine, name)["Running"]

    def test_kill_bad_signal_is_the_engines_error(self, engine, env,
                                                   sleepers):
        (name,) = sleepers("s")
        done = run_pydocker(env, "kill", "-s", "BOGUS", name)
        assert done.returncode == 1
        assert text(done.stderr) == ("Error response from daemon: Invalid "
                                     "signal: BOGUS\n")
        assert container_state(engine, name)["Running"]

    def test_pause_twice_then_unpause(self, engine, env, sleepers):
        (name,) = sleepers("p")
        done = run_pydocker(env, "pause", name)
        assert (done.returncode, text(done.stdout)) == (0, name + "\n")
        assert container_state(engine, name)["Paused"]
        again = run_pydocker(env, "pause", name)
        assert again.returncode == 1
        assert "is already paused" in text(again.stderr)
        assert text(again.stderr).startswith("Error response from daemon:")
        done = run_pydocker(env, "container", "unpause", name)
        assert (done.returncode, text(done.stdout)) == (0, name + "\n")
        assert not container_state(engine, name)["Paused"]

    def test_stop_signal_needs_a_newer_api(self, engine, env, sleepers):
        (name,) = sleepers("n")
        done = run_pydocker(env, "stop", "-s", "SIGTERM", name)
        assert done.returncode == 1
        assert text(done.stderr) == ("--signal requires API version 1.42, "
                                     "but the engine speaks 1.41\n")
        assert container_state(engine, name)["Running"]

    def test_stop_deprecated_time_flag_still_works(self, engine, env,
                                                   sleepers):
        (name,) = sleepers("t")
        done = run_pydocker(env, "container", "stop", "--time", "1", name)
        assert done.returncode == 0, text(done.stderr)
        assert "'--time' is deprecated" in text(done.stderr)
        assert not container_state(engine, name)["Running"]

    @pytest.mark.parametrize("command", ["stop", "restart", "kill", "pause",
                                         "unpause"])
    def test_needs_a_container(self, env, command):
        done = run_pydocker(env, command)
        assert done.returncode == 1
        assert text(done.stderr) == (
            f'"pydocker {command}" requires at least 1 argument.\n'
            f"See 'pydocker {command} --help'.\n")

    @pytest.mark.parametrize("command", ["stop", "restart", "kill", "pause",
                                         "unpause", "top", "diff", "port",
                                         "export"])
    def test_missing_container(self, env, command):
        done = run_pydocker(env, command, "pytest-nosuch")
        assert done.returncode == 1
        assert text(done.stderr) == (
            "Error response from daemon: Cannot kill container: "
            "pytest-nosuch: No such container: pytest-nosuch\n"
            if command == "kill" else NO_SUCH)


class TestCmdTopPortDiffRename:
    """``top``, ``port``, ``diff`` and ``rename`` on real containers."""

    def test_top_with_ps_options_matches_docker(self, engine, env,
                                                sleepers):
        (name,) = sleepers("top")
        out = assert_same_output(engine, env, ["top", name, "-o",
                                               "pid,comm"])
        assert re.search(r"^\d+ +sleep$", out, re.M)

    def test_top_default_columns(self, engine, env, sleepers):
        (name,) = sleepers("top")
        done = run_pydocker(env, "container", "top", name)
        assert done.returncode == 0, text(done.stderr)
        lines = text(done.stdout).splitlines()
        theirs = text(engine.docker("top", name).stdout).splitlines()
        assert lines[0] == theirs[0]
        assert lines[0].startswith("UID" + " " * 17 + "PID")
        assert lines[1].endswith("sleep 300")

    def test_top_of_stopped_container(self, engine, env, sleepers):
        (name,) = sleepers("top")
        engine.docker("kill", name)
        done = run_pydocker(env, "top", name)
        assert done.returncode == 1
        assert text(done.stderr).endswith(" is not running\n")

    @pytest.fixture(scope="class")
    def published(self, engine, busybox_image):
        ports = [_free_port(), _free_port()]
        engine.docker("network", "create", "pytest-ports")
        engine.docker("create", "--name", "pytest-ports", "--network",
                      "pytest-ports", "-p", f"127.0.0.1:{ports[0]}:80",
                      "-p", f"127.0.0.1:{ports[1]}:81/udp", "--expose",
                      "90", busybox_image, "sleep", "300")
        engine.docker("start", "pytest-ports")
        yield ports
        engine.docker("rm", "-f", "pytest-ports", check=False)
        engine.docker("network", "rm", "pytest-ports", check=False)

    @pytest.mark.parametrize("wanted", [[], ["80"], ["80/tcp"],
                                        ["81/udp"]],
                             ids=["all", "port", "port-tcp", "port-udp"])
    def test_port_matches_docker(self, engine, env, published, wanted):
        out = assert_same_output(engine, env, ["port", "pytest-ports",
                                               *wanted])
        if not wanted:
            assert f"80/tcp -> 127.0.0.1:{published[0]}\n" in out
            assert f"81/udp -> 127.0.0.1:{published[1]}\n" in out

    @pytest.mark.parametrize("wanted, message", [
        ("81", "Error: No public port '81' published for pytest-ports"),
        ("90", "Error: No public port '90' published for pytest-ports"),
        ("abc", "Error: invalid port (abc): not a port number"),
    ], ids=["wrong-protocol", "exposed-only", "not-a-number"])
    def test_port_not_published(self, env, published, wanted, message):
        done = run_pydocker(env, "port", "pytest-ports", wanted)
        assert done.returncode == 1
        assert text(done.stderr) == message + "\n"

    def test_diff_lists_changes_as_docker(self, engine, env, busybox_image):
        engine.docker("run", "--name", "pytest-diff", "--network", "none",
                      busybox_image, "sh", "-c", "mkdir /x && echo hi > "
                      "/x/f && rm /etc/group")
        try:
            done = run_pydocker(env, "diff", "pytest-diff")
            assert done.returncode == 0, text(done.stderr)
            lines = sorted(text(done.stdout).splitlines())
            theirs = text(engine.docker("diff", "pytest-diff").stdout)
            assert lines == sorted(theirs.splitlines())
            assert {"A /x", "A /x/f", "C /etc", "D /etc/group"} <= set(lines)
        finally:
            engine.docker("rm", "-f", "pytest-diff", check=False)

    def test_rename(self, engine, env, sleepers):
        old, other = sleepers("old", "other")
        new = old.replace("-old", "-new")
        try:
            done = run_pydocker(env, "rename", old, new)
            assert (done.returncode, done.stdout) == (0, b"")
            name = engine.docker("inspect", "--format", "{{.Name}}",
                                 new).stdout
            assert text(name) == f"/{new}\n"
            clash = run_pydocker(env, "container", "rename", new, other)
            assert clash.returncode == 1
            lines = text(clash.stderr).splitlines()
            assert lines[0].startswith("Error response from daemon: ")
            assert "is already in use" in lines[0]
            assert lines[1] == f"Error: failed to rename container named {new}"
        finally:
            engine.docker("rm", "-f", new, check=False)

    def test_rename_to_blank(self, env):
        done = run_pydocker(env, "rename", "pytest-nosuch", " ")
        assert done.returncode == 1
        assert text(done.stderr) == ("Error: Neither old nor new names may "
                                     "be empty\n")


def fresh_box(engine, image, name="pytest-cp-in", args=()):
    """Create (not start) a container that has an empty folder /up."""
    engine.docker("rm", "-f", name, check=False)
    engine.docker("create", "--name", name, "--network", "none", *args,
                  image, "true")

    def add_up(archive):
        folder = tarfile.TarInfo("up")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(folder)

    engine.docker("cp", "-", f"{name}:/", input=_tar_bytes(add_up))
    return name


def file_in(engine, container, path):
    """Return a file's bytes from a container (reference CLI), or None."""
    copied = engine.docker("cp", f"{container}:{path}", "-", check=False)
    if copied.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as archive:
        member = archive.next()
        return archive.extractfile(member).read() if member.isfile() \
            else None


def tar_names(data):
    """Return the entry names of an uncompressed tar, in order."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        return [member.name for member in archive]


class TestCmdCp:
    """``cp`` both ways, following docker's rules for where files land."""

    @pytest.fixture(scope="class")
    def box(self, engine, busybox_image):
        engine.docker("run", "--name", "pytest-cp", "--network", "none",
                      busybox_image, "sh", "-c",
                      "mkdir -p /x/y && echo hi > /x/y/f && "
                      "ln -s /etc /x/abs && ln -s y/f /x/rel && "
                      "ln -s /x/y/f /flink && mkdir /up")
        yield "pytest-cp"
        engine.docker("rm", "-f", "pytest-cp", check=False)

    @pytest.mark.parametrize("source, target, expected", [
        ("/x/y/f", "new", {"new": "hi\n"}),
        ("/x/y/f", "have/", {"have/f": "hi\n"}),
        ("/x", "new", {"new/y/f": "hi\n", "new/abs": "->/etc",
                       "new/rel": "->y/f"}),
        ("/x", "have", {"have/x/y/f": "hi\n"}),
        ("/x/.", "have", {"have/y/f": "hi\n", "have/abs": "->/etc"}),
        ("/x/.", "new", {"new/y/f": "hi\n"}),
        ("/flink", "new", {"new": "->/x/y/f"}),
    ], ids=["file-new-name", "file-into-folder", "folder-new-name",
            "folder-into-folder", "contents-into-folder",
            "contents-new-folder", "link-as-link"])
    def test_copy_out(self, env, box, tmp_path, source, target, expected):
        (tmp_path / "have").mkdir()
        done = run_pydocker(env, "cp", f"{box}:{source}",
                            f"{tmp_path}/{target}")
        assert done.returncode == 0, text(done.stderr)
        assert done.stdout == b"" and done.stderr == b""
        for name, content in expected.items():
            path = tmp_path / name
            if content.startswith("->"):
                assert os.readlink(path) == content[2:]
            else:
                assert path.read_text() == content

    def test_copy_out_follow_link(self, env, box, tmp_path):
        done = run_pydocker(env, "cp", "-L", f"{box}:/flink", str(tmp_path))
        assert done.returncode == 0, text(done.stderr)
        path = tmp_path / "flink"
        assert not path.is_symlink() and path.read_text() == "hi\n"

    def test_copy_out_to_stdout_is_a_tar(self, env, box):
        done = run_pydocker(env, "container", "cp", f"{box}:/x", "-")
        assert done.returncode == 0, text(done.stderr)
        assert tar_names(done.stdout) == ["x", "x/abs", "x/rel", "x/y",
                                          "x/y/f"]

    @pytest.mark.parametrize("source, target, message", [
        ("/nosuch", "new", "Error response from daemon: Could not find the "
         "file /nosuch in container pytest-cp"),
        ("/x", "file", "cannot copy directory"),
        ("/x/y/f", "new/", "no such directory"),
        ("/x/y/f", "missing/new", 'invalid output path: directory '
         '"{tmp}/missing" does not exist'),
    ], ids=["missing-source", "folder-onto-file", "file-to-missing-folder",
            "missing-parent"])
    def test_copy_out_errors(self, env, box, tmp_path, source, target,
                             message):
        (tmp_path / "file").write_text("keep")
        done = run_pydocker(env, "cp", f"{box}:{source}",
                            f"{tmp_path}/{target}")
        assert done.returncode == 1
        assert text(done.stderr) == message.format(tmp=tmp_path) + "\n"
        assert (tmp_path / "file").read_text() == "keep"
        assert sorted(set(os.listdir(tmp_path)) - {"docker-config"}) == [
            "file"]

    @pytest.mark.parametrize("source, target, expected", [
        ("h.txt", "/up/", ["/up/h.txt"]),
        ("h.txt", "/up/renamed", ["/up/renamed"]),
        ("src", "/up", ["/up/src/sub/s"]),
        ("src", "/up/fresh", ["/up/fresh/sub/s"]),
        ("src/.", "/up", ["/up/sub/s"]),
    ], ids=["file-into-folder", "file-new-name", "folder-into-folder",
            "folder-new-name", "contents-into-folder"])
    def test_copy_in(self, engine, env, busybox_image, tmp_path, source,
                     target, expected):
        (tmp_path / "h.txt").write_text("hello\n")
        (tmp_path / "src" / "sub").mkdir(parents=True)
        (tmp_path / "src" / "sub" / "s").write_text("hello\n")
        box = fresh_box(engine, busybox_image)
        try:
            done = run_pydocker(env, "cp", f"{tmp_path}/{source}",
                                f"{box}:{target}")
            assert done.returncode == 0, text(done.stderr)
            for path in expected:
                assert file_in(engine, box, path) == b"hello\n"
        finally:
            engine.docker("rm", "-f", box, check=False)

    def test_copy_in_from_stdin_tar(self, engine, env, busybox_image):
        box = fresh_box(engine, busybox_image)
        try:
            data = _tar_bytes(lambda archive: _add_file(
                archive, "piped.txt", b"hello\n"))
            done = run_pydocker(env, "cp", "-", f"{box}:/up", input=data)
            assert done.returncode == 0, text(done.stderr)
            assert file_in(engine, box, "/up/piped.txt") == b"hello\n"
            done = run_pydocker(env, "cp", "-", f"{box}:/up/piped.txt",
                                input=data)
            assert done.returncode == 1
            assert text(done.stderr) == (f'destination "{box}:/up/piped.txt"'
                                         " must be a directory\n")
        finally:
            engine.docker("rm", "-f", box, check=False)

    # The engine keeps the archive's owners, unless -a asks it to give
    # the files to the container's user, as docker's -a does.
    @pytest.mark.parametrize("archive, owner", [(False, "4321:8765"),
                                                (True, "65534:65534")],
                             ids=["owner-kept", "archive-container-user"])
    def test_copy_in_owner(self, engine, env, busybox_image, tmp_path,
                           archive, owner):
        source = tmp_path / "owned.txt"
        source.write_text("hello\n")
        os.chown(source, 4321, 8765)
        box = fresh_box(engine, busybox_image, args=["--user", "nobody"])
        try:
            done = run_pydocker(env, "cp", *(["-a"] if archive else []),
                                str(source), f"{box}:/up")
            assert done.returncode == 0, text(done.stderr)
            copied = engine.docker("cp", f"{box}:/up/owned.txt", "-")
            with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as tar:
                member = tar.next()
            assert f"{member.uid}:{member.gid}" == owner
        finally:
            engine.docker("rm", "-f", box, check=False)

    @pytest.mark.parametrize("source, target, message", [
        ("nosuch", "/up", "lstat {tmp}/nosuch: no such file or directory"),
        ("src", "/up/file", "cannot copy directory"),
        ("h.txt", "/up/new/", "no such directory"),
        ("h.txt", "/nosuch/x", "Error response from daemon: Could not find "
         "the file /nosuch in container pytest-cp-in"),
    ], ids=["missing-source", "folder-onto-file", "file-to-missing-folder",
            "missing-parent"])
    def test_copy_in_errors(self, engine, env, busybox_image, tmp_path,
                            source, target, message):
        (tmp_path / "h.txt").write_text("hello\n")
        (tmp_path / "src").mkdir()
        box = fresh_box(engine, busybox_image)
        try:
            engine.docker("cp", str(tmp_path / "h.txt"), f"{box}:/up/file")
            done = run_pydocker(env, "cp", str(tmp_path / source),
                                f"{box}:{target}")
            assert done.returncode == 1
            assert text(done.stderr) == message.format(tmp=tmp_path) + "\n"
        finally:
            engine.docker("rm", "-f", box, check=False)

    @pytest.mark.parametrize("args, message", [
        (["a", "b"], "must specify at least one container source"),
        (["a:/x", "b:/y"], "copying between containers is not supported"),
    ], ids=["no-container", "two-containers"])
    def test_copy_needs_one_container(self, env, args, message):
        done = run_pydocker(env, "cp", *args)
        assert done.returncode == 1
        assert text(done.stderr) == message + "\n"

    def test_copy_out_refuses_link_climbing_out(self, engine, env,
                                                busybox_image, tmp_path):
        engine.docker("create", "--name", "pytest-cp-climb", "--network",
                      "none", busybox_image, "true")
        try:
            def add_climbing_link(archive):
                link = tarfile.TarInfo("trap/out")
                link.type, link.linkname = tarfile.SYMTYPE, "../../.."
                archive.addfile(link)
            engine.docker("cp", "-", "pytest-cp-climb:/",
                          input=_tar_bytes(add_climbing_link))
            done = run_pydocker(env, "cp", "pytest-cp-climb:/trap",
                                str(tmp_path / "got"))
            assert done.returncode == 1
            assert assert_one_clean_line(done.stderr) == (
                'refusing to extract "trap/out" (a link to "../../..")'
                ": it would land outside the destination")
            assert not os.path.lexists(tmp_path / "got" / "out")
        finally:
            engine.docker("rm", "-f", "pytest-cp-climb", check=False)


def _path_stat_header(name, directory=True):
    mode = (1 << 31 | 0o755) if directory else 0o644
    value = json.dumps({"name": name, "size": 0, "mode": mode,
                        "mtime": "2024-01-01T00:00:00Z", "linkTarget": ""})
    return base64.b64encode(value.encode()).decode()


def _escaping_member(kind):
    """Return a tar whose second entry tries to leave the destination."""
    def add(archive):
        folder = tarfile.TarInfo("d")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        if kind == "dotdot":
            _add_file(archive, "d/../../evil", b"x")
        elif kind == "absolute":
            _add_file(archive, "/tmp/evil", b"x")
        elif kind == "hardlink":
            link = tarfile.TarInfo("d/hard")
            link.type, link.linkname = tarfile.LNKTYPE, "/etc/passwd"
            archive.addfile(link)
        else:  # an absolute link, then a file written through it
            link = tarfile.TarInfo("d/out")
            link.type, link.linkname = tarfile.SYMTYPE, "/"
            archive.addfile(link)
            _add_file(archive, "d/out/evil", b"x")
    return _tar_bytes(add)


class TestFakeDaemonCp:
    """``cp`` refuses archive entries that would land outside."""

    @pytest.mark.parametrize("kind, shown", [
        ("dotdot", "d/../../evil"), ("absolute", "/tmp/evil"),
        ("hardlink", "d/hard"), ("through-link", "d/out/evil"),
    ], ids=["dotdot", "absolute", "hardlink", "through-link"])
    def test_escaping_entry_is_refused(self, fake_daemon, run_cli,
                                       tmp_path, kind, shown):
        fake_daemon.on("GET", "/containers/box/archive", http_response(
            200, _escaping_member(kind), {
                "Content-Type": "application/x-tar",
                "X-Docker-Container-Path-Stat": _path_stat_header("d")}))
        target = tmp_path / "dest" / "inner"
        target.parent.mkdir()
        code, out, err = run_cli("cp", "box:/d", str(target))
        assert code == 1
        line = assert_one_clean_line(err)
        assert line.startswith(f'refusing to extract "{shown}"')
        assert not (tmp_path / "evil").exists()
        assert not os.path.exists("/tmp/evil")
        assert not os.path.exists("/evil")
        assert os.listdir(tmp_path / "dest") in ([], ["inner"])

    def test_broken_tar_is_one_line(self, fake_daemon, run_cli, tmp_path):
        fake_daemon.on("GET", "/containers/box/archive", http_response(
            200, b"this is not a tar" * 64, {
                "X-Docker-Container-Path-Stat": _path_stat_header("d")}))
        code, out, err = run_cli("cp", "box:/d", str(tmp_path / "got"))
        assert code == 1
        assert assert_one_clean_line(err).startswith(
            "malformed tar from the engine")


class TestCmdExport:
    """``export`` to a file, to stdout, never to a terminal."""

    @pytest.fixture(scope="class")
    def exported(self, engine, busybox_image):
        engine.docker("create", "--name", "pytest-export", "--network",
                      "none", busybox_image, "true")
        engine.docker("cp", "-", "pytest-export:/", input=_tar_bytes(
            lambda archive: _add_file(archive, "marker.txt", b"mark\n")))
        yield "pytest-export"
        engine.docker("rm", "-f", "pytest-export", check=False)

    def test_export_to_file(self, env, exported, tmp_path):
        target = tmp_path / "out.tar"
        done = run_pydocker(env, "export", "-o", str(target), exported)
        assert (done.returncode, done.stdout) == (0, b""), done.stderr
        names = tar_names(target.read_bytes())
        assert "marker.txt" in names and "bin/busybox" in names
        assert [p.name for p in tmp_path.iterdir()
                if p.name.startswith(".pydocker_temp_")] == []

    def test_export_to_stdout(self, env, exported):
        done = run_pydocker(env, "container", "export", exported)
        assert done.returncode == 0, text(done.stderr)
        assert "marker.txt" in tar_names(done.stdout)

    def test_export_refuses_a_terminal(self, env, exported):
        terminal = Terminal(env, "export", exported)
        assert terminal.finish() == 1
        assert terminal.output == (b"cowardly refusing to save to a "
                                   b"terminal. Use the -o flag or "
                                   b"redirect\r\n")

    def test_export_to_missing_folder(self, env, exported, tmp_path):
        done = run_pydocker(env, "export", "-o",
                            str(tmp_path / "no" / "x.tar"), exported)
        assert done.returncode == 1
        assert text(done.stderr) == (
            "failed to export container: invalid output path: directory "
            f'"{tmp_path}/no" does not exist\n')

    def test_export_and_cp_stream_in_bounded_memory(self, engine, env,
                                                    busybox_image,
                                                    tmp_path):
        engine.docker("run", "--name", "pytest-big", "--network", "none",
                      busybox_image, "dd", "if=/dev/zero", "of=/big",
                      "bs=1M", "count=150")
        try:
            for args in (["export", "-o", str(tmp_path / "big.tar"),
                          "pytest-big"],
                         ["cp", "pytest-big:/big", str(tmp_path / "big")]):
                peak = _peak_memory_kib(env, args)
                assert peak < 80 * 1024, (args, peak)
            assert (tmp_path / "big").stat().st_size == 150 << 20
            assert (tmp_path / "big.tar").stat().st_size > 150 << 20
        finally:
            engine.docker("rm", "-f", "pytest-big", check=False)


def _peak_memory_kib(env, args):
    """Run pydocker and return its peak resident memory in KiB."""
    measure = ("import resource, subprocess, sys\n"
               "done = subprocess.run(sys.argv[1:])\n"
               "assert done.returncode == 0, done.returncode\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN)"
               ".ru_maxrss)\n")
    done = subprocess.run([PYTHON, "-c", measure, PYTHON, PYDOCKER, *args],
                          env=env, capture_output=True, timeout=120,
                          check=False)
    assert done.returncode == 0, text(done.stderr)
    return int(done.stdout)


class TestCmdCommit:
    """``commit`` makes an image the engine holds."""

    def test_commit_with_message_author_and_changes(self, engine, env,
                                                    sleepers):
        (name,) = sleepers("c")
        engine.docker("exec", name, "touch", "/committed")
        try:
            done = run_pydocker(env, "commit", "-m", "a message", "-a",
                                "Py Test", "-c", "ENV A=b", "-c",
                                'CMD ["ls", "/committed"]', name,
                                "pytest/committed:one")
            assert done.returncode == 0, text(done.stderr)
            image = json.loads(engine.docker(
                "image", "inspect", "pytest/committed:one").stdout)[0]
            assert text(done.stdout) == image["Id"] + "\n"
            assert image["Id"].startswith("sha256:")
            assert image["Comment"] == "a message"
            assert image["Author"] == "Py Test"
            assert "A=b" in image["Config"]["Env"]
            assert image["Config"]["Cmd"] == ["ls", "/committed"]
            ran = engine.docker("run", "--rm", "--network", "none",
                                "pytest/committed:one")
            assert ran.stdout == b"/committed\n"
            assert not container_state(engine, name)["Paused"]
        finally:
            remove_image(engine, "pytest/committed:one")

    def test_commit_without_name_or_pause(self, engine, env, sleepers):
        (name,) = sleepers("c")
        done = run_pydocker(env, "container", "commit", "--pause=false",
                            name)
        assert done.returncode == 0, text(done.stderr)
        ident = text(done.stdout).strip()
        try:
            assert image_exists(engine, ident)
        finally:
            remove_image(engine, ident)

    @pytest.mark.parametrize("args, message", [
        (["pytest-nosuch"], NO_SUCH.strip()),
        (["{name}", "Bad:x"], "invalid reference format: repository name "
         "(library/Bad) must be lowercase"),
        (["-c", "BOGUS x", "{name}"], "Error response from daemon: bogus "
         "is not a valid change command"),
    ], ids=["missing", "bad-name", "bad-change"])
    def test_commit_errors(self, engine, env, sleepers, args, message):
        (name,) = sleepers("c")
        done = run_pydocker(env, "commit",
                            *[arg.format(name=name) for arg in args])
        assert done.returncode == 1
        assert text(done.stderr) == message + "\n"


class TestCmdUpdate:
    """``update`` changes what the engine stores in HostConfig."""

    def test_update_stores_limits_and_goes_on(self, engine, env, sleepers):
        (name,) = sleepers("u")
        done = run_pydocker(env, "update", "-m", "64m", "--memory-swap",
                            "128m", "--cpus", "0.5", "--cpu-shares", "512",
                            "--pids-limit", "50", "--restart",
                            "on-failure:3", "pytest-nosuch", name)
        assert done.returncode == 1
        assert text(done.stdout) == name + "\n"
        assert text(done.stderr) == NO_SUCH
        host = json.loads(engine.docker("inspect", "--format",
                                        "{{json .HostConfig}}", name).stdout)
        assert host["Memory"] == 64 << 20
        assert host["MemorySwap"] == 128 << 20
        assert host["NanoCpus"] == 500_000_000
        assert host["CpuShares"] == 512
        assert host["PidsLimit"] == 50
        assert host["RestartPolicy"] == {"Name": "on-failure",
                                         "MaximumRetryCount": 3}

    @pytest.mark.parametrize("args, code, message", [
        ([], 1, "you must provide one or more flags when using this "
         "command"),
        (["-m", "abc"], 125, "invalid argument \"abc\" for \"-m, --memory\" "
         "flag: invalid size: 'abc'\nSee 'pydocker update --help'."),
        (["--cpus", "abc"], 125, "invalid argument \"abc\" for \"--cpus\" "
         "flag: failed to parse abc as a rational number\n"
         "See 'pydocker update --help'."),
        (["--restart", "on-failure:x"], 1, "invalid restart policy format: "
         "maximum retry count must be an integer"),
        (["--restart", "bogus"], 1, "Error response from daemon: invalid "
         "restart policy 'bogus'"),
    ], ids=["no-flags", "bad-memory", "bad-cpus", "bad-count",
            "bad-policy"])
    def test_update_errors(self, engine, env, sleepers, args, code,
                           message):
        (name,) = sleepers("u")
        done = run_pydocker(env, "container", "update", *args, name)
        assert done.returncode == code
        assert text(done.stderr) == message + "\n"
        assert done.stdout == b""


STATS_HEADER = ("CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   "
                "MEM %     NET I/O   BLOCK I/O   PIDS")


class TestCmdStats:
    """``stats`` once and streamed."""

    def test_stats_no_stream(self, engine, env, sleepers, busybox_image):
        (name,) = sleepers("st")
        ident = text(engine.docker("inspect", "--format", "{{.Id}}",
                                   name).stdout).strip()
        done = run_pydocker(env, "stats", "--no-stream", name)
        assert done.returncode == 0, text(done.stderr)
        lines = text(done.stdout).splitlines()
        assert len(lines) == 2
        assert lines[0].split() == STATS_HEADER.split()
        cells = re.split(r" {3,}", lines[1])
        assert cells[:2] == [ident[:12], name]
        assert re.fullmatch(r"\d+\.\d\d%", cells[2])
        assert re.fullmatch(r"[\d.]+[KMG]?i?B / [\d.]+[KMG]iB", cells[3])
        assert cells[-1] == "1"  # sleep is the only process

    def test_stats_all_and_no_trunc(self, engine, env, sleepers,
                                    busybox_image):
        engine.docker("create", "--name", "pytest-stats-created",
                      "--network", "none", busybox_image, "true")
        try:
            ident = text(engine.docker("inspect", "--format", "{{.Id}}",
                                       "pytest-stats-created").stdout)
            done = run_pydocker(env, "container", "stats", "-a",
                                "--no-stream", "--no-trunc")
            assert done.returncode == 0, text(done.stderr)
            row = next(line for line in text(done.stdout).splitlines()
                       if line.startswith(ident.strip()))
            assert re.split(r" {3,}", row)[1:] == [
                "pytest-stats-created", "0.00%", "0B / 0B", "0.00%",
                "0B / 0B", "0B / 0B", "0"]
        finally:
            engine.docker("rm", "-f", "pytest-stats-created", check=False)

    @pytest.mark.parametrize("args", [
        ["--format", "{{.Container}} {{.Name}} {{.ID}}"],
        ["--no-trunc", "--format", "table {{.ID}}\\t{{.Container}}\\t"
         "{{.Name}}"],
        ["--format", "table"],
    ], ids=["fields", "table-no-trunc", "table"])
    def test_stats_format_matches_docker(self, engine, env, sleepers, args):
        first, second = sleepers("a", "b")
        short = text(engine.docker("inspect", "--format", "{{.Id}}",
                                   second).stdout)[:6]
        args = ["stats", "--no-stream", *args, first, short]
        done = run_pydocker(env, *args)
        assert done.returncode == 0, text(done.stderr)
        theirs = engine.docker(*args)
        ours = text(done.stdout).splitlines()
        if args[-3] == "table":  # the usage in each row changes
            assert ours[0] == text(theirs.stdout).splitlines()[0]
            assert [line.split()[:2] for line in ours[1:]] == [
                line.split()[:2]
                for line in text(theirs.stdout).splitlines()[1:]]
            return
        assert ours == text(theirs.stdout).splitlines()
        assert short in ours[-1].split()  # .Container: as named

    def test_stats_json_and_config_format(self, engine, env, config_dir,
                                          sleepers):
        (name,) = sleepers("j")
        done = run_pydocker(env, "stats", "--no-stream", "--format", "json",
                            name)
        assert done.returncode == 0, text(done.stderr)
        ours = json.loads(done.stdout)
        theirs = json.loads(engine.docker("stats", "--no-stream", "--format",
                                          "json", name).stdout)
        assert sorted(ours) == sorted(theirs) == [
            "BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage",
            "Name", "NetIO", "PIDs"]
        stable = ("Container", "ID", "Name", "PIDs", "NetIO")
        assert {key: ours[key] for key in stable} == {
            key: theirs[key] for key in stable}
        (config_dir / "config.json").write_text(json.dumps({
            "statsFormat": "{{.Name}}={{.Container}}"}))
        done = run_pydocker(env, "stats", "--no-stream", name)
        assert text(done.stdout) == f"{name}={name}\n"

    def test_stats_missing_container(self, env, sleepers):
        (name,) = sleepers("st")
        done = run_pydocker(env, "stats", "--no-stream", name,
                            "pytest-nosuch")
        assert done.returncode == 1
        assert text(done.stderr) == NO_SUCH
        assert done.stdout == b""

    def test_stats_stream_redraws_on_terminal(self, env, sleepers):
        (name,) = sleepers("st")
        terminal = Terminal(env, "stats", name)
        try:
            terminal.read_until(b"\x1b[2J")
            terminal.read_until(name.encode())
            # Two redraws: the table went home and was written again.
            deadline = time.monotonic() + 30
            while terminal.output.count(b"\x1b[H") < 2:
                assert time.monotonic() < deadline, terminal.output[-500:]
                select.select([terminal.master], [], [], 1)
                terminal._read_some()
        finally:
            terminal.process.send_signal(signal.SIGINT)
        assert terminal.finish() == 130
        screen = terminal.output
        assert b"\x1b[K\r\n" in screen and b"\x1b[J" in screen
        assert screen.count(b"CONTAINER ID") >= 2
        # The reader threads cut off by Ctrl-C end without a word.
        assert b"Traceback" not in screen and b"Exception" not in screen


class TestCmdContainerPrune:
    """``container prune`` with a label filter (other tests' containers
    must survive)."""

    @pytest.fixture()
    def stopped(self, engine, busybox_image):
        engine.docker("create", "--name", "pytest-prune", "--label",
                      "pytest-prune=1", "--network", "none", busybox_image,
                      "true")
        ident = text(engine.docker("inspect", "--format", "{{.Id}}",
                                   "pytest-prune").stdout).strip()
        yield ident
        engine.docker("rm", "-f", "pytest-prune", check=False)

    def exists(self, engine):
        return engine.docker("inspect", "pytest-prune",
                             check=False).returncode == 0

    def test_prune_force_with_filter(self, engine, env, stopped):
        done = run_pydocker(env, "container", "prune", "-f", "--filter",
                            "label=pytest-prune=1")
        assert done.returncode == 0, text(done.stderr)
        out = text(done.stdout)
        assert out.startswith(f"Deleted Containers:\n{stopped}\n\n"
                              "Total reclaimed space: ")
        assert not self.exists(engine)
        again = run_pydocker(env, "container", "prune", "-f", "--filter",
                             "label=pytest-prune=1")
        assert text(again.stdout) == "Total reclaimed space: 0B\n"

    @pytest.mark.parametrize("answer, removed", [
        (b"y\n", True), (b"n\n", False), (b"", False)],
        ids=["yes", "no", "no-answer"])
    def test_prune_asks_first(self, engine, env, stopped, answer, removed):
        done = run_pydocker(env, "container", "prune", "--filter",
                            "label=pytest-prune=1", input=answer)
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stdout).startswith(
            "WARNING! This will remove all stopped containers.\n"
            "Are you sure you want to continue? [y/N] ")
        assert ("Deleted Containers:" in text(done.stdout)) == removed
        assert self.exists(engine) != removed

    def test_prune_bad_filter(self, env):
        done = run_pydocker(env, "container", "prune", "-f", "--filter",
                            "bogus")
        assert done.returncode == 1
        assert text(done.stderr) == (
            "bad format of filter (expected name=value)\n"
            "See 'pydocker container prune --help'.\n")


# =========================================================================
# Containers against the real engine: run, attach, exec, logs
# =========================================================================

def inspect_container(engine, name):
    """Return the engine's description of a container (reference CLI)."""
    return json.loads(engine.docker("inspect", "--type", "container",
                                    name).stdout)[0]


def container_exists(engine, name):
    return engine.docker("inspect", "--type", "container", name,
                         check=False).returncode == 0


@pytest.fixture()
def names(engine, request):
    """Make container names for one test; remove those containers after.
    """
    made = []

    def make(suffix=""):
        name = f"pytest-{request.node.name[5:40]}{suffix}"
        name = re.sub(r"[^a-zA-Z0-9_.-]", "-", name)
        made.append(name)
        return name
    yield make
    if made:
        engine.docker("rm", "-f", "-v", *made, check=False)


def run_in_busybox(env, busybox_image, *args, input=None, flags=()):
    """``pydocker run --rm --network none [flags] busybox ARGS``."""
    return run_pydocker(env, "run", "--rm", "--network", "none", *flags,
                        busybox_image, *args, input=input)


class TestCmdRun:
    """``run`` and ``create`` in the real engine."""


    def test_cidfile_in_a_missing_folder_creates_nothing(
            self, engine, env, tmp_path, busybox_image, names):
        name = names()
        done = run_pydocker(env, "run", "--rm", "--name", name, "--cidfile",
                            str(tmp_path / "none" / "cid"), "--network",
                            "none", busybox_image, "true")
        assert done.returncode == 125
        assert "container ID file" in assert_one_clean_line(done.stderr)
        assert not container_exists(engine, name)
    def test_run_copies_piped_stdin_and_exits_0(self, engine, env,
                                                busybox_image, names):
        name = names()
        done = run_pydocker(env, "run", "-i", "--rm", "--name", name,
                            "--network", "none", busybox_image, "cat",
                            input=b"hello\n")
        assert (done.returncode, done.stdout, done.stderr) == (
            0, b"hello\n", b"")
        assert not container_exists(engine, name)

    def test_run_large_stdin_comes_back_whole(self, env, busybox_image):
        data = bytes(range(256)) * 4096 + ODD_BYTES
        done = run_in_busybox(env, busybox_image, "cat", input=data,
                              flags=["-i"])
        assert done.returncode == 0, text(done.stderr)
        assert done.stdout == data

    def test_run_exit_code_is_the_containers(self, engine, env,
                                             busybox_image, names):
        name = names()
        done = run_in_busybox(env, busybox_image, "sh", "-c", "exit 3",
                              flags=["--name", name])
        assert (done.returncode, done.stdout, done.stderr) == (3, b"", b"")
        assert not container_exists(engine, name)

    def test_run_without_rm_keeps_exited_container(self, engine, env,
                                                   busybox_image, names):
        name = names()
        done = run_pydocker(env, "run", "--name", name, "--network", "none",
                            busybox_image, "sh", "-c", "echo kept; exit 2")
        assert (done.returncode, done.stdout) == (2, b"kept\n")
        state = inspect_container(engine, name)["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 2)

    @pytest.mark.parametrize("command, code", [
        (["nosuch-command"], 127), (["/etc"], 126),
    ], ids=["missing-127", "directory-126"])
    def test_run_entrypoint_that_cannot_start(self, engine, env,
                                              busybox_image, names,
                                              command, code):
        name = names()
        done = run_in_busybox(env, busybox_image, *command,
                              flags=["--name", name])
        assert done.returncode == code
        line = assert_one_clean_line(done.stderr)
        assert line.startswith("Error response from daemon: ")
        # --rm: the engine removes a container that failed to start.
        assert not container_exists(engine, name)

    def test_run_output_is_byte_exact(self, env, busybox_image):
        # A euro sign cut between two writes, then bytes that are not UTF-8.
        script = ("printf '\\342\\202'; sleep 0.1; "
                  "printf '\\254\\377\\376\\000\\n'")
        done = run_in_busybox(env, busybox_image, "sh", "-c", script)
        assert done.returncode == 0, text(done.stderr)
        assert done.stdout == ODD_BYTES

    def test_run_stdout_and_stderr_land_on_their_streams(self, env,
                                                         busybox_image):
        done = run_in_busybox(env, busybox_image, "sh", "-c",
                              "echo out; echo err >&2; echo out2")
        assert (done.returncode, done.stdout, done.stderr) == (
            0, b"out\nout2\n", b"err\n")

    def test_run_attach_only_stderr(self, env, busybox_image):
        done = run_in_busybox(env, busybox_image, "sh", "-c",
                              "echo out; echo err >&2",
                              flags=["-a", "stderr"])
        assert (done.returncode, done.stdout, done.stderr) == (
            0, b"", b"err\n")

    def test_run_tty_without_terminal_gives_raw_output(self, env,
                                                       busybox_image):
        done = run_in_busybox(env, busybox_image, "sh", "-c",
                              "echo out; echo err >&2", flags=["-t"])
        assert done.returncode == 0, text(done.stderr)
        # One stream, with the terminal's line endings.
        assert (done.stdout, done.stderr) == (b"out\r\nerr\r\n", b"")

    def test_run_detached_prints_id_of_running_container(
            self, engine, env, busybox_image, names):
        name = names()
        done = run_pydocker(env, "run", "-d", "--name", name, "--network",
                            "none", busybox_image, "sleep", "60")
        assert done.returncode == 0, text(done.stderr)
        info = inspect_container(engine, name)
        assert done.stdout == info["Id"].encode() + b"\n"
        assert info["State"]["Running"]

    def test_run_environment_user_workdir_hostname(
            self, env, busybox_image, tmp_path):
        env_file = tmp_path / "env"
        env_file.write_text("# a comment\nFROM_FILE=file value\n")
        env = dict(env, PYTEST_PASSED="passed through")
        done = run_in_busybox(
            env, busybox_image, "sh", "-c",
            'echo "$A|$FROM_FILE|$PYTEST_PASSED"; pwd; id -u; hostname',
            flags=["-e", "A=1", "--env-file", str(env_file), "-e",
                   "PYTEST_PASSED", "-w", "/tmp", "-u", "65534", "-h",
                   "pyhost"])
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stdout).splitlines() == [
            "1|file value|passed through", "/tmp", "65534", "pyhost"]

    def test_run_entrypoint_flag_replaces_image_command(self, env,
                                                        busybox_image):
        done = run_in_busybox(env, busybox_image, "one", "two",
                              flags=["--entrypoint", "echo"])
        assert (done.returncode, done.stdout) == (0, b"one two\n")

    def test_run_bind_volume_and_mount_reach_the_host(
            self, env, busybox_image, tmp_path):
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "given.txt").write_text("from host\n")
        (tmp_path / "out").mkdir()
        done = run_in_busybox(
            env, busybox_image, "sh", "-c",
            "cat /in/given.txt; echo written > /out/made.txt; "
            "echo no > /in/refused 2>/dev/null || echo read-only",
            flags=["-v", f"{tmp_path}/in:/in:ro", "--mount",
                   f"type=bind,source={tmp_path}/out,target=/out"])
        assert done.returncode == 0, text(done.stderr)
        assert done.stdout == b"from host\nread-only\n"
        assert (tmp_path / "out" / "made.txt").read_text() == "written\n"
        assert not (tmp_path / "in" / "refused").exists()

    def test_run_read_only_with_tmpfs(self, env, busybox_image):
        done = run_in_busybox(
            env, busybox_image, "sh", "-c",
            "echo ok > /scratch/f && cat /scratch/f; "
            "touch /rootfile 2>/dev/null || echo root-refused",
            flags=["--read-only", "--tmpfs", "/scratch"])
        assert done.returncode == 0, text(done.stderr)
        assert done.stdout == b"ok\nroot-refused\n"

    def test_run_add_host_and_init(self, env, busybox_image):
        done = run_in_busybox(
            env, busybox_image, "sh", "-c",
            "grep pyhost /etc/hosts; cat /proc/1/comm",
            flags=["--add-host", "pyhost:10.1.2.3", "--init"])
        assert done.returncode == 0, text(done.stderr)
        lines = text(done.stdout).splitlines()
        assert lines[0].split() == ["10.1.2.3", "pyhost"]
        assert lines[1] != "sh"  # PID 1 is the init process

    def test_create_stores_what_the_sandbox_cannot_run(
            self, engine, env, busybox_image, names, tmp_path):
        name = names()
        done = run_pydocker(
            env, "create", "--name", name, "--network", "none",
            "--privileged", "--ulimit", "nofile=2048:4096", "-m", "64m",
            "--cpus", "1.5", "--cap-add", "NET_ADMIN", "--cap-drop",
            "CHOWN", "--restart", "on-failure:3", "-l", "team=py",
            "--log-driver", "json-file", "--log-opt", "max-size=1m",
            "--health-cmd", "true", "--health-interval", "5s",
            "--health-retries", "2", "--health-timeout", "1s",
            "--health-start-period", "1m", "--stop-signal", "SIGUSR1",
            "--stop-timeout", "7", "-p", "127.0.0.1:8080:80/udp",
            "--expose", "90", "-P", "--tmpfs", "/run:size=1m",
            "--mount", "type=volume,target=/data", busybox_image, "true")
        assert done.returncode == 0, text(done.stderr)
        info = inspect_container(engine, name)
        assert done.stdout == info["Id"].encode() + b"\n"
        host, config = info["HostConfig"], info["Config"]
        assert info["State"]["Status"] == "created"
        assert host["Privileged"] is True
        assert host["Ulimits"] == [{"Name": "nofile", "Soft": 2048,
                                    "Hard": 4096}]
        assert (host["Memory"], host["NanoCpus"]) == (64 << 20, 1500000000)
        assert (host["CapAdd"], host["CapDrop"]) == (["NET_ADMIN"],
                                                     ["CHOWN"])
        assert host["RestartPolicy"] == {"Name": "on-failure",
                                         "MaximumRetryCount": 3}
        assert host["LogConfig"] == {"Type": "json-file",
                                     "Config": {"max-size": "1m"}}
        assert host["PortBindings"] == {"80/udp": [
            {"HostIp": "127.0.0.1", "HostPort": "8080"}]}
        assert host["PublishAllPorts"] is True
        assert host["Tmpfs"] == {"/run": "size=1m"}
        assert host["Mounts"] == [{"Type": "volume", "Target": "/data"}]
        assert config["Healthcheck"] == {
            "Test": ["CMD-SHELL", "true"], "Interval": 5 * 10**9,
            "Timeout": 10**9, "StartPeriod": 60 * 10**9, "Retries": 2}
        assert config["Labels"] == {"team": "py"}
        assert (config["StopSignal"], config["StopTimeout"]) == ("SIGUSR1",
                                                                 7)
        assert set(config["ExposedPorts"]) == {"80/udp", "90/tcp"}

    def test_container_create_then_start_attached(self, engine, env,
                                                  busybox_image, names):
        name = names()
        created = run_pydocker(env, "container", "create", "--name", name,
                               "--network", "none", busybox_image, "sh",
                               "-c", "echo started; exit 6")
        assert created.returncode == 0, text(created.stderr)
        assert inspect_container(engine, name)["State"]["Status"] == \
            "created"
        done = run_pydocker(env, "start", "-a", name)
        assert (done.returncode, done.stdout) == (6, b"started\n")

    def test_run_published_port_over_user_network(
            self, engine, env, busybox_image, names):
        name, network = names(), names("-net")
        engine.docker("network", "create", network)
        port = _free_port()
        try:
            done = run_pydocker(
                env, "run", "-d", "--name", name, "--network", network,
                "-p", f"127.0.0.1:{port}:80", busybox_image, "sh", "-c",
                "mkdir /www; echo served > /www/index.html; "
                "exec httpd -f -p 80 -h /www")
            assert done.returncode == 0, text(done.stderr)
            assert _http_body(f"http://127.0.0.1:{port}/") == b"served\n"
            bindings = inspect_container(engine, name)["NetworkSettings"][
                "Ports"]["80/tcp"]
            assert bindings == [{"HostIp": "127.0.0.1",
                                 "HostPort": str(port)}]
        finally:
            engine.docker("rm", "-f", name, check=False)
            engine.docker("network", "rm", network, check=False)

    def test_run_pulls_missing_image_progress_on_stderr(
            self, engine, env, test_image):
        remove_image(engine, test_image.name_plain)
        done = run_pydocker(env, "run", "--rm", "--network", "none",
                            test_image.name_plain)
        assert done.returncode == 0, text(done.stderr)
        # The image's CMD cats a file it holds; nothing else on stdout.
        assert done.stdout == b"hello from pytest\n"
        err = text(done.stderr)
        assert err.startswith(f"Unable to find image "
                              f"'{test_image.name_plain}' locally\n")
        assert "v1: Pulling from pytest/multi\n" in err
        assert f"Digest: {test_image.digest}" in err
        assert f"Status: Downloaded newer image for {test_image.name_plain}" \
            in err
        assert image_exists(engine, test_image.name_plain)

    def test_run_pull_never_refuses_missing_image(self, engine, env,
                                                  test_image):
        remove_image(engine, test_image.name_plain)
        done = run_pydocker(env, "run", "--rm", "--pull", "never",
                            "--network", "none", test_image.name_plain)
        assert done.returncode == 125
        assert text(done.stderr) == ("Error response from daemon: No such "
                                     f"image: {test_image.name_plain}\n")
        assert not image_exists(engine, test_image.name_plain)

    def test_run_cidfile(self, engine, env, busybox_image, names,
                         tmp_path):
        cidfile, name = tmp_path / "cid", names()
        done = run_in_busybox(env, busybox_image, "true",
                              flags=["--cidfile", str(cidfile), "--name",
                                     name])
        assert done.returncode == 0, text(done.stderr)
        assert re.fullmatch(r"[0-9a-f]{64}", cidfile.read_text())
        again = run_in_busybox(env, busybox_image, "true",
                               flags=["--cidfile", str(cidfile), "--name",
                                      name])
        assert again.returncode == 125
        assert text(again.stderr) == (
            "container ID file found, make sure the other container isn't "
            f"running or delete {cidfile}\n")
        assert not container_exists(engine, name)

    @pytest.mark.parametrize("flags, message", [
        (["-p", "abc:80"], "invalid hostPort: abc"),
        (["-m", "abc"], 'invalid argument "abc" for "-m, --memory" flag: '
         "invalid size: 'abc'"),
        (["--cpus", "x"], 'invalid argument "x" for "--cpus" flag: failed '
         "to parse x as a rational number"),
        (["--add-host", "foo:bar"], 'invalid argument "foo:bar" for '
         '"--add-host" flag: invalid IP address in add-host: "bar"'),
        (["--ulimit", "bogus=1"], 'invalid argument "bogus=1" for '
         '"--ulimit" flag: invalid ulimit type: bogus'),
        (["--restart", "always", "--rm"], "conflicting options: cannot "
         "specify both --restart and --rm"),
        (["--pull", "x"], "invalid pull option: 'x': must be one of "
         '"always", "missing" or "never"'),
        (["-a", "bogus"], 'invalid argument "bogus" for "-a, --attach" '
         "flag: valid streams are STDIN, STDOUT and STDERR"),
        (["--env-file", "/nonexistent/env"], "open /nonexistent/env: no "
         "such file or directory"),
        (["--mount", "type=bind"], 'invalid argument "type=bind" for '
         '"--mount" flag: target is required'),
        (["--health-interval", "x"], 'invalid argument "x" for '
         '"--health-interval" flag: time: invalid duration "x"'),
        (["--detach-keys", "ctrl-xx"], "invalid detach keys (ctrl-xx): "
         "unknown key 'ctrl-xx'"),
        (["--stop-timeout", "x"], 'invalid argument "x" for '
         '"--stop-timeout" flag: strconv.ParseInt: parsing "x": invalid '
         "syntax"),
    ], ids=["port", "memory", "cpus", "add-host", "ulimit", "restart-rm",
            "pull", "attach", "env-file", "mount", "health", "detach-keys",
            "stop-timeout"])
    def test_run_bad_values_exit_125_creating_nothing(
            self, engine, env, busybox_image, names, flags, message):
        name = names()
        done = run_pydocker(env, "run", "--name", name, *flags,
                            "--network", "none", busybox_image, "true")
        assert done.returncode == 125
        assert text(done.stderr) == (f"{message}\n"
                                     "See 'pydocker run --help'.\n")
        assert not container_exists(engine, name)

    def test_run_engine_refusal_exits_125(self, engine, env, busybox_image,
                                          names):
        name = names()
        done = run_pydocker(env, "run", "--name", name, "--network", "none",
                            "-v", "/a:relative", busybox_image, "true")
        assert done.returncode == 125
        assert "mount path must be absolute" in assert_one_clean_line(
            done.stderr)
        assert not container_exists(engine, name)

    @pytest.mark.parametrize("args", [
        ["run", "-it", "--rm", "busybox"], ["exec", "-it", "any", "sh"],
    ], ids=["run", "exec"])
    def test_tty_with_input_not_a_terminal_is_refused(self, engine, env,
                                                      args):
        before = engine.docker("ps", "-aq").stdout
        done = run_pydocker(env, *args, input=b"")
        assert (done.returncode, text(done.stderr)) == (
            1, "the input device is not a TTY\n")
        assert engine.docker("ps", "-aq").stdout == before

    def test_run_attach_with_detach_conflicts(self, env, busybox_image):
        done = run_pydocker(env, "run", "-d", "-a", "stdout",
                            busybox_image)
        assert (done.returncode, text(done.stderr)) == (
            1, "conflicting options: cannot specify both --attach and "
            "--detach\n")

    def test_run_forwards_signals_without_tty(self, engine, env,
                                              busybox_image, names):
        name = names()
        process = subprocess.Popen(
            [PYTHON, PYDOCKER, "run", "--rm", "--name", name, "--network",
             "none", busybox_image, "sh", "-c",
             'trap "echo got-term; exit 7" TERM; echo ready; '
             "while true; do sleep 0.1; done"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            assert process.stdout.readline() == b"ready\n"
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert (process.returncode, out, err) == (7, b"got-term\n", b"")

    @pytest.mark.parametrize("version", ["1.24", "1.29"])
    def test_run_rm_at_old_api_versions(self, engine, config_dir,
                                        busybox_image, names, version):
        env = pydocker_env(engine, config_dir, DOCKER_API_VERSION=version)
        name = names()
        done = run_in_busybox(env, busybox_image, "sh", "-c",
                              "echo old; exit 4", flags=["--name", name])
        assert (done.returncode, done.stdout) == (4, b"old\n")
        assert not container_exists(engine, name)


def _http_body(url, attempts=100):
    """GET ``url`` until the server in the container answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(attempts):
        try:
            with opener.open(url, timeout=5) as response:
                return response.read()
        except OSError:
            time.sleep(0.1)  # httpd may not listen yet
    raise AssertionError(f"nothing answered at {url}")


class TestCmdStartWaitRm:
    """``start``, ``wait`` and ``rm`` and their ``container`` forms."""

    def test_start_prints_names_and_runs(self, engine, env, busybox_image,
                                         names):
        first, second = names("-1"), names("-2")
        for name in (first, second):
            engine.docker("create", "--name", name, "--network", "none",
                          busybox_image, "sleep", "60")
        done = run_pydocker(env, "start", first, second)
        assert (done.returncode, text(done.stdout)) == (
            0, f"{first}\n{second}\n")
        assert inspect_container(engine, first)["State"]["Running"]
        assert inspect_container(engine, second)["State"]["Running"]

    def test_start_goes_on_after_a_failure(self, engine, env, busybox_image,
                                           names):
        name = names()
        engine.docker("create", "--name", name, "--network", "none",
                      busybox_image, "sleep", "60")
        done = run_pydocker(env, "container", "start", "pytest-nosuch",
                            name)
        assert done.returncode == 1
        assert text(done.stdout) == f"{name}\n"
        assert text(done.stderr) == (
            "Error response from daemon: No such container: pytest-nosuch\n"
            "Error: failed to start containers: pytest-nosuch\n")
        assert inspect_container(engine, name)["State"]["Running"]

    def test_start_interactive_copies_stdin(self, engine, env,
                                            busybox_image, names):
        name = names()
        engine.docker("create", "-i", "--name", name, "--network", "none",
                      busybox_image, "sh", "-c", "read line; echo got "
                      "$line; exit 5")
        done = run_pydocker(env, "start", "-ai", name, input=b"piped\n")
        assert (done.returncode, done.stdout) == (5, b"got piped\n")

    def test_start_attach_refuses_several(self, env):
        done = run_pydocker(env, "start", "-a", "one", "two")
        assert (done.returncode, text(done.stderr)) == (
            1, "you cannot start and attach multiple containers at once\n")

    def test_wait_prints_exit_codes_and_goes_on(self, engine, env,
                                                busybox_image, names):
        name = names()
        engine.docker("run", "-d", "--name", name, "--network", "none",
                      busybox_image, "sh", "-c", "sleep 0.5; exit 9")
        done = run_pydocker(env, "container", "wait", name,
                            "pytest-nosuch")
        assert done.returncode == 1
        assert done.stdout == b"9\n"
        assert text(done.stderr) == ("Error response from daemon: No such "
                                     "container: pytest-nosuch\n")

    def test_rm_running_needs_force(self, engine, env, busybox_image,
                                    names):
        name = names()
        engine.docker("run", "-d", "--name", name, "--network", "none",
                      busybox_image, "sleep", "60")
        refused = run_pydocker(env, "rm", name)
        assert refused.returncode == 1
        assert "Error response from daemon: " in assert_one_clean_line(
            refused.stderr)
        assert container_exists(engine, name)
        done = run_pydocker(env, "rm", "pytest-nosuch", name, "-f")
        # With -f a container that is not there is said, not a failure:
        # docker exits 0 too.
        assert done.returncode == 0
        assert engine.docker("rm", "-f", "pytest-nosuch",
                             check=False).returncode == 0
        assert text(done.stdout) == f"{name}\n"
        assert text(done.stderr) == ("Error response from daemon: No such "
                                     "container: pytest-nosuch\n")
        assert not container_exists(engine, name)

    def test_rm_volumes_removes_anonymous_volume(self, engine, env,
                                                 busybox_image, names):
        name = names()
        engine.docker("create", "--name", name, "-v", "/data", "--network",
                      "none", busybox_image, "true")
        volume = inspect_container(engine, name)["Mounts"][0]["Name"]
        done = run_pydocker(env, "container", "rm", "-v", name)
        assert (done.returncode, text(done.stdout)) == (0, f"{name}\n")
        assert engine.docker("volume", "inspect", volume,
                             check=False).returncode != 0


class TestCmdAttach:
    """``attach`` to running containers."""

    def test_attach_streams_stdin_and_returns_exit_code(
            self, engine, env, busybox_image, names):
        name = names()
        # Created with -i, so the engine closes its stdin when ours ends
        # (StdinOnce); then started with nothing attached.
        engine.docker("create", "-i", "--name", name, "--network", "none",
                      busybox_image, "sh", "-c",
                      "read line; echo got $line; echo err >&2; exit 9")
        engine.docker("start", name)
        done = run_pydocker(env, "attach", name, input=b"typed\n")
        assert (done.returncode, done.stdout, done.stderr) == (
            9, b"got typed\n", b"err\n")
        assert inspect_container(engine, name)["State"]["ExitCode"] == 9

    def test_attach_stopped_container_is_refused(self, engine, env,
                                                 busybox_image, names):
        name = names()
        engine.docker("create", "--name", name, "--network", "none",
                      busybox_image, "true")
        done = run_pydocker(env, "container", "attach", name)
        assert (done.returncode, text(done.stderr)) == (
            1, "You cannot attach to a stopped container, start it first\n")


class TestCmdExec:
    """``exec`` in a running container."""

    @pytest.fixture()
    def running(self, engine, busybox_image, names):
        name = names()
        engine.docker("run", "-d", "--name", name, "--network", "none",
                      busybox_image, "sleep", "600")
        return name

    def test_exec_exit_code_and_streams(self, env, running):
        done = run_pydocker(env, "exec", running, "sh", "-c",
                            "echo out; echo err >&2; exit 5")
        assert (done.returncode, done.stdout, done.stderr) == (
            5, b"out\n", b"err\n")

    def test_exec_interactive_stdin_half_closed(self, env, running):
        data = b"line one\n" + ODD_BYTES
        done = run_pydocker(env, "exec", "-i", running, "cat", input=data)
        assert (done.returncode, done.stdout) == (0, data)

    def test_exec_env_user_workdir(self, env, running):
        done = run_pydocker(env, "container", "exec", "-e", "A=1", "-u",
                            "65534", "-w", "/tmp", running, "sh", "-c",
                            'echo "$A $(id -u) $(pwd)"')
        assert (done.returncode, done.stdout) == (0, b"1 65534 /tmp\n")

    def test_exec_detached_runs_in_background(self, engine, env, running):
        done = run_pydocker(env, "exec", "-d", running, "sh", "-c",
                            "echo made > /tmp/detached")
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        for _ in range(100):
            found = engine.docker("exec", running, "cat", "/tmp/detached",
                                  check=False)
            if found.returncode == 0:
                break
            time.sleep(0.05)  # the exec runs on its own
        assert found.stdout == b"made\n"

    def test_exec_missing_command_exits_as_docker(self, engine, env,
                                                  running):
        done = run_pydocker(env, "exec", running, "nosuch-command")
        theirs = engine.docker("exec", running, "nosuch-command",
                               check=False)
        assert done.returncode == theirs.returncode
        assert done.returncode in (126, 127)
        assert b"executable file not found" in done.stdout + done.stderr

    def test_exec_in_stopped_container(self, engine, env, busybox_image,
                                       names):
        name = names()
        engine.docker("create", "--name", name, "--network", "none",
                      busybox_image, "true")
        done = run_pydocker(env, "exec", name, "true")
        assert done.returncode == 1
        assert assert_one_clean_line(done.stderr).endswith(
            "is not running")


class TestCmdLogs:
    """``logs`` of real containers, small and very large."""

    @pytest.fixture(scope="class")
    def logged(self, engine, busybox_image):
        name = "pytest-logs-small"
        engine.docker("run", "--name", name, "--network", "none",
                      busybox_image, "sh", "-c",
                      "for i in 1 2 3 4; do echo out$i; echo err$i >&2; "
                      "done; printf '\\342\\202'; printf '\\254\\377\\n'")
        yield name
        engine.docker("rm", "-f", name, check=False)

    @pytest.fixture(scope="class")
    def big(self, engine, busybox_image):
        """A container that wrote 100 MB of 1000-byte lines, and ended."""
        name = "pytest-logs-big"
        engine.docker("run", "-d", "--name", name, "--network", "none",
                      busybox_image, "sh", "-c",
                      "head -c 100000000 /dev/zero | tr '\\0' x | "
                      "fold -w 999")
        yield name
        engine.docker("rm", "-f", name, check=False)

    def test_logs_split_streams_byte_exact(self, engine, env, logged):
        done = run_pydocker(env, "logs", logged)
        assert done.returncode == 0
        # The json-file driver stores text: it keeps the euro sign whole
        # and turns the stray byte into U+FFFD.  Docker shows the same.
        assert done.stdout == b"out1\nout2\nout3\nout4\n\xe2\x82\xac" \
            b"\xef\xbf\xbd\n"
        assert done.stderr == b"err1\nerr2\nerr3\nerr4\n"
        theirs = engine.docker("logs", logged)
        assert (done.stdout, done.stderr) == (theirs.stdout, theirs.stderr)

    def test_logs_tail_and_timestamps(self, engine, env, logged):
        done = run_pydocker(env, "container", "logs", "--tail", "2", "-t",
                            logged)
        assert done.returncode == 0, text(done.stderr)
        # The tail counts the lines of both streams together.
        lines = (done.stdout + done.stderr).splitlines()
        assert len(lines) == 2
        for line in lines:
            assert re.match(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ", line)
        theirs = engine.docker("logs", "--tail", "2", "-t", logged)
        assert (done.stdout, done.stderr) == (theirs.stdout, theirs.stderr)

    def test_logs_since_and_until(self, engine, env, logged):
        created = inspect_container(engine, logged)["Created"]
        before = run_pydocker(env, "logs", "--until", "2000-01-01", logged)
        assert (before.returncode, before.stdout) == (0, b"")
        since = run_pydocker(env, "logs", "--since", created[:19] + "Z",
                             logged)
        assert since.stdout.startswith(b"out1\n")
        future = run_pydocker(env, "logs", "--since", "-1h", logged)
        assert (future.returncode, future.stdout) == (0, b"")

    def test_logs_missing_container(self, env):
        done = run_pydocker(env, "logs", "pytest-nosuch")
        assert (done.returncode, text(done.stderr)) == (
            1, "Error response from daemon: No such container: "
            "pytest-nosuch\n")

    def test_logs_follow_100mb_with_flat_memory(self, env, big):
        process = subprocess.Popen([PYTHON, PYDOCKER, "logs", "-f", big],
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env)
        total, other_bytes, peak_kb = 0, 0, 0
        for chunk in iter(lambda: process.stdout.read(1 << 20), b""):
            total += len(chunk)
            other_bytes += len(chunk) - chunk.count(b"x") - \
                chunk.count(b"\n")
            # The high-water mark of the process since its exec (the
            # rusage of a child forked from pytest would count pytest's
            # pages from before the exec).
            peak_kb = max(peak_kb, _high_water_kb(process.pid))
        err = process.stderr.read()
        assert (process.wait(timeout=SUBPROCESS_TIMEOUT), err) == (0, b"")
        assert (total, other_bytes) == (100100100, 0)  # 100000 lines
        assert 0 < peak_kb < 60 * 1024, peak_kb

    def test_logs_cut_short_by_head_is_quiet(self, env, big):
        done = subprocess.run(
            ["sh", "-c", f"{shlex.quote(PYTHON)} {shlex.quote(PYDOCKER)} "
             f"logs {big} | head -1"],
            capture_output=True, env=env, timeout=SUBPROCESS_TIMEOUT)
        assert done.returncode == 0
        assert done.stdout == b"x" * 999 + b"\n"
        assert done.stderr == b""


def _high_water_kb(pid):
    """Return a live process's peak resident memory in kB (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TestTerminalSessions:
    """``run -it``, ``attach`` and ``exec -it`` under a pseudo-terminal."""

    @staticmethod
    def assert_sane(terminal):
        modes = terminal.modes()
        assert modes[3] & termios.ECHO and modes[3] & termios.ICANON
        assert modes[3] & termios.ISIG and modes[1] & termios.OPOST

    def test_run_detach_attach_exit(self, engine, env, busybox_image,
                                    names):
        name = names()
        terminal = Terminal(env, "run", "-it", "--name", name, "--network",
                            "none", busybox_image, "sh", columns=123)
        terminal.read_until(b"# ")
        terminal.type(b"stty size; echo $((40 + 2))x\r")
        terminal.read_until(b"42x")
        assert b"50 123\r\n" in terminal.output  # resized at start
        fcntl.ioctl(terminal.master, termios.TIOCSWINSZ,
                    struct.pack("HHHH", 30, 77, 0, 0))
        terminal.process.send_signal(signal.SIGWINCH)
        for attempt in range(50):
            # The resize and the typed command travel apart: ask again
            # until the shell has seen the new size.
            mark = len(terminal.output)
            terminal.type(f"stty size; echo done$((1000 + {attempt}))\r"
                          .encode())
            terminal.read_until(f"done{1000 + attempt}\r\n".encode(),
                                after=mark)
            if b"30 77\r\n" in terminal.output[mark:]:
                break
            time.sleep(0.05)
        assert b"30 77\r\n" in terminal.output[mark:]
        terminal.type(b"\x10\x11")  # ctrl-p ctrl-q
        assert terminal.wait() == 0
        self.assert_sane(terminal)
        terminal.finish()
        assert inspect_container(engine, name)["State"]["Running"]

        again = Terminal(env, "attach", name)
        again.type(b"echo $((50 + 5))y\r")
        again.read_until(b"55y")
        again.type(b"exit 3\r")
        assert again.wait() == 3
        self.assert_sane(again)
        again.finish()
        assert inspect_container(engine, name)["State"]["ExitCode"] == 3

    @pytest.mark.parametrize("extra, flags, keys", [
        ({"DOCKER_API_VERSION": "1.29"}, ["--rm"], b"\x10\x11"),
        ({}, ["--detach-keys", "ctrl-a,x"], b"\x01x"),
    ], ids=["old-api-rm", "custom-keys"])
    def test_detach_leaves_container_running(self, engine, config_dir,
                                             busybox_image, names, extra,
                                             flags, keys):
        env = pydocker_env(engine, config_dir, **extra)
        name = names()
        terminal = Terminal(env, "run", "-it", *flags, "--name", name,
                            "--network", "none", busybox_image, "sh")
        terminal.read_until(b"# ")
        terminal.type(keys)
        assert terminal.wait() == 0
        self.assert_sane(terminal)
        terminal.finish()
        assert inspect_container(engine, name)["State"]["Running"]

    def test_ctrl_c_reaches_the_container_shell(self, engine, env,
                                                busybox_image, names):
        name = names()
        terminal = Terminal(env, "run", "-it", "--rm", "--name", name,
                            "--network", "none", busybox_image, "sh")
        terminal.read_until(b"# ")
        mark = len(terminal.output)
        terminal.type(b"echo abandoned")
        terminal.read_until(b"abandoned", after=mark)
        # A byte for the shell's line editor, not a SIGINT for us.
        terminal.type(b"\x03")
        terminal.read_until(b"# ", after=mark)
        terminal.type(b"echo $((6 * 7))z\r")
        terminal.read_until(b"42z\r\n")
        assert b"\nabandoned\r\n" not in terminal.output
        assert terminal.process.poll() is None
        terminal.type(b"exit\r")
        assert terminal.wait() == 0
        self.assert_sane(terminal)
        terminal.finish()

    def test_exec_tty_session(self, engine, env, busybox_image, names):
        name = names()
        engine.docker("run", "-d", "--name", name, "--network", "none",
                      busybox_image, "sleep", "600")
        terminal = Terminal(env, "exec", "-it", name, "sh", columns=99)
        terminal.read_until(b"# ")
        terminal.type(b"stty size; exit 4\r")
        terminal.read_until(b"50 99")
        assert terminal.wait() == 4
        self.assert_sane(terminal)
        terminal.finish()


# =========================================================================
# A second engine that speaks only TLS and checks client certificates
# =========================================================================

def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True,
                   timeout=SUBPROCESS_TIMEOUT)


def _make_ca(folder, name):
    """Make a throwaway CA in folder; return (ca.pem, ca-key.pem)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = str(folder / "ca.pem"), str(folder / "ca-key.pem")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", cert, "-days", "1", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign")
    return cert, key


def _sign(folder, stem, subject, extensions, ca):
    """Make a key and a certificate signed by ca; return their paths."""
    cert = str(folder / f"{stem}.pem")
    key = str(folder / f"{stem.replace('cert', 'key')}.pem")
    request, extfile = str(folder / f"{stem}.csr"), str(folder / f"{stem}.ext")
    with open(extfile, "w", encoding="ascii") as handle:
        handle.write("\n".join(extensions) + "\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", request, "-subj", f"/CN={subject}")
    _openssl("x509", "-req", "-in", request, "-CA", ca[0], "-CAkey", ca[1],
             "-CAcreateserial", "-days", "1", "-out", cert,
             "-extfile", extfile)
    return cert, key


class TLSEngine:
    """A private dockerd with ``--tlsverify`` on a loopback TCP port.

    Its certificate names ``localhost`` only, so ``tcp://127.0.0.1:PORT``
    is a server name that does not match.

    Attributes:
        engine: the Engine (its unix socket serves the fixtures' docker
            CLI; pydocker is tested over TCP).
        host: ``tcp://localhost:PORT``; ``ip_host`` the same by address.
        certs: a DOCKER_CERT_PATH folder: ca.pem, cert.pem, key.pem.
        ca, cert, key: the files in it.
        other_ca: a CA that signed nothing the engine uses.
    """

    def __init__(self, folder):
        ca = _make_ca(folder / "ca", "pytest-ca")
        server = _sign(folder / "ca", "server-cert", "localhost", [
            "subjectAltName=DNS:localhost",
            "extendedKeyUsage=serverAuth"], ca)
        self.certs = folder / "client"
        self.certs.mkdir()
        self.cert, self.key = _sign(self.certs, "cert", "pytest-client",
                                    ["extendedKeyUsage=clientAuth"], ca)
        self.ca = str(self.certs / "ca.pem")
        shutil.copy(ca[0], self.ca)
        for leftover in self.certs.glob("cert.*"):
            if leftover.suffix != ".pem":
                leftover.unlink()
        self.other_ca = _make_ca(folder / "other", "pytest-other-ca")[0]
        port = _free_port()
        self.host = f"tcp://localhost:{port}"
        self.ip_host = f"tcp://127.0.0.1:{port}"
        self.engine = Engine(
            tempfile.mkdtemp(prefix="pydocker-tls-engine-"),
            ["--host", f"tcp://127.0.0.1:{port}", "--tlsverify",
             "--tlscacert", ca[0], "--tlscert", server[0],
             "--tlskey", server[1]])

    def flags(self, host=None, ca=None, client_cert=True):
        """Return global flags aiming pydocker at this engine."""
        flags = ["--tlsverify", "--tlscacert", ca or self.ca,
                 "-H", host or self.host]
        if client_cert:
            flags += ["--tlscert", self.cert, "--tlskey", self.key]
        return flags


@pytest.fixture(scope="session")
def tls_engine(tmp_path_factory):
    """Yield a started TLSEngine; stop and remove it afterwards."""
    service = TLSEngine(tmp_path_factory.mktemp("tls-engine"))
    try:
        service.engine.start()
        yield service
    finally:
        service.engine.stop()


def tls_env(engine, config_dir, **extra):
    """Return an environment with no DOCKER_HOST: flags choose the host."""
    env = pydocker_env(engine, config_dir)
    env.pop("DOCKER_HOST", None)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def files_holding(folder, data):
    """Return the files below folder whose bytes contain data."""
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                if data in handle.read():
                    found.append(path)
    return found


class TestTLSEngine:
    """pydocker against a real dockerd run with ``--tlsverify``."""

    def test_tlsverify_flags_run_version_pull_images(
            self, tls_engine, config_dir, test_image):
        env = tls_env(tls_engine.engine, config_dir)
        flags = tls_engine.flags()
        done = run_pydocker(env, *flags, "version")
        assert done.returncode == 0, text(done.stderr)
        server = tls_engine.engine.docker(
            "version", "--format", "{{.Server.Version}}").stdout.decode()
        assert f"  Version:          {server.strip()}\n" in text(done.stdout)

        done = run_pydocker(env, *flags, "pull", test_image.name_plain)
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stdout).splitlines()[-1] == test_image.name_plain
        assert image_exists(tls_engine.engine, test_image.name_plain)

        done = run_pydocker(env, *flags, "images")
        assert done.returncode == 0, text(done.stderr)
        repository = test_image.name_plain.rsplit(":", 1)[0]
        assert re.search(rf"^{re.escape(repository)}\s+{TEST_TAG}\s",
                         text(done.stdout), re.M)

    @pytest.mark.parametrize("verify", ["1", "0"], ids=["one", "zero"])
    def test_environment_chooses_tls_and_files(self, tls_engine,
                                               config_dir, verify):
        # Any non-empty DOCKER_TLS_VERIFY turns verification on, as docker
        # reads it.
        env = tls_env(tls_engine.engine, config_dir,
                      DOCKER_HOST=tls_engine.host, DOCKER_TLS_VERIFY=verify,
                      DOCKER_CERT_PATH=tls_engine.certs)
        for args in (["version"], ["images"]):
            done = run_pydocker(env, *args)
            assert done.returncode == 0, text(done.stderr)
            assert done.stderr == b""
        env["DOCKER_HOST"] = tls_engine.ip_host
        done = run_pydocker(env, "version")
        assert done.returncode == 1
        assert "failed to verify" in text(done.stderr)

    def test_tls_keys_are_never_copied(self, tls_engine, tmp_path,
                                       config_dir):
        env = tls_env(tls_engine.engine, config_dir,
                      DOCKER_HOST=tls_engine.host, DOCKER_TLS_VERIFY="1",
                      DOCKER_CERT_PATH=tls_engine.certs, HOME=tmp_path)
        before = sorted(os.listdir(tls_engine.certs))
        assert run_pydocker(env, "images").returncode == 0
        assert run_pydocker(env, "logout", "x.example").returncode == 0
        with open(tls_engine.key, "rb") as handle:
            key = handle.read().strip()
        assert files_holding(config_dir, key) == []
        assert [path for path in files_holding(tmp_path, key)
                if not path.startswith(str(tls_engine.certs))] == []
        assert sorted(os.listdir(tls_engine.certs)) == before

    @pytest.mark.parametrize("case, expected", [
        ("wrong-ca", "failed to verify the certificate of {host}: "
         "certificate signed by unknown authority"),
        ("no-client-certificate", "tls: {host} refused the connection "
         "(SSLV3_ALERT_BAD_CERTIFICATE): it wants a client certificate"),
        ("name-not-in-certificate", "failed to verify the certificate of "
         "{ip_host}: IP address mismatch, certificate is not valid for "
         "'127.0.0.1'"),
        ("plain-http", "{host} expects TLS: use --tlsverify (or --tls)"),
    ], ids=["wrong-ca", "no-client-certificate", "name-not-in-certificate",
            "plain-http"])
    def test_refusal_is_one_clear_line(self, tls_engine, config_dir, case,
                                       expected):
        env = tls_env(tls_engine.engine, config_dir)
        flags = {
            "wrong-ca": tls_engine.flags(ca=tls_engine.other_ca),
            "no-client-certificate": tls_engine.flags(client_cert=False),
            "name-not-in-certificate": tls_engine.flags(
                host=tls_engine.ip_host),
            "plain-http": ["-H", tls_engine.host],
        }[case]
        done = run_pydocker(env, *flags, "images")
        assert done.returncode == 1
        assert done.stdout == b""
        line = assert_one_clean_line(done.stderr)
        assert expected.format(host=tls_engine.host,
                               ip_host=tls_engine.ip_host) in line

    def test_tls_without_verification_works_and_warns_once(
            self, tls_engine, config_dir):
        # The address is not in the certificate and the CA is not given:
        # without verification neither matters.
        env = tls_env(tls_engine.engine, config_dir)
        done = run_pydocker(env, "--tls", "--tlscert", tls_engine.cert,
                            "--tlskey", tls_engine.key, "-H",
                            tls_engine.ip_host, "version")
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stderr) == ("WARNING: TLS is on without "
                                     "verification: the engine's identity "
                                     "is not checked\n")
        assert "Server:" in text(done.stdout)


# =========================================================================
# ssh:// through the system ssh client to a private sshd
# =========================================================================

SSHD = "/usr/sbin/sshd"


class SSHServer:
    """A private sshd on two loopback ports, with throwaway keys.

    Root may log in with the user key.  On ``port`` the remote shell
    finds docker; on ``bare_port`` its PATH has no docker.  pydocker runs
    plain ``ssh``, and ssh reads its settings from the account's home
    (not $HOME), so a wrapper named ``ssh`` first on PATH adds ``-F``
    with our known_hosts and key.

    Attributes:
        port, bare_port: where sshd listens on 127.0.0.1.
        bin, bin_wrong_key: folders holding an ``ssh`` wrapper that
            offers the authorized key, or one sshd does not know.
    """

    def __init__(self, folder):
        self.dir = folder
        self.port, self.bare_port = _free_port(), _free_port()
        self.log = str(folder / "sshd.log")
        self.process = None
        for name in ("host_key", "user_key", "wrong_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                            "-C", "pytest", "-f", str(folder / name)],
                           check=True, capture_output=True,
                           timeout=SUBPROCESS_TIMEOUT)
        shutil.copy(folder / "user_key.pub", folder / "authorized_keys")
        host_key = (folder / "host_key.pub").read_text().strip()
        (folder / "known_hosts").write_text("".join(
            f"[127.0.0.1]:{port} {host_key}\n"
            for port in (self.port, self.bare_port)))
        self.bin = self._wrapper("bin", "user_key")
        self.bin_wrong_key = self._wrapper("bin-wrong-key", "wrong_key")

    def _wrapper(self, name, key):
        """Write a client config and an ``ssh`` that uses it."""
        config = self.dir / f"{name}.config"
        config.write_text(
            "Host *\n"
            f"  IdentityFile {self.dir / key}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.dir / 'known_hosts'}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n")
        folder = self.dir / name
        folder.mkdir()
        wrapper = folder / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F '
                           f'{shlex.quote(str(config))} "$@"\n')
        wrapper.chmod(0o755)
        return str(folder)

    def start(self):
        """Write sshd_config, start sshd, wait until both ports answer."""
        if not os.path.exists(SSHD) or shutil.which("ssh") is None:
            pytest.fail(f"the ssh tests need {SSHD} (openssh-server) and "
                        "ssh (openssh-client)", pytrace=False)
        # sshd insists on its privilege separation folder.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        config = self.dir / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1:{self.port}\n"
            f"ListenAddress 127.0.0.1:{self.bare_port}\n"
            f"HostKey {self.dir / 'host_key'}\n"
            f"PidFile {self.dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            f"Match LocalPort {self.bare_port}\n"
            "    SetEnv PATH=/nonexistent\n")
        self.process = _start_service([SSHD, "-D", "-e", "-f", str(config)],
                                      self.log)

        def listening():
            text = _log_tail(self.log)
            return all(f"port {port}." in text
                       for port in (self.port, self.bare_port))

        if not _wait_until(listening, self.process, REGISTRY_START_TIMEOUT):
            pytest.fail(f"sshd did not start\n--- {self.log} ---\n"
                        f"{_log_tail(self.log)}", pytrace=False)

    def stop(self):
        if self.process is not None:
            _stop_process(self.process, 10)

    def env(self, engine, config_dir, port=None, wrong_key=False):
        """Return an environment aiming pydocker at engine through ssh."""
        env = pydocker_env(engine, config_dir)
        folder = self.bin_wrong_key if wrong_key else self.bin
        env["PATH"] = folder + os.pathsep + env.get("PATH", "")
        env["DOCKER_HOST"] = self.url(engine, port)
        return env

    def url(self, engine, port=None):
        """Return ``ssh://root@127.0.0.1:PORT/path/of/engine.sock``."""
        return f"ssh://root@127.0.0.1:{port or self.port}{engine.socket}"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """Yield a started SSHServer; stop it afterwards."""
    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def ssh_children():
    """Return the PIDs of this process's children that run ssh."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _read_proc(entry, "stat").rsplit(b")", 1)[1].split()
            name = _read_proc(entry, "comm").strip()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and name == b"ssh":
            found.append(int(entry))
    return found


class TestSSH:
    """ssh:// hosts: the system ssh runs ``docker system dial-stdio``."""

    def test_version_pull_images_through_ssh(self, engine, sshd, config_dir,
                                             test_image):
        env = sshd.env(engine, config_dir)
        done = run_pydocker(env, "version")
        assert done.returncode == 0, text(done.stderr)
        server = engine.docker("version", "--format",
                               "{{.Server.Version}}").stdout.decode().strip()
        assert f"  Version:          {server}\n" in text(done.stdout)

        remove_image(engine, test_image.name_plain)
        done = run_pydocker(env, "pull", test_image.name_plain)
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stdout).splitlines()[-1] == test_image.name_plain
        assert image_exists(engine, test_image.name_plain)

        done = run_pydocker(env, "images")
        assert done.returncode == 0, text(done.stderr)
        repository = test_image.name_plain.rsplit(":", 1)[0]
        assert re.search(rf"^{re.escape(repository)}\s+{TEST_TAG}\s",
                         text(done.stdout), re.M)
        assert done.stderr == b""

    def test_client_keeps_one_ssh_process_and_reaps_it(
            self, engine, sshd, busybox_image, monkeypatch):
        monkeypatch.setenv("PATH", sshd.bin + os.pathsep + os.environ["PATH"])
        client = pydocker.Client(sshd.url(engine))
        try:
            assert client.version()["ApiVersion"]
            process = client._connection.process
            assert client.images()
            assert client.inspect_image(busybox_image)["Id"]
            assert client._connection.process is process
            assert ssh_children() == [process.pid]
        finally:
            client.close()
        assert process.returncode is not None
        assert ssh_children() == []
        assert not os.path.exists(f"/proc/{process.pid}")

    @pytest.mark.parametrize("case, expected", [
        ("nothing-listening", "ssh: connect to host 127.0.0.1 port {port}: "
         "Connection refused"),
        ("key-rejected", "ssh: root@127.0.0.1: Permission denied "
         "(publickey)"),
        ("no-docker-on-host", "docker is not installed on the remote host, "
         "or not on its PATH: bash: "),
    ], ids=["nothing-listening", "key-rejected", "no-docker-on-host"])
    def test_failure_is_one_clear_line(self, engine, sshd, config_dir, case,
                                       expected):
        port = {"nothing-listening": _free_port(),
                "no-docker-on-host": sshd.bare_port}.get(case, sshd.port)
        env = sshd.env(engine, config_dir, port,
                       wrong_key=case == "key-rejected")
        done = run_pydocker(env, "images")
        assert done.returncode == 1
        assert done.stdout == b""
        line = assert_one_clean_line(done.stderr)
        assert line.startswith(f"error during connect: {env['DOCKER_HOST']}"
                               ": ")
        assert expected.format(port=port) in line
        assert ssh_children() == []


# =========================================================================
# Faults: engines and registries that die mid-pull, saves that fail
# =========================================================================

class _StallingHandler(http.server.BaseHTTPRequestHandler):
    """Forward to the real registry; stall blob downloads halfway."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._forward()

    def do_HEAD(self):  # noqa: N802 (http.server's naming)
        self._forward()

    def _forward(self):
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(proxy.upstream, timeout=30)
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() not in ("host", "connection")}
        upstream.request(self.command, self.path, headers=headers)
        answer = upstream.getresponse()
        body = answer.read()
        upstream.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding",
                                    "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if "/blobs/" not in self.path:
            self.wfile.write(body)
            return
        # Half a blob, then nothing until the test has done its harm.
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        proxy.stalled.set()
        proxy.release.wait(120)

    def log_message(self, *args):
        pass


class StallingRegistry:
    """A registry in front of the suite's one whose blobs never finish.

    Attributes:
        address: where engines find it (127.0.0.1:PORT, so insecure).
        stalled: set once a blob download is hanging halfway.
    """

    def __init__(self, upstream):
        self.upstream = upstream
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      _StallingHandler)
        self.server.daemon_threads = True
        self.server.proxy = self
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        """Stop answering: hanging downloads end, new connections fail."""
        self.server.shutdown()
        self.server.server_close()
        self.release.set()


@pytest.fixture
def stalling_registry(registry):
    proxy = StallingRegistry(registry.address)
    yield proxy
    proxy.stop()


@pytest.fixture
def spare_engine(busybox_image):
    """A throwaway dockerd that a test may kill (never the session one).

    It gives up a download at the first failure instead of retrying for
    most of a minute.
    """
    service = Engine(tempfile.mkdtemp(prefix="pydocker-spare-engine-"),
                     ["--max-download-attempts=1"])
    try:
        service.start()
        yield service
    finally:
        service.stop()


class PullInProgress:
    """``pydocker pull`` running in the background, its output collected."""

    def __init__(self, env, reference):
        self.process = subprocess.Popen(
            [PYTHON, PYDOCKER, "pull", reference], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        self.stdout = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.stdout.append(line.decode("utf-8", "replace"))

    def finish(self):
        """Wait for the end; return (exit code, stdout text, stderr)."""
        stderr = self.process.stderr.read()
        code = self.process.wait(SUBPROCESS_TIMEOUT)
        self.reader.join(SUBPROCESS_TIMEOUT)
        return code, "".join(self.stdout), text(stderr)


class TestPullFaults:
    """A pull whose engine or registry goes away half-way."""

    def start_stalled_pull(self, engine, proxy, config_dir, test_image):
        reference = f"{proxy.address}/{TEST_REPOSITORY}:{TEST_TAG}"
        pull = PullInProgress(pydocker_env(engine, config_dir), reference)
        assert proxy.stalled.wait(SUBPROCESS_TIMEOUT), "no blob was asked"
        return pull

    def test_engine_killed_mid_pull_is_one_line(
            self, spare_engine, stalling_registry, config_dir, test_image):
        pull = self.start_stalled_pull(spare_engine, stalling_registry,
                                       config_dir, test_image)
        spare_engine.process.kill()
        code, out, err = pull.finish()
        assert code == 1
        assert "Pulling from pytest/multi" in out
        assert assert_one_clean_line(err) in (
            "the engine's answer ended in the middle of a message: "
            "connection lost",
            "error reading the engine's answer: Connection reset by peer")

    def test_registry_stopping_mid_pull_is_one_line(
            self, spare_engine, stalling_registry, config_dir, test_image):
        pull = self.start_stalled_pull(spare_engine, stalling_registry,
                                       config_dir, test_image)
        stalling_registry.stop()
        code, out, err = pull.finish()
        assert code == 1
        assert "Pulling from pytest/multi" in out
        line = assert_one_clean_line(err)
        assert "EOF" in line or "connection refused" in line
        assert not image_exists(
            spare_engine, f"{stalling_registry.address}/{TEST_REPOSITORY}"
            f":{TEST_TAG}")


class TestStreamFaults:
    """``logs -f`` and ``events`` whose engine is killed half-way."""

    def killed_while(self, spare_engine, config_dir, args, shown):
        """Run pydocker until ``shown`` is on its stdout, kill the engine,
        and return (exit code, stdout, stderr)."""
        process = subprocess.Popen(
            [PYTHON, PYDOCKER, *args],
            env=pydocker_env(spare_engine, config_dir),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)
        seen = b""
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while shown not in seen:
            assert time.monotonic() < deadline, seen
            chunk = process.stdout.read1(65536)
            assert chunk, (seen, process.stderr.read())
            seen += chunk
        spare_engine.process.kill()
        out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
        return process.returncode, seen + out, text(err)

    def test_engine_killed_mid_logs_follow_is_one_line(
            self, spare_engine, config_dir):
        spare_engine.docker("import", "-", "busybox:latest",
                            input=_busybox_rootfs())
        spare_engine.docker("run", "-d", "--name", "talker", "--network",
                            "none", "busybox:latest", "sh", "-c",
                            "echo ready; while true; do sleep 0.2; "
                            "echo tick; done")
        code, out, err = self.killed_while(
            spare_engine, config_dir, ["logs", "-f", "talker"], b"ready")
        assert code == 1
        assert out.startswith(b"ready\n")
        assert assert_one_clean_line(err).startswith(
            "Cannot connect to the Docker daemon at ")

    def test_engine_killed_mid_events_is_one_line(
            self, spare_engine, config_dir):
        trigger = threading.Timer(
            1.0, lambda: spare_engine.docker("volume", "create",
                                             "pytest-event"))
        trigger.start()
        code, out, err = self.killed_while(
            spare_engine, config_dir, ["events"], b"volume create")
        trigger.join()
        assert code == 1
        assert b"volume create pytest-event" in out
        assert assert_one_clean_line(err) in (
            "the engine's answer ended in the middle of a message: "
            "connection lost",
            "error reading the engine's answer: Connection reset by peer")


def login_process(host, config, key, password="pw"):
    """Start ``pydocker login`` for key, saving into the config folder."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = str(config)
    env["HOME"] = str(config)
    process = subprocess.Popen(
        [PYTHON, PYDOCKER, "-H", host, "login", "-u", "u",
         "--password-stdin", key], env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdin.write(password.encode() + b"\n")
    process.stdin.close()
    return process


def auth_answers(count):
    return [json_response(200, {"Status": "Login Succeeded"})] * count


@pytest.fixture
def mount_point(tmp_path):
    """An empty folder to mount on; unmounted again afterwards."""
    folder = tmp_path / "mnt"
    folder.mkdir()
    yield folder
    _unmount_under(str(folder))


OLD_CONFIG = {"auths": {"old.example": {"auth": b64("old:pw")}},
              "psFormat": "table {{.ID}}"}


class TestConfigFaults:
    """config.json saves cut short, racing, or with nowhere to go."""

    def test_login_killed_at_any_moment_leaves_old_or_new(
            self, tmp_path, fake_daemon):
        folder = tmp_path / "cfg"
        path = write_config(folder, OLD_CONFIG)
        fake_daemon.on("POST", "/auth", *auth_answers(100))
        # One undisturbed login says how long a whole one takes here; the
        # kills then land anywhere from start-up to the final rename.
        started = time.monotonic()
        assert login_process(fake_daemon.host, folder,
                             "first.example").wait(SUBPROCESS_TIMEOUT) == 0
        whole = time.monotonic() - started
        keys = {"old.example", "first.example"}
        rng = random.Random(FUZZ_SEED)
        for number in range(30):
            key = f"r{number}.example"
            process = login_process(fake_daemon.host, folder, key)
            time.sleep(rng.uniform(0, whole * 1.2))
            process.kill()
            process.wait(SUBPROCESS_TIMEOUT)
            process.stdout.close()
            process.stderr.close()
            data = json.loads(path.read_text())
            saved = set(data["auths"])
            assert saved in (keys, keys | {key})
            assert data["psFormat"] == OLD_CONFIG["psFormat"]
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            keys = saved

    def test_concurrent_logins_keep_every_entry(self, tmp_path,
                                                fake_daemon):
        folder = tmp_path / "cfg"
        path = write_config(folder, OLD_CONFIG)
        fake_daemon.on("POST", "/auth", *auth_answers(16))
        processes = [login_process(fake_daemon.host, folder,
                                   f"c{number}.example", f"pw{number}")
                     for number in range(16)]
        for process in processes:
            assert process.wait(SUBPROCESS_TIMEOUT) == 0, \
                process.stderr.read()
            process.stdout.close()
            process.stderr.close()
        auths = json.loads(path.read_text())["auths"]
        assert set(auths) == {"old.example"} | {
            f"c{number}.example" for number in range(16)}
        for number in range(16):
            assert base64.b64decode(auths[f"c{number}.example"]["auth"]) \
                == f"u:pw{number}".encode()

    def check_refused_save(self, fake_daemon, folder, reason):
        path = folder / "config.json"
        before = path.read_bytes()
        fake_daemon.on("POST", "/auth", *auth_answers(2))
        for args in (["login", "-u", "u", "--password-stdin",
                      "new.example"], ["logout", "old.example"]):
            done = subprocess.run(
                [PYTHON, PYDOCKER, "-H", fake_daemon.host, *args],
                input=b"pw\n", capture_output=True,
                timeout=SUBPROCESS_TIMEOUT,
                env=dict(os.environ, DOCKER_CONFIG=str(folder)))
            assert done.returncode == 1
            lines = text(done.stderr).splitlines()
            assert lines == [f"cannot save {path}: {reason}"], lines
            assert path.read_bytes() == before
            # The half-written temporary file was removed.
            assert [name for name in os.listdir(folder)
                    if name.startswith(".config.json.")] == []

    def test_full_disk_refuses_with_old_file_intact(self, fake_daemon,
                                                    mount_point):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                        str(mount_point)], check=True)
        write_config(mount_point, OLD_CONFIG)
        with open(mount_point / "filler", "wb", buffering=0) as filler:
            with pytest.raises(OSError):
                while True:
                    filler.write(b"\0" * 4096)
        self.check_refused_save(fake_daemon, mount_point,
                                "No space left on device")

    def test_read_only_folder_refuses_with_old_file_intact(
            self, fake_daemon, mount_point):
        write_config(mount_point, OLD_CONFIG)
        folder = str(mount_point)
        subprocess.run(["mount", "--bind", folder, folder], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", folder],
                       check=True)
        self.check_refused_save(fake_daemon, mount_point,
                                "Read-only file system")


# =========================================================================
# Secrets: never in output, even with -D; private files
# =========================================================================

class TestSecrets:
    """login, pull, push, build and logout against the real engine and
    auth registry."""

    def test_debug_output_never_shows_a_secret(
            self, engine, tmp_path, test_image, auth_registry):
        # A config folder that does not exist yet: pydocker makes it.
        config_dir = tmp_path / "fresh" / "docker"
        env = pydocker_env(engine, config_dir)
        remove_image(engine, test_image.name_auth)
        address = auth_registry.address
        runs = [run_pydocker(env, "-D", "login", "-u",
                             auth_registry.username, "--password-stdin",
                             address,
                             input=auth_registry.password.encode() + b"\n")]
        assert runs[0].returncode == 0, text(runs[0].stderr)

        path = config_dir / "config.json"
        assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        auth = json.loads(path.read_text())["auths"][address]["auth"]
        registry_auth = pydocker.encode_auth({
            "username": auth_registry.username,
            "password": auth_registry.password, "serveraddress": address})
        assert pydocker.encode_auth(pydocker.ConfigFile.load(
            str(config_dir)).resolve_auth(address)) == registry_auth

        runs.append(run_pydocker(env, "-D", "pull", test_image.name_auth))
        assert runs[1].returncode == 0, text(runs[1].stderr)
        assert image_exists(engine, test_image.name_auth)
        # The header was logged, redacted.
        assert "'X-Registry-Auth': '<redacted>'" in text(runs[1].stderr)
        runs.append(run_pydocker(env, "-D", "push", test_image.name_auth))
        assert runs[2].returncode == 0, text(runs[2].stderr)
        assert "'X-Registry-Auth': '<redacted>'" in text(runs[2].stderr)

        # A build whose FROM needs the registry's credentials: they go in
        # X-Registry-Config, every registry's at once.
        context = tmp_path / "context"
        context.mkdir()
        (context / "Dockerfile").write_text(
            f"FROM {test_image.name_auth}\nLABEL org.pydocker.secret=1\n")
        built = "pytest/secret-build:1"
        runs.append(run_pydocker(env, "-D", "build", "-t", built,
                                 str(context)))
        assert runs[3].returncode == 0, text(runs[3].stderr)
        assert "'X-Registry-Config': '<redacted>'" in text(runs[3].stderr)
        remove_image(engine, built)
        # The header's value, made as build makes it.
        registry_config = pydocker.encode_auth(pydocker.ConfigFile.load(
            str(config_dir)).all_auths())
        assert auth_registry.password in base64.urlsafe_b64decode(
            registry_config).decode()

        runs.append(run_pydocker(env, "-D", "logout", address))
        assert runs[4].returncode == 0, text(runs[4].stderr)

        secrets = [auth_registry.password, auth, registry_auth,
                   registry_auth.rstrip("="), registry_config,
                   registry_config.rstrip("="),
                   base64.b64encode(auth_registry.password.encode())
                   .decode()]
        # logout talks to no engine: it has nothing to log.
        assert all(b"DEBUG" in run.stderr for run in runs[:4])
        for run in runs:
            for secret in secrets:
                assert secret.encode() not in run.stdout
                assert secret.encode() not in run.stderr
        remove_image(engine, test_image.name_auth)


# =========================================================================
# Podman's Docker-compatible service
# =========================================================================

@pytest.fixture()
def podman_env(podman, config_dir):
    """Return an environment aiming pydocker at the Podman service."""
    return pydocker_env(podman, config_dir)


def podman_has(podman, kind, name):
    """Return True when Podman holds a container or image by that name."""
    return podman.podman(kind, "exists", name, check=False).returncode == 0


class TestPodman:
    """The everyday commands against ``podman system service``.

    Where Podman 4.3 answers differently from dockerd, pydocker still
    gives what docker gives.
    """

    def test_version_and_info_describe_podman(self, podman, podman_env):
        done = run_pydocker(podman_env, "version")
        assert done.returncode == 0, text(done.stderr)
        assert " Podman Engine:\n" in text(done.stdout)
        assert "API version:       1.41" in text(done.stdout)
        done = run_pydocker(podman_env, "info")
        assert done.returncode == 0, text(done.stderr)
        assert " Storage Driver: vfs\n" in text(done.stdout)
        assert f" Docker Root Dir: {podman.storage}\n" in text(done.stdout)

    def test_images_lists_busybox_by_podman_id(self, podman, podman_env):
        done = run_pydocker(podman_env, "images", "--no-trunc", "--format",
                            "{{.Repository}}:{{.Tag}} {{.ID}}", "busybox")
        assert done.returncode == 0, text(done.stderr)
        ident = podman.podman("image", "inspect", "--format", "{{.Id}}",
                              "docker.io/library/busybox").stdout.decode()
        assert text(done.stdout) == f"busybox:latest sha256:{ident}"

    def test_run_gives_output_exit_code_and_logs(self, podman, podman_env):
        name = "pytest-podman-run"
        try:
            done = run_pydocker(podman_env, "run", "--name", name,
                                "--network", "none", "busybox", "sh", "-c",
                                "echo out; echo err >&2; exit 4")
            assert (done.returncode, done.stdout, done.stderr) == \
                (4, b"out\n", b"err\n")
            status = podman.podman("inspect", "--format",
                                   "{{.State.ExitCode}}", name)
            assert status.stdout == b"4\n"
            logs = run_pydocker(podman_env, "logs", name)
            assert (logs.returncode, logs.stdout, logs.stderr) == \
                (0, b"out\n", b"err\n")
            listed = run_pydocker(podman_env, "ps", "--all", "--filter",
                                  f"name={name}", "--format",
                                  "{{.Names}} {{.Status}}")
            assert text(listed.stdout).startswith(f"{name} Exited (4) ")
            removed = run_pydocker(podman_env, "rm", name)
            assert removed.stdout == f"{name}\n".encode()
            assert not podman_has(podman, "container", name)
        finally:
            podman.podman("rm", "--force", name, check=False)

    def test_run_rm_gives_the_exit_code_and_removes(self, podman,
                                                    podman_env):
        name = "pytest-podman-rm"
        done = run_pydocker(podman_env, "run", "--rm", "--name", name,
                            "--network", "none", "busybox", "sh", "-c",
                            "exit 3")
        assert done.returncode == 3, text(done.stderr)
        assert not podman_has(podman, "container", name)

    def test_run_interactive_rm_copies_stdin(self, podman, podman_env):
        name = "pytest-podman-stdin"
        done = run_pydocker(podman_env, "run", "-i", "--rm", "--name", name,
                            "--network", "none", "busybox", "sh", "-c",
                            "cat; exit 2", input=b"hello\npodman\n")
        assert (done.returncode, done.stdout) == (2, b"hello\npodman\n")
        assert not podman_has(podman, "container", name)

    def test_exec_ps_and_rm_of_a_running_container(self, podman,
                                                   podman_env):
        name = "pytest-podman-exec"
        try:
            started = run_pydocker(podman_env, "run", "-d", "--name", name,
                                   "--network", "none", "busybox", "sleep",
                                   "300")
            assert started.returncode == 0, text(started.stderr)
            done = run_pydocker(podman_env, "exec", name, "sh", "-c",
                                "echo in; exit 5")
            assert (done.returncode, done.stdout) == (5, b"in\n")
            done = run_pydocker(podman_env, "exec", "-i", name, "cat",
                                input=b"typed\n")
            assert (done.returncode, done.stdout) == (0, b"typed\n")
            listed = run_pydocker(podman_env, "ps", "--no-trunc",
                                  "--format", "{{.ID}} {{.Names}}")
            assert f"{started.stdout.decode().strip()} {name}\n" in \
                text(listed.stdout)
            refused = run_pydocker(podman_env, "rm", name)
            assert refused.returncode == 1
            assert assert_one_clean_line(refused.stderr).startswith(
                "Error response from daemon: ")
            assert podman_has(podman, "container", name)
            removed = run_pydocker(podman_env, "rm", "--force", name)
            assert removed.returncode == 0, text(removed.stderr)
            assert not podman_has(podman, "container", name)
        finally:
            podman.podman("rm", "--force", "--time", "0", name, check=False)

    def test_tag_and_rmi(self, podman, podman_env):
        tagged = "pytest/podman-tag:v1"
        done = run_pydocker(podman_env, "tag", "busybox", tagged)
        assert done.returncode == 0, text(done.stderr)
        assert podman_has(podman, "image", "docker.io/" + tagged)
        done = run_pydocker(podman_env, "rmi", tagged)
        assert done.returncode == 0, text(done.stderr)
        assert "Untagged: " in text(done.stdout)
        assert not podman_has(podman, "image", "docker.io/" + tagged)
        assert podman_has(podman, "image", "docker.io/library/busybox")

    def test_commit_makes_an_image_of_the_container(self, podman,
                                                    podman_env):
        name, image = "pytest-podman-commit", "pytest/podman-commit:v1"
        try:
            podman.podman("run", "--name", name, "--network", "none",
                          "docker.io/library/busybox", "sh", "-c",
                          "echo made > /made.txt")
            done = run_pydocker(podman_env, "commit", "--change",
                                "CMD [\"cat\", \"/made.txt\"]", name, image)
            assert done.returncode == 0, text(done.stderr)
            made = podman.podman("image", "inspect", "--format", "{{.Id}}",
                                 "docker.io/" + image).stdout.decode()
            # Podman gives the bare ID, dockerd "sha256:" and the ID.
            assert text(done.stdout).split(":")[-1] == made
            ran = run_pydocker(podman_env, "run", "--rm", "--network",
                               "none", image)
            assert (ran.returncode, ran.stdout) == (0, b"made\n")
        finally:
            podman.podman("rm", "--force", name, check=False)
            podman.podman("rmi", "--force", "docker.io/" + image,
                          check=False)

    def test_import_a_root_filesystem(self, podman, podman_env):
        image = "pytest/podman-import:v1"
        try:
            done = run_pydocker(podman_env, "import", "-", image,
                                input=_busybox_rootfs())
            assert done.returncode == 0, text(done.stderr)
            assert podman_has(podman, "image", "docker.io/" + image)
            ran = run_pydocker(podman_env, "run", "--rm", "--network",
                               "none", image, "cat", "/etc/group")
            assert ran.stdout.startswith(b"root:x:0:")
        finally:
            podman.podman("rmi", "--force", "docker.io/" + image,
                          check=False)

    def test_pull_from_plain_registry(self, podman, podman_env,
                                      test_image):
        try:
            done = run_pydocker(podman_env, "pull", test_image.name_plain)
            assert done.returncode == 0, text(done.stderr)
            assert podman_has(podman, "image", test_image.name_plain)
            ran = run_pydocker(podman_env, "run", "--rm", "--network",
                               "none", test_image.name_plain)
            assert ran.stdout == b"hello from pytest\n"
        finally:
            podman.podman("rmi", "--force", test_image.name_plain,
                          check=False)

    def test_pull_of_a_missing_tag_fails_in_one_line(self, podman_env,
                                                     registry):
        done = run_pydocker(podman_env, "pull",
                            f"{registry.address}/pytest/multi:missing")
        assert done.returncode == 1
        assert "manifest unknown" in assert_one_clean_line(done.stderr)

    def test_push_to_plain_registry(self, podman, podman_env, registry):
        name = f"{registry.address}/pytest/podman-push:v1"
        try:
            podman.podman("tag", "docker.io/library/busybox", name)
            done = run_pydocker(podman_env, "push", name)
            assert done.returncode == 0, text(done.stderr)
            assert "v1: digest: sha256:" in text(done.stdout)
            url = f"{registry.url}/v2/pytest/podman-push/tags/list"
            opener = urllib.request.build_opener(
                urllib.request.ProxyHandler({}))
            with opener.open(url, timeout=10) as answer:
                assert json.load(answer)["tags"] == ["v1"]
        finally:
            podman.podman("rmi", "--force", name, check=False)

    def test_push_to_a_closed_port_fails_in_one_line(self, podman,
                                                     podman_env):
        name = f"127.0.0.1:{_free_port()}/pytest/nowhere:v1"
        try:
            podman.podman("tag", "docker.io/library/busybox", name)
            done = run_pydocker(podman_env, "push", name)
            assert done.returncode == 1
            assert "connection refused" in \
                assert_one_clean_line(done.stderr)
        finally:
            podman.podman("rmi", "--force", name, check=False)

    def test_login_by_address_to_plain_registry_then_pull(
            self, podman, podman_env, config_dir, auth_registry,
            test_image):
        address = auth_registry.address
        done = run_pydocker(podman_env, "login", "--username",
                            auth_registry.username, "--password-stdin",
                            address, input=auth_registry.password.encode())
        assert done.returncode == 0, text(done.stderr)
        assert text(done.stdout).endswith("Login Succeeded\n")
        auths = json.loads((config_dir / "config.json").read_text())["auths"]
        assert list(auths) == [address]
        try:
            pulled = run_pydocker(podman_env, "pull", test_image.name_auth)
            assert pulled.returncode == 0, text(pulled.stderr)
            assert podman_has(podman, "image", test_image.name_auth)
        finally:
            podman.podman("rmi", "--force", test_image.name_auth,
                          check=False)

    def test_login_with_a_wrong_password_is_refused(self, podman_env,
                                                    auth_registry):
        done = run_pydocker(podman_env, "login", "--username",
                            auth_registry.username, "--password-stdin",
                            auth_registry.address, input=b"wrong")
        assert done.returncode == 1
        line = assert_one_clean_line(done.stderr)
        # Refused by the registry, not for speaking HTTP to it.
        assert "401 Unauthorized" in line, line
        assert "HTTPS" not in line

    def test_events_between_two_past_times_end(self, podman, podman_env):
        name = "pytest-podman-events"
        since = time.time() - 1
        podman.podman("run", "--rm", "--name", name, "--network", "none",
                      "docker.io/library/busybox", "true")
        until = time.time()
        done = run_pydocker(podman_env, "events", "--since", f"{since:.3f}",
                            "--until", f"{until:.3f}", "--filter",
                            f"container={name}", timeout=60)
        assert done.returncode == 0, text(done.stderr)
        actions = [line.split()[2] for line in text(done.stdout).splitlines()]
        for action in ("create", "start", "die"):
            assert action in actions
        assert actions.index("create") < actions.index("start") < \
            actions.index("die")


# Benchmark: ``python3 test_pydocker.py bench``, run by hand
# =========================================================================
#
# Each scenario runs pydocker side by side with the docker CLI on PATH,
# docker-py (when it can be installed) and curl, alternating, several
# times, and prints one table.  The suite never asserts a timing: it only
# runs the benchmark at a tiny size, once, and checks the table's shape.

# The interpreter a server has, never a version manager's shim.
BENCH_PYTHON = "/usr/bin/python3" if os.path.exists(
    "/usr/bin/python3") else sys.executable
# docker-py lives in the benchmark's own venv, built on BENCH_PYTHON.
BENCH_VENV = os.path.expanduser("~/.cache/pydocker-bench/venv")
BENCH_FULL = {
    "containers": 50, "images": 20, "image": 1 << 30, "logs": 200 << 20,
    "export": 500 << 20, "layers": 4, "layer": 16 << 20,
    "messages": 100_000, "render_layers": 20, "calls": 1000,
    "repeat": 3, "startup_repeat": 15, "docker_py": True,
}
BENCH_TINY = {
    "containers": 2, "images": 2, "image": 1 << 20, "logs": 1 << 20,
    "export": 1 << 20, "layers": 2, "layer": 1 << 10, "messages": 400,
    "render_layers": 3, "calls": 3, "repeat": 1, "startup_repeat": 1,
    "docker_py": False,
}
BENCH_COLUMNS = ("scenario", "client", "median", "min-max", "throughput",
                 "peak RSS", "ratio")
BENCH_TERMINAL_COLUMNS = 200
# GNU time (Debian's "time" package), for each program's peak RSS.
BENCH_TIME = "/usr/bin/time"


class BenchRun:
    """One finished process: wall time, peak RSS and what it showed."""

    def __init__(self, seconds, rss, output=b""):
        self.seconds = seconds
        self.rss = rss
        self.output = output


def bench_process(argv, env, cwd=None, stdin=None, stdout=None,
                  terminal=False):
    """Run ``argv`` to its end; return a BenchRun.

    Args:
        stdin: a file to read from (default: nothing).
        stdout: ``"pipe"`` (drained and kept), or None for /dev/null.
        terminal: run on a pseudo-terminal (its output is kept).

    Raises:
        AssertionError: the process failed.
    """
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open(stdin or os.devnull, "rb"))
        errors = stack.enter_context(tempfile.TemporaryFile())
        output = []
        if terminal:
            master, slave = os.openpty()
            stack.callback(os.close, master)
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack(
                "HHHH", 50, BENCH_TERMINAL_COLUMNS, 0, 0))
            sink = errors = slave
        elif stdout == "pipe":
            sink = subprocess.PIPE
        else:
            sink = stack.enter_context(open(os.devnull, "wb"))
        # GNU time reports the peak RSS of the program alone: the
        # process we fork carries our own RSS until it execs.
        measured = os.path.join(stack.enter_context(
            tempfile.TemporaryDirectory()), "rss")
        if os.path.exists(BENCH_TIME):
            argv = [BENCH_TIME, "-o", measured, "-f", "%M", *argv]
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdin=source, stdout=sink,
                                   stderr=errors, env=env, cwd=cwd,
                                   start_new_session=terminal)
        reader = None
        if terminal:
            os.close(slave)
            reader = threading.Thread(target=_drain_fd,
                                      args=(master, output))
        elif stdout == "pipe":
            reader = threading.Thread(target=_drain_fd, args=(
                process.stdout.fileno(), output))
        if reader is not None:
            reader.start()
        _, status = os.waitpid(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if reader is not None:
            reader.join()
        if process.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {process.returncode}: "
                + _bench_errors(errors, output))
        rss = 0
        with contextlib.suppress(OSError, ValueError), open(measured) as file:
            rss = int(file.read().split()[-1]) * 1024
    return BenchRun(seconds, rss, b"".join(output))


def _drain_fd(fd, output):
    """Read ``fd`` to its end (EIO on a pseudo-terminal) into ``output``."""
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except OSError:
            return
        if not chunk:
            return
        output.append(chunk)


def _bench_errors(errors, output):
    """Return the end of what a failed process wrote on stderr."""
    if isinstance(errors, int):
        data = b"".join(output)
    else:
        errors.seek(0)
        data = errors.read()
    return data[-2000:].decode("utf-8", "replace").strip()


def terminal_screen(data):
    """Return the lines a terminal shows once ``data`` is written to it.

    A small emulator of what docker and pydocker write: text, CR, LF,
    cursor up and down (``ESC[nA``, ``ESC[nB``) and line erasing
    (``ESC[2K``, ``ESC[K``).  Other escape sequences are ignored.
    """
    lines, row, column = [[]], 0, 0
    text = data.decode("utf-8", "replace")
    for match in re.finditer(r"\x1b\[([0-9;?]*)([A-Za-z])|[\r\n]|[^\x1b\r\n]+",
                             text):
        token = match.group(0)
        if token == "\r":
            column = 0
        elif token == "\n":
            row += 1
        elif match.group(2):
            row, column = _terminal_escape(lines, row, column,
                                           match.group(1), match.group(2))
        else:
            while len(lines) <= row:
                lines.append([])
            line = lines[row]
            line.extend(" " * max(0, column + len(token) - len(line)))
            line[column:column + len(token)] = token
            column += len(token)
    shown = ["".join(line).rstrip() for line in lines]
    while shown and not shown[-1]:
        shown.pop()
    return shown


def _terminal_escape(lines, row, column, argument, letter):
    """Apply one CSI escape; return the new cursor position."""
    count = int(argument) if argument.isdigit() else 1
    while len(lines) <= row:
        lines.append([])
    if letter == "A":
        return max(0, row - count), column
    if letter == "B":
        return row + count, column
    if letter == "K" and argument == "2":
        lines[row] = []
    elif letter == "K":
        del lines[row][column:]
    return row, column


class BenchRow:
    """The runs of one client in one scenario."""

    def __init__(self, scenario, client, size=0, reference=False):
        self.scenario = scenario
        self.client = client
        self.size = size
        self.reference = reference
        self.runs = []
        self.note = ""
        # Set for the floor: a median computed from other measurements.
        self.fixed_median = None

    def median(self):
        if self.fixed_median is not None:
            return self.fixed_median
        return statistics.median(run.seconds for run in self.runs)

    def cells(self, reference):
        """Return the row's table cells; ``reference`` is its baseline."""
        if not self.runs and self.fixed_median is None:
            return [self.scenario, self.client, self.note or "absent",
                    "", "", "", ""]
        median = self.median()
        times = [run.seconds for run in self.runs] or [median]
        spread = f"{_ms(min(times))}-{_ms(max(times))}"
        rate = (pydocker.human_size(self.size / median) + "/s"
                if self.size else "")
        rss = max((run.rss for run in self.runs), default=0)
        ratio = (f"{median / reference.median():.2f}x"
                 if reference is not None else "")
        return [self.scenario, self.client, _ms(median), spread, rate,
                pydocker.human_size(rss) if rss else "", ratio]


def _ms(seconds):
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


def bench_environment(engine):
    """Return the engine's environment as a server's shell has it.

    The sandbox sets PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED; a
    server does not, and its python caches bytecode.
    """
    env = dict(engine.env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONUNBUFFERED", None)
    return env


def docker_py_python(sizes):
    """Return (python with docker-py, its version), or (None, why not)."""
    if not sizes["docker_py"]:
        return None, "not run at this size"
    python = os.path.join(BENCH_VENV, "bin", "python")
    try:
        if not os.path.exists(python):
            subprocess.run([BENCH_PYTHON, "-m", "venv", BENCH_VENV],
                           check=True, capture_output=True)
        found = subprocess.run([python, "-c", "import docker; print("
                                "docker.__version__)"], capture_output=True)
        if found.returncode != 0:
            subprocess.run([python, "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", "docker"],
                           check=True, capture_output=True, timeout=300)
            found = subprocess.run([python, "-c", "import docker; print("
                                    "docker.__version__)"],
                                   capture_output=True, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"absent ({error.__class__.__name__})"
    return python, found.stdout.decode().strip()


# What docker-py does for each scenario, in a fresh process; sys.argv[1]
# is the engine's address, sys.argv[2] the scenario's argument.
DOCKER_PY_CODE = {
    "version": "c.version()",
    "ps": "c.containers(all=True)",
    "images": "c.images()",
    "save": "[o.write(b) for b in c.get_image(a)]",
    "logs": "[o.write(b) for b in c.logs(a, stream=True, follow=False)]",
    "export": "[o.write(b) for b in c.export(a)]",
    "load": "c.load_image(open(a, 'rb'))",
    "pull": "list(c.pull(a, stream=True, decode=True))",
    "push": "list(c.push(a, stream=True, decode=True))",
    "library": "[c.images() for _ in range(int(a))]",
}


class Bench:
    """The scenarios against one engine and one registry.

    Args:
        engine, registry: started services (the suite's classes).
        busybox: the name of a busybox image in the engine.
        sizes: BENCH_FULL or BENCH_TINY.
        folder: an empty folder for the saved tar and the fake engine.
    """

    def __init__(self, engine, registry, busybox, sizes, folder):
        self.engine = engine
        self.registry = registry
        self.busybox = busybox
        self.sizes = sizes
        self.folder = folder
        self.env = bench_environment(engine)
        self.docker_py, self.docker_py_version = docker_py_python(sizes)
        self.rows = []
        self.notes = []
        self.prefix = f"{registry.address}/pydocker-bench/layers"

    # Clients ---------------------------------------------------------------

    def pydocker(self, *args, form="script", env=None):
        """Return the command that runs pydocker as a server would."""
        runner = [PYDOCKER] if form == "script" else ["-m", "pydocker"]
        return {"argv": [BENCH_PYTHON, *runner, *args],
                "env": env or self.env, "cwd": HERE}

    def docker(self, *args, env=None):
        return {"argv": [self.engine.cli, *args],
                "env": env or self.engine.env}

    def docker_py_command(self, name, argument=""):
        code = ("import sys, docker; o = sys.stdout.buffer; "
                "c = docker.APIClient(base_url=sys.argv[1], "
                "version='auto'); a = sys.argv[2]; " + DOCKER_PY_CODE[name])
        return {"argv": [self.docker_py, "-c", code, self.engine.host,
                         argument], "env": self.env}

    def curl(self, path, *options):
        return {"argv": ["curl", "-sS", "--fail", "--unix-socket",
                         self.engine.socket, *options,
                         f"http://docker/v{pydocker.MAX_API_VERSION}{path}",
                         "-o", os.devnull], "env": self.env}

    def row(self, scenario, client, size=0, reference=False):
        row = BenchRow(scenario, client, size, reference)
        self.rows.append(row)
        return row

    def measure(self, entries, repeat, before=None):
        """Run each ``(row, command)`` in turn, ``repeat`` rounds.

        Rows without a command (a client that is absent) are skipped.
        """
        for _ in range(repeat):
            for row, command in entries:
                if command is None:
                    continue
                if before is not None:
                    before()
                row.runs.append(bench_process(**command))

    def absent_docker_py(self, row):
        if self.docker_py is None:
            row.note = self.docker_py_version
            return True
        return False

    # Scenarios -------------------------------------------------------------

    def startup(self):
        """version, ps -a and images, against the floor and docker."""
        for index in range(self.sizes["containers"]):
            self.engine.docker("create", "--network", "none", "--name",
                               f"pydocker-bench-{index}", self.busybox,
                               "true")
        for index in range(self.sizes["images"]):
            self.engine.docker("import", "-", f"pydocker-bench/tiny:{index}",
                               input=_tar_bytes(lambda archive, i=index:
                                                _add_file(archive, "file",
                                                          b"%d" % i)))
        # Warm the bytecode cache, as a server's first run does.
        for form in ("script", "module"):
            bench_process(**self.pydocker("--version", form=form))
        imports = self.row("start-up", "python3 -c 'import http.client, "
                           "json, socket'")
        imports_command = {"argv": [BENCH_PYTHON, "-c", "import "
                                    "http.client, json, socket"],
                           "env": self.env}
        for name, args, path in (
                ("version", ["version"], "/version"),
                ("ps -a", ["ps", "-a"], "/containers/json?all=1"),
                ("images", ["images"], "/images/json")):
            self.startup_command(name, args, path, imports, imports_command)
            imports_command = None  # measured once, with the first

    def startup_command(self, name, args, path, imports, imports_command):
        """Measure one start-up command; the floor is imports + curl."""
        scenario = f"start-up: {name}"
        floor = self.row(scenario, "floor: imports + curl", reference=True)
        curl = self.row(scenario, f"curl {path}")
        rows = [
            (imports, imports_command), (curl, self.curl(path)),
            (self.row(scenario, "python3 pydocker.py"),
             self.pydocker(*args)),
            (self.row(scenario, "python3 -m pydocker"),
             self.pydocker(*args, form="module")),
            (self.row(scenario, "docker"), self.docker(*args)),
        ]
        docker_py = self.row(scenario, "docker-py (library, new process)")
        if not self.absent_docker_py(docker_py):
            rows.append((docker_py, self.docker_py_command(
                name.split()[0])))
        self.measure(rows, self.sizes["startup_repeat"])
        floor.fixed_median = imports.median() + curl.median()

    def streams(self):
        """save, logs, export and load, against curl and docker."""
        image = "pydocker-bench/big:latest"
        self.make_big_image(image)
        logs = self.make_container("logs", self.sizes["logs"], "yes " + (
            "x" * 999) + " | head -c {size}")
        export = self.make_container("export", self.sizes["export"],
                                     "head -c {size} /dev/zero > /big")
        archive = os.path.join(self.folder, "big.tar")
        self.engine.docker("save", "-o", archive, image)
        archive_size = os.path.getsize(archive)
        quoted = urllib.parse.quote(image, safe="")
        self.stream("save", ["save", image], image,
                    self.curl(f"/images/get?names={quoted}"),
                    os.path.getsize(archive))
        self.stream("logs", ["logs", logs], logs,
                    self.curl(f"/containers/{logs}/logs?stdout=1&stderr=1"),
                    self.sizes["logs"])
        self.stream("export", ["export", export], export,
                    self.curl(f"/containers/{export}/export"),
                    self.sizes["export"])
        self.stream("load", ["load"], archive,
                    self.curl("/images/load?quiet=1", "-X", "POST", "-T",
                              archive, "-H",
                              "Content-Type: application/x-tar"),
                    archive_size, stdin=archive)
        os.remove(archive)
        self.engine.docker("rm", "-f", logs, export)
        self.engine.docker("rmi", image)

    def stream(self, name, args, argument, curl, size, stdin=None):
        """Measure one stream: to /dev/null, or from ``stdin``."""
        scenario = f"stream: {name}"
        rows = [(self.row(scenario, "curl", size, reference=True), curl),
                (self.row(scenario, "python3 pydocker.py", size),
                 self.pydocker(*args)),
                (self.row(scenario, "python3 -m pydocker", size),
                 self.pydocker(*args, form="module")),
                (self.row(scenario, "docker", size), self.docker(*args))]
        docker_py = self.row(scenario, "docker-py", size)
        if not self.absent_docker_py(docker_py):
            rows.append((docker_py, self.docker_py_command(name, argument)))
        for _, command in rows:
            command["stdin"] = stdin
        self.measure(rows, self.sizes["repeat"])

    def make_big_image(self, name):
        """Import an image whose one layer holds one file of the size."""
        size = self.sizes["image"]
        process = subprocess.Popen(
            [self.engine.cli, "import", "-", name], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, env=self.engine.env)
        member = tarfile.TarInfo("big")
        member.size, member.mode = size, 0o644
        process.stdin.write(member.tobuf())
        block = random.Random(0).randbytes(1 << 20)
        for offset in range(0, size, len(block)):
            process.stdin.write(block[:size - offset])
        process.stdin.write(b"\0" * (-size % 512 + 1024))
        process.stdin.close()
        assert process.wait() == 0, "docker import failed"

    def make_container(self, name, size, script):
        """Run a busybox container to its end; return its name."""
        name = f"pydocker-bench-{name}"
        self.engine.docker("run", "-d", "--network", "none", "--name", name,
                           self.busybox, "sh", "-c",
                           script.format(size=size))
        self.engine.docker("wait", name)
        return name

    def registry_scenarios(self):
        """pull and push of a multi-layer image, against docker."""
        name = self.prefix + ":latest"
        lines = [f"FROM {self.busybox}"] + [
            f"RUN head -c {self.sizes['layer']} /dev/urandom > /layer{n}"
            for n in range(self.sizes["layers"])]
        self.engine.docker("build", "--network", "none", "-q", "-t", name,
                           "-", input="\n".join(lines).encode() + b"\n")
        self.engine.docker("push", name)
        size = self.sizes["layer"] * self.sizes["layers"]
        for action, before in (("pull", self.forget_image),
                               ("push", self.empty_registry)):
            scenario = f"registry: {action}"
            rows = [(self.row(scenario, "docker", size, reference=True),
                     self.docker(action, name)),
                    (self.row(scenario, "python3 pydocker.py", size),
                     self.pydocker(action, name))]
            docker_py = self.row(scenario, "docker-py", size)
            if not self.absent_docker_py(docker_py):
                rows.append((docker_py, self.docker_py_command(action,
                                                               name)))
            self.measure(rows, self.sizes["repeat"], before)
        self.engine.docker("rmi", name)

    def forget_image(self):
        self.engine.docker("rmi", self.prefix + ":latest", check=False)

    def empty_registry(self):
        """Remove everything the registry stores, so a push sends all."""
        shutil.rmtree(os.path.join(self.registry.dir, "storage"),
                      ignore_errors=True)

    def rendering(self):
        """A synthesised pull stream from a fake engine, on a terminal
        and to a pipe, by pydocker and by docker."""
        daemon = FakeDaemon(os.path.join(self.folder, "fake.sock"))
        try:
            self.render_against(daemon)
        finally:
            daemon.stop()

    def render_against(self, daemon):
        count = self.sizes["messages"]
        stream = synthetic_pull(count, self.sizes["render_layers"])
        answer = http_response(200, stream, {
            "Content-Type": "application/json"}, "OK")
        env = dict(self.env, DOCKER_HOST=daemon.host)
        reference = f"{REGISTRY}/pydocker-bench/render:latest"
        size = len(stream)
        screens = {}
        for where in ("terminal", "pipe"):
            scenario = f"render: {count:,} messages, {where}"
            rows = [(self.row(scenario, "docker", size, reference=True),
                     self.docker("pull", reference, env=env)),
                    (self.row(scenario, "python3 pydocker.py", size),
                     self.pydocker("pull", reference, env=env))]
            for _, command in rows:
                command["terminal"] = where == "terminal"
                command["stdout"] = "pipe"
            self.measure(rows, self.sizes["repeat"], lambda: daemon.on(
                "POST", "/images/create", answer))
            if where == "terminal":
                screens = {row.client: terminal_screen(row.runs[-1].output)
                           for row, _ in rows}
        same = screens["docker"] == screens["python3 pydocker.py"]
        self.notes.append("render: the final terminal screens of docker "
                          "and pydocker are " + ("the same" if same else
                                                 "DIFFERENT"))
        return same, screens

    def library(self):
        """Many Client.images() calls from one process, against as many
        docker processes."""
        calls = self.sizes["calls"]
        scenario = f"library: {calls:,} x images"
        docker = self.row(scenario, "docker images processes",
                          reference=True)
        code = ("import pydocker; c = pydocker.Client.from_env(); "
                f"[c.images() for _ in range({calls})]")
        rows = [(self.row(scenario, "pydocker.Client, one process"),
                 {"argv": [BENCH_PYTHON, "-c", code], "env": self.env,
                  "cwd": HERE})]
        docker_py = self.row(scenario, "docker-py, one process")
        if not self.absent_docker_py(docker_py):
            rows.append((docker_py, self.docker_py_command("library",
                                                           str(calls))))
        for _ in range(self.sizes["repeat"]):
            runs = [bench_process(**self.docker("images"))
                    for _ in range(calls)]
            docker.runs.append(BenchRun(sum(run.seconds for run in runs),
                                        max(run.rss for run in runs)))
            self.measure(rows, 1)

    # The run and its table -------------------------------------------------

    def run(self):
        """Run every scenario; return the rows."""
        self.startup()
        self.streams()
        self.registry_scenarios()
        self.rendering()
        self.library()
        return self.rows

    def table(self):
        """Return the table: one line per row, aligned columns."""
        lines = [list(BENCH_COLUMNS)]
        reference = None
        for row in self.rows:
            if row.reference:
                reference = row
            lines.append(row.cells(
                reference if reference and reference.scenario ==
                row.scenario else None))
        widths = [max(len(line[i]) for line in lines)
                  for i in range(len(BENCH_COLUMNS))]
        text = []
        for index, line in enumerate(lines):
            if index and line[0] == lines[index - 1][0]:
                line = [""] + line[1:]
            text.append("  ".join(cell.ljust(width) for cell, width in
                                  zip(line, widths)).rstrip())
        return "\n".join(text)

    def targets(self):
        """Return ``(statement, met)`` for each target the issue sets."""
        found = {}
        for row in self.rows:
            found[row.scenario, row.client] = row
        results = []
        for scenario, client, other, bound in BENCH_TARGETS:
            scenarios = [key for key in found if key[0].startswith(scenario)
                         and key[1] == client]
            for key in scenarios:
                mine = found[key]
                theirs = found.get((key[0], other))
                if theirs is None or not (theirs.runs or
                                          theirs.fixed_median):
                    continue
                ratio = mine.median() / theirs.median()
                results.append((f"{key[0]}: {client} / {other} = "
                                f"{ratio:.2f} (at most {bound})",
                                ratio <= bound))
        for row in self.rows:
            if row.client.startswith("python3") and row.runs and \
                    row.scenario.startswith("stream"):
                rss = max(run.rss for run in row.runs)
                results.append((f"{row.scenario}: {row.client} peak RSS "
                                f"{pydocker.human_size(rss)} (under 40MB)",
                                rss < 40e6))
        return results


# (scenario prefix, client, compared with, highest ratio of medians).
BENCH_TARGETS = (
    ("start-up", "python3 -m pydocker", "floor: imports + curl", 1.15),
    ("start-up", "python3 pydocker.py", "floor: imports + curl", 1.5),
    ("start-up", "python3 -m pydocker", "docker-py (library, new process)",
     1 / 3),
    ("start-up", "python3 pydocker.py", "docker-py (library, new process)",
     1 / 3),
    ("stream: logs", "python3 pydocker.py", "docker", 1.0),
    ("stream: logs", "python3 -m pydocker", "docker", 1.0),
    ("stream: save", "python3 pydocker.py", "curl", 1 / 0.9),
    ("stream: export", "python3 pydocker.py", "curl", 1 / 0.9),
    ("stream: load", "python3 pydocker.py", "curl", 1 / 0.9),
    ("stream: save", "python3 pydocker.py", "docker", 1.0),
    ("stream: export", "python3 pydocker.py", "docker", 1.0),
    ("stream: load", "python3 pydocker.py", "docker", 1.0),
    ("render: 100,000 messages, terminal", "python3 pydocker.py",
     "docker", 1.0),
    ("library", "pydocker.Client, one process", "docker images processes",
     0.1),
)


def synthetic_pull(count, layers):
    """Return a pull stream of ``count`` JSON messages over ``layers``
    layers, shaped as the engine's: each layer pulled, waited on,
    downloaded and extracted with progress, and completed."""
    ids = [f"{0xa1b2c3d4e5f6 + n * 7919:012x}"[:12] for n in range(layers)]
    fixed = 1 + 4 * layers + 2
    steps = max(1, (count - fixed) // (2 * layers))
    extra = max(0, count - fixed - 2 * layers * steps)
    total = 32 << 20
    messages = [{"status": "Pulling from pydocker-bench/render",
                 "id": "latest"}]
    messages += [{"status": "Pulling fs layer", "progressDetail": {},
                  "id": layer} for layer in ids]
    for phase, done in (("Downloading", "Download complete"),
                        ("Extracting", "Pull complete")):
        for step in range(steps + (extra if phase == "Downloading" else 0)):
            for layer in ids:
                current = min(total, (step + 1) * total // steps)
                messages.append({
                    "status": phase, "id": layer,
                    "progressDetail": {"current": current, "total": total}})
        messages += [{"status": done, "progressDetail": {}, "id": layer}
                     for layer in ids]
    messages += [{"status": "Digest: sha256:" + "ab" * 32},
                 {"status": "Status: Downloaded newer image for "
                  f"{REGISTRY}/pydocker-bench/render:latest"}]
    return b"".join(json.dumps(message).encode() + b"\r\n"
                    for message in messages)


def bench_header(engine, docker_py_version):
    """Return the lines that say what the benchmark ran on."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    python = subprocess.run([BENCH_PYTHON, "-VV"], capture_output=True,
                            check=True).stdout.decode().split("\n")[0]
    versions = engine.docker("version", "--format", "{{.Client.Version}} "
                             "(engine {{.Server.Version}}, API "
                             "{{.Server.APIVersion}})").stdout.decode()
    curl = subprocess.run(["curl", "--version"], capture_output=True,
                          check=True).stdout.decode().split()[1]
    uname = os.uname()
    return [f"machine: {os.cpu_count()} CPUs, {cpu}, {uname.sysname} "
            f"{uname.release}, storage driver vfs",
            f"python: {BENCH_PYTHON} {python}",
            f"docker: {engine.cli} {versions.strip()}; curl {curl}; "
            f"docker-py: {docker_py_version}"]


def run_benchmark(engine, busybox, sizes, out):
    """Run the benchmark against ``engine`` with a registry of its own;
    write the table to ``out`` and return the Bench."""
    folder = tempfile.mkdtemp(prefix="pydocker-bench-")
    registry = Registry(tempfile.mkdtemp(prefix="pydocker-registry-"))
    try:
        registry.start()
        bench = Bench(engine, registry, busybox, sizes, folder)
        header = bench_header(engine, bench.docker_py_version)
        bench.run()
        out.write("\n".join(header) + "\n")
        out.write(f"{sizes['repeat']} runs each ({sizes['startup_repeat']} "
                  "for start-up), clients alternating; ratio: median over "
                  "the scenario's first row\n\n")
        out.write(bench.table() + "\n\n")
        for note in bench.notes:
            out.write(note + "\n")
        for statement, met in bench.targets():
            out.write(("met      " if met else "NOT MET  ") + statement +
                      "\n")
        return bench
    finally:
        registry.stop()
        engine.docker("rm", "-f", *engine.docker(
            "ps", "-aq", "--filter", "name=pydocker-bench-"
        ).stdout.decode().split(), check=False)
        names = engine.docker("images", "--format",
                              "{{.Repository}}:{{.Tag}}").stdout.decode()
        engine.docker("rmi", "-f", *[name for name in names.split()
                                     if "pydocker-bench/" in name],
                      check=False)
        shutil.rmtree(folder, ignore_errors=True)


def bench_main():
    """Start a private engine, run the full benchmark, stop the engine."""
    engine = Engine(tempfile.mkdtemp(prefix="pydocker-engine-"))
    try:
        engine.start()
        engine.docker("import", "--change", 'CMD ["sh"]', "-",
                      BUSYBOX_IMAGE, input=_busybox_rootfs())
        run_benchmark(engine, BUSYBOX_IMAGE, BENCH_FULL, sys.stdout)
    finally:
        engine.stop()
    return 0


class TestHotPath:
    """What the benchmark relies on, checked without timing anything."""

    def test_import_adds_nothing_beyond_http_client(self):
        code = ("import sys, http.client, json, socket\n"
                "before = set(sys.modules)\n"
                "import pydocker\n"
                "print(sorted(set(sys.modules) - before))")
        result = subprocess.run([sys.executable, "-c", code], cwd=HERE,
                                capture_output=True, check=True)
        assert result.stdout.decode().strip() == "['pydocker']"

    def test_debug_logging_still_reaches_a_configured_logger(self):
        code = ("import logging, pydocker\n"
                "logging.basicConfig(level=logging.DEBUG, format='%(name)s "
                "%(message)s')\n"
                "pydocker.log.debug('seen %s', 1)\n"
                "pydocker.log.warning('warned')")
        result = subprocess.run([sys.executable, "-c", code], cwd=HERE,
                                capture_output=True, check=True)
        assert result.stderr == b"pydocker seen 1\npydocker warned\n"

    def test_warning_without_logging_configured_is_shown(self):
        code = "import pydocker; pydocker.log.warning('careful')"
        result = subprocess.run([sys.executable, "-c", code], cwd=HERE,
                                capture_output=True, check=True)
        assert result.stderr == b"careful\n"

    def test_coalesced_redraws_leave_the_same_screen(self, monkeypatch):
        stream = synthetic_pull(3000, 5)
        messages = [json.loads(line) for line in stream.splitlines()]
        screens = []
        for interval in (0, 3600):
            monkeypatch.setattr(pydocker.ProgressRenderer,
                                "REDRAW_INTERVAL", interval)
            out = io.BytesIO()
            renderer = pydocker.ProgressRenderer(out, terminal=True,
                                                 width=200)
            for message in messages:
                renderer.show(message)
            renderer.flush()
            screens.append((terminal_screen(out.getvalue()),
                            len(out.getvalue())))
        (every, every_size), (coalesced, coalesced_size) = screens
        assert coalesced == every
        assert "Pull complete" in every[1]
        assert coalesced_size < every_size / 10


class TestBenchmark:
    """The benchmark runs, at a tiny size and once; timings are never
    asserted."""

    def test_tiny_benchmark_prints_every_row(self, engine, busybox_image):
        out = io.StringIO()
        bench = run_benchmark(engine, busybox_image, BENCH_TINY, out)
        table = out.getvalue()
        lines = table.splitlines()
        assert lines[0].startswith("machine: ")
        heading = next(line for line in lines if line.startswith("scenario"))
        assert heading.split() == ["scenario", "client", "median",
                                   "min-max", "throughput", "peak", "RSS",
                                   "ratio"]
        scenarios = {row.scenario.split(":")[0] for row in bench.rows}
        assert scenarios == {"start-up", "stream", "registry", "render",
                             "library"}
        for row in bench.rows:
            measured = row.runs or row.fixed_median is not None
            assert measured or row.client.startswith("docker-py"), row
        assert any(line.startswith(("met ", "NOT MET "))
                   for line in lines)
        assert "final terminal screens of docker and pydocker are the " \
            "same" in table
        leftovers = engine.docker("ps", "-aq", "--filter",
                                  "name=pydocker-bench-").stdout
        assert leftovers == b""


if __name__ == "__main__" and sys.argv[1:] == ["bench"]:
    sys.exit(bench_main())
