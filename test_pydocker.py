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
import fcntl
import io
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import termios
import time
import urllib.error
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


def _start_service(argv, log_path):
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

    Attributes:
        dir: the temporary folder holding everything the engine writes.
        socket: path of the API socket.
        host: the socket as a DOCKER_HOST value (unix://...).
        env: environment for a docker client aimed at this engine, with
            its own DOCKER_CONFIG folder (config_dir).
    """

    def __init__(self, directory):
        self.dir = directory
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
        self.process = subprocess.Popen(
            [PYTHON, PYDOCKER, *args], stdin=slave, stdout=slave,
            stderr=slave, env=env, start_new_session=True)
        os.close(slave)

    def read_until(self, wanted, timeout=60):
        """Read until ``wanted`` (bytes) has appeared; return all so far."""
        deadline = time.monotonic() + timeout
        while wanted not in self.output:
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
    so a difference is only final when it survives three tries.
    """
    for _ in range(3):
        ours = run_pydocker(env, *args)
        assert ours.returncode == 0, text(ours.stderr)
        theirs = engine.docker(*(docker_args or args))
        if ours.stdout == theirs.stdout:
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

    def test_missing_engine_socket(self, tmp_path, config_dir, engine):
        env = pydocker_env(engine, config_dir,
                           DOCKER_HOST=f"unix://{tmp_path}/none.sock")
        done = run_pydocker(env, "ps")
        assert done.returncode == 1
        assert text(done.stderr) == (
            "Cannot connect to the Docker daemon at "
            f"unix://{tmp_path}/none.sock. Is the docker daemon running?\n")
