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
    References       image references and registry keys
    Auth and config  config.json, credential helpers, X-Registry-Auth
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
            value = int(text, 8)  # Go reads a leading 0 as octal
        else:
            value = int(text, 0)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": '
                         'invalid syntax') from None
    if not -(1 << 63) <= value < 1 << 63:
        # Go's flags are int64s; the engine would refuse a bigger one.
        raise ValueError(f'strconv.ParseInt: parsing "{text}": '
                         'value out of range')
    return value


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
    if scheme == "ssh":
        _check_ssh_address(text, addr)
        return text
    if scheme == "fd":
        return text
    if scheme != "tcp":
        raise ConfigError(f"invalid bind address format: {addr}")
    return "tcp://" + _parse_tcp_address(rest, addr, tls)


# Characters a host name or address may have (unicode letters included,
# for international names), and those an API base path may have.
_HOST_NAME = re.compile(r"[\w.-]*", re.UNICODE)
_IPV6_HOST = re.compile(r"\[[0-9a-fA-F:.]+(?:%[\w.-]+)?\]")
_BASE_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")


def _parse_tcp_address(rest, addr, tls):
    """Return ``host:port[/base]`` for the part after ``tcp://``."""
    hostport, slash, path = rest.partition("/")
    if not _BASE_PATH.fullmatch(path):
        raise ConfigError(f"invalid bind address format: {addr}: "
                          "unexpected characters in the path")
    # Runs of slashes fold into one: request paths never contain "//".
    path = re.sub("/+", "/", "/" + path).rstrip("/") if slash else ""
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
    if not (_HOST_NAME.fullmatch(host) or _IPV6_HOST.fullmatch(host)):
        raise ConfigError(f"invalid bind address format: {addr}")
    if not port_text:
        port = DEFAULT_TLS_PORT if tls and not host else DEFAULT_TCP_PORT
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ConfigError(f"invalid bind address format: {addr}: "
                          f"invalid port {port_text!r}")
    return f"{host or 'localhost'}:{port:d}{path}"


def _check_ssh_address(text, addr):
    """Refuse an ``ssh://`` address that ssh could not be given.

    Raises:
        ConfigError: no host, a bad port, a password, a query or fragment,
            or characters that have no place in a host name.
    """
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise ConfigError(f"invalid ssh address: {addr}: {error}") from None
    if not parts.hostname:
        raise ConfigError(f"invalid ssh address: {addr}: no host")
    if parts.password is not None:
        raise ConfigError(f"invalid ssh address: {addr}: a password in "
                          "the address is not supported")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ConfigError(f"invalid ssh address: {addr}: a query or "
                          "fragment is not supported")
    if port == 0 or not (_HOST_NAME.fullmatch(parts.hostname)
                         or _IPV6_HOST.fullmatch(f"[{parts.hostname}]")):
        raise ConfigError(f"invalid ssh address: {addr}")
    if any(ord(c) < 32 or c.isspace() for c in text):
        raise ConfigError(f"invalid ssh address: {addr}")


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
    included.  One connection is one ssh process, ended and reaped by
    ``close``.  What ssh says on stderr goes to a temporary file (a pipe
    nobody reads could fill and stall it) and explains a failure.
    """

    def __init__(self, url, timeout=None):
        super().__init__("docker", timeout=timeout)
        self.url = url
        self.process = None
        self.errors = None
        self.exit_reason = ""

    def ssh_command(self):
        """Return the ssh command line for this connection's URL."""
        parts = urllib.parse.urlsplit(self.url)
        command = ["ssh", "-o", "ConnectTimeout=30", "-T"]
        if parts.username:
            command += ["-l", urllib.parse.unquote(parts.username)]
        if parts.port:
            command += ["-p", str(parts.port)]
        command += ["--", parts.hostname, "docker"]
        if parts.path and parts.path != "/":
            command += ["--host", "unix://" + parts.path]
        return command + ["system", "dial-stdio"]

    def connect(self):
        import subprocess
        import tempfile
        command = self.ssh_command()
        log.debug("running %s", " ".join(command))
        ours, theirs = socket.socketpair()
        self.errors = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                command, stdin=theirs, stdout=theirs, stderr=self.errors,
                start_new_session=True)
        except OSError as error:
            ours.close()
            self.errors.close()
            self.errors = None
            raise ConnectError(f"cannot run ssh: {_reason(error)}") from None
        finally:
            theirs.close()
        self.sock = ours

    def ssh_error(self):
        """Return why the ssh process ended, in one line, or ``""``.

        Waits a little for it to end: a failure on our side of the socket
        usually means that ssh, or the remote command, has just exited.
        """
        import subprocess
        if self.process is None:
            return self.exit_reason
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        return self._describe_exit(code)

    def _describe_exit(self, code):
        """Word ssh's exit from its status and the last line it wrote."""
        self.errors.seek(0, os.SEEK_END)
        self.errors.seek(max(0, self.errors.tell() - 4096))
        text = self.errors.read().decode("utf-8", "replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        last = lines[-1].rstrip(".") if lines else f"exit status {code}"
        if code == 127:
            # The remote shell's answer to a command it cannot find.
            return ("docker is not installed on the remote host, or not on "
                    f"its PATH: {last}")
        return f"ssh: {last}"

    def close(self):
        """Close the socket, then end and reap the ssh process.

        http.client closes a connection itself when the engine's side
        fails, so why ssh ended is kept in ``exit_reason`` for
        ``ssh_error``.
        """
        import subprocess
        super().close()
        if self.process is not None:
            try:
                # With our end closed, ssh and dial-stdio end by themselves.
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                self.process.wait()
            self.exit_reason = self._describe_exit(self.process.returncode)
            self.process = None
        if self.errors is not None:
            self.errors.close()
            self.errors = None


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


# TLS alerts that mean the engine did not accept our client certificate
# (or our lack of one).
_CLIENT_CERT_ALERTS = (
    "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSLV3_ALERT_CERTIFICATE_REVOKED", "TLSV1_ALERT_ACCESS_DENIED")


def _verify_reason(error):
    """Say why the engine's certificate failed, in Go's words where known.

    OpenSSL's "unable to get local issuer certificate" is what docker
    calls "certificate signed by unknown authority".
    """
    reason = (error.verify_message or _reason(error)).rstrip(".")
    if error.verify_code in (19, 20, 21):
        return f"certificate signed by unknown authority ({reason})"
    return reason


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
            except (OSError, ValueError) as error:
                # ValueError: a host name the resolver cannot encode.
                connection, self._connection = self._connection, None
                failure = self._connect_error(error, connection)
                connection.close()
                raise failure from None
        return self._connection

    def _connect_error(self, error, connection=None, sent=False):
        """Turn a socket, TLS or ssh failure into a one-line ConnectError.

        Args:
            error: the exception the connection raised.
            connection: the connection it came from (an ssh one knows
                why its process ended).
            sent: the failure came after connecting, while sending the
                request or reading the answer.
        """
        log.debug("connection to %s failed: %r", self.host, error)
        if isinstance(connection, SSHConnection):
            detail = connection.ssh_error()
            if detail:
                return ConnectError(f"error during connect: {self.host}: "
                                    f"{detail}")
        dropped = isinstance(error, (ConnectionError, ssl.SSLEOFError))
        if sent and dropped and self.tls is None and \
                self.host.startswith("tcp://"):
            return ConnectError(
                f"error during connect: {self.host} closed the connection "
                "without answering: does it expect TLS (--tlsverify)?")
        if isinstance(error, ssl.SSLError) or (
                sent and dropped and self.tls is not None):
            return self._tls_error(error, sent)
        if isinstance(error, PermissionError):
            return ConnectError(
                "permission denied while trying to connect to the Docker "
                f"daemon socket at {self.host}: {_reason(error)}")
        if isinstance(error, (socket.gaierror, ValueError)):
            # ValueError: a name the resolver cannot even encode.
            return ConnectError(f"error during connect: {self.host}: "
                                f"{_reason(error)}")
        if isinstance(error, socket.timeout):
            return ConnectError(f"error during connect: {self.host}: "
                                "timed out")
        return ConnectError(_connect_message(self.host))

    def _tls_error(self, error, sent):
        """Explain a TLS failure, or a TLS connection the engine dropped.

        ``sent``: the handshake was over; the request was on its way.
        """
        reason = getattr(error, "reason", None) or ""
        if isinstance(error, ssl.SSLCertVerificationError):
            return ConnectError(
                "error during connect: tls: failed to verify the "
                f"certificate of {self.host}: {_verify_reason(error)}")
        dropped = isinstance(error, (ConnectionError, ssl.SSLEOFError))
        if reason in _CLIENT_CERT_ALERTS or (sent and dropped):
            # The engine checks client certificates (dockerd --tlsverify):
            # it sends an alert, or just hangs up, once it has seen ours.
            why = reason or "connection closed"
            return ConnectError(
                f"error during connect: tls: {self.host} refused the "
                f"connection ({why}): it wants a client certificate it "
                "trusts: check --tlscert and --tlskey (or cert.pem and "
                "key.pem in DOCKER_CERT_PATH)")
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE",
                      "UNEXPECTED_EOF_WHILE_READING"):
            return ConnectError(
                f"error during connect: {self.host} answered in plain "
                "HTTP, not TLS: drop --tls/--tlsverify or check the port")
        return ConnectError(
            f"error during connect: tls: {self.host}: {reason or error}")

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
                if reused and attempt == 1 and not chunked:
                    self.close()
                    continue
                failure = self._connect_error(error, connection, sent=True)
                self.close()
                raise failure from None
            except http.client.BadStatusLine as error:
                self.close()
                raise ConnectError(
                    f"error during connect: {self.host} did not answer in "
                    "HTTP: does it expect TLS (--tlsverify)?"
                ) from error
            except OSError as error:
                failure = self._connect_error(error, connection, sent=True)
                self.close()
                raise failure from None
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
    closer = None  # what could end the unfinished value at buffer[0]
    while True:
        chunk = _read_chunk(response)
        text = text_decoder.decode(chunk, final=not chunk)
        buffer += text
        if chunk and closer and closer not in text:
            # The value cannot have ended: no need to scan it all again,
            # which would cost time quadratic in its length.
            _check_message_size(buffer)
            continue
        end = yield from _decode_values(decoder, buffer, final=not chunk)
        buffer = buffer[end:]
        closer = _CLOSERS.get(buffer[:1])
        _check_message_size(buffer)
        if not chunk:
            return


# What may still follow a number that ends where the buffer ends.
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")
# What ends a JSON value that starts with each character.
_CLOSERS = {"{": "}", "[": "]", '"': '"'}


def _decode_values(decoder, buffer, final):
    """Yield the complete JSON values at the start of ``buffer``.

    Returns:
        Where the undecoded rest of ``buffer`` starts.

    Raises:
        StreamError: malformed JSON, or (when ``final``) a value cut short.
    """
    position = 0
    while True:
        while position < len(buffer) and buffer[position] in " \t\r\n":
            position += 1
        if position == len(buffer):
            return position
        try:
            value, end = decoder.raw_decode(buffer, position)
        except json.JSONDecodeError as error:
            if not _cut_short(error, buffer):
                raise StreamError("malformed JSON in the engine's answer: "
                                  f"{error.msg}") from None
            if final:
                raise StreamError("the engine's answer ended in the middle "
                                  "of a message") from None
            return position
        except (ValueError, RecursionError) as error:
            # Digits beyond Python's limit, or nesting beyond its stack.
            kind = ("nested too deeply" if isinstance(error, RecursionError)
                    else "a number too long")
            raise StreamError("malformed JSON in the engine's answer: "
                              f"{kind}") from None
        if not final and isinstance(value, (int, float)) and not \
                isinstance(value, bool) and _NUMBER_TAIL.fullmatch(
                    buffer, end):
            return position  # more of this number may follow: 1 then 2e3
        yield value
        position = end


def _check_message_size(buffer):
    """Refuse to hold an unfinished message beyond MAX_JSON_MESSAGE."""
    if len(buffer) > MAX_JSON_MESSAGE:
        raise StreamError("malformed JSON in the engine's answer: a "
                          f"message longer than {MAX_JSON_MESSAGE} bytes")


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
    return (not rest or any(word.startswith(rest) for word in _LITERALS)
            or re.fullmatch(r"-?[0-9.eE+-]*", rest) is not None)


# The words Python's JSON decoder reads, any of which a read may cut.
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")


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
        detail = message.get("errorDetail")
        error = detail.get("message") if isinstance(detail, dict) else detail
        error = error or message.get("error")
        if error:
            raise StreamError(error if isinstance(error, str)
                              else json.dumps(error))
        if "aux" in message:
            self.aux.append(message["aux"])
            return
        ident = _field(message, "id")
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
        if _field(message, "id"):
            prefix += "{}: ".format(_field(message, "id"))
        if _field(message, "from"):
            prefix += "(from {}) ".format(_field(message, "from"))
        status = _field(message, "status")
        if has_detail and self.terminal:
            return f"{prefix}{status} {bar}{end}"
        if _field(message, "progress"):
            progress = _field(message, "progress")
            return f"{prefix}{status} {progress}{end}"
        if _field(message, "stream"):
            return prefix + _field(message, "stream") + end
        return f"{prefix}{status}{end}\n"

    def _bar(self, detail):
        """Return docker's progress text: bar, counts and time left."""
        if not isinstance(detail, dict):
            return ""
        current = _progress_number(detail, "current")
        total = _progress_number(detail, "total")
        start = _progress_number(detail, "start")
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
        if start > 0 and 0 < current and percent < 50 and self._width() > 50:
            elapsed = max(0.0, time.time() - start)
            remaining = int(elapsed / current * (total - current))
            left = " " + go_duration(remaining)
        return bar + numbers + left


def _field(message, name):
    """Return a message field as text, ``""`` when absent or null.

    The engine sends strings; anything else is shown, never trusted.
    """
    value = message.get(name)
    if value is None or value == "":
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _progress_number(detail, name):
    """Return a progressDetail count as an int, 0 unless a sane number.

    Counts are Go int64s; anything else (text, nan, 10**400) is ignored
    rather than allowed to break the arithmetic of the bar.
    """
    value = detail.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if value != value or abs(value) >= 1 << 63:
        return 0
    return int(value)


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
        except RecursionError:
            config._mark_broken(f"{config.path} is not valid: nested too "
                                "deeply")
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
        except (ValueError, RecursionError):
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


# The JSON types docker's own config struct gives each key; anything else
# makes docker refuse the file, and so do we.
_CONFIG_OBJECTS = ("auths", "credHelpers", "HttpHeaders")
_CONFIG_STRINGS = ("credsStore", "detachKeys", "psFormat", "imagesFormat")
_AUTH_STRINGS = ("auth", "username", "password", "identitytoken",
                 "registrytoken", "email", "serveraddress")


def _check_config(data):
    """Raise ValueError for keys whose JSON type docker would refuse."""
    def check(value, kind, where):
        if value is not None and not isinstance(value, kind):
            name = "an object" if kind is dict else "a string"
            raise ValueError(f"{where} must be {name}")

    for section in _CONFIG_OBJECTS:
        check(data.get(section), dict, repr(section))
    for section in _CONFIG_STRINGS:
        check(data.get(section), str, repr(section))
    for section in ("credHelpers", "HttpHeaders"):
        for key, value in (data.get(section) or {}).items():
            check(value, str, f"{section}[{key!r}]")
    for key, entry in (data.get("auths") or {}).items():
        check(entry, dict, "every entry of 'auths'")
        for field in _AUTH_STRINGS:
            check((entry or {}).get(field), str, f"auths[{key!r}].{field}")


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
# DockerCli
# =========================================================================

# The commands in help order, with their one-line summaries.
COMMANDS = (
    ("images", "List images"),
    ("info", "Display system-wide information"),
    ("inspect", "Return low-level information on Docker objects"),
    ("login", "Log in to a registry"),
    ("logout", "Log out from a registry"),
    ("ps", "List containers"),
    ("pull", "Download an image from a registry"),
    ("rmi", "Remove one or more images"),
    ("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    ("version", "Show the Docker version information"),
)

# Docker's grouped forms: "image ls" runs "images", and so on.
GROUPS = {
    "image": ("Manage images", {
        "ls": "images", "list": "images", "pull": "pull", "rm": "rmi",
        "remove": "rmi", "tag": "tag", "inspect": "image_inspect"}),
    "container": ("Manage containers", {
        "ls": "ps", "list": "ps", "ps": "ps",
        "inspect": "container_inspect"}),
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
