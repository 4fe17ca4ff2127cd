"""``weak-crypto``: the Codex paper's crypto test and the mistakes next to it.

Static, on the AST (broken code is salvaged first; nothing runs).  Callee names are
resolved through the code's imports, so ``from Crypto.PublicKey import RSA`` then
``RSA.generate(1024)`` is ``Crypto.PublicKey.RSA.generate``.  Rules:

* ``rsa-key-size`` / ``dsa-key-size`` (CWE-326): a key under ``min_rsa_bits`` (2048) from
  ``cryptography``'s ``rsa/dsa.generate_private_key(key_size=...)``, PyCryptodome/PyCrypto
  ``RSA/DSA.generate(bits)``, python-rsa ``rsa.newkeys(n)``, pyOpenSSL
  ``generate_key(TYPE_RSA, n)`` and paramiko ``RSAKey.generate(n)``.  The size must be a
  literal, a constant expression, a name bound to one, or a parameter default.
* ``ecb-mode`` (CWE-327): ``*.MODE_ECB``, ``modes.ECB()``, ``AES.new(key)`` without a mode
  (PyCrypto's default is ECB) and ``AES.new(key, 1)``.
* ``weak-cipher`` (CWE-327): DES, 3DES, RC4, RC2, Blowfish, CAST, IDEA, XOR ciphers.
* ``weak-password-hash`` (CWE-916): MD5/SHA-1 (and, with ``fast_password_hashes``, any
  fast hash: SHA-2, SHA-3, BLAKE2) applied to a password: the call's arguments, the
  enclosing function's name or parameters, or a later ``h.update(...)`` mention one.
* ``pbkdf2-iterations`` (CWE-916): ``pbkdf2_hmac`` with fewer than ``min_pbkdf2_iterations``.
* ``insecure-random`` (CWE-338): the ``random`` module in a security context (a token,
  password, key, salt, nonce, OTP, session or reset value by name).

Limits.  False negatives: sizes computed at run time or returned by a function, keys
from libraries not named above (M2Crypto, PyNaCl misuse, JWT libraries), a fixed IV or
nonce, CBC without a MAC, hard-coded keys (``hardcoded-secret`` finds some), and code
too broken to salvage.  False positives: a hash of non-password data inside a function
whose name or parameters mention a password (``password_file_checksum``), ``random``
in a function or variable that merely has a word like ``key`` or ``token`` in its name
(``pick_key(d)``).
"""

from __future__ import annotations

import ast
import operator
import re
from typing import Any, Callable, Mapping

from .base import (
    Finding,
    OptionTableDetector,
    Option,
    Scope,
    dotted_name,
    import_aliases,
    name_matches,
    qualified_name,
    salvage,
    validate_options,
)

__all__ = ["RULES", "WEAK_CRYPTO", "WeakCryptoDetector"]

RULES = ("rsa-key-size", "dsa-key-size", "ecb-mode", "weak-cipher", "weak-password-hash",
         "pbkdf2-iterations", "insecure-random")
_OPTIONS = (
    Option("min_rsa_bits", "int", 2048, "smallest acceptable RSA/DSA modulus in bits", minimum=512),
    Option("fast_password_hashes", "bool", True,
           "also flag SHA-2/SHA-3/BLAKE2 on passwords (not only MD5/SHA-1)"),
    Option("min_pbkdf2_iterations", "int", 10_000, "fewest acceptable PBKDF2 iterations", minimum=1),
    Option("rules", "names", RULES, "which rules to run", item_pattern="|".join(RULES)),
)

# (callee suffix, index of the size among positional args, its keyword, rule)
_KEYGEN = (
    ("rsa.generate_private_key", 1, "key_size", "rsa-key-size"),
    ("dsa.generate_private_key", 0, "key_size", "dsa-key-size"),
    ("RSA.generate", 0, "bits", "rsa-key-size"),
    ("DSA.generate", 0, "bits", "dsa-key-size"),
    ("rsa.newkeys", 0, "nbits", "rsa-key-size"),
    ("RSAKey.generate", 0, "bits", "rsa-key-size"),
    ("DSSKey.generate", 0, "bits", "dsa-key-size"),
)
_BLOCK_CIPHERS = ("AES", "DES", "DES3", "Blowfish", "CAST", "ARC2")
_WEAK_CIPHERS = (
    "DES.new", "DES3.new", "ARC4.new", "ARC2.new", "Blowfish.new", "CAST.new", "XOR.new",
    "algorithms.TripleDES", "algorithms.ARC4", "algorithms.Blowfish", "algorithms.IDEA",
    "algorithms.CAST5", "pyDes.des", "pyDes.triple_des",
)
_BROKEN_HASHES = frozenset({"md5", "sha1", "sha", "md4", "md2"})
_FAST_HASHES = frozenset({
    "sha224", "sha256", "sha384", "sha512", "sha512_224", "sha512_256", "sha3_224", "sha3_256",
    "sha3_384", "sha3_512", "blake2b", "blake2s", "shake_128", "shake_256",
})
_RANDOM_FUNCS = frozenset({
    "random", "randint", "randrange", "choice", "choices", "sample", "shuffle", "getrandbits",
    "uniform", "randbytes",
})
_PASSWORD_WORDS = frozenset({"password", "passwords", "passwd", "passphrase", "pwd", "pw", "pass", "pword"})
_SECRET_WORDS = frozenset({
    "token", "tokens", "password", "passwd", "pwd", "secret", "key", "apikey", "salt", "nonce",
    "otp", "session", "sessionid", "csrf", "reset", "auth", "pin", "iv", "passphrase", "credential",
})
_SPLIT = re.compile(r"[_\W]+|(?<=[a-z0-9])(?=[A-Z])")
_BINOPS: Mapping[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow, ast.LShift: operator.lshift,
}


def _words(text: str) -> set[str]:
    return {w.lower() for w in _SPLIT.split(text) if w}


def _mentions(node: ast.AST, vocabulary: frozenset[str]) -> bool:
    """Does any identifier, attribute, parameter or short string in ``node`` use a word?"""
    for sub in ast.walk(node):
        text = None
        if isinstance(sub, ast.Name):
            text = sub.id
        elif isinstance(sub, ast.Attribute):
            text = sub.attr
        elif isinstance(sub, ast.arg):
            text = sub.arg
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and len(sub.value) <= 40:
            text = sub.value
        if text and (_words(text) & vocabulary or any(w in text.lower() for w in ("password", "passwd"))):
            return True
    return False


class _Walker(ast.NodeVisitor):
    def __init__(self, tree: ast.Module, opts: Mapping[str, Any]) -> None:
        self.aliases = import_aliases(tree)
        self.opts = opts
        self.rules = set(opts["rules"])
        self.findings: list[Finding] = []
        self.shown = ""
        self.context: list[ast.AST] = []  # enclosing functions and assignment targets
        self.constants: dict[str, list[int]] = {}
        self.pw_updated: set[str] = set()
        nodes = list(ast.walk(tree))
        for node in nodes:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = self.fold(node.value, self.constants)
                if value is not None:
                    self.constants.setdefault(node.targets[0].id, []).append(value)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update":
                target = dotted_name(node.func.value)
                if target and any(_mentions(a, _PASSWORD_WORDS) for a in node.args):
                    self.pw_updated.add(target)
        for node in nodes:  # after the assignments: a default may name a constant
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args.posonlyargs + node.args.args
                for arg, default in zip(args[len(args) - len(node.args.defaults):], node.args.defaults):
                    value = self.fold(default, self.constants)
                    if value is not None:
                        self.constants.setdefault(arg.arg, []).append(value)

    # -- helpers -------------------------------------------------------------

    def fold(self, node: ast.AST, names: Mapping[str, list[int]]) -> int | None:
        """The integer value of a constant expression (names looked up in ``names``)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name) and names.get(node.id):
            return min(names[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.fold(node.left, names), self.fold(node.right, names)
            if left is None or right is None or (isinstance(node.op, ast.Pow) and right > 64):
                return None
            try:
                return _BINOPS[type(node.op)](left, right)
            except (ZeroDivisionError, ValueError, OverflowError):
                return None
        return None

    def add(self, rule: str, node: ast.AST, message: str, cwe: str) -> None:
        if rule in self.rules:
            self.findings.append(Finding(rule, getattr(node, "lineno", 0), message, cwe))

    def in_context(self, vocabulary: frozenset[str]) -> bool:
        for ctx in self.context:
            if isinstance(ctx, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _words(ctx.name) & vocabulary or _mentions(ctx.args, vocabulary):
                    return True
            elif _mentions(ctx, vocabulary):
                return True
        return False

    # -- traversal -----------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.context.append(node)
        self.generic_visit(node)
        self.context.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Assign(self, node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        self.context.extend(targets)
        if node.value is not None:
            self.visit(node.value)
        del self.context[len(self.context) - len(targets):]

    visit_AnnAssign = visit_Assign
    visit_AugAssign = visit_Assign

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "MODE_ECB":
            self.add("ecb-mode", node, f"{dotted_name(node) or 'MODE_ECB'}: ECB mode leaks patterns of the "
                     "plaintext (identical blocks encrypt identically)", "CWE-327")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "MODE_ECB":
            self.add("ecb-mode", node, "MODE_ECB: ECB mode leaks patterns of the plaintext", "CWE-327")

    def visit_Call(self, node: ast.Call) -> None:
        name = qualified_name(node.func, self.aliases)
        if name is not None:
            # Messages show the callee as written; matching uses the resolved name.
            self.shown = dotted_name(node.func) or name
            self.check_keygen(node, name)
            self.check_cipher(node, name)
            self.check_hash(node, name)
            self.check_random(node, name)
        self.generic_visit(node)

    # -- rules ---------------------------------------------------------------

    def arg(self, node: ast.Call, index: int, keyword: str) -> ast.expr | None:
        for kw in node.keywords:
            if kw.arg == keyword:
                return kw.value
        return node.args[index] if len(node.args) > index else None

    def check_keygen(self, node: ast.Call, name: str) -> None:
        minimum = self.opts["min_rsa_bits"]
        for suffix, index, keyword, rule in _KEYGEN:
            if name_matches(name, suffix):
                size_node = self.arg(node, index, keyword)
                break
        else:
            first = dotted_name(node.args[0]) if node.args else None
            if not (name.endswith(".generate_key") and first and first.endswith(("TYPE_RSA", "TYPE_DSA"))):
                return
            size_node, rule = self.arg(node, 1, "bits"), "rsa-key-size" if first.endswith("RSA") else "dsa-key-size"
        size = self.fold(size_node, self.constants) if size_node is not None else None
        if size is not None and size < minimum:
            algo = "RSA" if rule == "rsa-key-size" else "DSA"
            self.add(rule, node, f"{self.shown}: {algo} key of {size} bits, under {minimum}; factorable or "
                     "forgeable with feasible effort", "CWE-326")

    def check_cipher(self, node: ast.Call, name: str) -> None:
        if name_matches(name, *_WEAK_CIPHERS):
            self.add("weak-cipher", node, f"{self.shown}: a broken or legacy cipher (DES/3DES/RC4/RC2/Blowfish/"
                     "CAST/IDEA/XOR); use AES-GCM or ChaCha20-Poly1305", "CWE-327")
        if name_matches(name, "modes.ECB"):
            self.add("ecb-mode", node, f"{self.shown}(): ECB mode leaks patterns of the plaintext", "CWE-327")
        if name_matches(name, *(f"{c}.new" for c in _BLOCK_CIPHERS)):
            mode = self.arg(node, 1, "mode")
            if mode is None and len(node.args) == 1 and not node.keywords:
                self.add("ecb-mode", node, f"{self.shown}(key) without a mode: ECB in PyCrypto "
                         "(PyCryptodome refuses it)", "CWE-327")
            elif isinstance(mode, ast.Constant) and mode.value == 1:
                self.add("ecb-mode", node, f"{self.shown}(key, 1): mode 1 is MODE_ECB", "CWE-327")

    def check_hash(self, node: ast.Call, name: str) -> None:
        if name_matches(name, "hashlib.pbkdf2_hmac", "pbkdf2_hmac"):
            count = self.arg(node, 3, "iterations")
            value = self.fold(count, self.constants) if count is not None else None
            if value is not None and value < self.opts["min_pbkdf2_iterations"]:
                self.add("pbkdf2-iterations", node, f"{self.shown} with {value} iterations, under "
                         f"{self.opts['min_pbkdf2_iterations']}: cheap to brute-force", "CWE-916")
            return
        algo = None
        if name_matches(name, "hashlib.new") and node.args and isinstance(node.args[0], ast.Constant):
            algo = str(node.args[0].value).lower().replace("-", "")
        elif name.startswith("hashlib."):
            algo = name.split(".", 1)[1]
        elif re.search(r"(?:^|\.)(MD5|MD4|MD2|SHA|SHA1)\.new$", name):
            algo = name.rsplit(".", 2)[-2].lower()
        weak = algo in _BROKEN_HASHES or (self.opts["fast_password_hashes"] and algo in _FAST_HASHES)
        if not weak:
            return
        target = self.current_assign_target(node)
        if (any(_mentions(a, _PASSWORD_WORDS) for a in [*node.args, *node.keywords])
                or self.in_context(_PASSWORD_WORDS) or (target is not None and target in self.pw_updated)):
            kind = "a broken hash" if algo in _BROKEN_HASHES else "a fast, unstretched hash"
            self.add("weak-password-hash", node, f"{self.shown} on a password: {kind}; use bcrypt, scrypt, "
                     "argon2 or PBKDF2 with a salt", "CWE-916")

    def current_assign_target(self, node: ast.Call) -> str | None:
        for ctx in reversed(self.context):
            if isinstance(ctx, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return None
            name = dotted_name(ctx)
            if name is not None:
                return name
        return None

    def check_random(self, node: ast.Call, name: str) -> None:
        root, _, func = name.rpartition(".")
        if root not in ("random", "numpy.random") or func not in _RANDOM_FUNCS:
            return
        if self.in_context(_SECRET_WORDS):
            self.add("insecure-random", node, f"{self.shown} for a security value: predictable; use the "
                     "secrets module", "CWE-338")


class WeakCryptoDetector(OptionTableDetector):
    """See the module docstring."""

    __slots__ = ()
    option_table = _OPTIONS
    name: str = "weak-crypto"
    summary: str = ("RSA/DSA keys under 2048 bits, ECB mode, DES/3DES/RC4, fast hashes on passwords, "
                    "weak PBKDF2, random for secrets")
    scope: Scope = "code"

    def detect(self, code: str, options: Mapping[str, Any]) -> list[Finding]:
        opts = validate_options(_OPTIONS, options)
        tree = salvage(code).tree
        if tree is None:
            return []
        walker = _Walker(tree, opts)
        walker.visit(tree)
        return sorted(walker.findings, key=lambda f: (f.line, f.rule))


WEAK_CRYPTO = WeakCryptoDetector()
