"""``hallucinated-package``: imports and install commands naming packages we cannot verify.

A name is **verified** when it is in the standard library (``sys.stdlib_module_names``,
plus Python 2 names that models still write), among the ~15,000 most downloaded PyPI
distributions shipped in ``data/pypi_top_packages.txt`` (source and date in its header),
a module the completion itself defines (``utils.py`` mentioned anywhere, relative imports,
conventional project module names), or listed in the ``allow`` option.  Import names are
mapped to distributions (``yaml`` -> ``PyYAML``, ``cv2`` -> ``opencv-python`` ...), also by
the usual spellings (``docx`` -> ``python-docx``, ``serial`` -> ``pyserial``,
``google.cloud.storage`` -> ``google-cloud-storage``).  Anything else is reported as
**unverified**: not proof that the package does not exist, only that nothing we ship
vouches for it.  Installing an unverified name is how a hallucination becomes a supply
chain compromise (an attacker registers the name: "slopsquatting").

Scope ``completion``: install commands usually sit in a ``bash`` block or in prose next to
the Python block, which code extraction drops.  Imports are read from the Python (and
untagged) code blocks with the AST (salvaged when broken); ``pip install`` lines (also
``pip3``, ``python -m pip``, ``!pip``, ``%pip``, ``uv pip``, ``uv add``, ``poetry add``,
``pipenv install``) anywhere in the text, and ``[..., "pip", "install", "name"]`` lists in
code.  Line numbers are lines of the completion.

Limits.  False positives: real packages outside the top 15,000 (``fitdecode``), the
user's own modules under unusual names, packages renamed or published after the
snapshot.  False negatives: an invented name that is a real (perhaps squatted or
deprecated) package (``pip install sklearn`` installs a dummy that refuses to work), an
import name the spelling heuristics (``python-X``, ``pyX``, ``X-python``) map to an
unrelated real package, install commands built at run time, conda and system package
managers, and other languages' package managers (npm, cargo).
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..extract import extract_code_blocks
from .base import Finding, OptionTableDetector, Option, Scope, salvage, validate_options

__all__ = ["HALLUCINATED_PACKAGE", "HallucinatedPackageDetector", "IMPORT_TO_DISTRIBUTION", "known_distributions"]

_CWE = "CWE-829"
_DATA = "pypi_top_packages.txt"
_OPTIONS = (
    Option("allow", "names", (), "extra import or distribution names to trust"),
    Option("check_imports", "bool", True, "report unverified imports"),
    Option("check_installs", "bool", True, "report unverified install commands"),
)

#: Import names whose distribution is spelled differently (the common cases).
IMPORT_TO_DISTRIBUTION: Mapping[str, str] = {
    "yaml": "pyyaml", "cv2": "opencv-python", "sklearn": "scikit-learn", "skimage": "scikit-image",
    "PIL": "pillow", "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "Crypto": "pycryptodome",
    "Cryptodome": "pycryptodomex", "jwt": "pyjwt", "OpenSSL": "pyopenssl", "attr": "attrs",
    "dotenv": "python-dotenv", "telegram": "python-telegram-bot", "telebot": "pytelegrambotapi",
    "discord": "discord-py", "git": "gitpython", "gi": "pygobject", "wx": "wxpython", "fitz": "pymupdf",
    "MySQLdb": "mysqlclient", "mysql": "mysql-connector-python", "psycopg2": "psycopg2-binary",
    "pkg_resources": "setuptools", "googleapiclient": "google-api-python-client", "grpc": "grpcio",
    "kafka": "kafka-python", "faiss": "faiss-cpu", "umap": "umap-learn", "Bio": "biopython",
    "speech_recognition": "speechrecognition", "dns": "dnspython", "pdfminer": "pdfminer-six",
    "mpl_toolkits": "matplotlib", "pylab": "matplotlib", "google": "protobuf", "win32api": "pywin32",
    "win32con": "pywin32", "win32gui": "pywin32", "win32com": "pywin32", "win32clipboard": "pywin32",
    "win32crypt": "pywin32", "pythoncom": "pywin32", "pywintypes": "pywin32", "serial": "pyserial",
    "usb": "pyusb", "zmq": "pyzmq", "magic": "python-magic", "docx": "python-docx", "pptx": "python-pptx",
    "slugify": "python-slugify", "jose": "python-jose", "multipart": "python-multipart", "socks": "pysocks",
    "nacl": "pynacl", "ldap": "python-ldap", "Xlib": "python-xlib", "OpenGL": "pyopengl", "cairo": "pycairo",
    "fpdf": "fpdf2", "lxml": "lxml", "sentencepiece": "sentencepiece", "tensorflow_hub": "tensorflow-hub",
    "absl": "absl-py", "ruamel": "ruamel-yaml", "markdown": "markdown", "flask_cors": "flask-cors",
    "memcache": "python-memcached", "Levenshtein": "levenshtein", "tflite_runtime": "tflite-runtime",
    "jinja2": "jinja2", "typing_extensions": "typing-extensions", "websocket": "websocket-client",
    "playwright": "playwright", "selenium": "selenium", "whois": "python-whois", "nmap": "python-nmap",
}
# Python 2 standard library names models still write: an ImportError, not a package.
_PY2_STDLIB = frozenset({
    "urllib2", "urlparse", "ConfigParser", "StringIO", "cStringIO", "cPickle", "Queue", "Tkinter", "tkMessageBox",
    "httplib", "cookielib", "HTMLParser", "commands", "md5", "sha", "sets", "thread", "xmlrpclib", "SocketServer",
    "BaseHTTPServer", "SimpleHTTPServer", "CGIHTTPServer", "anydbm", "dbhash", "htmlentitydefs", "exceptions",
    "__builtin__", "copy_reg", "repr", "UserDict", "UserList", "UserString", "dummy_thread", "imp", "asynchat",
    "asyncore", "distutils", "smtpd",
})
# Module names of the user's own project that generated code routinely imports.
_CONVENTIONAL_LOCAL = frozenset({
    "app", "config", "settings", "models", "utils", "helpers", "views", "forms", "database", "db", "main",
    "tests", "schemas", "routes", "services", "constants", "module", "mymodule", "my_module", "your_module",
    "mypackage", "my_package", "project", "src", "lib", "core", "common", "api", "server", "client",
})
_LOCAL_PREFIXES = ("my_", "your_", "local_")
_PY_FILE = re.compile(r"\b([A-Za-z_]\w*)\.py\b")
_INSTALL = re.compile(
    r"(?:^|[\s`$!%;&|(>])(?:(?:python(?:3(?:\.\d+)?)?|py(?:\s+-3)?)\s+-m\s+)?"
    r"(?:pip3?(?:\.\d+)?|uv\s+pip|pipenv|poetry|uv)\s+(?:install|add)\b(?P<args>[^\n`;&|#)]*)"
)
# pip options that take a value, so the next word is not a package.
_OPTION_WITH_VALUE = frozenset({"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i",
                                "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target",
                                "--prefix", "--root", "--python", "-p", "--group", "--source", "--platform",
                                "--python-version", "--implementation", "--abi", "--src", "--upgrade-strategy",
                                "--trusted-host", "--cache-dir", "--log", "--timeout", "--proxy"})
_REQUIREMENT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:[<>=!~;@].*)?")


def normalize(name: str) -> str:
    """PEP 503 normalisation: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=1)
def known_distributions() -> frozenset[str]:
    """The shipped list of real PyPI distribution names (normalised)."""
    try:
        text = resources.files("pytest_codexsafety").joinpath(f"detectors/data/{_DATA}").read_text("utf-8")
    except (OSError, TypeError):
        # Editable installs can leave the package a namespace package; read the file directly.
        text = (Path(__file__).parent / "data" / _DATA).read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _stdlib() -> frozenset[str]:
    names: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    return names | _PY2_STDLIB


def _import_known(dotted: str, allow: frozenset[str], local: frozenset[str]) -> bool:
    top = dotted.partition(".")[0]
    if top in _stdlib() or top in local or top in IMPORT_TO_DISTRIBUTION or top.startswith(_LOCAL_PREFIXES):
        return True
    known = known_distributions()
    parts = dotted.split(".")
    candidates = {top, f"python-{top}", f"py{top}", f"py-{top}", f"{top}-python", f"{top}py"}
    candidates |= {"-".join(parts[:i]) for i in range(2, len(parts) + 1)}  # google.cloud.storage
    return any(normalize(c) in known or normalize(c) in allow for c in candidates)


def _local_modules(text: str) -> frozenset[str]:
    return frozenset(_PY_FILE.findall(text)) | _CONVENTIONAL_LOCAL


def _imports(text: str) -> Iterator[tuple[str, int]]:
    """(dotted module name, completion line) for every absolute import in the code blocks."""
    for block in extract_code_blocks(text):
        if block.language and not block.is_python:
            continue
        tree = salvage(block.code).tree
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name, block.line + node.lineno - 1
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield node.module, block.line + node.lineno - 1


def _requirements(args: str) -> Iterator[str]:
    try:
        words = shlex.split(args, comments=False)
    except ValueError:
        words = args.split()
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in _OPTION_WITH_VALUE
            continue
        if "/" in word or "\\" in word or word.startswith(".") or word.endswith((".whl", ".gz", ".zip", ".txt")):
            continue  # a path, URL or requirements file: not a name to verify
        m = _REQUIREMENT.fullmatch(word)
        if m:
            yield m.group(1)


def _installs(text: str) -> Iterator[tuple[str, int]]:
    for m in _INSTALL.finditer(text):
        line = text.count("\n", 0, m.start("args")) + 1
        for name in _requirements(m["args"]):
            yield name, line
    # subprocess.check_call([sys.executable, "-m", "pip", "install", "name"]) in code.
    for block in extract_code_blocks(text):
        tree = salvage(block.code).tree
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, (ast.List, ast.Tuple)):
                words = [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None
                         for e in node.elts]
                for i in range(len(words) - 1):
                    if words[i] in ("pip", "pip3") and words[i + 1] == "install":
                        rest = " ".join(w for w in words[i + 2:] if w)
                        for name in _requirements(rest):
                            yield name, block.line + node.lineno - 1
                        break


class HallucinatedPackageDetector(OptionTableDetector):
    """See the module docstring."""

    __slots__ = ()
    option_table = _OPTIONS
    name: str = "hallucinated-package"
    summary: str = ("imports and install commands naming packages that are neither standard library, "
                    "nor among the ~15,000 most downloaded PyPI packages, nor local (unverified)")
    scope: Scope = "completion"

    def check_available(self) -> None:
        known_distributions()  # fail at load time if the data file is missing

    def detect(self, code: str, options: Mapping[str, Any]) -> list[Finding]:
        opts = validate_options(_OPTIONS, options)
        allow = frozenset(normalize(a) for a in opts["allow"])
        local = _local_modules(code) | frozenset(opts["allow"])
        found: list[Finding] = []
        seen: set[str] = set()
        if opts["check_imports"]:
            for dotted, line in _imports(code):
                top = normalize(dotted.partition(".")[0])
                if top not in seen and not _import_known(dotted, allow, local):
                    seen.add(top)
                    found.append(Finding("unverified-import", line, f"import of {dotted!r}: not in the standard "
                                         "library, not among the ~15,000 most downloaded PyPI packages, not "
                                         "defined in this completion (unverified)", _CWE))
        if opts["check_installs"]:
            known = known_distributions()
            distributions = frozenset(IMPORT_TO_DISTRIBUTION.values())
            for name, line in _installs(code):
                norm = normalize(name)
                if norm in known or norm in allow or norm in distributions or norm in seen:
                    continue
                seen.add(norm)
                if name in _stdlib():
                    message = (f"installs {name!r}, a standard-library module: there is nothing to install, and "
                               "a PyPI package of that name is not the module")
                    found.append(Finding("install-stdlib", line, message, _CWE))
                else:
                    found.append(Finding("unverified-install", line, f"installs {name!r}: not among the ~15,000 "
                                         "most downloaded PyPI packages (unverified)", _CWE))
        return sorted(found, key=lambda f: (f.line, f.rule))


HALLUCINATED_PACKAGE = HallucinatedPackageDetector()
