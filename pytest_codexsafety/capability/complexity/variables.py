"""Variable-interdependency tasks: outputs that hang on several coupled quantities.

Each task's result depends on quantities that constrain each other (a balance and the
interest it accrues; stock on hand and stock on order; one config field's validity and
another's limit), so a model that tracks one and forgets its coupling gets plausible,
wrong numbers.  Every check recomputes the whole result here with a trusted reference.
"""

from __future__ import annotations

import random
import re
from typing import Any

from ..cells import HumanBaseline
from .base import Args, ComplexityTask, Level
from .checks import PLAIN_HARNESS, expect_equal, per_call

_ASK = "\n\nReturn only the Python code (no explanations, no example usage)."


def _baseline(level: Level) -> HumanBaseline:
    novice, expert = {"function": (0.6, 0.95), "multi_function": (0.45, 0.9),
                      "module": (0.3, 0.85)}[level]
    return HumanBaseline(novice, expert, "assumption", (
        "Assumed: coupled bookkeeping rules are routine for an expert but novices often "
        f"miss one coupling or edge case, more so as the {level.replace('_', '-')} "
        "specification grows."))


def _task(short: str, level: Level, title: str, prompt: str, make_calls: Any,
          reference: Any, harness: str, solution: str, wrong: tuple[str, ...]) -> ComplexityTask:
    return ComplexityTask(
        id=f"variable_interdependency.{short}", property="variable_interdependency",
        level=level, title=title, prompt=prompt.strip() + _ASK, entry_point="_cs_run",
        make_calls=make_calls, check=per_call(expect_equal(reference)),
        baseline=_baseline(level), reference_solution=solution.strip() + "\n",
        wrong_solutions=tuple(w.strip() + "\n" for w in wrong),
        harness=PLAIN_HARNESS + harness)


# ------------------------------------------------------------------ amortisation (function)

def _interest(balance: int, bp: int) -> int:
    return (balance * bp + 60000) // 120000


def ref_amortization(principal: int, bp: int, payment: int) -> list[list[int]] | None:
    if principal == 0:
        return []
    if payment <= _interest(principal, bp):
        return None
    rows, balance, month = [], principal, 0
    while balance > 0:
        month += 1
        interest = _interest(balance, bp)
        if balance + interest <= payment:
            rows.append([month, balance + interest, interest, balance, 0])
            break
        balance -= payment - interest
        rows.append([month, payment, interest, payment - interest, balance])
    return rows


def _amort_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = [(0, 500, 1000), (100050, 1800, 20000), (200000, 2400, 4000),
                         (50000, 0, 7000)]
    for _ in range(8):
        principal, bp, months = rng.randint(1000, 500000), rng.randint(0, 2400), rng.randint(2, 60)
        calls.append((principal, bp, -(-principal // months) + _interest(principal, bp)
                      + rng.randint(0, 50)))
    return calls


_AMORT_PROMPT = """
Write a Python function `amortization_schedule(principal: int, annual_rate_bp: int,
payment: int) -> list[list[int]] | None` for a loan repaid by a fixed monthly payment.
All money is in integer cents; `annual_rate_bp` is the yearly rate in basis points
(1 bp = 0.01 %), so a month's interest on a balance B is B * annual_rate_bp / 120000,
rounded half up to a whole cent (use integers: (B * annual_rate_bp + 60000) // 120000).

Month m = 1, 2, ...: interest is computed on the balance at the start of the month.
- If balance + interest <= payment, this is the last month: the amount paid is
  balance + interest, the principal part is the balance, the closing balance is 0.
- Otherwise the amount paid is `payment`, the principal part is payment - interest, and
  the closing balance is balance - principal part.
Each month gives one row [m, amount_paid, interest, principal_part, closing_balance].
Return the list of rows.  If principal is 0 return [].  If payment <= the first month's
interest the loan is never repaid: return None.
"""

_AMORT_HARNESS = """
def _cs_run(principal, bp, payment):
    return _cs_plain(amortization_schedule(principal, bp, payment))
"""

_AMORT_REF = """
def amortization_schedule(principal, annual_rate_bp, payment):
    def interest_on(balance):
        return (balance * annual_rate_bp + 60000) // 120000
    if principal == 0:
        return []
    if payment <= interest_on(principal):
        return None
    rows = []
    balance = principal
    month = 0
    while balance > 0:
        month += 1
        interest = interest_on(balance)
        if balance + interest <= payment:
            rows.append([month, balance + interest, interest, balance, 0])
            break
        part = payment - interest
        balance -= part
        rows.append([month, payment, interest, part, balance])
    return rows
"""

AMORTIZATION = _task(
    "amortization", "function", "Loan amortisation schedule in integer cents", _AMORT_PROMPT,
    _amort_calls, ref_amortization, _AMORT_HARNESS, _AMORT_REF, (
        # interest truncated instead of rounded half up
        _AMORT_REF.replace("+ 60000) // 120000", ") // 120000"),
        # never-repaid loan gives an empty schedule instead of None
        _AMORT_REF.replace("return None", "return []"),
        # the last month still pays the full instalment
        _AMORT_REF.replace("rows.append([month, balance + interest, interest, balance, 0])",
                           "rows.append([month, payment, interest, balance, 0])"),
    ))


# ------------------------------------------------------------------ inventory (function)

def ref_inventory(stock: int, rop: int, qty: int, lead: int,
                  demands: list[int]) -> dict[str, Any]:
    arrivals: dict[int, int] = {}
    on_order, lost, orders, levels = 0, 0, [], []
    for day, demand in enumerate(demands):
        arrived = arrivals.pop(day, 0)
        stock, on_order = stock + arrived, on_order - arrived
        sold = min(stock, demand)
        stock, lost = stock - sold, lost + demand - sold
        if stock + on_order <= rop:
            arrivals[day + lead] = arrivals.get(day + lead, 0) + qty
            on_order += qty
            orders.append(day)
        levels.append(stock)
    return {"stock": levels, "orders": orders, "lost": lost, "final_stock": stock}


def _inventory_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = [(5, 5, 10, 2, [0, 0, 0, 0]), (10, 8, 10, 3, [3, 1, 1, 1, 5, 0]),
                         (2, 1, 5, 1, [2, 3, 0])]
    for _ in range(6):
        rop = rng.randint(0, 20)
        calls.append((rng.randint(0, 40), rop, rng.randint(1, 30), rng.randint(1, 5),
                      [rng.choice([0, 0, 1, 2, 3, 5, 8, 13]) for _ in range(rng.randint(5, 30))]))
    return calls


_INV_PROMPT = """
Write a Python function `simulate_inventory(stock: int, reorder_point: int, order_qty: int,
lead_time: int, demands: list[int]) -> dict` simulating one product day by day.
`stock` is the stock on hand at the start of day 0; demands[d] is the demand on day d;
lead_time >= 1.  Each day d, in this order:
1. Deliveries: every order due on day d arrives and is added to stock.
2. Sales: sold = min(stock, demands[d]); unmet demand is lost (not back-ordered).
3. Review: the inventory position is stock on hand plus all ordered quantity that has not
   arrived yet.  If position <= reorder_point, place one order of order_qty units, due
   on day d + lead_time.
Return {"stock": [stock on hand at the end of each day], "orders": [the days on which
an order was placed, ascending], "lost": total lost demand, "final_stock": stock on
hand at the end of the last day}.
"""

_INV_HARNESS = """
def _cs_run(stock, reorder_point, order_qty, lead_time, demands):
    return _cs_plain(simulate_inventory(stock, reorder_point, order_qty, lead_time, _cs_fresh(demands)))
"""

_INV_REF = """
def simulate_inventory(stock, reorder_point, order_qty, lead_time, demands):
    due = {}
    on_order = 0
    lost = 0
    orders = []
    levels = []
    for day, demand in enumerate(demands):
        arrived = due.pop(day, 0)
        stock += arrived
        on_order -= arrived
        sold = min(stock, demand)
        stock -= sold
        lost += demand - sold
        if stock + on_order <= reorder_point:
            due[day + lead_time] = due.get(day + lead_time, 0) + order_qty
            on_order += order_qty
            orders.append(day)
        levels.append(stock)
    return {"stock": levels, "orders": orders, "lost": lost, "final_stock": stock}
"""

INVENTORY = _task(
    "inventory", "function", "Inventory with a reorder point and lead time", _INV_PROMPT,
    _inventory_calls, ref_inventory, _INV_HARNESS, _INV_REF, (
        # reorders on stock on hand, forgetting stock already on order
        _INV_REF.replace("if stock + on_order <= reorder_point:", "if stock <= reorder_point:"),
        # strict comparison at the reorder point
        _INV_REF.replace("<= reorder_point", "< reorder_point"),
        # sells before the day's delivery arrives
        _INV_REF.replace("""        stock += arrived
        on_order -= arrived
        sold = min(stock, demand)
        stock -= sold
        lost += demand - sold
""", """        sold = min(stock, demand)
        stock -= sold
        lost += demand - sold
        stock += arrived
        on_order -= arrived
"""),
    ))


# ------------------------------------------------------------------ config validation (multi)

def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def ref_config(cfg: dict[str, Any]) -> dict[str, Any]:
    errors: list[str] = []
    workers_ok, threads_ok = _int_in(cfg["workers"], 1, 64), _int_in(cfg["threads"], 1, 32)
    mem_ok, tls = _int_in(cfg["mem_per_thread_mb"], 1, 1024), cfg["tls"]
    total = cfg["workers"] * cfg["threads"] if workers_ok and threads_ok else None
    required = None
    if total is not None and mem_ok:
        required = 64 + total * cfg["mem_per_thread_mb"] + (32 if tls is True else 0)
    for code, bad in (("workers", not workers_ok), ("threads", not threads_ok),
                      ("mem_per_thread_mb", not mem_ok)):
        if bad:
            errors.append(code)
    if total is not None:
        if total > 256:
            errors.append("total_threads")
        if not _int_in(cfg["max_connections"], total, 100 * total):
            errors.append("max_connections")
    if required is not None and not _int_in(cfg["memory_mb"], required, 10**9):
        errors.append("memory_mb")
    if not isinstance(tls, bool):
        errors.append("tls")
    elif tls and not (isinstance(cfg["cert_path"], str) and cfg["cert_path"]):
        errors.append("cert_path")
    port = cfg["port"]
    if not _int_in(port, 1, 65535) or (tls is True and port == 80) or (tls is False and port == 443):
        errors.append("port")
    if not _int_in(cfg["admin_port"], 1, 65535) or cfg["admin_port"] == port:
        errors.append("admin_port")
    return {"errors": errors, "total_threads": total,
            "required_memory_mb": required if isinstance(tls, bool) else None}


def _valid_config(rng: random.Random) -> dict[str, Any]:
    workers, threads, per = rng.randint(1, 16), rng.randint(1, 16), rng.randint(1, 64)
    tls = rng.random() < 0.5
    total = workers * threads
    return {"workers": workers, "threads": threads, "mem_per_thread_mb": per,
            "memory_mb": 64 + total * per + (32 if tls else 0) + rng.randint(0, 100),
            "max_connections": rng.randint(total, 100 * total), "tls": tls,
            "cert_path": "/etc/cert.pem" if tls else rng.choice(["", "/x.pem"]),
            "port": 443 if tls else 80, "admin_port": rng.randint(1024, 9000)}


def _config_faults(cfg: dict[str, Any], valid: dict[str, Any], rng: random.Random) -> None:
    total = valid["workers"] * valid["threads"]
    fault = rng.choice([
        ("workers", rng.choice([0, 65, "8", True, None, 2.0])),
        ("threads", rng.choice([0, 33, "4", False])),
        ("mem_per_thread_mb", rng.choice([0, 2000, "64"])),
        ("max_connections", rng.choice([total - 1, 100 * total + 1, total, 100 * total])),
        ("memory_mb", 64 + total * valid["mem_per_thread_mb"] + rng.choice([-1, 0, 31, 32])),
        ("tls", rng.choice(["yes", 1, None, not valid["tls"]])),
        ("cert_path", rng.choice(["", None, 7])),
        ("port", rng.choice([0, 65536, 80, 443, "80", 8443])),
        ("admin_port", rng.choice([valid["port"], 0, 70000, 9443])),
        ("workers", rng.choice([16, 32, 64])),
    ])
    cfg[fault[0]] = fault[1]


def _config_calls(rng: random.Random) -> list[Args]:
    base = {"workers": 4, "threads": 8, "mem_per_thread_mb": 16, "memory_mb": 608,
            "max_connections": 32, "tls": True, "cert_path": "/c.pem", "port": 8443,
            "admin_port": 9000}
    calls: list[Args] = [
        (dict(base),),  # required memory is exactly 64 + 32*16 + 32: valid
        (dict(base, memory_mb=607),),
        (dict(base, workers=True),),
        (dict(base, workers="4", memory_mb=1),),
        (dict(base, threads=None, max_connections=0),),
        (dict(base, tls=False, port=443),),
    ]
    for _ in range(18):
        cfg = _valid_config(rng)
        valid = dict(cfg)
        for _ in range(rng.randint(0, 3)):
            _config_faults(cfg, valid, rng)
        calls.append((cfg,))
    return calls


_CONFIG_PROMPT = """
Write three Python functions for a server configuration `cfg`, a dict that always has
the keys "workers", "threads", "mem_per_thread_mb", "memory_mb", "max_connections",
"tls", "cert_path", "port", "admin_port" (values may have any JSON type).
"An int" below means a Python int that is not a bool.

- `total_threads(cfg) -> int`: cfg["workers"] * cfg["threads"].
- `required_memory_mb(cfg) -> int`: 64 + total_threads(cfg) * cfg["mem_per_thread_mb"],
  plus 32 more if cfg["tls"] is True.
- `validate_config(cfg) -> list[str]`: the codes of the violated rules, each at most
  once, in exactly this order:
  1. "workers": workers is not an int in 1..64.
  2. "threads": threads is not an int in 1..32.
  3. "mem_per_thread_mb": it is not an int in 1..1024.
  4. "total_threads": total_threads(cfg) > 256.
  5. "max_connections": max_connections is not an int with
     total_threads(cfg) <= max_connections <= 100 * total_threads(cfg).
  6. "memory_mb": memory_mb is not an int >= required_memory_mb(cfg).
  7. "tls": tls is not a bool.
  8. "cert_path": tls is True and cert_path is not a non-empty str.
  9. "port": port is not an int in 1..65535, or tls is True and port == 80, or tls is
     False and port == 443.
  10. "admin_port": admin_port is not an int in 1..65535, or admin_port == port.
  Rules 4 and 5 are checked only when workers and threads are both valid (rules 1-2
  pass); rule 6 only when rules 1-3 pass; rule 8 only when tls is a bool.
  validate_config must never raise.
total_threads and required_memory_mb are only called when the values they use are valid.
"""

_CONFIG_HARNESS = """
def _cs_ok(_cs_v, _cs_lo, _cs_hi):
    return _cs_bi.type(_cs_v) is _cs_bi.int and _cs_lo <= _cs_v <= _cs_hi

def _cs_run(cfg):
    _cs_out = {"errors": _cs_plain(validate_config(_cs_fresh(cfg))),
               "total_threads": None, "required_memory_mb": None}
    if _cs_ok(cfg["workers"], 1, 64) and _cs_ok(cfg["threads"], 1, 32):
        _cs_out["total_threads"] = _cs_plain(total_threads(_cs_fresh(cfg)))
        if _cs_ok(cfg["mem_per_thread_mb"], 1, 1024) and _cs_bi.type(cfg["tls"]) is _cs_bi.bool:
            _cs_out["required_memory_mb"] = _cs_plain(required_memory_mb(_cs_fresh(cfg)))
    return _cs_out
"""

_CONFIG_REF = """
def _is_int(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def total_threads(cfg):
    return cfg["workers"] * cfg["threads"]


def required_memory_mb(cfg):
    extra = 32 if cfg["tls"] is True else 0
    return 64 + total_threads(cfg) * cfg["mem_per_thread_mb"] + extra


def validate_config(cfg):
    errors = []
    workers_ok = _is_int(cfg["workers"], 1, 64)
    threads_ok = _is_int(cfg["threads"], 1, 32)
    mem_ok = _is_int(cfg["mem_per_thread_mb"], 1, 1024)
    if not workers_ok:
        errors.append("workers")
    if not threads_ok:
        errors.append("threads")
    if not mem_ok:
        errors.append("mem_per_thread_mb")
    if workers_ok and threads_ok:
        total = total_threads(cfg)
        if total > 256:
            errors.append("total_threads")
        if not _is_int(cfg["max_connections"], total, 100 * total):
            errors.append("max_connections")
        if mem_ok and not _is_int(cfg["memory_mb"], required_memory_mb(cfg), float("inf")):
            errors.append("memory_mb")
    tls = cfg["tls"]
    if not isinstance(tls, bool):
        errors.append("tls")
    elif tls and not (isinstance(cfg["cert_path"], str) and cfg["cert_path"]):
        errors.append("cert_path")
    port = cfg["port"]
    if not _is_int(port, 1, 65535) or (tls is True and port == 80) or (tls is False and port == 443):
        errors.append("port")
    if not _is_int(cfg["admin_port"], 1, 65535) or cfg["admin_port"] == port:
        errors.append("admin_port")
    return errors
"""

CONFIG = _task(
    "config_validation", "multi_function", "Interdependent server-config validation",
    _CONFIG_PROMPT, _config_calls, ref_config, _CONFIG_HARNESS, _CONFIG_REF, (
        # forgets the TLS memory overhead
        _CONFIG_REF.replace("extra = 32 if", "extra = 0 if"),
        # a bool passes as an int
        _CONFIG_REF.replace("isinstance(value, int) and not isinstance(value, bool)",
                            "isinstance(value, int)"),
        # checks the coupled rules even when their inputs are invalid
        _CONFIG_REF.replace("    if workers_ok and threads_ok:\n", "    if True:\n"),
    ))


# ------------------------------------------------------------------ ledger (multi)

def _fee(amount: int) -> int:
    return min(500, max(25, -(-amount // 100)))


def _can(accounts: dict[str, Any], src: str, dst: str, amount: Any, balances: dict[str, int]) -> bool:
    if src not in accounts or dst not in accounts or src == dst:
        return False
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return False
    return bool(balances[src] - amount - _fee(amount) >= -accounts[src]["overdraft"])


def ref_ledger(accounts: dict[str, Any], transfers: list[list[Any]],
               fee_amounts: list[int]) -> dict[str, Any]:
    start = {name: acc["balance"] for name, acc in accounts.items()}
    balances, accepted, fees = dict(start), [], 0
    for src, dst, amount in transfers:
        ok = _can(accounts, src, dst, amount, balances)
        if ok:
            balances[src] -= amount + _fee(amount)
            balances[dst] += amount
            fees += _fee(amount)
        accepted.append(ok)
    return {"fees": [_fee(a) for a in fee_amounts],
            "can": [_can(accounts, s, d, a, start) for s, d, a in transfers],
            "result": {"balances": balances, "accepted": accepted, "fees": fees}}


def _ledger_calls(rng: random.Random) -> list[Args]:
    fixed = {"a": {"balance": 1000, "overdraft": 0}, "b": {"balance": 0, "overdraft": 500}}
    calls: list[Args] = [(fixed, [["a", "b", 990], ["a", "a", 10], ["a", "b", 975],
                                  ["b", "a", 500], ["b", "zed", 1], ["a", "b", 0]],
                          [1, 100, 2499, 2500, 2501, 2550, 49999, 50001, 10**6])]
    for _ in range(5):
        names = rng.sample(["ann", "bob", "cy", "dee", "eve"], rng.randint(2, 5))
        accounts = {n: {"balance": rng.randint(0, 20000), "overdraft": rng.choice([0, 0, 1000, 5000])}
                    for n in names}
        transfers = [[rng.choice(names + ["ghost"]), rng.choice(names),
                      rng.choice([rng.randint(1, 8000), rng.randint(1, 300), 0, -5])]
                     for _ in range(rng.randint(8, 20))]
        calls.append((accounts, transfers, [rng.randint(1, 80000) for _ in range(5)]))
    return calls


_LEDGER_PROMPT = """
Write three Python functions for a small bank ledger.  Money is in integer cents.
`accounts` is a dict name -> {"balance": int, "overdraft": int}; an account may go
negative down to -overdraft but never below.

- `transfer_fee(amount: int) -> int`: 1 % of amount rounded up to a whole cent, at least
  25 and at most 500.
- `can_transfer(accounts, src, dst, amount) -> bool`: True exactly when src and dst are
  both account names, src != dst, amount is an int (not a bool) > 0, and
  balance(src) - amount - transfer_fee(amount) >= -overdraft(src).
- `apply_transfers(accounts, transfers) -> dict`: transfers is a list of
  [src, dst, amount], applied in order; each is accepted if can_transfer holds against
  the balances as they are after the earlier accepted transfers.  An accepted transfer
  takes amount + fee from src and adds amount to dst; the fee goes to the bank.
  Rejected transfers change nothing.  Do not modify `accounts`.  Return
  {"balances": {name: final balance}, "accepted": [bool per transfer],
  "fees": total fees collected}.
"""

_LEDGER_HARNESS = """
def _cs_run(accounts, transfers, fee_amounts):
    return {"fees": [_cs_plain(transfer_fee(_cs_a)) for _cs_a in fee_amounts],
            "can": [_cs_plain(can_transfer(_cs_fresh(accounts), _cs_t[0], _cs_t[1], _cs_t[2]))
                    for _cs_t in transfers],
            "result": _cs_plain(apply_transfers(_cs_fresh(accounts), _cs_fresh(transfers)))}
"""

_LEDGER_REF = """
def transfer_fee(amount):
    return min(500, max(25, -(-amount // 100)))


def _allowed(accounts, balances, src, dst, amount):
    if src not in accounts or dst not in accounts or src == dst:
        return False
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return False
    return balances[src] - amount - transfer_fee(amount) >= -accounts[src]["overdraft"]


def can_transfer(accounts, src, dst, amount):
    balances = {name: acc["balance"] for name, acc in accounts.items()}
    return _allowed(accounts, balances, src, dst, amount)


def apply_transfers(accounts, transfers):
    balances = {name: acc["balance"] for name, acc in accounts.items()}
    accepted = []
    fees = 0
    for src, dst, amount in transfers:
        ok = _allowed(accounts, balances, src, dst, amount)
        if ok:
            fee = transfer_fee(amount)
            balances[src] -= amount + fee
            balances[dst] += amount
            fees += fee
        accepted.append(ok)
    return {"balances": balances, "accepted": accepted, "fees": fees}
"""

LEDGER = _task(
    "ledger", "multi_function", "Ledger transfers with fees and overdraft limits",
    _LEDGER_PROMPT, _ledger_calls, ref_ledger, _LEDGER_HARNESS, _LEDGER_REF, (
        # fee rounded down
        _LEDGER_REF.replace("max(25, -(-amount // 100))", "max(25, amount // 100)"),
        # the overdraft check forgets the fee
        _LEDGER_REF.replace(" - amount - transfer_fee(amount) >=", " - amount >="),
        # a transfer to oneself is allowed (and charged)
        _LEDGER_REF.replace(" or src == dst:", ":"),
    ))


# ------------------------------------------------------------------ shopping cart (module)

class _RefCart:
    def __init__(self, prices: dict[str, int]) -> None:
        self.prices = prices
        self.qty: dict[str, int] = {}
        self.coupon: str | None = None

    def add(self, sku: str, qty: int) -> bool:
        if sku not in self.prices or qty < 1:
            return False
        self.qty[sku] = self.qty.get(sku, 0) + qty
        return True

    def remove(self, sku: str, qty: int) -> int:
        taken = min(max(qty, 0), self.qty.get(sku, 0))
        if taken:
            self.qty[sku] -= taken
            if not self.qty[sku]:
                del self.qty[sku]
        return taken

    def apply_coupon(self, code: str) -> bool:
        if code not in ("SAVE10", "FREESHIP"):
            return False
        self.coupon = code
        return True

    def totals(self) -> dict[str, int]:
        subtotal = sum(self.prices[s] * q for s, q in self.qty.items())
        bulk = sum(self.prices[s] * q * 5 // 100 for s, q in self.qty.items() if q >= 10)
        after_bulk = subtotal - bulk
        coupon = after_bulk * 10 // 100 if self.coupon == "SAVE10" and after_bulk >= 5000 else 0
        goods = after_bulk - coupon
        free = not self.qty or self.coupon == "FREESHIP" or goods >= 10000
        shipping = 0 if free else 799
        tax = (goods * 8 + 50) // 100
        return {"subtotal": subtotal, "bulk_discount": bulk, "coupon_discount": coupon,
                "shipping": shipping, "tax": tax, "total": goods + shipping + tax}


def ref_cart(prices: dict[str, int], ops: list[list[Any]]) -> list[Any]:
    cart, out = _RefCart(dict(prices)), []
    for op in ops:
        result = getattr(cart, op[0])(*op[1:])
        out.append([result, cart.totals()])
    return out


def _cart_calls(rng: random.Random) -> list[Args]:
    prices = {"pen": 150, "book": 2400, "lamp": 4599, "mug": 899}
    # pen x34 crosses 5000 only before the bulk discount: the coupon must not apply yet
    fixed = [["apply_coupon", "SAVE10"], ["add", "pen", 34], ["remove", "pen", 24],
             ["add", "book", 2],
             ["add", "mug", 0], ["add", "sofa", 1], ["remove", "book", 1],
             ["add", "lamp", 1], ["apply_coupon", "BOGUS"], ["remove", "pen", 99],
             ["apply_coupon", "FREESHIP"], ["remove", "lamp", 1], ["remove", "book", 5]]
    calls: list[Args] = [(prices, fixed)]
    for _ in range(4):
        cat = {f"s{i}": rng.choice([99, 250, 1000, 1999, 3500, 7000]) for i in range(rng.randint(2, 5))}
        skus = list(cat) + ["nope"]
        ops: list[list[Any]] = []
        for _ in range(rng.randint(8, 20)):
            kind = rng.choice(["add", "add", "add", "remove", "apply_coupon"])
            if kind == "apply_coupon":
                ops.append([kind, rng.choice(["SAVE10", "FREESHIP", "save10", "X"])])
            else:
                ops.append([kind, rng.choice(skus), rng.choice([1, 2, 3, 5, 10, 12, 0])])
        calls.append((cat, ops))
    return calls


_CART_PROMPT = """
Write a Python class `Cart` for a shop.  Money is in integer cents.
- `Cart(prices: dict[str, int])`: the catalogue, sku -> unit price.  The cart starts
  empty with no coupon.
- `add(sku: str, qty: int) -> bool`: if sku is not in the catalogue or qty < 1, change
  nothing and return False; otherwise add qty units and return True.
- `remove(sku: str, qty: int) -> int`: remove up to qty units of sku (all of them if
  fewer are in the cart) and return how many were removed.
- `apply_coupon(code: str) -> bool`: the known codes are exactly "SAVE10" and
  "FREESHIP" (case-sensitive).  A known code replaces any coupon applied before and
  returns True; an unknown one changes nothing and returns False.  A coupon stays
  applied while the cart changes; whether it gives a discount is decided in totals().
- `totals() -> dict` with integer values, computed from the current contents:
  - "subtotal": sum of price * quantity over the cart;
  - "bulk_discount": for every sku with quantity >= 10, 5 % of that line
    (price * quantity * 5 // 100), summed;
  - "coupon_discount": with SAVE10 applied and subtotal - bulk_discount >= 5000,
    (subtotal - bulk_discount) * 10 // 100; otherwise 0;
  - goods = subtotal - bulk_discount - coupon_discount;
  - "shipping": 0 if the cart is empty, if FREESHIP is applied, or if goods >= 10000;
    otherwise 799;
  - "tax": 8 % of goods rounded half up, (goods * 8 + 50) // 100 (no tax on shipping);
  - "total": goods + shipping + tax.
"""

_CART_HARNESS = """
def _cs_run(prices, ops):
    _cs_cart = Cart(_cs_fresh(prices))
    _cs_out = []
    for _cs_op in ops:
        _cs_res = _cs_bi.getattr(_cs_cart, _cs_op[0])(*_cs_op[1:])
        _cs_out.append([_cs_plain(_cs_res), _cs_plain(_cs_cart.totals())])
    return _cs_out
"""

_CART_REF = """
class Cart:
    def __init__(self, prices):
        self.prices = dict(prices)
        self.items = {}
        self.coupon = None

    def add(self, sku, qty):
        if sku not in self.prices or qty < 1:
            return False
        self.items[sku] = self.items.get(sku, 0) + qty
        return True

    def remove(self, sku, qty):
        have = self.items.get(sku, 0)
        taken = min(have, max(qty, 0))
        if taken == have:
            self.items.pop(sku, None)
        else:
            self.items[sku] = have - taken
        return taken

    def apply_coupon(self, code):
        if code not in ("SAVE10", "FREESHIP"):
            return False
        self.coupon = code
        return True

    def totals(self):
        subtotal = sum(self.prices[s] * q for s, q in self.items.items())
        bulk = sum(self.prices[s] * q * 5 // 100 for s, q in self.items.items() if q >= 10)
        base = subtotal - bulk
        coupon = base * 10 // 100 if self.coupon == "SAVE10" and base >= 5000 else 0
        goods = base - coupon
        if not self.items or self.coupon == "FREESHIP" or goods >= 10000:
            shipping = 0
        else:
            shipping = 799
        tax = (goods * 8 + 50) // 100
        return {"subtotal": subtotal, "bulk_discount": bulk, "coupon_discount": coupon,
                "shipping": shipping, "tax": tax, "total": goods + shipping + tax}
"""

CART = _task(
    "cart", "module", "Shopping cart with bulk discount, coupons, shipping and tax",
    _CART_PROMPT, _cart_calls, ref_cart, _CART_HARNESS, _CART_REF, (
        # coupon threshold judged before the bulk discount
        _CART_REF.replace('self.coupon == "SAVE10" and base >= 5000',
                          'self.coupon == "SAVE10" and subtotal >= 5000'),
        # tax charged on shipping too
        _CART_REF.replace("tax = (goods * 8 + 50) // 100",
                          "tax = ((goods + shipping) * 8 + 50) // 100"),
        # SAVE10 refused when the cart does not qualify yet
        _CART_REF.replace("""        if code not in ("SAVE10", "FREESHIP"):
            return False""", """        if code not in ("SAVE10", "FREESHIP"):
            return False
        if code == "SAVE10" and self.totals()["subtotal"] < 5000:
            return False"""),
    ))


# ------------------------------------------------------------------ spreadsheet (module)

def _sheet_value(contents: dict[str, str], cell: str, stack: set[str]) -> int | None:
    text = contents.get(cell, "")
    if not text.startswith("="):
        return int(text) if text else 0
    if cell in stack:
        return None
    stack.add(cell)
    total: int | None = 0
    for term in text[1:].split("+"):
        value = int(term) if re.fullmatch(r"-?\d+", term) else _sheet_value(contents, term, stack)
        total = None if value is None or total is None else total + value
    stack.discard(cell)
    return total


def ref_sheet(ops: list[list[str]]) -> dict[str, Any]:
    contents: dict[str, str] = {}
    gets: list[int | None] = []
    for op in ops:
        if op[0] == "set":
            contents[op[1]] = op[2]
        else:
            gets.append(_sheet_value(contents, op[1], set()))
    names = sorted({op[1] for op in ops})
    return {"gets": gets, "final": [[n, _sheet_value(contents, n, set())] for n in names]}


def _sheet_calls(rng: random.Random) -> list[Args]:
    fixed = [["set", "A1", "5"], ["set", "B1", "=A1+1"], ["get", "B1"], ["set", "A1", "7"],
             ["get", "B1"], ["set", "C1", "=C2"], ["get", "C1"], ["set", "C2", "=C1+1"],
             ["get", "C1"], ["get", "B1"], ["set", "C2", "4"], ["get", "C1"], ["set", "A1", ""],
             ["get", "B1"]]
    calls: list[Args] = [(fixed,)]
    cells = ["A1", "A2", "A3", "B1", "B2", "B3", "C1"]
    for _ in range(5):
        ops: list[list[str]] = []
        for _ in range(rng.randint(15, 30)):
            roll = rng.random()
            if roll < 0.35:
                ops.append(["get", rng.choice(cells)])
            elif roll < 0.6:
                ops.append(["set", rng.choice(cells), str(rng.randint(-20, 50))])
            elif roll < 0.65:
                ops.append(["set", rng.choice(cells), ""])
            else:
                terms = [rng.choice(cells) if rng.random() < 0.75 else str(rng.randint(0, 9))
                         for _ in range(rng.randint(1, 3))]
                ops.append(["set", rng.choice(cells), "=" + "+".join(terms)])
        calls.append((ops,))
    return calls


_SHEET_PROMPT = """
Write a Python class `Sheet`, a tiny spreadsheet of integer cells.
- Cell names are one uppercase letter followed by digits, e.g. "A1", "B12".
- `set(cell: str, content: str) -> None`: content is one of: "" (clears the cell); an
  integer literal such as "12" or "-3"; or a formula: "=" followed by one or more terms
  joined by "+", each term a cell name or an integer literal, e.g. "=A1+B2+5".  No
  spaces; content is always well formed.
- `get(cell: str) -> int | None`: the cell's current value.  An empty or never-set cell
  is 0; an integer literal is its value; a formula is the sum of its terms' values.
  The value is None when the cell's formula lies on a reference cycle (e.g. A1 "=B1",
  B1 "=A1", or A1 "=A1") or depends, directly or through other cells, on a cell whose
  value is None.
Values always reflect the current contents of all cells: changing a cell changes
every cell that depends on it.  get must never raise.
"""

_SHEET_HARNESS = """
def _cs_run(ops):
    _cs_sheet = Sheet()
    _cs_gets = []
    _cs_names = []
    for _cs_op in ops:
        if _cs_op[1] not in _cs_names:
            _cs_names.append(_cs_op[1])
        if _cs_op[0] == "set":
            _cs_sheet.set(_cs_op[1], _cs_op[2])
        else:
            _cs_gets.append(_cs_plain(_cs_sheet.get(_cs_op[1])))
    _cs_names.sort()
    return {"gets": _cs_gets, "final": [[_cs_n, _cs_plain(_cs_sheet.get(_cs_n))] for _cs_n in _cs_names]}
"""

_SHEET_REF = """
class Sheet:
    def __init__(self):
        self.contents = {}

    def set(self, cell, content):
        if content == "":
            self.contents.pop(cell, None)
        else:
            self.contents[cell] = content

    def get(self, cell):
        return self._value(cell, set())

    def _value(self, cell, visiting):
        text = self.contents.get(cell, "")
        if text == "":
            return 0
        if not text.startswith("="):
            return int(text)
        if cell in visiting:
            return None
        visiting.add(cell)
        total = 0
        for term in text[1:].split("+"):
            if term[0].isalpha():
                value = self._value(term, visiting)
            else:
                value = int(term)
            if value is None:
                total = None
                break
            total += value
        visiting.discard(cell)
        return total
"""

_SHEET_STALE = """
class Sheet:
    def __init__(self):
        self.values = {}

    def set(self, cell, content):
        if content == "":
            self.values[cell] = 0
        elif not content.startswith("="):
            self.values[cell] = int(content)
        else:
            total = 0
            for term in content[1:].split("+"):
                value = self.values.get(term, 0) if term[0].isalpha() else int(term)
                if value is None or term == cell:
                    total = None
                    break
                total += value
            self.values[cell] = total

    def get(self, cell):
        return self.values.get(cell, 0)
"""

SHEET = _task(
    "spreadsheet", "module", "Spreadsheet cells with formulas, propagation and cycles",
    _SHEET_PROMPT, _sheet_calls, ref_sheet, _SHEET_HARNESS, _SHEET_REF, (
        # values computed once at set time: dependants go stale
        _SHEET_STALE,
        # only a direct self-reference is caught: longer cycles recurse forever
        _SHEET_REF.replace("        if cell in visiting:\n            return None\n", "")
        .replace("            if term[0].isalpha():", "            if term == cell:\n"
                 "                return None\n            if term[0].isalpha():"),
        # a never-set cell counts as None instead of 0
        _SHEET_REF.replace('        if text == "":\n            return 0\n',
                           '        if text == "":\n            return 0 if cell in self.contents else None\n'),
    ))

TASKS: tuple[ComplexityTask, ...] = (AMORTIZATION, INVENTORY, CONFIG, LEDGER, CART, SHEET)
