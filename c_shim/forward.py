"""Generated C for serving a foreign-Python host through a worker process (issue 15; DESIGN "Foreign-Python hosts").

A host that already runs another Python version must not get our interpreter. Its calls are forwarded, one
message per C_* call over a Unix socket, to a worker process that runs the project's Python and loads this same
library (``c_shim.worker``), where they reach the provider exactly as a same-version host's calls do. Both ends
are C generated here from the two tables that already describe the ABI, so nothing is written twice:

- ``c_shim.functions``: each parameter of each function gets a *wire kind* (an input value, an input buffer, an
  output buffer with its §5.2 length, a template, a mechanism...) from its C type and the name of the parameter
  that follows it. A function with a parameter no rule covers is not forwarded: the host gets
  CKR_FUNCTION_NOT_SUPPORTED, and a test checks that only functions the provider does not implement are in that
  case (today the 3.0 message functions, whose pParameter is read and written).
- ``provider.mechanisms.PARAMETER_LAYOUTS``: the C layout of every structured mechanism parameter, as its row
  declares it. The client copies the structure and the buffers its pointers lead to; the worker rebuilds it with
  pointers into the message. A parameter no layout matches travels as the bytes it is, as the provider reads it.

The hand-written runtime (connections, the worker's lifetime, fork) is ``forward.c``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .functions import Function, Param

#: CK_ULONG and the types that are CK_ULONG in the header (CK_BBOOL, a byte, travels widened).
VALUE_TYPES = frozenset(
    {
        "CK_ULONG",
        "CK_BBOOL",
        "CK_FLAGS",
        "CK_SLOT_ID",
        "CK_SESSION_HANDLE",
        "CK_OBJECT_HANDLE",
        "CK_USER_TYPE",
        "CK_MECHANISM_TYPE",
    }
)
#: Pointers to one CK_ULONG-sized output value.
VALUE_OUT_TYPES = frozenset({"CK_ULONG_PTR", "CK_SESSION_HANDLE_PTR", "CK_OBJECT_HANDLE_PTR", "CK_SLOT_ID_PTR"})
#: Output structures without pointers: copied whole.
STRUCT_OUT_TYPES = frozenset(
    {"CK_INFO_PTR", "CK_SLOT_INFO_PTR", "CK_TOKEN_INFO_PTR", "CK_SESSION_INFO_PTR", "CK_MECHANISM_INFO_PTR"}
)
BYTE_POINTERS = frozenset({"CK_BYTE_PTR", "CK_UTF8CHAR_PTR"})


@dataclass(frozen=True, slots=True)
class Wire:
    """How one parameter (or a pointer and the length that goes with it) crosses the socket."""

    kind: str
    #: The C parameters it covers, in order.
    params: tuple[Param, ...]

    @property
    def name(self) -> str:
        return self.params[0][1]

    @property
    def ctype(self) -> str:
        return self.params[0][0]


class Unforwardable(Exception):
    """A parameter no wire kind describes."""


#: Parameters whose meaning their C type does not give (PKCS#11 3.0 §5).
SPECIAL: dict[tuple[str, str], str] = {
    ("C_Initialize", "pInitArgs"): "init_args",
    ("C_Finalize", "pReserved"): "reserved",
    ("C_WaitForSlotEvent", "pReserved"): "reserved",
    ("C_InitToken", "pLabel"): "label",  # 32 blank-padded bytes, no length
    ("C_OpenSession", "pApplication"): "ignored",  # the provider makes no callbacks
    ("C_OpenSession", "Notify"): "ignored",
    ("C_GenerateRandom", "pRandomData"): "random",  # an output buffer whose length is an input
    ("C_GetSlotList", "pSlotList"): "out",
    ("C_GetMechanismList", "pMechanismList"): "out",
    ("C_FindObjects", "phObject"): "find",  # an array of ulMaxObjectCount, count in pulObjectCount
    ("C_GetAttributeValue", "pTemplate"): "query",  # a template the function fills in
}
#: How many C parameters each kind covers.
WIDTH = {"random": 2, "out": 2, "find": 3, "in": 2, "template": 2, "query": 2}


def wire_params(function: Function) -> tuple[Wire, ...]:
    """The wire kinds of a function's parameters (``Unforwardable`` if one has none)."""
    name, params = function
    out: list[Wire] = []
    i = 0
    while i < len(params):
        ctype, pname = params[i]
        follower = params[i + 1] if i + 1 < len(params) else ("", "")
        kind = SPECIAL.get((name, pname))
        if kind is None:
            if ctype in VALUE_TYPES:
                kind = "value"
            elif ctype in BYTE_POINTERS and follower == ("CK_ULONG", f"ul{pname[1:]}Len"):
                kind = "in"
            elif ctype in BYTE_POINTERS and follower == ("CK_ULONG_PTR", f"pul{pname[1:]}Len"):
                kind = "out"
            elif ctype == "CK_ATTRIBUTE_PTR" and follower[0] == "CK_ULONG":
                kind = "template"
            elif ctype == "CK_MECHANISM_PTR":
                kind = "mechanism"
            elif ctype in VALUE_OUT_TYPES:
                kind = "value_out"
            elif ctype in STRUCT_OUT_TYPES:
                kind = "struct_out"
            else:
                raise Unforwardable(f"{name}: {ctype} {pname}")
        width = WIDTH.get(kind, 1)
        out.append(Wire(kind, tuple(params[i : i + width])))
        i += width
    return tuple(out)


def forwardable(function: Function) -> bool:
    """Whether every parameter of ``function`` has a wire kind."""
    try:
        wire_params(function)
    except Unforwardable:
        return False
    return True


# -- C emitters, one per wire kind: the client's request and reply halves, the worker's decoding and reply -------------
def _client_put(w: Wire) -> list[str]:
    n = [p[1] for p in w.params]
    match w.kind:
        case "value":
            return [f"ks_put_ulong(b, (CK_ULONG){n[0]});"]
        case "in":
            return [f"ks_put_in(b, {n[0]}, {n[1]});"]
        case "label":
            return [f"ks_put_fixed(b, {n[0]}, 32);"]
        case "out":
            return [
                f"CK_ULONG {n[0]}_cap = {n[1]} ? *{n[1]} : 0;",
                f"ks_put_out(b, {n[0]} != NULL, {n[0]}_cap, {n[1]});",
            ]
        case "find":
            return [
                f"CK_ULONG {n[0]}_cap = {n[1]} < KS_FIND_MAX ? {n[1]} : KS_FIND_MAX;",
                f"ks_put_out(b, {n[0]} != NULL, {n[0]}_cap, {n[2]});",
            ]
        case "random":
            return [f"ks_put_out(b, {n[0]} != NULL, {n[1]}, NULL);"]
        case "value_out":
            return [f"ks_put_value_out(b, (const CK_ULONG *){n[0]});"]
        case "struct_out" | "reserved":
            return [f"ks_put_ulong(b, {n[0]} != NULL);"]
        case "template":
            return [f"ks_put_template(b, {n[0]}, {n[1]});"]
        case "query":
            return [f"ks_put_query(b, {n[0]}, {n[1]});"]
        case "mechanism":
            return [f"ks_put_mechanism(b, {n[0]});"]
        case "init_args":
            return [f"ks_put_init_args(b, {n[0]});"]
        case "ignored":
            return [f"(void){n[0]};"]
    raise AssertionError(w.kind)


def _client_take(w: Wire) -> list[str]:
    n = [p[1] for p in w.params]
    match w.kind:
        case "out" | "find":
            pul = n[1] if w.kind == "out" else n[2]
            return [f"ks_take_out(b, {n[0]}, {n[0]}_cap, {pul}, sizeof *{n[0]});"]
        case "random":
            return [f"ks_take_out(b, {n[0]}, {n[1]}, NULL, 1);"]
        case "value_out":
            return [f"ks_take_value_out(b, (CK_ULONG *){n[0]});"]
        case "struct_out":
            return [f"ks_take_struct(b, {n[0]}, sizeof *{n[0]});"]
        case "query":
            return [f"ks_take_query(b, {n[0]}, {n[1]});"]
    return []


def _worker_get(w: Wire) -> list[str]:
    (t0, n0), *rest = w.params
    match w.kind:
        case "value":
            return [f"{t0} {n0} = ({t0})ks_get_ulong(q);"]
        case "in":
            return [f"CK_ULONG {rest[0][1]}; {t0} {n0} = ({t0})ks_get_in(q, &{rest[0][1]});"]
        case "label":
            return [f"{t0} {n0} = ({t0})ks_get_fixed(q, 32);"]
        case "out" | "find" | "random":
            lines = [f"{t0} {n0}; CK_ULONG {n0}_cap, {n0}_value;"]
            pul = {"out": rest[0][1], "find": rest[1][1] if len(rest) > 1 else "", "random": ""}[w.kind]
            get = f"ks_get_out(q, a, (void **)&{n0}, sizeof *{n0}, &{n0}_cap, &{n0}_value)"
            if pul:
                lines.append(f"CK_ULONG_PTR {pul} = {get};")
            else:
                lines.append(f"(void){get};")
            if w.kind == "find":
                lines.append(f"CK_ULONG {rest[0][1]} = {n0}_cap;")
            if w.kind == "random":
                lines.append(f"CK_ULONG {rest[0][1]} = {n0}_cap;")
            return lines
        case "value_out":
            return [f"CK_ULONG {n0}_value; {t0} {n0} = ({t0})ks_get_value_out(q, &{n0}_value);"]
        case "struct_out":
            target = t0.removesuffix("_PTR")
            return [f"{target} {n0}_value; {t0} {n0} = ({t0})ks_get_struct_out(q, &{n0}_value, sizeof {n0}_value);"]
        case "reserved":
            return [f"{t0} {n0} = ks_get_ulong(q) ? (void *)&ks_reserved_marker : NULL;"]
        case "ignored":
            return [f"{t0} {n0} = NULL;"]
        case "template":
            return [f"CK_ULONG {rest[0][1]}; {t0} {n0} = ks_get_template(q, a, &{rest[0][1]});"]
        case "query":
            return [f"CK_ULONG {rest[0][1]}, *{n0}_caps; {t0} {n0} = ks_get_query(q, a, &{rest[0][1]}, &{n0}_caps);"]
        case "mechanism":
            return [f"{t0} {n0} = ks_get_mechanism(q, a);"]
        case "init_args":
            return [f"{t0} {n0} = ks_get_init_args(q, a);"]
    raise AssertionError(w.kind)


def _worker_reply(w: Wire) -> list[str]:
    n = [p[1] for p in w.params]
    match w.kind:
        case "out":
            return [f"ks_reply_out(r, rv, {n[0]}, sizeof *{n[0]}, {n[0]}_cap, {n[1]});"]
        case "find":
            return [f"ks_reply_out(r, rv, {n[0]}, sizeof *{n[0]}, {n[0]}_cap, {n[2]});"]
        case "random":
            return [f"ks_reply_out(r, rv, {n[0]}, 1, {n[0]}_cap, NULL);"]
        case "value_out":
            return [f"ks_reply_value_out(r, (const CK_ULONG *){n[0]});"]
        case "struct_out":
            return [f"ks_reply_struct(r, rv, {n[0]}, sizeof *{n[0]});"]
        case "query":
            return [f"ks_reply_query(r, rv, {n[0]}, {n[1]}, {n[0]}_caps);"]
    return []


def _signature(function: Function) -> str:
    return ", ".join(f"{ctype} {name}" for ctype, name in function[1]) or "void"


def _arguments(function: Function) -> str:
    return ", ".join(name for _, name in function[1])


def client_function(index: int, function: Function) -> str:
    """``ks_fwd_C_x``: what a foreign host's call to ``C_x`` does."""
    name = function[0]
    try:
        wires = wire_params(function)
    except Unforwardable:
        unused = "".join(f"    (void){p};\n" for _, p in function[1])
        return (
            f"static CK_RV ks_fwd_{name}({_signature(function)}) {{\n{unused}"
            "    return KS_CKR_FUNCTION_NOT_SUPPORTED; /* not forwarded: see c_shim/forward.py */\n}\n"
        )
    role = {"C_Initialize": "KS_ROLE_INITIALIZE", "C_Finalize": "KS_ROLE_FINALIZE"}.get(name, "0")
    put = [line for w in wires for line in _client_put(w)]
    take = [line for w in wires for line in _client_take(w)]
    body = [
        "ks_conn *c = NULL;",
        f"CK_RV rv = ks_fwd_begin(&c, {index}, {role});",
        "if (rv != KS_CKR_OK || !c) return rv; /* no connection: answered already (C_Finalize of a dead worker) */",
        "ks_buf *b = &c->buf;",
        *put,
        "rv = ks_fwd_exchange(c);",
        "if (c->outputs) {",
        *(f"    {line}" for line in take),
        "}",
        f"return ks_fwd_end(c, rv, {role});",
    ]
    lines = "".join(f"    {line}\n" for line in body)
    return f"static CK_RV ks_fwd_{name}({_signature(function)}) {{\n{lines}}}\n"


def worker_function(function: Function) -> str | None:
    """``ks_srv_C_x``: the worker's half, which decodes the call, makes it, and encodes what changed."""
    name = function[0]
    if not forwardable(function):
        return None
    wires = wire_params(function)
    get = [line for w in wires for line in _worker_get(w)]
    reply = [line for w in wires for line in _worker_reply(w)]
    body = [
        *get,
        "if (q->fail) { ks_put_ulong(r, q->fail); ks_put_ulong(r, 0); return; }",
        f"CK_RV rv = ks_native_{name}({_arguments(function)});",
        "ks_put_ulong(r, rv);",
        "ks_put_ulong(r, 1); /* outputs follow */",
        *reply,
    ]
    lines = "".join(f"    {line}\n" for line in body)
    return f"static void ks_srv_{name}(ks_buf *q, ks_buf *r, ks_arena *a) {{\n    (void)a;\n{lines}}}\n"


# -- mechanism parameter layouts --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Layout:
    """A structured mechanism parameter as the wire sees it: its size and where its pointers and their lengths are."""

    mechanism: int
    name: str
    size: int
    #: (offset of the pointer, offset of the CK_ULONG holding its length), in member order.
    pointers: tuple[tuple[int, int], ...]


def layouts_from(parameter_layouts: Mapping[int, Mapping[int, Any]]) -> tuple[Layout, ...]:
    """Wire layouts from the mechanism rows' C structures (``provider.mechanisms.PARAMETER_LAYOUTS``: CKM value →
    ``{size: CStruct}``, each ``CStruct`` with ``fields`` (``name``, ``code``, ``length``) and ``offsets()``)."""
    out = []
    for mechanism, by_size in sorted(parameter_layouts.items()):
        for size, struct in sorted(by_size.items()):
            offsets = struct.offsets()
            pointers = []
            for field in struct.fields:
                if field.code == "P":
                    # every pointer of a mechanism parameter leads to bytes counted by a CK_ULONG member: a nested
                    # structure would need a rule of its own here
                    assert field.length, f"{struct.name}.{field.name}: a pointer without a length member"
                    pointers.append((offsets[field.name], offsets[field.length]))
            out.append(Layout(int(mechanism), struct.name, int(size), tuple(pointers)))
    return tuple(out)


def layouts_table(layouts: Iterable[Layout]) -> str:
    rows = list(layouts)
    widest = max((len(layout.pointers) for layout in rows), default=0)
    lines = [f"#define KS_LAYOUT_POINTERS {max(widest, 1)}"]
    lines.append(
        "typedef struct { CK_MECHANISM_TYPE mechanism; CK_ULONG size; unsigned count; "
        "struct { unsigned short pointer, length; } members[KS_LAYOUT_POINTERS]; } ks_layout;"
    )
    entries = []
    for layout in rows:
        members = ", ".join(f"{{{p}, {n}}}" for p, n in layout.pointers) or "{0, 0}"
        row = f"0x{layout.mechanism:x}UL, {layout.size}, {len(layout.pointers)}, {{{members}}}"
        entries.append(f"    {{{row}}}, /* {layout.name} */")
    lines.append(f"#define KS_LAYOUT_COUNT {len(rows)}")
    lines.append("static const ks_layout ks_layouts[KS_LAYOUT_COUNT + 1] = {\n" + "\n".join(entries) + "\n    {0}\n};")
    return "\n".join(lines) + "\n"


SERVE_CALL = """
static void ks_serve_call(CK_ULONG function, ks_buf *q, ks_buf *r, ks_arena *a) {
    if (function >= KS_FUNCTION_COUNT || !ks_servers[function]) {
        ks_put_ulong(r, KS_CKR_FUNCTION_NOT_SUPPORTED);
        ks_put_ulong(r, 0);
        return;
    }
    ks_servers[function](q, r, a);
}
"""


def c_code(functions: Iterable[Function], layouts: Iterable[Layout]) -> tuple[str, str]:
    """The generated C: what ``forward.c`` needs first (the wire id, the layouts), and what needs it (each
    function's client and worker halves and the worker's dispatch table)."""
    functions = tuple(functions)
    parts = []
    for index, function in enumerate(functions):
        parts.append(client_function(index, function))
        served = worker_function(function)
        if served is not None:
            parts.append(served)
    table = ",\n".join(f"    ks_srv_{fn[0]}" if forwardable(fn) else f"    NULL /* {fn[0]} */" for fn in functions)
    parts.append(f"#define KS_FUNCTION_COUNT {len(functions)}\n")
    parts.append(
        f"static void (*const ks_servers[KS_FUNCTION_COUNT])(ks_buf *, ks_buf *, ks_arena *) = {{\n{table}\n}};\n"
    )
    parts.append(SERVE_CALL)
    head, body = layouts_table(layouts), "\n".join(parts)
    # both ends are this code: a worker that loaded another build of the library (replaced on disk meanwhile) is
    # refused at its greeting
    wire_id = hashlib.sha256((head + body).encode()).hexdigest()[:16]
    return f"#define KS_WIRE_ID 0x{wire_id}ULL\n" + head, body


__all__ = ["Layout", "Unforwardable", "Wire", "c_code", "forwardable", "layouts_from", "wire_params"]
