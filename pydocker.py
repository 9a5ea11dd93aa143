#!/usr/bin/env python3
"""pydocker: the Docker command-line client in one file, standard library only.

Run it as you would run ``docker``::

    python3 pydocker.py pull busybox
    python3 pydocker.py -H tcp://127.0.0.1:2375 ps -a

or use it as a library::

    import pydocker
    with pydocker.Client.from_env() as client:
        print(client.version()["ApiVersion"])

It speaks the Docker Engine API from version 1.24 up to MAX_API_VERSION,
negotiated with ``/_ping`` unless DOCKER_API_VERSION pins one, over a unix
socket, TCP, TCP with TLS, or ssh (through the system ``ssh`` client).

The design follows the Docker 1.2 client: global flags parsed by a
Docker-style flag parser, the host and TLS chosen from flags and the
environment, and a DockerCli whose commands are ``cmd_<name>`` methods found
by name.  The file reads top to bottom in dependency order:

    Constants        versions, defaults, docker's fixed strings
    Errors           DockerError and the few kinds a caller tells apart
    Flag parser      FlagSet: several names a flag, deprecated names
    Hosts and TLS    parse_host, tls_context
    Transport        http.client connections over unix, TCP, TLS and ssh
    API client       Client: version negotiation, requests, streams
    Formatting       sizes, durations, tables, JSON re-indenting
    Stream rendering JSON progress messages on a terminal and off it
    Attached streams hijacked connections, frames, raw terminal, detach keys
    References       image references and registry keys
    Auth and config  config.json, credential helpers, X-Registry-Auth
    Container options create/run flags checked and turned into a config
    DockerCli        the commands
    main             the process entry point
"""

__version__ = "0.1.0"

__all__ = [
    "MAX_API_VERSION",
    "MIN_API_VERSION",
    "APIError",
    "AuthError",
    "Client",
    "ConfigError",
    "ConfigFile",
    "ConnectError",
    "DockerCli",
    "DockerError",
    "FlagError",
    "FlagSet",
    "HelpRequested",
    "InvalidReference",
    "NotFound",
    "Reference",
    "StreamError",
    "VersionError",
    "__version__",
    "encode_auth",
    "human_duration",
    "human_size",
    "main",
    "parse_bytes",
    "parse_host",
    "parse_reference",
    "registry_key",
    "split_repository_tag",
]

import base64
import contextlib
import http.client
import json
import logging
import os
import re
import socket
import ssl
import sys
import time
import urllib.parse

# Modules only some commands need (subprocess, termios, getpass-like
# prompting, fcntl, tempfile) are imported inside the functions that use
# them, so that start-up costs no more than http.client itself.


# =========================================================================
# Constants
# =========================================================================

MIN_API_VERSION = "1.24"
# The newest API version whose request shapes this client implements.
MAX_API_VERSION = "1.41"

DEFAULT_UNIX_SOCKET = "/var/run/docker.sock"
DEFAULT_HOST = "unix://" + DEFAULT_UNIX_SOCKET
DEFAULT_TCP_PORT = 2375
DEFAULT_TLS_PORT = 2376
DEFAULT_TLS_HOST = f"tcp://localhost:{DEFAULT_TLS_PORT}"

HUB_KEY = "https://index.docker.io/v1/"
HUB_DOMAIN = "docker.io"
HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")

STREAM_CHUNK = 1 << 16
# A JSON message larger than this, still unfinished, means a broken stream.
MAX_JSON_MESSAGE = 16 << 20

# Signals passed on to an attached container without a terminal, as
# docker's --sig-proxy does (SIGCHLD, SIGPIPE, SIGWINCH... are ours).
PROXIED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1",
                   "SIGUSR2", "SIGALRM")

log = logging.getLogger("pydocker")


# =========================================================================
# Errors
# =========================================================================

class DockerError(Exception):
    """Root of every error pydocker raises on purpose.

    ``exit_code`` is what the command line exits with; ``hint`` is an
    optional second line that tells the user what to do next.
    """

    exit_code = 1

    def __init__(self, message="", hint=None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self):
        return self.message


class FlagError(DockerError):
    """A command line that the flag parser or a command rejects.

    ``exit_code`` is 125 for bad flags and 1 for a wrong number of
    arguments, as docker exits.
    """

    def __init__(self, message, exit_code=125):
        super().__init__(message)
        self.exit_code = exit_code


class HelpRequested(FlagError):
    """``-h``/``--help`` was given; the caller prints the usage."""

    def __init__(self, usage=""):
        super().__init__("help requested", exit_code=0)
        self.usage = usage


class ConfigError(DockerError):
    """Bad settings: a host, TLS files, config.json, a credential helper."""


class ConnectError(DockerError):
    """The engine cannot be reached."""


class APIError(DockerError):
    """The engine answered with an error status.

    Args:
        status: the HTTP status code.
        message: the engine's own message.
    """

    def __init__(self, status, message, hint=None):
        super().__init__(message, hint)
        self.status = status

    def __str__(self):
        # The one place that marks an error as the engine's.
        return "Error response from daemon: " + self.message


class NotFound(APIError):
    """The engine answered 404: no such image, container or object."""


class StreamError(DockerError):
    """A stream ended in an error message or could not be decoded."""


class AuthError(DockerError):
    """A registry refused the credentials, or none could be had."""


class VersionError(DockerError):
    """The engine's API version is too old for the engine or a feature."""


class InvalidReference(DockerError):
    """Text that is not a valid image reference."""


# =========================================================================
# Flag parser
# =========================================================================

def parse_go_bool(text):
    """Return the boolean that Go's strconv.ParseBool reads in ``text``.

    Raises:
        ValueError: ``text`` is not one of Go's spellings.
    """
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def parse_go_int(text):
    """Return the integer in ``text``, with Go's 0x, 0o and 0b prefixes.

    Raises:
        ValueError: ``text`` is not an integer.
    """
    try:
        if re.fullmatch(r"[+-]?0[0-7]+", text):
            return int(text, 8)  # Go reads a leading 0 as octal
        return int(text, 0)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": '
                         'invalid syntax') from None


class Flag:
    """One flag of a FlagSet: its names, kind, default and parsed value."""

    def __init__(self, names, kind, default, usage):
        self.names = [name.lstrip("#") for name in names]
        self.deprecated = [name[1:] for name in names if name.startswith("#")]
        self.kind = kind
        self.default = default
        self.usage = usage
        self.value = list(default) if kind == "list" else default
        self.changed = False
        self.used_as = None

    def visible_names(self):
        """Return the names shown in usage, as typed: ``-d, --daemon``."""
        return ["-" + name for name in self.names
                if name not in self.deprecated]

    def usage_row(self):
        """Return the two usage columns: ``-m, --memory string`` and text."""
        names = self.visible_names()
        label = ", ".join(names)
        if len(names[0]) != 2:
            label = "    " + label  # line long names up after "-x, "
        if self.kind != "bool":
            label += " " + ("list" if self.kind == "list" else self.kind)
        return label, self.usage + self._default_text()

    def _default_text(self):
        """Return the `` (default ...)`` usage suffix; empty if unset."""
        if not self.default:
            return ""
        if self.kind == "string":
            return f' (default "{self.default}")'
        if self.kind == "int":
            return f" (default {self.default})"
        if self.kind == "bool":
            return " (default true)"
        return ""

    def display(self):
        """Return the names for error messages: ``"-m, --memory"``."""
        return ", ".join(self.visible_names() or
                         ["-" + name for name in self.names])

    def set(self, text):
        """Set the value from ``text``, converting by kind."""
        try:
            if self.kind == "bool":
                self.value = parse_go_bool(text)
            elif self.kind == "int":
                self.value = parse_go_int(text)
            elif self.kind == "list":
                self.value.append(text)
            else:
                self.value = text
        except ValueError as error:
            raise FlagError(f'invalid argument "{text}" for '
                            f'"{self.display()}" flag: {error}') from None
        self.changed = True


class FlagSet:
    """A Docker-style flag parser, after Docker 1.2's ``mflag`` package.

    A flag has several names: ``["d", "-daemon"]`` is matched by ``-d`` and
    ``--daemon``; a name starting with ``#`` is deprecated, still accepted,
    hidden from usage, and noted in ``warnings``.  With ``interspersed``
    false, parsing stops at the first word that is not a flag (the global
    flags stop at the command); with it true, flags may follow arguments.

    Args:
        name: the command name used in usage and messages.
        signature: what follows the name in usage, e.g. ``[OPTIONS] NAME``.
        description: the one-line summary shown in usage.
        interspersed: whether flags may follow positional arguments.
    """

    def __init__(self, name, signature="", description="",
                 interspersed=True):
        self.name = name
        self.signature = signature
        self.description = description
        self.interspersed = interspersed
        self.flags = []
        self.by_name = {}
        self.args = []
        self.warnings = []

    # Declaring flags -------------------------------------------------------

    def _add(self, names, kind, default, usage):
        flag = Flag(names, kind, default, usage)
        for name in flag.names:
            self.by_name[name] = flag
        self.flags.append(flag)
        return flag

    def bool(self, names, default, usage):
        """Declare a boolean flag and return it."""
        return self._add(names, "bool", default, usage)

    def string(self, names, default, usage):
        """Declare a string flag and return it."""
        return self._add(names, "string", default, usage)

    def int(self, names, default, usage):
        """Declare an integer flag and return it."""
        return self._add(names, "int", default, usage)

    def list(self, names, usage):
        """Declare a repeatable flag whose value is the list of its uses."""
        return self._add(names, "list", [], usage)

    # Parsing ---------------------------------------------------------------

    def parse(self, args):
        """Parse ``args``, set the flags' values and ``self.args``.

        Raises:
            HelpRequested: ``-h``, ``-help`` or ``--help`` was given.
            FlagError: an unknown flag, a missing or malformed value.
        """
        args = list(args)
        self.args = []
        index = 0
        while index < len(args):
            word = args[index]
            index += 1
            if word == "--":
                self.args.extend(args[index:])
                return
            if word == "-" or not word.startswith("-"):
                if not self.interspersed:
                    self.args.extend(args[index - 1:])
                    return
                self.args.append(word)
                continue
            index = self._parse_flag(word, args, index)

    def _lookup(self, name, typed):
        flag = self.by_name.get(name)
        if flag is not None and name in flag.deprecated:
            visible = flag.visible_names()
            if visible:
                text = (f"Warning: '{typed}' is deprecated, it will be "
                        f"replaced by '{visible[-1]}' soon. See usage.")
            else:
                text = (f"Warning: '{typed}' is deprecated, it will be "
                        "removed soon. See usage.")
            self.warnings.append(text)
        if flag is not None:
            flag.used_as = typed
        return flag

    def _parse_flag(self, word, args, index):
        """Parse one word that starts with a dash; return the next index."""
        body = word[2:] if word.startswith("--") else word[1:]
        name, has_value, value = body.partition("=")
        value = strip_matching_quotes(value) if has_value else None
        key = "-" + name if word.startswith("--") else name
        flag = self._lookup(key, "-" + key)
        if flag is None and name in ("h", "help") and key != "-h":
            raise HelpRequested(self.usage())
        if flag is None and word.startswith("--"):
            raise FlagError("unknown flag: " + word.split("=")[0])
        if flag is None:
            return self._parse_letters(word, args, index)
        if flag.kind == "bool":
            flag.set(value if has_value else "true")
            return index
        if has_value:
            flag.set(value)
            return index
        if index >= len(args):
            raise FlagError("flag needs an argument: " +
                            ("-" + key if len(key) > 1 else
                             f"'{key}' in {word}"))
        flag.set(args[index])
        return index + 1

    def _parse_letters(self, word, args, index):
        """Read ``-abc`` letter by letter; a value flag takes the rest."""
        letters = word[1:]
        for position, letter in enumerate(letters):
            flag = self._lookup(letter, "-" + letter)
            if flag is None:
                if letter == "h":
                    raise HelpRequested(self.usage())
                raise FlagError("unknown shorthand flag: "
                                f"'{letter}' in -{letters[position:]}")
            rest = letters[position + 1:]
            if flag.kind == "bool":
                if rest.startswith("="):
                    flag.set(strip_matching_quotes(rest[1:]))
                    return index
                flag.set("true")
                continue
            if rest:
                flag.set(strip_matching_quotes(rest[1:])
                         if rest.startswith("=") else rest)
                return index
            if index >= len(args):
                raise FlagError("flag needs an argument: "
                                f"'{letter}' in -{letters[position:]}")
            flag.set(args[index])
            return index + 1
        return index

    # Usage -----------------------------------------------------------------

    def usage(self):
        """Return the usage text: the signature, summary and flags."""
        lines = ["", f"Usage:  {self.name} {self.signature}", ""]
        if self.description:
            lines += [self.description, ""]
        rows = []
        for flag in sorted(self.flags, key=lambda f: f.names[-1].lstrip("-")):
            if flag.visible_names():
                rows.append(flag.usage_row())
        if rows:
            lines.append("Options:")
            width = max(len(label) for label, _ in rows)
            for label, text in rows:
                lines.append(f"  {label:<{width}}   {text}")
        return "\n".join(lines) + "\n"

    def require(self, exactly=None, minimum=None):
        """Check the number of positional arguments left after parsing.

        Raises:
            FlagError: with docker's wording and exit code 1.
        """
        count = len(self.args)
        if exactly is not None and count != exactly:
            plural = "" if exactly == 1 else "s"
            wanted = f"exactly {exactly:d} argument{plural}"
        elif minimum is not None and count < minimum:
            plural = "" if minimum == 1 else "s"
            wanted = f"at least {minimum:d} argument{plural}"
        else:
            return
        raise FlagError(f'"{self.name}" requires {wanted}.',
                        exit_code=1)


def strip_matching_quotes(text):
    """Drop one pair of matching quotes around ``text``, as mflag does."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


# =========================================================================
# Hosts and TLS
# =========================================================================

def parse_host(addr, tls=False):
    """Return the normalised URL of the engine at ``addr``.

    Args:
        addr: what ``-H`` or DOCKER_HOST gave: ``unix:///path``, ``/path``,
            ``tcp://host:port[/base]``, ``host:port``, ``ssh://...``,
            ``fd://...``, or empty for the default.
        tls: whether TLS is on, which moves the default to port 2376.

    Returns:
        ``unix:///path``, ``tcp://host:port[/base]``, or the ssh and fd
        forms unchanged.

    Raises:
        ConfigError: the address cannot name an engine.
    """
    text = (addr or "").strip()
    if not text:
        return DEFAULT_TLS_HOST if tls else DEFAULT_HOST
    if text.startswith("/"):
        # A bare path is a socket; docker would read it as a TCP path.
        text = "unix://" + text
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    scheme = scheme.lower()
    if scheme == "unix":
        return "unix://" + (rest or DEFAULT_UNIX_SOCKET)
    if scheme in ("ssh", "fd"):
        if scheme == "ssh" and not rest.split("/")[0].rpartition("@")[2]:
            raise ConfigError(f"invalid ssh address: {addr}: no host")
        return text
    if scheme != "tcp":
        raise ConfigError(f"invalid bind address format: {addr}")
    return "tcp://" + _parse_tcp_address(rest, addr, tls)


def _parse_tcp_address(rest, addr, tls):
    """Return ``host:port[/base]`` for the part after ``tcp://``."""
    hostport, slash, path = rest.partition("/")
    path = ("/" + path).rstrip("/") if slash else ""
    if hostport.startswith("["):
        host, bracket, port_text = hostport[1:].partition("]")
        if not bracket or (port_text and not port_text.startswith(":")):
            raise ConfigError(f"invalid bind address format: {addr}")
        host = f"[{host}]"
        port_text = port_text[1:]
    elif hostport.count(":") > 1:
        raise ConfigError(f"invalid bind address format: {addr}: "
                          "IPv6 addresses need brackets")
    else:
        host, _, port_text = hostport.partition(":")
    if any(c in host for c in " \t?#@"):
        raise ConfigError(f"invalid bind address format: {addr}")
    if not port_text:
        port = DEFAULT_TLS_PORT if tls and not host else DEFAULT_TCP_PORT
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ConfigError(f"invalid bind address format: {addr}: "
                          f"invalid port {port_text!r}")
    return f"{host or 'localhost'}:{port:d}{path}"


def tls_context(verify=True, ca=None, cert=None, key=None,
                cert_required=False):
    """Return an ``ssl.SSLContext`` for talking to an engine.

    Args:
        verify: check the engine's certificate against ``ca`` and its name.
        ca: the CA file (needed when ``verify``).
        cert, key: the client certificate and key, sent when present.
        cert_required: the certificate files were named explicitly, so a
            missing one is an error rather than simply not sent.

    Raises:
        ConfigError: a file that is needed cannot be read.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        if not ca or not os.path.isfile(ca):
            raise ConfigError(f"could not read CA certificate {ca!r}: no such "
                              "file")
        try:
            context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"could not read CA certificate {ca!r}: "
                              f"{_reason(error)}") from None
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert and key and (cert_required or (os.path.isfile(cert) and
                                           os.path.isfile(key))):
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"could not load X509 key pair {cert!r}, "
                              f"{key!r}: {_reason(error)}") from None
    return context


def _reason(error):
    """Return the short human part of an OSError or SSLError."""
    return getattr(error, "strerror", None) or getattr(
        error, "reason", None) or str(error)


# =========================================================================
# Transport
# =========================================================================

class UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket; the Host header says ``docker``."""

    def __init__(self, path, timeout=None):
        super().__init__("docker", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class SSHConnection(http.client.HTTPConnection):
    """HTTP through ``ssh HOST docker system dial-stdio``, as docker does.

    The ssh process gets one end of a socket pair as its stdin and stdout,
    so the connection is an ordinary socket on our side, half-close
    included.
    """

    def __init__(self, url, timeout=None):
        super().__init__("docker", timeout=timeout)
        self.url = url
        self.process = None

    def ssh_command(self):
        """Return the ssh command line for this connection's URL."""
        parts = urllib.parse.urlsplit(self.url)
        command = ["ssh", "-o", "ConnectTimeout=30", "-T"]
        if parts.username:
            command += ["-l", parts.username]
        if parts.port:
            command += ["-p", str(parts.port)]
        command += ["--", parts.hostname, "docker"]
        if parts.path and parts.path != "/":
            command += ["--host", "unix://" + parts.path]
        return command + ["system", "dial-stdio"]

    def connect(self):
        import subprocess
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                self.ssh_command(), stdin=theirs, stdout=theirs,
                stderr=subprocess.PIPE, start_new_session=True)
        except OSError as error:
            ours.close()
            raise ConnectError(f"cannot run ssh: {_reason(error)}") from None
        finally:
            theirs.close()
        self.sock = ours

    def ssh_error(self):
        """Return what ssh said on stderr once it has exited, or ``""``."""
        if self.process is None:
            return ""
        try:
            self.process.wait(timeout=5)
            text = self.process.stderr.read().decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - only for a better message
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def close(self):
        super().close()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            self.process.wait()
            self.process.stderr.close()
            self.process = None


def open_connection(host, tls=None, timeout=None):
    """Return an unconnected ``http.client`` connection to ``host``.

    Args:
        host: a URL as ``parse_host`` returns it.
        tls: an ``ssl.SSLContext`` for TCP hosts, or None for plain HTTP.
        timeout: the connect and read timeout in seconds.
    """
    scheme, _, rest = host.partition("://")
    if scheme == "unix":
        return UnixConnection(rest, timeout)
    if scheme == "ssh":
        return SSHConnection(host, timeout)
    if scheme == "tcp":
        hostport = rest.split("/", 1)[0]
        name, _, port = hostport.rpartition(":")
        name = name.strip("[]")
        if tls is not None:
            return http.client.HTTPSConnection(name, int(port),
                                               timeout=timeout, context=tls)
        return http.client.HTTPConnection(name, int(port), timeout=timeout)
    raise ConnectError(f"cannot connect to {host}: a client needs a unix, "
                       "tcp or ssh address")


def base_path(host):
    """Return the API base path a ``tcp://host:port/base`` URL carries."""
    if not host.startswith("tcp://"):
        return ""
    _, slash, path = host[len("tcp://"):].partition("/")
    return ("/" + path).rstrip("/") if slash else ""


# =========================================================================
# API client
# =========================================================================

def parse_api_version(text, source="API version"):
    """Return ``(major, minor)`` for a version like ``1.41``.

    Raises:
        ConfigError: ``text`` is not of that form; ``source`` names where
            the text came from.
    """
    match = re.fullmatch(r"v?(\d{1,4})\.(\d{1,4})", (text or "").strip())
    if not match:
        raise ConfigError(f"invalid {source} {text!r}: expected a version "
                          f"such as {MAX_API_VERSION}")
    return int(match.group(1)), int(match.group(2))


def format_api_version(version):
    """Return ``"1.41"`` for ``(1, 41)``."""
    major, minor = version
    return f"{major:d}.{minor:d}"


def _connect_message(host):
    return (f"Cannot connect to the Docker daemon at {host}. Is the docker "
            "daemon running?")


class Client:
    """A connection to one Docker engine, speaking its HTTP API.

    It keeps one connection alive across calls, negotiates the API version
    on first use, never prints and never exits.  Use it as a context
    manager, or call ``close()``.

    Args:
        host: an address as ``parse_host`` takes it; None means the default
            unix socket (the environment is not read: see ``from_env``).
        tls: an ``ssl.SSLContext`` for a TCP host, or None.
        version: an API version such as ``"1.41"``, or None to negotiate.
        timeout: seconds to wait for the engine on ordinary calls; calls
            that stream (pull, logs, events, ...) wait as long as it takes.
        headers: extra HTTP headers sent with every request.

    Raises:
        ConfigError: a malformed host or version.
    """

    def __init__(self, host=None, tls=None, version=None, timeout=60,
                 headers=None):
        self.host = parse_host(host or "", tls=tls is not None)
        self.tls = tls
        self.timeout = timeout
        self.headers = {"User-Agent": "pydocker/" + __version__}
        self.headers.update(headers or {})
        self.pinned = version is not None
        self.api_version = (parse_api_version(version)
                            if version is not None else None)
        self.ping_headers = {}
        self._base = base_path(self.host)
        self._connection = None
        self._response = None

    @classmethod
    def from_env(cls, environ=None, timeout=60):
        """Return a Client set up from DOCKER_* variables, as ``docker`` is.

        Reads DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_TLS, DOCKER_CERT_PATH,
        DOCKER_API_VERSION and DOCKER_CONFIG (the default certificate
        folder).

        Raises:
            ConfigError: a malformed variable or unreadable TLS files.
        """
        env = os.environ if environ is None else environ
        verify = bool(env.get("DOCKER_TLS_VERIFY"))
        use_tls = verify or bool(env.get("DOCKER_TLS"))
        context = None
        if use_tls:
            folder = env.get("DOCKER_CERT_PATH") or config_directory(env)
            context = tls_context(
                verify=verify, ca=os.path.join(folder, "ca.pem"),
                cert=os.path.join(folder, "cert.pem"),
                key=os.path.join(folder, "key.pem"))
        version = env.get("DOCKER_API_VERSION") or None
        if version is not None:
            parse_api_version(version, "DOCKER_API_VERSION")
        return cls(env.get("DOCKER_HOST") or None, tls=context,
                   version=version, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Close the connection; the next call opens a new one."""
        self._response = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # Connections and requests ---------------------------------------------

    def _connect(self):
        """Return the open connection, opening one when needed."""
        if self._response is not None and not self._response.isclosed():
            # A stream was left unread: its connection cannot be reused.
            self.close()
        if self._connection is not None and self._connection.sock is None:
            self.close()  # the engine closed it after its last answer
        if self._connection is None:
            self._connection = open_connection(self.host, self.tls,
                                               self.timeout)
            log.debug("connecting to %s", self.host)
            try:
                self._connection.connect()
            except OSError as error:
                connection, self._connection = self._connection, None
                raise self._connect_error(error, connection) from None
        return self._connection

    def _connect_error(self, error, connection=None):
        """Turn a socket or TLS failure into a ConnectError."""
        log.debug("connection to %s failed: %r", self.host, error)
        detail = ""
        if isinstance(connection, SSHConnection):
            detail = connection.ssh_error()
            connection.close()
            if detail:
                return ConnectError(f"error during connect: ssh: {detail}")
        if isinstance(error, ssl.SSLCertVerificationError):
            return ConnectError("error during connect: tls: failed to verify "
                                f"the certificate of {self.host}: "
                                f"{error.verify_message}")
        if isinstance(error, ssl.SSLError):
            reason = error.reason or str(error)
            if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE",
                          "UNEXPECTED_EOF_WHILE_READING"):
                return ConnectError(
                    f"error during connect: {self.host} answered in plain "
                    "HTTP, not TLS: drop --tls/--tlsverify or check the port")
            return ConnectError(
                f"error during connect: tls: {self.host}: {reason}")
        if isinstance(error, PermissionError):
            return ConnectError(
                "permission denied while trying to connect to the Docker "
                f"daemon socket at {self.host}: {_reason(error)}")
        if isinstance(error, socket.gaierror):
            return ConnectError(f"error during connect: {self.host}: "
                                f"{_reason(error)}")
        if isinstance(error, socket.timeout):
            return ConnectError(f"error during connect: {self.host}: "
                                "timed out")
        return ConnectError(_connect_message(self.host))

    def _url(self, path, params=None, versioned=True):
        """Return the request target for an API path and query values."""
        if versioned:
            path = f"/v{format_api_version(self.negotiate())}{path}"
        if params:
            pairs = []
            for key, value in params.items():
                if value is None or value is False:
                    continue
                if value is True:
                    value = "1"
                pairs.append((key, str(value)))
            if pairs:
                path += "?" + urllib.parse.urlencode(pairs)
        return self._base + path

    def request(self, method, path, params=None, body=None, headers=None,
                stream=False, versioned=True):
        """Send one request and return the response once it is successful.

        Args:
            method: the HTTP method.
            path: the API path without the version, e.g. ``/images/json``.
            params: query values; None and False are left out, True is 1.
            body: bytes, a dict or list (sent as JSON), an iterable of bytes
                (sent chunked) or None.
            headers: extra headers for this request.
            stream: the answer may take as long as it likes (no timeout).
            versioned: prefix the path with the negotiated version.

        Returns:
            The ``http.client.HTTPResponse``, not yet read.

        Raises:
            ConnectError, APIError, NotFound.
        """
        target = self._url(path, params, versioned)
        all_headers = dict(self.headers)
        all_headers.update(headers or {})
        chunked = False
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        elif body is not None and not isinstance(body, (bytes, bytearray)):
            chunked = True
            all_headers["Transfer-Encoding"] = "chunked"
        log.debug("request: %s %s %s", method, target,
                  redact_headers(all_headers))
        response = self._send(method, target, body, all_headers, chunked,
                              stream)
        log.debug("response: %s %s", response.status, response.reason)
        if response.status >= 400:
            raise self._api_error(response)
        return response

    def _send(self, method, target, body, headers, chunked, stream):
        """Send a request, retrying once on a keep-alive that went stale."""
        for attempt in (1, 2):
            reused = self._connection is not None
            connection = self._connect()
            try:
                connection.sock.settimeout(None if stream else self.timeout)
                connection.request(method, target, body=body,
                                   headers=headers, encode_chunked=chunked)
                response = connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as error:
                self.close()
                if reused and attempt == 1 and not chunked:
                    continue
                if self.tls is None and self.host.startswith("tcp://"):
                    raise ConnectError(
                        f"error during connect: {self.host} closed the "
                        "connection without answering: does it expect TLS "
                        "(--tlsverify)?") from None
                raise self._connect_error(error) from None
            except http.client.BadStatusLine as error:
                self.close()
                raise ConnectError(
                    f"error during connect: {self.host} did not answer in "
                    "HTTP: does it expect TLS (--tlsverify)?"
                ) from error
            except OSError as error:
                self.close()
                raise self._connect_error(error) from None
            self._response = response
            return response
        raise AssertionError("unreachable")

    def _api_error(self, response):
        """Read an error answer and return the APIError to raise."""
        raw = response.read(1 << 20)
        self._response = None
        text = raw.decode("utf-8", "replace").strip()
        message = text
        try:
            decoded = json.loads(text)
            if isinstance(decoded, dict) and "message" in decoded:
                message = str(decoded["message"])
        except ValueError:
            pass
        if "Client sent an HTTP request to an HTTPS server" in text:
            self.close()
            return ConnectError(f"error during connect: {self.host} expects "
                                "TLS: use --tlsverify (or --tls)")
        if message is text:
            message = _one_line(text)
        if not message or message.startswith("<"):
            # Empty, or an HTML page from a proxy: the status says more.
            phrase = http.client.responses.get(response.status,
                                               response.reason)
            message = f"{response.status:d} {phrase}"
        kind = NotFound if response.status == 404 else APIError
        return kind(response.status, message)

    # Version negotiation --------------------------------------------------

    def negotiate(self):
        """Return the API version to use, asking ``/_ping`` the first time.

        Raises:
            ConnectError: the engine cannot be reached.
            VersionError: the engine speaks only versions older than 1.24.
        """
        if self.api_version is None:
            self.ping()
            self.api_version = min(parse_api_version(MAX_API_VERSION),
                                   self._engine_version())
            log.debug("negotiated API version %s",
                      format_api_version(self.api_version))
        return self.api_version

    def _engine_version(self):
        header = self.ping_headers.get("api-version")
        if not header:
            return parse_api_version(MIN_API_VERSION)
        try:
            version = parse_api_version(header)
        except ConfigError:
            return parse_api_version(MIN_API_VERSION)
        if version < parse_api_version(MIN_API_VERSION):
            raise VersionError(f"the engine speaks API version {header}; "
                               f"pydocker needs {MIN_API_VERSION} or newer")
        return version

    def ping(self):
        """Ask ``/_ping``; return True and keep the engine's headers.

        Raises:
            ConnectError, APIError.
        """
        try:
            response = self.request("HEAD", "/_ping", versioned=False)
        except APIError as error:
            # A HEAD answer has no body, so a 400 that explains itself
            # (plain HTTP sent to a TLS port) must be asked again by GET.
            if error.status not in (400, 404, 405):
                raise
            response = self.request("GET", "/_ping", versioned=False)
        response.read()
        self.ping_headers = {k.lower(): v for k, v in response.getheaders()}
        return True

    def require_version(self, minimum, feature):
        """Refuse ``feature`` when the engine's API is older than needed.

        Raises:
            VersionError: naming the version the feature needs.
        """
        if self.negotiate() < parse_api_version(minimum):
            spoken = format_api_version(self.api_version)
            raise VersionError(f"{feature} requires API version {minimum}, "
                               f"but the engine speaks {spoken}")

    # Small request helpers -------------------------------------------------

    def _json(self, method, path, params=None, body=None, headers=None):
        """Send a request and return its decoded JSON answer (or None)."""
        response = self.request(method, path, params, body, headers)
        raw = read_all(response)
        self._response = None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise StreamError("malformed JSON from the engine on "
                              f"{method} {path}") from None

    def _get(self, path, params=None):
        return self._json("GET", path, params)

    def _post(self, path, params=None, body=None, headers=None):
        return self._json("POST", path, params, body, headers)

    def _delete(self, path, params=None):
        return self._json("DELETE", path, params)

    def _stream_json(self, method, path, params=None, body=None,
                     headers=None):
        """Send a request and yield the JSON messages of its answer."""
        response = self.request(method, path, params, body, headers,
                                stream=True)
        yield from json_messages(response)
        self._response = None

    # Engine and system -----------------------------------------------------

    def version(self):
        """Return the engine's ``/version`` answer."""
        return self._get("/version")

    def info(self):
        """Return the engine's ``/info`` answer."""
        return self._get("/info")

    def auth(self, auth):
        """Check credentials with the engine's ``/auth``.

        Args:
            auth: ``{"username", "password", "serveraddress"}``.

        Returns:
            The answer: ``{"Status", "IdentityToken"}``.
        """
        return self._post("/auth", body=auth) or {}

    # Images ----------------------------------------------------------------

    def images(self, all=False, filters=None):  # noqa: A002 - API word
        """Return the list of images (``GET /images/json``)."""
        return self._get("/images/json", {"all": all,
                                          "filters": encode_filters(filters)})

    def inspect_image(self, name):
        """Return the engine's description of an image."""
        return self._get(f"/images/{quote(name)}/json")

    def pull(self, reference, auth=None, platform=None, all_tags=False):
        """Pull an image and yield the engine's progress messages.

        Args:
            reference: a ``Reference`` or text such as ``busybox:latest``.
            auth: the credentials dict (see ``encode_auth``) or None.
            platform: e.g. ``linux/amd64``, or None.
            all_tags: pull every tag of the repository.

        Raises:
            APIError: the engine refused; StreamError: the pull failed.
        """
        if not isinstance(reference, Reference):
            reference = parse_reference(reference)
        params = {"fromImage": reference.name}
        if not all_tags:
            params["tag"] = (reference.digest or reference.tag or "latest")
        if platform:
            self.require_version("1.32", "--platform")
            params["platform"] = platform
        headers = {"X-Registry-Auth": encode_auth(auth or {})}
        return self._stream_json("POST", "/images/create", params,
                                 headers=headers)

    def tag(self, image, repository, tag=None):
        """Give ``image`` the name ``repository:tag``."""
        self._post(f"/images/{quote(image)}/tag",
                   {"repo": repository, "tag": tag or None})

    def remove_image(self, image, force=False, noprune=False):
        """Remove an image; return the engine's list of what it did."""
        return self._delete(f"/images/{quote(image)}",
                            {"force": force, "noprune": noprune}) or []

    # Containers ------------------------------------------------------------

    def containers(self, all=False, filters=None, limit=None,  # noqa: A002
                   size=False):
        """Return the list of containers (``GET /containers/json``)."""
        return self._get("/containers/json", {
            "all": all, "filters": encode_filters(filters),
            "limit": limit, "size": size})

    def inspect_container(self, container):
        """Return the engine's description of a container."""
        return self._get(f"/containers/{quote(container)}/json")

    def inspect_raw(self, kind, name):
        """Return the raw JSON bytes describing a container or image."""
        response = self.request("GET", f"/{kind}/{quote(name)}/json")
        raw = read_all(response)
        self._response = None
        return raw

    def create_container(self, config, name=None, platform=None):
        """Create a container; return ``{"Id", "Warnings"}``.

        Args:
            config: the engine's container config, ``HostConfig`` included.
            name: the container's name, or None for a generated one.
            platform: e.g. ``linux/amd64`` (API 1.41), or None.
        """
        if platform:
            self.require_version("1.41", "--platform")
        return self._post("/containers/create",
                          {"name": name or None, "platform": platform},
                          body=config)

    def start(self, container):
        """Start a container (a running one is left as it is)."""
        self._post(f"/containers/{quote(container)}/start")

    def wait(self, container, condition=None):
        """Wait until a container stops; return ``{"StatusCode", ...}``.

        Args:
            condition: ``not-running`` (the default), ``next-exit`` or
                ``removed`` (API 1.30).
        """
        return self.wait_later(container, condition).result()

    def wait_later(self, container, condition=None):
        """Ask the engine to wait for a container, on a connection of its
        own, and return a ``PendingAnswer`` at once.

        The wait is registered before anything else is sent, so that a
        container that ends (and is removed) quickly is not missed.
        """
        params = {}
        if condition:
            self.require_version("1.30", "waiting for a condition")
            params["condition"] = condition
        target = self._url(f"/containers/{quote(container)}/wait", params)
        log.debug("request: POST %s (answer read later)", target)
        return PendingAnswer(self._open_own_connection(), target,
                             dict(self.headers), self._api_error)

    def remove_container(self, container, force=False, volumes=False,
                         link=False):
        """Remove a container (``-f`` kills a running one first)."""
        self._delete(f"/containers/{quote(container)}",
                     {"force": force, "v": volumes, "link": link})

    def kill(self, container, signal=None):
        """Send a signal (a name such as ``SIGTERM``, or a number)."""
        self._post(f"/containers/{quote(container)}/kill",
                   {"signal": signal})

    def resize(self, container, height, width):
        """Set the size of a container's terminal."""
        self._post(f"/containers/{quote(container)}/resize",
                   {"h": height, "w": width})

    def logs(self, container, stdout=True, stderr=True, follow=False,
             timestamps=False, tail=None, since=None, until=None,
             details=False, tty=None):
        """Yield a container's logs as ``(stream_number, bytes)``.

        Stream 1 is stdout and 2 is stderr; a container with a terminal
        has one stream, given as 1.

        Args:
            tail: the number of lines from the end, or ``"all"``.
            since, until: Unix times as text (see ``parse_timestamp``).
            tty: the container's ``Tty``; None asks the engine.
        """
        if tty is None:
            tty = container_tty(self.inspect_container(container))
        if until:
            self.require_version("1.35", "--until")
        response = self.request("GET", f"/containers/{quote(container)}/logs",
                                {"stdout": stdout, "stderr": stderr,
                                 "follow": follow, "timestamps": timestamps,
                                 "tail": tail, "since": since,
                                 "until": until, "details": details},
                                stream=True)
        yield from demultiplex(lambda: _read_chunk(response), tty)
        self._response = None

    def attach(self, container, stdin=False, stdout=True, stderr=True,
               logs=False, detach_keys=None):
        """Attach to a container's streams; return a ``Hijacked`` stream.

        Whether its output is multiplexed depends on the container's
        ``Tty`` (see ``demultiplex``), never on what the engine says.
        """
        return self._hijack("POST", f"/containers/{quote(container)}/attach",
                            {"stream": True, "stdin": stdin,
                             "stdout": stdout, "stderr": stderr,
                             "logs": logs, "detachKeys": detach_keys})

    # Exec ------------------------------------------------------------------

    def exec_create(self, container, config):
        """Set up a command to run in a container; return ``{"Id"}``.

        Args:
            config: ``{"Cmd", "AttachStdin", "Tty", "Env", ...}``.
        """
        if config.get("Env"):
            self.require_version("1.25", "exec with environment variables")
        if config.get("WorkingDir"):
            self.require_version("1.35", "exec --workdir")
        return self._post(f"/containers/{quote(container)}/exec",
                          body=config)

    def exec_start(self, exec_id, detach=False, tty=False):
        """Start an exec; return its ``Hijacked`` stream, or None if
        ``detach`` is true."""
        body = {"Detach": detach, "Tty": tty}
        if detach:
            self._post(f"/exec/{quote(exec_id)}/start", body=body)
            return None
        return self._hijack("POST", f"/exec/{quote(exec_id)}/start",
                            body=body)

    def exec_inspect(self, exec_id):
        """Return the engine's description of an exec (``ExitCode``...)."""
        return self._get(f"/exec/{quote(exec_id)}/json")

    def exec_resize(self, exec_id, height, width):
        """Set the size of an exec's terminal."""
        self._post(f"/exec/{quote(exec_id)}/resize",
                   {"h": height, "w": width})

    # Hijacked connections --------------------------------------------------

    def _open_own_connection(self):
        """Return a new connected connection that this Client won't reuse.

        Streams that outlive one request (attach, exec, a pending wait)
        get their own connection, so the kept-alive one stays free for
        the calls made meanwhile (start, resize, kill).
        """
        self.negotiate()
        connection = open_connection(self.host, self.tls, self.timeout)
        try:
            connection.connect()
        except OSError as error:
            raise self._connect_error(error, connection) from None
        connection.sock.settimeout(None)
        return connection

    def _hijack(self, method, path, params=None, body=None):
        """Send a request that asks to take over the connection.

        The engine answers ``101 UPGRADED`` and from then on the socket
        carries the container's streams both ways.  Engines that answer
        200 instead send the output as the answer's body; that is read
        the same way, through http.client's framing.

        Raises:
            ConnectError, APIError, NotFound.
        """
        target = self._url(path, params)
        headers = dict(self.headers)
        headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        log.debug("request: %s %s %s", method, target,
                  redact_headers(headers))
        connection = self._open_own_connection()
        sock = connection.sock
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise _read_failure(error) from None
        log.debug("response: %s %s", response.status, response.reason)
        if response.status >= 400:
            try:
                raise self._api_error(response)
            finally:
                connection.close()
        if response.status == 101:
            # What the engine sent right after the headers is already in
            # the response's buffer: it is the start of the stream.
            return Hijacked(sock, response.fp, connection)
        return Hijacked(sock, response, connection)


def _one_line(text, limit=300):
    """Fold whitespace so that ``text`` prints as one line, cut short."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[:limit - 3] + "..."


def read_all(response):
    """Read a whole (non-streamed) answer.

    Raises:
        StreamError: the connection failed before the answer's end.
    """
    try:
        return response.read()
    except (OSError, http.client.HTTPException) as error:
        raise _read_failure(error) from None


def _read_failure(error):
    """Return the StreamError for a read that failed with ``error``."""
    if isinstance(error, http.client.IncompleteRead):
        return StreamError("the engine's answer ended in the middle of a "
                           "message: connection lost")
    if isinstance(error, http.client.HTTPException):
        return StreamError("malformed HTTP in the engine's answer")
    reason = _reason(error) or "connection lost"
    return StreamError(f"error reading the engine's answer: {reason}")


def quote(name):
    """Quote a name or ID for use inside an API path."""
    return urllib.parse.quote(name, safe="")


def encode_filters(filters):
    """Return the engine's JSON form of ``{"key": ["value", ...]}``."""
    if not filters:
        return None
    return json.dumps({key: (values if isinstance(values, list)
                             else [values])
                       for key, values in filters.items()})


def redact_headers(headers):
    """Return ``headers`` with secret values replaced, for logging."""
    secret = ("x-registry-auth", "x-registry-config", "authorization")
    return {key: ("<redacted>" if key.lower() in secret else value)
            for key, value in headers.items()}


def json_messages(response):
    """Yield the JSON values of a streamed answer as they arrive.

    The engine separates values by optional whitespace; a value may be
    split across reads and several may arrive in one, so bytes are decoded
    incrementally and never more than one unfinished value is held.

    Raises:
        StreamError: the stream is not JSON, or ends inside a value.
    """
    import codecs
    decoder = json.JSONDecoder()
    text_decoder = codecs.getincrementaldecoder("utf-8")("replace")
    buffer = ""
    while True:
        chunk = _read_chunk(response)
        buffer += text_decoder.decode(chunk, final=not chunk)
        position = 0
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n":
                position += 1
            if position == len(buffer):
                break
            try:
                value, position = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as error:
                if not _cut_short(error, buffer):
                    raise StreamError("malformed JSON in the engine's "
                                      f"answer: {error.msg}") from None
                if not chunk:
                    raise StreamError("the engine's answer ended in the "
                                      "middle of a message") from None
                break
            yield value
        buffer = buffer[position:]
        if len(buffer) > MAX_JSON_MESSAGE:
            raise StreamError("malformed JSON in the engine's answer: a "
                              f"message longer than {len(buffer)} bytes")
        if not chunk:
            return


def _read_chunk(response):
    """Return the next bytes of a streamed answer, ``b""`` at its end.

    Raises:
        StreamError: the connection failed while reading.
    """
    try:
        return response.read1(STREAM_CHUNK)
    except (OSError, http.client.HTTPException) as error:
        raise _read_failure(error) from None


def _cut_short(error, buffer):
    """Tell a JSON value whose end is missing from a broken one.

    A value cut short fails in an unterminated string, at the very end,
    or on the start of a literal or number that the end cut off.
    """
    if error.msg.startswith("Unterminated string"):
        return True
    rest = buffer[error.pos:].rstrip()
    if error.msg.startswith("Invalid \\uXXXX escape"):
        return len(rest) < 6  # the escape's hex digits are still coming
    return (not rest or any(word.startswith(rest)
                            for word in ("true", "false", "null"))
            or re.fullmatch(r"-?[0-9.eE+-]*", rest) is not None)


# =========================================================================
# Formatting
# =========================================================================

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_MULTIPLIERS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30,
                       "t": 1 << 40, "p": 1 << 50}


def human_size(size, precision=4):
    """Return ``size`` bytes in decimal units: ``1.049MB`` (4 digits).

    Tables use ``precision=3`` (``1.05MB``), as docker does.
    """
    size = float(size)
    unit = 0
    while size >= 1000 and unit < len(_DECIMAL_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.{precision}g}{_DECIMAL_UNITS[unit]}"


def human_duration(seconds):
    """Return a duration as docker words it: ``About a minute``, no ago."""
    seconds = int(seconds)
    minutes = seconds // 60
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    return _human_long_duration(seconds)


def _human_long_duration(seconds):
    """Word an hour or more as docker does, from hours up to years."""
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{seconds // 3600 // 24 // 365} years"


def parse_bytes(text):
    """Return the bytes in ``text`` as ``--memory`` reads it: ``32k``=32768.

    Raises:
        ValueError: ``text`` is not a size.
    """
    match = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kKmMgGtTpP]?)[iI]?[bB]?",
                         text.strip())
    if not match:
        raise ValueError(f"invalid size: '{text}'")
    number, unit = match.groups()
    return int(float(number) * _BINARY_MULTIPLIERS[unit.lower()])


def ago(timestamp, now=None):
    """Return ``5 minutes ago`` for a Unix time or an RFC 3339 text."""
    if isinstance(timestamp, str):
        timestamp = parse_rfc3339(timestamp)
    now = time.time() if now is None else now
    return human_duration(max(0, now - timestamp)) + " ago"


def parse_rfc3339(text):
    """Return the Unix time of an engine timestamp (nanoseconds allowed)."""
    import datetime
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?"
                     r"(Z|[+-]\d\d:\d\d)?", text or "")
    if not match:
        return 0.0
    moment = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    offset = match.group(3) or "Z"
    seconds = 0 if offset == "Z" else (
        (int(offset[1:3]) * 60 + int(offset[4:6])) * 60
        * (1 if offset[0] == "+" else -1))
    moment = moment.replace(tzinfo=datetime.timezone.utc)
    fraction = float(match.group(2) or 0)
    return moment.timestamp() + fraction - seconds


def format_table(rows):
    """Return rows of cells aligned as docker's tabwriter aligns them.

    Every column but the last is padded to its widest cell plus three
    spaces, and to at least ten characters.
    """
    if not rows:
        return ""
    widths = [max(10, max(len(row[i]) for row in rows) + 3)
              for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        lines.append("".join(cells) + row[-1])
    return "\n".join(lines) + "\n"


def ellipsis(text, width):
    """Cut ``text`` to ``width`` characters, ending in ``…`` when cut."""
    return text if len(text) <= width else text[:width - 1] + "\u2026"


def go_quote(text):
    """Quote ``text`` as Go's strconv.Quote does for printable text."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t",
               "\r": "\\r"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+',
                         re.S)


def indent_json(raw, indent="    "):
    """Re-indent JSON text, keeping its strings and numbers as they were.

    Docker prints the engine's own bytes re-indented rather than decoded
    and re-encoded, so escapes such as ``\\u003c`` survive; so do we.
    """
    out = []
    depth = 0
    tokens = _JSON_TOKEN.findall(raw)
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token in "{[":
            out.append(token)
            if following not in "}]" or not following:
                depth += 1
                out.append("\n" + indent * depth)
        elif token in "}]":
            previous = tokens[index - 1] if index else ""
            if previous not in ("{", "["):
                depth -= 1
                out.append("\n" + indent * depth)
            out.append(token)
        elif token == ",":
            out.append(",\n" + indent * depth)
        elif token == ":":
            out.append(": ")
        else:
            out.append(token)
    return "".join(out)


# =========================================================================
# Stream rendering
# =========================================================================

class ProgressRenderer:
    """Show the engine's JSON progress messages as docker does.

    On a terminal each layer (message ``id``) keeps one line, redrawn in
    place with ANSI cursor moves, with a 50-cell bar when the terminal is
    wider than 110 columns.  Elsewhere no escape codes are written: one
    line per status, and messages that only move a progress bar are left
    out.

    Args:
        out: a binary stream to write to.
        terminal: whether ``out`` is a terminal.
        width: the terminal width (None: ask the terminal, else 200).
    """

    def __init__(self, out, terminal=False, width=None):
        self.out = out
        self.terminal = terminal
        self.width = width
        self.lines = {}
        self.aux = []

    def _width(self):
        if self.width is None:
            try:
                self.width = os.get_terminal_size(self.out.fileno()).columns
            except (AttributeError, OSError, ValueError):
                self.width = 200
        return self.width

    def show(self, message):
        """Render one decoded message.

        Raises:
            StreamError: the message reports an error.
        """
        if not isinstance(message, dict):
            return
        error = message.get("errorDetail") or {}
        if message.get("error") or error.get("message"):
            raise StreamError(str(error.get("message") or message["error"]))
        if "aux" in message:
            self.aux.append(message["aux"])
            return
        ident = message.get("id")
        diff = 0
        layer_line = "progressDetail" in message or message.get("progress")
        if ident and layer_line:
            line = self.lines.get(ident)
            if line is None:
                line = self.lines[ident] = len(self.lines)
                if self.terminal:
                    self.out.write(b"\n")
            diff = len(self.lines) - line
            if self.terminal:
                self.out.write(b"\x1b[%dA" % diff)
        else:
            # Something not tied to a layer line: later layer updates
            # start new lines below it rather than redraw old ones.
            self.lines = {}
        self.out.write(self._text(message).encode("utf-8", "replace"))
        if ident and self.terminal and diff:
            self.out.write(b"\x1b[%dB" % diff)

    def _text(self, message):
        """Return the text of one message as it is written."""
        end = ""
        prefix = ""
        has_detail = "progressDetail" in message
        bar = self._bar(message.get("progressDetail") or {})
        if self.terminal and has_detail and not message.get("stream"):
            prefix = "\x1b[2K\r"
            end = "\r"
        elif has_detail and bar:
            return ""
        if message.get("id"):
            prefix += "{}: ".format(message["id"])
        if message.get("from"):
            prefix += "(from {}) ".format(message["from"])
        status = str(message.get("status", ""))
        if has_detail and self.terminal:
            return f"{prefix}{status} {bar}{end}"
        if message.get("progress"):
            return "{}{} {}{}".format(prefix, status, message["progress"], end)
        if message.get("stream"):
            return prefix + str(message["stream"]) + end
        return f"{prefix}{status}{end}\n"

    def _bar(self, detail):
        """Return docker's progress text: bar, counts and time left."""
        try:
            current = int(detail.get("current") or 0)
            total = int(detail.get("total") or 0)
            start = int(detail.get("start") or 0)
        except (TypeError, ValueError, AttributeError):
            return ""
        if current <= 0 and total <= 0:
            return ""
        if total <= 0:
            return f"{human_size(current):>8}"
        percent = min(50, int(current / total * 100) // 2)
        bar = ""
        if self._width() > 110:
            bar = "[{}>{}] ".format("=" * percent, " " * (50 - percent))
        numbers = f"{human_size(current):>8}/{human_size(total)}"
        if current > total:
            numbers = f"{human_size(current):>8}"
        left = ""
        if start > 0 and percent < 50 and self._width() > 50:
            elapsed = max(0.0, time.time() - start)
            remaining = int(elapsed / current * (total - current))
            left = " " + go_duration(remaining)
        return bar + numbers + left


def go_duration(seconds):
    """Return whole seconds as Go prints a Duration: ``1h2m3s``, ``0s``."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


# =========================================================================
# Attached streams
# =========================================================================

class Hijacked:
    """A connection the engine has handed over to a container's streams.

    ``read`` returns the container's output, multiplexed or raw as its
    ``Tty`` says (see ``demultiplex``); ``write`` feeds its stdin;
    ``close_write`` half-closes the socket so that the container sees the
    end of its input while its output still comes.

    Args:
        sock: the connection's socket, for writing and shutting down.
        reader: where the output is read from, with ``read1``: the
            buffered socket file after a 101 answer, else the response.
        connection: the ``http.client`` connection, closed by ``close``.
    """

    def __init__(self, sock, reader, connection):
        self.sock = sock
        self.reader = reader
        self.connection = connection
        self.closed = False

    def read(self, size=STREAM_CHUNK):
        """Return the next output bytes, ``b""`` at the end.

        Raises:
            StreamError: the connection failed.
        """
        try:
            return self.reader.read1(size)
        except (OSError, ValueError, http.client.HTTPException) as error:
            if self.closed:
                return b""  # closed by us (detach keys): a normal end
            raise _read_failure(error) from None

    def write(self, data):
        """Send bytes to the container's stdin."""
        self.sock.sendall(data)

    def close_write(self):
        """Tell the container its input has ended; keep reading output."""
        # TODO: Python's ssl has no half-close; over TLS the container's
        # stdin stays open until it ends by itself.
        if not isinstance(self.sock, ssl.SSLSocket):
            self.sock.shutdown(socket.SHUT_WR)

    def shutdown(self):
        """End the stream both ways; a blocked ``read`` returns ``b""``.

        Safe to call from another thread (the one copying stdin).
        """
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone

    def close(self):
        """Close the connection."""
        self.closed = True
        self.connection.close()
        try:
            self.reader.close()
        except (OSError, ValueError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class PendingAnswer:
    """A request sent now whose answer is read later, in a thread.

    ``Client.wait_later`` uses it: the engine answers the headers of a
    wait as soon as the wait is registered, and the body when the
    container stops.

    Args:
        connection: a connected ``http.client`` connection of its own.
        target: the request target.
        headers: the request headers.
        api_error: turns an error response into the exception to raise.
    """

    def __init__(self, connection, target, headers, api_error):
        import threading
        self.connection = connection
        self.sock = connection.sock
        self._api_error = api_error
        self._answered = threading.Event()
        self._value = None
        self._error = None
        try:
            connection.request("POST", target, headers=headers)
        except OSError as error:
            connection.close()
            raise _read_failure(error) from None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        try:
            response = self.connection.getresponse()
            if response.status >= 400:
                self._error = self._api_error(response)
                return
            self._answered.set()
            raw = response.read()
            self._value = json.loads(raw) if raw.strip() else {}
        except ValueError:
            self._error = StreamError("malformed JSON from the engine")
        except (OSError, http.client.HTTPException) as error:
            self._error = _read_failure(error)
        finally:
            self._answered.set()

    def registered(self, timeout=10):
        """Wait until the engine has taken the request (its headers came).

        Engines older than API 1.30 answer nothing before the end; the
        timeout keeps them from blocking forever.
        """
        self._answered.wait(timeout)

    def result(self):
        """Return the decoded answer, waiting for it as long as it takes.

        Raises:
            APIError, StreamError.
        """
        self._thread.join()
        self.connection.close()
        if self._error is not None:
            raise self._error
        return self._value

    def close(self):
        """Give up on the answer."""
        # The reading thread holds the response's buffer: end its read
        # first, or closing the buffer would wait for the container.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(5)
        self.connection.close()


def container_tty(description):
    """Tell whether an inspected container or exec has a terminal."""
    config = description.get("Config") or description.get(
        "ProcessConfig") or {}
    return bool(config.get("Tty", config.get("tty", False)))


def demultiplex(read, tty=False):
    """Yield ``(stream_number, bytes)`` from a container's output.

    With ``tty`` the output is one raw stream, given as 1.  Otherwise it
    is a sequence of frames, each an 8-byte header ``[stream, 0, 0, 0,
    size (4 bytes, big-endian)]`` and ``size`` bytes: stream 1 is stdout,
    2 stderr, 0 (stdin echoed) goes to stdout, and 3 carries an error.
    A frame's bytes are passed on as they arrive, so memory stays flat
    however large the frame; neighbouring frames of one stream that
    arrive in one read come out together.

    Args:
        read: a function returning the next bytes, ``b""`` at the end.
        tty: whether the container (or exec) has a terminal.

    Raises:
        StreamError: a malformed frame, an error frame, or an end in the
            middle of a frame.
    """
    if tty:
        for chunk in iter(read, b""):
            yield 1, chunk
        return
    frames = _Frames()
    for chunk in iter(read, b""):
        yield from frames.split(chunk)
        if frames.error and not frames.remaining:
            raise StreamError(frames.error.decode("utf-8", "replace").strip())
    if frames.pending or frames.remaining:
        raise StreamError("the engine's stream ended in the middle of a "
                          "frame: connection lost")


class _Frames:
    """The state of ``demultiplex`` between reads: the frame being read
    and the start of a header the next read completes."""

    def __init__(self):
        self.pending = b""
        self.stream, self.remaining = 1, 0
        self.error = b""

    def split(self, chunk):
        """Return the ``(stream, bytes)`` pieces ``chunk`` completes."""
        data = self.pending + chunk if self.pending else chunk
        position, pieces = 0, []
        while True:
            if self.remaining:
                piece = data[position:position + self.remaining]
                if not piece:
                    break
                position += len(piece)
                self.remaining -= len(piece)
                self._add(pieces, piece)
                continue
            if self.error or len(data) - position < 8:
                break
            self._header(data[position:position + 8])
            position += 8
        self.pending = data[position:]
        return [(number, b"".join(parts)) for number, parts in pieces]

    def _add(self, pieces, piece):
        if self.stream == 3:
            self.error += piece
        elif pieces and pieces[-1][0] == self.stream:
            pieces[-1][1].append(piece)
        else:
            pieces.append((self.stream, [piece]))

    def _header(self, header):
        self.stream = header[0] or 1
        self.remaining = int.from_bytes(header[4:8], "big")
        if self.stream > 3 or header[1:4] != b"\0\0\0":
            raise StreamError("malformed stream from the engine: a frame "
                              "header of unknown kind")


_DETACH_NAMES = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(text):
    """Return the bytes of a detach sequence such as ``ctrl-p,ctrl-q``.

    Each comma-separated key is one character or ``ctrl-`` and a letter
    or one of ``@[\\]^_``, as docker reads them.

    Raises:
        ValueError: a key that is neither.
    """
    keys = bytearray()
    for key in text.split(","):
        lower = key.lower()
        if len(key) == 1 and ord(key) < 128:
            keys.append(ord(key))
        elif (len(key) == 6 and lower.startswith("ctrl-")
              and "a" <= lower[5] <= "z"):
            keys.append(ord(lower[5]) - ord("a") + 1)
        elif len(key) == 6 and lower.startswith("ctrl-") and \
                key[5] in _DETACH_NAMES:
            keys.append(_DETACH_NAMES[key[5]])
        else:
            raise ValueError(f"invalid detach keys ({text}): unknown "
                             f"key '{key}'")
    return bytes(keys)


class DetachScanner:
    """Find the detach sequence in what the user types.

    ``feed`` returns the bytes to pass on and whether the sequence is
    complete.  A partial match is held back until the next key tells
    whether it was the sequence or ordinary typing.
    """

    def __init__(self, keys):
        self.keys = keys
        self.held = b""

    def feed(self, data):
        """Return ``(bytes to send, detached)`` for newly typed ``data``."""
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            held = self.held + bytes((byte,))
            if self.keys.startswith(held):
                self.held = held
                if held == self.keys:
                    self.held = b""
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if self.keys[0] == byte:
                self.held = bytes((byte,))
            else:
                out.append(byte)
        return bytes(out), False

    def flush(self):
        """Return what is held back, at the end of input."""
        held, self.held = self.held, b""
        return held


class raw_terminal:
    """Put a terminal in raw mode; restore it on leaving, whatever happens.

    Keys such as Ctrl-C then reach the container as bytes, and nothing is
    echoed twice.  A stream that is not a terminal is left alone.
    """

    def __init__(self, stream):
        self.stream = stream
        self.saved = None

    def __enter__(self):
        import termios
        import tty
        try:
            self.fd = self.stream.fileno()
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        except (AttributeError, OSError, ValueError, termios.error):
            self.saved = None
        return self

    def __exit__(self, *exc_info):
        if self.saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


class signal_handlers:
    """Handle some signals with one function; restore the old handlers.

    Only the main thread may set handlers; elsewhere nothing is changed.
    """

    def __init__(self, names, handler):
        import signal
        self.numbers = [getattr(signal, name) for name in names
                        if hasattr(signal, name)]
        self.handler = handler
        self.saved = {}

    def __enter__(self):
        import signal
        for number in self.numbers:
            try:
                self.saved[number] = signal.signal(number, self.handler)
            except (ValueError, OSError):
                break  # not the main thread
        return self

    def __exit__(self, *exc_info):
        import signal
        for number, handler in self.saved.items():
            signal.signal(number, handler)


def input_reader(stream):
    """Return a function reading what is available from ``stream``.

    A real file is read with ``os.read`` on its descriptor: the thread
    that copies stdin may still be blocked in it when the process ends,
    and a buffered reader's lock held then makes Python abort.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return getattr(stream, "read1", stream.read)
    return lambda size: os.read(fd, size)


def _interrupt(*_):
    """Turn a signal into KeyboardInterrupt, so that cleanup runs."""
    raise KeyboardInterrupt


def start_exit_code(message):
    """Return docker's exit code for a container that failed to start:
    127 for a missing command, 126 for one that cannot run, else 125."""
    if ("executable file not found" in message
            or "no such file or directory" in message
            or "system cannot find the file specified" in message):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def terminal_size(stream):
    """Return ``(rows, columns)`` of the terminal ``stream`` is, or None."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return size.lines, size.columns


# =========================================================================
# References
# =========================================================================

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
                     r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
                     r":[0-9a-fA-F]{32,}")
_HEX_ID = re.compile(r"[a-f0-9]{64}")


class Reference:
    """A parsed image reference: ``domain/path[:tag][@digest]``.

    Attributes:
        domain: the registry, ``docker.io`` for Docker Hub.
        path: the repository path, ``library/busybox`` for ``busybox``.
        tag: the tag, or None.
        digest: the digest (``sha256:...``), or None.
    """

    def __init__(self, domain, path, tag=None, digest=None):
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest

    @property
    def name(self):
        """The repository's full name: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    def __str__(self):
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def __repr__(self):
        return f"Reference({str(self)!r})"

    def __eq__(self, other):
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))

    def familiar(self):
        """Return the short form people type: ``busybox:latest``."""
        text = self.name
        if self.domain == HUB_DOMAIN:
            text = self.path
            if text.startswith("library/") and text.count("/") == 1:
                text = text[len("library/"):]
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def with_tag(self, tag):
        """Return a copy with ``tag`` and no digest."""
        return Reference(self.domain, self.path, tag, None)


def parse_reference(text):
    """Parse an image reference and normalise it as docker does.

    Returns:
        A Reference; Docker Hub names get ``docker.io`` and ``library/``.

    Raises:
        InvalidReference: the text is not a valid reference.
    """
    if not isinstance(text, str) or not text:
        raise InvalidReference("invalid reference format")
    if _HEX_ID.fullmatch(text):
        raise InvalidReference(f"invalid repository name ({text}), cannot "
                               "specify 64-byte hexadecimal strings")
    remainder, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise InvalidReference("invalid reference format")
    if at:
        _check_digest(digest)
    name, tag = split_repository_tag(remainder)
    if tag and not _TAG.fullmatch(tag) or remainder.endswith(":"):
        raise InvalidReference("invalid reference format")
    domain, path = _split_domain(name)
    if path.lower() != path:
        raise InvalidReference("invalid reference format: repository name "
                               f"({path}) must be lowercase")
    if not _DOMAIN.fullmatch(domain) or not _PATH.fullmatch(path):
        raise InvalidReference("invalid reference format")
    if len(domain) + 1 + len(path) > 255:
        raise InvalidReference("invalid reference format: repository name "
                               "must not be more than 255 characters")
    return Reference(domain, path, tag or None, digest or None)


_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def _check_digest(digest):
    """Raise InvalidReference unless ``digest`` is one docker accepts."""
    algorithm, _, encoded = digest.partition(":")
    if algorithm not in _DIGEST_LENGTHS:
        raise InvalidReference("unsupported digest algorithm")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidReference("invalid checksum digest format")
    if len(encoded) != _DIGEST_LENGTHS[algorithm]:
        raise InvalidReference("invalid checksum digest length")


def _split_domain(name):
    """Split a name into registry domain and path, defaulting to Hub."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = HUB_DOMAIN, name
    if domain == "index.docker.io":
        domain = HUB_DOMAIN
    if domain == HUB_DOMAIN and "/" not in path:
        path = "library/" + path
    return domain, path


def split_repository_tag(name):
    """Split ``name`` into repository and tag (or digest after ``@``).

    The tag follows the last ``:`` that has no ``/`` after it, so a
    registry port is not mistaken for a tag.  The tag is ``""`` when
    absent.
    """
    if "@" in name:
        repository, _, digest = name.partition("@")
        return repository, digest
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return name, ""
    return repository, tag


def registry_key(reference_or_host):
    """Return the key credentials are stored under for a registry.

    Docker Hub, however named, is ``https://index.docker.io/v1/``; any
    other registry is its ``host[:port]``.

    Args:
        reference_or_host: a Reference, or a registry address that may
            carry a scheme and a path.
    """
    if isinstance(reference_or_host, Reference):
        host = reference_or_host.domain
    else:
        host = registry_hostname(reference_or_host)
    if not host or host.lower() in HUB_ALIASES:
        return HUB_KEY
    return host


def registry_hostname(address):
    """Return ``host[:port]`` of a registry address written any way."""
    text = (address or "").strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    return text.split("/", 1)[0]


# =========================================================================
# Auth and config
# =========================================================================

def encode_auth(auth):
    """Return the X-Registry-Auth value for a credentials dict.

    It is URL-safe base64, padding kept, of the JSON object; ``{}`` means
    anonymous.  The result never contains ``+`` or ``/``.
    """
    data = json.dumps(auth or {}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode("ascii")


def config_directory(environ=None):
    """Return the folder of config.json: DOCKER_CONFIG or ``~/.docker``."""
    env = os.environ if environ is None else environ
    return env.get("DOCKER_CONFIG") or os.path.join(
        os.path.expanduser("~"), ".docker")


class ConfigFile:
    """The client's ``config.json``: credentials, helpers and settings.

    Load it with ``ConfigFile.load()``.  A file that cannot be parsed
    leaves ``broken`` true and ``warning`` set: reading goes on with
    defaults, but ``save`` refuses, so a bad file is never overwritten.

    Attributes:
        path: the config.json path.
        data: the parsed object; unknown keys are kept on save.
    """

    def __init__(self, path, data=None):
        self.path = path
        self.data = data if data is not None else {}
        self.broken = False
        self.warning = None
        self.legacy = False

    @classmethod
    def load(cls, directory=None):
        """Read config.json from ``directory`` (default: config_directory).

        When there is no config.json, Docker 1.2's ``~/.dockercfg`` is read
        instead.  Never raises for a bad file: see ``broken``.
        """
        directory = directory or config_directory()
        config = cls(os.path.join(directory, "config.json"))
        try:
            with open(config.path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            config._load_legacy()
            return config
        except OSError as error:
            config._mark_broken(f"cannot read {config.path}: {_reason(error)}")
            return config
        try:
            data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            _check_config(data)
        except ValueError as error:
            config._mark_broken(f"{config.path} is not valid: {error}")
            return config
        config.data = data
        return config

    def _mark_broken(self, message):
        self.broken = True
        self.warning = "WARNING: Error loading config file: " + message
        self.data = {}

    def _load_legacy(self):
        """Read ``~/.dockercfg``: JSON keyed by registry, or old lines."""
        path = os.path.join(os.path.expanduser("~"), ".dockercfg")
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return
        try:
            auths = json.loads(text)
            if not isinstance(auths, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            # The oldest form: "auth = <base64>" and "email = <address>".
            fields = dict(line.split("=", 1) for line in text.splitlines()
                          if "=" in line)
            fields = {k.strip(): v.strip() for k, v in fields.items()}
            if "auth" not in fields:
                self.warning = f"WARNING: {path} is not valid: ignored"
                return
            auths = {HUB_KEY: {"auth": fields["auth"]}}
        self.data = {"auths": {key: value for key, value in auths.items()
                               if isinstance(value, dict)}}
        self.legacy = True
        log.debug("read legacy credentials from %s", path)

    # Reading credentials ---------------------------------------------------

    def helper_for(self, key):
        """Return ``(helper name, config key)`` for a registry, or None."""
        helpers = self.data.get("credHelpers") or {}
        hostname = registry_hostname(key) if key != HUB_KEY else key
        for candidate in (key, hostname):
            if helpers.get(candidate):
                return helpers[candidate], "credHelpers"
        if self.data.get("credsStore"):
            return self.data["credsStore"], "credsStore"
        return None

    def resolve_auth(self, registry):
        """Return the credentials to send to ``registry``.

        Args:
            registry: a Reference, registry key or address.

        Returns:
            ``{"username", "password", "serveraddress"}``, or
            ``{"identitytoken", "serveraddress"}``, or ``{}`` when none.

        Raises:
            ConfigError: a credential helper is missing or failed.
        """
        key = registry_key(registry)
        helper = self.helper_for(key)
        if helper:
            log.debug("credentials for %s from docker-credential-%s",
                      key, helper[0])
            return CredentialHelper(*helper).get(key)
        entry = self._stored_entry(key)
        if entry is None:
            log.debug("no stored credentials for %s", key)
            return {}
        log.debug("credentials for %s from %s", key, self.path)
        return auth_from_entry(entry, key)

    def _stored_entry(self, key):
        """Return the ``auths`` entry for a key, matched by hostname."""
        auths = self.data.get("auths") or {}
        if isinstance(auths.get(key), dict):
            return auths[key]
        wanted = registry_key(key)
        for stored, entry in auths.items():
            if registry_key(stored) == wanted and isinstance(entry, dict):
                return entry
        return None

    def all_auths(self):
        """Return ``{key: credentials}`` for every registry configured."""
        keys = set((self.data.get("auths") or {}).keys())
        keys.update((self.data.get("credHelpers") or {}).keys())
        if self.data.get("credsStore"):
            keys.update(CredentialHelper(self.data["credsStore"],
                                         "credsStore").list())
        result = {}
        for key in sorted(keys):
            auth = self.resolve_auth(key)
            if auth:
                result[registry_key(key)] = auth
        return result

    def detach_keys(self):
        """Return the configured detach keys, or None."""
        return self.data.get("detachKeys") or None

    def http_headers(self):
        """Return the extra headers from ``HttpHeaders``."""
        headers = self.data.get("HttpHeaders") or {}
        return {str(k): str(v) for k, v in headers.items()}

    # Writing credentials ---------------------------------------------------

    def store_auth(self, key, username, password=None, identity_token=None):
        """Store credentials for a registry key, by helper or in the file.

        Returns:
            True when they were written to config.json unencrypted.

        Raises:
            ConfigError: the file cannot be written or a helper failed.
        """
        self.check_writable()
        helper = self.helper_for(key)
        if helper:
            secret = identity_token or password or ""
            user = "<token>" if identity_token else username
            CredentialHelper(*helper).store(key, user, secret)
            return False
        saved_password = "" if identity_token else password or ""
        entry = {"auth": base64.b64encode(
            f"{username}:{saved_password}".encode()).decode("ascii")}
        if identity_token:
            entry["identitytoken"] = identity_token

        def change(data):
            auths = data.setdefault("auths", {})
            for stored in [k for k in auths if registry_key(k) == key]:
                del auths[stored]
            auths[key] = entry
        self.update(change)
        return True

    def erase_auth(self, key):
        """Remove stored credentials for a registry key.

        Returns:
            True when something was removed.

        Raises:
            ConfigError: the file cannot be written or a helper failed.
        """
        self.check_writable()
        found = self._stored_entry(key) is not None
        helper = self.helper_for(key)
        if helper:
            found = CredentialHelper(*helper).erase(key) or found
        if self._stored_entry(key) is None:
            return found

        def change(data):
            auths = data.get("auths") or {}
            for stored in [k for k in auths if registry_key(k) == key]:
                del auths[stored]
        self.update(change)
        return True

    def update(self, change):
        """Apply ``change(data)`` to the file under a lock and save it.

        The file is read again under the lock, so that another process's
        save in between is kept rather than overwritten.

        Raises:
            ConfigError: the file is broken or cannot be written.
        """
        self.check_writable()
        folder = os.path.dirname(self.path)
        _make_private_folder(folder)
        with _folder_lock(folder):
            fresh = ConfigFile.load(folder)
            if fresh.broken:
                self.broken, self.warning = True, fresh.warning
                self.check_writable()
            if not fresh.legacy:
                self.data = fresh.data
            change(self.data)
            self.save()
            self.legacy = False

    def check_writable(self):
        """Refuse to go on when the file could not be read.

        Raises:
            ConfigError: saying why, so the user can fix the file.
        """
        if self.broken:
            cause = self.warning.split(": ", 2)[-1]
            raise ConfigError(f"refusing to overwrite {self.path}: it could "
                              f"not be read ({cause}); fix or remove it first")

    def save(self):
        """Write the file atomically, mode 0600, keeping unknown keys.

        Raises:
            ConfigError: the file is broken or cannot be written.
        """
        import tempfile
        self.check_writable()
        target = os.path.realpath(self.path)
        folder = os.path.dirname(target)
        _make_private_folder(folder)
        text = json.dumps(self.data, indent="\t") + "\n"
        try:
            handle, temporary = tempfile.mkstemp(prefix=".config.json.",
                                                 dir=folder)
        except OSError as error:
            raise ConfigError(f"cannot save {self.path}: "
                              f"{_reason(error)}") from None
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(text.encode("utf-8"))
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, target)
        except OSError as error:
            _remove_quietly(temporary)
            raise ConfigError(f"cannot save {self.path}: "
                              f"{_reason(error)}") from None
        _sync_folder(folder)


def _check_config(data):
    """Raise ValueError for sections of the wrong JSON type."""
    for section in ("auths", "credHelpers", "HttpHeaders"):
        if section in data and not isinstance(data[section], dict):
            raise ValueError(f"{section!r} must be an object")
    for entry in (data.get("auths") or {}).values():
        if not isinstance(entry, dict):
            raise ValueError("every entry of 'auths' must be an object")
    if "credsStore" in data and not isinstance(data["credsStore"], str):
        raise ValueError("'credsStore' must be a string")


def auth_from_entry(entry, key):
    """Return credentials from a config.json ``auths`` entry."""
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]),
                                       validate=False).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"invalid auth entry for {key} "
                              "in config.json") from None
        username, colon, password = decoded.partition(":")
        if not colon:
            raise ConfigError(f"invalid auth entry for {key} in config.json: "
                              "no colon between username and password")
    if entry.get("identitytoken"):
        return {"identitytoken": str(entry["identitytoken"]),
                "serveraddress": key}
    if not username and not password:
        return {}
    return {"username": username, "password": password,
            "serveraddress": key}


def _make_private_folder(folder):
    """Create the config folder, mode 0700, when it does not exist."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create {folder}: "
                          f"{_reason(error)}") from None


class _folder_lock:
    """An exclusive ``flock`` on a folder, held around read-modify-write."""

    def __init__(self, folder):
        self.folder = folder
        self.fd = None

    def __enter__(self):
        import fcntl
        try:
            self.fd = os.open(self.folder, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as error:
            if self.fd is not None:
                os.close(self.fd)
            raise ConfigError(f"cannot lock {self.folder}: "
                              f"{_reason(error)}") from None
        return self

    def __exit__(self, *exc_info):
        os.close(self.fd)  # closing the descriptor releases the lock


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_folder(folder):
    """Make a rename in ``folder`` durable; best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class CredentialHelper:
    """A ``docker-credential-<name>`` program, spoken to over stdin/stdout.

    Args:
        name: the helper's name, as in ``credsStore``.
        source: the config key that named it, for error messages.
    """

    def __init__(self, name, source="credsStore"):
        self.name = name
        self.source = source
        self.program = "docker-credential-" + name

    def _run(self, action, data):
        import subprocess
        try:
            done = subprocess.run([self.program, action], input=data,
                                  capture_output=True,
                                  timeout=120)
        except FileNotFoundError:
            raise ConfigError(
                f"{self.program}: executable file not found in $PATH "
                f"(named by {self.source!r} in config.json)") from None
        except (OSError, subprocess.SubprocessError) as error:
            raise ConfigError(f"cannot run {self.program}: "
                              f"{_reason(error)}") from None
        return done.returncode, done.stdout.decode("utf-8", "replace")

    def get(self, key):
        """Return the credentials the helper holds for ``key`` (or {})."""
        code, out = self._run("get", key.encode())
        if code != 0:
            if "credentials not found" in out.lower():
                return {}
            raise ConfigError("error getting credentials from "
                              f"{self.program}: {_first_line(out)}")
        try:
            answer = json.loads(out)
            username = str(answer.get("Username") or "")
            secret = str(answer.get("Secret") or "")
        except (ValueError, AttributeError):
            raise ConfigError(f"error getting credentials from {self.program}"
                              ": its answer is not JSON") from None
        if not username and not secret:
            return {}
        if username == "<token>":
            return {"identitytoken": secret, "serveraddress": key}
        return {"username": username, "password": secret,
                "serveraddress": key}

    def store(self, key, username, secret):
        """Ask the helper to keep credentials for ``key``."""
        data = json.dumps({"ServerURL": key, "Username": username,
                           "Secret": secret}).encode()
        code, out = self._run("store", data)
        if code != 0:
            raise ConfigError("error storing credentials with "
                              f"{self.program}: {_first_line(out)}")

    def erase(self, key):
        """Ask the helper to forget ``key``; return True if it knew it."""
        code, out = self._run("erase", key.encode())
        if code != 0:
            if "credentials not found" in out.lower():
                return False
            raise ConfigError("error erasing credentials with "
                              f"{self.program}: {_first_line(out)}")
        return True

    def list(self):
        """Return the registry keys the helper holds credentials for."""
        code, out = self._run("list", b"")
        if code != 0:
            raise ConfigError("error listing credentials with "
                              f"{self.program}: {_first_line(out)}")
        try:
            answer = json.loads(out or "{}")
        except ValueError:
            raise ConfigError(f"error listing credentials with {self.program}"
                              ": its answer is not JSON") from None
        return list(answer) if isinstance(answer, dict) else []


def _first_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0].strip() if lines else "no output"


# =========================================================================
# Container options
# =========================================================================

_GO_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6,
                      "\u03bcs": 1e-6, "ms": 1e-3, "s": 1, "m": 60,
                      "h": 3600}
_ULIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock",
                 "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio",
                 "rttime", "sigpending", "stack")


def parse_go_duration(text):
    """Return the seconds in a Go duration such as ``1m30s`` or ``250ms``.

    Raises:
        ValueError: worded as Go's time.ParseDuration.
    """
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    parts = re.findall(r"(\d*\.?\d*)([^\d.]*)", body)
    total = 0.0
    for number, unit in parts:
        if not number and not unit:
            continue
        if not number or number == ".":
            raise ValueError(f'time: invalid duration "{text}"')
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _GO_DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration '
                             f'"{text}"')
        total += float(number) * _GO_DURATION_UNITS[unit]
    if not body or not any(number for number, _ in parts):
        raise ValueError(f'time: invalid duration "{text}"')
    return -total if text.startswith("-") else total


def parse_timestamp(text, now=None):
    """Return the Unix time ``--since``/``--until`` mean, as text.

    Takes a Go duration before now (``10m``), a Unix time (``1700000000``
    or with a fraction), or an RFC 3339 date or time; a time without a
    zone is local, as docker reads it.

    Raises:
        ValueError: none of those.
    """
    import datetime
    now = time.time() if now is None else now
    try:
        return f"{now - parse_go_duration(text):.9f}"
    except ValueError:
        pass
    if re.fullmatch(r"\d+(\.\d{1,9})?", text):
        return text
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)(?:T(\d\d:\d\d(?::\d\d)?)"
                         r"(\.\d+)?)?(Z|[+-]\d\d:\d\d)?", text)
    if not match:
        raise ValueError(f"failed to parse time {text!r}: expected a "
                         "duration, a Unix time or an RFC 3339 time")
    day, clock, fraction, zone = match.groups()
    clock = clock or "00:00:00"
    if len(clock) == 5:
        clock += ":00"
    moment = datetime.datetime.strptime(f"{day}T{clock}",
                                        "%Y-%m-%dT%H:%M:%S")
    if zone is None:
        seconds = time.mktime(moment.timetuple())
    else:
        seconds = parse_rfc3339(f"{day}T{clock}{zone}")
    return f"{seconds + float(fraction or 0):.9f}"


def parse_port_range(text):
    """Return ``(first, last)`` of ``80`` or ``8000-8010``.

    Raises:
        ValueError: not a port or a range of ports.
    """
    first, dash, last = text.partition("-")
    if not re.fullmatch(r"\d{1,5}", first) or (
            dash and not re.fullmatch(r"\d{1,5}", last)):
        raise ValueError(text)
    first, last = int(first), int(last) if dash else int(first)
    if first > 65535 or last > 65535 or last < first:
        raise ValueError(text)
    return first, last


def parse_port_spec(text):
    """Return the ``(container port, binding)`` pairs ``-p`` asks for.

    ``[ip:][host port:]container port[/protocol]``, ports or ranges, as
    docker reads them; ``binding`` is ``{"HostIp", "HostPort"}``.

    Raises:
        ValueError: with docker's wording (``invalid hostPort: x``).
    """
    address, host, container, protocol = _split_port_spec(text)
    try:
        first, last = parse_port_range(container)
    except ValueError:
        raise ValueError(f"invalid containerPort: {container}") from None
    host_first = host_last = None
    if host:
        try:
            host_first, host_last = parse_port_range(host)
        except ValueError:
            raise ValueError(f"invalid hostPort: {host}") from None
        if last - first != host_last - host_first and last != first:
            raise ValueError("invalid ranges specified for container and "
                             f"host Ports: {container} and {host}")
    if protocol not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid proto: {protocol}")
    pairs = []
    for offset in range(last - first + 1):
        host_port = ""
        if host:
            host_port = str(host_first + offset)
            if first == last and host_first != host_last:
                host_port += f"-{host_last}"
        pairs.append((f"{first + offset}/{protocol}",
                      {"HostIp": address, "HostPort": host_port}))
    return pairs


def _split_port_spec(text):
    """Return the address, host port, container port and protocol texts.

    Raises:
        ValueError: a bad address or no container port.
    """
    import ipaddress
    parts = text.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) > 1 else ""
    address = ":".join(parts[:-2])
    container, _, protocol = container.partition("/")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    if address:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"invalid IP address: {address}") from None
    if not container:
        raise ValueError(f"no port specified: {text}<empty>")
    return address, host, container, protocol.lower() or "tcp"


def parse_env_file(path):
    """Return the ``NAME=value`` lines of an ``--env-file``, as docker
    reads them: ``#`` comments and blank lines skipped, a bare ``NAME``
    taken from our environment (dropped when unset), values untouched.

    Raises:
        ValueError: an unreadable file or a malformed line.
    """
    try:
        with open(path, "rb") as source:
            data = source.read()
    except OSError as error:
        raise ValueError(f"open {path}: {_reason(error).lower()}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"env file {path} contains invalid utf8 "
                         "bytes") from None
    lines = []
    for line in text.lstrip("\ufeff").splitlines():
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        name, has_value, value = line.partition("=")
        name = name.lstrip(" \t")
        if not name:
            raise ValueError("poorly formatted environment: no variable "
                             f"name on line '{line}'")
        if re.search(r"\s", name.rstrip() if not has_value else name):
            raise ValueError("poorly formatted environment: variable "
                             f"'{name}' contains whitespaces")
        if has_value:
            lines.append(f"{name}={value}")
        elif name.strip() in os.environ:
            lines.append(f"{name.strip()}={os.environ[name.strip()]}")
    return lines


def parse_env(text):
    """Return an ``-e`` value; a bare ``NAME`` takes our value if set.

    Raises:
        ValueError: an empty name.
    """
    name, has_value, _ = text.partition("=")
    if not name:
        raise ValueError(f"invalid environment variable: {text}")
    if not has_value and name in os.environ:
        return f"{name}={os.environ[name]}"
    return text


# --mount keys: where each goes in the engine's mount, and how its value
# is read.  Labels and driver options are "name=value" maps.
_MOUNT_FIELDS = {
    "type": ("Type",), "source": ("Source",), "src": ("Source",),
    "target": ("Target",), "dst": ("Target",), "destination": ("Target",),
    "readonly": ("ReadOnly",), "ro": ("ReadOnly",),
    "consistency": ("Consistency",),
    "bind-propagation": ("BindOptions", "Propagation"),
    "bind-nonrecursive": ("BindOptions", "NonRecursive"),
    "volume-nocopy": ("VolumeOptions", "NoCopy"),
    "volume-driver": ("VolumeOptions", "DriverConfig", "Name"),
    "volume-label": ("VolumeOptions", "Labels"),
    "volume-opt": ("VolumeOptions", "DriverConfig", "Options"),
    "tmpfs-size": ("TmpfsOptions", "SizeBytes"),
    "tmpfs-mode": ("TmpfsOptions", "Mode"),
}
_MOUNT_FLAGS = ("readonly", "ro", "volume-nocopy", "bind-nonrecursive")
_MOUNT_VALUES = {"tmpfs-size": parse_bytes,
                 "tmpfs-mode": lambda text: int(text, 8)}


def parse_mount(text):
    """Return the engine's mount for a ``--mount`` value.

    The value is comma-separated ``key=value`` fields (CSV quoting
    allowed): ``type`` (``volume`` by default, ``bind``, ``tmpfs``),
    ``source``, ``target``, ``readonly`` and the type's own options.

    Raises:
        ValueError: with docker's wording (``target is required``).
    """
    import csv
    mount = {"Type": "volume"}
    for field in next(csv.reader([text])) if text else []:
        key, has_value, value = field.partition("=")
        key = key.strip().lower()
        if key not in _MOUNT_FIELDS:
            if not has_value:
                raise ValueError(f"invalid field '{field}' must be a "
                                 "key=value pair")
            raise ValueError(f"unexpected key '{key}' in '{field}'")
        value = _mount_value(key, value, has_value)
        *path, last = _MOUNT_FIELDS[key]
        place = mount
        for name in path:
            place = place.setdefault(name, {})
        if key in ("volume-label", "volume-opt"):
            place = place.setdefault(last, {})
            last, _, value = value.partition("=")
        place[last] = value
    if not mount.get("Target"):
        raise ValueError("target is required")
    for kind in ("bind", "volume", "tmpfs"):
        if kind.capitalize() + "Options" in mount and mount["Type"] != kind:
            raise ValueError(f"cannot mix '{kind}-*' options with mount "
                             f"type '{mount['Type']}'")
    return mount


def _mount_value(key, text, has_value):
    """Return a ``--mount`` field's value, converted by its key.

    Raises:
        ValueError: a value the key does not take.
    """
    try:
        if key in _MOUNT_FLAGS:
            return parse_go_bool(text) if has_value else True
        if has_value:
            return _MOUNT_VALUES.get(key, str)(text)
    except ValueError:
        pass
    raise ValueError(f"invalid value for {key}: {text}")


def parse_ulimit(text):
    """Return ``{"Name", "Soft", "Hard"}`` for ``nofile=1024[:2048]``.

    Raises:
        ValueError: with docker's wording.
    """
    name, has_value, limits = text.partition("=")
    if not has_value:
        raise ValueError(f"invalid ulimit argument: {text}")
    if name not in _ULIMIT_NAMES:
        raise ValueError(f"invalid ulimit type: {name}")
    soft_text, has_hard, hard_text = limits.partition(":")
    if ":" in hard_text:
        raise ValueError(f"too many limit value arguments - {limits}, can "
                         "only have up to two, `soft[:hard]`")
    soft = parse_go_int(soft_text)
    hard = parse_go_int(hard_text) if has_hard else soft
    if soft > hard:
        raise ValueError("ulimit soft limit must be less than or equal to "
                         f"hard limit: {soft:d} > {hard:d}")
    return {"Name": name, "Soft": soft, "Hard": hard}


def parse_extra_host(text):
    """Return the engine's ``host:address`` for ``--add-host``.

    Takes ``host:address`` or ``host=address``; the address may be in
    brackets, or ``host-gateway``.

    Raises:
        ValueError: with docker's wording.
    """
    import ipaddress
    host, has_value, address = text.partition("=")
    if not has_value:
        host, has_value, address = text.partition(":")
    if not has_value or not host or ":" in host:
        raise ValueError(f'bad format for add-host: "{text}"')
    if address != "host-gateway":
        if len(address) > 2 and address[0] == "[" and address[-1] == "]":
            address = address[1:-1]
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f'invalid IP address in add-host: '
                             f'"{address}"') from None
    return f"{host}:{address}"


def parse_restart(text):
    """Return the engine's RestartPolicy for ``--restart``.

    Raises:
        ValueError: a retry count that is not a number.
    """
    name, has_count, count = text.partition(":")
    policy = {"Name": name}
    if has_count:
        if not re.fullmatch(r"-?\d+", count):
            raise ValueError("invalid restart policy format: maximum retry "
                             "count must be an integer")
        policy["MaximumRetryCount"] = int(count)
    return policy


def parse_volume(text):
    """Return ``("bind", spec)`` or ``("volume", path)`` for ``-v``.

    ``SOURCE:TARGET[:OPTIONS]`` binds (a source starting with ``.`` is
    made absolute, as docker does); a lone path is an anonymous volume.
    The engine checks the rest.
    """
    source, colon, rest = text.partition(":")
    if not colon:
        return "volume", text
    if source.startswith("."):
        source = os.path.abspath(source)
    return "bind", f"{source}:{rest}"


def split_key_value(text):
    """Return ``(key, value)`` of ``key=value``; a bare key has ``""``."""
    key, _, value = text.partition("=")
    return key, value


def exec_environment(env, env_file):
    """Return the environment of ``exec``'s ``-e`` and ``--env-file``.

    Raises:
        FlagError: a file that cannot be read or a malformed variable.
    """
    environment = []
    for path in env_file.value:
        try:
            environment += parse_env_file(path)
        except ValueError as error:
            raise FlagError(str(error)) from None
    for text in env.value:
        try:
            environment.append(parse_env(text))
        except ValueError as error:
            raise FlagError(f'invalid argument "{text}" for '
                            f'"{env.display()}" flag: {error}') from None
    return environment


def write_cidfile(path, container):
    """Write a container's ID to ``--cidfile``'s new file.

    Raises:
        DockerError: the file cannot be written.
    """
    try:
        with open(path, "x", encoding="utf-8") as output:
            output.write(container)
    except OSError as error:
        raise DockerError(f"failed to write the container ID file {path}: "
                          f"{_reason(error)}") from None


class ContainerOptions:
    """The flags of ``create`` and ``run``, and the config they make.

    Declaring the flags on a FlagSet is the constructor's work; after
    parsing, ``config(image, command)`` returns the engine's create body.

    Args:
        flags: the command's FlagSet.
        run: declare ``run``'s own flags too (``-d``, ``--rm`` ...).
    """

    def __init__(self, flags, run=False):
        self.flags = flags
        add = self._add
        add("list", "-add-host", "Add a custom host-to-IP mapping "
            "(host:ip)")
        add("list", "a", "-attach", "Attach to STDIN, STDOUT or "
            "STDERR")
        add("list", "-cap-add", "Add Linux capabilities")
        add("list", "-cap-drop", "Drop Linux capabilities")
        add("string", "-cidfile", "Write the container ID to the file")
        add("string", "-cpus", "Number of CPUs")
        add("string", "-entrypoint", "Overwrite the default ENTRYPOINT of "
            "the image")
        add("list", "e", "-env", "Set environment variables")
        add("list", "-env-file", "Read in a file of environment "
            "variables")
        add("list", "-expose", "Expose a port or a range of ports")
        add("string", "-health-cmd", "Command to run to check health")
        add("string", "-health-interval", "Time between running the check "
            "(ms|s|m|h) (default 0s)")
        add("int", "-health-retries", "Consecutive failures needed to "
            "report unhealthy")
        add("string", "-health-start-period", "Start period for the "
            "container to initialize before starting health-retries "
            "countdown (ms|s|m|h) (default 0s)")
        add("string", "-health-timeout", "Maximum time to allow one check "
            "to run (ms|s|m|h) (default 0s)")
        add("string", "h", "-hostname", "Container host name")
        add("bool", "i", "-interactive", "Keep STDIN open even if not "
            "attached")
        add("bool", "-init", "Run an init inside the container that "
            "forwards signals and reaps processes")
        add("list", "l", "-label", "Set meta data on a container")
        add("string", "-log-driver", "Logging driver for the container")
        add("list", "-log-opt", "Log driver options")
        add("string", "m", "-memory", "Memory limit")
        add("list", "-mount", "Attach a filesystem mount to the "
            "container")
        add("string", "-name", "Assign a name to the container")
        add("string", "-network", "Connect a container to a network")
        add("bool", "-no-healthcheck", "Disable any container-specified "
            "HEALTHCHECK")
        add("string", "-platform", "Set platform if server is "
            "multi-platform capable",
            default=os.environ.get("DOCKER_DEFAULT_PLATFORM", ""))
        add("bool", "-privileged", "Give extended privileges to this "
            "container")
        add("list", "p", "-publish", "Publish a container's port(s) "
            "to the host")
        add("bool", "P", "-publish-all", "Publish all exposed ports to "
            "random ports")
        add("string", "-pull", 'Pull image before running ("always", '
            '"missing", "never")', default="missing")
        add("bool", "-read-only", "Mount the container's root filesystem "
            "as read only")
        add("string", "-restart", "Restart policy to apply when a "
            "container exits", default="no")
        add("string", "-stop-signal", "Signal to stop the container")
        add("int", "-stop-timeout", "Timeout (in seconds) to stop a "
            "container")
        add("bool", "t", "-tty", "Allocate a pseudo-TTY")
        add("list", "-tmpfs", "Mount a tmpfs directory")
        add("list", "-ulimit", "Ulimit options")
        add("string", "u", "-user", "Username or UID (format: "
            "<name|uid>[:<group|gid>])")
        add("list", "v", "-volume", "Bind mount a volume")
        add("string", "w", "-workdir", "Working directory inside the "
            "container")
        if run:
            add("bool", "d", "-detach", "Run container in background and "
                "print container ID")
            add("string", "-detach-keys", "Override the key sequence for "
                "detaching a container")
            add("bool", "-rm", "Automatically remove the container and its "
                "associated anonymous volumes when it exits")
            add("bool", "-sig-proxy", "Proxy received signals to the "
                "process", default=True)

    def _add(self, kind, *names_and_usage, default=None):
        """Declare a flag; keep it as an attribute named after it."""
        *names, usage = names_and_usage
        if kind == "list":
            flag = self.flags.list(names, usage)
        else:
            if default is None:
                default = {"bool": False, "int": 0, "string": ""}[kind]
            flag = getattr(self.flags, kind)(names, default, usage)
        setattr(self, flag.names[-1].lstrip("-").replace("-", "_"), flag)

    def _invalid(self, flag, text, why):
        """Return the FlagError docker gives for a bad flag value."""
        return FlagError(f'invalid argument "{text}" for '
                         f'"{flag.display()}" flag: {why}')

    def _each(self, flag, parse):
        """Return ``parse`` applied to each value of a list flag."""
        values = []
        for text in flag.value:
            try:
                values.append(parse(text))
            except ValueError as error:
                raise self._invalid(flag, text, error) from None
        return values

    def _duration(self, flag):
        if not flag.value:
            return 0
        try:
            return int(parse_go_duration(flag.value) * 1e9)
        except ValueError as error:
            raise self._invalid(flag, flag.value, error) from None

    def pull_policy(self):
        """Return ``--pull``: ``always``, ``missing`` or ``never``.

        Raises:
            FlagError: another word.
        """
        pull = self.pull.value
        if pull not in ("always", "missing", "never"):
            raise FlagError(f"invalid pull option: '{pull}': must be one "
                            'of "always", "missing" or "never"')
        return pull

    def attach_streams(self):
        """Return the set of streams ``-a`` names (lower case).

        Raises:
            FlagError: a name other than stdin, stdout or stderr.
        """
        streams = set()
        for text in self.attach.value:
            if text.lower() not in ("stdin", "stdout", "stderr"):
                raise self._invalid(self.attach, text, "valid streams are "
                                    "STDIN, STDOUT and STDERR")
            streams.add(text.lower())
        return streams

    def config(self, image, command, detach=False):
        """Return the engine's create body for ``image`` and ``command``.

        Raises:
            FlagError: a value docker would refuse, worded as docker does.
        """
        streams = self.attach_streams()
        if self.interactive.value:
            streams.add("stdin")
        if not self.attach.value:
            streams |= {"stdout", "stderr"}
        if detach:
            streams = set()
        config = {
            "Image": image,
            "Cmd": list(command) or None,
            "Hostname": self.hostname.value,
            "User": self.user.value,
            "WorkingDir": self.workdir.value,
            "Env": self._environment(),
            "Labels": dict(split_key_value(text)
                           for text in self.label.value),
            "Tty": self.tty.value,
            "OpenStdin": self.interactive.value,
            "AttachStdin": "stdin" in streams,
            "AttachStdout": "stdout" in streams,
            "AttachStderr": "stderr" in streams,
            "StdinOnce": self.interactive.value and "stdin" in streams,
            "ExposedPorts": {},
            "Volumes": {},
        }
        if self.entrypoint.changed:
            config["Entrypoint"] = [self.entrypoint.value]
        if self.stop_signal.value:
            config["StopSignal"] = self.stop_signal.value
        if self.stop_timeout.changed:
            config["StopTimeout"] = self.stop_timeout.value
        health = self._healthcheck()
        if health:
            config["Healthcheck"] = health
        config["HostConfig"] = self._host_config(config)
        return config

    def _environment(self):
        environment = []
        for path in self.env_file.value:
            try:
                environment += parse_env_file(path)
            except ValueError as error:
                raise FlagError(str(error)) from None
        return environment + self._each(self.env, parse_env)

    def _healthcheck(self):
        health = {}
        options = (self.health_cmd, self.health_interval,
                   self.health_timeout, self.health_start_period,
                   self.health_retries)
        if self.no_healthcheck.value:
            if any(flag.changed for flag in options):
                raise FlagError("--no-healthcheck conflicts with --health-* "
                                "options")
            return {"Test": ["NONE"]}
        if self.health_cmd.value:
            health["Test"] = ["CMD-SHELL", self.health_cmd.value]
        for key, flag in (("Interval", self.health_interval),
                          ("Timeout", self.health_timeout),
                          ("StartPeriod", self.health_start_period)):
            if flag.value:
                health[key] = self._duration(flag)
        if self.health_retries.changed:
            health["Retries"] = self.health_retries.value
        return health

    def _host_config(self, config):
        host = {
            "Binds": [], "Tmpfs": {}, "PortBindings": {},
            "NetworkMode": self.network.value or "default",
            "PublishAllPorts": self.publish_all.value,
            "Privileged": self.privileged.value,
            "ReadonlyRootfs": self.read_only.value,
            "CapAdd": self.cap_add.value or None,
            "CapDrop": self.cap_drop.value or None,
            "ExtraHosts": self._each(self.add_host, parse_extra_host) or None,
            "Ulimits": self._each(self.ulimit, parse_ulimit) or None,
            "Mounts": self._each(self.mount, parse_mount) or None,
            "RestartPolicy": self._restart(),
            "AutoRemove": bool(getattr(self, "rm", None) and self.rm.value),
            "LogConfig": {"Type": self.log_driver.value, "Config": dict(
                split_key_value(text) for text in self.log_opt.value)},
        }
        if self.init.value:
            host["Init"] = True
        if self.memory.value:
            try:
                host["Memory"] = parse_bytes(self.memory.value)
            except ValueError as error:
                raise self._invalid(self.memory, self.memory.value,
                                    error) from None
        if self.cpus.value:
            host["NanoCpus"] = self._nano_cpus()
        self._add_volumes(config, host)
        self._add_ports(config, host)
        return host

    def _add_volumes(self, config, host):
        """Add ``-v`` and ``--tmpfs`` to the config and host config."""
        for text in self.volume.value:
            kind, spec = parse_volume(text)
            if kind == "bind":
                host["Binds"].append(spec)
            else:
                config["Volumes"][spec] = {}
        for text in self.tmpfs.value:
            path, _, options = text.partition(":")
            host["Tmpfs"][path] = options

    def _add_ports(self, config, host):
        """Add ``--expose`` and ``-p`` to the config and host config."""
        for text in self.expose.value:
            port, _, protocol = text.partition("/")
            try:
                first, last = parse_port_range(port)
            except ValueError:
                raise FlagError(f"invalid range format for --expose: "
                                f"{text}") from None
            for number in range(first, last + 1):
                config["ExposedPorts"][f"{number}/{protocol or 'tcp'}"] = {}
        for text in self.publish.value:
            try:
                pairs = parse_port_spec(text)
            except ValueError as error:
                raise FlagError(str(error)) from None
            for port, binding in pairs:
                config["ExposedPorts"][port] = {}
                host["PortBindings"].setdefault(port, []).append(binding)

    def _restart(self):
        try:
            policy = parse_restart(self.restart.value)
        except ValueError as error:
            raise FlagError(str(error)) from None
        removing = getattr(self, "rm", None) and self.rm.value
        if removing and policy["Name"] not in ("", "no"):
            raise FlagError("conflicting options: cannot specify both "
                            "--restart and --rm")
        return policy

    def _nano_cpus(self):
        text = self.cpus.value
        try:
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(text)
        except ValueError:
            raise self._invalid(self.cpus, text, f"failed to parse {text} "
                                "as a rational number") from None
        return int(round(value * 1e9))


# =========================================================================
# DockerCli
# =========================================================================

# The commands in help order, with their one-line summaries.
COMMANDS = (
    ("attach", "Attach local standard input, output, and error streams to "
     "a running container"),
    ("create", "Create a new container"),
    ("exec", "Execute a command in a running container"),
    ("images", "List images"),
    ("info", "Display system-wide information"),
    ("inspect", "Return low-level information on Docker objects"),
    ("login", "Log in to a registry"),
    ("logout", "Log out from a registry"),
    ("logs", "Fetch the logs of a container"),
    ("ps", "List containers"),
    ("pull", "Download an image from a registry"),
    ("rm", "Remove one or more containers"),
    ("rmi", "Remove one or more images"),
    ("run", "Create and run a new container from an image"),
    ("start", "Start one or more stopped containers"),
    ("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    ("version", "Show the Docker version information"),
    ("wait", "Block until one or more containers stop, then print their "
     "exit codes"),
)

# Docker's grouped forms: "image ls" runs "images", and so on.
GROUPS = {
    "image": ("Manage images", {
        "ls": "images", "list": "images", "pull": "pull", "rm": "rmi",
        "remove": "rmi", "tag": "tag", "inspect": "image_inspect"}),
    "container": ("Manage containers", {
        "ls": "ps", "list": "ps", "ps": "ps",
        "inspect": "container_inspect", "attach": "attach",
        "create": "create", "exec": "exec", "logs": "logs", "rm": "rm",
        "remove": "rm", "run": "run", "start": "start", "wait": "wait"}),
    "system": ("Manage Docker", {"info": "info"}),
}

# Engine messages that mean a registry wants (other) credentials.
_AUTH_FAILURES = ("no basic auth credentials", "unauthorized",
                  "authentication required", "pull access denied",
                  "access to the requested resource is not authorized",
                  "incorrect username or password")


def is_auth_failure(error):
    """Tell whether an engine error means the registry wants a login."""
    if isinstance(error, APIError) and error.status == 401:
        return True
    text = error.message.lower()
    return any(phrase in text for phrase in _AUTH_FAILURES)


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class DockerCli:
    """The command line: commands, their flags, and what they print.

    Args:
        client: a Client (None: one from the environment, made when first
            needed).
        stdin, stdout, stderr: binary streams (default: the process's).
        config: a ConfigFile (None: loaded from the default place when
            first needed).
        prog: the program name used in messages.
    """

    def __init__(self, client=None, stdin=None, stdout=None, stderr=None,
                 config=None, prog="pydocker"):
        self._client = client
        self.stdin = stdin if stdin is not None else sys.stdin.buffer
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        self.stderr = stderr if stderr is not None else sys.stderr.buffer
        self._config = config
        self.prog = prog
        self.stdin_tty = _isatty(self.stdin)
        self.stdout_tty = _isatty(self.stdout)

    @property
    def client(self):
        """The API client, made from the environment on first use."""
        if self._client is None:
            self._client = Client.from_env()
            self._client.headers.update(self.config.http_headers())
        return self._client

    @property
    def config(self):
        """The ConfigFile, loaded on first use (warning once if broken)."""
        if self._config is None:
            self._config = ConfigFile.load()
            if self._config.warning:
                self.warn(self._config.warning)
        return self._config

    # Output ----------------------------------------------------------------

    def out(self, text="", end="\n"):
        """Write text and a newline to stdout."""
        self.stdout.write((text + end).encode("utf-8", "replace"))
        self.stdout.flush()

    def warn(self, text):
        """Write one line to stderr."""
        self.stderr.write((text + "\n").encode("utf-8", "replace"))
        self.stderr.flush()

    # Dispatch --------------------------------------------------------------

    def cmd(self, name, *args):
        """Run the command ``name`` with ``args``; return its exit code.

        Every error is printed here as one line (and a hint line where one
        helps); nothing is raised.
        """
        try:
            return self._run_command(name, args)
        except HelpRequested as request:
            self.stdout.write(request.usage.encode("utf-8", "replace"))
            return 0
        except FlagError as error:
            self.warn(str(error))
            self.warn("See '{} --help'.".format(getattr(
                error, "command", f"{self.prog} {name}")))
            return error.exit_code
        except DockerError as error:
            self.warn(str(error))
            if error.hint:
                self.warn(error.hint)
            return error.exit_code
        except KeyboardInterrupt:
            if self._client is not None:
                self._client.close()
            return 130
        except BrokenPipeError:
            return _quiet_broken_pipe()
        except Exception as error:  # noqa: BLE001 - no traceback for users
            log.debug("unexpected error", exc_info=True)
            self.warn(f"error: {type(error).__name__}: {error}")
            return 1
        finally:
            if self._client is not None and name != "help":
                self._client.close()

    def _run_command(self, name, args):
        """Run one command, or print the global help if it is unknown."""
        method = self.find_command(name)
        if method is None:
            self.warn(f"Error: Command not found: {name}")
            self.stderr.write(self.help_text().encode())
            return 1
        return method(*args) or 0

    def find_command(self, name):
        """Return the bound ``cmd_<name>`` method, or None.

        Only plain lower-case words are looked up, so user input can never
        reach any other attribute.
        """
        name = (name or "").lower()
        if not re.fullmatch(r"[a-z][a-z0-9]*", name):
            return None
        return getattr(self, "cmd_" + name, None)

    def help_text(self):
        """Return the global help: usage, commands and options."""
        lines = ["", f"Usage:  {self.prog} [OPTIONS] COMMAND", "",
                 "A self-sufficient runtime for containers, as a client in "
                 "one Python file", "", "Management Commands:"]
        for group, (summary, _) in sorted(GROUPS.items()):
            lines.append(f"  {group:<10} {summary}")
        lines += ["", "Commands:"]
        lines += [f"  {name:<10} {summary}" for name, summary in COMMANDS]
        lines += ["", "Global Options:"]
        lines += global_flags().usage().split("Options:\n", 1)[1].splitlines()
        lines += ["", f"Run '{self.prog} COMMAND --help' for more "
                  "information on a command."]
        return "\n".join(lines) + "\n"

    def flags(self, name, signature, description):
        """Return a new FlagSet for the command ``name``."""
        return FlagSet(f"{self.prog} {name}", signature, description)

    def parse(self, flags, args, exactly=None, minimum=None):
        """Parse a command's flags, print deprecation notices, check counts.

        Raises:
            HelpRequested, FlagError.
        """
        try:
            flags.parse(args)
            flags.require(exactly, minimum)
        except FlagError as error:
            error.command = flags.name
            raise
        for warning in flags.warnings:
            self.warn(warning)
        return flags.args

    def _group(self, group, args):
        """Run ``pydocker GROUP SUBCOMMAND ...`` as the matching command."""
        summary, table = GROUPS[group]
        if not args or args[0] in ("-h", "--help", "help"):
            lines = ["", f"Usage:  {self.prog} {group} COMMAND", "",
                     summary, "", "Commands:"]
            lines += [f"  {sub:<10}" for sub in sorted(table)]
            self.out("\n".join(lines) + "\n")
            return 0
        target = table.get(args[0])
        if target is None:
            raise FlagError(f'unknown command "{args[0]}" for '
                            f'"{self.prog} {group}"', exit_code=1)
        return getattr(self, "cmd_" + target)(*args[1:])

    def cmd_image(self, *args):
        """Manage images: ``image ls``, ``image pull``, ..."""
        return self._group("image", args)

    def cmd_container(self, *args):
        """Manage containers: ``container ls``, ``container inspect``."""
        return self._group("container", args)

    def cmd_system(self, *args):
        """Manage Docker: ``system info``."""
        return self._group("system", args)

    def cmd_help(self, *args):
        """Show the help, or a command's usage."""
        if args:
            return self.cmd(args[0], "--help")
        self.stdout.write(self.help_text().encode())
        return 0

    # Engine and system -----------------------------------------------------

    def cmd_version(self, *args):
        """Show the client's and the engine's versions."""
        flags = self.flags("version", "[OPTIONS]",
                           "Show the Docker version information")
        self.parse(flags, args, exactly=0)
        self.out(format_rows("Client:", [
            ("Version", __version__),
            ("API version", self._client_api_version()),
            ("Python version", sys.version.split()[0]),
            ("OS/Arch", f"{sys.platform}/{_machine()}"),
        ], 19))
        server = self.client.version()
        self.out()
        platform = (server.get("Platform") or {}).get("Name")
        self.out("Server:" + (" " + platform if platform else ""))
        for component in server.get("Components") or [{
                "Name": "Engine", "Version": server.get("Version"),
                "Details": server}]:
            details = dict(component.get("Details") or {})
            if component.get("Name") == "Engine":
                self.out(format_rows(" Engine:", _engine_rows(
                    component, details), 18, indent="  "))
            else:
                rows = [("Version", component.get("Version", ""))]
                rows += [(k, v) for k, v in sorted(details.items())]
                title = f" {component.get('Name')}:"
                self.out(format_rows(title, rows, 18, indent="  "))
        return 0

    def _client_api_version(self):
        version = format_api_version(self.client.negotiate())
        if not self.client.pinned and version != MAX_API_VERSION:
            version += f" (downgraded from {MAX_API_VERSION})"
        return version

    def cmd_info(self, *args):
        """Show system-wide information about the engine."""
        flags = self.flags("info", "[OPTIONS]",
                           "Display system-wide information")
        self.parse(flags, args, exactly=0)
        self.out(format_rows("Client:", [
            ("Version", __version__),
            ("Debug Mode", str(log.isEnabledFor(logging.DEBUG)).lower())],
            12))
        info = self.client.info()
        self.out()
        self.out("Server:")
        for line in _info_lines(info):
            self.out(line)
        self.out()
        for warning in info.get("Warnings") or []:
            self.warn(warning)
        return 0

    # Listing ---------------------------------------------------------------

    def cmd_images(self, *args):
        """List images as a table, or their IDs with ``-q``."""
        flags = self.flags("images", "[OPTIONS] [REPOSITORY[:TAG]]",
                           "List images")
        show_all = flags.bool(["a", "-all"], False, "Show all images "
                              "(default hides intermediate images)")
        digests = flags.bool(["-digests"], False, "Show digests")
        filters = flags.list(["f", "-filter"],
                             "Filter output based on conditions provided")
        no_trunc = flags.bool(["-no-trunc"], False,
                              "Don't truncate output")
        quiet = flags.bool(["q", "-quiet"], False, "Only show image IDs")
        names = self.parse(flags, args)
        if len(names) > 1:
            raise FlagError(f'"{flags.name}" requires at most 1 argument.',
                            exit_code=1)
        wanted = parse_filters(filters.value)
        if names:
            wanted.setdefault("reference", []).append(names[0])
        images = self.client.images(all=show_all.value, filters=wanted)
        rows = [image_row(image, tag, no_trunc.value)
                for image in images for tag in image_tags(image)]
        if quiet.value:
            for row in rows:  # one line a row, as docker prints them
                self.out(row["id"])
            return 0
        header = ["REPOSITORY", "TAG"]
        if digests.value:
            header.append("DIGEST")
        header += ["IMAGE ID", "CREATED", "SIZE"]
        table = [header]
        for row in rows:
            cells = [row["repository"], row["tag"]]
            if digests.value:
                cells.append(row["digest"])
            cells += [row["id"], row["created"], row["size"]]
            table.append(cells)
        self.stdout.write(format_table(table).encode("utf-8", "replace"))
        return 0

    def cmd_ps(self, *args):
        """List containers as a table, or their IDs with ``-q``."""
        flags = self.flags("ps", "[OPTIONS]", "List containers")
        show_all = flags.bool(["a", "-all"], False, "Show all containers "
                              "(default shows just running)")
        filters = flags.list(["f", "-filter"],
                             "Filter output based on conditions provided")
        last = flags.int(["n", "-last"], -1, "Show n last created containers "
                         "(includes all states)")
        latest = flags.bool(["l", "-latest"], False,
                            "Show the latest created container (includes "
                            "all states)")
        no_trunc = flags.bool(["-no-trunc"], False,
                              "Don't truncate output")
        quiet = flags.bool(["q", "-quiet"], False,
                           "Only display container IDs")
        size = flags.bool(["s", "-size"], False, "Display total file sizes")
        self.parse(flags, args, exactly=0)
        limit = 1 if latest.value else last.value
        containers = self.client.containers(
            all=show_all.value or limit > 0,
            filters=parse_filters(filters.value),
            limit=limit if limit > 0 else None, size=size.value)
        if quiet.value:
            for container in containers:
                ident = container.get("Id", "")
                self.out(ident if no_trunc.value else ident[:12])
            return 0
        header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                  "PORTS", "NAMES"]
        if size.value:
            header.append("SIZE")
        table = [header]
        for container in containers:
            table.append(container_row(container, no_trunc.value,
                                       size.value))
        self.stdout.write(format_table(table).encode("utf-8", "replace"))
        return 0

    def cmd_inspect(self, *args):
        """Print the engine's JSON for containers or images."""
        return self._inspect("inspect", ("containers", "images"), args)

    def cmd_image_inspect(self, *args):
        """Print the engine's JSON for images."""
        return self._inspect("image inspect", ("images",), args)

    def cmd_container_inspect(self, *args):
        """Print the engine's JSON for containers."""
        return self._inspect("container inspect", ("containers",), args)

    def _inspect(self, name, kinds, args):
        flags = self.flags(name, "[OPTIONS] NAME|ID [NAME|ID...]",
                           "Return low-level information on Docker objects")
        kind = None
        if len(kinds) > 1:
            kind = flags.string(["-type"], "",
                                "Return JSON for specified type")
        self.parse(flags, args, minimum=1)
        if kind is not None and kind.value:
            if kind.value not in ("container", "image"):
                raise FlagError(f'"{kind.value}" is not a valid value '
                                'for --type')
            kinds = (kind.value + "s",)
        found, failed = [], False
        for target in flags.args:
            raw = self._inspect_one(kinds, target)
            if raw is None:
                failed = True
                kind_word = "object" if len(kinds) > 1 else kinds[0][:-1]
                self.warn(f"Error: No such {kind_word}: {target}")
            else:
                found.append(raw.decode("utf-8", "replace").strip())
        self.out(indent_json("[" + ",".join(found) + "]") if found else "[]")
        return 1 if failed else 0

    def _inspect_one(self, kinds, target):
        """Return the first kind's raw JSON for ``target``, or None."""
        for kind in kinds:
            try:
                return self.client.inspect_raw(kind, target)
            except NotFound:
                continue
        return None

    # Containers ------------------------------------------------------------

    def command_flags(self, name, signature, description):
        """Return a FlagSet that stops at the first argument, for commands
        that pass a command line on (``run``, ``create``, ``exec``)."""
        flags = self.flags(name, signature, description)
        flags.interspersed = False
        return flags

    def cmd_create(self, *args):
        """Create a container and print its ID."""
        flags = self.command_flags("create", "[OPTIONS] IMAGE [COMMAND] "
                                   "[ARG...]", "Create a new container")
        options = ContainerOptions(flags)
        self.parse(flags, args, minimum=1)
        container, _ = self._create(options, flags.args)
        self.out(container)
        return 0

    def cmd_run(self, *args):
        """Create and start a container; stay attached to it unless -d."""
        flags = self.command_flags("run", "[OPTIONS] IMAGE [COMMAND] "
                                   "[ARG...]", "Create and run a new "
                                   "container from an image")
        options = ContainerOptions(flags, run=True)
        self.parse(flags, args, minimum=1)
        detach = options.detach.value
        if detach and options.attach.value:
            raise DockerError("conflicting options: cannot specify both "
                              "--attach and --detach")
        keys = self._detach_keys(options.detach_keys.value)
        if not detach:
            self._check_terminal(options.interactive.value or "stdin" in
                                 options.attach_streams(),
                                 options.tty.value)
        # Before API 1.30 a wait cannot outlast the engine's own removal,
        # so the container is removed from here after its end.
        remove_here = (options.rm.value and not detach
                       and self.client.negotiate() < (1, 30))
        container, config = self._create(options, flags.args, detach,
                                         remove_here)
        if detach:
            self._start(container)
            self.out(container)
            return 0
        streams = {name for name in ("stdin", "stdout", "stderr")
                   if config["Attach" + name.capitalize()]}
        auto_remove = config["HostConfig"]["AutoRemove"]
        code = self._attached(
            container, config["Tty"], streams, keys,
            options.sig_proxy.value, "removed" if auto_remove
            else "next-exit", start=True)
        if remove_here and code is not None:  # None: the user detached
            self.client.remove_container(container, volumes=True)
        return code or 0

    def _create(self, options, args, detach=False, remove_here=False):
        """Create a container, pulling its image when needed.

        Returns:
            ``(ID, config)``.

        Raises:
            DockerError: with exit code 125, as docker's run and create.
        """
        try:
            return self._create_container(options, args, detach,
                                          remove_here)
        except DockerError as error:
            if not isinstance(error, FlagError):
                error.exit_code = 125
            raise

    def _create_container(self, options, args, detach, remove_here):
        image, command = args[0], args[1:]
        reference = parse_reference(image)
        if not (reference.tag or reference.digest):
            reference = reference.with_tag("latest")
        pull = options.pull_policy()
        config = options.config(image, command, detach)
        if remove_here:
            config["HostConfig"]["AutoRemove"] = False
        cidfile = options.cidfile.value
        if cidfile and os.path.exists(cidfile):
            raise DockerError("container ID file found, make sure the other "
                              f"container isn't running or delete {cidfile}")
        platform = options.platform.value or None
        if pull == "always":
            self._pull_quietly(reference, platform)
        try:
            answer = self.client.create_container(config, options.name.value,
                                                  platform)
        except NotFound as error:
            if pull != "missing" or "No such image" not in error.message:
                raise
            self.warn(f"Unable to find image '{reference.familiar()}' "
                      "locally")
            self._pull_quietly(reference, platform)
            answer = self.client.create_container(config, options.name.value,
                                                  platform)
        for warning in answer.get("Warnings") or []:
            self.warn(f"WARNING: {warning}")
        if cidfile:
            write_cidfile(cidfile, answer["Id"])
        return answer["Id"], config

    def _pull_quietly(self, reference, platform):
        """Pull an image for run or create, its progress on stderr."""
        self.with_login(reference, "pull", lambda auth: self._render(
            self.client.pull(reference, auth, platform), self.stderr))

    def _start(self, container):
        """Start a container; a failure exits 125, 126 or 127 as docker's.
        """
        try:
            self.client.start(container)
        except DockerError as error:
            error.exit_code = start_exit_code(error.message)
            raise

    def _check_terminal(self, stdin, tty):
        """Refuse to join our input to a container's terminal when our
        input is not a terminal, as docker does.

        Raises:
            DockerError: ``the input device is not a TTY``.
        """
        if stdin and tty and not self.stdin_tty:
            raise DockerError("the input device is not a TTY")

    def _detach_keys(self, text):
        """Return ``(bytes, text)`` of the detach keys; the text is None
        when neither the flag nor config.json set them.

        Raises:
            FlagError: keys docker would not take.
        """
        text = text or self.config.detach_keys() or None
        try:
            return parse_detach_keys(text or "ctrl-p,ctrl-q"), text
        except ValueError as error:
            raise FlagError(str(error)) from None

    def _attached(self, container, tty, streams, keys, sig_proxy,
                  condition=None, start=False):
        """Attach to a container (start it), copy its streams, and return
        its exit code, or None when the user detached.

        Args:
            streams: the names of the streams to attach.
            keys: ``(bytes, text)`` as ``_detach_keys`` returns them.
            sig_proxy: forward our signals while attached (not with a
                terminal, where Ctrl-C is a byte the container reads).
            condition: what to wait for: the container's end, or removal.
        """
        client = self.client
        waiter = None
        if client.negotiate() >= (1, 30):
            # Registered before the start, so a quick end is not missed.
            waiter = client.wait_later(container, condition)
            waiter.registered()
        detached = True
        try:
            with client.attach(container, "stdin" in streams,
                               "stdout" in streams, "stderr" in streams,
                               detach_keys=keys[1]) as stream:
                if start:
                    self._start(container)
                detached = self._copy_streams(
                    stream, tty, "stdin" in streams, keys[0],
                    lambda rows, columns: client.resize(container, rows,
                                                        columns),
                    container if sig_proxy and not tty else None)
        finally:
            if detached and waiter is not None:
                waiter.close()
        if detached:
            return None
        status = waiter.result() if waiter else client.wait(container)
        return int((status or {}).get("StatusCode") or 0)

    def _copy_streams(self, stream, tty, stdin=False, keys=b"",
                      resize=None, signals_to=None):
        """Copy a hijacked stream to our output, and our input to it.

        With a terminal and stdin, the terminal is raw until the end, the
        detach keys are watched for, and the container's terminal follows
        our size.  Returns True when the user detached.

        Args:
            resize: ``resize(rows, columns)`` for the remote terminal.
            signals_to: a container to forward our signals to, or None.
        """
        import threading
        detached = threading.Event()
        with contextlib.ExitStack() as stack:
            if tty and stdin and self.stdin_tty:
                stack.enter_context(raw_terminal(self.stdin))
                # A terminal left raw is unusable: end cleanly instead.
                stack.enter_context(signal_handlers(
                    ("SIGTERM", "SIGHUP"), _interrupt))
            if tty and resize is not None and self.stdout_tty:
                stack.enter_context(self._following_size(resize))
            if signals_to is not None:
                stack.enter_context(signal_handlers(
                    PROXIED_SIGNALS, self._forward_signal(signals_to)))
            if stdin:
                scanner = DetachScanner(keys if tty else b"")
                threading.Thread(target=self._copy_stdin, daemon=True,
                                 args=(stream, scanner, detached)).start()
            for number, data in demultiplex(stream.read, tty):
                output = self.stderr if number == 2 else self.stdout
                output.write(data)
                output.flush()
        return detached.is_set()

    def _copy_stdin(self, stream, scanner, detached):
        """Copy our input to the stream until its end or the detach keys."""
        read = input_reader(self.stdin)
        try:
            while True:
                data = read(STREAM_CHUNK)
                if not data:
                    stream.write(scanner.flush())
                    stream.close_write()
                    return
                data, done = scanner.feed(data)
                if data:
                    stream.write(data)
                if done:
                    detached.set()
                    stream.shutdown()
                    return
        except (OSError, ValueError):
            pass  # the container ended and its stream went away

    @contextlib.contextmanager
    def _following_size(self, resize):
        """Give the remote terminal our size now and on every SIGWINCH."""
        def follow(*_):
            size = terminal_size(self.stdout)
            if size is None:
                return
            for attempt in range(5):
                try:
                    resize(*size)
                    return
                except DockerError:
                    # An exec's process may not have started yet.
                    time.sleep(0.05 * (attempt + 1))

        follow()
        with signal_handlers(("SIGWINCH",), follow):
            yield

    def _forward_signal(self, container):
        """Return a signal handler that sends the signal to ``container``.
        """
        import signal

        def forward(number, _):
            name = signal.Signals(number).name
            log.debug("forwarding %s to %s", name, container)
            try:
                self.client.kill(container, name)
            except DockerError as error:
                log.debug("forwarding %s failed: %s", name, error)
        return forward

    def cmd_start(self, *args):
        """Start containers; with -a or -i, stay attached to one."""
        flags = self.flags("start", "[OPTIONS] CONTAINER [CONTAINER...]",
                           "Start one or more stopped containers")
        attach = flags.bool(["a", "-attach"], False, "Attach STDOUT/STDERR "
                            "and forward signals")
        keys = flags.string(["-detach-keys"], "", "Override the key "
                            "sequence for detaching a container")
        interactive = flags.bool(["i", "-interactive"], False,
                                 "Attach container's STDIN")
        self.parse(flags, args, minimum=1)
        if attach.value or interactive.value:
            if len(flags.args) > 1:
                raise DockerError("you cannot start and attach multiple "
                                  "containers at once")
            detach_keys = self._detach_keys(keys.value)
            info = self.client.inspect_container(flags.args[0])
            config = info.get("Config") or {}
            streams = {"stdout", "stderr"}
            if interactive.value and config.get("OpenStdin"):
                streams.add("stdin")
            self._check_terminal("stdin" in streams, config.get("Tty"))
            removed = (info.get("HostConfig") or {}).get("AutoRemove")
            return self._attached(info["Id"], bool(config.get("Tty")),
                                  streams, detach_keys, True,
                                  "removed" if removed else "next-exit",
                                  start=True) or 0
        failed = []
        for name in flags.args:
            try:
                self.client.start(name)
                self.out(name)
            except (APIError, StreamError) as error:
                self.warn(str(error))
                failed.append(name)
        if failed:
            raise DockerError("Error: failed to start containers: "
                              + ", ".join(failed))
        return 0

    def cmd_attach(self, *args):
        """Attach our terminal or streams to a running container."""
        flags = self.flags("attach", "[OPTIONS] CONTAINER", "Attach local "
                           "standard input, output, and error streams to a "
                           "running container")
        keys = flags.string(["-detach-keys"], "", "Override the key "
                            "sequence for detaching a container")
        no_stdin = flags.bool(["-no-stdin"], False, "Do not attach STDIN")
        sig_proxy = flags.bool(["-sig-proxy"], True, "Proxy all received "
                               "signals to the process")
        self.parse(flags, args, exactly=1)
        detach_keys = self._detach_keys(keys.value)
        info = self.client.inspect_container(flags.args[0])
        state = info.get("State") or {}
        if not state.get("Running"):
            raise DockerError("You cannot attach to a stopped container, "
                              "start it first")
        if state.get("Paused"):
            raise DockerError("You cannot attach to a paused container, "
                              "unpause it first")
        config = info.get("Config") or {}
        streams = {"stdout", "stderr"}
        if config.get("OpenStdin") and not no_stdin.value:
            streams.add("stdin")
        self._check_terminal("stdin" in streams, config.get("Tty"))
        return self._attached(info["Id"], bool(config.get("Tty")), streams,
                              detach_keys, sig_proxy.value) or 0

    def cmd_wait(self, *args):
        """Wait for containers to stop; print each one's exit code."""
        flags = self.flags("wait", "CONTAINER [CONTAINER...]", "Block until "
                           "one or more containers stop, then print their "
                           "exit codes")
        self.parse(flags, args, minimum=1)
        failed = False
        for name in flags.args:
            try:
                status = self.client.wait(name) or {}
                self.out(str(status.get("StatusCode", 0)))
            except (APIError, StreamError) as error:
                self.warn(str(error))
                failed = True
        return 1 if failed else 0

    def cmd_rm(self, *args):
        """Remove containers; report each failure and go on."""
        flags = self.flags("rm", "[OPTIONS] CONTAINER [CONTAINER...]",
                           "Remove one or more containers")
        force = flags.bool(["f", "-force"], False, "Force the removal of a "
                           "running container (uses SIGKILL)")
        link = flags.bool(["l", "-link"], False, "Remove the specified link")
        volumes = flags.bool(["v", "-volumes"], False, "Remove anonymous "
                             "volumes associated with the container")
        self.parse(flags, args, minimum=1)
        failed = False
        for name in flags.args:
            try:
                self.client.remove_container(name, force.value,
                                             volumes.value, link.value)
                self.out(name)
            except (APIError, StreamError) as error:
                self.warn(str(error))
                failed = True
        return 1 if failed else 0

    def cmd_logs(self, *args):
        """Print a container's logs, byte for byte, on stdout and stderr."""
        flags = self.flags("logs", "[OPTIONS] CONTAINER", "Fetch the logs "
                           "of a container")
        details = flags.bool(["-details"], False, "Show extra details "
                             "provided to logs")
        follow = flags.bool(["f", "-follow"], False, "Follow log output")
        since = flags.string(["-since"], "", 'Show logs since timestamp '
                             '(e.g. "2013-01-02T13:23:37Z") or relative '
                             '(e.g. "42m" for 42 minutes)')
        tail = flags.string(["n", "-tail"], "all", "Number of lines to show "
                            "from the end of the logs")
        timestamps = flags.bool(["t", "-timestamps"], False,
                                "Show timestamps")
        until = flags.string(["-until"], "", 'Show logs before a timestamp '
                             '(e.g. "2013-01-02T13:23:37Z") or relative '
                             '(e.g. "42m" for 42 minutes)')
        self.parse(flags, args, exactly=1)
        times = {}
        for key, flag in (("since", since), ("until", until)):
            if flag.value:
                try:
                    times[key] = parse_timestamp(flag.value)
                except ValueError:
                    raise DockerError("failed to parse value as time or "
                                      f'duration: "{flag.value}"') from None
        for number, data in self.client.logs(
                flags.args[0], follow=follow.value, tail=tail.value,
                timestamps=timestamps.value, details=details.value,
                **times):
            output = self.stderr if number == 2 else self.stdout
            output.write(data)
            output.flush()
        return 0

    def cmd_exec(self, *args):
        """Run a command in a running container; exit with its code."""
        flags = self.command_flags("exec", "[OPTIONS] CONTAINER COMMAND "
                                   "[ARG...]", "Execute a command in a "
                                   "running container")
        detach = flags.bool(["d", "-detach"], False, "Detached mode: run "
                            "command in the background")
        keys = flags.string(["-detach-keys"], "", "Override the key "
                            "sequence for detaching a container")
        env = flags.list(["e", "-env"], "Set environment variables")
        env_file = flags.list(["-env-file"], "Read in a file of "
                              "environment variables")
        interactive = flags.bool(["i", "-interactive"], False, "Keep STDIN "
                                 "open even if not attached")
        privileged = flags.bool(["-privileged"], False, "Give extended "
                                "privileges to the command")
        tty = flags.bool(["t", "-tty"], False, "Allocate a pseudo-TTY")
        user = flags.string(["u", "-user"], "", "Username or UID (format: "
                            '"<name|uid>[:<group|gid>]")')
        workdir = flags.string(["w", "-workdir"], "", "Working directory "
                               "inside the container")
        self.parse(flags, args, minimum=2)
        detach_keys = self._detach_keys(keys.value)
        attached = not detach.value
        self._check_terminal(interactive.value and attached, tty.value)
        config = {
            "Cmd": flags.args[1:], "Tty": tty.value,
            "AttachStdin": interactive.value and attached,
            "AttachStdout": attached, "AttachStderr": attached,
            "Privileged": privileged.value, "User": user.value,
            "Env": exec_environment(env, env_file) or None,
            "WorkingDir": workdir.value or None,
            "DetachKeys": detach_keys[1],
        }
        client = self.client
        exec_id = client.exec_create(flags.args[0], config)["Id"]
        if detach.value:
            client.exec_start(exec_id, detach=True)
            return 0
        with client.exec_start(exec_id, tty=tty.value) as stream:
            detached = self._copy_streams(
                stream, tty.value, config["AttachStdin"], detach_keys[0],
                lambda rows, columns: client.exec_resize(exec_id, rows,
                                                         columns))
        if detached:
            return 0
        return self._exec_exit_code(exec_id)

    def _exec_exit_code(self, exec_id):
        """Return an exec's exit code once the engine has recorded it."""
        for attempt in range(50):
            status = self.client.exec_inspect(exec_id)
            if not status.get("Running"):
                return int(status.get("ExitCode") or 0)
            # The stream can end a moment before the engine notes the exit.
            time.sleep(0.01 * min(attempt + 1, 10))
        return int(status.get("ExitCode") or 0)


    # Registries ------------------------------------------------------------

    def cmd_pull(self, *args):
        """Pull an image, showing the engine's progress."""
        flags = self.flags("pull", "[OPTIONS] NAME[:TAG|@DIGEST]",
                           "Download an image from a registry")
        all_tags = flags.bool(["a", "-all-tags"], False,
                              "Download all tagged images in the repository")
        platform = flags.string(["-platform"], os.environ.get(
            "DOCKER_DEFAULT_PLATFORM", ""), "Set platform if server is "
            "multi-platform capable")
        quiet = flags.bool(["q", "-quiet"], False,
                           "Suppress verbose output")
        old_tag = flags.string(["#t", "#-tag"], "",
                               "Download tagged image in a repository")
        self.parse(flags, args, exactly=1)
        reference = parse_reference(flags.args[0])
        if old_tag.value:
            reference = parse_reference(f"{reference.name}:{old_tag.value}")
        if all_tags.value and (reference.tag or reference.digest):
            raise FlagError("tag can't be used with --all-tags/-a",
                            exit_code=1)
        if not (all_tags.value or reference.tag or reference.digest):
            reference = reference.with_tag("latest")
            if not quiet.value:
                self.out("Using default tag: latest")
        output = _NullStream() if quiet.value else self.stdout
        self.with_login(reference, "pull", lambda auth: self._render(
            self.client.pull(reference, auth, platform.value or None,
                             all_tags.value), output))
        self.out(reference.name if all_tags.value else str(reference))
        return 0

    def _render(self, messages, output=None):
        """Show a stream of JSON messages; return the aux values."""
        output = self.stdout if output is None else output
        renderer = ProgressRenderer(output, self.stdout_tty and
                                    output is self.stdout)
        try:
            for message in messages:
                renderer.show(message)
                output.flush()
        finally:
            output.flush()
        return renderer.aux

    def with_login(self, reference, action, attempt):
        """Run ``attempt(auth)``, logging in and retrying once if needed.

        On a terminal an authentication failure leads to the login prompts
        and one retry, as Docker 1.2 did; elsewhere it ends with the
        engine's message and a hint naming ``login``.
        """
        key = registry_key(reference)
        auth = self.config.resolve_auth(key)
        try:
            return attempt(auth)
        except (APIError, StreamError) as error:
            if not is_auth_failure(error):
                raise
            server = "" if key == HUB_KEY else " " + key
            if not (self.stdin_tty and self.stdout_tty):
                error.hint = (f"Log in with '{self.prog} login{server}' "
                              f"and {action} again")
                raise
            self.out(f"\nPlease login prior to {action}:")
            self._interactive_login(key, auth.get("username", ""))
            return attempt(self.config.resolve_auth(key))

    def cmd_login(self, *args):
        """Log in to a registry and store the credentials."""
        flags = self.flags("login", "[OPTIONS] [SERVER]",
                           "Log in to a registry.\nIf no server is "
                           "specified, the default is defined by the "
                           "daemon.")
        password = flags.string(["p", "-password"], "", "Password")
        from_stdin = flags.bool(["-password-stdin"], False,
                                "Take the password from stdin")
        username = flags.string(["u", "-username"], "", "Username")
        self.parse(flags, args)
        if len(flags.args) > 1:
            raise FlagError(f'"{flags.name}" requires at most 1 argument.',
                            exit_code=1)
        key = registry_key(flags.args[0] if flags.args else HUB_KEY)
        if password.value:
            self.warn("WARNING! Using --password via the CLI is insecure. "
                      "Use --password-stdin.")
            if from_stdin.value:
                raise FlagError("--password and --password-stdin are "
                                "mutually exclusive", exit_code=1)
        if from_stdin.value:
            if not username.value:
                raise FlagError("Must provide --username with "
                                "--password-stdin", exit_code=1)
            password.value = read_password_stdin(self.stdin)
        if username.value and password.value:
            self._login(key, username.value, password.value)
            return 0
        if not username.value and not password.value:
            stored = self.config.resolve_auth(key)
            if stored and self._try_stored_login(key, stored):
                return 0
        self._interactive_login(key, username.value, password.value)
        return 0

    def _try_stored_login(self, key, stored):
        """Check stored credentials with the engine; True if they work."""
        self.out("Authenticating with existing credentials...")
        try:
            self.client.auth(dict(stored, serveraddress=key))
        except APIError as error:
            log.debug("stored credentials for %s refused: %s", key,
                      error.message)
            return False
        self.out("Login Succeeded")
        return True

    def _interactive_login(self, key, username="", password=""):
        """Prompt for what is missing, then log in.

        Raises:
            AuthError: no terminal to prompt on, or an empty answer.
        """
        if not self.stdin_tty:
            raise AuthError("Error: Cannot perform an interactive login "
                            "from a non TTY device")
        if not username:
            stored = self.config.resolve_auth(key).get("username", "")
            prompt = (f"Username ({stored}): ") if stored else "Username: "
            username = self.prompt(prompt).strip() or stored
            if not username:
                raise AuthError("Error: Non-null Username Required")
        if not password:
            password = self.prompt("Password: ", echo=False)
            if not password:
                raise AuthError("Error: Password Required")
        self._login(key, username, password)

    def _login(self, key, username, password):
        """Check credentials with the engine, store them, say so."""
        answer = self.client.auth({"username": username,
                                   "password": password,
                                   "serveraddress": key})
        token = answer.get("IdentityToken") or None
        unencrypted = self.config.store_auth(key, username, password, token)
        if unencrypted:
            self.warn("WARNING! Your credentials are stored unencrypted in "
                      f"'{self.config.path}'.")
            self.warn("Configure a credential helper to remove this "
                      "warning.")
        self.out("Login Succeeded")

    def prompt(self, text, echo=True):
        """Ask for one line on the terminal; without echo for secrets."""
        if echo:
            self.stdout.write(text.encode("utf-8"))
            self.stdout.flush()
            line = self.stdin.readline()
        else:
            # Echo goes off before the prompt shows, so nothing typed in
            # answer to it can ever be echoed.
            with _no_echo(self.stdin):
                self.stdout.write(text.encode("utf-8"))
                self.stdout.flush()
                line = self.stdin.readline()
            self.out()
        if not line:
            raise AuthError("Error: no answer read from the terminal")
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def cmd_logout(self, *args):
        """Remove the stored credentials of a registry."""
        flags = self.flags("logout", "[SERVER]", "Log out from a registry.\n"
                           "If no server is specified, the default is "
                           "defined by the daemon.")
        self.parse(flags, args)
        if len(flags.args) > 1:
            raise FlagError(f'"{flags.name}" requires at most 1 argument.',
                            exit_code=1)
        key = registry_key(flags.args[0] if flags.args else HUB_KEY)
        self.config.check_writable()
        self.out(f"Removing login credentials for {key}")
        self.config.erase_auth(key)
        return 0

    # Images ----------------------------------------------------------------

    def cmd_tag(self, *args):
        """Give an image another name."""
        flags = self.flags("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                           "Create a tag TARGET_IMAGE that refers to "
                           "SOURCE_IMAGE")
        source, target = self.parse(flags, args, exactly=2)
        reference = parse_reference(target)
        if reference.digest:
            raise DockerError("refusing to create a tag with a digest "
                              "reference")
        self.client.tag(source, reference.name, reference.tag or "latest")
        return 0

    def cmd_rmi(self, *args):
        """Remove images; report each failure and go on."""
        flags = self.flags("rmi", "[OPTIONS] IMAGE [IMAGE...]",
                           "Remove one or more images")
        force = flags.bool(["f", "-force"], False,
                           "Force removal of the image")
        no_prune = flags.bool(["-no-prune"], False,
                              "Do not delete untagged parents")
        self.parse(flags, args, minimum=1)
        failed = False
        for image in flags.args:
            try:
                for item in self.client.remove_image(image, force.value,
                                                     no_prune.value):
                    for word in ("Untagged", "Deleted"):
                        if item.get(word):
                            self.out(f"{word}: {item[word]}")
            except (APIError, StreamError) as error:
                self.warn(str(error))
                failed = True
        return 1 if failed else 0


class _NullStream:
    """A binary sink for output nobody wants (``pull -q``)."""

    def write(self, data):
        return len(data)

    def flush(self):
        pass


class _no_echo:
    """Turn terminal echo off around reading a secret, then restore it."""

    def __init__(self, stream):
        self.stream = stream
        self.saved = None

    def __enter__(self):
        try:
            import termios
            self.fd = self.stream.fileno()
            self.saved = termios.tcgetattr(self.fd)
            quiet = termios.tcgetattr(self.fd)
            quiet[3] &= ~termios.ECHO
            termios.tcsetattr(self.fd, termios.TCSADRAIN, quiet)
        except (ImportError, AttributeError, OSError, ValueError):
            self.saved = None  # not a real terminal: nothing to restore
        return self

    def __exit__(self, *exc_info):
        if self.saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def read_password_stdin(stream):
    """Read ``--password-stdin``: drop one ``\\n``, then one ``\\r``.

    Raises:
        AuthError: nothing was given.
    """
    data = stream.read()
    text = data.decode("utf-8", "replace")
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    if not text:
        raise AuthError("Error: Password Required")
    return text


def _quiet_broken_pipe():
    """Leave quietly when the reader of our output went away (``| head``).

    Python would complain again at exit while flushing stdout, so stdout
    is pointed at /dev/null first.  The code is what a process killed by
    SIGPIPE reports, as docker's is.
    """
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 141


def _machine():
    """Return the architecture as Go names it (``amd64``, ``arm64``)."""
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def format_rows(title, rows, width, indent=" "):
    """Return a ``Title:`` block of aligned ``Name: value`` lines."""
    lines = [title]
    for name, value in rows:
        label = name + ":"
        lines.append(f"{indent}{label:<{width}}{value}")
    return "\n".join(lines)


def _go_time(text):
    """Return an engine build time as Go's default layout prints it."""
    if not text:
        return ""
    moment = parse_rfc3339(text)
    return time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(moment)) \
        if moment else text


def _engine_rows(component, details):
    minimum = details.get("MinAPIVersion")
    api = details.get("ApiVersion", "")
    return [
        ("Version", component.get("Version", "")),
        ("API version", api + (f" (minimum version {minimum})"
                               if minimum else "")),
        ("Go version", details.get("GoVersion", "")),
        ("Git commit", details.get("GitCommit", "")),
        ("Built", _go_time(details.get("BuildTime", ""))),
        ("OS/Arch", "{}/{}".format(details.get("Os", ""),
                               details.get("Arch", ""))),
        ("Experimental", str(details.get("Experimental", "false")).lower()),
    ]


def _info_lines(info):
    """Return the lines of ``info``'s Server section."""
    get = info.get
    lines = [
        " Containers: {}".format(get("Containers", 0)),
        "  Running: {}".format(get("ContainersRunning", 0)),
        "  Paused: {}".format(get("ContainersPaused", 0)),
        "  Stopped: {}".format(get("ContainersStopped", 0)),
        " Images: {}".format(get("Images", 0)),
        " Server Version: {}".format(get("ServerVersion", "")),
        " Storage Driver: {}".format(get("Driver", "")),
        " Logging Driver: {}".format(get("LoggingDriver", "")),
        " Cgroup Driver: {}".format(get("CgroupDriver", "")),
    ]
    if get("CgroupVersion"):
        lines.append(" Cgroup Version: {}".format(get("CgroupVersion")))
    plugins = get("Plugins") or {}
    lines.append(" Plugins:")
    for kind in ("Volume", "Network", "Log"):
        names = " ".join(plugins.get(kind) or [])
        lines.append(f"  {kind}: {names}")
    swarm = (get("Swarm") or {}).get("LocalNodeState") or "inactive"
    lines.append(f" Swarm: {swarm}")
    lines += [
        " Runtimes: {}".format(" ".join(sorted(get("Runtimes") or {}))),
        " Default Runtime: {}".format(get("DefaultRuntime", "")),
        " Kernel Version: {}".format(get("KernelVersion", "")),
        " Operating System: {}".format(get("OperatingSystem", "")),
        " OSType: {}".format(get("OSType", "")),
        " Architecture: {}".format(get("Architecture", "")),
        " CPUs: {}".format(get("NCPU", 0)),
        " Total Memory: {}".format(binary_size(get("MemTotal", 0))),
        " Name: {}".format(get("Name", "")),
        " ID: {}".format(get("ID", "")),
        " Docker Root Dir: {}".format(get("DockerRootDir", "")),
        " Debug Mode: {}".format(str(bool(get("Debug"))).lower()),
    ]
    if get("Labels"):
        lines.append(" Labels:")
        lines += [f"  {label}" for label in get("Labels")]
    experimental = str(bool(get("ExperimentalBuild"))).lower()
    lines.append(f" Experimental: {experimental}")
    registry = get("RegistryConfig") or {}
    insecure = list(registry.get("InsecureRegistryCIDRs") or [])
    insecure += [name for name, index in sorted(
        (registry.get("IndexConfigs") or {}).items())
        if isinstance(index, dict) and not index.get("Secure", True)]
    if insecure:
        lines.append(" Insecure Registries:")
        lines += [f"  {name}" for name in insecure]
    mirrors = registry.get("Mirrors") or []
    if mirrors:
        lines.append(" Registry Mirrors:")
        lines += [f"  {mirror}" for mirror in mirrors]
    live_restore = str(bool(get("LiveRestoreEnabled"))).lower()
    lines.append(f" Live Restore Enabled: {live_restore}")
    return lines


def binary_size(size):
    """Return bytes in binary units with two decimals: ``23.54GiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    size = float(size or 0)
    unit = 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:.4g}{units[unit]}"


def parse_filters(values):
    """Return ``{"key": ["value", ...]}`` from ``key=value`` flag values.

    Raises:
        FlagError: a value without ``=``.
    """
    filters = {}
    for text in values:
        key, equals, value = text.partition("=")
        if not equals or not key.strip():
            raise FlagError("bad format of filter (expected name=value)",
                            exit_code=1)
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters


def image_tags(image):
    """Return the ``(repository, tag, digest)`` rows one image shows as."""
    tags = [tag for tag in image.get("RepoTags") or []
            if tag != "<none>:<none>"]
    digests = [d for d in image.get("RepoDigests") or []
               if d != "<none>@<none>"]
    rows = []
    for tag in tags:
        repository, name = split_repository_tag(tag)
        digest = next((d.partition("@")[2] for d in digests
                       if d.partition("@")[0] == repository), "<none>")
        rows.append((repository, name, digest))
    if not rows:
        for digest in digests:
            repository, _, value = digest.partition("@")
            rows.append((repository, "<none>", value))
    return rows or [("<none>", "<none>", "<none>")]


def image_row(image, tag_row, no_trunc=False):
    """Return the pre-rendered cells of one ``images`` row."""
    repository, tag, digest = tag_row
    ident = image.get("Id", "")
    if not no_trunc:
        ident = ident.partition(":")[2][:12] if ":" in ident else ident[:12]
    created = image.get("Created") or 0
    return {"repository": repository, "tag": tag, "digest": digest,
            "id": ident,
            "created": ago(created) if created else "N/A",
            "size": human_size(image.get("Size") or 0, 3)}


def container_row(container, no_trunc=False, size=False):
    """Return the cells of one ``ps`` row."""
    ident = container.get("Id", "")
    command = container.get("Command") or ""
    image = container.get("Image") or ""
    if not no_trunc:
        ident = ident[:12]
        command = ellipsis(command, 20)
        if image.startswith("sha256:"):
            image = image[len("sha256:"):][:12]
    names = [name.lstrip("/") for name in container.get("Names") or []]
    if not no_trunc:
        names = [name for name in names if "/" not in name]
    row = [ident, image, go_quote(command),
           ago(container.get("Created") or 0),
           container.get("Status") or "",
           format_ports(container.get("Ports") or []), ",".join(names)]
    if size:
        row.append(_container_size(container))
    return row


def _container_size(container):
    written = container.get("SizeRw") or 0
    total = container.get("SizeRootFs") or 0
    text = human_size(written, 3)
    return text + (f" (virtual {human_size(total, 3)})" if total else "")


def format_ports(ports):
    """Return the PORTS cell: ``0.0.0.0:8080->80/tcp, 443/tcp``."""
    cells = []
    for port in sorted(ports, key=lambda p: (p.get("PrivatePort", 0),
                                             p.get("Type", ""),
                                             p.get("IP", ""))):
        private = "{}/{}".format(port.get("PrivatePort"), port.get("Type"))
        if port.get("PublicPort"):
            address = port.get("IP") or "0.0.0.0"
            cells.append(f"{address}:{port['PublicPort']}->{private}")
        elif private not in cells:
            cells.append(private)
    return ", ".join(cells)


# =========================================================================
# main
# =========================================================================

# Docker 1.2's daemon flags: accepted only with -d, and carried into the
# dockerd command line of the daemon notice.  Each entry: names, kind,
# default, usage, and the dockerd flag it became (None: no equivalent).
DAEMON_FLAGS = (
    (["b", "-bridge"], "string", "", "Attach containers to a pre-existing "
     "network bridge", "--bridge"),
    (["-bip"], "string", "", "Use this CIDR notation address for the "
     "network bridge's IP", "--bip"),
    (["-dns"], "list", [], "Force Docker to use specific DNS servers",
     "--dns"),
    (["-dns-search"], "list", [], "Force Docker to use specific DNS search "
     "domains", "--dns-search"),
    (["e", "-exec-driver"], "string", "native", "Force the Docker runtime "
     "to use a specific exec driver", None),
    (["g", "-graph"], "string", "/var/lib/docker", "Path to use as the root "
     "of the Docker runtime", "--data-root"),
    (["-icc"], "bool", True, "Enable inter-container communication",
     "--icc"),
    (["-ip"], "string", "0.0.0.0", "Default IP address to use when binding "
     "container ports", "--ip"),
    (["-ip-forward"], "bool", True, "Enable net.ipv4.ip_forward",
     "--ip-forward"),
    (["-iptables"], "bool", True, "Enable Docker's addition of iptables "
     "rules", "--iptables"),
    (["-mtu"], "int", 0, "Set the containers network MTU", "--mtu"),
    (["p", "-pidfile"], "string", "/var/run/docker.pid", "Path to use for "
     "daemon PID file", "--pidfile"),
    (["s", "-storage-driver"], "string", "", "Force the Docker runtime to "
     "use a specific storage driver", "--storage-driver"),
    (["-selinux-enabled"], "bool", False, "Enable selinux support",
     "--selinux-enabled"),
    (["-storage-opt"], "list", [], "Set storage driver options",
     "--storage-opt"),
)


def global_flags(daemon=False):
    """Return the FlagSet of the global flags (with -d's, if asked)."""
    flags = FlagSet("pydocker", "[OPTIONS] COMMAND", interspersed=False)
    folder = config_directory()
    certs = os.environ.get("DOCKER_CERT_PATH") or folder
    flags.string(["-config"], folder, "Location of client config files")
    flags.bool(["D", "-debug"], False, "Enable debug mode")
    flags.bool(["d", "-daemon"], False, "Enable daemon mode (prints how to "
               "start dockerd: this client starts no daemon)")
    flags.string(["G", "-group"], "docker", "Group to assign the unix "
                 "socket specified by -H when running in daemon mode")
    flags.list(["H", "-host"], "Daemon socket to connect to")
    flags.string(["l", "-log-level"], "info", 'Set the logging level '
                 '("debug"|"info"|"warn"|"error"|"fatal")')
    flags.bool(["#api-enable-cors", "-api-enable-cors"], False,
               "Enable CORS headers in the remote API (daemon only)")
    flags.bool(["-tls"], False, "Use TLS; implied by --tlsverify")
    flags.string(["-tlscacert"], os.path.join(certs, "ca.pem"),
                 "Trust certs signed only by this CA")
    flags.string(["-tlscert"], os.path.join(certs, "cert.pem"),
                 "Path to TLS certificate file")
    flags.string(["-tlskey"], os.path.join(certs, "key.pem"),
                 "Path to TLS key file")
    flags.bool(["-tlsverify"], False, "Use TLS and verify the remote")
    flags.bool(["v", "-version"], False, "Print version information and "
               "quit")
    for names, kind, default, usage, _ in DAEMON_FLAGS if daemon else ():
        if kind == "list":
            flags.list(names, usage)
        else:
            getattr(flags, kind)(names, default, usage)
    return flags


def daemon_notice(flags):
    """Return the notice ``-d`` prints: no daemon here, and how to start one.

    Args:
        flags: the parsed global FlagSet, daemon flags included.
    """
    value = {flag.names[-1]: flag for flag in flags.flags}
    translated, dropped = _translate_daemon_flags(value)
    command = ["dockerd"] + _shared_daemon_arguments(value) + translated
    if value["-api-enable-cors"].value:
        dropped.append("--api-enable-cors (dockerd has --api-cors-header)")
    import shlex
    lines = ["pydocker is a client only: it starts no daemon.",
             "To run the Docker daemon with these settings, start:",
             "  " + " ".join(shlex.quote(word) for word in command)]
    if dropped:
        lines.append("dockerd has no equivalent of: " + ", ".join(dropped))
    lines.append("Docker Engine is installed as described at "
                 "https://docs.docker.com/engine/install/")
    return "\n".join(lines)


def _shared_daemon_arguments(value):
    """Return dockerd arguments for the flags the client shares with it.

    Args:
        value: the global flags by their last name (``"-host"``).
    """
    arguments = []
    for host in value["-host"].value:
        arguments += ["-H", host]
    if value["-group"].changed:
        arguments += ["--group", value["-group"].value]
    if value["-debug"].value:
        arguments.append("--debug")
    for name in ("-tls", "-tlsverify"):
        if value[name].value:
            arguments.append("-" + name)
    for name in ("-tlscacert", "-tlscert", "-tlskey"):
        if value[name].changed:
            arguments += ["-" + name, value[name].value]
    return arguments


def _translate_daemon_flags(value):
    """Return dockerd arguments for the daemon-only flags given, and the
    flags dockerd has no equivalent for.

    Args:
        value: the global flags by their last name (``"-host"``).

    Returns:
        ``(arguments, dropped)``: two lists of strings.
    """
    arguments, dropped = [], []
    for names, kind, _, _, replacement in DAEMON_FLAGS:
        flag = value[names[-1]]
        if not flag.changed:
            continue
        if replacement is None:
            dropped.append("-" + names[-1])
        elif kind == "list":
            for item in flag.value:
                arguments += [replacement, item]
        elif kind == "bool":
            arguments.append(f"{replacement}={str(flag.value).lower()}")
        else:
            arguments += [replacement, str(flag.value)]
    return arguments, dropped


def setup_logging(debug, level):
    """Send the ``pydocker`` logger to stderr at docker's level names.

    Raises:
        FlagError: an unknown level name.
    """
    levels = {"debug": logging.DEBUG, "info": logging.INFO,
              "warn": logging.WARNING, "warning": logging.WARNING,
              "error": logging.ERROR, "fatal": logging.CRITICAL,
              "panic": logging.CRITICAL}
    if level.lower() not in levels:
        raise FlagError(f'invalid argument "{level}" for "-l, --log-level" '
                        f'flag: not a valid logrus Level: "{level}"')
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    # At "info" pydocker says nothing: user output goes to the streams.
    log.setLevel(logging.DEBUG if debug else max(levels[level.lower()],
                                                 logging.WARNING))


def client_from_flags(flags, environ):
    """Return the Client the global flags and environment ask for.

    Raises:
        ConfigError: bad hosts, TLS files or DOCKER_API_VERSION.
    """
    value = {flag.names[-1]: flag for flag in flags.flags}
    hosts = value["-host"].value
    if len(hosts) > 1:
        raise ConfigError("Please specify only one -H")
    verify = value["-tlsverify"].value or bool(
        environ.get("DOCKER_TLS_VERIFY"))
    use_tls = verify or value["-tls"].value or bool(environ.get("DOCKER_TLS"))
    host = hosts[0] if hosts else (environ.get("DOCKER_HOST") or "")
    context = None
    if use_tls and parse_host(host, True).startswith("tcp://"):
        if not verify:
            log.warning("TLS is on without verification: the engine's "
                        "identity is not checked")
        explicit = value["-tlscert"].changed or value["-tlskey"].changed
        context = tls_context(verify, value["-tlscacert"].value,
                              value["-tlscert"].value,
                              value["-tlskey"].value, explicit)
    version = environ.get("DOCKER_API_VERSION") or None
    if version is not None:
        parse_api_version(version, "DOCKER_API_VERSION")
    return Client(host or None, tls=context, version=version)


def _refuse_daemon_flags(value):
    """Reject daemon-only flags given without ``-d``, as unknown flags.

    Raises:
        FlagError: worded as docker's client words an unknown flag.
    """
    for names, *_ in DAEMON_FLAGS:
        flag = value[names[-1]]
        if not flag.changed:
            continue
        if flag.used_as.startswith("--"):
            raise FlagError(f"unknown flag: {flag.used_as}")
        letters = flag.used_as[1:]
        raise FlagError(f"unknown shorthand flag: '{letters}' in -{letters}")


def main(argv=None):
    """Run one pydocker command line; return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    stderr = sys.stderr
    flags = global_flags(daemon=True)
    try:
        flags.parse(argv)
        value = {flag.names[-1]: flag for flag in flags.flags}
        if not value["-daemon"].value:
            _refuse_daemon_flags(value)
        for warning in flags.warnings:
            stderr.write(warning + "\n")
        if value["-version"].value:
            sys.stdout.write(f"pydocker version {__version__}\n")
            return 0
        setup_logging(value["-debug"].value, value["-log-level"].value)
        if value["-daemon"].value:
            stderr.write(daemon_notice(flags) + "\n")
            return 1
        os.environ["DOCKER_CONFIG"] = value["-config"].value
        client = client_from_flags(flags, os.environ)
    except HelpRequested:
        sys.stdout.write(DockerCli().help_text())
        return 0
    except FlagError as error:
        stderr.write(f"{error}\nSee 'pydocker --help'.\n")
        return error.exit_code
    except DockerError as error:
        stderr.write(f"{error}\n")
        return error.exit_code
    cli = DockerCli(client)
    if not flags.args:
        cli.stdout.write(cli.help_text().encode())
        return 0
    return cli.cmd(*flags.args)


if __name__ == "__main__":
    sys.exit(main())
