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
    Templates        --format: a Go text/template subset, table alignment
    Stream rendering JSON progress messages on a terminal and off it
    Attached streams hijacked connections, frames, raw terminal, detach keys
    References       image references and registry keys
    Auth and config  config.json, credential helpers, X-Registry-Auth
    Build context    .dockerignore rules, the context as a streamed tar
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
    "TemplateError",
    "VersionError",
    "__version__",
    "encode_auth",
    "human_duration",
    "human_size",
    "main",
    "parse_bytes",
    "parse_host",
    "parse_reference",
    "parse_template",
    "registry_key",
    "split_repository_tag",
]

import base64
import http.client
import io
import json
import os
import re
import socket
import ssl
import sys
import time
import urllib.parse

# Modules only some commands need (subprocess, termios, getpass-like
# prompting, fcntl, tempfile, contextlib, logging) are imported inside the
# functions that use them, so that start-up costs no more than http.client
# itself (base64, re, socket, ssl, time and urllib.parse come with it).


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
# Raw streams (save, export, logs, load) are copied in larger pieces: the
# per-piece work of Python, not the bytes, is what limits their speed.
RAW_CHUNK = 1 << 20
# A JSON message larger than this, still unfinished, means a broken stream.
MAX_JSON_MESSAGE = 16 << 20
# Nesting deeper than this is refused when re-indenting, as Go's
# encoding/json refuses it.
MAX_JSON_DEPTH = 10000
# What of an error frame of a container's stream is kept.
MAX_ERROR_FRAME = 1 << 16
# Settings files, secrets on stdin and a credential helper's answer are
# small: anything larger than these is refused, not held in memory.
MAX_CONFIG_FILE = 16 << 20
MAX_PASSWORD = 1 << 20
# A whole (not streamed) answer larger than this is refused, not read: no
# engine answer needs as much, and a broken one must not fill memory.
MAX_ANSWER = 64 << 20

# Signals passed on to an attached container without a terminal, as
# docker's --sig-proxy does (SIGCHLD, SIGPIPE, SIGWINCH... are ours).
PROXIED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1",
                   "SIGUSR2", "SIGALRM")

# logging's own level numbers, fixed since Python 2.3.
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50


class _Logger:
    """The ``pydocker`` logger, importing ``logging`` only when a record
    can be shown.

    Importing logging costs about a third of what http.client costs, on
    every run.  A debug or info record cannot go anywhere while logging
    has never been imported (nothing can have configured a handler), or
    below the level the command line asked for, so it is dropped unseen.
    Warnings and errors always reach ``logging.getLogger("pydocker")``.
    """

    def __init__(self, name):
        self.name = name
        self.level = None  # set by the command line; None for a library
        self._logger = None

    def configure(self, level):
        """Show records from ``level`` up on stderr as ``LEVEL: text``."""
        self.level = level
        if self._logger is not None:
            self._apply()

    def _get(self):
        if self._logger is None:
            import logging
            self._logger = logging.getLogger(self.name)
            if self.level is not None:
                self._apply()
        return self._logger

    def _apply(self):
        import logging
        if not self._logger.handlers:
            # No stderr at all (2>&-): the records have nowhere to go.
            handler = (logging.StreamHandler(sys.stderr) if sys.stderr
                       else logging.NullHandler())
            handler.setFormatter(logging.Formatter(
                "%(levelname)s: %(message)s"))
            self._logger.addHandler(handler)
            self._logger.propagate = False
        self._logger.setLevel(self.level)

    def isEnabledFor(self, level):  # noqa: N802 - logging.Logger's name
        """Tell whether a record at ``level`` would be shown."""
        if self._logger is None:
            if self.level is not None and level < self.level:
                return False
            if self.level is None and level < WARNING and \
                    "logging" not in sys.modules:
                return False
        return self._get().isEnabledFor(level)

    def debug(self, message, *args):
        if self.isEnabledFor(DEBUG):
            self._get().debug(message, *args)

    def warning(self, message, *args):
        if self.isEnabledFor(WARNING):
            self._get().warning(message, *args)

    def __getattr__(self, name):
        # Anything else a caller wants of a Logger (setLevel, handlers,
        # info...) is the real logger's.
        return getattr(self._get(), name)


log = _Logger("pydocker")


class _Pattern:
    """A regular expression compiled the first time it is used.

    Compiling the module's patterns at import would cost every run, for
    the few that a command needs.
    """

    def __init__(self, pattern, flags=0):
        self.pattern = pattern
        self.flags = flags

    def __getattr__(self, name):
        # Called only for what the instance lacks: a method of the
        # compiled pattern, kept on the instance for the next calls.
        value = getattr(re.compile(self.pattern, self.flags), name)
        setattr(self, name, value)
        return value


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
    """Text that is not a valid image reference, name or ID."""


# What a command over several names reports for one name and goes on.
PER_NAME_ERRORS = (APIError, StreamError, InvalidReference)


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
        path = rest or DEFAULT_UNIX_SOCKET
        if len(os.fsencode(path)) >= _UNIX_PATH_MAX:
            raise ConfigError(f'unix socket path "{path}" is too long')
        return "unix://" + path
    if scheme == "ssh":
        _check_ssh_address(text, addr)
        return text
    if scheme == "fd":
        return text
    if scheme != "tcp":
        raise ConfigError(f"invalid bind address format: {addr}")
    return "tcp://" + _parse_tcp_address(rest, addr, tls)


# The size of sockaddr_un.sun_path on Linux, its final NUL included.
_UNIX_PATH_MAX = 108
# Characters a host name or address may have (unicode letters included,
# for international names), and those an API base path may have.
_HOST_NAME = _Pattern(r"[\w.-]*", re.UNICODE)
_IPV6_HOST = _Pattern(r"\[[0-9a-fA-F:.]+(?:%[\w.-]+)?\]")
_BASE_PATH = _Pattern(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")


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
    if not host.startswith("["):
        try:
            # What the resolver will do with it: labels of 1-63 octets.
            host.encode("idna")
        except UnicodeError:
            raise ConfigError(f"invalid bind address format: {addr}: "
                              "a host name label is empty or longer "
                              "than 63 characters") from None
    if not port_text:
        port = DEFAULT_TLS_PORT if tls and not host else DEFAULT_TCP_PORT
    elif re.fullmatch(r"[0-9]{1,5}", port_text) and \
            0 < int(port_text) < 65536:
        # ASCII digits only: str.isdigit() also takes "²" and "٣".
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
        def no_passphrase():
            # Else OpenSSL asks for one on the terminal, and waits.
            raise ConfigError(f"could not load X509 key pair {cert!r}, "
                              f"{key!r}: the key is encrypted: give an "
                              "unencrypted key")

        try:
            context.load_cert_chain(cert, key, password=no_passphrase)
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


class _http_version:  # noqa: N801 - used as a function, in a with
    """Send one request of ``connection`` in HTTP/1.0 when ``raw``.

    http.client has no public switch for the request line's version; the
    class attributes it reads are set on the instance, then removed.
    HTTP/1.0 adds no Host header by itself, so it is added here.
    """

    def __init__(self, connection, raw, headers):
        self.connection = connection
        self.raw = raw and not isinstance(connection, SSHConnection)
        if self.raw:
            host = connection.host
            if ":" in host:
                host = f"[{host}]"
            if connection.port != connection.default_port:
                host = f"{host}:{connection.port}"
            headers.setdefault("Host", host)

    def __enter__(self):
        if self.raw:
            self.connection._http_vsn = 10
            self.connection._http_vsn_str = "HTTP/1.0"

    def __exit__(self, *exc_info):
        if self.raw:
            del self.connection._http_vsn, self.connection._http_vsn_str


def _file_size(body):
    """Return how many bytes a regular file body has left, else None."""
    try:
        status = os.fstat(body.fileno())
        position = body.tell()
    except (AttributeError, OSError, ValueError):
        return None
    import stat
    if not stat.S_ISREG(status.st_mode):
        return None
    return max(0, status.st_size - position)


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
        if self.api_version and self.api_version < parse_api_version(
                MIN_API_VERSION):
            raise ConfigError(f"API version {version} is too old: pydocker "
                              f"speaks {MIN_API_VERSION} and newer")
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
                values = value if isinstance(value, (list, tuple)) else [value]
                for item in values:
                    if item is None or item is False:
                        continue
                    pairs.append((key, "1" if item is True else str(item)))
            if pairs:
                path += "?" + urllib.parse.urlencode(pairs)
        return self._base + path

    def request(self, method, path, params=None, body=None, headers=None,
                stream=False, versioned=True, raw=False):
        """Send one request and return the response once it is successful.

        Args:
            method: the HTTP method.
            path: the API path without the version, e.g. ``/images/json``.
            params: query values; None and False are left out, True is 1,
                a list repeats its key for each item.
            body: bytes, a dict or list (sent as JSON), an iterable of bytes
                (sent chunked) or None.
            headers: extra headers for this request.
            stream: the answer may take as long as it likes (no timeout).
            versioned: prefix the path with the negotiated version.
            raw: ask in HTTP/1.0, so that the engine sends a large body
                as it is, without chunked encoding, and ends it by
                closing the connection (reading it costs less); the next
                request opens a new connection.  Ignored over ssh, where
                a connection is a whole ssh process.

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
        elif _file_size(body) is not None:
            # A regular file: sent whole from its current position.
            all_headers["Content-Length"] = str(_file_size(body))
        elif body is not None and not isinstance(body, (bytes, bytearray)):
            chunked = True
            all_headers["Transfer-Encoding"] = "chunked"
        log.debug("request: %s %s %s", method, redact_target(target),
                  redact_headers(all_headers))
        response = self._send(method, target, body, all_headers, chunked,
                              stream, raw)
        log.debug("response: %s %s", response.status, response.reason)
        if not 200 <= response.status < 300:
            # 1xx and 3xx too: a switched protocol or a redirect is no
            # answer to a request that did not ask for one.
            raise self._api_error(response)
        return response

    def _send(self, method, target, body, headers, chunked, stream,
              raw=False):
        """Send a request, retrying once on a keep-alive that went stale."""
        for attempt in (1, 2):
            reused = self._connection is not None
            connection = self._connect()
            try:
                connection.sock.settimeout(None if stream else self.timeout)
                connection.blocksize = RAW_CHUNK  # for a file body
                with _http_version(connection, raw, headers):
                    connection.request(method, target, body=body,
                                       headers=headers,
                                       encode_chunked=chunked)
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
            except http.client.HTTPException as error:
                # Headers too long or too many: not an answer to read.
                self.close()
                raise _read_failure(error) from None
            except OSError as error:
                failure = self._connect_error(error, connection, sent=True)
                self.close()
                raise failure from None
            self._response = response
            return response
        raise AssertionError("unreachable")

    def _api_error(self, response):
        """Read an error answer and return the APIError to raise."""
        try:
            raw = response.read(1 << 20)
        except (OSError, http.client.HTTPException):
            raw = b""  # the status alone must do
        self._response = None
        if response.status < 400:
            # After a 101 the connection speaks something else, and a
            # redirect's body is of no use: start afresh next time.
            self.close()
        text = raw.decode("utf-8", "replace").strip()
        message = text
        try:
            decoded = json.loads(text)
            if isinstance(decoded, dict) and "message" in decoded:
                message = decoded["message"]
                if not isinstance(message, str):
                    message = json.dumps(message)
        except (ValueError, RecursionError):
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
        read_all(response)
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

    def is_podman(self):
        """Return True when the engine is Podman's Docker-compatible API.

        Podman names itself in a ``Libpod-Api-Version`` header on
        ``/_ping``; pydocker works around its differences only then.
        """
        if not self.ping_headers:  # a pinned version skipped the ping
            self.ping()
        return "libpod-api-version" in self.ping_headers

    # Small request helpers -------------------------------------------------

    def _json(self, method, path, params=None, body=None, headers=None,
              shape=None):
        """Send a request and return its decoded JSON answer (or None).

        ``shape`` is what the answer must be (see ``decode_answer``).
        """
        response = self.request(method, path, params, body, headers)
        raw = read_all(response)
        self._response = None
        if not raw.strip():
            return None
        return decode_answer(raw, f"{method} {path}", shape)

    def _get(self, path, params=None, shape=None):
        return self._json("GET", path, params, shape=shape)

    def _post(self, path, params=None, body=None, headers=None,
              shape=None):
        return self._json("POST", path, params, body, headers, shape)

    def _delete(self, path, params=None, shape=None):
        return self._json("DELETE", path, params, shape=shape)

    def _stream_raw(self, method, path, params=None, body=None):
        """Send a request and yield its answer's bytes in bounded chunks."""
        response = self.request(method, path, params, body, stream=True,
                                raw=True)
        while True:
            chunk = _read_chunk(response, RAW_CHUNK)
            if not chunk:
                break
            yield chunk
        self._response = None

    def _stream_json(self, method, path, params=None, body=None,
                     headers=None):
        """Send a request and yield the JSON messages of its answer."""
        response = self.request(method, path, params, body, headers,
                                stream=True)
        yield from json_messages(response)
        self._response = None

    # Engine and system -----------------------------------------------------

    def version(self):
        """Return the engine's ``/version`` answer (``Version``,
        ``ApiVersion``, ``Components``...).

        Raises:
            ConnectError, APIError.
        """
        return self._get("/version", shape=dict)

    def info(self):
        """Return the engine's ``/info`` answer (``Containers``,
        ``ServerVersion``, ``Driver``...).

        Raises:
            ConnectError, APIError.
        """
        return self._get("/info", shape=dict)

    def auth(self, auth):
        """Check credentials with the engine's ``/auth``.

        Args:
            auth: ``{"username", "password", "serveraddress"}``.

        Returns:
            The answer: ``{"Status", "IdentityToken"}``.
        """
        address = auth.get("serveraddress")
        if address and self.is_podman():
            auth = dict(auth, serveraddress=podman_auth_address(address))
        return self._post("/auth", body=auth, shape=dict) or {}

    def events(self, since=None, until=None, filters=None):
        """Yield the engine's events as they happen.

        Args:
            since, until: Unix timestamps as text (``"1700000000.5"``);
                without ``until`` the stream goes on until closed.
            filters: ``{"key": ["value", ...]}``.
        """
        params = {"since": since, "until": until,
                  "filters": encode_filters(filters)}
        if until is None or not self.is_podman():
            return self._stream_json("GET", "/events", params)
        # Podman 4.3 (file backend) ends its stream when ``until`` comes,
        # at once for a past time, before it has read what was stored:
        # ask for the stored events without streaming, and stop here.
        end = float(until)
        if end > time.time():
            return self._stream_json("GET", "/events", params)
        params.update(until=None, stream="false")
        return (event for event in self._stream_json("GET", "/events",
                                                     params)
                if not isinstance(event, dict)
                or event.get("timeNano", 0) / 1e9 <= end)

    def disk_usage(self):
        """Return the engine's ``/system/df`` answer."""
        return self._get("/system/df", shape=dict) or {}

    # Images ----------------------------------------------------------------

    def images(self, all=False, filters=None):  # noqa: A002 - API word
        """Return the engine's list of images (``GET /images/json``).

        Args:
            all: include intermediate images.
            filters: ``{"reference": ["busybox"], "dangling": ["true"]}``;
                a single value may be given without a list.

        Returns:
            A list of dicts (``Id``, ``RepoTags``, ``Created``, ``Size``...).

        Raises:
            ConnectError, APIError.
        """
        return self._get("/images/json", {
            "all": all, "filters": encode_filters(filters)}, shape=[dict])

    def inspect_image(self, name):
        """Return the engine's description of an image.

        Raises:
            NotFound: no such image; ConnectError, APIError.
        """
        return self._get(f"/images/{quote(name)}/json", shape=dict)

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
        """Give ``image`` the name ``repository:tag``.

        Raises:
            NotFound: no such image; APIError: a bad name.
        """
        self._post(f"/images/{quote(image)}/tag",
                   {"repo": repository, "tag": tag or None})

    def remove_image(self, image, force=False, noprune=False):
        """Remove an image or one of its names.

        Returns:
            The engine's list of what it did: ``[{"Untagged": ...},
            {"Deleted": ...}]``.

        Raises:
            NotFound: no such image; APIError: in use (without force).
        """
        return self._delete(f"/images/{quote(image)}",
                            {"force": force, "noprune": noprune},
                            shape=[dict]) or []

    def push(self, reference, auth=None, all_tags=False):
        """Push an image and yield the engine's progress messages.

        Args:
            reference: a ``Reference`` or text such as ``host/name:tag``.
            auth: the credentials dict (see ``encode_auth``) or None.
            all_tags: push every local tag of the repository.

        Raises:
            APIError: the engine refused; StreamError: the push failed.
        """
        if not isinstance(reference, Reference):
            reference = parse_reference(reference)
        params = {} if all_tags else {"tag": reference.tag or "latest"}
        headers = {"X-Registry-Auth": encode_auth(auth or {})}
        return self._stream_json(
            "POST", f"/images/{quote(reference.name)}/push", params,
            headers=headers)

    def build(self, context, params=None, registry_config=None):
        """Build an image with the classic builder; yield its messages.

        Args:
            context: the build context as an iterable of tar bytes (sent
                chunked, as it is produced), or None when ``params`` names
                a ``remote`` context.
            params: the query values of ``POST /build`` (``t``,
                ``dockerfile``, ``buildargs``, ...).
            registry_config: ``{registry key: credentials}`` for the
                images the build pulls.
        """
        headers = {"Content-Type": "application/x-tar",
                   "X-Registry-Config": encode_auth(registry_config or {})}
        return self._stream_json("POST", "/build", params, body=context,
                                 headers=headers)

    def save(self, names):
        """Yield the bytes of a tar holding the images ``names``."""
        response = self.request("GET", "/images/get", {"names": list(names)},
                                stream=True, raw=True)
        yield from raw_chunks(response)
        self._response = None

    def load(self, data, quiet=False):
        """Load images from a tar given as a regular binary file (sent from
        its current position) or an iterable of bytes.

        Yields the engine's JSON messages; an answer in plain text (old
        engines) comes as ``{"stream": text}`` messages.
        """
        response = self.request("POST", "/images/load", {"quiet": quiet},
                                body=data, stream=True)
        if (response.getheader("Content-Type") or "").startswith(
                "application/json"):
            yield from json_messages(response)
        else:
            for chunk in raw_chunks(response):
                yield {"stream": chunk.decode("utf-8", "replace")}
        self._response = None

    def import_image(self, source, data=None, repository=None,
                     message=None, changes=None, platform=None):
        """Make an image from a root filesystem tar; yield the messages.

        Args:
            source: ``"-"`` when ``data`` holds the tar (an iterable of
                bytes), else a URL the engine fetches itself.
            repository: ``name[:tag]`` for the new image, or None.
            message: the commit message; changes: Dockerfile instructions
                such as ``CMD ["sh"]``; platform: e.g. ``linux/amd64``.
        """
        if platform:
            self.require_version("1.32", "--platform")
        params = {"fromSrc": source, "repo": repository or None,
                  "message": message or None, "changes": changes or None,
                  "platform": platform or None}
        return self._stream_json("POST", "/images/create", params,
                                 body=data)

    def history(self, image):
        """Return the layers of an image, newest first."""
        return self._get(f"/images/{quote(image)}/history",
                         shape=[dict]) or []

    def prune_images(self, filters=None):
        """Remove unused images; return ``{ImagesDeleted, SpaceReclaimed}``.
        """
        return self._post("/images/prune",
                          {"filters": encode_filters(filters)},
                          shape=dict) or {}

    def search(self, term, limit=None, filters=None, auth=None):
        """Search the registry's index (Docker Hub) for ``term``."""
        params = {"term": term, "limit": limit or None,
                  "filters": encode_filters(filters)}
        response = self.request(
            "GET", "/images/search", params,
            headers={"X-Registry-Auth": encode_auth(auth or {})})
        raw = read_all(response)
        self._response = None
        return decode_answer(raw or b"[]", "GET /images/search", [dict])

    # Containers ------------------------------------------------------------

    def containers(self, all=False, filters=None, limit=None,  # noqa: A002
                   size=False):
        """Return the engine's list of containers (``GET /containers/json``).

        Args:
            all: include stopped containers (default: running only).
            filters: ``{"name": ["web"], "status": ["exited"]}``.
            limit: only the ``limit`` most recently created.
            size: ask for ``SizeRw``/``SizeRootFs`` (slower).

        Returns:
            A list of dicts (``Id``, ``Names``, ``Image``, ``State``...).

        Raises:
            ConnectError, APIError.
        """
        return self._get("/containers/json", {
            "all": all, "filters": encode_filters(filters),
            "limit": limit, "size": size}, shape=[dict])

    def inspect_container(self, container):
        """Return the engine's description of a container.

        Raises:
            NotFound: no such container; ConnectError, APIError.
        """
        return self._get(f"/containers/{quote(container)}/json",
                         shape=dict)

    def inspect_raw(self, kind, name, size=False):
        """Return the engine's JSON bytes describing an object, unparsed.

        Args:
            kind: ``"containers"`` or ``"images"``.
            name: a name or ID.
            size: for containers, add ``SizeRw`` and ``SizeRootFs``.

        Raises:
            NotFound: no such object; ConnectError, APIError.
        """
        params = {"size": size} if kind == "containers" else None
        response = self.request("GET", f"/{kind}/{quote(name)}/json",
                                params)
        raw = read_all(response)
        self._response = None
        return raw

    def clone(self):
        """Return a new Client for the same engine, with its own connection.

        Commands that follow several streams at once (``stats``) use one
        connection per stream.
        """
        other = Client(self.host, tls=self.tls,
                       version=format_api_version(self.negotiate()),
                       timeout=self.timeout)
        other.headers = dict(self.headers)
        other.pinned = self.pinned
        return other

    def abort(self):
        """Cut the connection from another thread and close it.

        A thread blocked reading a stream (``stats``) wakes up with an
        error instead of waiting for the engine's next message.
        """
        connection = self._connection
        if connection is not None and connection.sock is not None:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone
        self.close()

    # Container lifecycle ----------------------------------------------------

    def stop(self, container, timeout=None, signal=None):
        """Stop a container, killing it after ``timeout`` seconds.

        Args:
            container: a name or ID.
            timeout: seconds to wait; None lets the engine decide.
            signal: the signal to stop with (API 1.42); None: its own.
        """
        self._post(f"/containers/{quote(container)}/stop",
                   self._stop_params(timeout, signal))

    def restart(self, container, timeout=None, signal=None):
        """Restart a container (see ``stop`` for the arguments)."""
        self._post(f"/containers/{quote(container)}/restart",
                   self._stop_params(timeout, signal))

    def _stop_params(self, timeout, signal):
        if signal:
            self.require_version("1.42", "--signal")
        return {"t": timeout, "signal": signal or None}

    def kill(self, container, signal=None):
        """Send a signal (default SIGKILL) to a container's main process."""
        self._post(f"/containers/{quote(container)}/kill",
                   {"signal": signal or None})

    def pause(self, container):
        """Freeze every process of a container."""
        self._post(f"/containers/{quote(container)}/pause")

    def unpause(self, container):
        """Thaw a paused container."""
        self._post(f"/containers/{quote(container)}/unpause")

    def rename(self, container, name):
        """Give a container a new name."""
        self._post(f"/containers/{quote(container)}/rename",
                   {"name": name})

    def update_container(self, container, resources):
        """Change a container's resources or restart policy.

        Args:
            resources: engine fields such as ``{"Memory": 67108864}``.

        Returns:
            The answer: ``{"Warnings": [...]}``.
        """
        return self._post(f"/containers/{quote(container)}/update",
                          body=resources, shape=dict) or {}

    def prune_containers(self, filters=None):
        """Remove stopped containers.

        Returns:
            ``{"ContainersDeleted": [...], "SpaceReclaimed": bytes}``.
        """
        return self._post("/containers/prune",
                          {"filters": encode_filters(filters)},
                          shape=dict) or {}

    def commit(self, container, repository=None, tag=None, message=None,
               author=None, changes=None, pause=True):
        """Make an image of a container's filesystem and settings.

        Args:
            container: a name or ID.
            repository, tag: the new image's name, or None for none.
            message, author: stored in the image.
            changes: Dockerfile instructions (``CMD ["sh"]``) to apply.
            pause: freeze the container while committing.

        Returns:
            The answer: ``{"Id": "sha256:..."}``.
        """
        return self._post("/commit", {
            "container": container, "repo": repository, "tag": tag,
            "comment": message or None, "author": author or None,
            "changes": list(changes or []),
            # The engine pauses unless told otherwise, so say 0 outright.
            "pause": "1" if pause else "0"},
            # No settings to change, but Podman 4.3 refuses an empty body.
            body={}, shape=dict) or {}

    # Container contents -----------------------------------------------------

    def top(self, container, ps_args=None):
        """Return a container's processes: ``{"Titles", "Processes"}``."""
        return self._get(f"/containers/{quote(container)}/top",
                         {"ps_args": ps_args or None}, shape=dict)

    def diff(self, container):
        """Return a container's filesystem changes: ``[{"Path", "Kind"}]``.

        Kind 0 is a modified path, 1 an added one, 2 a deleted one.
        """
        return self._get(f"/containers/{quote(container)}/changes",
                         shape=[dict]) or []

    def stats(self, container, stream=True):
        """Yield a container's resource usage samples, one a second.

        With ``stream`` false the engine answers once (after two samples,
        so that ``precpu_stats`` is filled in).
        """
        return self._stream_json("GET",
                                 f"/containers/{quote(container)}/stats",
                                 {"stream": "1" if stream else "0"})

    def export(self, container):
        """Yield a tar of a container's whole filesystem, in chunks."""
        return self._stream_raw("GET",
                                f"/containers/{quote(container)}/export")

    def stat_path(self, container, path):
        """Return what the engine knows of a path inside a container.

        Returns:
            ``{"name", "size", "mode", "mtime", "linkTarget"}``; ``mode``
            carries Go's file mode bits (see ``GO_MODE_DIR``).
        """
        response = self.request("HEAD",
                                f"/containers/{quote(container)}/archive",
                                {"path": path})
        read_all(response)
        self._response = None
        return _path_stat(response)

    def get_archive(self, container, path):
        """Start reading a tar of ``path`` from a container.

        Returns:
            ``(stat, response)``: the path's stat (see ``stat_path``) and
            the unread answer whose body is the tar; read it to the end.
        """
        response = self.request("GET",
                                f"/containers/{quote(container)}/archive",
                                {"path": path}, stream=True)
        return _path_stat(response), response

    def put_archive(self, container, path, data, copy_uid_gid=False):
        """Extract a tar into a directory of a container.

        Args:
            path: the directory to extract into; it must exist.
            data: the tar as bytes or an iterable of bytes (streamed).
            copy_uid_gid: keep the tar's owners instead of the
                container's root.
        """
        response = self.request(
            "PUT", f"/containers/{quote(container)}/archive",
            {"path": path, "noOverwriteDirNonDir": True,
             "copyUIDGID": copy_uid_gid}, body=data, stream=True)
        read_all(response)
        self._response = None


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
                          body=config, shape=dict)

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
        log.debug("request: POST %s (answer read later)",
                  redact_target(target))
        return PendingAnswer(self._open_own_connection(), target,
                             dict(self.headers), self._api_error)

    def remove_container(self, container, force=False, volumes=False,
                         link=False):
        """Remove a container (``-f`` kills a running one first)."""
        self._delete(f"/containers/{quote(container)}",
                     {"force": force, "v": volumes, "link": link})

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
                                stream=True, raw=True)
        yield from demultiplex(lambda: _read_chunk(response, RAW_CHUNK), tty)
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
                          body=config, shape=dict)

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
        return self._get(f"/exec/{quote(exec_id)}/json", shape=dict)

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
        log.debug("request: %s %s %s", method, redact_target(target),
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
        if response.status != 101 and not 200 <= response.status < 300:
            try:
                raise self._api_error(response)
            finally:
                connection.close()
        if response.status == 101:
            # What the engine sent right after the headers is already in
            # the response's buffer: it is the start of the stream.
            return Hijacked(sock, response.fp, connection)
        return Hijacked(sock, response, connection)

# Go's os.FileMode bits for a directory and a symbolic link, as the
# engine's X-Docker-Container-Path-Stat header carries them.
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27


def _path_stat(response):
    """Decode the path stat header of an archive answer (or ``{}``)."""
    header = response.getheader("X-Docker-Container-Path-Stat") or ""
    try:
        stat = json.loads(base64.b64decode(header) or b"{}")
    except ValueError:
        raise StreamError("malformed path stat from the engine") from None
    return stat if isinstance(stat, dict) else {}


def raw_chunks(response):
    """Yield a streamed answer's bytes in bounded chunks as they arrive.

    Raises:
        StreamError: the connection failed while reading.
    """
    while True:
        chunk = _read_chunk(response, RAW_CHUNK)
        if not chunk:
            return
        yield chunk


# C0 and C1 control characters, DEL included, except the tab.
_CONTROLS = _Pattern("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def escape_controls(text):
    """Return ``text`` with control characters written as escapes.

    ``\\n`` and ``\\r`` for line ends, ``\\x1b`` and so on for the rest:
    the text then prints as one line that cannot move the cursor.
    """
    return _CONTROLS.sub(lambda match: _CONTROL_ESCAPES.get(
        match.group(), f"\\x{ord(match.group()):02x}"), text)


def _one_line(text, limit=300):
    """Fold whitespace so that ``text`` prints as one line, cut short."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[:limit - 3] + "..."


def read_all(response, limit=None):
    """Read a whole (non-streamed) answer of at most ``limit`` bytes
    (default MAX_ANSWER).

    Raises:
        StreamError: the connection failed before the answer's end, or
            the answer is longer than ``limit``.
    """
    limit = MAX_ANSWER if limit is None else limit
    try:
        raw = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as error:
        raise _read_failure(error) from None
    if len(raw) > limit:
        response.close()
        raise StreamError("the engine's answer is larger than "
                          f"{limit >> 20} MiB: not read")
    return raw


def _read_failure(error):
    """Return the StreamError for a read that failed with ``error``."""
    if isinstance(error, http.client.IncompleteRead):
        return StreamError("the engine's answer ended in the middle of a "
                           "message: connection lost")
    if isinstance(error, http.client.LineTooLong):
        return StreamError("malformed HTTP in the engine's answer: a "
                           "header or chunk line too long")
    if isinstance(error, http.client.HTTPException):
        detail = "too many headers" if "headers" in str(error) else ""
        return StreamError("malformed HTTP in the engine's answer"
                           + (f": {detail}" if detail else ""))
    reason = _reason(error) or "connection lost"
    return StreamError(f"error reading the engine's answer: {reason}")


# The Go types of the answer fields pydocker reads, as the engine's
# structs declare them: a value of another type is refused, as Go's
# json.Unmarshal refuses it, and null reads as the type's zero value for
# scalars (a null list or map stays null: templates show it as such).
# A key with several types names fields of different structs.
_INT = (int,)
_TEXT = (str,)
_FLAG = (bool,)
_ANSWER_FIELDS = {
    **dict.fromkeys((
        "Id", "ID", "Name", "Image", "ImageID", "Command", "Status",
        "Untagged", "Deleted", "Version", "ApiVersion", "MinAPIVersion",
        "GitCommit", "GoVersion", "Os", "Arch", "KernelVersion", "BuildTime",
        "OSType", "Architecture", "ServerVersion", "Driver",
        "OperatingSystem", "CgroupDriver", "CgroupVersion", "DockerRootDir",
        "LoggingDriver", "DefaultRuntime", "HostIp", "HostPort", "IP",
        "Type", "CreatedBy", "Comment", "Source", "Destination", "Mode",
        "Path", "Action", "ParentId", "Warning", "Error"), _TEXT),
    **dict.fromkeys((
        "Size", "SharedSize", "VirtualSize", "PrivatePort", "PublicPort",
        "SizeRw", "SizeRootFs", "ExitCode", "StatusCode", "RefCount",
        "NCPU", "MemTotal", "SpaceReclaimed", "LayersSize", "UsageCount",
        "ContainersRunning", "ContainersPaused", "ContainersStopped",
        "Pid", "Kind"), _INT),
    **dict.fromkeys((
        "Running", "Paused", "Restarting", "Tty", "OpenStdin",
        "AttachStdin", "Debug", "LiveRestoreEnabled", "InUse", "Shared",
        "Experimental"), _FLAG + _TEXT),
    **dict.fromkeys((
        "HostConfig", "Config", "NetworkSettings", "RestartPolicy",
        "RegistryConfig", "Networks", "Details", "Plugins", "UsageData",
        "IndexConfigs"), (dict,)),
    **dict.fromkeys((
        "RepoTags", "RepoDigests", "Names", "Warnings", "Env", "Tags",
        "Titles", "Processes", "Images", "Volumes", "Components",
        "ImagesDeleted", "ContainersDeleted", "Mounts", "BuildCache",
        "SecurityOptions"), (list, dict, int)),
    "Ports": (list, dict),
    "Labels": (dict, list),
    "Platform": (dict, str),
    "State": (str, dict),
    "Created": (int, float, str),
    "Containers": (int, list, dict),
}
# What a list of each kind may hold.
_LIST_ITEMS = {
    "RepoTags": _TEXT, "RepoDigests": _TEXT, "Names": _TEXT,
    "Warnings": _TEXT, "Env": _TEXT, "Tags": _TEXT, "Titles": _TEXT,
    "Processes": (list,), "Ports": (dict,), "Mounts": (dict,),
    "Components": (dict,), "ImagesDeleted": (dict,),
    "ContainersDeleted": _TEXT, "SecurityOptions": _TEXT,
    "Images": (dict,), "Volumes": (dict,), "BuildCache": (dict,),
    "Containers": (dict,), "Labels": _TEXT,
}
_ZERO = {_TEXT: "", _INT: 0, _FLAG + _TEXT: False}
_TYPE_WORDS = {dict: "an object", list: "a list", str: "a string",
               int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}


def decode_answer(raw, where, shape=None):
    """Decode an engine's JSON answer and check it has the Go types the
    engine's structs give it.

    Args:
        raw: the answer's bytes.
        where: the request, for messages (``GET /version``).
        shape: what the whole answer must be: ``dict`` (an object),
            ``[dict]`` (a list of objects), or None (anything).

    Raises:
        StreamError: not JSON, nested too deeply, or of another shape.
    """
    try:
        value = json.loads(raw)
        kind = list if isinstance(shape, list) else shape
        if kind is not None and not isinstance(value, kind):
            raise _ShapeError(f"the answer is {_type_word(value)}, not "
                              f"{_TYPE_WORDS[kind]}")
        items = value if isinstance(shape, list) else [value]
        for item in items:
            if shape == [dict] and not isinstance(item, dict):
                raise _ShapeError(f"a list item is {_type_word(item)}, "
                                  "not an object")
            _conform(item)
    except _ShapeError as error:
        raise StreamError(f"unexpected answer from the engine on {where}: "
                          f"{error}") from None
    except RecursionError:
        raise StreamError(f"malformed JSON from the engine on {where}: "
                          "nested too deeply") from None
    except ValueError:
        raise StreamError(f"malformed JSON from the engine on {where}"
                          ) from None
    return value


class _ShapeError(Exception):
    """An engine answer with a field of the wrong type (internal)."""


def _type_word(value):
    return _TYPE_WORDS.get(type(value), type(value).__name__)


def _conform(value):
    """Check the known fields of every object inside ``value`` in place.

    Raises:
        _ShapeError: a field of another type than the engine's Go type.
    """
    if isinstance(value, list):
        for item in value:
            _conform(item)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        allowed = _ANSWER_FIELDS.get(key)
        if item is None and allowed in _ZERO:
            value[key] = _ZERO[allowed]
        elif allowed is not None and item is not None:
            _check_field(key, item, allowed)
        _conform(item)


def _check_field(key, item, allowed):
    """Refuse a field whose value the engine's Go type could not hold.

    Raises:
        _ShapeError: naming the field and what it is.
    """
    if not isinstance(item, allowed) or (
            isinstance(item, bool) and bool not in allowed) or (
            isinstance(item, (int, float)) and not
            isinstance(item, bool) and not _go_number(item)):
        raise _ShapeError(f"{key} is {_type_word(item)}")
    members = _LIST_ITEMS.get(key)
    if members and isinstance(item, list):
        for member in item:
            if not isinstance(member, members):
                raise _ShapeError(f"an item of {key} is "
                                  f"{_type_word(member)}")


def _go_number(number):
    """Tell whether a JSON number fits the engine's int64 and float64."""
    return number == number and abs(number) < (1 << 63)


def quote(name):
    """Quote a name or ID for use inside an API path.

    Raises:
        InvalidReference: an empty name, ``.`` or ``..``: in a path
            they would name another endpoint, which the engine answers
            with a redirect.
    """
    if not name:
        raise InvalidReference("invalid name or ID: value is empty")
    if name in (".", ".."):
        raise InvalidReference(f"invalid name or ID: {go_quote(name)}")
    return urllib.parse.quote(name, safe="")


def encode_filters(filters):
    """Return the engine's JSON form of ``{"key": ["value", ...]}``."""
    if not filters:
        return None
    return json.dumps({key: (values if isinstance(values, list)
                             else [values])
                       for key, values in filters.items()})


def redact_target(target):
    """Return a request target with secret query values replaced.

    ``buildargs`` may carry passwords and tokens passed to a build.
    """
    path, question, query = target.partition("?")
    if not question:
        return target
    pairs = [(key, "<redacted>" if key in ("buildargs",) else value)
             for key, value in urllib.parse.parse_qsl(
                 query, keep_blank_values=True)]
    return path + "?" + urllib.parse.urlencode(pairs, safe="<>")


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
_NUMBER_TAIL = _Pattern(r"[0-9.eE+-]*")
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


def _read_chunk(response, size=STREAM_CHUNK):
    """Return the next bytes of a streamed answer, ``b""`` at its end.

    Raises:
        StreamError: the connection failed while reading.
    """
    try:
        return response.read1(size)
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


def format_table(rows, minimum=10):
    """Return rows of cells aligned as docker's tabwriter aligns them.

    Every column but the last is padded to its widest cell plus three
    spaces, and to at least ``minimum`` characters (``top`` uses 20).
    """
    if not rows:
        return ""
    widths = [max(minimum, max(len(row[i]) for row in rows) + 3)
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


_JSON_TOKEN = _Pattern(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+',
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
                if depth > MAX_JSON_DEPTH:
                    # The output would grow with the square of the depth.
                    raise StreamError("malformed JSON in the engine's "
                                      "answer: nested too deeply")
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
# Templates
# =========================================================================

# A Go text/template subset for --format: the lexer, parser and evaluator
# below are used only when a command is given --format, so a plain run
# never pays for them.  Values are the engine's decoded JSON (dicts are Go
# maps) or FormatContext objects (Go structs with docker's field names).


class TemplateError(DockerError):
    """A --format template that does not parse or does not execute.

    The text is Go's (``template: :1: unclosed action``) so that messages
    read as docker's.
    """


class _NoValue:
    """What a missing map key yields, printed as Go prints it."""

    def __repr__(self):
        return "<no value>"

    def __bool__(self):
        return False


NO_VALUE = _NoValue()


class GoMap(dict):
    """A JSON object that is a Go map in the engine's types (``Labels``).

    A missing key is ``<no value>`` even where a missing struct field is
    an error; ``index`` gives ``zero`` for it (``""`` for string maps).
    """

    zero = NO_VALUE


class _StringMap(GoMap):
    zero = ""


class _NilList(list):
    """A null the engine's types hold as a slice: ``[]``, JSON ``null``."""


class _NilMap(GoMap):
    """A null the engine's types hold as a map: ``map[]``, JSON ``null``."""


class _NilStringMap(_NilMap):
    zero = ""


# Keys whose values the engine's Go types hold as maps or slices, so that
# inspect templates print them as docker's typed structs do.
_STRING_MAP_KEYS = frozenset((
    "Labels", "Options", "DriverOpts", "Sysctls", "StorageOpt", "Tmpfs",
    "Annotations"))
_MAP_KEYS = frozenset(("Volumes", "ExposedPorts", "Ports", "Networks",
                       "PortBindings")) | _STRING_MAP_KEYS
_SLICE_KEYS = frozenset((
    "Env", "Cmd", "Entrypoint", "Args", "Binds", "Links", "Dns",
    "DnsOptions", "DnsSearch", "ExtraHosts", "CapAdd", "CapDrop",
    "GroupAdd", "SecurityOpt", "Mounts", "OnBuild", "RepoTags",
    "RepoDigests", "Aliases", "Devices", "DeviceRequests", "Layers",
    "Shell", "VolumesFrom", "Ulimits", "MaskedPaths", "ReadonlyPaths"))


def go_typed(value, key=None):
    """Mark maps and null slices of engine JSON as Go's types hold them.

    Returns the value with GoMap, _NilList and _NilMap where the key
    says what the engine's Go type is.
    """
    if isinstance(value, dict):
        typed = {name: go_typed(item, name) for name, item in value.items()}
        if key in _STRING_MAP_KEYS:
            return _StringMap(typed)
        return GoMap(typed) if key in _MAP_KEYS else typed
    if isinstance(value, list):
        return [go_typed(item) for item in value]
    if value is None and key in _SLICE_KEYS:
        return _NilList()
    if value is None and key in _STRING_MAP_KEYS:
        return _NilStringMap()
    if value is None and key in _MAP_KEYS:
        return _NilMap()
    return value

_SPACES = (" ", "\t", "\r", "\n")

_KEYWORDS = ("if", "else", "end", "range", "with", "break", "continue",
             "define", "template", "block")


class _Token:
    """One lexical item of a template: its kind, text and offset."""

    __slots__ = ("kind", "text", "pos", "spaced")

    def __init__(self, kind, text, pos, spaced=False):
        self.kind, self.text, self.pos = kind, text, pos
        # Whether a space came before: ``f .x`` is not ``f.x``.
        self.spaced = spaced


def _template_line(source, pos):
    return source.count("\n", 0, pos) + 1


def _lex_template(source, name=""):
    """Return the tokens of ``source``, applying ``{{-`` and ``-}}`` trims.

    Raises:
        TemplateError: an unclosed action, comment or quoted string.
    """
    tokens = []
    pos = 0
    trim_next = False
    while pos < len(source):
        start = source.find("{{", pos)
        end = len(source) if start < 0 else start
        text = source[pos:end]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        left_trim = (start >= 0 and source[start + 2:start + 3] == "-"
                     and source[start + 3:start + 4] in _SPACES)
        if left_trim:
            text = text.rstrip(" \t\r\n")
        if text:
            tokens.append(_Token("text", text, pos))
        if start < 0:
            break
        pos = start + (3 if left_trim else 2)
        pos, trim_next = _lex_action(source, pos, tokens, name)
    tokens.append(_Token("eof", "", len(source)))
    return tokens


def _lex_action(source, pos, tokens, name):
    """Lex one action from after its ``{{``; return where text resumes."""
    pattern = re.compile(r"""
        (?P<space>[ \t\r\n])
      | (?P<comment>/\*.*?\*/)
      | (?P<declare>:=) | (?P<assign>=) | (?P<pipe>\|) | (?P<comma>,)
      | (?P<lparen>\() | (?P<rparen>\))
      | (?P<string>"(?:[^"\\\n]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<char>'(?:[^'\\\n]|\\.)+')
      | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
                      |(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
      | (?P<field>\.[A-Za-z_]\w*)
      | (?P<dot>\.)
      | (?P<variable>\$\w*)
      | (?P<ident>[A-Za-z_]\w*)
    """, re.X | re.S)
    start = pos
    action = []
    while True:
        trim = (source[pos:pos + 1] in _SPACES
                and source.startswith("-}}", pos + 1))
        if trim or source.startswith("}}", pos):
            if action and action[-1].kind == "space":
                action.pop()
            tokens.append(_Token("left", "{{", start))
            tokens.extend(token for token in action
                          if token.kind != "space")
            tokens.append(_Token("right", "}}", pos))
            return pos + (4 if trim else 2), trim
        if pos >= len(source):
            _lex_error(source, pos, name, "unclosed action")
        match = pattern.match(source, pos)
        if match is None:
            problem = _lex_problem(source, pos)
            _lex_error(source, pos, name, problem)
        kind = match.lastgroup
        if kind == "ident" and match.group() in ("true", "false"):
            kind = "bool"
        elif kind == "ident" and match.group() == "nil":
            kind = "nil"
        elif kind == "ident" and match.group() in _KEYWORDS:
            kind = match.group()
        spaced = bool(action) and action[-1].kind == "space"
        action.append(_Token(kind, match.group(), pos, spaced))
        pos = match.end()


def _lex_problem(source, pos):
    char = source[pos]
    if char in "\"'`":
        return "unterminated quoted string"
    if source.startswith("/*", pos):
        return "unclosed comment"
    return f"unexpected {go_quote(char)} in command"


def _lex_error(source, pos, name, message):
    line = _template_line(source, pos)
    raise TemplateError(f"template: {name}:{line}: {message}")


class _Node:
    """A parsed piece of a template; ``str()`` gives Go's canonical text."""

    def __init__(self, kind, pos, **parts):
        self.kind = kind
        self.pos = pos
        self.__dict__.update(parts)

    def __str__(self):
        kind = self.kind
        if kind == "field":
            return "." + ".".join(self.idents)
        if kind == "variable":
            return ".".join([self.name] + self.idents)
        if kind == "chain":
            inner = str(self.node)
            if self.node.kind == "pipe":
                inner = f"({inner})"
            return inner + "." + ".".join(self.idents)
        if kind == "pipe":
            text = " | ".join(str(command) for command in self.commands)
            if self.decl:
                text = (", ".join(self.decl)
                        + (" = " if self.assign else " := ") + text)
            return text
        if kind == "command":
            return " ".join(f"({arg})" if arg.kind == "pipe" else str(arg)
                            for arg in self.args)
        return self.text


class _Parser:
    """Go's template grammar, subset: actions, if, range, with, variables."""

    def __init__(self, source, name, functions):
        self.source = source
        self.name = name
        self.functions = functions
        self.tokens = _lex_template(source, name)
        self.index = 0
        self.scopes = [["$"]]

    def error(self, message, token=None):
        token = token or self.tokens[self.index]
        line = _template_line(self.source, token.pos)
        raise TemplateError(f"template: {self.name}:{line}: {message}")

    def peek(self):
        return self.tokens[self.index]

    def next(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind, context):
        token = self.next()
        if token.kind != kind:
            self.error(f"unexpected {self.describe(token)} in {context}",
                       token)
        return token

    @staticmethod
    def describe(token):
        if token.kind == "eof":
            return "EOF"
        if token.kind == "right":
            return "right delim"
        return f"<{token.text}>" if token.kind in _KEYWORDS \
            else go_quote(token.text)

    def parse(self):
        """Return the top-level list of nodes."""
        nodes, end = self.parse_list()
        if end is not None:
            self.error(f"unexpected {{{{{end.kind}}}}}", end)
        return nodes

    def parse_list(self):
        """Parse nodes up to ``{{end}}``, ``{{else}}`` or the end.

        Returns the nodes and the token that stopped them (None at EOF).
        """
        nodes = []
        while True:
            token = self.next()
            if token.kind == "eof":
                self.index -= 1
                return nodes, None
            if token.kind == "text":
                nodes.append(_Node("text", token.pos, text=token.text))
                continue
            keyword = self.peek()
            if keyword.kind == "comment":
                self.next()
                self.expect("right", "comment")
                continue
            if keyword.kind in ("end", "else"):
                self.next()
                return nodes, keyword
            nodes.append(self.parse_action(keyword))

    def parse_action(self, keyword):
        """Parse what follows ``{{``: a block, a control word or a pipe."""
        kind = keyword.kind
        if kind in ("if", "range", "with"):
            self.next()
            return self.parse_block(kind, keyword)
        if kind in ("break", "continue"):
            self.next()
            self.expect("right", kind)
            return _Node(kind, keyword.pos, text=f"{{{{{kind}}}}}")
        if kind in ("define", "template", "block"):
            self.error(f"{{{{{kind}}}}} is not supported", keyword)
        pipe = self.parse_pipe("command", "right")
        return _Node("action", keyword.pos, pipe=pipe)

    def parse_block(self, kind, keyword):
        """Parse ``{{if}}``, ``{{range}}`` or ``{{with}}`` to its end."""
        self.scopes.append([])
        pipe = self.parse_pipe(kind, "right", allow_pair=kind == "range")
        body, end = self.parse_list()
        otherwise = []
        if end is None:
            self.error("unexpected EOF")
        if end.kind == "else":
            following = self.peek()
            if following.kind in ("if", "with") and kind != "range":
                # {{else if ...}} is an {{if}} inside the else branch, and
                # shares its {{end}}.
                self.next()
                otherwise = [self.parse_block(following.kind, following)]
                self.scopes.pop()
                return _Node(kind, keyword.pos, pipe=pipe, body=body,
                             otherwise=otherwise)
            self.expect("right", "else")
            otherwise, end = self.parse_list()
            if end is None:
                self.error("unexpected EOF")
            if end.kind != "end":
                self.error("expected end; found {{else}}", end)
        self.expect("right", "end")
        self.scopes.pop()
        return _Node(kind, keyword.pos, pipe=pipe, body=body,
                     otherwise=otherwise)

    def parse_pipe(self, context, end, allow_pair=False):
        """Parse an optional declaration and commands joined by ``|``."""
        start = self.peek()
        decl, assign = self.parse_declaration(allow_pair)
        commands = []
        while True:
            token = self.peek()
            if token.kind == end:
                self.next()
                break
            if token.kind == "eof":
                self.error("unclosed action" if end == "right"
                           else "unclosed left paren")
            commands.append(self.parse_command(end))
            if self.peek().kind == "pipe":
                self.next()
                if self.peek().kind == end:
                    self.error("missing command after |")
        if not commands:
            self.error(f"missing value for {context}")
        return _Node("pipe", start.pos, decl=decl, assign=assign,
                     commands=commands)

    def parse_declaration(self, allow_pair):
        """Parse ``$x :=``, ``$x =`` or (range) ``$i, $e :=`` if present."""
        tokens = self.tokens
        first = self.peek()
        if first.kind != "variable":
            return [], False
        following = tokens[self.index + 1]
        names = [first.text]
        skip = 2
        if (allow_pair and following.kind == "comma"
                and tokens[self.index + 2].kind == "variable"):
            names.append(tokens[self.index + 2].text)
            following = tokens[self.index + 3]
            skip = 4
        if following.kind not in ("declare", "assign"):
            return [], False
        self.index += skip
        if following.kind == "assign":
            for name in names:
                self.check_variable(name, first)
        else:
            self.scopes[-1].extend(names)
        return names, following.kind == "assign"

    def check_variable(self, name, token):
        if not any(name in scope for scope in self.scopes):
            self.error(f"undefined variable {go_quote(name)}", token)

    def parse_command(self, end):
        """Parse the operands of one command, up to ``|`` or the end."""
        start = self.peek()
        args = []
        while self.peek().kind not in ("pipe", end, "eof"):
            args.append(self.parse_operand())
        if not args:
            self.error("empty command")
        if args[0].kind == "nil":
            self.error("nil is not a command")
        return _Node("command", start.pos, args=args)

    def parse_operand(self):
        """Parse a term and the fields chained after it."""
        node = self.parse_term()
        idents = []
        chained = self.peek().pos
        while self.peek().kind == "field" and not self.peek().spaced:
            idents.append(self.next().text[1:])
        if not idents:
            return node
        if node.kind in ("field", "variable"):
            # Go places a chain at its second element: its errors too.
            node.idents = node.idents + idents
            node.pos = chained
            return node
        if node.kind in ("bool", "string", "number", "nil", "dot"):
            self.error(f"unexpected . after term {go_quote(str(node))}")
        return _Node("chain", node.pos, node=node, idents=idents)

    def parse_term(self):
        token = self.next()
        kind = token.kind
        if kind == "field":
            return _Node("field", token.pos, idents=[token.text[1:]])
        if kind == "variable":
            self.check_variable(token.text, token)
            return _Node("variable", token.pos, name=token.text, idents=[])
        if kind == "ident":
            if token.text not in self.functions:
                self.error(f"function {go_quote(token.text)} not defined",
                           token)
            return _Node("ident", token.pos, text=token.text)
        if kind == "lparen":
            return self.parse_pipe("parenthesized pipeline", "rparen")
        if kind in ("dot", "nil", "bool", "string", "raw", "char",
                    "number"):
            return self.literal(token)
        self.error(f"unexpected {self.describe(token)} in operand", token)

    def literal(self, token):
        """Return the node of a constant, with its Python value."""
        text = token.text
        kind = token.kind
        if kind == "dot":
            return _Node("dot", token.pos, text=".")
        if kind == "nil":
            return _Node("nil", token.pos, text="nil", value=None)
        if kind == "bool":
            return _Node("bool", token.pos, text=text, value=text == "true")
        if kind == "raw":
            return _Node("string", token.pos, text=text, value=text[1:-1])
        try:
            if kind in ("string", "char"):
                value = json.loads(
                    '"' + text[1:-1].replace('\\"', '"')
                    .replace('"', '\\"').replace("\\'", "'") + '"',
                    strict=False)
                if kind == "char":
                    if len(value) != 1:
                        raise ValueError(text)
                    return _Node("number", token.pos, text=text,
                                 value=ord(value))
                return _Node("string", token.pos, text=text, value=value)
            return _Node("number", token.pos, text=text,
                         value=_parse_go_number(text))
        except ValueError:
            self.error(f"bad {'number' if kind == 'number' else 'string'} "
                       f"syntax: {go_quote(text)}", token)
        raise AssertionError("unreachable")


def _parse_go_number(text):
    """Return the int or float a Go number constant stands for."""
    clean = text.replace("_", "")
    if re.fullmatch(r"[+-]?(0[xXbBoO][0-9a-fA-F]+|\d+)", clean):
        digits = clean.lstrip("+-")
        sign = -1 if clean.startswith("-") else 1
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            return sign * int(digits, 8)
        return sign * int(digits, 0)
    return float(clean)


class FormatContext:
    """One item as docker's formatters show it to templates.

    Subclasses list their Go field names in ``FIELDS`` (methods without
    arguments) and ``METHODS`` (name to number of arguments); only those
    are reachable from a template.  ``HEADERS`` gives the column title of
    each field for ``table`` formats.
    """

    GO_TYPE = "*formatter.Context"
    FIELDS = ()
    METHODS = {}
    HEADERS = {}
    # Docker's contexts marshal themselves with json.Marshal, which
    # escapes <, > and &; plain engine structs (events) do not.
    ESCAPE_HTML = True

    def field(self, name, args):
        """Return the value of field ``name`` called with ``args``.

        Raises:
            LookupError: no such field (the caller words the error).
            TypeError: the wrong number of arguments, worded as Go's.
        """
        wanted = 0 if name in self.FIELDS else self.METHODS.get(name)
        if wanted is None:
            raise LookupError(name)
        self.used.add(name)
        if len(args) != wanted:
            raise TypeError(f"wrong number of args for {name}: want "
                            f"{wanted} got {len(args)}")
        return getattr(self, name)(*args)

    @property
    def used(self):
        """The names of the fields a template has asked for so far."""
        if "_used" not in self.__dict__:
            self._used = set()
        return self._used

    def to_json(self):
        """Return every field, as docker's ``{{json .}}`` shows them."""
        self.used.update(self.FIELDS)
        return {name: getattr(self, name)() for name in sorted(self.FIELDS)}

    def go_string(self):
        """Return the context as Go's ``%v`` prints a pointer to it."""
        return "&{" + " ".join(go_format(value) for value
                               in self.to_json().values()) + "}"

    @classmethod
    def header(cls):
        """Return the context a table's header line is rendered with."""
        return _HeaderContext(cls.HEADERS, cls.METHODS)


class _HeaderContext(dict):
    """Column titles by field name, for a table's header line.

    A field without a title of its own gets one derived from its name
    (``CreatedSince`` is ``CREATED SINCE``); ``.Label "com.x-y"`` is
    titled ``x y``, as docker titles it.
    """

    def __init__(self, headers, methods=()):
        super().__init__(headers)
        self.methods = methods

    def title(self, name):
        """Return the column title of field ``name``."""
        if name in self:
            return self[name]
        words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", name)
        return " ".join(words).upper() or name

    @staticmethod
    def label_title(name):
        return name.split(".")[-1].replace("-", " ").replace("_", " ")


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _ExecError(Exception):
    """An execution failure, before its position is known."""


class Template:
    """A parsed --format template, ready to render many items.

    Args:
        source: the template text (``\\t`` and ``\\n`` already replaced).
        name: the template's name in messages (docker's is usually "").
        missing_key: ``"default"`` prints ``<no value>`` for a missing map
            key, ``"error"`` fails (what ``inspect`` does).

    Raises:
        TemplateError: the text does not parse.
    """

    def __init__(self, source, name="", missing_key="default"):
        self.source = source
        self.name = name
        self.missing_key = missing_key
        self.functions = dict(_TEMPLATE_FUNCTIONS)
        self.nodes = _Parser(source, name, self.functions).parse()

    def render(self, data, header=False):
        """Return the text of the template applied to ``data``.

        With ``header``, docker's header functions (``json``, ``upper``...
        leave a title as it is) are used, as for a table's first line.

        Raises:
            TemplateError: execution failed; the message is Go's.
        """
        out = []
        self.render_into(out, data, header)
        return "".join(out)

    def render_into(self, out, data, header=False):
        """Append the rendered pieces to the list ``out``; see ``render``.

        What was written before a failure stays in ``out``, as Go leaves
        it in the writer.
        """
        functions = dict(self.functions)
        if header:
            functions.update(_HEADER_FUNCTIONS)
        state = _Execution(self, data, functions, out)
        try:
            state.walk(self.nodes, data)
        except (_Break, _Continue):
            pass
        except (RecursionError, MemoryError, ValueError,
                OverflowError) as error:
            # Go's engine has no such limits to hit; ours says which one
            # was, in one line, rather than fail as Python.
            raise TemplateError(f'template: {self.name}: executing "'
                                f'{self.name}": {_limit_reason(error)}'
                                ) from None


class _Execution:
    """The state of one template run: variables, output, functions."""

    def __init__(self, template, data, functions, out):
        self.template = template
        self.functions = functions
        self.out = out
        self.variables = [["$", data]]

    def fail(self, node, message):
        source = self.template.source
        before = source[:node.pos]
        newline = before.rfind("\n")
        column = node.pos if newline < 0 else node.pos - newline - 1
        line = before.count("\n") + 1
        name = self.template.name
        raise TemplateError(f"template: {name}:{line}:{column}: executing "
                            f"{go_quote(name)} at <{node}>: {message}")

    # Walking the tree ------------------------------------------------------

    def walk(self, nodes, dot):
        for node in nodes:
            kind = node.kind
            if kind == "text":
                self.out.append(node.text)
            elif kind == "action":
                value = self.pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append(self.printable(node, value))
            elif kind in ("if", "with"):
                self.walk_if(node, dot)
            elif kind == "range":
                self.walk_range(node, dot)
            elif kind == "break":
                raise _Break()
            elif kind == "continue":
                raise _Continue()

    def walk_if(self, node, dot):
        mark = len(self.variables)
        value = self.pipe(node.pipe, dot)
        if go_truth(value):
            self.walk(node.body, value if node.kind == "with" else dot)
        else:
            self.walk(node.otherwise, dot)
        del self.variables[mark:]

    def walk_range(self, node, dot):
        mark = len(self.variables)
        value = self.pipe(node.pipe, dot, declare=False)
        pairs = self.range_pairs(node, value)
        names = node.pipe.decl
        for key, element in pairs:
            if len(names) == 1:
                self.variables.append([names[0], element])
            elif len(names) == 2:
                self.variables.append([names[0], key])
                self.variables.append([names[1], element])
            try:
                self.walk(node.body, element)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                del self.variables[mark:]
        if not pairs:
            self.walk(node.otherwise, dot)
        del self.variables[mark:]

    def range_pairs(self, node, value):
        if isinstance(value, dict):
            return [(key, value[key]) for key in sorted(value)]
        if isinstance(value, (list, tuple)):
            return list(enumerate(value))
        if isinstance(value, int) and not isinstance(value, bool):
            return [(index, index) for index in range(value)]
        if value is None or value is NO_VALUE:
            return []
        self.fail(node.pipe, "range can't iterate over "
                  f"{go_format(value)}")
        return []

    # Pipelines and commands ------------------------------------------------

    def pipe(self, pipe, dot, declare=True):
        value = NO_VALUE
        final = False
        for command in pipe.commands:
            value = self.command(command, dot, value if final else None,
                                 final)
            final = True
        if pipe.decl and declare:
            if pipe.assign:
                self.set_variable(pipe.decl[0], value)
            else:
                self.variables.append([pipe.decl[0], value])
        return value

    def set_variable(self, name, value):
        for entry in reversed(self.variables):
            if entry[0] == name:
                entry[1] = value
                return

    def variable(self, name):
        for entry in reversed(self.variables):
            if entry[0] == name:
                return entry[1]
        return NO_VALUE

    def command(self, command, dot, final, has_final):
        first = command.args[0]
        args = command.args[1:]
        kind = first.kind
        try:
            if kind == "ident":
                return self.call(first.text, args, dot, final, has_final)
            if kind == "field":
                return self.fields(first, dot, first.idents, args, dot,
                                   final, has_final)
            if kind == "variable":
                receiver = self.variable(first.name)
                if not first.idents:
                    self.not_a_function(command, args, has_final)
                    return receiver
                return self.fields(first, receiver, first.idents, args,
                                   dot, final, has_final)
            if kind == "chain":
                receiver = self.operand(first.node, dot)
                return self.fields(first, receiver, first.idents, args,
                                   dot, final, has_final)
            self.not_a_function(command, args, has_final)
            return self.operand(first, dot)
        except _ExecError as error:
            self.fail(command if kind == "ident" else first, str(error))
        raise AssertionError("unreachable")

    def not_a_function(self, command, args, has_final):
        if args or has_final:
            self.fail(command, "can't give argument to non-function "
                      f"{command.args[0]}")

    def operand(self, node, dot):
        """Return the value of one argument."""
        kind = node.kind
        if kind == "dot":
            return dot
        if kind in ("nil", "bool", "string", "number"):
            return node.value
        if kind == "pipe":
            mark = len(self.variables)
            value = self.pipe(node, dot)
            del self.variables[mark:]
            return value
        return self.command(_Node("command", node.pos, args=[node]), dot,
                            None, False)

    def fields(self, node, receiver, idents, args, dot, final, has_final):
        """Follow ``.A.B.C`` from ``receiver``; call the last with args."""
        for ident in idents[:-1]:
            receiver = self.field(node, receiver, ident, [])
        values = [self.operand(arg, dot) for arg in args]
        if has_final:
            values.append(final)
        return self.field(node, receiver, idents[-1], values)

    def field(self, node, receiver, name, args):
        """Return ``receiver.name``: a map key or a context's field."""
        if isinstance(receiver, _HeaderContext):
            return self.header_field(node, receiver, name, args)
        if isinstance(receiver, FormatContext):
            try:
                return receiver.field(name, args)
            except LookupError:
                self.fail(node, f"can't evaluate field {name} in type "
                          f"{receiver.GO_TYPE}")
            except TypeError as error:
                self.fail(node, str(error))
        if isinstance(receiver, dict):
            return self.map_field(node, receiver, name, args)
        if receiver is NO_VALUE:
            if self.template.missing_key == "error":
                self.fail(node, f"nil data; no entry for key "
                          f"{go_quote(name)}")
            return NO_VALUE
        if receiver is None:
            self.fail(node, f"nil pointer evaluating interface {{}}.{name}")
        self.fail(node, f"can't evaluate field {name} in type "
                  f"{go_type(receiver)}")
        return None

    def map_field(self, node, receiver, name, args):
        """Return a map's value for key ``name``, as Go's maps answer."""
        if args:
            self.fail(node, f"{name} is not a method but has arguments")
        if name in receiver:
            return receiver[name]
        if self.template.missing_key == "error" \
                and not isinstance(receiver, GoMap):
            self.fail(node, f"map has no entry for key {go_quote(name)}")
        return NO_VALUE

    def header_field(self, node, receiver, name, args):
        """Return the column title a field has in a table's header."""
        if name == "Label" and "Label" in receiver.methods:
            if len(args) != 1:
                self.fail(node, "wrong number of args for Label: want 1 "
                          f"got {len(args)}")
            return receiver.label_title(go_format(args[0]))
        if args:
            self.fail(node, f"{name} is not a method but has arguments")
        return receiver.title(name)

    def call(self, name, args, dot, final, has_final):
        """Call a template function with evaluated arguments."""
        if name in ("and", "or"):
            return self.and_or(name, args, dot, final, has_final)
        function, params = self.functions[name]
        values = [self.operand(arg, dot) for arg in args]
        if has_final:
            values.append(final)
        _check_arguments(name, params, values)
        # A missing map key reaches a function as Go's nil interface.
        values = [None if value is NO_VALUE else value for value in values]
        try:
            return function(*values)
        except _ExecError as error:
            raise _ExecError(f"error calling {name}: {error}") from None

    def and_or(self, name, args, dot, final, has_final):
        """Evaluate ``and``/``or`` lazily, as Go does since 1.18."""
        if not args and not has_final:
            raise _ExecError(f"wrong number of args for {name}: want at "
                             "least 1 got 0")
        thunks = [lambda arg=arg: self.operand(arg, dot) for arg in args]
        if has_final:
            thunks.append(lambda: final)
        value = NO_VALUE
        for thunk in thunks:
            value = thunk()
            if go_truth(value) == (name == "or"):
                return value
        return value

    def printable(self, node, value):
        if value is NO_VALUE:
            return "<no value>"
        return go_format(value)


def _check_arguments(name, params, values):
    """Check a call's argument count and types as Go's reflection does."""
    variadic = params and params[-1].startswith("...")
    fixed = params[:-1] if variadic else params
    if (len(values) < len(fixed) if variadic
            else len(values) != len(fixed)):
        want = (f"at least {len(fixed)}" if variadic else str(len(fixed)))
        raise _ExecError(f"wrong number of args for {name}: want {want} "
                         f"got {len(values)}")
    for index, value in enumerate(values):
        kind = fixed[index] if index < len(fixed) else params[-1][3:]
        if value is NO_VALUE and kind != "any":
            raise _ExecError(f"invalid value; expected {kind}")
        if kind == "string" and not isinstance(value, str):
            raise _ExecError("wrong type for value; expected string; got "
                             f"{go_type(value)}")
        if kind == "int" and (isinstance(value, bool)
                              or not isinstance(value, int)):
            raise _ExecError("wrong type for value; expected int; got "
                             f"{go_type(value)}")


# Values as Go prints and compares them --------------------------------------

def go_type(value):
    """Return the Go type name a decoded JSON value has in messages."""
    if isinstance(value, FormatContext):
        return value.GO_TYPE
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float64"),
                       (str, "string"), (dict, "map[string]interface {}"),
                       ((list, tuple), "[]interface {}")):
        if isinstance(value, kind):
            return name
    return "<nil>"


def go_truth(value):
    """Tell whether Go's ``if`` takes ``value`` as true (non-zero)."""
    if isinstance(value, FormatContext):
        return True
    return bool(value) and value is not NO_VALUE


def go_format(value):
    """Return ``value`` as Go's ``%v`` prints it: ``[a b]``, ``map[k:v]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if value is None:
        return "<nil>"
    if value is NO_VALUE:
        return "<no value>"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_format(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{go_format(value[key])}"
                                 for key in sorted(value)) + "]"
    if isinstance(value, FormatContext):
        return value.go_string()
    return str(value)


def go_float(number):
    """Return a float as Go's ``%v`` does: shortest digits, ``1e+06``."""
    if number != number or number in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[str(number)]
    text = repr(number)
    mantissa, _, exponent = text.partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    whole, _, fraction = mantissa.lstrip("-").partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0)
    if not digits:
        return sign + "0"
    point -= len(whole + fraction) - len((whole + fraction).lstrip("0"))
    digits = digits.rstrip("0")
    power = point - 1
    if power < -4 or power >= 6:
        rest = digits[1:]
        return (f"{sign}{digits[0]}{'.' + rest if rest else ''}"
                f"e{'-' if power < 0 else '+'}{abs(power):02d}")
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_json(value, escape_html=False):
    """Return ``value`` as Go's encoding/json writes it, on one line.

    Docker's ``json`` function keeps ``<``, ``>`` and ``&`` as they are;
    the ``ps``/``images`` contexts are marshalled first, which escapes
    them (``\\u003cnone\\u003e``): ``escape_html`` does that.
    """
    def plain(item):
        if isinstance(item, (_NilList, _NilMap)):
            return None
        if isinstance(item, FormatContext):
            return plain(item.to_json())
        if isinstance(item, dict):
            return {key: plain(val) for key, val in item.items()}
        if isinstance(item, (list, tuple)):
            return [plain(val) for val in item]
        if isinstance(item, float) and item.is_integer() \
                and abs(item) < 1e21:
            return int(item)
        return None if item is NO_VALUE else item

    text = json.dumps(plain(value), ensure_ascii=False,
                      separators=(",", ":"))
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html or getattr(value, "ESCAPE_HTML", False):
        text = (text.replace("<", "\\u003c").replace(">", "\\u003e")
                .replace("&", "\\u0026"))
    return text


def _go_kind(value):
    """Return the basic kind Go's comparison functions see in ``value``."""
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"),
                       (str, "string")):
        if isinstance(value, kind):
            return name
    if value is None or value is NO_VALUE:
        return "nil"
    raise _ExecError("invalid type for comparison")


def _go_compare(name, left, right):
    """Compare two basic values as Go's ``lt``/``eq``... do."""
    kinds = (_go_kind(left), _go_kind(right))
    if kinds[0] != kinds[1]:
        if name in ("eq", "ne") and "nil" in kinds:
            return (name == "ne") != (left is right)
        raise _ExecError("incompatible types for comparison")
    if name in ("eq", "ne"):
        return (left == right) == (name == "eq")
    if kinds[0] in ("bool", "nil"):
        raise _ExecError("invalid type for comparison")
    return {"lt": left < right, "le": left <= right, "gt": left > right,
            "ge": left >= right}[name]


def _go_eq(first, *others):
    return any(_go_compare("eq", first, other) for other in others)


def _go_len(value):
    if value is None:  # reflect's words for Go's nil interface
        raise _ExecError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (list, tuple, dict)):
        return len(value)
    raise _ExecError(f"len of type {go_type(value)}")


def _go_index(item, *keys):
    if item is None:
        raise _ExecError("index of untyped nil")
    for key in keys:
        if isinstance(item, dict):
            zero = getattr(item, "zero", NO_VALUE)
            item = item.get(key, zero) if isinstance(key, str) else zero
        elif isinstance(item, (list, tuple, str)):
            if isinstance(key, bool) or not isinstance(key, int):
                raise _ExecError("cannot index slice/array with type "
                                 f"{go_type(key)}")
            if not 0 <= key < len(item):
                raise _ExecError(f"index out of range: {key}")
            item = item[key] if not isinstance(item, str) \
                else item.encode("utf-8")[key]
        else:
            # Go looks through the pointer of a context before indexing.
            raise _ExecError("can't index item of type "
                             f"{go_type(item).lstrip('*')}")
    return item


def _go_title(text):
    """Upper-case the first letter of each word, as strings.Title does."""
    out = []
    previous = " "
    for char in text:
        separator = not (previous.isalnum() or previous == "_")
        out.append(char.upper() if separator else char)
        previous = char
    return "".join(out)


def _go_split(text, separator):
    if separator == "":
        return list(text)
    return text.split(separator)


def _go_join(items, separator):
    if isinstance(items, str):
        return items
    if not isinstance(items, (list, tuple)):
        raise _ExecError(f"wrong type for value; expected []string; got "
                         f"{go_type(items)}")
    return separator.join(go_format(item) for item in items)


def _go_truncate(text, length):
    return text if len(text) < length else text[:length]


def _go_pad(text, prefix, suffix):
    if max(prefix, suffix) > _MAX_FORMAT_WIDTH:
        raise ValueError(f"pad: width {max(prefix, suffix)} is too large")
    return text and " " * prefix + text + " " * suffix


# Go's fmt refuses widths and precisions above a million (BADWIDTH).
_MAX_FORMAT_WIDTH = 1000000


def _go_sprint(*values):
    """Join values as fmt.Sprint: a space only between two non-strings."""
    out = []
    for index, value in enumerate(values):
        if index and not isinstance(value, str) \
                and not isinstance(values[index - 1], str):
            out.append(" ")
        out.append(go_format(value))
    return "".join(out)


def _go_sprintln(*values):
    return " ".join(go_format(value) for value in values) + "\n"


_PRINTF_VERB = None


def go_sprintf(layout, *values):
    """Format as Go's fmt.Sprintf for the verbs templates use.

    ``%v %s %d %q %x %X %o %b %t %c %f %e %g`` with flags, width and
    precision; a missing argument prints ``%!d(MISSING)``.
    """
    verb = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])")
    values = list(values)
    out = []
    position = 0
    used = 0
    for match in verb.finditer(layout):
        out.append(layout[position:match.start()])
        position = match.end()
        flags, width, precision, letter = match.groups()
        if letter == "%":
            out.append("%")
            continue
        if used >= len(values):
            out.append(f"%!{letter}(MISSING)")
            continue
        value = values[used]
        used += 1
        if width and width.isdigit() and int(width) > _MAX_FORMAT_WIDTH:
            out.append("%!(BADWIDTH)")
            width = None
        if precision and precision.isdigit() and \
                int(precision) > _MAX_FORMAT_WIDTH:
            out.append("%!(BADPREC)")
            precision = None
        try:
            out.append(_format_verb(letter, flags, width, precision, value))
        except (ValueError, OverflowError):
            # What Go prints for a value its verb cannot show (%c of -1).
            out.append("\ufffd" if letter == "c" else
                       f"%!{letter}(BADVALUE)")
    out.append(layout[position:])
    if used < len(values):
        extra = ", ".join(f"{go_type(value)}={go_format(value)}"
                          for value in values[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_verb(letter, flags, width, precision, value):
    """Return one ``%``-verb applied to ``value``."""
    if value is None and letter != "v":
        return f"%!{letter}(<nil>)"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if letter in "dxXob" and isinstance(value, int) and number:
        base = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[letter]
        text = format(value, base)
    elif letter in "xX" and isinstance(value, str):
        text = value.encode("utf-8").hex()
        text = text.upper() if letter == "X" else text
    elif letter in "feEgG" and number:
        digits = precision if precision is not None else (
            "6" if letter in "feE" else "")
        text = go_float(float(value)) if letter in "gG" and not digits \
            else format(float(value), f".{digits}{letter}")
    elif letter == "q":
        text = go_quote(chr(value) if number and isinstance(value, int)
                        else go_format(value))
    elif letter == "c" and isinstance(value, int) and number:
        text = chr(value)
    elif letter == "t" and isinstance(value, bool) or letter in "vs":
        text = go_format(value)
        if precision is not None and letter in "vs":
            text = text[:int(precision)]
    else:
        return f"%!{letter}({go_type(value)}={go_format(value)})"
    return _pad_verb(text, flags or "", width, number and value >= 0)


def _pad_verb(text, flags, width, positive):
    """Apply a verb's ``+``, ``-``, ``0`` flags and width to ``text``."""
    number = positive or text[:1] == "-"
    if "+" in flags and positive:
        text = "+" + text
    size = int(width) if width and width != "*" else 0
    if "-" in flags:
        return text.ljust(size)
    if "0" in flags and number:
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign):].rjust(size - len(sign), "0")
    return text.rjust(size)


def _go_not(value):
    return not go_truth(value)


# Each function: the callable and its parameter kinds ("any", "string",
# "int"; "...any" for the rest), checked before the call as Go checks.
_TEMPLATE_FUNCTIONS = {
    "and": (None, ("any", "...any")),
    "or": (None, ("any", "...any")),
    "not": (_go_not, ("any",)),
    "len": (_go_len, ("any",)),
    "index": (_go_index, ("any", "...any")),
    "print": (_go_sprint, ("...any",)),
    "printf": (go_sprintf, ("string", "...any")),
    "println": (_go_sprintln, ("...any",)),
    "eq": (_go_eq, ("any", "...any")),
    "ne": (lambda a, b: _go_compare("ne", a, b), ("any", "any")),
    "lt": (lambda a, b: _go_compare("lt", a, b), ("any", "any")),
    "le": (lambda a, b: _go_compare("le", a, b), ("any", "any")),
    "gt": (lambda a, b: _go_compare("gt", a, b), ("any", "any")),
    "ge": (lambda a, b: _go_compare("ge", a, b), ("any", "any")),
    "json": (go_json, ("any",)),
    "upper": (str.upper, ("string",)),
    "lower": (str.lower, ("string",)),
    "title": (_go_title, ("string",)),
    "split": (_go_split, ("string", "string")),
    "join": (_go_join, ("any", "string")),
    "truncate": (_go_truncate, ("string", "int")),
    "pad": (_go_pad, ("string", "int", "int")),
}

# A table's header line is the template run over column titles: these
# leave a title as it is, as docker's header functions do.
_HEADER_FUNCTIONS = {
    name: (lambda value, *_: value, params)
    for name, params in (("json", ("string",)), ("upper", ("string",)),
                         ("lower", ("string",)), ("title", ("string",)),
                         ("split", ("string", "string")),
                         ("join", ("string", "string")),
                         ("truncate", ("string", "int")))}


def parse_template(text, name="", missing_key="default"):
    """Return the Template for ``text``; docker's ``\\t``/``\\n`` escapes
    become tabs and newlines first.

    Raises:
        TemplateError: the text does not parse.
    """
    text = text.replace("\\t", "\t").replace("\\n", "\n")
    try:
        return Template(text, name, missing_key)
    except (RecursionError, MemoryError) as error:
        raise TemplateError(f"template: {name}: {_limit_reason(error)}"
                            ) from None


def _limit_reason(error):
    """Say which limit a template ran into, for a one-line error."""
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, MemoryError):
        return "output too large"
    return str(error) or type(error).__name__


def tabwrite(text, minwidth=10, padding=3):
    """Align tab-separated cells as Go's text/tabwriter does for docker.

    A cell is text ended by a tab; the last cell of a line is never
    padded.  A column is as wide as its widest cell in each run of
    consecutive lines that have it, plus ``padding``, and at least
    ``minwidth``.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    widths = [[0] * (len(cells) - 1) for cells in lines]

    def align(first, last, column):
        row = first
        while row < last:
            if column >= len(lines[row]) - 1:
                row += 1
                continue
            start = row
            width = minwidth
            while row < last and column < len(lines[row]) - 1:
                width = max(width, len(lines[row][column]) + padding)
                row += 1
            for index in range(start, row):
                widths[index][column] = width
            align(start, row, column + 1)

    align(0, len(lines), 0)
    return "\n".join(
        "".join(cell.ljust(width) for cell, width in zip(cells, sizes))
        + cells[-1] for cells, sizes in zip(lines, widths))


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

    On a terminal, updates of a line already shown are drawn at most
    REDRAW_INTERVAL apart: between two redraws only each line's newest
    message is kept, so a fast stream costs the terminal no more than a
    slow one, and the final screen is the same.  Call ``flush`` at the
    end to draw what is still held back.

    Args:
        out: a binary stream to write to.
        terminal: whether ``out`` is a terminal.
        width: the terminal width (None: ask the terminal, else 200).
    """

    REDRAW_INTERVAL = 0.05
    # Layer lines and aux values kept at most: an engine that sends new
    # ids without end must not grow memory without end.
    MAX_LINES = 10000
    MAX_AUX = 100

    def __init__(self, out, terminal=False, width=None):
        self.out = out
        self.terminal = terminal
        self.width = width
        self.lines = {}
        self.aux = []
        self.pending = {}  # line id -> its newest message, not yet drawn
        self.drawn_at = 0.0

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
            self.flush()
            raise StreamError(error if isinstance(error, str)
                              else json.dumps(error))
        if "aux" in message:
            self.aux = self.aux[-(self.MAX_AUX - 1):] + [message["aux"]]
            return
        ident = _field(message, "id")
        layer_line = "progressDetail" in message or message.get("progress")
        if self.terminal and ident and layer_line and ident in self.lines:
            self.pending[ident] = message
            if time.monotonic() - self.drawn_at >= self.REDRAW_INTERVAL:
                self.flush()
            return
        self.flush()
        self._draw(message, ident, layer_line)

    def flush(self):
        """Draw the line updates held back since the last redraw."""
        pending, self.pending = self.pending, {}
        for ident, message in pending.items():
            self._draw(message, ident, True)
        self.drawn_at = time.monotonic()

    def _draw(self, message, ident, layer_line):
        """Write one message, on its layer's line when it has one."""
        diff = 0
        if ident and layer_line:
            line = self.lines.get(ident)
            if line is None and len(self.lines) >= self.MAX_LINES:
                self.lines = {}  # start below: the old lines are off screen
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
        detail = message.get("progressDetail") or {}
        if has_detail and not self.terminal and _moves_bar(detail):
            return ""  # a bar is for terminals: skip formatting it
        bar = self._bar(detail)
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


def _moves_bar(detail):
    """Tell whether a progressDetail would draw a bar (see ``_bar``)."""
    return isinstance(detail, dict) and (
        _progress_number(detail, "current") > 0
        or _progress_number(detail, "total") > 0)


# What engine text may not bring to the terminal: every control
# character but the line ends and tabs of build output.
_STREAM_CONTROLS = _Pattern("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _field(message, name):
    """Return a message field as text, ``""`` when absent or null.

    The engine sends strings; anything else is shown, never trusted.
    Control characters are dropped (a ``stream`` keeps its line ends):
    only the renderer's own escapes move the cursor.
    """
    value = message.get(name)
    if value is None or value == "":
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    if name == "stream":
        return _STREAM_CONTROLS.sub("", text)
    return _CONTROLS.sub("", text)


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
            if not 200 <= response.status < 300:
                self._error = self._api_error(response)
                return
            self._answered.set()
            raw = read_all(response)
            self._value = (decode_answer(raw, "wait", dict)
                           if raw.strip() else {})
        except StreamError as error:
            self._error = error
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
            # An error is one line of text: keep no more of it than that
            # could be, however long the frame says it is.
            self.error = (self.error + piece)[:MAX_ERROR_FRAME]
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
_DOMAIN = _Pattern(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
                  r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_PATH = _Pattern(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
# ASCII only, as docker's [\w] is: Python's \w takes any script's letters.
_TAG = _Pattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = _Pattern(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
                  r":[0-9a-fA-F]{32,}")
_HEX_ID = _Pattern(r"[a-f0-9]{64}")


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


def podman_auth_address(address):
    """Return the registry address Podman's ``/auth`` should be given.

    Podman 4.3 checks credentials over plain HTTP only for a registry
    named ``localhost:PORT``, whatever its registries.conf says; a
    loopback address with a port is sent under that name, anything else
    as it is.
    """
    if "://" in address and not address.startswith("http://"):
        return address
    host = registry_hostname(address)
    name, colon, port = host.rpartition(":")
    loopback = name.startswith("127.") or name == "[::1]"
    if colon and port.isdigit() and loopback:
        return f"localhost:{port}"
    return address


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


# RFC 9110's token, and a field value without line breaks or NUL.
_HEADER_NAME = _Pattern(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = _Pattern(r"[^\x00-\x08\x0a-\x1f\x7f]*")


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
            raw = read_config_file(config.path)
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
            text = read_config_file(path).decode("utf-8", "replace")
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
        source = "~/.dockercfg" if self.legacy else self.path
        log.debug("credentials for %s from %s", key, source)
        return auth_from_entry(entry, key, source)

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
        """Return the extra headers from ``HttpHeaders``.

        Raises:
            ConfigError: a name or value that cannot go into a request.
        """
        headers = self.data.get("HttpHeaders") or {}
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ConfigError(f"invalid HttpHeaders in {self.path}: "
                                  f"{go_quote(name)} is not a header name")
            if not _HEADER_VALUE.fullmatch(str(value)):
                raise ConfigError(f"invalid HttpHeaders in {self.path}: "
                                  f"the value of {name} has a control "
                                  "character")
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


def auth_from_entry(entry, key, source="config.json"):
    """Return credentials from a config.json ``auths`` entry.

    ``source`` names the file in messages.
    """
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]),
                                       validate=False).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"invalid auth entry for {key} "
                              f"in {source}") from None
        username, colon, password = decoded.partition(":")
        if not colon:
            raise ConfigError(f"invalid auth entry for {key} in {source}: "
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


def read_config_file(path, limit=MAX_CONFIG_FILE):
    """Return the bytes of a small settings file such as config.json.

    A FIFO or device is refused rather than read: opening one for
    reading would wait for a writer that may never come.

    Raises:
        FileNotFoundError: no such file; OSError: anything else.
    """
    import stat
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(f"{path} is not a regular file")
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise OSError(f"{path} is larger than {limit >> 20} MiB")
    return raw


class _folder_lock:
    """An exclusive ``flock`` on a folder, held around read-modify-write.

    Another process holding it for longer than ``timeout`` seconds (a
    login stuck at its prompt, say) is an error, not a silent wait.
    """

    def __init__(self, folder, timeout=30):
        self.folder = folder
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        import fcntl
        try:
            self.fd = os.open(self.folder, os.O_RDONLY)
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise OSError(
                            f"timed out after {self.timeout}s: another "
                            "process holds the lock") from None
                    time.sleep(0.1)
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

    # Seconds a helper may take (one that shows a dialog needs a while).
    TIMEOUT = 120

    def _run(self, action, data):
        """Run ``helper action`` with ``data`` on its stdin.

        Returns:
            ``(exit code, stdout text)``.

        Raises:
            ConfigError: it cannot be run, or does not finish in time
                (then it is killed with every process it started).
        """
        import subprocess
        try:
            # A session of its own, so that a timeout kills its children.
            process = subprocess.Popen(
                [self.program, action], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True)
        except FileNotFoundError:
            raise ConfigError(
                f"{self.program}: executable file not found in $PATH "
                f"(named by {self.source!r} in config.json)") from None
        except OSError as error:
            raise ConfigError(f"cannot run {self.program}: "
                              f"{_reason(error)}") from None
        try:
            out, _ = process.communicate(data, timeout=self.TIMEOUT)
        except subprocess.TimeoutExpired:
            import signal
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass  # it ended by itself meanwhile
            process.communicate()
            raise ConfigError(f"{self.program} {action} did not answer in "
                              f"{self.TIMEOUT}s: stopped") from None
        return process.returncode, out.decode("utf-8", "replace")

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
            line = _first_line(out)
            if secret:
                line = line.replace(secret, "<redacted>")
            raise ConfigError("error storing credentials with "
                              f"{self.program}: {line}")

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
        if not isinstance(answer, dict):
            raise ConfigError(f"error listing credentials with "
                              f"{self.program}: its answer is not a JSON "
                              "object")
        return list(answer)


def _first_line(text):
    """Return the first line of a helper's error output to show.

    A helper may answer with its stored entry, secret and all: output
    that looks like JSON is never shown.
    """
    if text.lstrip().startswith(("{", "[")):
        return "its output is withheld: it may hold the secret"
    return _plain_first_line(text)


def _plain_first_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0].strip() if lines else "no output"


# =========================================================================
# Build context
# =========================================================================

def read_dockerignore(text):
    """Return the patterns of a ``.dockerignore`` text, as docker reads it.

    Comment lines (``#`` first) and blank lines are dropped; each pattern
    is trimmed and cleaned like a path, a leading ``/`` is dropped (the
    context is the root), and a ``!`` exception keeps its mark.
    """
    patterns = []
    for line in text.lstrip("\ufeff").splitlines():
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        exception = pattern.startswith("!")
        if exception:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean_path(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if exception else pattern)
    return patterns


def clean_path(path):
    """Return the shortest equivalent of a slash path, as Go's Clean does.
    """
    rooted = path.startswith("/")
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append(part)
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    return ("/" + cleaned) if rooted else (cleaned or ".")


# The wildcard tokens: ``*``, ``?``, ``**`` at a pattern's end and
# ``**/`` elsewhere (literal characters are one-character strings).
_STAR = ("*",)
_ONE = ("?",)
_ALL = ("**",)
_FOLDERS = ("**/",)


def _glob_match(tokens, path):
    """Tell whether ``path`` matches a pattern's tokens, all of it.

    The tokens run as a set of states over the path's characters, in
    time proportional to their product: a regular expression would
    backtrack exponentially on ``*a*a*a*a*b``, and docker's (Go's RE2)
    never does.
    """
    # Each wildcard may match nothing: its state also stands for the
    # states after it.
    closure = [frozenset((len(tokens),))]
    for state in range(len(tokens) - 1, -1, -1):
        skips = tokens[state] in (_STAR, _ALL, _FOLDERS)
        closure.append(frozenset((state,)) | (closure[-1] if skips
                                              else frozenset()))
    closure.reverse()
    states = closure[0]
    for char in path:
        following = set()
        for state in states:
            if state < len(tokens):
                for reached in _glob_step(tokens[state], state, char):
                    following |= closure[reached]
        if not following:
            return False
        states = following
    return len(tokens) in states


def _glob_step(token, state, char):
    """Return the states that ``token``, at ``state``, reaches on ``char``.
    """
    if token in (_ALL, _FOLDERS):
        # Any run of characters; ``**/`` may end after each slash.
        return [state, state + 1] if token == _FOLDERS and char == "/" \
            else [state]
    if char == "/" and token in (_STAR, _ONE):
        return []
    if token == _STAR:
        return [state]
    if token == _ONE or token == char or (
            not isinstance(token, str) and token.fullmatch(char)):
        return [state + 1]
    return []


def _read_class(matches):
    """Return the compiled ``[...]`` class whose rest ``matches`` yields.

    Inside a class only ``^`` (first), ``-`` and ``]`` mean anything: the
    rest is literal, so Python's set syntax (``[[``, ``&&``, ``~~``) can
    neither warn nor change the meaning.

    Raises:
        re.error: the class never ends, or has a backwards range.
    """
    regex = "["
    for token in matches:
        text = token.group()
        if text == "]":
            return re.compile(regex + "]", re.S)
        if (text == "^" and regex == "[") or (
                text == "-" and not regex.endswith("-")):
            regex += text
        else:
            regex += re.escape(text[-1] if len(text) == 2 else text)
    return re.compile(regex)  # raises: unterminated


class IgnorePattern:
    """One ``.dockerignore`` pattern, compiled as docker compiles it.

    ``*`` and ``?`` never cross a ``/``; ``**`` crosses any number of
    folders (``**/`` may also match none); ``[...]`` is a class and ``\\``
    escapes the next character.
    """

    def __init__(self, text):
        self.exception = text.startswith("!")
        if self.exception:
            text = text[1:]
        if not text:
            raise ConfigError('illegal exclusion pattern: "!"')
        self.text = clean_path(text)
        self.kind, self.tokens = self._translate(self.text)

    @staticmethod
    def _translate(pattern):
        """Return the pattern's kind and, for ``regex``, its tokens.

        As in docker, a pattern without wildcards is compared whole, one
        ending in ``**`` by prefix and one starting with ``**`` by suffix.
        Tokens: a character, ``_ONE``, ``_STAR``, ``_ALL``, ``_FOLDERS``
        or a compiled one-character class.

        Raises:
            re.error: an unterminated or malformed ``[...]`` class.
        """
        tokens, kind = [], "exact"
        matches = re.finditer(r"\*\*/?|\\.|.", pattern, re.S)
        for token in matches:
            text = token.group()
            if text.startswith("**"):
                if token.end() == len(pattern):
                    tokens.append(_ALL)
                    kind = "prefix" if kind == "exact" else "regex"
                else:
                    tokens.append(_FOLDERS)
                    kind = "regex"
                if token.start() == 0:
                    kind = "suffix"
            elif text in ("*", "?"):
                tokens.append(_STAR if text == "*" else _ONE)
                kind = "regex"
            elif len(text) == 2:  # a backslash escaping the next character
                tokens.append(text[1])
                kind = "regex"
            elif text == "[":
                tokens.append(_read_class(matches))
                kind = "regex"
            else:
                tokens.append(text)
        return kind, tokens

    def _match(self, path):
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (
                suffix.startswith("/") and path == suffix[1:])
        return _glob_match(self.tokens, path)

    def matches(self, path):
        """Tell whether ``path`` or one of its parent folders matches."""
        if self._match(path):
            return True
        parts = path.split("/")[:-1]
        return any(self._match("/".join(parts[:end]))
                   for end in range(1, len(parts) + 1))


class IgnoreMatcher:
    """All of a ``.dockerignore``'s patterns: the last one to match wins.

    Raises:
        ConfigError: a pattern is malformed.
    """

    def __init__(self, patterns):
        try:
            self.patterns = [IgnorePattern(text) for text in patterns]
        except re.error as error:
            raise ConfigError(f"invalid .dockerignore pattern: {error}"
                              ) from None
        self.has_exceptions = any(p.exception for p in self.patterns)

    def excluded(self, path):
        """Tell whether the slash path ``path`` is left out of the context.
        """
        result = False
        for pattern in self.patterns:
            # A pattern can only change the answer it disagrees with.
            if pattern.exception != result:
                continue
            if pattern.matches(path):
                result = not pattern.exception
        return result

    def may_include_below(self, folder):
        """Tell whether an exception could bring back a path in ``folder``.
        """
        prefix = folder + "/"
        return any(p.exception and (p.text + "/").startswith(prefix)
                   for p in self.patterns)


def walk_context(root, matcher):
    """Yield ``(relative path, full path, stat)`` of what a context sends.

    Folders come before their contents, names in sorted order, as docker
    walks them.  An excluded folder is skipped whole unless an exception
    names something inside it; then only that is sent.  The walk keeps
    its own stack, so a context of any depth can be sent.

    Raises:
        DockerError: a file or folder cannot be read.
    """
    stack = [("", iter(_sorted_entries(root, root)))]
    while stack:
        prefix, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        relative = prefix + entry.name
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as error:
            raise DockerError("error checking context: cannot stat "
                              f"{relative}: {_reason(error)}") from None
        is_dir = entry.is_dir(follow_symlinks=False)
        excluded = matcher.excluded(relative)
        if excluded and not (is_dir and matcher.may_include_below(relative)):
            continue
        if not excluded:
            yield relative, entry.path, info
        if is_dir:
            stack.append((relative + "/",
                          iter(_sorted_entries(entry.path, relative))))


def _sorted_entries(path, shown):
    """Return a folder's entries by name; ``shown`` names it in errors."""
    try:
        return sorted(os.scandir(path), key=lambda entry: entry.name)
    except OSError as error:
        raise DockerError("error checking context: cannot read "
                          f"{shown}: {_reason(error)}") from None


def tar_stream(members, chunk_size=STREAM_CHUNK):
    """Yield an uncompressed tar of ``members``, a piece at a time.

    Each member is ``(name, path, stat)`` for a file, folder or symbolic
    link on disk, or ``(name, data, None)`` for bytes made in memory.  A
    file's content is read in ``chunk_size`` pieces, so however large the
    context, only one piece is held at a time.

    Raises:
        DockerError: a file cannot be read.
    """
    import stat
    import tarfile
    for name, source, info in members:
        member = tarfile.TarInfo(name)
        member.mtime = int(time.time())
        if info is None:
            member.size, member.mode = len(source), 0o644
            yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            yield source + _tar_padding(len(source))
            continue
        member.mode = info.st_mode & 0o7777
        member.mtime = int(info.st_mtime)
        if stat.S_ISDIR(info.st_mode):
            member.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(info.st_mode):
            member.type = tarfile.SYMTYPE
            member.linkname = os.readlink(source)
        elif stat.S_ISREG(info.st_mode):
            member.size = info.st_size
        else:
            continue  # sockets, pipes and devices have no place in a build
        yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if member.type == tarfile.REGTYPE:
            yield from _file_pieces(name, source, member.size, chunk_size)
    yield b"\0" * (tarfile.BLOCKSIZE * 2)


def _file_pieces(name, path, size, chunk_size):
    """Yield exactly ``size`` bytes of a file, then the tar padding."""
    left = size
    try:
        with open(path, "rb") as handle:
            while left > 0:
                piece = handle.read(min(chunk_size, left))
                if not piece:
                    break  # the file shrank: keep the archive well formed
                left -= len(piece)
                yield piece
    except OSError as error:
        raise DockerError("error checking context: cannot read "
                          f"{name}: {_reason(error)}") from None
    if left:
        yield b"\0" * left
    yield _tar_padding(size)


def _tar_padding(size):
    return b"\0" * (-size % 512)


def looks_like_tar(head):
    """Tell whether the first bytes of a stream start an archive."""
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or \
            head[:6] == b"\xfd7zXZ\x00" or head[:4] == b"\x28\xb5\x2f\xfd":
        return True
    if len(head) < 512:
        return False
    import tarfile
    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


class CountingStream:
    """Pass chunks of bytes through, counting them.

    Args:
        chunks: an iterable of bytes.
        done: called with the total once the last chunk has gone.
    """

    def __init__(self, chunks, done=None):
        self.chunks = chunks
        self.count = 0
        self.done = done

    def __iter__(self):
        for chunk in self.chunks:
            self.count += len(chunk)
            yield chunk
        if self.done is not None:
            self.done(self.count)


def file_chunks(handle, chunk_size=STREAM_CHUNK):
    """Yield the bytes of an open binary file in bounded pieces."""
    while True:
        piece = handle.read(chunk_size)
        if not piece:
            return
        yield piece



def locate_dockerfile(root, given):
    """Return the Dockerfile's slash path relative to the context ``root``.

    ``-f`` is read relative to the current folder, as docker reads it;
    without it the context's ``Dockerfile`` (or ``dockerfile``) is used.
    A path starting with ``../`` lies outside the context.

    Raises:
        DockerError: there is no such file.
    """
    root = os.path.realpath(root)
    if given:
        path = os.path.abspath(given)
    else:
        path = os.path.join(root, "Dockerfile")
        if not os.path.lexists(path) and os.path.lexists(
                os.path.join(root, "dockerfile")):
            path = os.path.join(root, "dockerfile")
    if not os.path.lexists(path):
        raise DockerError("unable to prepare context: unable to evaluate "
                          f"symlinks in Dockerfile path: lstat {path}: no "
                          "such file or directory")
    relative = os.path.relpath(os.path.realpath(path), root)
    return relative.replace(os.sep, "/")


def context_members(root, dockerfile, extra=()):
    """Return the members of a folder's build context, as tar_stream takes.

    ``.dockerignore`` is honoured, but the Dockerfile and ``.dockerignore``
    themselves are always sent, as docker sends them.  ``extra`` holds
    ``(name, bytes)`` files to add (a Dockerfile from elsewhere); they are
    also added to ``.dockerignore`` so that ``COPY .`` leaves them out.

    Raises:
        ConfigError: a malformed pattern; DockerError: an unreadable file.
    """
    try:
        with open(os.path.join(root, ".dockerignore"), "rb") as handle:
            ignore_text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        ignore_text = None
    except OSError as error:
        raise DockerError("error checking context: cannot read "
                          f".dockerignore: {_reason(error)}") from None
    patterns = read_dockerignore(ignore_text or "")
    matcher = IgnoreMatcher(patterns)
    if matcher.excluded(".dockerignore"):
        patterns.append("!.dockerignore")
    if not extra and matcher.excluded(dockerfile):
        patterns.append("!" + dockerfile)
    matcher = IgnoreMatcher(patterns)
    if not extra:
        return walk_context(root, matcher)
    ignore = ignore_text if ignore_text is not None else ".dockerignore"
    ignore += "".join(f"\n{name}\n" for name, _ in extra)
    added = [(name, data, None) for name, data in extra]
    added.append((".dockerignore", ignore.encode("utf-8"), None))
    return _chain((member for member in walk_context(root, matcher)
                   if member[0] != ".dockerignore"), added)


def _chain(*iterables):
    for iterable in iterables:
        yield from iterable


def _prepend(first, chunks):
    yield first
    yield from chunks


def build_arguments(values):
    """Return ``--build-arg`` values as the engine's ``buildargs`` map.

    ``KEY`` alone takes the value of the variable KEY from the
    environment, and null (unset) when there is none, as docker does.
    """
    arguments = {}
    for value in values:
        key, equals, text = value.partition("=")
        if equals:
            arguments[key] = text
        else:
            arguments[key] = os.environ.get(key)
    return arguments


def label_values(values):
    """Return ``--label key=value`` flags as a map (a bare key is empty)."""
    labels = {}
    for value in values:
        key, _, text = value.partition("=")
        labels[key] = text
    return labels


def open_input(path):
    """Open a file to read, or fail with docker's ``open PATH: why``.

    Raises:
        DockerError: the file cannot be opened.
    """
    try:
        return open(path, "rb")
    except OSError as error:
        reason = _reason(error)
        # Go words system errors in lower case: "no such file or directory".
        raise DockerError(f"open {path}: {reason[:1].lower()}{reason[1:]}"
                          ) from None


def write_atomically(path, chunks, action="save image"):
    """Write chunks of bytes to ``path`` through a temporary file.

    The file appears whole or not at all: a failure leaves no half file.
    A symbolic link is written through to its target; anything that is
    not a regular file (a device, a FIFO, a folder) is refused rather
    than replaced.

    Args:
        path: where the file goes.
        chunks: an iterable of bytes.
        action: what failed, for messages (``"export container"``).

    Raises:
        DockerError: the file cannot be written.
    """
    import stat
    import tempfile
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise DockerError(f"failed to {action}: invalid output path: "
                          f'directory "{folder}" does not exist')
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise DockerError(f"failed to {action}: {_reason(error)}: "
                          f"{path}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise DockerError(f"failed to {action}: cannot write to {path}: "
                          "not a regular file")
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=".pydocker-", dir=folder)
    except OSError as error:
        raise DockerError(f"failed to {action}: {_reason(error)}: "
                          f"{path}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        # The temporary file's 0600 stays, as docker's own save and export
        # leave their files: an image may hold secrets.
        os.replace(temporary, target)
    except OSError as error:
        _remove_quietly(temporary)
        raise DockerError(f"failed to {action}: {_reason(error)}: "
                          f"{path}") from None
    except BaseException:
        _remove_quietly(temporary)
        raise


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
    # ASCII digits: \d would take any script's, which docker refuses.
    if not re.fullmatch(r"[0-9]{1,5}", first) or (
            dash and not re.fullmatch(r"[0-9]{1,5}", last)):
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
    return parse_env_lines(data, path)


def parse_env_lines(data, path):
    """Return the variables of an env file's bytes (see parse_env_file).

    Raises:
        ValueError: bytes that are not UTF-8, or a malformed line.
    """
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
    ("build", "Build an image from a Dockerfile"),
    ("commit", "Create a new image from a container's changes"),
    ("cp", "Copy files/folders between a container and the local "
     "filesystem"),
    ("create", "Create a new container"),
    ("diff", "Inspect changes to files or directories on a container's "
     "filesystem"),
    ("events", "Get real time events from the server"),
    ("exec", "Execute a command in a running container"),
    ("export", "Export a container's filesystem as a tar archive"),
    ("history", "Show the history of an image"),
    ("images", "List images"),
    ("import", "Import the contents from a tarball to create a filesystem "
     "image"),
    ("info", "Display system-wide information"),
    ("inspect", "Return low-level information on Docker objects"),
    ("kill", "Kill one or more running containers"),
    ("load", "Load an image from a tar archive or STDIN"),
    ("login", "Log in to a registry"),
    ("logout", "Log out from a registry"),
    ("logs", "Fetch the logs of a container"),
    ("pause", "Pause all processes within one or more containers"),
    ("port", "List port mappings or a specific mapping for the container"),
    ("ps", "List containers"),
    ("pull", "Download an image from a registry"),
    ("push", "Upload an image to a registry"),
    ("rename", "Rename a container"),
    ("restart", "Restart one or more containers"),
    ("rm", "Remove one or more containers"),
    ("rmi", "Remove one or more images"),
    ("run", "Create and run a new container from an image"),
    ("save", "Save one or more images to a tar archive (streamed to STDOUT "
     "by default)"),
    ("search", "Search Docker Hub for images"),
    ("start", "Start one or more stopped containers"),
    ("stats", "Display a live stream of container(s) resource usage "
     "statistics"),
    ("stop", "Stop one or more running containers"),
    ("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    ("top", "Display the running processes of a container"),
    ("unpause", "Unpause all processes within one or more containers"),
    ("update", "Update configuration of one or more containers"),
    ("version", "Show the Docker version information"),
    ("wait", "Block until one or more containers stop, then print their "
     "exit codes"),
)

# What the commands reached only through a group do.
SUBCOMMAND_SUMMARIES = {
    "container_inspect": "Display detailed information on one or more "
                         "containers",
    "container_prune": "Remove all stopped containers",
    "image_inspect": "Display detailed information on one or more images",
    "image_prune": "Remove unused images",
    "system_df": "Show docker disk usage",
}

# Docker's grouped forms: "image ls" runs "images", and so on.
GROUPS = {
    "image": ("Manage images", {
        "build": "build", "history": "history", "import": "import",
        "inspect": "image_inspect", "load": "load", "ls": "images",
        "list": "images", "prune": "image_prune", "pull": "pull",
        "push": "push", "rm": "rmi", "remove": "rmi", "save": "save",
        "tag": "tag"}),
    "container": ("Manage containers", {
        "ls": "ps", "list": "ps", "ps": "ps",
        "inspect": "container_inspect", "attach": "attach",
        "commit": "commit", "cp": "cp", "create": "create", "diff": "diff",
        "exec": "exec", "export": "export", "kill": "kill", "logs": "logs",
        "pause": "pause", "port": "port", "prune": "container_prune",
        "rename": "rename", "restart": "restart", "rm": "rm",
        "remove": "rm", "run": "run", "start": "start", "stats": "stats",
        "stop": "stop", "top": "top", "unpause": "unpause",
        "update": "update", "wait": "wait"}),
    "system": ("Manage Docker", {"df": "system_df", "events": "events",
                                 "info": "info"}),
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


def compile_format(text, table=None, prefixes=None):
    """Return ``(Template, is_table)`` for a ``--format`` value.

    ``json`` means ``{{json .}}``; a leading ``table`` asks for aligned
    columns, and ``table`` alone for the command's default ``table``.

    Raises:
        TemplateError: the template does not parse, with the prefix.
    """
    parse_prefix = (prefixes or _TEMPLATE_PREFIXES)[0]
    is_table = text.startswith("table")
    if text == "json":
        source = "{{json .}}"
    elif is_table:
        source = text[len("table"):].strip(" ")
        if not source and table:
            source = table[len("table"):].strip(" ")
    else:
        source = text.strip(" ")
    try:
        return parse_template(source), is_table
    except TemplateError as error:
        raise TemplateError(parse_prefix + str(error)) from None


def render_format(template, item, out, prefixes=None):
    """Append ``template`` applied to ``item`` to the list ``out``.

    Raises:
        TemplateError: with the execution prefix.
    """
    try:
        template.render_into(out, item)
    except TemplateError as error:
        prefix = (prefixes or _TEMPLATE_PREFIXES)[1]
        raise TemplateError(prefix + str(error)) from None


def format_items(text, items, context=None, table=None, prefixes=None):
    """Return ``items`` rendered through a ``--format`` value.

    Args:
        text: the --format value: a Go template, ``json`` (one JSON
            object a line), or ``table`` and a template (aligned
            columns under a header line).
        items: FormatContext objects or dicts, one template run each.
        context: the FormatContext class whose HEADERS title a table's
            columns (default: the items' class); without one, titles
            are derived from field names (``CreatedSince`` is
            ``CREATED SINCE``).
        table: the format that ``table`` alone stands for.
        prefixes: the (parse, execute) error prefixes; by default
            ``template parsing error: `` for both.

    Raises:
        TemplateError: the template does not parse or execute.
    """
    template, is_table = compile_format(text, table, prefixes)
    out = []
    for item in items:
        render_format(template, item, out, prefixes)
        out.append("\n")
    if not is_table:
        return "".join(out)
    if context is None and items and isinstance(items[0], FormatContext):
        context = type(items[0])
    titles = []
    try:
        template.render_into(titles, context.header() if context
                             else _HeaderContext({}), header=True)
    except TemplateError:
        pass  # docker prints what rendered before the failure
    return tabwrite("".join(titles) + "\n" + "".join(out))


def table_text(table, rows, context):
    """Return a default table, read straight from each row's fields.

    ``table`` is a format made of plain fields (``table {{.A}}\t
    {{.B}}``); ``context`` is the rows' FormatContext class, whose
    HEADERS title the columns.
    """
    names = re.findall(r"{{\.(\w+)}}", table)
    lines = [[context.HEADERS.get(name, name) for name in names]]
    lines += [[str(row.field(name, [])) for name in names] for row in rows]
    return format_table(lines)


# How docker prefixes template errors: images, history and most commands;
# ps words parse and execution failures apart.
_TEMPLATE_PREFIXES = ("template parsing error: ",) * 2
_PS_TEMPLATE_PREFIXES = ("failed to parse template: ",
                         "failed to execute template: ")
_FORMAT_USAGE = ("Format output using a custom template: 'table', 'table "
                 "TEMPLATE' (aligned columns), 'json', or a Go template")
_INSPECT_FORMAT_USAGE = ("Format output using a custom template: 'json', "
                         "or a Go template")
_IGNORED_FORMAT = ("WARNING: Ignoring custom format, because both --format "
                   "and --quiet are set.")


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
        default_in, default_out, default_err = process_streams()
        self.stdin = stdin if stdin is not None else default_in
        self.stdout = stdout if stdout is not None else default_out
        self.stderr = stderr if stderr is not None else default_err
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
        """Write one line to stderr, its control characters escaped.

        Errors echo text from the engine and the user: a newline in it
        must not start a second line, nor an escape drive the terminal.
        """
        line = escape_controls(str(text)) + "\n"
        self.stderr.write(line.encode("utf-8", "replace"))
        self.stderr.flush()

    def write_formatted(self, text, items, context=None, table=None,
                        prefixes=None):
        """Write ``items`` through a ``--format`` value, as docker does.

        See ``format_items`` for the arguments.

        Raises:
            TemplateError: the template does not parse or execute.
        """
        self.stdout.write(format_items(text, items, context, table,
                                       prefixes).encode("utf-8", "replace"))
        self.stdout.flush()

    # Dispatch --------------------------------------------------------------

    def cmd(self, name, *args):
        """Run the command ``name`` with ``args``; return its exit code.

        Every error is printed here as one line (and a hint line where one
        helps); nothing is raised.
        """
        try:
            return self._report_errors(name, args)
        except BrokenPipeError:
            # Raised by a write in an error handler too, hence out here.
            return _quiet_broken_pipe()
        finally:
            if self._client is not None and name != "help":
                self._client.close()

    def _report_errors(self, name, args):
        """Run one command, printing any error it raises as ``cmd`` says."""
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
            raise
        except Exception as error:  # noqa: BLE001 - no traceback for users
            log.debug("unexpected error", exc_info=True)
            self.warn(f"error: {type(error).__name__}: {error}")
            return 1

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
            summaries = dict(COMMANDS, **SUBCOMMAND_SUMMARIES)
            lines += [f"  {sub:<10} {summaries.get(table[sub], '')}"
                      .rstrip() for sub in sorted(table)]
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
        """Manage Docker: ``system info``, ``system df``, ..."""
        return self._group("system", args)

    def cmd_help(self, *args):
        """Show the help, or a command's usage."""
        flags = self.flags("help", "[command]", "Help about the command")
        args = self.parse(flags, args)
        if args:
            return self.cmd(args[0], "--help")
        self.stdout.write(self.help_text().encode())
        return 0

    # Engine and system -----------------------------------------------------

    def cmd_version(self, *args):
        """Show the client's and the engine's versions."""
        flags = self.flags("version", "[OPTIONS]",
                           "Show the Docker version information")
        template = flags.string(["f", "-format"], "", _INSPECT_FORMAT_USAGE)
        self.parse(flags, args, exactly=0)
        if template.value:
            return self._format_one(template.value, "version", lambda: {
                "Client": self._client_facts(), "Server":
                    self.client.version()})
        # As docker does, the client's side shows even when the engine
        # cannot be reached; the error follows it.
        try:
            api_version = self._client_api_version()
            failure = None
        except ConnectError as error:
            api_version, failure = MAX_API_VERSION, error
        self.out(format_rows("Client:", [
            ("Version", __version__),
            ("API version", api_version),
            ("Python version", sys.version.split()[0]),
            ("OS/Arch", f"{sys.platform}/{_machine()}"),
        ], 19))
        if failure is not None:
            self.out()
            raise failure
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

    def _client_facts(self):
        """Return the client's side of ``version``, as docker names it."""
        return {
            "Version": __version__,
            "ApiVersion": format_api_version(self.client.negotiate()),
            "DefaultAPIVersion": MAX_API_VERSION,
            "PythonVersion": sys.version.split()[0],
            "Os": sys.platform, "Arch": _machine(), "Context": "default"}

    def _format_one(self, text, name, facts):
        """Print one object (from ``facts()``) through a --format value.

        The template is checked before ``facts`` asks the engine.  As
        docker does for version and info, errors are Go's, unprefixed.
        """
        source = "{{json .}}" if text == "json" else text
        compiled = parse_template(source, name, missing_key="error")
        self.out(compiled.render(go_typed(facts())))
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
        template = flags.string(["f", "-format"], "", _INSPECT_FORMAT_USAGE)
        self.parse(flags, args, exactly=0)
        if template.value:
            return self._format_one(template.value, "", lambda: dict(
                self.client.info(), ClientInfo={
                    "Debug": log.isEnabledFor(DEBUG),
                    "Version": __version__, "Context": "default",
                    "Plugins": [], "Warnings": None}))
        self.out(format_rows("Client:", [
            ("Version", __version__),
            ("Debug Mode", str(log.isEnabledFor(DEBUG)).lower())],
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
        """List images as a table, their IDs, or through ``--format``."""
        flags = self.flags("images", "[OPTIONS] [REPOSITORY[:TAG]]",
                           "List images")
        show_all = flags.bool(["a", "-all"], False, "Show all images "
                              "(default hides intermediate images)")
        digests = flags.bool(["-digests"], False, "Show digests")
        filters = flags.list(["f", "-filter"],
                             "Filter output based on conditions provided")
        template = flags.string(["-format"], "", _FORMAT_USAGE)
        no_trunc = flags.bool(["-no-trunc"], False,
                              "Don't truncate output")
        quiet = flags.bool(["q", "-quiet"], False, "Only show image IDs")
        names = self.parse(flags, args)
        if len(names) > 1:
            raise FlagError(f'"{flags.name}" requires at most 1 argument.',
                            exit_code=1)
        text = template.value or self.config.data.get("imagesFormat") or ""
        if quiet.value and template.value:
            self.warn(_IGNORED_FORMAT)
        wanted = parse_filters(filters.value)
        if names:
            wanted.setdefault("reference", []).append(names[0])
        images = self.client.images(all=show_all.value, filters=wanted)
        # A template that shows digests gets the rows --digests gives.
        show_digests = digests.value or "{{.Digest}}" in text
        rows = [row for image in images for row in image_contexts(
            image, show_digests, not no_trunc.value)]
        if quiet.value:
            for row in rows:  # one line a row, as docker prints them
                self.out(row.ID())
            return 0
        table = (ImageContext.DIGEST_TABLE if digests.value
                 else ImageContext.TABLE)
        if text and text != "table":
            self.write_formatted(text, rows, ImageContext, table)
            return 0
        self.write_table(table, rows, ImageContext)
        return 0

    def write_table(self, table, rows, context):
        """Write a default table without the template engine.

        See ``table_text``: a listing without --format compiles no
        template.
        """
        self.stdout.write(table_text(table, rows, context).encode(
            "utf-8", "replace"))
        self.stdout.flush()

    def cmd_ps(self, *args):
        """List containers as a table, their IDs, or through --format."""
        flags = self.flags("ps", "[OPTIONS]", "List containers")
        show_all = flags.bool(["a", "-all"], False, "Show all containers "
                              "(default shows just running)")
        filters = flags.list(["f", "-filter"],
                             "Filter output based on conditions provided")
        template = flags.string(["-format"], "", _FORMAT_USAGE)
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
        text = template.value or self.config.data.get("psFormat") or ""
        if quiet.value and template.value:
            self.warn(_IGNORED_FORMAT)
        table = ContainerContext.TABLE + ("\t{{.Size}}" if size.value
                                          else "")
        custom = text and text != "table" and not quiet.value
        want_size = size.value
        if custom:
            # Docker runs the template once on an empty container first:
            # a broken template fails before any request, and one that
            # shows .Size asks the engine for sizes (unless -s=false).
            compiled, _ = compile_format(text, table, _PS_TEMPLATE_PREFIXES)
            probe = ContainerContext({})
            render_format(compiled, probe, [], _PS_TEMPLATE_PREFIXES)
            if text != "json" and "Size" in probe.used \
                    and not size.changed:
                want_size = True
        limit = 1 if latest.value else last.value
        containers = self.client.containers(
            all=show_all.value or limit > 0,
            filters=parse_filters(filters.value),
            limit=limit if limit > 0 else None,
            size=want_size and not quiet.value)
        rows = [ContainerContext(container, not no_trunc.value)
                for container in containers]
        if quiet.value:
            for row in rows:
                self.out(row.ID())
            return 0
        if custom:
            self.write_formatted(text, rows, ContainerContext, table,
                                 _PS_TEMPLATE_PREFIXES)
            return 0
        self.write_table(table, rows, ContainerContext)
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
        template = flags.string(["f", "-format"], "", _INSPECT_FORMAT_USAGE)
        size = None
        if "containers" in kinds:
            size = flags.bool(["s", "-size"], False, "Display total file "
                              "sizes if the type is container")
        self.parse(flags, args, minimum=1)
        if kind is not None and kind.value:
            if kind.value not in ("container", "image"):
                raise FlagError(f'"{kind.value}" is not a valid value '
                                'for --type')
            kinds = (kind.value + "s",)
        compiled = _inspect_compile(template.value)
        found, failed = [], False
        for target in flags.args:
            raw = self._inspect_one(kinds, target, bool(size and size.value))
            if raw is None:
                failed = True
                kind_word = "object" if len(kinds) > 1 else kinds[0][:-1]
                self.warn(f"Error: No such {kind_word}: {target}")
            else:
                found.append(raw.decode("utf-8", "replace").strip())
        if compiled is not None:
            return self._inspect_template(compiled, found) or int(failed)
        if template.value == "json":
            compact = "".join(_JSON_TOKEN.findall(",".join(found)))
            self.out(f"[{compact}]")
        else:
            self.out(indent_json("[" + ",".join(found) + "]")
                     if found else "[]")
        return 1 if failed else 0

    def _inspect_template(self, compiled, found):
        """Print each object through the template; return 1 on a failure.

        Failures are reported after the output, each on its own line;
        when nothing at all was printed, an empty line is, as docker
        does.
        """
        out, errors = [], []
        for raw in found:
            pieces = []
            try:
                compiled.render_into(pieces, go_typed(json.loads(raw)))
            except TemplateError as error:
                errors.append(f"template parsing error: {error}")
                continue
            out.append("".join(pieces) + "\n")
        self.stdout.write(("".join(out) or "\n").encode("utf-8", "replace"))
        self.stdout.flush()
        for error in errors:
            self.warn(error)
        return 1 if errors else 0

    def _inspect_one(self, kinds, target, size=False):
        """Return the first kind's raw JSON for ``target``, or None."""
        for kind in kinds:
            try:
                return self.client.inspect_raw(kind, target, size)
            except NotFound:
                continue
        return None

    # Containers ------------------------------------------------------------

    def _each(self, names, action):
        """Run ``action(name)`` for each name, printing it on success.

        A failure is reported and the rest still run, as docker does.

        Returns:
            0, or 1 when any name failed.
        """
        failed = False
        for name in names:
            try:
                action(name)
            except PER_NAME_ERRORS + (VersionError,) as error:
                self.warn(str(error))
                failed = True
                continue
            self.out(name)
        return 1 if failed else 0

    def _stop_flags(self, name, description):
        """Return the flag set shared by ``stop`` and ``restart``."""
        flags = self.flags(name, "[OPTIONS] CONTAINER [CONTAINER...]",
                           description)
        signal = flags.string(["s", "-signal"], "",
                              "Signal to send to the container")
        timeout = flags.int(["t", "-timeout", "#-time"], 0,
                            "Seconds to wait before killing the container")
        return flags, signal, timeout

    def cmd_stop(self, *args):
        """Stop running containers."""
        flags, signal, timeout = self._stop_flags(
            "stop", "Stop one or more running containers")
        names = self.parse(flags, args, minimum=1)
        seconds = timeout.value if timeout.changed else None
        return self._each(names, lambda name: self.client.stop(
            name, seconds, signal.value))

    def cmd_restart(self, *args):
        """Restart containers."""
        flags, signal, timeout = self._stop_flags(
            "restart", "Restart one or more containers")
        names = self.parse(flags, args, minimum=1)
        seconds = timeout.value if timeout.changed else None
        return self._each(names, lambda name: self.client.restart(
            name, seconds, signal.value))

    def cmd_kill(self, *args):
        """Send a signal (default SIGKILL) to running containers."""
        flags = self.flags("kill", "[OPTIONS] CONTAINER [CONTAINER...]",
                           "Kill one or more running containers")
        signal = flags.string(["s", "-signal"], "",
                              "Signal to send to the container")
        names = self.parse(flags, args, minimum=1)
        return self._each(names, lambda name: self.client.kill(
            name, signal.value))

    def cmd_pause(self, *args):
        """Freeze every process of containers."""
        flags = self.flags("pause", "CONTAINER [CONTAINER...]",
                           "Pause all processes within one or more "
                           "containers")
        names = self.parse(flags, args, minimum=1)
        return self._each(names, self.client.pause)

    def cmd_unpause(self, *args):
        """Thaw paused containers."""
        flags = self.flags("unpause", "CONTAINER [CONTAINER...]",
                           "Unpause all processes within one or more "
                           "containers")
        names = self.parse(flags, args, minimum=1)
        return self._each(names, self.client.unpause)

    def cmd_top(self, *args):
        """Show a container's processes; the rest goes to ``ps``."""
        flags = self.flags("top", "CONTAINER [ps OPTIONS]",
                           "Display the running processes of a container")
        # Words after the container are ps options, not ours.
        flags.interspersed = False
        words = self.parse(flags, args, minimum=1)
        answer = self.client.top(words[0], " ".join(words[1:]))
        rows = [answer.get("Titles") or []]
        rows += answer.get("Processes") or []
        self.stdout.write(format_table(rows, minimum=20).encode(
            "utf-8", "replace"))
        return 0

    def cmd_port(self, *args):
        """List a container's published ports, or where one goes."""
        flags = self.flags("port", "CONTAINER [PRIVATE_PORT[/PROTO]]",
                           "List port mappings or a specific mapping for "
                           "the container")
        words = self.parse(flags, args, minimum=1)
        if len(words) > 2:
            raise FlagError(f'"{flags.name}" requires at most 2 arguments.',
                            exit_code=1)
        container = self.client.inspect_container(words[0])
        ports = (container.get("NetworkSettings") or {}).get("Ports") or {}
        if len(words) == 1:
            lines = [f"{private} -> {_join_host_port(binding)}"
                     for private, bindings in ports.items()
                     for binding in bindings or []]
        else:
            lines = self._port_bindings(ports, words[1], words[0])
        for line in sorted(lines, key=natural_key):
            self.out(line)
        return 0

    @staticmethod
    def _port_bindings(ports, wanted, container):
        """Return ``host:port`` lines for one private port, as docker."""
        number, _, protocol = wanted.partition("/")
        if not re.fullmatch(r"[0-9]{1,5}", number) or int(number) > 65535:
            raise DockerError(f"Error: invalid port ({number}): "
                              "not a port number")
        bindings = ports.get(f"{number}/{protocol or 'tcp'}") or []
        if not bindings:
            raise DockerError(f"Error: No public port '{wanted}' published "
                              f"for {container}")
        return [_join_host_port(binding) for binding in bindings]

    def cmd_diff(self, *args):
        """Show what changed in a container's filesystem."""
        flags = self.flags("diff", "CONTAINER", "Inspect changes to files "
                           "or directories on a container's filesystem")
        (name,) = self.parse(flags, args, exactly=1)
        for change in self.client.diff(name):
            kind = {0: "C", 1: "A", 2: "D"}.get(change.get("Kind"), "?")
            self.out(f"{kind} {change.get('Path', '')}")
        return 0

    def cmd_rename(self, *args):
        """Give a container a new name."""
        flags = self.flags("rename", "CONTAINER NEW_NAME",
                           "Rename a container")
        old, new = self.parse(flags, args, exactly=2)
        old, new = old.strip(), new.strip()
        if not old or not new:
            raise DockerError("Error: Neither old nor new names may be "
                              "empty")
        try:
            self.client.rename(old, new)
        except APIError as error:
            # Docker shows the engine's reason, then its own summary.
            self.warn(str(error))
            raise DockerError("Error: failed to rename container named "
                              f"{old}") from None
        return 0

    def cmd_cp(self, *args):
        """Copy files between a container and the local filesystem."""
        flags = self.flags(
            "cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\t"
            f"{self.prog} cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
            "Copy files/folders between a container and the local "
            "filesystem\n\nUse '-' as the source to read a tar archive "
            "from stdin\nand extract it to a directory destination in a "
            "container.\nUse '-' as the destination to stream a tar "
            "archive of a\ncontainer source to stdout.")
        archive = flags.bool(["a", "-archive"], False,
                             "Archive mode (copy all uid/gid information)")
        follow = flags.bool(["L", "-follow-link"], False,
                            "Always follow symbol link in SRC_PATH")
        quiet = flags.bool(["q", "-quiet"], False,
                           "Suppress progress output during copy")
        source, destination = self.parse(flags, args, exactly=2)
        source_container, source_path = split_cp_argument(source)
        target_container, target_path = split_cp_argument(destination)
        if source_container and target_container:
            raise DockerError("copying between containers is not supported")
        if not (source_container or target_container):
            raise DockerError("must specify at least one container source")
        if source_container:
            size = self._copy_from(source_container, source_path,
                                   target_path, follow.value)
            shown = target_path
        else:
            size = self._copy_to(source_path, target_container,
                                 target_path, archive.value, follow.value)
            shown = f"{target_container}:{target_path}"
        if size is not None and not quiet.value and _isatty(self.stderr):
            self.warn(f"Successfully copied {human_size(size, 3)} to "
                      f"{shown}")
        return 0

    def _copy_from(self, container, path, target, follow):
        """Copy ``container:path`` to the local ``target`` (``-``: tar).

        Returns:
            The size of the tar copied, or None when it went to stdout.
        """
        rebase = None
        if follow:
            path, rebase = self._follow_container_link(container, path)
        if target != "-":
            check_local_parent(target)
        stat, response = self.client.get_archive(container, path)
        try:
            if target == "-":
                for chunk in _chunks(response):
                    self.stdout.write(chunk)
                self.stdout.flush()
                return None
            counter = _CountingReader(response)
            extract_copy(counter, path, rebase,
                         bool(stat.get("mode", 0) & GO_MODE_DIR), target)
            return counter.count
        finally:
            self.client.close()  # an unread rest cannot be reused

    def _follow_container_link(self, container, path):
        """Resolve a symbolic link in a container for ``cp -L``.

        Returns:
            ``(path to copy, name to give it)``.
        """
        stat = self.client.stat_path(container, path)
        if not stat.get("mode", 0) & GO_MODE_SYMLINK:
            return path, None
        import posixpath
        link = stat.get("linkTarget") or ""
        if not link.startswith("/"):
            link = posixpath.join(split_path_entry(path)[0], link)
        return link, split_path_entry(path)[1]

    def _copy_to(self, source, container, path, archive, follow):
        """Copy the local ``source`` (``-``: a tar on stdin) into a container.

        Returns:
            The bytes of tar sent, or None for a tar from stdin.
        """
        import posixpath
        try:
            stat = self.client.stat_path(container, path)
        except NotFound:
            stat = None  # the engine will say what is wrong, if anything
        if stat and stat.get("mode", 0) & GO_MODE_SYMLINK:
            link = stat.get("linkTarget") or ""
            if not link.startswith("/"):
                link = posixpath.join(split_path_entry(path)[0], link)
            path = link
            try:
                stat = self.client.stat_path(container, path)
            except NotFound:
                stat = None
        is_dir = bool(stat and stat.get("mode", 0) & GO_MODE_DIR)
        if source == "-":
            if not is_dir:
                raise DockerError(f'destination "{container}:{path}" must '
                                  "be a directory")
            self.client.put_archive(container, path, _chunks(self.stdin),
                                    archive)
            return None
        directory, chunks = prepare_copy_to(source, path, stat is not None,
                                            is_dir, follow)
        counted = _CountingChunks(chunks)
        self.client.put_archive(container, directory, counted, archive)
        return counted.count

    def cmd_export(self, *args):
        """Write a container's filesystem as a tar, to a file or stdout."""
        flags = self.flags("export", "[OPTIONS] CONTAINER",
                           "Export a container's filesystem as a tar "
                           "archive")
        output = flags.string(["o", "-output"], "",
                              "Write to a file, instead of STDOUT")
        (name,) = self.parse(flags, args, exactly=1)
        if not output.value:
            if self.stdout_tty:
                raise DockerError("cowardly refusing to save to a terminal. "
                                  "Use the -o flag or redirect")
            for chunk in self.client.export(name):
                self.stdout.write(chunk)
            self.stdout.flush()
            return 0
        write_atomically(output.value, self.client.export(name),
                         "export container")
        return 0

    def cmd_commit(self, *args):
        """Make an image from a container's changes; print its ID."""
        flags = self.flags("commit", "[OPTIONS] CONTAINER "
                           "[REPOSITORY[:TAG]]",
                           "Create a new image from a container's changes")
        author = flags.string(["a", "-author"], "", "Author (e.g., \"John "
                              "Hannibal Smith <hannibal@a-team.com>\")")
        changes = flags.list(["c", "-change"], "Apply Dockerfile "
                             "instruction to the created image")
        message = flags.string(["m", "-message"], "", "Commit message")
        pause = flags.bool(["p", "-pause"], True,
                           "Pause container during commit")
        words = self.parse(flags, args, minimum=1)
        if len(words) > 2:
            raise FlagError(f'"{flags.name}" requires at most 2 arguments.',
                            exit_code=1)
        repository = tag = None
        if len(words) == 2:
            reference = parse_reference(words[1])
            if reference.digest:
                raise DockerError("refusing to create a tag with a digest "
                                  "reference")
            repository, tag = reference.name, reference.tag or "latest"
        answer = self.client.commit(
            words[0], repository, tag, message.value, author.value,
            changes.value, pause.value)
        self.out(answer.get("Id", ""))
        return 0

    def cmd_stats(self, *args):
        """Show containers' resource usage, live or once (``--no-stream``).

        Each container is followed on a connection of its own.  On a
        terminal the table is redrawn in place every half second.
        """
        flags = self.flags("stats", "[OPTIONS] [CONTAINER...]",
                           "Display a live stream of container(s) resource "
                           "usage statistics")
        show_all = flags.bool(["a", "-all"], False, "Show all containers "
                              "(default shows just running)")
        no_stream = flags.bool(["-no-stream"], False, "Disable streaming "
                               "stats and only pull the first result")
        no_trunc = flags.bool(["-no-trunc"], False,
                              "Do not truncate output")
        template = flags.string(["-format"], "", _FORMAT_USAGE)
        names = self.parse(flags, args)
        text = (template.value or self.config.data.get("statsFormat")
                or "table")
        if text != "table":
            compile_format(text)  # a broken template fails before any work
        if not names:
            # TODO: containers started or removed while stats runs are not
            # followed (docker watches events); restart stats to see them.
            names = [truncate_id(container["Id"]) for container in
                     self.client.containers(all=show_all.value)]
        watchers = [_StatsWatcher(self.client.clone(), name,
                                  not no_stream.value) for name in names]
        try:
            return self._show_stats(watchers, no_stream.value, text,
                                    not no_trunc.value)
        finally:
            for watcher in watchers:
                watcher.stop()

    def _show_stats(self, watchers, once, text, trunc):
        for watcher in watchers:
            watcher.start()
        for watcher in watchers:
            watcher.first.wait()
        errors = [watcher.error for watcher in watchers if watcher.error]
        for error in errors:
            self.warn(str(error))
        if errors:
            return 1
        if once:
            self._write_stats(watchers, text, trunc)
            return 0
        if self.stdout_tty:
            self.stdout.write(b"\x1b[2J")  # a clean screen to draw on
        while True:
            self._write_stats(watchers, text, trunc,
                              redraw=self.stdout_tty)
            if all(watcher.done for watcher in watchers):
                return 0
            time.sleep(0.5)

    def _write_stats(self, watchers, text, trunc, redraw=False):
        rows = [StatsContext(watcher.sample or {}, watcher.container, trunc)
                for watcher in watchers]
        if text == "table":
            table = table_text(StatsContext.TABLE, rows, StatsContext)
        else:
            table = format_items(text, rows, StatsContext,
                                 table=StatsContext.TABLE)
        if redraw:
            # Home, then each line cleared to its end, then the rest of
            # the screen: a table that shrank leaves nothing behind.
            table = "\x1b[H" + table.replace("\n", "\x1b[K\n") + "\x1b[J"
        self.stdout.write(table.encode("utf-8", "replace"))
        self.stdout.flush()

    def cmd_update(self, *args):
        """Change the resources or restart policy of containers."""
        flags = self.flags("update", "[OPTIONS] CONTAINER [CONTAINER...]",
                           "Update configuration of one or more containers")
        ints = {
            "BlkioWeight": flags.int(["-blkio-weight"], 0, "Block IO "
                                     "(relative weight), between 10 and "
                                     "1000, or 0 to disable"),
            "CpuPeriod": flags.int(["-cpu-period"], 0, "Limit CPU CFS "
                                   "(Completely Fair Scheduler) period"),
            "CpuQuota": flags.int(["-cpu-quota"], 0, "Limit CPU CFS "
                                  "(Completely Fair Scheduler) quota"),
            "CpuRealtimePeriod": flags.int(
                ["-cpu-rt-period"], 0,
                "Limit the CPU real-time period in microseconds"),
            "CpuRealtimeRuntime": flags.int(
                ["-cpu-rt-runtime"], 0,
                "Limit the CPU real-time runtime in microseconds"),
            "CpuShares": flags.int(["c", "-cpu-shares"], 0,
                                   "CPU shares (relative weight)"),
            "PidsLimit": flags.int(["-pids-limit"], 0, "Tune container "
                                   "pids limit (set -1 for unlimited)"),
        }
        strings = {
            "CpusetCpus": flags.string(["-cpuset-cpus"], "", "CPUs in "
                                       "which to allow execution (0-3, 0,1)"),
            "CpusetMems": flags.string(["-cpuset-mems"], "", "MEMs in "
                                       "which to allow execution (0-3, 0,1)"),
        }
        sizes = {
            "Memory": flags.string(["m", "-memory"], "", "Memory limit"),
            "MemoryReservation": flags.string(["-memory-reservation"], "",
                                              "Memory soft limit"),
            "MemorySwap": flags.string(["-memory-swap"], "", "Swap limit "
                                       "equal to memory plus swap: -1 to "
                                       "enable unlimited swap"),
        }
        cpus = flags.string(["-cpus"], "", "Number of CPUs")
        restart = flags.string(["-restart"], "", "Restart policy to apply "
                               "when a container exits")
        names = self.parse(flags, args, minimum=1)
        resources = {key: flag.value for table in (ints, strings)
                     for key, flag in table.items() if flag.changed}
        try:
            for key, flag in sizes.items():
                if flag.changed:
                    resources[key] = _size_flag(flag)
            if cpus.changed:
                resources["NanoCpus"] = _cpus_flag(cpus)
        except FlagError as error:
            error.command = flags.name
            raise
        if restart.changed:
            resources["RestartPolicy"] = parse_restart_policy(restart.value)
        if not resources:
            raise DockerError("you must provide one or more flags when "
                              "using this command")

        def update(name):
            answer = self.client.update_container(name, resources)
            for warning in answer.get("Warnings") or []:
                self.warn(warning)
        return self._each(names, update)

    def cmd_container_prune(self, *args):
        """Remove stopped containers, after asking unless ``-f``."""
        flags = self.flags("container prune", "[OPTIONS]",
                           "Remove all stopped containers")
        filters = flags.list(["-filter"], "Provide filter values (e.g. "
                             "\"until=<timestamp>\")")
        force = flags.bool(["f", "-force"], False,
                           "Do not prompt for confirmation")
        self.parse(flags, args, exactly=0)
        try:
            wanted = parse_filters(filters.value)
        except FlagError as error:
            error.command = flags.name
            raise
        if not force.value and not self.confirm(
                "WARNING! This will remove all stopped containers."):
            return 0
        answer = self.client.prune_containers(wanted)
        deleted = answer.get("ContainersDeleted") or []
        if deleted:
            self.out("Deleted Containers:")
            for ident in deleted:
                self.out(ident)
            self.out()
        space = human_size(answer.get("SpaceReclaimed") or 0)
        self.out(f"Total reclaimed space: {space}")
        return 0
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
        # Podman 4.3 answers a wait for removal with exit code 0: wait for
        # the exit there, then for the removal.
        podman_removes = auto_remove and self.client.is_podman()
        code = self._attached(
            container, config["Tty"], streams, keys,
            options.sig_proxy.value, "removed" if auto_remove
            and not podman_removes else "next-exit", start=True)
        if remove_here and code is not None:  # None: the user detached
            self.client.remove_container(container, volumes=True)
        if podman_removes and code is not None:
            try:
                self.client.wait(container, "removed")
            except NotFound:
                pass  # already gone
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
        if cidfile and not os.path.isdir(
                os.path.dirname(os.path.abspath(cidfile))):
            # Checked before the container exists, so none is left behind.
            raise DockerError("failed to create the container ID file: "
                              f"open {cidfile}: no such file or directory")
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
        import contextlib
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

    def _following_size(self, resize):
        """Give the remote terminal our size now and on every SIGWINCH."""
        import contextlib

        @_one_at_a_time
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

        @contextlib.contextmanager
        def following():
            follow()
            with signal_handlers(("SIGWINCH",), follow):
                yield

        return following()

    def _forward_signal(self, container):
        """Return a signal handler that sends the signal to ``container``.
        """
        import signal

        @_one_at_a_time
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
            except PER_NAME_ERRORS as error:
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
            except PER_NAME_ERRORS as error:
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
            except PER_NAME_ERRORS as error:
                self.warn(str(error))
                # As docker's, -f takes a container that is already gone
                # as removed: said, but not a failure.
                failed = failed or not (force.value and
                                        isinstance(error, NotFound))
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
        if follow.value:
            # A raw stream's end looks the same whether the container
            # stopped or the engine went away; asking tells them apart
            # (a ConnectError, one line and exit 1, when it is gone).
            self.client.close()
            try:
                self.client.inspect_container(flags.args[0])
            except APIError:
                pass  # the engine answered (removed by --rm, say): it is up
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
            renderer.flush()
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
        for text in (source, target):
            try:
                reference = parse_reference(text)
            except InvalidReference as error:
                raise InvalidReference(
                    f"Error parsing reference: {go_quote(text)} is not a "
                    f"valid repository/tag: {error}") from None
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
            except PER_NAME_ERRORS as error:
                self.warn(str(error))
                failed = True
        return 1 if failed else 0


    def cmd_push(self, *args):
        """Push an image or a repository to its registry."""
        flags = self.flags("push", "[OPTIONS] NAME[:TAG]",
                           "Upload an image to a registry")
        all_tags = flags.bool(["a", "-all-tags"], False,
                              "Push all tags of an image to the repository")
        quiet = flags.bool(["q", "-quiet"], False,
                           "Suppress verbose output")
        self.parse(flags, args, exactly=1)
        reference = parse_reference(flags.args[0])
        if reference.digest:
            raise DockerError("cannot push a digest reference")
        if all_tags.value and reference.tag:
            raise FlagError("tag can't be used with --all-tags/-a",
                            exit_code=1)
        if not (all_tags.value or reference.tag):
            reference = reference.with_tag("latest")
            if not quiet.value:
                self.out("Using default tag: latest")
        output = _NullStream() if quiet.value else self.stdout
        self.with_login(reference, "push", lambda auth: self._render(
            self.client.push(reference, auth, all_tags.value), output))
        if quiet.value:
            self.out(reference.name if all_tags.value else str(reference))
        return 0

    def cmd_save(self, *args):
        """Write images to a tar archive (a file or stdout)."""
        flags = self.flags("save", "[OPTIONS] IMAGE [IMAGE...]",
                           "Save one or more images to a tar archive "
                           "(streamed to STDOUT by default)")
        output = flags.string(["o", "-output"], "",
                              "Write to a file, instead of STDOUT")
        self.parse(flags, args, minimum=1)
        if not output.value:
            if self.stdout_tty:
                raise DockerError("cowardly refusing to save to a terminal. "
                                  "Use the -o flag or redirect")
            for chunk in self.client.save(flags.args):
                self.stdout.write(chunk)
            self.stdout.flush()
            return 0
        folder = os.path.dirname(os.path.abspath(output.value))
        if not os.path.isdir(folder):
            raise DockerError("failed to save image: invalid output path: "
                              f"directory {folder!r} does not exist")
        write_atomically(output.value, self.client.save(flags.args))
        return 0

    def cmd_load(self, *args):
        """Load images from a tar archive (a file or stdin)."""
        flags = self.flags("load", "[OPTIONS]", "Load an image from a tar "
                           "archive or STDIN")
        source = flags.string(["i", "-input"], "",
                              "Read from tar archive file, instead of STDIN")
        quiet = flags.bool(["q", "-quiet"], False,
                           "Suppress the load output")
        self.parse(flags, args, exactly=0)
        if source.value:
            handle = open_input(source.value)
        elif self.stdin_tty:
            raise DockerError("requested load from stdin, but stdin is "
                              "empty")
        else:
            handle = self.stdin
        try:
            # Progress bars only make sense on a terminal, as in docker.
            body = handle
            if _file_size(handle) is None:
                body = file_chunks(handle, RAW_CHUNK)
            self._render(self.client.load(
                body, quiet.value or not self.stdout_tty))
        finally:
            if handle is not self.stdin:
                handle.close()
        return 0

    def cmd_import(self, *args):
        """Make an image from a tar of a root filesystem."""
        flags = self.flags("import", "[OPTIONS] file|URL|- "
                           "[REPOSITORY[:TAG]]", "Import the contents from "
                           "a tarball to create a filesystem image")
        changes = flags.list(["c", "-change"], "Apply Dockerfile "
                             "instruction to the created image")
        message = flags.string(["m", "-message"], "",
                               "Set commit message for imported image")
        platform = flags.string(["-platform"], os.environ.get(
            "DOCKER_DEFAULT_PLATFORM", ""), "Set platform if server is "
            "multi-platform capable")
        self.parse(flags, args, minimum=1)
        if len(flags.args) > 2:
            raise FlagError(f'"{flags.name}" requires at most 2 arguments.',
                            exit_code=1)
        source = flags.args[0]
        repository = flags.args[1] if len(flags.args) > 1 else None
        if repository:
            parse_reference(repository)  # refuse a bad name before sending
        handle = None
        if source == "-":
            handle = self.stdin
        elif not re.match(r"https?://", source):
            handle = open_input(source)
        try:
            messages = self.client.import_image(
                "-" if handle else source,
                file_chunks(handle) if handle else None, repository,
                message.value, changes.value, platform.value)
            self._render(messages)
        finally:
            if handle is not None and handle is not self.stdin:
                handle.close()
        return 0

    def cmd_history(self, *args):
        """Show the layers of an image and the steps that made them."""
        flags = self.flags("history", "[OPTIONS] IMAGE",
                           "Show the history of an image")
        template = flags.string(["-format"], "", _FORMAT_USAGE)
        human = flags.bool(["H", "-human"], True, "Print sizes and dates in "
                           "human readable format")
        no_trunc = flags.bool(["-no-trunc"], False, "Don't truncate output")
        quiet = flags.bool(["q", "-quiet"], False,
                           "Only show image IDs")
        self.parse(flags, args, exactly=1)
        layers = self.client.history(flags.args[0])
        rows = [HistoryContext(layer, human.value, not no_trunc.value)
                for layer in layers]
        text = template.value or "table"
        # Unlike ps and images, a template given with -q wins.
        if quiet.value and text == "table":
            for row in rows:
                self.out(row.ID())
            return 0
        table = (HistoryContext.TABLE if human.value
                 else HistoryContext.PLAIN_TABLE)
        if text != "table":
            self.write_formatted(text, rows, HistoryContext, table)
            return 0
        self.write_table(table, rows, HistoryContext)
        return 0

    def cmd_image_prune(self, *args):
        """Remove unused images, after asking unless ``-f``."""
        flags = self.flags("image prune", "[OPTIONS]",
                           "Remove unused images")
        all_images = flags.bool(["a", "-all"], False, "Remove all unused "
                                "images, not just dangling ones")
        filters = flags.list(["-filter"], "Provide filter values "
                             "(e.g. \"until=<timestamp>\")")
        force = flags.bool(["f", "-force"], False,
                           "Do not prompt for confirmation")
        self.parse(flags, args, exactly=0)
        wanted = parse_filters(filters.value)
        wanted["dangling"] = ["false" if all_images.value else "true"]
        warning = ("WARNING! This will remove all images without at least "
                   "one container associated to them." if all_images.value
                   else "WARNING! This will remove all dangling images.")
        if not force.value and not self.confirm(warning):
            return 0
        report = self.client.prune_images(wanted)
        deleted = report.get("ImagesDeleted") or []
        if deleted:
            self.out("Deleted Images:")
            for item in deleted:
                for word in ("Untagged", "Deleted"):
                    if item.get(word):
                        self.out(f"{word.lower()}: {item[word]}")
            self.out()
        space = human_size(report.get("SpaceReclaimed") or 0)
        self.out(f"Total reclaimed space: {space}")
        return 0

    def confirm(self, warning):
        """Show a warning and ask ``[y/N]``; True for a yes.

        As docker does, the answer is read from stdin whether or not it is
        a terminal; no answer at all is a no.
        """
        question = "Are you sure you want to continue? [y/N] "
        self.stdout.write(f"{warning}\n{question}".encode())
        self.stdout.flush()
        answer = self.stdin.readline().decode("utf-8", "replace").strip()
        return answer.lower() in ("y", "yes")

    def cmd_search(self, *args):
        """Search Docker Hub (through the engine) for images."""
        flags = self.flags("search", "[OPTIONS] TERM",
                           "Search Docker Hub for images")
        filters = flags.list(["f", "-filter"],
                             "Filter output based on conditions provided")
        limit = flags.int(["-limit"], 0, "Max number of search results")
        no_trunc = flags.bool(["-no-trunc"], False,
                              "Don't truncate output")
        template = flags.string(["-format"], "", "Pretty-print search "
                                "using a Go template")
        self.parse(flags, args, exactly=1)
        term = flags.args[0]
        auth = self.config.resolve_auth(search_registry(term))
        results = self.client.search(term, limit.value,
                                     parse_filters(filters.value), auth)
        rows = [SearchContext(result, not no_trunc.value) for result in
                (results if isinstance(results, list) else [])
                if isinstance(result, dict)]
        text = template.value or "table"
        if text == "table":
            self.write_table(SearchContext.TABLE, rows, SearchContext)
        else:
            self.write_formatted(text, rows, SearchContext,
                                 table=SearchContext.TABLE)
        return 0

    def cmd_events(self, *args):
        """Print the engine's events as they happen."""
        flags = self.flags("events", "[OPTIONS]",
                           "Get real time events from the server")
        filters = flags.list(["f", "-filter"],
                             "Filter output based on conditions provided")
        since = flags.string(["-since"], "", "Show all events created "
                             "since timestamp")
        until = flags.string(["-until"], "", "Stream events until this "
                             "timestamp")
        template = flags.string(["-format"], "", _INSPECT_FORMAT_USAGE)
        self.parse(flags, args, exactly=0)
        compiled = _events_template(template.value)
        now = time.time()
        for event in self.client.events(
                event_timestamp(since.value, now) if since.value else None,
                event_timestamp(until.value, now) if until.value else None,
                parse_filters(filters.value)):
            if not isinstance(event, dict):
                continue
            if compiled is None:
                self.out(format_event(event))
                continue
            out = []
            try:
                compiled.render_into(out, EventContext(event))
            finally:
                self.out("".join(out))  # docker ends the line even then
        return 0

    def cmd_system_df(self, *args):
        """Show the engine's disk usage (``system df``)."""
        flags = self.flags("system df", "[OPTIONS]",
                           "Show docker disk usage")
        template = flags.string(["-format"], "", _FORMAT_USAGE)
        verbose = flags.bool(["v", "-verbose"], False,
                             "Show detailed information on space usage")
        self.parse(flags, args, exactly=0)
        text = template.value or "table"
        usage = self.client.disk_usage()
        if verbose.value:
            return self._disk_usage_verbose(text, usage)
        rows = disk_usage_rows(usage)
        if text == "table":
            self.write_table(DiskUsageTypeContext.TABLE, rows,
                             DiskUsageTypeContext)
            return 0
        if text == "raw":
            text = DiskUsageTypeContext.RAW
        self.write_formatted(text, rows, DiskUsageTypeContext,
                             table=DiskUsageTypeContext.TABLE)
        return 0

    def _disk_usage_verbose(self, text, usage):
        """Write ``system df -v``: its four tables, or one template run.

        A template runs once over the four lists (``{{.Images}}``...),
        with nothing added after it; IDs are whole unless it is a table.
        """
        details = DiskUsageContext(usage, trunc=text.startswith("table"))
        if text == "table":
            self.stdout.write(details.tables().encode("utf-8", "replace"))
            return 0
        compiled, _ = compile_format(text)
        out = []
        try:
            compiled.render_into(out, details)
        finally:
            self.stdout.write("".join(out).encode("utf-8", "replace"))
            self.stdout.flush()
        return 0

    def cmd_build(self, *args):
        """Build an image from a Dockerfile with the classic builder."""
        flags = self.flags("build", "[OPTIONS] PATH | URL | -",
                           "Build an image from a Dockerfile")
        build_args = flags.list(["-build-arg"],
                                "Set build-time variables")
        dockerfile = flags.string(["f", "-file"], "", "Name of the "
                                  "Dockerfile (Default is 'PATH/Dockerfile')")
        force_rm = flags.bool(["-force-rm"], False,
                              "Always remove intermediate containers")
        labels = flags.list(["-label"], "Set metadata for an image")
        network = flags.string(["-network"], "default", "Set the networking "
                               "mode for the RUN instructions during build")
        no_cache = flags.bool(["-no-cache"], False,
                              "Do not use cache when building the image")
        platform = flags.string(["-platform"], os.environ.get(
            "DOCKER_DEFAULT_PLATFORM", ""), "Set platform if server is "
            "multi-platform capable")
        pull = flags.bool(["-pull"], False,
                          "Always attempt to pull a newer version of the "
                          "image")
        quiet = flags.bool(["q", "-quiet"], False, "Suppress the build "
                           "output and print image ID on success")
        remove = flags.bool(["-rm"], True, "Remove intermediate containers "
                            "after a successful build")
        tags = flags.list(["t", "-tag"], "Name and optionally a tag in the "
                          "\"name:tag\" format")
        target = flags.string(["-target"], "",
                              "Set the target build stage to build.")
        self.parse(flags, args, exactly=1)
        for tag in tags.value:
            try:
                parse_reference(tag)  # a bad name fails before any upload
            except InvalidReference as error:
                raise FlagError(f'invalid argument "{tag}" for "-t, --tag" '
                                f"flag: {error}") from None
        params = {
            "t": tags.value or None, "q": quiet.value,
            "nocache": no_cache.value, "pull": pull.value,
            "rm": remove.value, "forcerm": force_rm.value,
            "target": target.value or None,
            "networkmode": network.value,
            "buildargs": json.dumps(build_arguments(build_args.value)),
            "labels": json.dumps(label_values(labels.value)),
        }
        if platform.value:
            self.client.require_version("1.32", "--platform")
            params["platform"] = platform.value
        if self.client.negotiate() >= parse_api_version("1.38"):
            params["version"] = "1"  # the classic builder, never BuildKit
        import io
        output = io.BytesIO() if quiet.value else self.stdout

        def sent(count):
            # Said once it has all gone: the tar is made as it is sent.
            output.write(b"Sending build context to Docker daemon %8s\n"
                         % human_size(count).encode())
            output.flush()

        context = self._build_context(flags.args[0], dockerfile.value,
                                      params, sent)
        registry_config = self.config.all_auths()
        try:
            aux = self._render(self.client.build(context, params,
                                                 registry_config), output)
        except StreamError:
            if quiet.value:
                self.stderr.write(output.getvalue())
            raise
        if quiet.value:
            # The engine gives the ID as an aux value, or (quiet) as the
            # last line of the stream.
            lines = output.getvalue().decode("utf-8", "replace").split()
            ident = next((item["ID"] for item in aux
                          if isinstance(item, dict) and item.get("ID")),
                         lines[-1] if lines else "")
            self.out(ident)
        return 0

    def _build_context(self, source, dockerfile, params, sent):
        """Return the context to upload (or None) and set its parameters.

        ``source`` is a folder, ``-`` (a tar, or a Dockerfile, on stdin) or
        a URL the engine fetches itself.
        """
        if source == "-":
            if dockerfile == "-":
                raise FlagError("invalid argument: can't use stdin for "
                                "both build context and dockerfile",
                                exit_code=1)
            if dockerfile:
                params["dockerfile"] = dockerfile
            return self._stdin_context(sent)
        if re.match(r"(https?|git)://|git@|github\.com/", source):
            params["remote"] = source
            if dockerfile:
                params["dockerfile"] = dockerfile
            return None
        root = os.path.abspath(source)
        if not os.path.isdir(root):
            raise DockerError("unable to prepare context: path "
                              f"{go_quote(source)} not found")
        extra = []
        if dockerfile == "-":
            data = self.stdin.read()
            name = ".dockerfile." + os.urandom(10).hex()
            extra.append((name, data))
        else:
            name = locate_dockerfile(root, dockerfile)
            if name.startswith("../"):
                # Outside the context: sent inside it under a random name.
                with open_input(os.path.join(root, name)) as handle:
                    data = handle.read()
                name = ".dockerfile." + os.urandom(10).hex()
                extra.append((name, data))
        params["dockerfile"] = name
        members = context_members(root, name, extra)
        return CountingStream(tar_stream(members), sent)

    def _stdin_context(self, sent):
        """Return stdin as the context: a tar as it is, else a Dockerfile.
        """
        head = self.stdin.read(512)
        if looks_like_tar(head):
            chunks = file_chunks(self.stdin)
            return CountingStream(_prepend(head, chunks), sent)
        dockerfile = head + self.stdin.read()
        members = [("Dockerfile", dockerfile, None)]
        return CountingStream(tar_stream(members), sent)

def _events_template(text):
    """Return the Template for ``events --format``, or None for none.

    Docker takes the text as it is (no ``table``, no ``\\t``) and runs
    it once over an empty event, so that a bad field fails at once.

    Raises:
        TemplateError: exit code 64, as docker's.
    """
    if not text:
        return None
    try:
        compiled = Template("{{json .}}" if text == "json" else text)
        compiled.render(EventContext({}))
    except TemplateError as error:
        failure = TemplateError(f"Error parsing format: {error}")
        failure.exit_code = 64
        raise failure from None
    return compiled


def _inspect_compile(text):
    """Return the compiled ``inspect --format`` template, or None.

    The engine's JSON is a map: a key it left out is an error, as in
    docker's fallback from its typed structs.
    """
    if not text or text == "json":
        return None
    try:
        return parse_template(text, missing_key="error")
    except TemplateError as error:
        raise TemplateError(f"template parsing error: {error}") from None


def _one_at_a_time(work, limit=32):
    """Wrap a signal handler so that its requests never overlap.

    A handler runs between any two bytecodes of the main thread, so a
    second signal can interrupt a request the first one is sending on the
    same connection.  Such a signal is queued instead (up to ``limit``)
    and handled when the first is done.
    """
    pending = []

    def handler(*args):
        if len(pending) >= limit:
            return
        pending.append(args)
        if len(pending) > 1:
            return  # a handler below us on the stack sends it next
        try:
            while pending:
                work(*pending[0])
                del pending[0]
        except BaseException:
            pending.clear()
            raise
    return handler


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
    data = stream.read(MAX_PASSWORD + 1)
    if len(data) > MAX_PASSWORD:
        raise AuthError("the password on stdin is longer than "
                        f"{MAX_PASSWORD >> 20} MiB")
    text = data.decode("utf-8", "replace")
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    if not text:
        raise AuthError("Error: Password Required")
    return text


def process_streams():
    """Return the process's stdin, stdout and stderr as binary streams.

    A stream the shell closed (``<&-``, ``>&-``) is None in ``sys``: it
    reads as empty input, and what would go to it is dropped.
    """
    stdin = getattr(sys.stdin, "buffer", None) or io.BytesIO()
    stdout = getattr(sys.stdout, "buffer", None) or _NullStream()
    stderr = getattr(sys.stderr, "buffer", None) or _NullStream()
    return stdin, stdout, stderr


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


class HistoryContext(FormatContext):
    """One layer of ``history`` as templates see it (docker's names).

    Args:
        layer: one entry of the engine's image history.
        human: sizes and times for people (``-H``, the default), else
            bytes and RFC 3339 times.
        trunc: shorten IDs and commands as the table does.
    """

    GO_TYPE = "*image.historyContext"
    FIELDS = ("Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID",
              "Size")
    HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED",
               "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
               "Size": "SIZE", "Comment": "COMMENT"}
    TABLE = ("table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}"
             "\t{{.Comment}}")
    PLAIN_TABLE = TABLE.replace("CreatedSince", "CreatedAt")

    def __init__(self, layer, human=True, trunc=True):
        self.layer = layer
        self.human = human
        self.trunc = trunc

    def ID(self):  # noqa: N802 - docker's field names
        ident = str(self.layer.get("Id") or "")
        return truncate_id(ident) if self.trunc else ident

    def CreatedAt(self):  # noqa: N802
        return go_rfc3339(self.layer.get("Created") or 0)

    def CreatedSince(self):  # noqa: N802
        if not self.human:
            return self.CreatedAt()
        created = self.layer.get("Created") or 0
        return ago(created) if created else "N/A"

    def CreatedBy(self):  # noqa: N802
        command = str(self.layer.get("CreatedBy") or "").replace("\t", " ")
        return ellipsis(command, 45) if self.trunc else command

    def Size(self):  # noqa: N802
        size = self.layer.get("Size") or 0
        return human_size(size, 3) if self.human else str(size)

    def Comment(self):  # noqa: N802
        return str(self.layer.get("Comment") or "")


def search_registry(term):
    """Return the registry a search term names (Docker Hub by default)."""
    first, slash, _ = term.partition("/")
    if slash and (first == "localhost" or "." in first or ":" in first):
        return first
    return HUB_KEY


class SearchContext(FormatContext):
    """One ``search`` result as docker's templates see it."""

    GO_TYPE = "*registry.searchContext"
    FIELDS = ("Description", "IsOfficial", "Name", "StarCount")
    HEADERS = {"Name": "NAME", "Description": "DESCRIPTION",
               "StarCount": "STARS", "IsOfficial": "OFFICIAL"}
    TABLE = ("table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t"
             "{{.IsOfficial}}")

    def __init__(self, result, trunc=True):
        self.result = result
        self.trunc = trunc
        self.json = False

    def Name(self):  # noqa: N802 - docker's field names
        return str(self.result.get("name") or "")

    def Description(self):  # noqa: N802
        text = str(self.result.get("description") or "")
        text = text.replace("\n", " ").replace("\r", " ")
        return ellipsis(text, 45) if self.trunc else text

    def StarCount(self):  # noqa: N802
        return str(self.result.get("star_count") or 0)

    def IsOfficial(self):  # noqa: N802
        # Docker's JSON says true/false where its table says [OK].
        official = bool(self.result.get("is_official"))
        if self.json:
            return str(official).lower()
        return "[OK]" if official else ""

    def to_json(self):
        self.json = True  # as docker's, it stays so for the next fields
        return super().to_json()


def go_duration_seconds(text):
    """Return the seconds of a Go duration (``1h30m``), or None."""
    try:
        return parse_go_duration(text)
    except ValueError:
        return None


def event_timestamp(text, now):
    """Return a ``--since``/``--until`` value as the engine takes it.

    Accepts what docker accepts: a Go duration before now (``10m``), a
    Unix time (``1700000000.5``), or a date and time such as
    ``2024-05-01``, ``2024-05-01T10:00`` or RFC 3339 with a zone; times
    without a zone are local.

    Raises:
        DockerError: none of these.
    """
    import datetime
    seconds = go_duration_seconds(text) if text != "0" else None
    if seconds is not None:
        return str(int(now - seconds))
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return text
    match = re.fullmatch(
        r"(\d{4})-(\d\d)-(\d\d)(?:T(\d\d)(?::(\d\d)(?::(\d\d)(\.\d+)?)?)?)?"
        r"(Z|z|[+-]\d\d:\d\d)?", text)
    if not match:
        raise DockerError("failed to parse value as time or duration: "
                          f"{go_quote(text)}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime.datetime(int(year), int(month), int(day),
                                   int(hour or 0), int(minute or 0),
                                   int(second or 0))
    except ValueError as error:
        raise DockerError(f"parsing time {go_quote(text)}: {error}"
                          ) from None
    if zone in ("Z", "z"):
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    elif zone:
        offset = (int(zone[1:3]) * 60 + int(zone[4:6])) * (
            -1 if zone[0] == "-" else 1)
        moment = moment.replace(tzinfo=datetime.timezone(
            datetime.timedelta(minutes=offset)))
    nanoseconds = int(round(float(fraction or 0) * 1e9))
    return f"{int(moment.timestamp())}.{nanoseconds:09d}"


class EventContext(FormatContext):
    """An engine event as ``events --format`` sees it: Go's struct.

    Fields are the engine message's (``.Type``, ``.Action``,
    ``.Actor.Attributes.name``, ``.TimeNano``...), and ``{{json .}}``
    gives the message as the engine sent it.
    """

    GO_TYPE = "*events.Message"
    FIELDS = ("Status", "ID", "From", "Type", "Action", "Actor", "Scope",
              "Time", "TimeNano")
    ESCAPE_HTML = False

    def __init__(self, event):
        self.event = event

    def Status(self):  # noqa: N802 - the engine's field names
        return self.event.get("status") or ""

    def ID(self):  # noqa: N802
        return self.event.get("id") or ""

    def From(self):  # noqa: N802
        return self.event.get("from") or ""

    def Type(self):  # noqa: N802
        return self.event.get("Type") or ""

    def Action(self):  # noqa: N802
        return self.event.get("Action") or ""

    def Actor(self):  # noqa: N802
        return ActorContext(self.event.get("Actor") or {})

    def Scope(self):  # noqa: N802
        return self.event.get("scope") or ""

    def Time(self):  # noqa: N802
        return self.event.get("time") or 0

    def TimeNano(self):  # noqa: N802
        return self.event.get("timeNano") or 0

    def to_json(self):
        """Return the message in the engine's key order, empty keys out."""
        fields = {"status": self.Status(), "id": self.ID(),
                  "from": self.From()}
        fields = {key: value for key, value in fields.items() if value}
        fields.update(Type=self.Type(), Action=self.Action(),
                      Actor=self.Actor(), scope=self.Scope())
        for key, value in (("time", self.Time()),
                           ("timeNano", self.TimeNano())):
            if value:
                fields[key] = value
        return fields

    def go_string(self):
        # The template runs over the message itself, not a pointer.
        return "{" + " ".join(go_format(getattr(self, name)())
                              for name in self.FIELDS) + "}"


class ActorContext(FormatContext):
    """The ``Actor`` of an event: its ``ID`` and ``Attributes`` map."""

    GO_TYPE = "events.Actor"
    FIELDS = ("ID", "Attributes")
    ESCAPE_HTML = False

    def __init__(self, actor):
        self.actor = actor

    def ID(self):  # noqa: N802 - the engine's field names
        return self.actor.get("ID") or ""

    def Attributes(self):  # noqa: N802
        attributes = self.actor.get("Attributes")
        return _NilStringMap() if attributes is None \
            else _StringMap(attributes)

    def to_json(self):
        return {"ID": self.ID(), "Attributes": self.Attributes()}

    def go_string(self):
        return f"{{{self.ID()} {go_format(self.Attributes())}}}"


def format_event(event):
    """Return one event as docker prints it: time, type, action, actor."""
    nanoseconds = event.get("timeNano") or 0
    if not nanoseconds and event.get("time"):
        nanoseconds = int(event["time"]) * 1_000_000_000
    line = ""
    if nanoseconds:
        seconds, fraction = divmod(int(nanoseconds), 1_000_000_000)
        line = go_rfc3339(seconds, f".{fraction:09d}") + " "
    actor = event.get("Actor") or {}
    line += "{} {} {}".format(event.get("Type") or "",
                              event.get("Action") or "",
                              actor.get("ID") or "")
    attributes = actor.get("Attributes") or {}
    if attributes:
        line += " ({})".format(", ".join(
            f"{key}={attributes[key]}" for key in sorted(attributes)))
    return line


class DiskUsageTypeContext(FormatContext):
    """One row of ``system df``: a kind of object and its totals.

    Args:
        kind: ``Images``, ``Containers``, ``Local Volumes`` or
            ``Build Cache``.
        total, active: how many there are, and how many are in use.
        size, reclaimable: bytes used, and bytes a prune would free.
    """

    FIELDS = ("Active", "Reclaimable", "Size", "TotalCount", "Type")
    HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
               "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}
    TABLE = ("table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t"
             "{{.Reclaimable}}")
    # What docker's "raw" format stands for here.
    RAW = ("type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\n"
           "size: {{.Size}}\nreclaimable: {{.Reclaimable}}\n")
    _GO_TYPES = {"Images": "Images", "Containers": "Containers",
                 "Local Volumes": "Volumes", "Build Cache": "Builder"}

    def __init__(self, kind, total, active, size, reclaimable):
        self.kind = kind
        self.GO_TYPE = f"*formatter.diskUsage{self._GO_TYPES[kind]}Context"
        self.counts = (total, active)
        self.size = size
        self.reclaimable = reclaimable

    def Type(self):  # noqa: N802 - docker's field names
        return self.kind

    def TotalCount(self):  # noqa: N802
        return str(self.counts[0])

    def Active(self):  # noqa: N802
        return str(self.counts[1])

    def Size(self):  # noqa: N802
        return human_size(self.size)

    def Reclaimable(self):  # noqa: N802
        text = human_size(self.reclaimable)
        if self.kind != "Build Cache" and self.size > 0:
            text += f" ({self.reclaimable * 100 // self.size}%)"
        return text


def disk_usage_rows(usage):
    """Return the ``system df`` rows: a DiskUsageTypeContext per kind."""
    images = usage.get("Images") or []
    containers = usage.get("Containers") or []
    volumes = usage.get("Volumes") or []
    cache = usage.get("BuildCache") or []

    total = usage.get("LayersSize") or 0
    used = sum(image.get("Size", 0) - image.get("SharedSize", 0)
               for image in images if image.get("Containers")
               and image.get("Size", -1) != -1
               and image.get("SharedSize", -1) != -1)
    rows = [DiskUsageTypeContext(
        "Images", len(images), sum(1 for i in images if i.get("Containers")),
        total, total - used)]

    active = [c for c in containers
              if c.get("State") in ("running", "paused")]
    written = sum(c.get("SizeRw") or 0 for c in containers)
    rows.append(DiskUsageTypeContext(
        "Containers", len(containers), len(active), written,
        written - sum(c.get("SizeRw") or 0 for c in active)))

    def volume_size(volume):
        size = (volume.get("UsageData") or {}).get("Size", -1)
        return max(size, 0)

    def volume_links(volume):
        return (volume.get("UsageData") or {}).get("RefCount", 0)

    rows.append(DiskUsageTypeContext(
        "Local Volumes", len(volumes),
        sum(1 for v in volumes if volume_links(v) > 0),
        sum(volume_size(v) for v in volumes),
        sum(volume_size(v) for v in volumes if volume_links(v) <= 0)))

    rows.append(DiskUsageTypeContext(
        "Build Cache", len(cache), sum(1 for c in cache if c.get("InUse")),
        sum(c.get("Size") or 0 for c in cache if not c.get("Shared")),
        sum(c.get("Size") or 0 for c in cache
            if not c.get("Shared") and not c.get("InUse"))))
    return rows


class VolumeContext(FormatContext):
    """A volume as docker's templates see it (``system df -v``)."""

    GO_TYPE = "*formatter.volumeContext"
    FIELDS = ("Availability", "Driver", "Group", "Labels", "Links",
              "Mountpoint", "Name", "Scope", "Size", "Status")
    METHODS = {"Label": 1}
    HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE",
               "Mountpoint": "MOUNTPOINT", "Labels": "LABELS",
               "Links": "LINKS", "Size": "SIZE", "Group": "GROUP",
               "Availability": "AVAILABILITY", "Status": "STATUS"}
    TABLE = "table {{.Name}}\t{{.Links}}\t{{.Size}}"

    def __init__(self, volume):
        self.volume = volume

    def Name(self):  # noqa: N802 - docker's field names
        return self.volume.get("Name") or ""

    def Driver(self):  # noqa: N802
        return self.volume.get("Driver") or ""

    def Scope(self):  # noqa: N802
        return self.volume.get("Scope") or ""

    def Mountpoint(self):  # noqa: N802
        return self.volume.get("Mountpoint") or ""

    def Labels(self):  # noqa: N802
        # Docker walks a Go map (any order); sorted reads better.
        labels = self.volume.get("Labels") or {}
        return ",".join(f"{key}={labels[key]}" for key in sorted(labels))

    def Label(self, name):  # noqa: N802
        return (self.volume.get("Labels") or {}).get(go_format(name), "")

    def Links(self):  # noqa: N802
        data = self.volume.get("UsageData")
        return "N/A" if data is None else str(data.get("RefCount", 0))

    def Size(self):  # noqa: N802
        data = self.volume.get("UsageData")
        return "N/A" if data is None else human_size(data.get("Size", 0))

    def _cluster(self, field):
        options = self.volume.get("ClusterVolume")
        return "N/A" if not options else field(options)

    def Group(self):  # noqa: N802
        return self._cluster(lambda v: (v.get("Spec") or {}).get("Group")
                             or "")

    def Availability(self):  # noqa: N802
        return self._cluster(lambda v: (v.get("Spec") or {}).get(
            "Availability") or "")

    def Status(self):  # noqa: N802
        def status(options):
            if not (options.get("Info") or {}).get("VolumeID"):
                return "pending creation"
            nodes = len(options.get("PublishStatus") or [])
            return {0: "created", 1: "in use (1 node)"}.get(
                nodes, f"in use ({nodes} nodes)")
        return self._cluster(status)


class BuildCacheContext(FormatContext):
    """A build cache record as docker's templates see it."""

    GO_TYPE = "*formatter.buildCacheContext"
    FIELDS = ("CacheType", "CreatedAt", "CreatedSince", "Description", "ID",
              "InUse", "LastUsedAt", "LastUsedSince", "Parent", "Shared",
              "Size", "UsageCount")
    HEADERS = {"ID": "CACHE ID", "Parent": "PARENT",
               "CacheType": "CACHE TYPE", "Size": "SIZE",
               "CreatedSince": "CREATED", "LastUsedSince": "LAST USED",
               "UsageCount": "USAGE", "InUse": "IN USE", "Shared": "SHARED",
               "Description": "DESCRIPTION"}
    TABLE = ("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}"
             "\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}")

    def __init__(self, record, trunc=True):
        self.record = record
        self.trunc = trunc

    def ID(self):  # noqa: N802 - docker's field names
        ident = str(self.record.get("ID") or "")
        ident = truncate_id(ident) if self.trunc else ident
        return ident + "*" if self.record.get("InUse") else ident

    def Parent(self):  # noqa: N802
        parent = ", ".join(self.record.get("Parents") or [])
        return truncate_id(parent) if self.trunc else parent

    def CacheType(self):  # noqa: N802
        return self.record.get("Type") or ""

    def Description(self):  # noqa: N802
        return self.record.get("Description") or ""

    def Size(self):  # noqa: N802
        return human_size(self.record.get("Size") or 0, 3)

    def CreatedAt(self):  # noqa: N802
        return _go_time_text(self.record.get("CreatedAt"))

    def CreatedSince(self):  # noqa: N802
        return ago(parse_rfc3339(self.record.get("CreatedAt") or "") or 0)

    def LastUsedAt(self):  # noqa: N802
        return _go_time_text(self.record.get("LastUsedAt"))

    def LastUsedSince(self):  # noqa: N802
        used = parse_rfc3339(self.record.get("LastUsedAt") or "")
        return ago(used) if used else ""

    def UsageCount(self):  # noqa: N802
        return str(self.record.get("UsageCount") or 0)

    def InUse(self):  # noqa: N802
        return str(bool(self.record.get("InUse"))).lower()

    def Shared(self):  # noqa: N802
        return str(bool(self.record.get("Shared"))).lower()


def _go_time_text(text):
    """Return an RFC 3339 time as Go's Time.String prints a parsed one."""
    match = re.fullmatch(r"(\S+)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\S+)",
                         text or "")
    if not match:
        return ""
    day, clock, fraction, zone = match.groups()
    fraction = (fraction or "").rstrip("0").rstrip(".")
    if zone == "Z":
        return f"{day} {clock}{fraction} +0000 UTC"
    offset = zone.replace(":", "")
    return f"{day} {clock}{fraction} {offset} {offset}"


class DiskUsageContext(FormatContext):
    """What ``system df -v --format`` runs over: four lists of contexts.

    Args:
        usage: the engine's disk usage answer.
        trunc: shorten IDs as the tables do (docker does for ``table``).
    """

    GO_TYPE = "*formatter.diskUsageContext"
    FIELDS = ("Images", "Containers", "Volumes", "BuildCache")

    def __init__(self, usage, trunc=True):
        self.images = []
        for image in usage.get("Images") or []:
            repository, tag = "<none>", "<none>"
            tags = [t for t in image.get("RepoTags") or []
                    if t != "<none>:<none>"]
            if tags:  # only the first tag shows
                repository, tag = split_repository_tag(tags[0])
                repository = parse_reference(repository).familiar()
            self.images.append(ImageContext(image, repository, tag, "",
                                            trunc))
        # The virtual size is left out, as docker leaves it.
        self.containers = [ContainerContext(dict(c, SizeRootFs=0), trunc)
                           for c in usage.get("Containers") or []]
        self.volumes = [VolumeContext(volume)
                        for volume in usage.get("Volumes") or []]
        cache = sorted(usage.get("BuildCache") or [], key=lambda c: (
            parse_rfc3339(c.get("LastUsedAt") or "") or 0,
            str(c.get("ID"))))
        self.cache = [BuildCacheContext(record, trunc) for record in cache]
        self.cache_size = sum(c.get("Size") or 0 for c in cache
                              if not c.get("Shared"))

    def Images(self):  # noqa: N802 - docker's field names
        return self.images

    def Containers(self):  # noqa: N802
        return self.containers

    def Volumes(self):  # noqa: N802
        return self.volumes

    def BuildCache(self):  # noqa: N802
        return self.cache

    def to_json(self):
        return {name: getattr(self, name)() for name in self.FIELDS}

    def tables(self):
        """Return ``system df -v``: images, containers, volumes, cache."""
        return "".join((
            "Images space usage:\n\n",
            table_text(_DF_IMAGE_TABLE, self.images, ImageContext),
            "\nContainers space usage:\n\n",
            table_text(_DF_CONTAINER_TABLE, self.containers,
                       ContainerContext),
            "\nLocal Volumes space usage:\n\n",
            table_text(VolumeContext.TABLE, self.volumes, VolumeContext),
            f"\nBuild cache usage: {human_size(self.cache_size)}\n\n",
            table_text(BuildCacheContext.TABLE, self.cache,
                       BuildCacheContext)))


_DF_IMAGE_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t"
                   "{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t"
                   "{{.UniqueSize}}\t{{.Containers}}")
_DF_CONTAINER_TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t"
                       "{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t"
                       "{{.Status}}\t{{.Names}}")


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
        " Init Binary: {}".format(get("InitBinary", "")),
        " containerd version: {}".format(_commit(get("ContainerdCommit"))),
        " runc version: {}".format(_commit(get("RuncCommit"))),
        " init version: {}".format(_commit(get("InitCommit"))),
    ]
    lines += _security_lines(get("SecurityOptions") or [])
    lines += [
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


def _commit(value):
    """Return the ID of an engine ``*Commit`` object (``{"ID": ...}``)."""
    return value.get("ID", "") if isinstance(value, dict) else ""


def _security_lines(options):
    """Return ``info``'s Security Options from ``name=x,key=value`` texts."""
    if not options:
        return []
    lines = [" Security Options:"]
    for option in options:
        fields = dict(part.partition("=")[::2]
                      for part in str(option).split(","))
        lines.append(f"  {fields.pop('name', option)}")
        for key, value in fields.items():
            if key == "profile" and value:
                lines.append(f"   Profile: {value}")
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


def go_rfc3339(seconds, fraction=""):
    """Return a Unix time in RFC 3339, local time, as Go formats it.

    ``fraction`` (``.000000123``) goes between the seconds and the zone,
    which is ``Z`` for UTC and ``+01:00`` elsewhere.
    """
    local = time.localtime(seconds)
    offset = local.tm_gmtoff or 0
    zone = "Z" if offset == 0 else "{}{:02d}:{:02d}".format(
        "-" if offset < 0 else "+", abs(offset) // 3600,
        abs(offset) % 3600 // 60)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + fraction + zone


def go_time_string(timestamp):
    """Return a Unix time as Go's Time.String prints it, in local time."""
    moment = time.localtime(timestamp)
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", moment)


def truncate_id(ident):
    """Return the 12-character form of an ID, without ``sha256:``."""
    return ident.partition(":")[2][:12] if ":" in ident else ident[:12]


class ContainerContext(FormatContext):
    """A container as ``ps`` shows it to templates (docker's field names).

    Args:
        container: one entry of the engine's container list.
        trunc: shorten IDs, commands and names as the table does.
    """

    GO_TYPE = "*formatter.ContainerContext"
    FIELDS = ("Command", "CreatedAt", "ID", "Image", "Labels",
              "LocalVolumes", "Mounts", "Names", "Networks", "Platform",
              "Ports", "RunningFor", "Size", "State", "Status")
    METHODS = {"Label": 1}
    HEADERS = {
        "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE",
        "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
        "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS",
        "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES",
        "Networks": "NETWORKS", "Platform": "PLATFORM"}
    TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t"
             "{{.Status}}\t{{.Ports}}\t{{.Names}}")

    def __init__(self, container, trunc=True):
        self.container = container
        self.trunc = trunc

    def ID(self):  # noqa: N802 - docker's field names
        ident = self.container.get("Id") or ""
        return ident[:12] if self.trunc else ident

    def Names(self):  # noqa: N802
        names = [name[1:] if name.startswith("/") else name
                 for name in self.container.get("Names") or []]
        if self.trunc:
            # Docker shows one name: the first that is not a link's.
            names = [name for name in names if "/" not in name][:1]
        return ",".join(names)

    def Image(self):  # noqa: N802
        image = self.container.get("Image") or ""
        if not image:
            return "<no image>"
        if not self.trunc:
            return image
        image_id = self.container.get("ImageID") or ""
        if truncate_id(image_id) == truncate_id(image):
            return truncate_id(image)
        try:
            reference = parse_reference(image)
        except InvalidReference:
            return image
        # The digest is left out of the short form.
        return Reference(reference.domain, reference.path,
                         reference.tag).familiar()

    def Command(self):  # noqa: N802
        command = self.container.get("Command") or ""
        return go_quote(ellipsis(command, 20) if self.trunc else command)

    def CreatedAt(self):  # noqa: N802
        return go_time_string(self.container.get("Created") or 0)

    def RunningFor(self):  # noqa: N802
        return ago(self.container.get("Created") or 0)

    def Ports(self):  # noqa: N802
        return format_ports(self.container.get("Ports") or [])

    def State(self):  # noqa: N802
        return self.container.get("State") or ""

    def Status(self):  # noqa: N802
        return self.container.get("Status") or ""

    def Size(self):  # noqa: N802
        written = self.container.get("SizeRw") or 0
        total = self.container.get("SizeRootFs") or 0
        text = human_size(written, 3)
        return text + (f" (virtual {human_size(total, 3)})"
                       if total > 0 else "")

    def Labels(self):  # noqa: N802
        labels = self.container.get("Labels") or {}
        return ",".join(f"{key}={labels[key]}" for key in sorted(labels))

    def Label(self, name):  # noqa: N802
        return (self.container.get("Labels") or {}).get(go_format(name), "")

    def Mounts(self):  # noqa: N802
        names = []
        for mount in self.container.get("Mounts") or []:
            name = mount.get("Name") or mount.get("Source") or ""
            names.append(ellipsis(name, 15) if self.trunc else name)
        return ",".join(names)

    def LocalVolumes(self):  # noqa: N802
        return str(sum(1 for mount in self.container.get("Mounts") or []
                       if mount.get("Driver") == "local"))

    def Networks(self):  # noqa: N802
        settings = self.container.get("NetworkSettings") or {}
        return ",".join(sorted(settings.get("Networks") or {}))

    def Platform(self):  # noqa: N802
        descriptor = self.container.get("ImageManifestDescriptor") or {}
        return descriptor.get("platform")


class ImageContext(FormatContext):
    """One row of ``images`` as templates see it (docker's field names).

    Args:
        image: one entry of the engine's image list.
        repository, tag, digest: what this row shows of the image.
        trunc: shorten the ID as the table does.
    """

    GO_TYPE = "*formatter.imageContext"
    FIELDS = ("Containers", "CreatedAt", "CreatedSince", "Digest", "ID",
              "Repository", "SharedSize", "Size", "Tag", "UniqueSize",
              "VirtualSize")
    # Docker has no .Label for images; scripts written for ps expect it.
    METHODS = {"Label": 1}
    HEADERS = {
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG",
        "Digest": "DIGEST", "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "VirtualSize": "SIZE",
        "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}
    TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t"
             "{{.Size}}")
    DIGEST_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}"
                    "\t{{.CreatedSince}}\t{{.Size}}")

    def __init__(self, image, repository="<none>", tag="<none>",
                 digest="<none>", trunc=True):
        self.image = image
        self.repository = repository
        self.tag = tag
        self.digest = digest
        self.trunc = trunc

    def ID(self):  # noqa: N802
        ident = self.image.get("Id") or ""
        return truncate_id(ident) if self.trunc else ident

    def Repository(self):  # noqa: N802
        return self.repository

    def Tag(self):  # noqa: N802
        return self.tag

    def Digest(self):  # noqa: N802
        return self.digest

    def CreatedSince(self):  # noqa: N802
        # Unlike history, docker shows a zero time as "56 years ago".
        return ago(self.image.get("Created") or 0)

    def CreatedAt(self):  # noqa: N802
        return go_time_string(self.image.get("Created") or 0)

    def Size(self):  # noqa: N802
        return human_size(self.image.get("Size") or 0, 3)

    def Containers(self):  # noqa: N802
        count = self.image.get("Containers", -1)
        return "N/A" if count is None or count == -1 else str(count)

    def VirtualSize(self):  # noqa: N802
        size = self.image.get("VirtualSize", self.image.get("Size"))
        return human_size(size or 0)

    def SharedSize(self):  # noqa: N802
        shared = self.image.get("SharedSize", -1)
        return "N/A" if shared is None or shared == -1 \
            else human_size(shared)

    def UniqueSize(self):  # noqa: N802
        shared = self.image.get("SharedSize", -1)
        size = self.image.get("Size", -1)
        if shared is None or shared == -1 or size == -1:
            return "N/A"
        return human_size(size - shared)

    def Label(self, name):  # noqa: N802
        return (self.image.get("Labels") or {}).get(go_format(name), "")


def image_contexts(image, digests=False, trunc=True):
    """Return the ImageContexts (rows) one image shows as in ``images``.

    A row per repository and tag; with ``digests``, a row per digest of
    each; repositories known only by digest get a row of their own.
    """
    tags = _by_repository(image.get("RepoTags"), "tag")
    by_digest = _by_repository(image.get("RepoDigests"), "digest")
    rows = []
    for repository, names in tags.items():
        known = by_digest.pop(repository, [])
        for tag in names:
            for digest in (known if digests and known else ["<none>"]):
                rows.append(ImageContext(image, repository, tag, digest,
                                         trunc))
    for repository, known in by_digest.items():
        for digest in (known if digests else [""]):
            rows.append(ImageContext(image, repository, "<none>", digest,
                                     trunc))
    return rows or [ImageContext(image, trunc=trunc)]


def _by_repository(references, part):
    """Group the tags or digests of references by familiar repository."""
    grouped = {}
    for text in references or []:
        try:
            reference = parse_reference(text)
        except InvalidReference:
            continue  # "<none>:<none>" and the like
        value = getattr(reference, part)
        if value:
            name = Reference(reference.domain, reference.path).familiar()
            grouped.setdefault(name, []).append(value)
    return grouped


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


def _size_flag(flag):
    """Return a size flag's bytes; ``-1`` (unlimited) passes through.

    Raises:
        FlagError: not a size, worded as the flag parser words it.
    """
    if flag.value.strip() == "-1":
        return -1
    try:
        return parse_bytes(flag.value)
    except ValueError as error:
        raise FlagError(f'invalid argument "{flag.value}" for '
                        f'"{flag.display()}" flag: {error}') from None


def _cpus_flag(flag):
    """Return ``--cpus`` (``1.5``) in the engine's nano-CPUs.

    Raises:
        FlagError: not a number, or finer than a nano-CPU.
    """
    import fractions
    try:
        nanos = fractions.Fraction(flag.value.strip()) * 10 ** 9
    except (ValueError, ZeroDivisionError):
        raise FlagError(f'invalid argument "{flag.value}" for '
                        f'"{flag.display()}" flag: failed to parse '
                        f"{flag.value} as a rational number") from None
    if nanos.denominator != 1:
        raise FlagError(f'invalid argument "{flag.value}" for '
                        f'"{flag.display()}" flag: value is too precise')
    return int(nanos)


def parse_restart_policy(text):
    """Return the engine's RestartPolicy for ``on-failure:3`` and the like.

    The engine itself checks the policy's name.

    Raises:
        DockerError: a malformed retry count, as docker words it.
    """
    name, colon, count = text.partition(":")
    if colon and not name:
        raise DockerError("invalid restart policy format: no policy "
                          "provided before colon")
    policy = {"Name": name}
    if count:
        try:
            policy["MaximumRetryCount"] = int(count)
        except ValueError:
            raise DockerError("invalid restart policy format: maximum "
                              "retry count must be an integer") from None
    return policy


# Copying files: ``cp`` follows docker's rules for what lands where.  A
# copy into an existing folder keeps the source's name; otherwise the
# archive's top entry is renamed to the destination's name, and a source
# path ending in "/." copies a folder's contents rather than the folder.

def split_cp_argument(text):
    """Split ``CONTAINER:PATH``; a local path gives ``("", path)``."""
    if text.startswith("/"):
        return "", text
    container, colon, path = text.partition(":")
    if not colon or container.startswith("."):
        return "", text  # no colon, or an explicit ./relative:path
    return container, path


def split_path_entry(path):
    """Return ``(folder, name)``; ``dir/.`` keeps ``.`` as its name."""
    import posixpath
    cleaned = posixpath.normpath(path) if path else "."
    if path == "." or path.endswith("/."):
        cleaned = cleaned.rstrip("/") + "/."
    folder, name = posixpath.split(cleaned)
    if not name:
        return "/", "/"
    return folder or ".", name


def asserts_directory(path):
    """Tell whether a path says it must be a folder (``x/``, ``x/.``)."""
    return path.endswith("/") or path.endswith("/.") or path == "."


def check_local_parent(path):
    """Refuse a local destination whose folder does not exist.

    Raises:
        DockerError: docker's ``invalid output path`` message.
    """
    folder = os.path.dirname(os.path.normpath(path))
    if folder and not os.path.isdir(folder):
        raise DockerError(f'invalid output path: directory "{folder}" '
                          "does not exist")


def rebase_name(name, old, new):
    """Rename an archive entry whose first part is ``old`` to ``new``."""
    name = name.rstrip("/") or name
    if old is None or old == new:
        return name
    if name == old:
        return new
    if name.startswith(old + "/"):
        return new + name[len(old):]
    return name


class _CountingReader:
    """A file-like reader over a response that counts what it reads."""

    def __init__(self, response):
        self.response = response
        self.count = 0

    def read(self, size=-1):
        try:
            data = self.response.read(size)
        except (OSError, http.client.HTTPException) as error:
            raise _read_failure(error) from None
        self.count += len(data)
        return data


class _CountingChunks:
    """An iterable of chunks that counts the bytes it hands out."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.count = 0

    def __iter__(self):
        for chunk in self.chunks:
            self.count += len(chunk)
            yield chunk


def _chunks(stream):
    """Yield a binary stream's bytes in bounded chunks."""
    while True:
        chunk = stream.read(STREAM_CHUNK)
        if not chunk:
            return
        yield chunk


def extract_copy(reader, source_path, rebase, source_is_dir, target):
    """Extract a container's archive of ``source_path`` to ``target``.

    Args:
        reader: a file-like source of the tar, read once in order.
        source_path: the path in the container the tar holds.
        rebase: the name to give it instead (``cp -L``), or None.
        source_is_dir: whether that path is a folder.
        target: the local destination, as the user wrote it.

    Raises:
        DockerError: a destination that cannot take the source, or an
            entry that would land outside it.
        StreamError: a broken archive.
    """
    base = split_path_entry(source_path)[1]
    exists, is_dir = os.path.exists(target), os.path.isdir(target)
    if exists and is_dir:
        folder, new = target, rebase or base
    elif exists and source_is_dir:
        raise DockerError("cannot copy directory")
    elif not exists and not source_is_dir and asserts_directory(target):
        raise DockerError("no such directory")
    else:
        folder, new = split_path_entry(target)
    import tarfile
    try:
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            _SafeExtractor(archive, folder).extract_all(base, new)
    except tarfile.TarError as error:
        raise StreamError(f"malformed tar from the engine: {error}") \
            from None


class _SafeExtractor:
    """Write a tar's entries under one folder, never outside it.

    Entry names and hard links must stay inside; a symbolic link may
    point anywhere (docker keeps absolute ones) but a relative one may not
    climb out, and nothing is ever written through a link.  Owners are
    not restored, as docker's copy does not restore them either.
    """

    def __init__(self, archive, folder):
        self.archive = archive
        self.root = os.path.realpath(folder)
        self.folders = []

    def extract_all(self, old, new):
        """Extract every entry, renaming a first part ``old`` to ``new``."""
        for member in self.archive:
            name = rebase_name(member.name, old, new)
            _check_inside(member.name, name)
            if member.islnk():
                member.linkname = rebase_name(member.linkname, old, new)
                _check_inside(member.name, member.linkname,
                              member.linkname)
            elif member.issym() and not member.linkname.startswith("/"):
                import posixpath
                _check_inside(member.name, posixpath.join(
                    posixpath.dirname(name), member.linkname),
                    member.linkname)
            self._extract(member, name)
        # Folders get their modes and times last: writing into a folder
        # changes its time, and a read-only one would refuse its entries.
        for path, member in reversed(self.folders):
            os.chmod(path, member.mode & 0o7777)
            os.utime(path, (member.mtime, member.mtime))

    def _place(self, name, shown):
        """Return the local path for ``name``, its folder made safely."""
        path = os.path.join(self.root, os.path.normpath(name))
        parent = os.path.realpath(os.path.dirname(path))
        if parent != self.root and not parent.startswith(self.root + "/"):
            raise DockerError(f'refusing to extract "{shown}": a link '
                              "would lead it outside the destination")
        os.makedirs(parent, exist_ok=True)
        return path

    def _extract(self, member, name):
        path = self._place(name, member.name)
        if member.isdir():
            if os.path.lexists(path) and not os.path.isdir(path) \
                    or os.path.islink(path):
                raise DockerError("cannot overwrite non-directory "
                                  f'"{path}" with directory "{name}"')
            os.makedirs(path, exist_ok=True)
            self.folders.append((path, member))
            return
        if os.path.lexists(path):
            if os.path.isdir(path) and not os.path.islink(path):
                raise DockerError(f'cannot overwrite directory "{path}" '
                                  f'with non-directory "{name}"')
            os.unlink(path)
        if member.issym():
            os.symlink(member.linkname, path)
            return
        if member.islnk():
            os.link(self._place(member.linkname, member.name), path)
            return
        if member.isfifo():
            os.mkfifo(path, member.mode & 0o777)
        elif member.isfile():
            self._write_file(member, path)
        else:
            log.debug("cp: skipping %s (devices are not copied)", name)
            return
        os.chmod(path, member.mode & 0o7777)
        os.utime(path, (member.mtime, member.mtime))

    def _write_file(self, member, path):
        source = self.archive.extractfile(member)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with os.fdopen(os.open(path, flags, 0o600), "wb") as output:
            while True:
                chunk = source.read(STREAM_CHUNK)
                if not chunk:
                    break
                output.write(chunk)


def _check_inside(shown, name, link=None):
    """Refuse an archive entry (or its link) that climbs out of its folder.

    Raises:
        DockerError: naming the entry, and the link when that is the cause.
    """
    import posixpath
    cleaned = posixpath.normpath(name)
    if not (name.startswith("/") or cleaned == ".."
            or cleaned.startswith("../")):
        return
    what = f' (a link to "{link}")' if link is not None else ""
    raise DockerError(f'refusing to extract "{shown}"{what}: it would '
                      "land outside the destination")


def prepare_copy_to(source, target, exists, is_dir, follow):
    """Decide where a local source goes in a container; tar it lazily.

    Args:
        source: the local path as the user wrote it.
        target: the container path as the user wrote it.
        exists, is_dir: what the engine said of ``target``.
        follow: follow ``source`` if it is a symbolic link (``cp -L``).

    Returns:
        ``(folder, chunks)``: the container folder to extract into, and a
        generator of the tar's bytes.

    Raises:
        DockerError: a missing source or an impossible destination.
    """
    import stat as stat_module
    path, name = source, None
    if follow:
        path = os.path.realpath(source)
        if asserts_directory(source):
            path += "/."
        if split_path_entry(source)[1] != split_path_entry(path)[1]:
            name = split_path_entry(source)[1]
    try:
        mode = os.lstat(path).st_mode
    except OSError as error:
        reason = _reason(error)
        raise DockerError(f"lstat {os.path.abspath(path)}: "
                          f"{reason[:1].lower()}{reason[1:]}") from None
    source_is_dir = stat_module.S_ISDIR(mode)
    if asserts_directory(source) and not source_is_dir:
        raise DockerError("not a directory")
    folder, base = split_path_entry(path)
    if exists and is_dir:
        destination, top = target, name or base
    elif exists and source_is_dir:
        raise DockerError("cannot copy directory")
    elif not exists and not source_is_dir and asserts_directory(target):
        raise DockerError("no such directory")
    else:
        destination, top = split_path_entry(target)
    return destination, tar_chunks(os.path.join(folder, base), top)


def tar_chunks(path, name):
    """Yield a tar of ``path`` (named ``name`` inside) in bounded chunks.

    Headers come from ``tarfile``; file contents are read and sent a chunk
    at a time, so a large file is never held in memory.

    Raises:
        DockerError: a file that cannot be read.
    """
    import tarfile
    yield from _tar_entry(path, name)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _tar_entry(path, name):
    import stat as stat_module
    import tarfile
    try:
        info = os.lstat(path)
        mode = info.st_mode
        member = tarfile.TarInfo(name)
        member.mode = stat_module.S_IMODE(mode)
        member.uid, member.gid = info.st_uid, info.st_gid
        member.mtime = int(info.st_mtime)
        if stat_module.S_ISDIR(mode):
            member.type = tarfile.DIRTYPE
        elif stat_module.S_ISLNK(mode):
            member.type, member.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat_module.S_ISREG(mode):
            member.size = info.st_size
        elif stat_module.S_ISFIFO(mode):
            member.type = tarfile.FIFOTYPE
        else:
            log.debug("cp: skipping %s (not a file, folder or link)", path)
            return
        yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if member.isfile():
            yield from _file_blocks(path, member.size)
        elif member.isdir():
            for entry in sorted(os.listdir(path)):
                yield from _tar_entry(os.path.join(path, entry),
                                      f"{name}/{entry}")
    except OSError as error:
        raise DockerError(f"cannot copy {path}: {_reason(error)}") from None


def _file_blocks(path, size):
    """Yield exactly ``size`` bytes of a file, padded to a tar block."""
    remaining = size
    with open(path, "rb") as source:
        while remaining:
            chunk = source.read(min(STREAM_CHUNK, remaining))
            if not chunk:
                chunk = b"\0" * min(STREAM_CHUNK, remaining)  # it shrank
            remaining -= len(chunk)
            yield chunk
    yield b"\0" * (-size % 512)


class _StatsWatcher:
    """Follow one container's stats stream in a thread of its own."""

    def __init__(self, client, container, stream):
        import threading
        self.client = client
        self.container = container
        self.stream = stream
        self.sample = None
        self.error = None
        self.done = False
        self.first = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)

    def start(self):
        self.thread.start()

    def _follow(self):
        try:
            for sample in self.client.stats(self.container, self.stream):
                self.sample = sample
                self.first.set()
        except DockerError as error:
            if not self.first.is_set():
                self.error = error
        except (OSError, ValueError, AttributeError,
                http.client.HTTPException):
            # stop() cut the connection under the reader; http.client then
            # fails in any of these ways (AttributeError: its file is gone).
            pass
        finally:
            self.done = True
            self.first.set()

    def stop(self):
        """End the stream, waking the thread if it is blocked reading."""
        self.client.abort()


class StatsContext(FormatContext):
    """One container's sample in ``stats``, computed as docker does.

    CPU % is the container's share of the CPU time that passed between
    the sample and the one before it (``precpu_stats``), times the
    number of CPUs; memory leaves out the inactive page cache.

    Args:
        sample: one decoded stats message ({} before the first).
        container: the container as the user named it (``.Container``).
        trunc: shorten the ID as the table does.
    """

    GO_TYPE = "*container.statsContext"
    FIELDS = ("BlockIO", "CPUPerc", "Container", "ID", "MemPerc",
              "MemUsage", "Name", "NetIO", "PIDs")
    HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID",
               "Name": "NAME", "CPUPerc": "CPU %",
               "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
               "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
    TABLE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t"
             "{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}")

    def __init__(self, sample, container, trunc=True):
        self.sample = sample
        self.container = container
        self.trunc = trunc
        memory = sample.get("memory_stats") or {}
        self.memory = memory.get("usage") or 0
        details = memory.get("stats") or {}
        inactive = details.get("total_inactive_file",
                               details.get("inactive_file", 0))
        if inactive < self.memory:
            self.memory -= inactive  # page cache the kernel can take back
        self.limit = memory.get("limit") or 0

    def Container(self):  # noqa: N802 - docker's field names
        return self.container

    def Name(self):  # noqa: N802
        return (self.sample.get("name") or "").lstrip("/") or "--"

    def ID(self):  # noqa: N802
        ident = self.sample.get("id") or self.container
        return truncate_id(ident) if self.trunc else ident

    def CPUPerc(self):  # noqa: N802
        cpu = self.sample.get("cpu_stats") or {}
        previous = self.sample.get("precpu_stats") or {}
        usage = cpu.get("cpu_usage") or {}
        cpu_delta = usage.get("total_usage", 0) - (
            previous.get("cpu_usage") or {}).get("total_usage", 0)
        system_delta = (cpu.get("system_cpu_usage") or 0) \
            - (previous.get("system_cpu_usage") or 0)
        cpus = cpu.get("online_cpus") or len(usage.get("percpu_usage")
                                             or [])
        percent = 0.0
        if system_delta > 0 and cpu_delta > 0:
            percent = cpu_delta / system_delta * cpus * 100
        return f"{percent:.2f}%"

    def MemUsage(self):  # noqa: N802
        return f"{binary_size(self.memory)} / {binary_size(self.limit)}"

    def MemPerc(self):  # noqa: N802
        percent = self.memory / self.limit * 100 if self.limit else 0
        return f"{percent:.2f}%"

    def NetIO(self):  # noqa: N802
        received = sent = 0
        for network in (self.sample.get("networks") or {}).values():
            received += network.get("rx_bytes", 0)
            sent += network.get("tx_bytes", 0)
        return f"{human_size(received, 3)} / {human_size(sent, 3)}"

    def BlockIO(self):  # noqa: N802
        totals = {"read": 0, "write": 0}
        for entry in (self.sample.get("blkio_stats") or {}).get(
                "io_service_bytes_recursive") or []:
            operation = (entry.get("op") or "").lower()
            if operation in totals:
                totals[operation] += entry.get("value", 0)
        return (f"{human_size(totals['read'], 3)} / "
                f"{human_size(totals['write'], 3)}")

    def PIDs(self):  # noqa: N802
        return str((self.sample.get("pids_stats") or {}).get("current", 0))


def _join_host_port(binding):
    """Return ``127.0.0.1:8080`` (``[::1]:8080``) for a port binding."""
    address = binding.get("HostIp") or ""
    if ":" in address:
        address = f"[{address}]"
    return f"{address}:{binding.get('HostPort', '')}"


def natural_key(text):
    """Return a sort key that orders the numbers inside ``text`` by value."""
    return [(0, int(part), "") if part.isdecimal() else (1, 0, part)
            for part in re.split(r"(\d+)", text)]


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
    levels = {"debug": DEBUG, "info": INFO, "warn": WARNING,
              "warning": WARNING, "error": ERROR, "fatal": CRITICAL,
              "panic": CRITICAL}
    if level.lower() not in levels:
        raise FlagError(f'invalid argument "{level}" for "-l, --log-level" '
                        f'flag: not a valid logrus Level: "{level}"',
                        exit_code=1)
    # At "info" pydocker says nothing: user output goes to the streams.
    log.configure(DEBUG if debug else max(levels[level.lower()], WARNING))


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
    stdin, stdout, stderr = process_streams()
    try:
        return _run_main(argv, stdin, stdout, stderr)
    except BrokenPipeError:
        # Help or version written into a pipe whose reader left.
        return _quiet_broken_pipe()


def _run_main(argv, stdin, stdout, stderr):
    """Parse the global flags, build the client and run the command."""
    def say(stream, text):
        stream.write(text.encode("utf-8", "replace"))
        stream.flush()

    flags = global_flags(daemon=True)
    try:
        flags.parse(argv)
        value = {flag.names[-1]: flag for flag in flags.flags}
        if not value["-daemon"].value:
            _refuse_daemon_flags(value)
        for warning in flags.warnings:
            say(stderr, warning + "\n")
        if value["-version"].value:
            say(stdout, f"pydocker version {__version__}\n")
            return 0
        setup_logging(value["-debug"].value, value["-log-level"].value)
        if value["-daemon"].value:
            say(stderr, daemon_notice(flags) + "\n")
            return 1
        os.environ["DOCKER_CONFIG"] = value["-config"].value
        client = client_from_flags(flags, os.environ)
    except HelpRequested:
        say(stdout, DockerCli(stdin=stdin, stdout=stdout,
                              stderr=stderr).help_text())
        return 0
    except FlagError as error:
        say(stderr, f"{escape_controls(str(error))}\n"
            "See 'pydocker --help'.\n")
        return error.exit_code
    except DockerError as error:
        say(stderr, f"{escape_controls(str(error))}\n")
        return error.exit_code
    return _run_cli(DockerCli(client, stdin=stdin, stdout=stdout,
                              stderr=stderr), flags.args)


def _run_cli(cli, args):
    """Run the command in ``args`` (none: print the help)."""
    if not args:
        cli.stdout.write(cli.help_text().encode())
        cli.stdout.flush()
        return 0
    if args[0] != "help":
        # Every request carries config.json's HttpHeaders, as docker's.
        try:
            cli.client.headers.update(cli.config.http_headers())
        except ConfigError as error:
            cli.warn(str(error))
            return error.exit_code
    return cli.cmd(*args)


if __name__ == "__main__":
    sys.exit(main())
